"""ipyparallel: a local cluster of one engine per core, started per batch."""
import logging
import os
import time

import _bench
from _bench import cpu_speedup, ctx, emit, sleep_ms
import ipyparallel as ipp

# Sent by value: the engines cannot import _bench (not on their path).
stamp, double, cpu = (ipp.interactive(f) for f in (_bench.stamp, _bench.double, _bench.cpu))


def main():
    variant, n, params = ctx["variant"], ctx["n"], ctx["params"]
    cores = os.cpu_count()
    t0 = time.perf_counter()
    cluster = ipp.Cluster(n=cores, log_level=logging.ERROR)
    client = cluster.start_and_connect_sync()
    client.wait_for_engines(cores, timeout=120)
    info = {"engines": cores, "cluster_start_ms": (time.perf_counter() - t0) * 1000}
    direct, balanced = client[:], client.load_balanced_view()
    direct.apply_sync(stamp)  # warm every engine
    samples, extra = [], {}
    try:
        if variant == "start.plain":
            for _ in range(n):
                sleep_ms(300 if ctx["quick"] else 500)
                t0 = stamp()
                samples.append(balanced.apply_async(stamp).get() - t0)
        elif variant == "map.trivial":
            items = list(range(params["items"]))
            for _ in range(n):
                t0 = time.perf_counter()
                out = direct.map_sync(double, items)
                samples.append((time.perf_counter() - t0) * 1000)
                assert out[-1] == 2 * (len(items) - 1)
        elif variant == "map.cpu":
            samples, extra = cpu_speedup(
                n, params["items"], lambda work, k: direct.map_sync(cpu, [work] * k))
        else:
            return {"samples": [], "outcome": "unavailable", "note": "no " + variant + " case"}
    finally:
        client.close()
        cluster.stop_cluster_sync()
    return {"samples": samples, "extra": extra, "info": info}


emit(main())
os._exit(0)
