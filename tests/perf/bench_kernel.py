#!/usr/bin/python3
"""Kernel pod ports compared: tap (kind "kernel") against af_packet on a veth
pair (kind "af_packet", with TX checksum offload off in the pod so that every
packet leaving it carries a complete checksum). TCP throughput with iperf3
between two namespace pods through one worker, runs alternating; prints the
medians and appends JSON lines to the file given as argv[1]."""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import Netns, Scope, Switch, kernel_pod, run, uid  # noqa: E402

RUNS = int(os.environ.get("PSW_BENCH_RUNS", "3"))
SECONDS = 3


def pods_conf(kind, names):
    ports = ",\n".join('  { name = "p%s"; kind = "%s"; ifname = "%s"; }' % (x, kind, n)
                       for x, n in zip("ab", names))
    return """ports = (
%s
);
pods = (
  { name = "a"; port = "pa"; mac = "02:00:00:00:00:0a"; ip = "10.244.0.10"; },
  { name = "b"; port = "pb"; mac = "02:00:00:00:00:0b"; ip = "10.244.0.11"; }
);
""" % ports


def veth_pod(scope, host, mac, ip):
    ns = Netns(scope)
    run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name])
    scope.defer(lambda: run(["ip", "link", "del", host], check_rc=False))
    run(["ip", "link", "set", host, "up"])
    ns.ip("link set eth0 address %s up" % mac)
    ns.ip("addr add %s/24 dev eth0" % ip)
    ns.ip("route add default via 10.244.0.1")
    ns.sh("ethtool -K eth0 tx off >/dev/null")
    return ns


def one_run(kind):
    scope = Scope()
    try:
        names = ["bk" + uid(), "bk" + uid()]
        if kind == "af_packet":
            a = veth_pod(scope, names[0], "02:00:00:00:00:0a", "10.244.0.10")
            b = veth_pod(scope, names[1], "02:00:00:00:00:0b", "10.244.0.11")
            Switch(scope, pods_conf(kind, names)).start()
        else:
            Switch(scope, pods_conf(kind, names)).start()
            a = kernel_pod(scope, names[0], "02:00:00:00:00:0a", "10.244.0.10")
            b = kernel_pod(scope, names[1], "02:00:00:00:00:0b", "10.244.0.11")
        a.sh("ping -c 1 -W 2 10.244.0.11 >/dev/null", check_rc=False)
        srv = b.popen("taskset -c 0 iperf3 -s -1 -J >/dev/null")
        import time
        time.sleep(0.5)
        out = a.sh("taskset -c 0 iperf3 -c 10.244.0.11 -t %d -J" % SECONDS, timeout=60)
        srv.wait(10)
        res = json.loads(out.stdout)
        return res["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        scope.close()


def main():
    out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
    results = {"kernel": [], "af_packet": []}
    for _ in range(RUNS):
        for kind in results:
            results[kind].append(one_run(kind))
    for kind, vals in results.items():
        med = statistics.median(vals)
        name = "kernel pods TCP through %s ports" % ("tap" if kind == "kernel" else "af_packet/veth")
        print("%-44s %10.2f %-12s (min %.2f, max %.2f, %d runs) iperf3 %ds, pods on CPU 0, worker on CPU 1"
              % (name, med, "Gbit/s", min(vals), max(vals), len(vals), SECONDS))
        if out:
            out.write(json.dumps({"scenario": name, "unit": "Gbit/s", "median": round(med, 3),
                                  "min": round(min(vals), 3), "max": round(max(vals), 3),
                                  "runs": len(vals)}) + "\n")


if __name__ == "__main__":
    main()
