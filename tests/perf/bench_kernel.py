#!/usr/bin/python3
"""Kernel pod ports compared, runs alternating, one worker:
- tap (kind "kernel");
- af_packet on a veth pair without offloads (limits.large_mbufs = 0, TX
  checksum offload off in the pod so that every packet leaving it carries
  a complete checksum);
- af_packet with offloads (the default; the pod's interface as the CNI
  plugin leaves it: TX checksum and TSO on, gso_max_size 61440, tunnel
  segmentation off), large TCP frames crossing whole;
- a bare veth pair between the two namespaces, the kernel's own figure.
For each: one iperf3 TCP stream, and 64-byte UDP frames from udp_flood
(sendmmsg as fast as the pod's kernel sends) for the same time, what
reaches pod b's interface a second. Pods on
CPU 0, the worker on CPU 1. Prints the medians and appends JSON lines to
the file given as argv[1]."""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import Netns, Scope, Switch, kernel_pod, run, uid  # noqa: E402
from bench_pods import bare_veth  # noqa: E402

RUNS = int(os.environ.get("PSW_BENCH_RUNS", "3"))
FLOOD = os.path.join(os.environ.get("PSW_BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                              "build-bench")), "tests", "perf", "udp_flood")
SECONDS = 3


def pods_conf(kind, names, large_mbufs=256):
    ports = ",\n".join('  { name = "p%s"; kind = "%s"; ifname = "%s"; }' % (x, kind, n)
                       for x, n in zip("ab", names))
    return """limits = { large_mbufs = %d; };
ports = (
%s
);
pods = (
  { name = "a"; port = "pa"; mac = "02:00:00:00:00:0a"; ip = "10.244.0.10"; },
  { name = "b"; port = "pb"; mac = "02:00:00:00:00:0b"; ip = "10.244.0.11"; }
);
""" % (large_mbufs, ports)


OFF = ("tx-gre-segmentation tx-gre-csum-segmentation tx-ipxip4-segmentation tx-ipxip6-segmentation "
       "tx-udp_tnl-segmentation tx-udp_tnl-csum-segmentation tx-gso-partial tx-sctp-segmentation")


def veth_pod(scope, host, mac, ip, offloads):
    ns = Netns(scope)
    run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name])
    scope.defer(lambda: run(["ip", "link", "del", host], check_rc=False))
    run(["ip", "link", "set", host, "up"])
    ns.ip("link set eth0 address %s up" % mac)
    ns.ip("addr add %s/24 dev eth0" % ip)
    ns.ip("route add default via 10.244.0.1")
    if offloads:     # as the CNI plugin leaves a pod's interface
        ns.ip("link set eth0 gso_max_size 61440")
        ns.sh("ethtool -K eth0 %s >/dev/null 2>&1" % " ".join(f + " off" for f in OFF.split()), check_rc=False)
    else:
        ns.sh("ethtool -K eth0 tx off >/dev/null")
    ns.sh("sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1")
    return ns


def rx_packets(ns):
    """Packets received by the namespace's interfaces (its own /proc/net/dev), loopback aside."""
    n = 0
    for line in ns.sh("cat /proc/net/dev").stdout.splitlines()[2:]:
        name, data = line.split(":", 1)
        if name.strip() != "lo":
            n += int(data.split()[1])
    return n


def measure(a, b, dst):
    """(TCP Gbit/s, 64-byte UDP packets a second received) from a to b at dst."""
    srv = b.popen("taskset -c 0 iperf3 -s -1 -J >/dev/null")
    time.sleep(0.5)
    out = a.sh("taskset -c 0 iperf3 -c %s -t %d -J" % (dst, SECONDS), timeout=60)
    srv.wait(10)
    tcp = json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
    # what reaches pod b's interface of udp_flood's 64-byte frames
    b.sh("iptables -I INPUT -p udp --dport 9 -j DROP 2>/dev/null || true", check_rc=False)
    rx0 = rx_packets(b)
    t0 = time.monotonic()
    a.sh("taskset -c 0 %s %s 9 %d" % (FLOOD, dst, SECONDS), timeout=60)
    t = time.monotonic() - t0
    rx = rx_packets(b) - rx0
    return tcp, rx / t / 1e6


KINDS = ("tap", "af_packet", "af_packet, offloads", "af_packet, offloads, to a ClusterIP", "bare veth")
SERVICE = {"objects": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "namespace": "default"},
     "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "t", "port": 5201, "targetPort": 5201},
                                                  {"name": "u", "port": 9, "targetPort": 9, "protocol": "UDP"}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "b-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "b"}},
     "addressType": "IPv4", "ports": [{"name": "t", "port": 5201}, {"name": "u", "port": 9, "protocol": "UDP"}],
     "endpoints": [{"addresses": ["10.244.0.11"]}]}]}


def one_run(kind):
    scope = Scope()
    try:
        names = ["bk" + uid(), "bk" + uid()]
        if kind == "bare veth":
            a, b = bare_veth(scope, ("10.244.0.10", "10.244.0.11"))
        elif kind.startswith("af_packet"):
            off = "offloads" in kind
            a = veth_pod(scope, names[0], "02:00:00:00:00:0a", "10.244.0.10", off)
            b = veth_pod(scope, names[1], "02:00:00:00:00:0b", "10.244.0.11", off)
            sw = Switch(scope, pods_conf("af_packet", names, 256 if off else 0)).start()
            if kind.endswith("ClusterIP"):
                sw.ok("apply", SERVICE)
                a.sh("ping -c 1 -W 2 10.244.0.11 >/dev/null", check_rc=False)
                return measure(a, b, "10.96.0.50")
        else:
            Switch(scope, pods_conf("kernel", names)).start()
            a = kernel_pod(scope, names[0], "02:00:00:00:00:0a", "10.244.0.10")
            b = kernel_pod(scope, names[1], "02:00:00:00:00:0b", "10.244.0.11")
        a.sh("ping -c 1 -W 2 10.244.0.11 >/dev/null", check_rc=False)
        return measure(a, b, "10.244.0.11")
    finally:
        scope.close()


def main():
    out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
    results = {k: [] for k in KINDS}
    for _ in range(RUNS):
        for kind in KINDS:
            results[kind].append(one_run(kind))
    for kind, vals in results.items():
        where = ("a bare veth pair" if kind == "bare veth" else
                 "af_packet ports with offloads, to a ClusterIP" if kind.endswith("ClusterIP") else "%s ports" % kind)
        for i, (what, unit) in enumerate((("TCP", "Gbit/s"), ("64-byte UDP", "Mpps"))):
            v = [x[i] for x in vals]
            med = statistics.median(v)
            name = "kernel pods %s through %s" % (what, where)
            print("%-56s %8.2f %-7s (min %.2f, max %.2f, %d runs) iperf3 %ds, pods on CPU 0, worker on CPU 1"
                  % (name, med, unit, min(v), max(v), len(v), SECONDS))
            if out:
                out.write(json.dumps({"scenario": name, "unit": unit, "median": round(med, 3),
                                      "min": round(min(v), 3), "max": round(max(v), 3),
                                      "runs": len(v)}) + "\n")


if __name__ == "__main__":
    main()
