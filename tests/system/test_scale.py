#!/usr/bin/python3
"""A full node (issue 14): many pods on one switch through the CNI plugin.
250 pods of mixed kinds (kernel pods, one vhost-user and one memif DPDK
pod) reach their neighbours and a Service and leave nothing behind; 1,000
attach/detach cycles with traffic flowing leave file descriptors, ports,
mbufs and host interfaces as they were."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (BUILD, Netns, Switch, check, cni_call, cni_conf, kill_group, main, ping,  # noqa: E402
                     run, test, testpmd_pod)

CTL = os.path.join(BUILD, "switch", "podswitchctl")
BODY = """node = { pod_cidr = "10.240.0.0/22"; gateway = "10.240.0.1"; pod_cidr6 = ""; gateway6 = ""; };
"""


def host_veths():
    return {l for l in os.listdir("/sys/class/net") if l.startswith("psw")}


def apply(sw, scope, obj):
    path = scope.path("m%d.json" % time.time_ns())
    with open(path, "w") as f:
        json.dump(obj, f)
    run([CTL, "-s", sw.sock, "apply", "-f", path])


def add(c, cid, ns, args=None, check_ok=True):
    rc, out = cni_call("ADD", c, container_id=cid, netns="/run/netns/" + ns.name, args=args)
    if check_ok:
        check(rc == 0, "ADD %s: %s" % (cid, out))
    return out


def fd_table(sw):
    d = "/proc/%d/fd" % sw.proc.pid
    out = {}
    for f in os.listdir(d):
        try:
            out[f] = os.readlink(os.path.join(d, f))
        except OSError:
            pass
    return out


def settled_fds(sw, at_most):
    """The switch's descriptors, given up to 3 s to come down to at_most: the
    API's own connection (the status call just made) and a port still in its
    grace period close a moment later."""
    deadline = time.time() + 3
    n = sw.fds()
    while n > at_most and time.time() < deadline:
        time.sleep(0.1)
        n = sw.fds()
    return n


def resources(sw, fds_at_most=None):
    st = sw.ok("status")
    if fds_at_most is None:
        time.sleep(0.3)                          # the status call's connection closes
    return {"fds": sw.fds() if fds_at_most is None else settled_fds(sw, fds_at_most), "ports": st["limits"]["ports"]["used"], "attachments": st["attachments"],
            "mbufs": st["mbufs_in_use"]}


@test
def pods_250_of_mixed_kinds_reach_neighbours_and_a_service(scope):
    sw = Switch(scope, BODY, workers="[1]").start()
    c = cni_conf(sw.sock, version="1.1.0")
    base, veths = resources(sw), host_veths()
    pods = []                                    # (netns, ip, container id)
    for i in range(248):
        ns = Netns(scope)
        out = add(c, "k-%d" % i, ns, args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=k-%d" % i)
        ns.sh("sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1")
        pods.append((ns, out["ips"][0]["address"].split("/")[0], "k-%d" % i))
    dpdk = []
    for kind in ("vhost-user", "memif"):
        ns = Netns(scope)
        out = add(cni_conf(sw.sock, kind, version="1.1.0"), "d-" + kind, ns)
        iface = out["interfaces"][-1]
        if kind == "vhost-user":
            vdev = "net_virtio_user0,path=%s,mac=%s,queues=1" % (iface["socketPath"], iface["mac"])
        else:
            vdev = "net_memif0,role=client,socket=%s,socket-abstract=no,mac=%s" % (
                iface["socketPath"], iface["mac"])
        testpmd_pod(scope, vdev, cpu=0, name=kind)
        dpdk.append((ns, out["ips"][0]["address"].split("/")[0], "d-" + kind, kind))
    st = sw.ok("status")
    check(st["attachments"] == 250 and st["limits"]["ethdevs"]["used"] == 0 and
          st["limits"]["memif_interfaces"]["used"] == 1,
          "250 pods, no ethdev (kernel, vhost-user and memif pods take none): %s" % st["limits"])
    # every kernel pod reaches its neighbour (the first frame of an idle pod included)
    lost = []
    for i in range(len(pods)):
        a, (_, ip, _) = pods[i], pods[(i + 1) % len(pods)]
        r = a[0].sh("ping -c 1 -W 1 %s" % ip, check_rc=False)
        if r.returncode != 0:
            lost.append((a[2], ip))
    check(not lost, "%d kernel pods did not reach their neighbour at the first ping: %s" % (len(lost), lost[:10]))
    for ns, ip, cid, kind in dpdk:
        got = 0
        for _ in range(20):                       # testpmd takes a moment to come up
            got = ping(pods[0][0], ip, count=2, interval=0.2)[1]
            if got:
                break
        sent, got = ping(pods[100][0], ip, count=5, interval=0.1)
        check(got == sent, "the %s pod answered %d of %d" % (kind, got, sent))
    # a Service over three of them, reached from every tenth pod
    backends = pods[10:13]
    for ns, ip, cid in backends:
        apply(sw, scope, {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": cid, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}]}})
        p = ns.popen("exec socat -t 5 TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo %s; cat >/dev/null'" % cid)
        scope.defer(lambda p=p: kill_group(p))
    apply(sw, scope, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    vip = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "web", "-o", "json"]).stdout)["spec"]["clusterIP"]
    for ns, ip, cid in backends:
        deadline = time.time() + 5
        while not ns.sh("ss -Hltn 'sport = :8080'", check_rc=False).stdout.strip() and time.time() < deadline:
            time.sleep(0.05)
    seen, failed = set(), []
    for ns, ip, cid in pods[::10]:
        r = ns.sh("socat -T 3 - TCP:%s:80,connect-timeout=3 </dev/null" % vip, check_rc=False, timeout=10)
        if r.returncode != 0 or not r.stdout.strip().startswith("k-1"):
            failed.append((cid, r.stdout.strip(), r.stderr.strip()))
        seen.add(r.stdout.strip())
    check(not failed, "pods that did not reach the Service: %s" % failed[:5])
    check(len(seen) == 3, "backends reached: %s" % seen)
    lost = {k: v for k, v in sw.ok("stats")["drops"].items() if v and k not in ("nd_ignored", "multicast")}
    check(not lost, "drops: %s" % lost)
    # everything goes, nothing stays
    for ns, ip, cid in pods:
        check(cni_call("DEL", c, container_id=cid)[0] == 0, "DEL %s" % cid)
    for ns, ip, cid, kind in dpdk:
        check(cni_call("DEL", cni_conf(sw.sock, kind, version="1.1.0"), container_id=cid)[0] == 0,
              "DEL %s" % cid)
    time.sleep(0.5)
    after = resources(sw, base["fds"] + 2)
    check(after["ports"] == 0 and after["attachments"] == 0, "left behind: %s" % after)
    # two descriptors are rte_vhost's event pipe, made at its first device and
    # kept; the memif pod and 248 kernel pods leave none
    check(after["fds"] <= base["fds"] + 2, "file descriptors: %d before, %d after" % (base["fds"], after["fds"]))
    check(after["mbufs"] <= base["mbufs"] + 1024, "mbufs in use: %d before, %d after" % (base["mbufs"], after["mbufs"]))
    check(host_veths() <= veths, "host veths left: %s" % sorted(host_veths() - veths))
    sw.stop()


@test
def churn_of_1000_attach_detach_cycles_with_traffic(scope):
    sw = Switch(scope, BODY, workers="[1]").start()
    c = cni_conf(sw.sock, version="1.1.0")
    a, b = Netns(scope), Netns(scope)
    add(c, "keep-a", a)
    b_ip = add(c, "keep-b", b)["ips"][0]["address"].split("/")[0]
    check(ping(a, b_ip, count=2)[1] == 2, "no traffic before the churn")
    base, veths, table = resources(sw), host_veths(), fd_table(sw)
    done = threading.Event()
    totals = [0, 0]

    def traffic():
        while not done.is_set():
            s, g = ping(a, b_ip, count=100, interval=0.01, timeout=30)
            totals[0] += s
            totals[1] += g
    t = threading.Thread(target=traffic)
    t.start()
    spare = [Netns(scope) for _ in range(4)]
    try:
        for i in range(1000):
            cid = "churn-%d" % i
            add(c, cid, spare[i % 4])
            rc, out = cni_call("DEL", c, container_id=cid)
            check(rc == 0, "DEL %s: %s" % (cid, out))
    finally:
        done.set()
        t.join()
    check(totals[0] > 0 and totals[1] == totals[0],
          "traffic between two pods lost %d of %d pings during the churn" % (totals[0] - totals[1], totals[0]))
    time.sleep(0.5)
    after = resources(sw, base["fds"])
    check(after["ports"] == base["ports"] and after["attachments"] == base["attachments"],
          "ports/attachments: %s -> %s" % (base, after))
    now = fd_table(sw)
    check(after["fds"] <= base["fds"], "file descriptors: %d -> %d, new: %s" % (
        base["fds"], after["fds"], {k: v for k, v in now.items() if table.get(k) != v}))
    check(after["mbufs"] <= base["mbufs"] + 1024, "mbufs: %d -> %d" % (base["mbufs"], after["mbufs"]))
    check(host_veths() <= veths, "host veths left: %s" % sorted(host_veths() - veths))
    sw.stop()


if __name__ == "__main__":
    main()
