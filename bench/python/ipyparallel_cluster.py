"""ipyparallel with two engines, for the cluster scenario: apply round trip,
load-balanced map of trivial items (chunks of 1,000), and abort of a task
that is running. With a client file as second argument, the controller and
engines run elsewhere (the bench's test hosts); else a local cluster."""
import logging
import os
import time

import _bench
from _bench import ctx, emit
import ipyparallel as ipp

double = ipp.interactive(_bench.double)


@ipp.interactive
def spin(seconds):
    import time as t
    end = t.time() + seconds
    while t.time() < end:
        pass
    return "done"


def main():
    variant, n, params = ctx["variant"], ctx["n"], ctx["params"]
    import sys
    cluster = None
    if len(sys.argv) > 2:
        # This version ignores url_file=: the file goes as connection_info.
        client = ipp.Client(sys.argv[2], timeout=60)
    else:
        cluster = ipp.Cluster(n=2, log_level=logging.ERROR)
        client = cluster.start_and_connect_sync()
    client.wait_for_engines(2, timeout=120)
    balanced = client.load_balanced_view()
    client[:].apply_sync(double, 1)
    samples, extra = [], {}
    try:
        if variant == "cluster.start":
            for _ in range(n):
                time.sleep(0.1)
                t0 = time.perf_counter()
                balanced.apply_sync(double, 1)
                samples.append((time.perf_counter() - t0) * 1000)
        elif variant == "cluster.map":
            items = list(range(params["items"]))
            for _ in range(n):
                t0 = time.perf_counter()
                out = balanced.map_sync(double, items, chunksize=1000)
                samples.append((time.perf_counter() - t0) * 1000 * 1000 / len(items))
                assert out[-1] == 2 * (len(items) - 1)
        elif variant == "cluster.kill":
            stopped = 0
            for _ in range(n):
                task = balanced.apply_async(spin, 3)
                time.sleep(0.3)
                t0 = time.perf_counter()
                try:
                    client.abort(task, block=True)
                except Exception:
                    pass
                time.sleep(2)
                # Still running 2 s later: abort only drops waiting tasks.
                if task.ready():
                    stopped += 1
                    samples.append((time.perf_counter() - t0) * 1000)
                task.wait(5)
            if stopped == 0:
                return {"samples": [], "outcome": "never stops",
                        "note": "abort() leaves a running task running (still running 2 s later)"}
        else:
            return {"samples": [], "outcome": "unavailable", "note": "no " + variant + " case"}
    finally:
        client.close()
        if cluster is not None:
            cluster.stop_cluster_sync()
    return {"samples": samples, "extra": extra}


emit(main())
os._exit(0)
