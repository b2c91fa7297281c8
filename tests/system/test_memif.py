#!/usr/bin/python3
"""System tests of the switch's own memif master (pmd-glue/psw_memifport.c):
more memif ports than DPDK has ethdevs, several interfaces per socket, DPDK
pods (testpmd net_memif clients) carrying traffic, slaves that break the
protocol or point descriptors outside their memory, and a switch that dies
and is replaced on the same sockets. Nothing may leak a descriptor."""
import fcntl
import mmap
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (Switch, check, kernel_pod, main, ping, test, testpmd_pod,  # noqa: E402
                     uid, veth_pod)

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"

# memif control protocol 2.0 (see pmd-glue/psw_memifport.h)
ACK, HELLO, INIT, ADD_REGION, ADD_RING, CONNECT, CONNECTED, DISCONNECT = 1, 2, 3, 4, 5, 6, 7, 8
COOKIE = 0x3E31F20
VERSION = 0x0200


def msg(mtype, body=b""):
    return (struct.pack("<H", mtype) + body).ljust(128, b"\0")


class Slave:
    """A memif slave written by hand: each step can be made wrong on purpose."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(5)
        self.s.connect(path)
        hello = self.s.recv(256)
        check(len(hello) == 128 and struct.unpack_from("<H", hello)[0] == HELLO, "no HELLO: %r" % hello[:8])
        self.hello = hello

    def send(self, m, fds=()):
        if fds:
            socket.send_fds(self.s, [m], list(fds))
        else:
            self.s.send(m)

    def reply(self):
        """(type, reason) of the master's next message; (None, '') when it closed."""
        try:
            r = self.s.recv(256)
        except socket.timeout:
            raise AssertionError("the master did not answer")
        if not r:
            return None, ""
        t = struct.unpack_from("<H", r)[0]
        reason = r[6:102].split(b"\0")[0].decode() if t == DISCONNECT else ""
        return t, reason

    def refused(self, what):
        """The master sent DISCONNECT with a reason containing what, then closed."""
        t, reason = self.reply()
        check(t == DISCONNECT and what in reason, "expected DISCONNECT '%s', got %s '%s'" % (what, t, reason))
        t, _ = self.reply()
        check(t is None, "the channel stayed open after DISCONNECT")
        self.s.close()

    def init(self, iid=0, version=VERSION, mode=0, secret=b""):
        self.send(msg(INIT, struct.pack("<HIB24s32s", version, iid, mode, secret, b"hostile")))

    def add_region(self, index, size, fd):
        self.send(msg(ADD_REGION, struct.pack("<HQ", index, size)), [fd])

    def add_ring(self, s2m, offset, log2, fd, region=0, index=0, private=0):
        self.send(msg(ADD_RING, struct.pack("<HHHIBH", 1 if s2m else 0, index, region, offset, log2, private)),
                  [fd])

    def acked(self):
        t, reason = self.reply()
        check(t == ACK, "expected ACK, got %s '%s'" % (t, reason))


def memfd(size, sealed=True):
    fd = os.memfd_create("hostile", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if sealed:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
    return fd


def settled_fds(sw, want, timeout=3):
    """The switch's descriptors once its side of the last API connection has
    closed too (the server sees the close a moment after the client)."""
    end = time.time() + timeout
    while sw.fds() != want and time.time() < end:
        time.sleep(0.05)
    return sw.fd_names()


def one_port_conf(ta, tb, sock, extra=""):
    return """
ports = ( { name = "pa"; kind = "kernel"; ifname = "%s"; }, { name = "pb"; kind = "kernel"; ifname = "%s"; },
          { name = "m0"; kind = "memif"; socket = "%s"; id = 0; }%s );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
         { name = "b"; port = "pb"; mac = "%s"; ip = "10.244.0.11"; },
         { name = "m"; port = "m0"; mac = "02:00:00:00:00:0d"; ip = "10.244.0.20"; } );
""" % (ta, tb, sock, extra, MAC_A, MAC_B)


@test
def hostile_memif_slaves_are_refused_and_never_crash_the_switch(scope):
    ta, tb = "pa" + uid(), "pb" + uid()
    sock = scope.path("h.memif")
    sw = Switch(scope, one_port_conf(ta, tb, sock), workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    kernel_pod(scope, tb, MAC_B, "10.244.0.11")
    sent, got = ping(a, "10.244.0.11", count=2)
    base = sw.fds()

    # the protocol, step by step
    sl = Slave(sock)
    check(struct.unpack_from("<HH", sl.hello, 2 + 32) == (VERSION, VERSION), "HELLO versions")
    sl.init(version=0x0100)
    sl.refused("version")
    sl = Slave(sock)
    sl.init(iid=7)
    sl.refused("no such interface")
    sl = Slave(sock)
    sl.init(mode=1)
    sl.refused("ethernet")
    sl = Slave(sock)
    sl.init(secret=b"s3cret")
    sl.refused("secret")
    sl = Slave(sock)
    sl.send(b"\x03\x00short")
    sl.refused("128 expected")
    sl = Slave(sock)
    fd = memfd(65536)
    sl.add_region(0, 65536, fd)
    sl.refused("before INIT")
    sl = Slave(sock)
    sl.init()
    sl.acked()
    sl.send(msg(ADD_REGION, struct.pack("<HQ", 0, 65536)))        # no descriptor
    sl.refused("without a file descriptor")
    sl = Slave(sock)
    sl.init()
    sl.acked()
    loose = memfd(65536, sealed=False)
    sl.add_region(0, 65536, loose)
    sl.refused("F_SEAL_SHRINK")
    os.close(loose)
    sl = Slave(sock)
    sl.init()
    sl.acked()
    tiny = memfd(4096)
    sl.add_region(0, 1 << 20, tiny)                                # larger than its file
    sl.refused("larger than its file")
    os.close(tiny)
    sl = Slave(sock)
    sl.init()
    sl.acked()
    sl.add_region(1, 65536, fd)
    sl.refused("out of order")
    ev = os.eventfd(0, os.EFD_NONBLOCK)
    for offset, log2, what in ((0, 15, "log2 ring size"), (65536 - 128, 4, "past region"),
                               (0xfffffff8, 4, "past region"), (4, 4, "aligned")):
        sl = Slave(sock)
        sl.init()
        sl.acked()
        sl.add_region(0, 65536, fd)
        sl.acked()
        sl.add_ring(True, offset, log2, ev)
        sl.refused(what)
    sl = Slave(sock)
    sl.init()
    sl.acked()
    sl.add_region(0, 65536, fd)
    sl.acked()
    sl.send(msg(CONNECT))
    sl.refused("CONNECT before")
    # two descriptors in one message: the extra one is closed, not kept
    sl = Slave(sock)
    sl.init()
    sl.acked()
    sl.add_region(0, 65536, fd)
    sl.acked()
    sl.send(msg(ADD_RING, struct.pack("<HHHIBH", 1, 0, 0, 0, 4, 0)), [ev, ev])
    sl.acked()
    sl.send(msg(99))
    sl.refused("not expected")

    # channels that never say INIT: 16 per socket are held, the next ones closed at once
    idle = [Slave(sock) for _ in range(16)]
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    extra.settimeout(5)
    extra.connect(sock)
    check(extra.recv(256) == b"", "a 17th channel without INIT was kept")
    extra.close()
    for sl in idle:
        sl.s.close()
    time.sleep(0.2)

    # a slave that connects with rings whose descriptors point past its region
    mm = mmap.mmap(fd, 65536)
    s2m, m2s = 0, 4096
    for off in (s2m, m2s):
        struct.pack_into("<IHH", mm, off, COOKIE, 0, 0)
        for i in range(16):
            # region 0 is 64 KiB: offsets past it, lengths that wrap, a region that does not exist
            bad = ((0, 65000, 1000), (0, 0xffffff00, 0x200), (3, 0, 64))[i % 3]
            struct.pack_into("<HHIII", mm, off + 128 + 16 * i, 0, bad[0], bad[2], bad[1], 0)
    sl = Slave(sock)
    sl.init()
    sl.acked()
    sl.add_region(0, 65536, fd)
    sl.acked()
    sl.add_ring(True, s2m, 4, ev)
    sl.acked()
    sl.add_ring(False, m2s, 4, ev)
    sl.acked()
    sl.send(msg(CONNECT, b"hostile".ljust(32, b"\0")))
    t, _ = sl.reply()
    check(t == CONNECTED, "a well-formed CONNECT was not answered CONNECTED: %s" % t)
    # the same id again while connected
    sl2 = Slave(sock)
    sl2.init()
    sl2.refused("already connected")
    # 16 frames offered, every one bad; 16 buffers given for the switch's frames, every one bad
    struct.pack_into("<H", mm, s2m + 6, 16)
    struct.pack_into("<H", mm, m2s + 6, 16)
    os.eventfd_write(ev, 1)                                     # wakes the port if it is parked
    ping(a, "10.244.0.20", count=3, interval=0.1)               # routed to the memif pod: TX to bad buffers
    time.sleep(0.3)
    s = sw.stats()
    check(s["port.m0.rx"] == 0, "frames taken from bad descriptors: %s" % s["port.m0.rx"])
    check(s["port.m0.rx_missed"] >= 16, "bad descriptors not counted: %s" % s.get("port.m0.rx_missed"))
    check(s["port.m0.tx_drop"] >= 3, "frames to the bad buffers not counted: %s" % s.get("port.m0.tx_drop"))
    check(struct.unpack_from("<H", mm, s2m + 64)[0] == 16, "the bad frames were not handed back")
    check(struct.unpack_from("<H", mm, m2s + 64)[0] == 0, "the switch wrote to bad buffers")
    # a head claiming more than a ring: refused, not followed
    struct.pack_into("<H", mm, s2m + 6, 16 + 17)
    time.sleep(0.2)
    # the slave goes: everything it gave is closed and unmapped
    sl.s.close()
    mm.close()
    os.close(fd)
    os.close(ev)
    sent, got = ping(a, "10.244.0.11", count=5, interval=0.1)
    check(got == sent, "the kernel pods lost %d of %d pings after the hostile slaves" % (sent - got, sent))
    settled_fds(sw, base)
    check(sw.fds() == base, "descriptors: %d before the slaves, %d after" % (base, sw.fds()))
    sw.stop()


@test
def memif_ports_past_the_ethdev_wall(scope):
    """40 memif ports on three sockets (ids 0..13 each), more than DPDK's 32
    ethdevs: none refused, none an ethdev; two DPDK pods (testpmd) connect
    to the 5th and the 40th and answer pings; all removed leave no
    descriptor and no socket file."""
    ta = "pa" + uid()
    socks = [scope.path("s%d.memif" % i) for i in range(3)]
    base_conf = """ports = ( { name = "pa"; kind = "kernel"; ifname = "%s"; } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; } );
""" % (ta, MAC_A)
    sw = Switch(scope, base_conf, workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    ping(a, "10.244.0.1", count=1)
    base_fds, base_names = sw.fds(), sw.fd_names()
    base_eth = sw.ok("status")["limits"]["ethdevs"]["used"]
    ports = ['{ name = "pa"; kind = "kernel"; ifname = "%s"; }' % ta]
    for n in range(40):
        ports.append('{ name = "m%d"; kind = "memif"; socket = "%s"; id = %d; }' % (n, socks[n % 3], n // 3))
    many = """ports = ( %s );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
         { name = "d4"; port = "m4"; mac = "02:00:00:00:00:d4"; ip = "10.244.0.24"; },
         { name = "d39"; port = "m39"; mac = "02:00:00:00:00:d9"; ip = "10.244.0.39"; } );
""" % (",\n  ".join(ports), MAC_A)
    sw.reload(many)
    st = sw.ok("status")
    check(st["limits"]["ports"]["used"] == 41, "ports: %s" % st["limits"])
    check(st["limits"]["ethdevs"]["used"] == base_eth, "memif ports took ethdevs: %s" % st["limits"])
    check(all(os.path.exists(s) for s in socks), "a memif socket is missing")
    # m4: socket 1, id 1; m39: socket 0, id 13
    pods = []
    for port, mac in ((4, "02:00:00:00:00:d4"), (39, "02:00:00:00:00:d9")):
        vdev = "net_memif%d,role=client,socket=%s,socket-abstract=no,id=%d,mac=%s" % (
            port, socks[port % 3], port // 3, mac)
        pods.append(testpmd_pod(scope, vdev, cpu=0, name="m%d" % port))
    for ip in ("10.244.0.24", "10.244.0.39"):
        ok = False
        for _ in range(30):
            sent, got = ping(a, ip, count=2, interval=0.2)
            if got == sent:
                ok = True
                break
        check(ok, "memif pod %s never answered" % ip)
        sent, got = ping(a, ip, count=10, interval=0.05)
        if got != sent:
            st = sw.stats()
            raise AssertionError("memif pod %s answered %d of %d; counters %s" % (
                ip, got, sent, {k: v for k, v in st.items() if k.startswith(("port.m4.", "port.m39.", "port.pa.", "drop.", "event.")) and v}))
    ports_now = {p["name"]: p for p in sw.ok("get", {"kind": "ports"})["items"]}
    check(ports_now["m4"]["link_up"] and ports_now["m39"]["link_up"] and not ports_now["m5"]["link_up"],
          "link states: m4 %s m39 %s m5 %s" % (ports_now["m4"]["link_up"], ports_now["m39"]["link_up"],
                                              ports_now["m5"]["link_up"]))
    # all memif ports go: connected pods are told, listeners closed, socket files removed
    sw.reload(base_conf)
    time.sleep(0.3)
    st = sw.ok("status")
    check(st["limits"]["ports"]["used"] == 1, "ports after removal: %s" % st["limits"])
    check(not any(os.path.exists(s) for s in socks), "a memif socket file was left behind")
    names = settled_fds(sw, base_fds)
    check(sw.fds() == base_fds, "descriptors: %d before the memif ports, %d after; new: %s" % (
        base_fds, sw.fds(), {k: v for k, v in names.items() if base_names.get(k) != v}))
    # (the testpmd pods are not required to survive: DPDK 22.11's net_memif
    # client unmaps on DISCONNECT while its lcore may be in a burst, and
    # sometimes dies of it; docs/ports.md)
    sw.stop()


@test
def idle_memif_pod_parks_and_its_first_frame_wakes_it(scope):
    """An idle memif port leaves the worker's polling (its epoll set, the
    slave asked to signal its eventfd) and the first ping to the parked DPDK
    pod is answered at once, three times over; then a burst of pings, and a
    pod that disconnects and a new one that connects while the port is
    parked (the new slave's first frame wakes it)."""
    ta = "pa" + uid()
    sock = scope.path("idle.memif")
    conf = """ports = ( { name = "pa"; kind = "kernel"; ifname = "%s"; },
          { name = "m0"; kind = "memif"; socket = "%s"; id = 1; } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
         { name = "m"; port = "m0"; mac = "02:00:00:00:00:0d"; ip = "10.244.0.20"; } );
""" % (ta, sock, MAC_A)
    sw = Switch(scope, conf, workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    vdev = "net_memif0,role=client,socket=%s,socket-abstract=no,id=1,mac=02:00:00:00:00:0d" % sock
    pod = testpmd_pod(scope, vdev)
    check(answered(a, "10.244.0.20"), "the memif pod never answered")

    def worker():
        return sw.ok("stats")["workers"][0]

    for attempt in range(3):
        deadline = time.time() + 5
        while worker()["ports_parked"] < 1 and time.time() < deadline:
            time.sleep(0.05)
        w0 = worker()
        check(w0["ports_parked"] == 1, "the idle memif port did not park: %s" % w0)
        r = a.sh("ping -c 1 -W 1 10.244.0.20", check_rc=False)
        check(r.returncode == 0 and "1 received" in r.stdout,
              "round %d: the first ping to a parked memif pod was lost: %s" % (attempt, r.stdout))
        check(worker()["wakes"] > w0["wakes"], "the memif port never woke")
    sent, got = ping(a, "10.244.0.20", count=50, interval=0.01)
    check(got == sent, "a woken memif pod answered %d of %d" % (got, sent))
    # the pod goes and another comes while the port is parked
    pod.send_signal(2)
    pod.wait(10)
    deadline = time.time() + 5
    while worker()["ports_parked"] < 1 and time.time() < deadline:
        time.sleep(0.05)
    check(worker()["ports_parked"] == 1, "the memif port without a slave did not park")
    testpmd_pod(scope, vdev, name="pmd2")
    check(answered(a, "10.244.0.20"), "a new memif pod on the parked port never answered")
    sw.stop()


def answered(ns, ip, tries=30):
    for _ in range(tries):
        sent, got = ping(ns, ip, count=2, interval=0.2)
        if got == sent:
            return True
    return False


@test
def memif_socket_of_a_dead_switch_is_reused(scope):
    """DPDK 22.11's net_memif client connects once, at its start, and never
    again: a pod outlives a switch restart disconnected (docs/ports.md). What
    the switch must do: a second switch on the sockets of one that was
    killed removes the stale socket files and serves them; a new pod then
    connects; while a switch serves a socket, another is refused it."""
    ta = "pa" + uid()
    sock = scope.path("r.memif")
    conf = """ports = ( { name = "pa"; kind = "kernel"; ifname = "%s"; },
          { name = "m0"; kind = "memif"; socket = "%s"; id = 3; } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
         { name = "m"; port = "m0"; mac = "02:00:00:00:00:0d"; ip = "10.244.0.20"; } );
""" % (ta, sock, MAC_A)
    first = Switch(scope, conf, workers="[1]").start()
    # another switch on the same socket while the first serves it: refused, naming the socket
    other = Switch(scope, conf.replace(ta, "px" + uid()), workers="[1]")
    other.logf = open(other.log, "w")
    import shutil
    import subprocess
    from pswtest import PODSWITCH
    scope.defer(lambda: shutil.rmtree("/var/run/dpdk/" + other.prefix, ignore_errors=True))
    p = subprocess.run([PODSWITCH, "-c", other.conf], stdout=other.logf, stderr=subprocess.STDOUT, timeout=60)
    check(p.returncode != 0 and "in use by another process" in other.text(),
          "a second switch took a served memif socket: %s" % other.text()[-500:])
    first.kill()
    check(os.path.exists(sock), "the killed switch's socket file is gone (nothing to test)")
    second = Switch(scope, conf, workers="[1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    testpmd_pod(scope, "net_memif0,role=client,socket=%s,socket-abstract=no,id=3,mac=02:00:00:00:00:0d" % sock)
    ok = False
    for _ in range(30):
        sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
        if got == sent:
            ok = True
            break
    check(ok, "a DPDK pod on the reused socket never answered")
    second.stop()
    check(not os.path.exists(sock), "the socket file stayed after a clean stop")


def pod_log(path, want, timeout=10, prefix=False):
    """Wait until the memif pod's log holds the line want (or one starting so)."""
    end = time.time() + timeout
    while time.time() < end:
        with open(path) as f:
            if any(ln == want or (prefix and ln.startswith(want + " ")) for ln in f.read().splitlines()):
                return True
        time.sleep(0.05)
    return False


@test
def memif_pod_reconnects_after_switch_restart(scope):
    """Issue 14: a memif pod that retries its socket (tests/lib/memif_pod.py,
    the part libmemif and VPP slaves play; DPDK 22.11's net_memif does not
    retry) is connected again by a switch that stops and starts, and by one
    that is killed and replaced on the stale socket; the first ping after
    each reconnection is answered, and the pod keeps running throughout."""
    import subprocess
    ta = "pa" + uid()
    sock = scope.path("again.memif")
    conf = """ports = ( { name = "pa"; kind = "af_packet"; ifname = "%s"; },
          { name = "m0"; kind = "memif"; socket = "%s"; id = 5; } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
         { name = "m"; port = "m0"; mac = "02:00:00:00:00:0d"; ip = "10.244.0.20"; } );
""" % (ta, sock, MAC_A)
    a = veth_pod(scope, ta, MAC_A, "10.244.0.10")        # outlives the switch, unlike a tap
    sw = Switch(scope, conf, workers="[1]").start()
    log = scope.path("memif_pod.log")
    pod = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib",
                                                         "memif_pod.py"), sock, "5", "02:00:00:00:00:0d"],
                           stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def stop_pod():
        if pod.poll() is None:
            pod.terminate()
            pod.wait(10)
    scope.defer(stop_pod)

    def first_ping(what):
        r = a.sh("ping -c 1 -W 1 10.244.0.20", check_rc=False)
        check(r.returncode == 0 and "1 received" in r.stdout, "%s: the first ping was lost: %s" % (what, r.stdout))
        sent, got = ping(a, "10.244.0.20", count=20, interval=0.01)
        check(got == sent, "%s: the memif pod answered %d of %d" % (what, got, sent))

    check(pod_log(log, "connected 1"), "the memif pod never connected: %s" % open(log).read())
    first_ping("first connection")
    for n, how in ((2, "stop"), (3, "kill")):
        if how == "stop":
            sw.stop()
            check(pod_log(log, "disconnected %d" % (n - 1), prefix=True), "the pod never saw the switch go")
        else:
            sw.kill()
            check(os.path.exists(sock), "the killed switch's socket file is gone (nothing to test)")
        sent, got = ping(a, "10.244.0.20", count=2, interval=0.2)
        check(got == 0, "answers with the switch away")
        sw = Switch(scope, conf, workers="[1]").start()
        check(pod_log(log, "connected %d" % n), "after a switch %s the pod never reconnected: %s" % (how, open(log).read()))
        first_ping("after a switch %s" % how)
        check(pod.poll() is None, "the memif pod died")
    mc = sw.ok("status")["limits"]["memif_connected"]
    check(mc == {"used": 1, "max": 1}, "status after the reconnections: memif_connected %s" % mc)
    sw.stop()


if __name__ == "__main__":
    main()
