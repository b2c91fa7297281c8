#!/usr/bin/python3
"""System tests: vhost-user pods that misbehave. The switch registers each
pod's socket with the vhost library itself and parks idle ports on the
guest's kick eventfd; a DPDK pod (hostile or just buggy) or an operator
must not be able to crash it, hang it, leak from it, strand another pod's
or its own frames, or lock other pods out.

Most tests drive the switch with a minimal vhost-user frontend
(tests/lib/vhostguest.py: the driver side of the protocol over a memfd,
split rings, no DPDK), so that a test can send exactly the message sequence a buggy or
hostile driver sends; the others use dpdk-testpmd (virtio-user) and psw-gen
as the other system tests do."""
import os
import random
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from polagent import inet_csum  # noqa: E402
from pswtest import (Switch, check, cni_call, cni_conf, defer_dpdk_stop, main,  # noqa: E402
                     ping, run, test, testpmd_pod, uid, veth_pod, wait_until)
from vhostguest import (F_MQ, F_MRG_RXBUF, F_PROTOCOL_FEATURES, F_VERSION_1, GET_FEATURES,  # noqa: E402
                        GET_VRING_BASE, MEM, QSZ, VhostGuest, attach)

MAC_A, MAC_D = "02:00:00:00:00:0a", "02:00:00:00:00:0d"

def arp_request(mac=MAC_D, ip="10.244.0.20", target="10.244.0.1"):
    m = bytes.fromhex(mac.replace(":", ""))
    return (b"\xff" * 6 + m + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + m
            + bytes(int(x) for x in ip.split(".")) + bytes(6) + bytes(int(x) for x in target.split(".")))


def echo_to_gateway(payload_len, mac=MAC_D, ip="10.244.0.20"):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + bytes(i & 0xff for i in range(payload_len))
    icmp = icmp[:2] + struct.pack("!H", inet_csum(icmp)) + icmp[4:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                      bytes(int(x) for x in ip.split(".")), bytes([10, 244, 0, 1]))
    iph = iph[:10] + struct.pack("!H", inet_csum(iph)) + iph[12:]
    return bytes.fromhex("025053570001") + bytes.fromhex(mac.replace(":", "")) + b"\x08\x00" + iph + icmp


# ------------------------------------------------------------ helpers

def one_port_conf(sock, name="pd", extra=""):
    return """
ports = ( { name = "%s"; kind = "vhost-user"; socket = "%s"; %s } );
pods = ( { name = "d"; port = "%s"; mac = "%s"; ip = "10.244.0.20"; } );
""" % (name, sock, extra, name, MAC_D)


def with_kernel_pod_conf(host, sock, extra=""):
    return """
ports = ( { name = "pa"; kind = "af_packet"; ifname = "%s"; },
          { name = "pd"; kind = "vhost-user"; socket = "%s"; %s } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
         { name = "d"; port = "pd"; mac = "%s"; ip = "10.244.0.20"; } );
""" % (host, sock, extra, MAC_A, MAC_D)


def wait_pings(ns, dst, tries=20):
    for _ in range(tries):
        sent, got = ping(ns, dst, count=2, interval=0.2)
        if got == sent:
            return True
    return False


def port_stats(sw, name="pd"):
    for p in sw.ok("stats")["ports"]:
        if p["name"] == name:
            return p
    raise AssertionError("no port %s in stats" % name)


def worker0(sw):
    return sw.ok("stats")["workers"][0]


def wait_parked(sw, n=1, timeout=3):
    return wait_until(lambda: worker0(sw)["ports_parked"] >= n, timeout)


def settled_fds(sw, want, timeout=3):
    """The switch's descriptors, given a moment to return to want (an API
    connection of the last request may still be closing)."""
    wait_until(lambda: sw.fds() == want, timeout)
    return sw.fds()


def fd_baseline(sw, sock):
    """Descriptors of the switch once one vhost-user port has come and gone
    (the vhost library keeps a pipe for its event thread from its first start)."""
    sw.reload(one_port_conf(sock, name="warm"))
    sw.reload("")
    time.sleep(0.3)
    return sw.fds()


# ------------------------------------------------------------ stranded frames

@test
def kick_fd_replaced_while_parked_gets_its_frames(scope):
    """A driver may send VHOST_USER_SET_VRING_KICK again on a running device
    (a new kick eventfd; the library closes the old one, which drops it from
    the worker's epoll set, and calls vring_state_changed, not
    destroy_device). A port parked on the old fd must not stay parked with
    the guest kicking the new one: its next frame gets through."""
    sock = scope.path("pd.sock")
    sw = Switch(scope, one_port_conf(sock), workers="[1]").start()
    g = VhostGuest(scope, sock).setup()
    g.post_tx(arp_request())
    check(wait_until(lambda: port_stats(sw)["rx"] == 1, 2), "the device's first frame: %s" % port_stats(sw))
    check(wait_parked(sw), "the idle vhost-user port never parked: %s" % worker0(sw))
    g.set_kick(1)                               # a new kick fd for the guest's TX ring
    time.sleep(0.2)
    kicked = g.post_tx(arp_request())
    got = wait_until(lambda: port_stats(sw)["rx"] == 2, 2)
    check(got, "after the driver replaced its kick fd (kicked: %s) the frame it posted was never read: "
          "port %s, worker %s" % (kicked, port_stats(sw), worker0(sw)))
    check(g.received() >= 2, "the gateway's ARP answers reached the guest %d times" % g.received())
    sw.stop()


@test
def vring_reenabled_while_parked_gets_its_frames(scope):
    """With VHOST_USER_F_PROTOCOL_FEATURES a driver disables and enables its
    TX vring (SET_VRING_ENABLE). A frame it posted (and kicked) while the ring
    was disabled cannot be dequeued then; once the ring is enabled again it
    must be, without waiting for a kick the driver already gave."""
    sock = scope.path("pd.sock")
    sw = Switch(scope, one_port_conf(sock), workers="[1]").start()
    g = VhostGuest(scope, sock).setup(features=F_VERSION_1 | F_PROTOCOL_FEATURES)
    g.enable(0, True)
    g.enable(1, True)
    time.sleep(0.2)
    g.post_tx(arp_request())
    check(wait_until(lambda: port_stats(sw)["rx"] == 1, 2), "the device's first frame: %s" % port_stats(sw))
    check(wait_parked(sw), "the idle vhost-user port never parked: %s" % worker0(sw))
    g.enable(1, False)
    time.sleep(0.2)
    g.post_tx(arp_request())                    # kicks: the parked port asked for kicks
    time.sleep(0.3)
    g.enable(1, True)
    got = wait_until(lambda: port_stats(sw)["rx"] == 2, 2)
    check(got, "a frame posted while the vring was disabled was never read after it was enabled: "
          "port %s, worker %s" % (port_stats(sw), worker0(sw)))
    sw.stop()


@test
def second_queue_pair_of_a_guest_on_a_one_queue_port_is_read(scope):
    """A port with queues = 1 offers the guest multiqueue (VIRTIO_NET_F_MQ)
    anyway; a guest that sets up two queue pairs and sends on its second TX
    queue (Linux virtio-net picks the TX queue per CPU) must not have those
    frames left in the ring forever: either it is not offered MQ, or the
    frames are read."""
    sock = scope.path("pd.sock")
    sw = Switch(scope, one_port_conf(sock), workers="[1]").start()
    g = VhostGuest(scope, sock)
    g.setup(features=F_VERSION_1 | F_MQ, vrings=4)
    if not g.features & F_MQ:
        sw.stop()                               # not offered: the guest has one pair
        return
    time.sleep(0.2)
    g.post_tx(arp_request(), q=1)
    check(wait_until(lambda: port_stats(sw)["rx"] == 1, 2), "frame on TX queue 0: %s" % port_stats(sw))
    g.post_tx(arp_request(), q=3)
    got = wait_until(lambda: port_stats(sw)["rx"] == 2, 2)
    check(got, "the port offered MQ (features %#x) and never read the guest's second TX queue: %s"
          % (g.features, port_stats(sw)))
    sw.stop()


@test
def packed_ring_port_is_polled_and_answers_at_once(scope):
    """virtio-user with packed_vq=1: the pod answers, and its idle port is
    kept polled, never parked: the last look at the ring before parking
    (rte_vhost_rx_queue_count) reads a split ring's avail index, which on a
    packed ring is the driver's event area, so parking one could strand a
    frame. The af_packet pod beside it parks; the first ping after a quiet
    spell is answered."""
    host, sock = "va" + uid(), scope.path("pd.sock")
    a = veth_pod(scope, host, MAC_A, "10.244.0.10")
    sw = Switch(scope, with_kernel_pod_conf(host, sock), workers="[1]").start()
    testpmd_pod(scope, "net_virtio_user0,path=%s,mac=%s,queues=1,packed_vq=1" % (sock, MAC_D), cpu=0)
    check(wait_pings(a, "10.244.0.20", tries=30), "packed-ring pod never answered")
    check(wait_parked(sw, 1, timeout=3), "the idle af_packet port did not park: %s" % worker0(sw))
    time.sleep(0.5)
    w = worker0(sw)
    check(w["ports_parked"] == 1, "a packed-ring port was parked: %s" % w)
    for _ in range(3):
        r = a.sh("ping -c 1 -W 1 10.244.0.20", check_rc=False)
        check("1 received" in r.stdout, "first ping to the idle packed-ring pod lost: %s" % worker0(sw))
        time.sleep(0.3)
    sw.stop()


# ------------------------------------------------------------ drivers fighting over a socket

@test
def second_driver_on_a_socket_is_not_left_dead(scope):
    """Two drivers on one server socket (a pod restarted while its old
    instance still holds a connection): the second is refused while the
    first has the device. When the first goes, the second must not be left
    connected but dead: either it gets the device, or the switch hangs up so
    that it reconnects."""
    sock = scope.path("pd.sock")
    sw = Switch(scope, one_port_conf(sock), workers="[1]").start()
    first = VhostGuest(scope, sock).setup()
    first.post_tx(arp_request())
    check(wait_until(lambda: port_stats(sw)["rx"] == 1, 2), "the first driver's frame: %s" % port_stats(sw))
    second = VhostGuest(scope, sock)
    try:
        second.setup()
    except (OSError, EOFError):
        pass                                    # hung up on at once: fine
    time.sleep(0.3)
    first.close()
    time.sleep(0.3)
    if not second.hung_up():
        second.post_tx(arp_request(), kick=True)
        if wait_until(lambda: port_stats(sw)["rx"] == 2, 2):
            sw.stop()
            return
    check(second.hung_up(), "the second driver stays connected, is never given the device after the first "
          "left, and its frames are never read: port %s\n%s" % (port_stats(sw), sw.text()[-600:]))
    third = attach(scope, sock)
    third.post_tx(arp_request(), kick=True)
    check(wait_until(lambda: port_stats(sw)["rx"] == 2, 2), "a driver reconnecting after the hang-up: %s"
          % port_stats(sw))
    sw.stop()


@test
def one_pod_cannot_use_up_the_vhost_connections_of_others(scope):
    """The vhost library accepts any number of connections on a server
    socket, each a descriptor in its one event set (1024 at most) and a
    device id (1024 at most), before a single message. A pod that opens 1100
    connections to its own socket must not lock every other vhost-user pod
    of the node out: another pod connecting afterwards gets its frames
    through, and the descriptors come back when the connections close."""
    socks = [scope.path("p0.sock"), scope.path("p1.sock")]
    sw = Switch(scope, "", workers="[1]").start()
    base = fd_baseline(sw, scope.path("warm.sock"))
    sw.reload("""
ports = ( { name = "p0"; kind = "vhost-user"; socket = "%s"; }, { name = "p1"; kind = "vhost-user"; socket = "%s"; } );
pods = ( { name = "d0"; port = "p0"; mac = "02:00:00:00:01:00"; ip = "10.244.0.30"; },
         { name = "d1"; port = "p1"; mac = "%s"; ip = "10.244.0.20"; } );
""" % (socks[0], socks[1], MAC_D))
    conns = []

    def close_all():
        for c in conns:
            c.close()
        del conns[:]
    scope.defer(close_all)
    deadline = time.time() + 20
    while len(conns) < 1100 and time.time() < deadline:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            c.connect(socks[0])
            conns.append(c)
        except BlockingIOError:             # the listen backlog is full: the switch accepts them in turn
            c.close()
            time.sleep(0.001)
        except OSError:
            c.close()
            break
    time.sleep(0.5)
    held = sw.fds()
    ok = False
    g = None
    try:
        g = VhostGuest(scope, socks[1]).setup()
        g.post_tx(arp_request(), kick=True)
        ok = wait_until(lambda: port_stats(sw, "p1")["rx"] == 1, 2)
    except (OSError, EOFError):
        pass
    log = [ln for ln in sw.text().splitlines() if "p1.sock" in ln][-1:]
    close_all()
    if g is not None:
        g.close()
    check(sw.proc.poll() is None, "the switch died")
    check(ok, "with %d connections open on pod 0's socket (switch descriptors %d, baseline %d), pod 1 "
          "could not attach: %s" % (len(conns) or 1100, held, base, log))
    sw.reload("")
    fds = settled_fds(sw, base, timeout=5)
    check(fds == base, "descriptors after the connections closed and the ports went: %d, baseline %d"
          % (fds, base))
    sw.stop()


# ------------------------------------------------------------ what the switch survives (guards)

@test
def device_replaced_while_parked_gets_its_first_frame(scope):
    """Disconnect and reconnect (a new device) on a parked port while the
    worker sleeps: the new device's first frame is read at once."""
    sock = scope.path("pd.sock")
    sw = Switch(scope, one_port_conf(sock), workers="[1]", idle_sleep_us=1000).start()
    for i in range(4):
        g = attach(scope, sock)
        if i:
            time.sleep(0.03)                    # parked again on the new device's kick fd, sometimes
        g.post_tx(arp_request())
        check(wait_until(lambda: port_stats(sw)["rx"] == i + 1, 1),
              "device %d: its first frame was not read: %s %s" % (i, port_stats(sw), worker0(sw)))
        check(wait_parked(sw), "device %d: never parked" % i)
        g.close()
        time.sleep(0.05)
    sw.stop()


@test
def drivers_that_come_and_go_mid_setup_leak_nothing(scope):
    """Five seconds of drivers that connect and leave at every point of the
    setup (features only; full setup and a few frames; parked; the kick fd
    replaced then the ring stopped with GET_VRING_BASE), while a kernel pod
    pings the port: the switch stays up, its descriptors and mbufs come back,
    and a real DPDK pod then attaches and answers."""
    host, sock = "va" + uid(), scope.path("pd.sock")
    a = veth_pod(scope, host, MAC_A, "10.244.0.10")
    sw = Switch(scope, "", workers="[1]").start()
    base = fd_baseline(sw, sock)
    sw.reload(with_kernel_pod_conf(host, sock))
    time.sleep(0.3)
    base = sw.fds()                             # and the af_packet port's
    mbufs = sw.ok("status")["limits"]["mbufs"]["used"]
    a.popen("exec ping -q -i 0.01 -w 8 10.244.0.20")
    rng = random.Random(14)
    t0, n = time.time(), 0
    while time.time() - t0 < 5:
        stage = rng.randrange(4)
        try:
            g = VhostGuest(scope, sock)
            if stage == 0:
                g.send(GET_FEATURES)
            else:
                g.setup()
                for _ in range(rng.randrange(20)):
                    g.post_tx(arp_request())
                if stage == 2:
                    time.sleep(0.02)
                if stage == 3:
                    g.set_kick(1)
                    g.send(GET_VRING_BASE, struct.pack("<II", 1, 0))
        except (OSError, EOFError):
            pass
        g.close()
        n += 1
    check(sw.proc.poll() is None, "the switch died after %d drivers" % n)
    fds = settled_fds(sw, base)
    check(fds == base, "descriptors after %d drivers: %d, baseline %d" % (n, fds, base))
    used = sw.ok("status")["limits"]["mbufs"]["used"]
    check(used <= mbufs + 512, "mbufs in use after %d drivers: %d, before %d" % (n, used, mbufs))
    testpmd_pod(scope, "net_virtio_user0,path=%s,mac=%s,queues=1" % (sock, MAC_D), cpu=0)
    check(wait_pings(a, "10.244.0.20"), "a DPDK pod attaching after %d drivers never answered" % n)
    sw.stop()


@test
def jumbo_and_malformed_descriptors_from_a_guest(scope):
    """Frames of 3 KB to 60 KB in one descriptor (chained mbufs through the
    stages: the gateway answers them, mergeable RX buffers back), and
    descriptors a hostile driver writes (outside its memory, a length of
    4 GB, a chain that points at itself): the switch stays up, does not
    flood its log, frees every mbuf, and the next driver's frame is read."""
    sock = scope.path("pd.sock")
    sw = Switch(scope, one_port_conf(sock), workers="[1]").start()
    mbufs = sw.ok("status")["limits"]["mbufs"]["used"]
    g = VhostGuest(scope, sock).setup(features=F_VERSION_1 | F_MRG_RXBUF)
    time.sleep(0.2)
    for n, size in enumerate((1400, 3000, 8958, 60000)):
        before = g.received()
        g.post_tx(echo_to_gateway(size), kick=True)
        check(wait_until(lambda: port_stats(sw)["tx"] == n + 1, 2),
              "echo of %d bytes not answered: %s %s" % (size, port_stats(sw), sw.ok("stats")["drops"]))
        check(g.received() > before, "no answer reached the guest for %d bytes" % size)
    g.close()
    log = len(sw.text())
    # each on a device of its own: the library stops a ring at a descriptor it
    # cannot map, which stalls only that driver's own ring
    for addr, length, flags in ((MEM - 8, None, 0), (MEM + 4096, None, 0), (0xffffffffffff0000, None, 0),
                                (0x100000, 0xffffffff, 0), (0x100000, 100, 1)):
        g = attach(scope, sock)
        idx = g.avail_idx[1] % QSZ
        g.post_tx(arp_request(), addr=addr, length=length, flags=flags, nxt=idx, kick=True)
        time.sleep(0.3)
        check(sw.proc.poll() is None, "the switch died on a descriptor at %#x, length %s" % (addr, length))
        g.close()
    check(len(sw.text()) - log < 20000, "the switch's log grew by %d bytes" % (len(sw.text()) - log))
    rx = port_stats(sw)["rx"]
    g = attach(scope, sock)
    g.post_tx(arp_request(), kick=True)
    check(wait_until(lambda: port_stats(sw)["rx"] > rx, 2), "the next driver's frame: %s" % port_stats(sw))
    g.close()
    time.sleep(0.3)
    used = sw.ok("status")["limits"]["mbufs"]["used"]
    check(used <= mbufs + 512, "mbufs in use: %d, before %d" % (used, mbufs))
    sw.stop()


@test
def vhost_port_churn_returns_every_descriptor(scope):
    """100 vhost-user pods added and deleted through the CNI plugin in two
    rounds, five of each round with a driver connected at the DEL: the
    switch's descriptors return to the baseline."""
    sw = Switch(scope, "", workers="[1]").start()
    base = fd_baseline(sw, scope.path("warm.sock"))
    c = cni_conf(sw.sock, version="1.0.0", stateDir=sw.state)
    for rnd in range(2):
        socks = []
        for i in range(50):
            rc, out = cni_call("ADD", c, container_id="v%d-%d" % (rnd, i), netns="/run/netns/none",
                               args="PODSWITCH_INTERFACE=vhost-user")
            check(rc == 0, "ADD %d: %s" % (i, out))
            socks.append(out["interfaces"][-1]["socketPath"])
        guests = [VhostGuest(scope, s).setup() for s in socks[:5]]
        for g in guests:
            g.post_tx(arp_request(), kick=True)
        for i in range(50):
            rc, out = cni_call("DEL", c, container_id="v%d-%d" % (rnd, i))
            check(rc == 0, "DEL %d: %s" % (i, out))
        for g in guests:
            g.close()
    check(sw.proc.poll() is None, "the switch died")
    fds = settled_fds(sw, base)
    check(fds == base, "descriptors after 100 vhost-user pods came and went: %d, baseline %d" % (fds, base))
    sw.stop()


@test
def vhost_port_removed_under_full_load(scope):
    """The operator removes a vhost-user port (and then both) while psw-gen
    drives both at full speed: the switch stays up, the remaining port keeps
    working, descriptors return to the baseline."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "perf"))
    import bench_e2e as e2e
    socks = [scope.path("g%d.sock" % i) for i in range(2)]
    only0 = """ports = ( { name = "g0"; kind = "vhost-user"; client = true; socket = "%s"; } );
pods = ( { name = "a"; namespace = "bench"; port = "g0"; mac = "%s"; ip = "%s"; } );
""" % (socks[0], e2e.GEN_MAC[0], e2e.IP_A)
    sw = Switch(scope, "", workers="[1]", idle_sleep_us=0).start()
    base = fd_baseline(sw, scope.path("warm.sock"))
    for i in range(2):
        sw.reload(e2e.podswitch_conf(socks))
        for sk in socks:
            if os.path.exists(sk):
                os.unlink(sk)
        g = e2e.Generator(scope, socks, 64, 1024, e2e.IP_B, 8080, 0, seconds=30)
        check(wait_until(lambda: port_stats(sw, "g0")["rx"] > 100000, 10), "the generator never got going")
        sw.reload(only0 if i == 0 else "")
        check(sw.proc.poll() is None, "the switch died when a port was removed under load")
        if i == 0:
            rx = port_stats(sw, "g0")["rx"]
            check(wait_until(lambda: port_stats(sw, "g0")["rx"] > rx + 1000, 3),
                  "the port left in place stopped receiving")
        g.stop()
    sw.reload("")
    fds = settled_fds(sw, base)
    check(fds == base, "descriptors after the ports went: %d, baseline %d" % (fds, base))
    sw.stop()


@test
def driver_with_more_queue_pairs_than_the_port(scope):
    """virtio-user with queues=2 (testpmd --rxq=2 --txq=2) on a 1-queue port,
    and queues=1 on a 2-queue port: the pod answers either way (or, with
    more pairs than the port has, is refused at its start: testpmd exits)."""
    for port_q, drv_q in ((1, 2), (2, 1)):
        host, sock = "va" + uid(), scope.path("pd%d.sock" % port_q)
        a = veth_pod(scope, host, MAC_A, "10.244.0.10")
        sw = Switch(scope, with_kernel_pod_conf(host, sock, "queues = %d;" % port_q), workers="[1]").start()
        prefix = "psw" + uid()
        p = subprocess.Popen(["dpdk-testpmd", "--no-huge", "-m", "256", "--no-pci", "--file-prefix=" + prefix,
                              "--lcores=0@0,1@0", "--single-file-segments",
                              "--vdev=net_virtio_user0,path=%s,mac=%s,queues=%d" % (sock, MAC_D, drv_q),
                              "--log-level=*:notice", "--", "--forward-mode=icmpecho", "--auto-start",
                              "--stats-period=1", "--nb-cores=1", "--rxq=%d" % drv_q, "--txq=%d" % drv_q,
                              "--no-mlockall", "--total-num-mbufs=4096"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        stop = defer_dpdk_stop(scope, p, prefix)
        answered = False
        for _ in range(20):                     # testpmd needs a moment to connect
            if p.poll() is not None:
                break
            sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
            if got == sent:
                answered = True
                break
        check(sw.proc.poll() is None, "the switch died")
        if not answered and drv_q > port_q and p.poll() is not None:
            pass                                # refused more queue pairs than the port has: loudly, fine
        else:
            check(answered, "port queues %d, driver queues %d: never answered" % (port_q, drv_q))
            sent, got = ping(a, "10.244.0.20", count=20, interval=0.02)
            check(got == sent, "port queues %d, driver queues %d: %d of %d" % (port_q, drv_q, got, sent))
        stop()
        sw.stop()
        run(["ip", "link", "del", host], check_rc=False)


main()
