#!/usr/bin/python3
"""System tests: real network stacks in namespaces and DPDK pods attached to a
running podswitch, checked with real traffic (ping, TCP transfer)."""
import hashlib
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (Netns, Switch, check, kernel_pod, main, ping, run, test,  # noqa: E402
                     testpmd_pod, uid, veth_pod)

MAC_A, MAC_B, MAC_C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
MAC_D = "02:00:00:00:00:0d"


def two_pods_conf(ta, tb, extra_ports="", extra_pods=""):
    return """
ports = (
  { name = "pa"; kind = "kernel"; ifname = "%s"; },
  { name = "pb"; kind = "kernel"; ifname = "%s"; }%s
);
pods = (
  { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; ip6 = "fd00:10:244::10"; },
  { name = "b"; port = "pb"; mac = "%s"; ip = "10.244.0.11"; ip6 = "fd00:10:244::11"; }%s
);
""" % (ta, tb, extra_ports, MAC_A, MAC_B, extra_pods)


def start_two_pods(scope, workers="[0, 1]"):
    ta, tb = "pa" + uid(), "pb" + uid()
    sw = Switch(scope, two_pods_conf(ta, tb), workers=workers).start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10", "fd00:10:244::10")
    b = kernel_pod(scope, tb, MAC_B, "10.244.0.11", "fd00:10:244::11")
    return sw, a, b, ta, tb


@test
def kernel_pods_ping_each_other_and_gateway(scope):
    sw, a, b, _, _ = start_two_pods(scope)
    for ns, dst, v6 in ((a, "10.244.0.1", False), (a, "10.244.0.11", False),
                        (b, "10.244.0.10", False), (a, "fd00:10:244::1", True),
                        (a, "fd00:10:244::11", True), (b, "fd00:10:244::10", True)):
        sent, got = ping(ns, dst, count=3, v6=v6)
        check(got == sent, "%s -> %s: %d of %d pings answered" % (ns.name, dst, got, sent))
    # the receiver sees the sender's own address: no NAT
    # pods share a /24, yet b reaches a through the gateway (proxy ARP)
    r = b.sh("ip neigh show 10.244.0.10")
    check("02:50:53:57:00:01" in r.stdout,
          "pod b did not resolve pod a to the gateway's MAC: %s" % r.stdout)
    s = sw.stats()
    check(s["event.arp_reply"] >= 2, "no ARP answered: %s" % s)
    check(s["event.nd_reply"] >= 2, "no neighbour solicitation answered: %s" % s)
    check(s["event.echo_reply"] >= 6, "gateway answered %d pings" % s["event.echo_reply"])
    check(s["event.forwarded_ip4"] >= 12 and s["event.forwarded_ip6"] >= 12,
          "too few packets routed: %s" % s)
    final = sw.stop()
    check(final["event.forwarded_ip4"] >= 12, "final counters missing")


@test
def kernel_pods_ttl_and_spoofing(scope):
    sw, a, b, ta, _ = start_two_pods(scope, workers="[1]")
    # TTL 1: the gateway answers with ICMP time exceeded
    r = a.sh("ping -c 1 -t 1 -W 2 10.244.0.11", check_rc=False)
    check("Time to live exceeded" in r.stdout and "10.244.0.1" in r.stdout,
          "no time-exceeded from the gateway: %s" % r.stdout)
    # a second address on pod a is not its own: its packets are dropped and counted
    a.ip("addr add 10.244.0.99/32 dev %s" % ta)
    before = sw.stats()
    a.sh("ping -c 3 -i 0.2 -W 1 -I 10.244.0.99 10.244.0.11", check_rc=False)
    after = sw.stats()
    check(after["drop.spoof_ip"] - before["drop.spoof_ip"] >= 3,
          "spoofed packets not dropped: %d" % (after["drop.spoof_ip"] - before["drop.spoof_ip"]))
    check(after["event.icmp_time_exceeded"] >= 1, "time-exceeded not counted")
    sw.stop()


@test
def kernel_pods_tcp_transfer_is_byte_exact(scope):
    sw, a, b, _, _ = start_two_pods(scope)
    src, dst = scope.path("in.bin"), scope.path("out.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(100 * 1024 * 1024))
    server = b.popen("socat -u TCP-LISTEN:5001,reuseaddr OPEN:%s,creat,trunc" % dst)
    time.sleep(0.5)
    t0 = time.time()
    a.sh("socat -u OPEN:%s TCP:10.244.0.11:5001,connect-timeout=5" % src, timeout=120)
    server.wait(30)
    secs = time.time() - t0
    h = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (src, dst)]
    check(os.path.getsize(dst) == 100 * 1024 * 1024, "received %d bytes" % os.path.getsize(dst))
    check(h[0] == h[1], "content differs after the transfer")
    print("  100 MiB in %.2f s (%.0f Mbit/s)" % (secs, 800 / secs))
    # the same over IPv6
    server = b.popen("socat -u TCP6-LISTEN:5002,reuseaddr OPEN:%s,creat,trunc" % dst)
    time.sleep(0.5)
    a.sh("head -c 10000000 %s | socat -u STDIN TCP6:[fd00:10:244::11]:5002,connect-timeout=5" % src,
         timeout=60)
    server.wait(30)
    check(os.path.getsize(dst) == 10000000, "IPv6 transfer: %d bytes" % os.path.getsize(dst))
    s = sw.stop()
    check(s["drop.l4_truncated"] == 0 and s["drop.ip4_bad_csum"] == 0, "bad packets: %s" % s)


def dpdk_pod_conf(ta, kind_line):
    return two_pods_conf(ta, "pb" + uid(), extra_ports=",\n  " + kind_line,
                         extra_pods=',\n  { name = "d"; port = "pd"; mac = "%s"; ip = "10.244.0.20"; }'
                         % MAC_D)


@test
def vhost_user_dpdk_pod_answers_ping(scope):
    ta = "pa" + uid()
    sock = scope.path("pd.sock")
    sw = Switch(scope, dpdk_pod_conf(
        ta, '{ name = "pd"; kind = "vhost-user"; socket = "%s"; }' % sock), workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    testpmd_pod(scope, "net_virtio_user0,path=%s,mac=%s,queues=1" % (sock, MAC_D), cpu=0)
    sent, got = 0, 0
    for _ in range(20):                       # testpmd needs a moment to connect
        sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
        if got:
            break
    sent, got = ping(a, "10.244.0.20", count=10, interval=0.1)
    check(got == sent, "vhost-user pod answered %d of %d pings" % (got, sent))
    # the guest was offered no checksum or segmentation offload (virtio-net
    # bits 0, 1, 7-14): its frames carry whole checksums the stages can update
    pd = sw.ok("get", {"kind": "ports", "name": "pd"})["items"]
    features = pd[0].get("virtio_features") if pd else None
    check(features is not None and features & 0x7f83 == 0,
          "vhost-user guest negotiated offloads: %s" % (hex(features) if features is not None else pd))
    s = sw.stop()
    check(s["port.pd.tx"] >= 10 and s["port.pd.rx"] >= 10, "vhost port counters: %s" % s)


def wait_pings(ns, dst, tries=20):
    """Ping until a round is answered whole (a DPDK pod needs a moment to
    connect, and its queues a moment more to be enabled after the first answer)."""
    for _ in range(tries):
        sent, got = ping(ns, dst, count=2, interval=0.2)
        if got == sent:
            return True
    return False


@test
def vhost_user_pod_reconnects_after_restart(scope):
    ta = "pa" + uid()
    sock = scope.path("pd.sock")
    Switch(scope, dpdk_pod_conf(
        ta, '{ name = "pd"; kind = "vhost-user"; socket = "%s"; }' % sock), workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    vdev = "net_virtio_user0,path=%s,mac=%s,queues=1" % (sock, MAC_D)
    pod = testpmd_pod(scope, vdev, cpu=0)
    check(wait_pings(a, "10.244.0.20"), "first DPDK pod never answered")
    pod.send_signal(2)
    pod.wait(10)
    sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
    check(got == 0, "answers with the DPDK pod stopped")
    testpmd_pod(scope, vdev, cpu=0, name="pmd2")
    check(wait_pings(a, "10.244.0.20"), "restarted DPDK pod never answered")
    sent, got = ping(a, "10.244.0.20", count=10, interval=0.1)
    check(got == sent, "restarted pod answered %d of %d" % (got, sent))


@test
def vhost_user_devices_go_under_full_load(scope):
    """The worker calls the vhost library directly; a device that goes while
    frames flow both ways must be waited for, not used after. The generator
    (tests/perf/psw_gen.c, two virtio_user ports) is killed at full speed
    three times; after each, a new one connects and gets its frames through,
    and the switch stops cleanly."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "perf"))
    import bench_e2e as e2e
    socks = [scope.path("g%d.sock" % i) for i in range(2)]
    sw = Switch(scope, e2e.podswitch_conf(socks), workers="[1]", idle_sleep_us=0).start()

    def generator(seconds):
        for sk in socks:             # a killed generator leaves its server sockets
            if os.path.exists(sk):
                os.unlink(sk)
        return e2e.Generator(scope, socks, 64, 1024, e2e.IP_B, 8080, 0, seconds=seconds)

    for i in range(3):
        g = generator(2.0)
        time.sleep(2.0)              # about 0.5 s into the measured window
        check(g.p.poll() is None, "generator %d ended early: %s" % (i, g.p.stderr.read()[-500:]))
        g.stop()
        check(sw.proc.poll() is None, "the switch died when device %d went under load" % i)
    r = generator(1.0).result()
    check(r["received"] > 100000 and r["loss"] < 0.01,
          "after three devices went under load, a new one got %d of %d frames" % (r["received"], r["sent"]))
    sw.stop()


def peers_come_and_go_under_full_load(scope, memif, cycles):
    """A DPDK pod that disconnects, restarts or crashes must never take the
    switch down. A generator (psw-gen, two memif clients or two virtio_user
    servers) is killed at full speed cycles times, at a random moment from
    its start-up to full load, while two kernel pods ping each other through
    the same worker; the switch must stay up, the others lose (almost)
    nothing, and a last generator gets its frames through."""
    import random
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "perf"))
    import bench_e2e as e2e
    socks = [scope.path("g%d.sock" % i) for i in range(2)]
    ta, tb = "ka" + uid(), "kb" + uid()
    kind = 'kind = "memif"' if memif else 'kind = "vhost-user"; client = true'
    conf = """ports = ( { name = "g0"; %s; socket = "%s"; }, { name = "g1"; %s; socket = "%s"; },
          { name = "ka"; kind = "kernel"; ifname = "%s"; }, { name = "kb"; kind = "kernel"; ifname = "%s"; } );
pods = ( { name = "a"; port = "g0"; mac = "%s"; ip = "%s"; }, { name = "b"; port = "g1"; mac = "%s"; ip = "%s"; },
         { name = "ka"; port = "ka"; mac = "%s"; ip = "10.244.0.40"; },
         { name = "kb"; port = "kb"; mac = "%s"; ip = "10.244.0.41"; } );
""" % (kind, socks[0], kind, socks[1], ta, tb, e2e.GEN_MAC[0], e2e.IP_A, e2e.GEN_MAC[1], e2e.IP_B, MAC_A, MAC_B)
    sw = Switch(scope, conf, workers="[1]", idle_sleep_us=0).start()
    ka = kernel_pod(scope, ta, MAC_A, "10.244.0.40")
    kernel_pod(scope, tb, MAC_B, "10.244.0.41")
    rng = random.Random(cycles)

    def generator(seconds):
        for sk in socks:             # a killed virtio_user server leaves its sockets
            if not memif and os.path.exists(sk):
                os.unlink(sk)
        return e2e.Generator(scope, socks, 64, 1024, e2e.IP_B, 8080, 0, seconds=seconds, memif=memif)

    pings = ka.popen("exec ping -q -i 0.02 -w %d 10.244.0.41" % (cycles * 3 + 60),
                     stdout=__import__("subprocess").PIPE)
    t0 = time.monotonic()
    for i in range(cycles):
        g = generator(30.0)
        time.sleep(rng.uniform(0.1, 0.9))
        g.stop()
        check(sw.proc.poll() is None, "the switch died when peer %d went (%.1f s in)" % (i, time.monotonic() - t0))
    r = generator(1.0).result()
    check(r["received"] > 100000 and r["loss"] < 0.01,
          "after %d peers went under load, a new one got %d of %d frames" % (cycles, r["received"], r["sent"]))
    pings.send_signal(__import__("signal").SIGINT)        # ping prints its summary on SIGINT
    out = pings.communicate(timeout=30)[0].decode()
    sent, got = [int(x) for x in __import__("re").search(r"(\d+) packets transmitted, (\d+) received", out).groups()]
    check(sent > 100 and got >= sent * 0.99,
          "the other pods' pings during the churn: %d of %d answered" % (got, sent))
    sw.stop()


@test
def memif_peers_come_and_go_under_full_load(scope):
    peers_come_and_go_under_full_load(scope, True, int(os.environ.get("PSW_PEER_CYCLES", "100")))


@test
def vhost_user_peers_come_and_go_under_full_load(scope):
    peers_come_and_go_under_full_load(scope, False, int(os.environ.get("PSW_PEER_CYCLES", "100")))


@test
def vhost_user_client_mode_connects_to_pod_server(scope):
    ta = "pa" + uid()
    sock = scope.path("pd-server.sock")
    # the switch starts first and keeps trying to connect to the pod's socket
    Switch(scope, dpdk_pod_conf(
        ta, '{ name = "pd"; kind = "vhost-user"; socket = "%s"; client = true; }' % sock),
        workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    testpmd_pod(scope, "net_virtio_user0,path=%s,mac=%s,queues=1,server=1" % (sock, MAC_D), cpu=0)
    check(wait_pings(a, "10.244.0.20", tries=30), "switch never connected to the pod's server socket")
    sent, got = ping(a, "10.244.0.20", count=10, interval=0.1)
    check(got == sent, "client-mode pod answered %d of %d" % (got, sent))


@test
def vhost_user_pod_parks_when_idle_and_reconnects_after_switch_restart(scope):
    """Issue 14: an idle vhost-user port leaves the worker's polling (the
    guest's kick eventfd in its epoll set) and the first ping after that is
    answered at once; and a DPDK pod serving its vhost-user socket is
    reconnected by a switch that restarts (client mode: the switch
    reconnects, the pod keeps running)."""
    ha = "va" + uid()
    sock = scope.path("pd-server.sock")
    body = """
ports = (
  { name = "pa"; kind = "af_packet"; ifname = "%s"; },
  { name = "pd"; kind = "vhost-user"; socket = "%s"; client = true; }
);
pods = (
  { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
  { name = "d"; port = "pd"; mac = "%s"; ip = "10.244.0.20"; }
);
""" % (ha, sock, MAC_A, MAC_D)
    a = veth_pod(scope, ha, MAC_A, "10.244.0.10")
    sw = Switch(scope, body, workers="[1]").start()
    testpmd_pod(scope, "net_virtio_user0,path=%s,mac=%s,queues=1,server=1" % (sock, MAC_D), cpu=0)
    check(wait_pings(a, "10.244.0.20", tries=30), "switch never connected to the pod's server socket")

    def worker():
        return sw.ok("stats")["workers"][0]
    before = sw.ok("stats")
    for attempt in range(3):
        deadline = time.time() + 5
        while worker()["ports_parked"] < 2 and time.time() < deadline:
            time.sleep(0.05)
        w0 = worker()
        check(w0["ports_parked"] == 2, "idle af_packet and vhost-user ports parked: %s" % w0)
        r = a.sh("ping -c 1 -W 1 10.244.0.20", check_rc=False)
        check(r.returncode == 0 and "1 received" in r.stdout,
              "round %d: the first ping to a parked vhost-user pod was lost: %s" % (attempt, r.stdout))
        w1 = worker()
        check(w1["wakes"] >= w0["wakes"] + 2, "both ports woke: %s -> %s" % (w0, w1))
    sent, got = ping(a, "10.244.0.20", count=50, interval=0.01)
    check(got == sent, "a woken vhost-user pod answered %d of %d" % (got, sent))
    st = sw.ok("stats")
    lost = {k: v - before["drops"].get(k, 0) for k, v in st["drops"].items() if v != before["drops"].get(k, 0)}
    check(not lost, "drops once connected: %s (before: %s)" % (lost, before["drops"]))
    sw.stop()
    sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
    check(got == 0, "answers with the switch stopped")
    sw = Switch(scope, body, workers="[1]").start()
    check(wait_pings(a, "10.244.0.20", tries=30), "the restarted switch never reconnected to the pod")
    sent, got = ping(a, "10.244.0.20", count=10, interval=0.1)
    check(got == sent, "after the switch restarted the pod answered %d of %d" % (got, sent))
    sw.stop()


@test
def af_packet_pods_on_veth_pairs(scope):
    ha, hb = "va" + uid(), "vb" + uid()
    pods = []
    for host, mac, ip, ip6 in ((ha, MAC_A, "10.244.0.10", "fd00:10:244::10"),
                               (hb, MAC_B, "10.244.0.11", "fd00:10:244::11")):
        ns = Netns(scope)
        run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name])
        scope.defer(lambda h=host: run(["ip", "link", "del", h], check_rc=False))
        run(["ip", "link", "set", host, "up"])
        ns.ip("link set eth0 address %s up" % mac)
        ns.ip("addr add %s/24 dev eth0" % ip)
        ns.ip("addr add %s/64 dev eth0 nodad" % ip6)
        ns.ip("route add default via 10.244.0.1")
        ns.ip("-6 route add default via fd00:10:244::1")
        ns.sh("ethtool -K eth0 tx off >/dev/null")    # complete checksums leave the pod
        pods.append(ns)
    body = two_pods_conf(ha, hb).replace('kind = "kernel"', 'kind = "af_packet"')
    sw = Switch(scope, body, workers="[0, 1]").start()
    a, b = pods
    for dst, v6 in (("10.244.0.11", False), ("fd00:10:244::11", True), ("10.244.0.1", False)):
        sent, got = ping(a, dst, count=3, v6=v6)
        check(got == sent, "af_packet pod a -> %s: %d of %d" % (dst, got, sent))
    src, dst = scope.path("in.bin"), scope.path("out.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(20 * 1024 * 1024))
    server = b.popen("socat -u TCP-LISTEN:5003,reuseaddr OPEN:%s,creat,trunc" % dst)
    time.sleep(0.5)
    a.sh("socat -u OPEN:%s TCP:10.244.0.11:5003,connect-timeout=5" % src, timeout=60)
    server.wait(30)
    check(open(src, "rb").read() == open(dst, "rb").read(), "af_packet transfer not byte-exact")
    s = sw.stop()
    check(s["port.pa.rx"] > 1000 and s["port.pb.tx"] > 1000, "af_packet counters: %s" % s)


@test
def memif_dpdk_pod_answers_ping(scope):
    ta = "pa" + uid()
    sock = scope.path("pd.memif")
    sw = Switch(scope, dpdk_pod_conf(
        ta, '{ name = "pd"; kind = "memif"; socket = "%s"; }' % sock), workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    testpmd_pod(scope, "net_memif0,role=client,socket=%s,socket-abstract=no,mac=%s" % (sock, MAC_D),
                cpu=0)
    sent, got = 0, 0
    for _ in range(20):
        sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
        if got:
            break
    sent, got = ping(a, "10.244.0.20", count=10, interval=0.1)
    check(got == sent, "memif pod answered %d of %d pings" % (got, sent))
    s = sw.stop()
    check(s["port.pd.tx"] >= 10 and s["port.pd.rx"] >= 10, "memif port counters: %s" % s)


@test
def port_hot_add_and_remove_loses_nothing(scope):
    ta, tb, tc = "pa" + uid(), "pb" + uid(), "pc" + uid()
    sw = Switch(scope, two_pods_conf(ta, tb), workers="[0, 1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    b = kernel_pod(scope, tb, MAC_B, "10.244.0.11")
    check(ping(a, "10.244.0.11", count=2)[1] == 2, "a cannot reach b before the test")
    result = {}

    def flood():
        result["ping"] = ping(a, "10.244.0.11", count=400, interval=0.01, timeout=30)

    t = threading.Thread(target=flood)
    t.start()
    time.sleep(0.5)
    with_c = two_pods_conf(ta, tb, extra_ports=',\n  { name = "pc"; kind = "kernel"; ifname = "%s"; }' % tc,
                           extra_pods=',\n  { name = "c"; port = "pc"; mac = "%s"; ip = "10.244.0.12"; }'
                           % MAC_C)
    sw.reload(with_c)
    c = kernel_pod(scope, tc, MAC_C, "10.244.0.12")
    sent, got = ping(c, "10.244.0.10", count=3, interval=0.1)
    check(got == sent, "hot-added pod c reached a %d of %d times" % (got, sent))
    # the port's settings change: it is recreated under its new interface name
    tc2 = "pc" + uid()
    sw.reload(with_c.replace(tc, tc2))
    r = c.sh("ip link show %s" % tc, check_rc=False)
    check(r.returncode != 0, "the changed port's old interface is still in pod c")
    c.ip("link set lo up")
    run(["ip", "link", "set", tc2, "netns", c.name])
    c.ip("link set %s address %s up" % (tc2, MAC_C))
    c.ip("addr add 10.244.0.12/24 dev %s" % tc2)
    c.ip("route add default via 10.244.0.1")
    sent, got = ping(c, "10.244.0.10", count=3, interval=0.1)
    check(got == sent, "pod c on its recreated port reached a %d of %d times" % (got, sent))
    tc = tc2
    sw.reload(two_pods_conf(ta, tb))
    # the port's tap interface goes away with it
    r = c.sh("ip link show %s" % tc, check_rc=False)
    check(r.returncode != 0, "removed port's interface is still in pod c: %s" % r.stdout)
    t.join()
    sent, got = result["ping"]
    check(sent == 400 and got == 400, "a->b flow lost %d of %d during hot add/remove" % (sent - got, sent))
    s = sw.stop()
    check(s["drop.tx_full"] == 0 and s["drop.port_gone"] == 0, "drops during hot-plug: %s" % s)
    check("port pc" not in sw.text().split("reloaded")[-1].split("podswitch counters")[-1],
          "removed port still listed")


@test
def reload_with_bad_file_keeps_running_state(scope):
    sw, a, b, ta, tb = start_two_pods(scope, workers="[1]")
    out = sw.reload(two_pods_conf(ta, tb) + "\nbogus_key = 1;\n", expect="reload refused")
    check("bogus_key" in out, "refusal does not name the key: %s" % out)
    sent, got = ping(a, "10.244.0.11", count=3)
    check(got == sent, "traffic broken after a refused reload")
    sw.workers = "[0]"
    out = sw.reload(two_pods_conf(ta, tb), expect="reload failed")
    check("workers cannot change while running" in out, "no reason given: %s" % out)
    sent, got = ping(a, "10.244.0.11", count=3)
    check(got == sent, "traffic broken after a refused worker change")
    sw.stop()


if __name__ == "__main__":
    main()
