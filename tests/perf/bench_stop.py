#!/usr/bin/python3
"""How long the switch takes to stop (SIGTERM to exit) with many kernel
pods attached: N af_packet ports (default 600, PSW_BENCH_STOP_PODS) on veth
pairs, attached through the API as the CNI plugin attaches them (the
bench_e2e.py full node's kernel pods), then the time from SIGTERM to the
process's exit. Kubernetes gives a pod 30 s to stop before it kills it.

usage: bench_stop.py [RESULTS_FILE]"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bench_e2e as e2e  # noqa: E402
from pswtest import Scope, Switch  # noqa: E402

PODS = int(os.environ.get("PSW_BENCH_STOP_PODS", "600"))


def main():
    e2e.FULL.update(kernel=PODS, vhost=0, memif=0, connected=0)
    scope = Scope()
    try:
        socks = [scope.path("g%d.sock" % i) for i in range(2)]
        sw = Switch(scope, e2e.podswitch_conf(socks, extra='limits = { pods = %d; };\nnode = { pod_cidr = '
                                                  '"10.244.0.0/20"; gateway = "10.244.0.1"; };' % (PODS + 100)),
                    workers="[1]").start()
        t0 = time.monotonic()
        e2e.FullNode(scope).attach_podswitch(sw)
        attach = time.monotonic() - t0
        t0 = time.monotonic()
        sw.proc.send_signal(signal.SIGTERM)
        rc = sw.proc.wait(300)
        stop = time.monotonic() - t0
    finally:
        scope.close()
    print("%d kernel pods: attached in %.1f s; stopped in %.1f s (exit %d)" % (PODS, attach, stop, rc), flush=True)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"scenario": "stop with %d kernel pods" % PODS, "unit": "s",
                                "median": round(stop, 2), "runs": 1}) + "\n")


if __name__ == "__main__":
    main()
