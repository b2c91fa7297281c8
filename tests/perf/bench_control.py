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
from pswtest import Netns, Scope, Switch, api_call, check, cni_call, cni_conf  # noqa: E402

N = int(os.environ.get("PSW_BENCH_SERVICES", "10000"))
RUNS = int(os.environ.get("PSW_BENCH_RUNS", "3"))
POLICIES = int(os.environ.get("PSW_BENCH_POLICIES", "10000"))
NS, LABELS = 10, 100     # 1,000 Pod objects: one per namespace and app label


def policy_world():
    """1,000 Pod objects of other nodes (status.podIP) in 10 namespaces, and
    POLICIES NetworkPolicies: policy i selects app-(i % 100) in ns-(i / 1000 % 10)
    and allows it from app-(i+1 % 100) on TCP port 80 + i % 50; every 1000th
    also from every namespace on port 443 (a peer of 1,000 pods)."""
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-%d" % n, "labels": {"n": str(n)}}}
            for n in range(NS)]
    for n in range(NS):
        for a in range(LABELS):
            objs.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "p-%d" % a, "namespace": "ns-%d" % n, "labels": {"app": "app-%d" % a}},
                         "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80}]}]},
                         "status": {"podIP": "10.246.%d.%d" % (n, a + 1)}})
    for i in range(POLICIES):
        peers = [{"podSelector": {"matchLabels": {"app": "app-%d" % ((i + 1) % LABELS)}}}]
        ports = [{"port": 80 + i % 50}]
        rules = [{"from": peers, "ports": ports}]
        if i % 1000 == 0:
            rules.append({"from": [{"namespaceSelector": {}}], "ports": [{"port": 443}]})
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "np-%05d" % i, "namespace": "ns-%d" % (i // 1000 % NS)},
                     "spec": {"podSelector": {"matchLabels": {"app": "app-%d" % (i % LABELS)}},
                              "ingress": rules}})
    return objs


def local_pods(scope, sw, n):
    """n pods attached here through the CNI plugin, named like Pod objects p-0.. of ns-0."""
    for a in range(n):
        ns = Netns(scope)
        rc, out = cni_call("ADD", cni_conf(sw.sock), container_id="bench-%d" % a, netns="/run/netns/" + ns.name,
                           args="K8S_POD_NAMESPACE=ns-0;K8S_POD_NAME=p-%d" % a)
        check(rc == 0, "ADD: %s" % out)
        scope.defer(lambda a=a: cni_call("DEL", cni_conf(sw.sock), container_id="bench-%d" % a))


def bench_policies(out):
    full, one, label = [], [], []
    for run in range(RUNS):
        scope = Scope()
        try:
            sw = Switch(scope, "").start()
            local_pods(scope, sw, 4)
            objs = policy_world()
            t0 = time.time()
            r = api_call(sw.sock, "apply", {"objects": objs}, timeout=600)
            full.append(time.time() - t0)
            assert r["ok"], r
            # one more policy selecting a local pod: the answer comes once it is in force
            extra = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "extra-%d" % run, "namespace": "ns-0"},
                     "spec": {"podSelector": {"matchLabels": {"app": "app-1"}},
                              "ingress": [{"from": [{"ipBlock": {"cidr": "10.246.0.0/16"}}]}]}}
            t0 = time.time()
            r = api_call(sw.sock, "apply", {"objects": [extra]}, timeout=60)
            one.append(time.time() - t0)
            assert r["ok"], r
            # a label change of one Pod: every local pod's rules are recompiled
            pod = dict(objs[NS + 5])
            pod["metadata"] = dict(pod["metadata"], labels={"app": "moved"})
            t0 = time.time()
            r = api_call(sw.sock, "apply", {"objects": [pod]}, timeout=60)
            label.append(time.time() - t0)
            assert r["ok"], r
            rows = api_call(sw.sock, "get", {"kind": "networkpolicies", "namespace": "ns-0"})["result"]["items"]
            check(sum(1 for x in rows if x["status"]["selected"]) >= 40, "local pods not selected")
            sw.stop()
        finally:
            scope.close()
    return [("control: apply %d NetworkPolicies + 1k Pods" % POLICIES, "s", full),
            ("control: one more policy in force, %d policies" % POLICIES, "ms", [x * 1000 for x in one]),
            ("control: one Pod label change in force", "ms", [x * 1000 for x in label])]


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
    rows += bench_policies(out)
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
