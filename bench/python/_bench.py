"""What the Python contenders share: the context, the work, the answer."""
import json
import sys
import time

ctx = json.loads(sys.argv[1])


def emit(batch):
    """Prints the batch the way the bench reads it."""
    sys.__stdout__.write("BENCH_RESULT " + json.dumps(batch) + "\n")
    sys.__stdout__.flush()


def stamp():
    """The time now on the epoch clock, in ms (comparable across processes)."""
    import time as t
    return t.time() * 1000


def double(x):
    """A trivial item."""
    return x * 2


def cpu(n):
    """A CPU-bound item: n rounds of integer arithmetic (as in Deno)."""
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


# Python runs this loop ~50x slower than V8: scale it to similar item times.
PY_SLOWDOWN = 50


def python_work():
    return max(1, ctx["params"].get("work", 0) // PY_SLOWDOWN)


def sleep_ms(ms):
    time.sleep(ms / 1000)


def cpu_speedup(n, items, run_parallel):
    """Times `items` CPU-bound items here, then `run_parallel(work, items)`,
    n times: the parallel times (the samples), with the sequential times and
    the speedups."""
    work = python_work()
    samples, extra = [], {"sequential_ms": [], "speedup": []}
    for _ in range(n):
        t0 = time.perf_counter()
        for _ in range(items):
            cpu(work)
        seq = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        run_parallel(work, items)
        par = (time.perf_counter() - t0) * 1000
        samples.append(par)
        extra["sequential_ms"].append(seq)
        extra["speedup"].append(seq / par)
    return samples, extra
