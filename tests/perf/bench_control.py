#!/usr/bin/python3
"""Control-plane scale: 10,000 Services with 10 endpoints each (EndpointSlices)
applied in one request, then one endpoint change; each answer comes after the
new tables are published, so its time is the time to be in force. Prints the
medians and appends JSON lines to argv[1]."""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import Scope, Switch, api_call  # noqa: E402

N = int(os.environ.get("PSW_BENCH_SERVICES", "10000"))
RUNS = int(os.environ.get("PSW_BENCH_RUNS", "3"))


def objects(n, bump=0):
    objs = []
    for i in range(n):
        name = "svc-%05d" % i
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "bench"},
                     "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        eps = [{"addresses": ["10.%d.%d.%d" % (100 + (i >> 12), (i >> 4) & 0xff, ((i & 0xf) << 4) + k)],
                "conditions": {"ready": True}} for k in range(10)]
        if i == 0 and bump:
            eps[0]["addresses"] = ["10.250.0.%d" % bump]
        objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                     "metadata": {"name": name + "-1", "namespace": "bench",
                                  "labels": {"kubernetes.io/service-name": name}},
                     "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                     "endpoints": eps})
    return objs


def main():
    out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
    full, one = [], []
    for run in range(RUNS):
        scope = Scope()
        try:
            sw = Switch(scope, "limits = { conntrack = 65536; };\n").start()
            objs = objects(N)
            t0 = time.time()
            r = api_call(sw.sock, "apply", {"objects": objs}, timeout=600)
            full.append(time.time() - t0)
            assert r["ok"], r
            st = api_call(sw.sock, "status")
            assert st["ok"], st
            # one endpoint of one Service changes: only that slice is sent
            slice0 = objects(1, bump=run + 1)[1]
            t0 = time.time()
            r = api_call(sw.sock, "apply", {"objects": [slice0]}, timeout=60)
            one.append(time.time() - t0)
            assert r["ok"], r
            sw.stop()
        finally:
            scope.close()
    rows = [("control: apply %d Services x 10 endpoints" % N, "s", full),
            ("control: one endpoint change in force, %d Services" % N, "ms", [x * 1000 for x in one])]
    for name, unit, vals in rows:
        med = statistics.median(vals)
        print("%-44s %10.2f %-12s (min %.2f, max %.2f, %d runs) through the API, one request"
              % (name, med, unit, min(vals), max(vals), len(vals)))
        if out:
            out.write(json.dumps({"scenario": name, "unit": unit, "median": round(med, 3),
                                  "min": round(min(vals), 3), "max": round(max(vals), 3),
                                  "runs": len(vals)}) + "\n")


if __name__ == "__main__":
    main()
