"""IPython's BackgroundJobManager (what %job uses): one thread per job."""
import contextlib
import io
import os
import time

from _bench import cpu, cpu_speedup, ctx, double, emit, sleep_ms, stamp
from IPython.lib.backgroundjobs import BackgroundJobManager

manager = BackgroundJobManager()


def start(fn, *args):
    # The manager prints "Starting job # N in a separate thread." each time.
    with contextlib.redirect_stdout(io.StringIO()):
        return manager.new(fn, *args)


def finish(job):
    job.join()
    return job.result


def main():
    variant, n, params = ctx["variant"], ctx["n"], ctx["params"]
    samples, extra = [], {}
    if variant == "start.plain":
        for _ in range(n):
            sleep_ms(300 if ctx["quick"] else 500)
            t0 = stamp()
            samples.append(finish(start(stamp)) - t0)
    elif variant == "map.trivial":
        # No map: one background job per item, as %job would do it.
        # Thousands of threads take seconds: at most 10,000 items (per-item
        # numbers hold; the record says how many).
        items = range(min(params["items"], 2000 if ctx["quick"] else 10000))
        for _ in range(n):
            t0 = time.perf_counter()
            out = [finish(j) for j in [start(double, x) for x in items]]
            samples.append((time.perf_counter() - t0) * 1000)
            assert out[-1] == 2 * (len(items) - 1)
    elif variant == "map.cpu":
        samples, extra = cpu_speedup(
            n, params["items"],
            lambda work, k: [finish(j) for j in [start(cpu, work) for _ in range(k)]])
    else:
        return {"samples": [], "outcome": "unavailable", "note": "no " + variant + " case"}
    info = {"threads": os.cpu_count()}
    if variant == "map.trivial":
        info["items"] = len(items)
    return {"samples": samples, "extra": extra, "info": info}


emit(main())
os._exit(0)
