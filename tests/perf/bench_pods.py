#!/usr/bin/python3
"""A full node (issue 14): pods attached through the CNI plugin, as a
runtime calls it, up to PSW_BENCH_PODS (default 1000) on one worker, in the
mix PSW_BENCH_POD_MIX (default "6,3,1": of every ten pods six kernel, three
vhost-user and one memif; the DPDK pods' sockets get no driver here: their
traffic is bench_e2e's "l3, full node").

Measured, in one run:
- CNI ADD latency (the plugin's whole run: veth, netns, API round trip) for
  the first 100 pods and the last 100: median and p99;
- one iperf3 TCP stream between two kernel pods (both ends on CPU 0, the
  worker on CPU 1) with only those two attached, then with all the others
  attached and idle (parked on the worker's epoll set), runs alternating
  with a bare veth pair between two namespaces as the kernel's own figure;
- the switch's resident memory and file descriptors with 2 pods, with all,
  and after every pod is deleted again.
Prints medians and appends JSON lines to the file given as argv[1]."""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import Netns, Scope, Switch, cni_call, cni_conf, run, uid  # noqa: E402

PODS = int(os.environ.get("PSW_BENCH_PODS", "1000"))
RUNS = int(os.environ.get("PSW_BENCH_RUNS", "3"))
MIX = [int(x) for x in os.environ.get("PSW_BENCH_POD_MIX", "6,3,1").split(",")]


def kind_of(i):
    """Pods 0 and 1 (the iperf3 ends) are kernel pods; then the mix, in turn."""
    r = i % sum(MIX)
    return "kernel" if i < 2 or r < MIX[0] else "vhost-user" if r < MIX[0] + MIX[1] else "memif"
SECONDS = 3

BODY = """node = { pod_cidr = "10.240.0.0/20"; gateway = "10.240.0.1"; pod_cidr6 = ""; gateway6 = ""; };
limits = { max_pods = %d; large_mbufs = 256; };
""" % (PODS + 8)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def iperf(a, b_ip, b):
    srv = b.popen("taskset -c 0 iperf3 -s -1 -J >/dev/null")
    time.sleep(0.4)
    out = a.sh("taskset -c 0 iperf3 -c %s -t %d -J" % (b_ip, SECONDS), timeout=60)
    srv.wait(timeout=20)
    return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


def bare_veth(scope, ips=("10.99.0.1", "10.99.0.2")):
    """Two namespaces joined by a bare veth pair, eth0 in each: the kernel's own figure."""
    a, b = Netns(scope), Netns(scope)
    run(["ip", "-n", a.name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
         "netns", b.name])
    for ns, ip in zip((a, b), ips):
        ns.ip("addr add %s/24 dev eth0" % ip)
        ns.ip("link set eth0 up")
    return a, b


def add_pod(scope, c, i):
    ns = Netns(scope)
    kind = kind_of(i)
    t0 = time.perf_counter()
    rc, out = cni_call("ADD", c, container_id="bench-%d" % i, netns="/run/netns/" + ns.name,
                       args=None if kind == "kernel" else "PODSWITCH_INTERFACE=" + kind)
    dt = (time.perf_counter() - t0) * 1000
    if rc != 0:
        raise RuntimeError("ADD of pod %d (%s): %s" % (i, kind, out))
    if kind == "kernel":
        ns.sh("sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1")
    return ns, out["ips"][0]["address"].split("/")[0], dt


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else None
    scope = Scope()
    res = {"pods": PODS}
    try:
        sw = Switch(scope, BODY).start()
        c = cni_conf(sw.sock, version="1.0.0", stateDir=sw.state)
        pid = sw.proc.pid
        base_rss, base_fds = rss_kib(pid), sw.fds()
        a, a_ip, _ = add_pod(scope, c, 0)
        b, b_ip, _ = add_pod(scope, c, 1)
        a.sh("ping -c 2 -W 2 %s >/dev/null" % b_ip, check_rc=False)
        va, vb = bare_veth(scope)
        two = {"rss_kib": rss_kib(pid), "fds": sw.fds()}
        tcp = {"bare_veth": [], "2_pods": [], "all_pods": []}
        for _ in range(RUNS):
            tcp["bare_veth"].append(iperf(va, "10.99.0.2", vb))
            tcp["2_pods"].append(iperf(a, b_ip, b))
        lat = []
        others = []
        for i in range(2, PODS):
            ns, ip, dt = add_pod(scope, c, i)
            others.append(ns)
            lat.append(dt)
        time.sleep(0.5)
        w = sw.ok("stats")["workers"][0]
        full = {"rss_kib": rss_kib(pid), "fds": sw.fds(), "ports_parked": w["ports_parked"],
                "ethdevs": sw.ok("status")["limits"]["ethdevs"]["used"],
                "kinds": {k: sum(1 for i in range(PODS) if kind_of(i) == k)
                          for k in ("kernel", "vhost-user", "memif")}}
        a.sh("ping -c 2 -W 2 %s >/dev/null" % b_ip, check_rc=False)
        for _ in range(RUNS):
            tcp["all_pods"].append(iperf(a, b_ip, b))
            tcp["bare_veth"].append(iperf(va, "10.99.0.2", vb))
        first, last = lat[:100], lat[-100:]
        res["cni_add_ms"] = {"first_100": {"median": statistics.median(first), "p99": pct(first, 99)},
                             "last_100": {"median": statistics.median(last), "p99": pct(last, 99)}}
        dels = []
        for i in range(PODS):
            t0 = time.perf_counter()
            rc, out = cni_call("DEL", c, container_id="bench-%d" % i)
            dels.append((time.perf_counter() - t0) * 1000)
            if rc != 0:
                raise RuntimeError("DEL of pod %d: %s" % (i, out))
        time.sleep(0.5)
        after = {"rss_kib": rss_kib(pid), "fds": sw.fds(), "ports": sw.ok("status")["limits"]["ports"]["used"]}
        res["cni_del_ms"] = {"median": statistics.median(dels), "p99": pct(dels, 99)}
        res["tcp_gbit"] = {k: statistics.median(v) for k, v in tcp.items()}
        res["tcp_gbit_runs"] = tcp
        res["memory"] = {"empty": {"rss_kib": base_rss, "fds": base_fds}, "2_pods": two,
                         "all_pods": full, "after_del": after,
                         "per_pod_kib": (full["rss_kib"] - two["rss_kib"]) / max(1, PODS - 2)}
        sw.stop()
    finally:
        scope.close()
    m = res["tcp_gbit"]
    print("pods %d (%s; %d ethdevs)" % (PODS, ", ".join("%d %s" % (n, k) for k, n in
                                                       res["memory"]["all_pods"]["kinds"].items()),
                                        res["memory"]["all_pods"]["ethdevs"]))
    print("pods %d: CNI ADD first 100 median %.1f ms p99 %.1f; last 100 median %.1f ms p99 %.1f; DEL median %.1f ms"
          % (PODS, res["cni_add_ms"]["first_100"]["median"], res["cni_add_ms"]["first_100"]["p99"],
             res["cni_add_ms"]["last_100"]["median"], res["cni_add_ms"]["last_100"]["p99"],
             res["cni_del_ms"]["median"]))
    print("TCP one stream, medians of %d: bare veth %.2f Gbit/s; 2 kernel pods %.2f; with %d attached %.2f (%.0f%% of 2)"
          % (RUNS, m["bare_veth"], m["2_pods"], PODS, m["all_pods"], 100 * m["all_pods"] / m["2_pods"]))
    mem = res["memory"]
    print("switch RSS: empty %d KiB, 2 pods %d, %d pods %d (%.0f KiB per pod, %d parked), after DEL %d; fds %d/%d/%d/%d"
          % (mem["empty"]["rss_kib"], mem["2_pods"]["rss_kib"], PODS, mem["all_pods"]["rss_kib"],
             mem["per_pod_kib"], mem["all_pods"]["ports_parked"], mem["after_del"]["rss_kib"],
             mem["empty"]["fds"], mem["2_pods"]["fds"], mem["all_pods"]["fds"], mem["after_del"]["fds"]))
    if out_path:
        with open(out_path, "a") as f:
            f.write(json.dumps({"bench": "pods", **res}) + "\n")


if __name__ == "__main__":
    main()
