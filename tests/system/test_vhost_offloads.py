#!/usr/bin/python3
"""System tests of vhost-user pods' offloads (issue 14): a guest that takes
checksum and TCP segmentation offload (VIRTIO_NET_F_GUEST_CSUM,
GUEST_TSO4/6) gets a kernel pod's 64 KB TCP frames whole, with a partial
checksum, and one that does not gets whole segments; a guest that sends
them (CSUM, HOST_TSO4/6) hands the switch one large frame, which reaches a
kernel pod's TCP stack in one piece. The guest is tests/lib/vhostguest.py
with its end of each TCP connection written by hand, so that the test sees
every virtio-net header; what a hostile guest's headers ask for is refused,
counted, and never reaches the pod's stream."""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from polagent import inet_csum  # noqa: E402
from nodetest import TwoNodes  # noqa: E402
from pswtest import Switch, check, main, test, udp_sizes, uid, veth_pod  # noqa: E402
from vhostguest import (F_MRG_RXBUF, F_OFFLOADS, F_VERSION_1, GSO_TCPV4, NEEDS_CSUM,  # noqa: E402
                        VhostGuest)

MAC_A, MAC_D, GW_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0d", "02:50:53:57:00:01"
KIP, GIP = "10.244.0.10", "10.244.0.20"
SYN, RST, PSH, ACK = 0x02, 0x04, 0x08, 0x10
MSS = 1460


def conf(host, sock):
    return """
limits = { large_mbufs = 256; };
ports = ( { name = "pa"; kind = "af_packet"; ifname = "%s"; },
          { name = "pd"; kind = "vhost-user"; socket = "%s"; } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "%s"; },
         { name = "d"; port = "pd"; mac = "%s"; ip = "%s"; } );
""" % (host, sock, MAC_A, KIP, MAC_D, GIP)


def kernel_pod(scope):
    """A kernel pod that keeps its offloads (TSO, frames of at most 60 KB, as the CNI plugin sets them)."""
    host = "vo" + uid()
    ns = veth_pod(scope, host, MAC_A, KIP)
    ns.sh("ethtool -K eth0 tx on tso on sg on >/dev/null")
    ns.ip("link set eth0 gso_max_size 61440")
    return host, ns


def tcp4(sport, dport, seq, ack, flags, payload=b"", opts=b"", partial=False, src=GIP, dst=KIP, mac=MAC_D):
    """A frame from the guest (to the gateway's MAC): IPv4, TCP. partial: the
    TCP checksum field holds the pseudo-header's sum, not complemented, as a
    sender that offloads the checksum leaves it."""
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (thl // 4) << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, (thl + len(payload)) & 0xffff)
    c = (~inet_csum(pseudo) & 0xffff) if partial else inet_csum(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, (20 + thl + len(payload)) & 0xffff, 1, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", inet_csum(ip)) + ip[12:]
    return bytes.fromhex(GW_MAC.replace(":", "")) + bytes.fromhex(mac.replace(":", "")) + b"\x08\x00" + \
        ip + tcp + payload


def parse_tcp4(frame):
    """(sport, dport, seq, ack, flags, payload, checksum ok) of an IPv4 TCP frame, else None."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    ip = frame[14:14 + struct.unpack("!H", frame[16:18])[0]]
    tcp = ip[ihl:]
    sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", tcp[:14])
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
    return sport, dport, seq, ack, flags, tcp[(off >> 4) * 4:], inet_csum(pseudo + tcp) == 0


class Conn:
    """The guest's end of one TCP connection, by hand: sport the guest's
    port, dport the pod's (None: learnt from the pod's SYN)."""

    def __init__(self, g, sport, dport, seq=1000, src=GIP, dst=KIP, mac=MAC_D):
        self.g, self.sport, self.dport, self.seq, self.ack = g, sport, dport, seq, 0
        self.addrs = dict(src=src, dst=dst, mac=mac)
        self.seen = []              # (virtio-net header, parsed TCP) of what the switch wrote to the guest
        self.queue = []             # of those, not yet looked at by wait()

    def send(self, flags, payload=b"", opts=b"", vhdr=None, seq=None, partial=False, publish=True):
        self.g.post_tx(tcp4(self.sport, self.dport, self.seq if seq is None else seq, self.ack, flags, payload,
                            opts, partial, **self.addrs), kick=True, vhdr=vhdr, publish=publish)
        if seq is None:
            self.seq += len(payload) + (1 if flags & SYN else 0)

    def wait(self, what, pred, timeout=5):
        """The next segment of this connection that pred accepts (the others are passed over)."""
        end = time.time() + timeout
        while True:
            while self.queue:
                t = self.queue.pop(0)
                if pred(t):
                    return t
            if time.time() > end:
                raise AssertionError("the guest did not get %s: %s" % (what, [(h, t[:5]) for h, t in self.seen]))
            for hdr, frame in self.g.frames():
                t = parse_tcp4(frame)
                if t is None or t[1] != self.sport or (self.dport is not None and t[0] != self.dport):
                    continue
                if self.dport is None:
                    self.dport = t[0]
                self.seen.append((hdr, t))
                self.queue.append(t)
            time.sleep(0.01)


PEER = """
import hashlib, socket, sys, time
mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytes(i %% 251 for i in range(n))
if mode == "send":
    s = socket.create_connection(("%s", port), timeout=10)
    s.sendall(data)
    time.sleep(5)
else:
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port)); l.listen(1)
    print("listening", flush=True)
    c, _ = l.accept(); c.settimeout(10)
    got = b""
    try:
        while len(got) < n:
            b = c.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        pass
    print(len(got), hashlib.sha256(got).hexdigest(), got.count(0xee), got[:8].hex(), flush=True)
""" % GIP


def nstat(ns, name):
    out = ns.sh("nstat -az %s" % name).stdout.split()
    return int(out[out.index(name) + 1])


def pattern(n):
    return bytes(i % 251 for i in range(n))


def peer(scope, ns, mode, port, n):
    path = scope.path("peer-%s.py" % uid())
    with open(path, "w") as f:
        f.write(PEER)
    return ns.popen("exec /usr/bin/python3 %s %s %d %d" % (path, mode, port, n), stdout=subprocess.PIPE,
                    text=True)


@test
def a_guest_that_takes_tso_gets_a_kernel_pods_tcp_whole(scope):
    """A kernel pod sends 14,000 bytes over TCP to the guest. A guest that
    took GUEST_CSUM and GUEST_TSO4 gets them in frames of several segments
    (gso_type TCPV4, gso_size the MSS it announced, the checksum partial at
    the TCP header); a guest that did not gets segments of at most the MSS,
    every checksum whole. Either way every byte arrives, in order."""
    sock = scope.path("pd.sock")
    host, ns = kernel_pod(scope)
    sw = Switch(scope, conf(host, sock)).start()
    for n, (features, whole) in enumerate(((F_VERSION_1 | F_MRG_RXBUF | F_OFFLOADS, True),
                                           (F_VERSION_1 | F_MRG_RXBUF, False))):
        g = VhostGuest(scope, sock).setup(features=features)
        check(g.features == features, "the switch did not offer %#x: %#x" % (features, g.features))
        seg0 = sw.ok("stats")["events"]["gso_segmented"]
        size, port = 14000, 5000 + n
        peer(scope, ns, "send", port, size)
        c = Conn(g, port, None, seq=7000)
        _, _, syn_seq, _, _, _, _ = c.wait("the SYN", lambda t: t[4] & SYN)
        c.ack = syn_seq + 1
        c.send(SYN | ACK, opts=struct.pack("!BBH", 2, 4, MSS))
        got = b""
        while len(got) < size:
            t = c.wait("data past %d bytes" % len(got), lambda t: len(t[5]) > 0 and t[2] == c.ack)
            got += t[5]
            c.ack += len(t[5])
            c.send(ACK)
        check(got == pattern(size), "the stream arrived changed (%d bytes)" % len(got))
        data = [(h, t) for h, t in c.seen if t[5]]
        if whole:
            big = [(h, t) for h, t in data if len(t[5]) > MSS]
            check(big, "no frame of more than one segment: %s" % [len(t[5]) for _, t in data])
            for h, t in big:
                check(h["gso_type"] == GSO_TCPV4 and h["gso_size"] == MSS and h["flags"] & NEEDS_CSUM and
                      (h["csum_start"], h["csum_offset"]) == (34, 16) and h["hdr_len"] == 54,
                      "the header of a %d-byte frame: %s" % (len(t[5]), h))
            check(sw.ok("stats")["events"]["gso_segmented"] == seg0, "the switch segmented for a guest that takes TSO")
        else:
            check(all(len(t[5]) <= MSS and t[6] and h["gso_type"] == 0 and not h["flags"] & NEEDS_CSUM
                      for h, t in data),
                  "not whole segments: %s" % [(len(t[5]), t[6], h) for h, t in data])
            check(sw.ok("stats")["events"]["gso_segmented"] > seg0, "nothing was segmented")
        g.close()
        time.sleep(0.2)
    sw.stop()


@test
def a_guests_tso_frame_reaches_a_kernel_pod_whole(scope):
    """The guest sends 20,000 bytes of TCP in one frame (gso_type TCPV4, a
    partial checksum), then 100 bytes with only a partial checksum: the
    kernel pod's socket reads all 20,100 in order, and the switch cut
    nothing (the kernel pod's port takes the frame as it is). Before them, at
    the same sequence numbers, what a hostile guest sends: segmentation
    without a partial checksum, a segmented SYN, a segment size of 0, a
    frame over 64 KB, and a partial checksum at the wrong offset; each is
    dropped and counted, or reaches the pod only with a checksum its kernel
    refuses, so the stream stays as the guest meant it."""
    sock = scope.path("pd.sock")
    host, ns = kernel_pod(scope)
    sw = Switch(scope, conf(host, sock)).start()
    g = VhostGuest(scope, sock).setup(features=F_VERSION_1 | F_MRG_RXBUF | F_OFFLOADS)
    check(g.features & F_OFFLOADS == F_OFFLOADS, "offloads not offered: %#x" % g.features)
    size, port = 20100, 5100
    srv = peer(scope, ns, "recv", port, size)
    check(srv.stdout.readline().strip() == "listening", "the pod's server did not start")
    c = Conn(g, 40001, port)
    c.send(SYN, opts=struct.pack("!BBH", 2, 4, MSS))
    _, _, sa_seq, _, _, _, _ = c.wait("the SYN-ACK", lambda t: t[4] & (SYN | ACK) == SYN | ACK)
    c.ack = sa_seq + 1
    c.send(ACK)
    data = pattern(size)
    drops0, ev0 = sw.ok("stats")["drops"], sw.ok("stats")["events"]
    csum_err0 = nstat(ns, "TcpInCsumErrors")

    def gso(seg, csum=NEEDS_CSUM, start=34):
        return (csum, GSO_TCPV4, 54, seg, start, 16)
    bad = b"\xee" * 20000
    c.send(PSH | ACK, bad, vhdr=(0, GSO_TCPV4, 54, 1448, 0, 0), seq=c.seq, partial=True)   # no partial checksum
    c.send(PSH | ACK | SYN, bad, vhdr=gso(1448), seq=c.seq, partial=True)                  # a SYN in 14 segments
    c.send(PSH | ACK, bad, vhdr=gso(0), seq=c.seq, partial=True)                           # segments of 0 bytes
    c.send(PSH | ACK, b"\xee" * 66000, vhdr=gso(1448), seq=c.seq, partial=True)            # over 64 KB
    c.send(PSH | ACK, bad[:100], vhdr=(NEEDS_CSUM, 0, 0, 0, 30, 16), seq=c.seq, partial=True)  # the wrong offset
    time.sleep(0.5)
    c.send(PSH | ACK, data[:20000], vhdr=gso(1448), partial=True)
    c.send(PSH | ACK, data[20000:], vhdr=(NEEDS_CSUM, 0, 0, 0, 34, 16), partial=True)
    out = srv.stdout.readline().split()
    check(out[:2] == [str(size), hashlib.sha256(data).hexdigest()],
          "the pod read %s, not the %d bytes sent" % (out, size))
    st = sw.ok("stats")
    pd = [p for p in st["ports"] if p["name"] == "pd"][0]
    check(st["events"]["gso_segmented"] == ev0["gso_segmented"], "the switch segmented for the kernel pod")
    check(pd["rx_missed"] >= 2, "requests the port cannot carry not counted: %s" % pd)
    # the segmented SYN is gso_bad; a segment size of 0 too, unless the vhost library
    # drops the request itself (DPDK 22.11.7 on), leaving a 20 KB frame over the
    # MTU: dropped, or answered with ICMP fragmentation needed (it has DF)
    dd = {k: v - drops0.get(k, 0) for k, v in st["drops"].items() if v != drops0.get(k, 0)}
    too_big = st["events"]["icmp_too_big"] - ev0["icmp_too_big"]
    check(dd.get("gso_bad", 0) >= 1 and dd.get("gso_bad", 0) + dd.get("mtu_exceeded", 0) + too_big >= 2,
          "a segmented SYN and a segment size of 0 not dropped: %s, icmp_too_big +%d" % (dd, too_big))
    check(nstat(ns, "TcpInCsumErrors") > csum_err0, "the partial checksum at the wrong offset was not refused "
          "by the pod's kernel")
    check(sw.proc.poll() is None, "the switch died")
    sw.stop()



@test
def two_large_frames_at_once_into_the_overlay(scope):
    """A guest on node-a sends two 60,000-byte TSO frames that the switch
    sees in one burst, to a pod on node-b over VXLAN. Each is cut into 43
    segments before it is encapsulated; the second waits for the next
    burst instead of finding the room for a burst's added packets (64)
    taken by the first's, so nothing is dropped (gso_no_room) and all 86
    segments leave in VXLAN and reach node-b's pod."""
    sock = scope.path("g.sock")
    c = TwoNodes(scope, "vxlan", ext=False, pod_mtu=1450, extra="limits = { large_mbufs = 256; };\n", vhost=sock)
    sa, sb = c.sw["a"], c.sw["b"]
    g = VhostGuest(scope, sock).setup(features=F_VERSION_1 | F_MRG_RXBUF | F_OFFLOADS)
    port = 5200
    srv = peer(scope, c.pods["b"], "recv", port, 1)
    check(srv.stdout.readline().strip() == "listening", "node-b's pod's server did not start")
    conn = Conn(g, 40002, port, src="10.244.1.20", dst="10.244.2.5", mac="02:00:00:00:01:20")
    conn.send(SYN, opts=struct.pack("!BBH", 2, 4, 1398))
    _, _, sa_seq, _, _, _, _ = conn.wait("the SYN-ACK across the overlay", lambda t: t[4] & (SYN | ACK) == SYN | ACK)
    conn.ack = sa_seq + 1
    conn.send(ACK)
    a0, b0 = sa.stats(), sb.stats()
    for k in range(2):
        conn.send(PSH | ACK, pattern(60000), vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, 1398, 34, 16), partial=True,
                  publish=k == 1)

    def grew(st, before, key):
        return st.get(key, 0) - before.get(key, 0)
    end = time.time() + 5
    while time.time() < end and grew(sb.stats(), b0, "event.vxlan_decap") < 86:
        time.sleep(0.05)
    a1, b1 = sa.stats(), sb.stats()
    check(grew(a1, a0, "drop.gso_no_room") == 0, "a frame's segments found no room: %s" % nonzero(a1, a0))
    check(grew(a1, a0, "event.gso_segmented") == 2, "not both frames segmented: %s" % nonzero(a1, a0))
    check(grew(a1, a0, "event.vxlan_encap") >= 86 and grew(b1, b0, "event.vxlan_decap") >= 86,
          "segments in VXLAN: node-a %s, node-b %s" % (nonzero(a1, a0), nonzero(b1, b0)))


def nonzero(st, before):
    return {k: v - before.get(k, 0) for k, v in st.items() if v != before.get(k, 0) and
            (k.startswith("drop.") or k.startswith("event."))}


@test
def a_guests_frame_just_under_64_kb_is_not_put_at_an_odd_address(scope):
    """A guest's partial-checksum frames of 65,534, 65,533 and 65,531 bytes
    (chained mbufs from the library, copied into one 64 KB mbuf): the copy
    leaves 65,535 - length bytes of headroom, an odd number here, so parse,
    the guard and the rest read the Ethernet and IP headers at an odd
    address (UBSan: misaligned access to rte_ether_hdr, which is 2-byte
    aligned). Each frame must sit where an ordinary frame does: no runtime
    error in the daemon's log (meaningful under build-asan, where
    scripts/test runs this file)."""
    sock = scope.path("pd.sock")
    host, ns = kernel_pod(scope)
    sw = Switch(scope, conf(host, sock)).start()
    g = VhostGuest(scope, sock).setup(features=F_VERSION_1 | F_MRG_RXBUF | F_OFFLOADS)
    check(g.features & F_OFFLOADS == F_OFFLOADS, "offloads not offered: %#x" % g.features)
    c = Conn(g, 40002, 5200)
    seen0 = sw.ok("stats")["ports"]
    for size in (65534, 65533, 65531):
        payload = size - 54
        fr = tcp4(c.sport, c.dport, 1000, 0, PSH | ACK, b"\x55" * payload, partial=True)
        check(len(fr) == size, "frame of %d bytes" % len(fr))
        g.post_tx(fr, kick=True, vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16))
    end = time.time() + 3
    while time.time() < end:
        pd = [p for p in sw.ok("stats")["ports"] if p["name"] == "pd"][0]
        if pd["rx"] >= 3:
            break
        time.sleep(0.05)
    check(pd["rx"] >= 3, "the frames were not read: %s (before %s)" % (pd, seen0))
    time.sleep(0.3)
    check(sw.proc.poll() is None, "the switch died")
    errs = [line for line in sw.text().splitlines() if "runtime error" in line or "AddressSanitizer" in line]
    check(not errs, "the daemon read a guest's frame at a misaligned address:\n%s" % "\n".join(errs[:4]))
    sw.stop()


def udp4(sport, dport, payload, ident, src=GIP, dst=KIP, mac=MAC_D):
    """A frame from the guest: IPv4 without DF (identifier ident), UDP without a checksum."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", inet_csum(ip)) + ip[12:]
    return bytes.fromhex(GW_MAC.replace(":", "")) + bytes.fromhex(mac.replace(":", "")) + b"\x08\x00" + ip + udp


@test
def a_guests_large_frames_past_the_budget_are_dropped_and_counted(scope):
    """limits.large_mbufs = 4: a guest's frames longer than a 2 KB mbuf come
    in buffers the vhost library allocates, no more than 4 in the switch at
    once. Ten 3,000-byte UDP datagrams without offload requests published
    at once are read in one burst: four reach the kernel pod (fragmented
    for its 1,500-byte MTU, reassembled by its kernel), six are dropped and
    counted in the port's rx_missed. Then ten sent one by one all arrive,
    and no large buffer is left in use."""
    sock = scope.path("pd.sock")
    host, ns = kernel_pod(scope)
    sw = Switch(scope, conf(host, sock).replace("large_mbufs = 256", "large_mbufs = 4")).start()
    out = scope.path("sizes")
    srv = udp_sizes(ns, 5300, out, 3)
    g = VhostGuest(scope, sock).setup(features=F_VERSION_1 | F_MRG_RXBUF | F_OFFLOADS)
    time.sleep(0.3)
    for i in range(10):
        g.post_tx(udp4(40010, 5300, b"\x33" * 3000, 100 + i), kick=(i == 9), publish=(i == 9))
    time.sleep(0.5)
    for i in range(10):
        g.post_tx(udp4(40010, 5300, b"\x33" * 3000, 200 + i), kick=True)
        time.sleep(0.05)
    srv.wait(timeout=15)
    with open(out) as f:
        sizes = f.read().split()
    st = sw.ok("status")
    pd = [p for p in sw.ok("stats")["ports"] if p["name"] == "pd"][0]
    check(sizes == ["3000"] * 14, "datagrams the pod got: %s; %s %s" % (sizes, pd, {k: v for k, v in sw.ok("stats")["drops"].items() if v}))
    check(pd["rx_missed"] == 6 and pd["rx"] == 14, "the guest's port: %s" % pd)
    used = st["limits"]["large_mbufs"]
    check(used["used"] == 0 and used["max"] == 4, "large buffers after: %s" % used)
    sw.stop()


if __name__ == "__main__":
    main()
