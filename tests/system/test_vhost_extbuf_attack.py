#!/usr/bin/python3
"""System tests attacking vhost-user ports' external buffers (commit
4d40823): a guest's frame longer than a 2 KB mbuf now comes from the vhost
library in one buffer rte_malloc()ed for it and attached to an ordinary
mbuf of the port's 2 KB pool (RTE_VHOST_USER_EXTBUF_SUPPORT), not in a
64 KB mbuf of limits.large_mbufs' pool; only past about 65,375 bytes (the
buffer's 16-bit length) does the library still chain 2 KB mbufs, which
the port copies into a 64 KB mbuf.

The attack's four hits are the first four tests here, fixed since: pieces
of such a frame that no default mbuf holds (segments, fragments) come from
the 64 KB pool, not from the frame's own (now 2 KB) pool; a burst leaves
room for the fragments of a guest's jumbo datagrams; bytes after a
datagram no longer leave past the MTU. A second attack (the room left
for a burst, frames held) found two more, fixed too: a chained 65,400-byte
frame passed the MTU check (the first mbuf's length was met), and frames
held for a guest that went away were never freed. The rest held: the threshold,
floods toward a receiver that does not read, a guest that goes away in
the middle. The guests are tests/lib/vhostguest.py."""
import json
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from polagent import inet_csum  # noqa: E402
from pswtest import Switch, check, main, test, uid, veth_pod, wait_until  # noqa: E402
from vhostguest import (F_MRG_RXBUF, F_OFFLOADS, F_VERSION_1, GSO_TCPV4, NEEDS_CSUM,  # noqa: E402
                        VhostGuest, attach)

GW_MAC = "02:50:53:57:00:01"
MAC_A, MAC_D, MAC_E = "02:00:00:00:00:0a", "02:00:00:00:00:0d", "02:00:00:00:00:0e"
KIP, GIP, HIP = "10.244.0.10", "10.244.0.20", "10.244.0.30"
SYN, PSH, ACK = 0x02, 0x08, 0x10
OL = F_VERSION_1 | F_MRG_RXBUF | F_OFFLOADS       # a guest with checksum and TSO both ways
PLAIN = F_VERSION_1 | F_MRG_RXBUF                 # a guest that negotiated no offloads


def conf(host, sock_d, sock_e, mtu_e=9000, extra=""):
    """Kernel pod a (af_packet, MTU 1500), guest d (pd), guest e (pe, MTU mtu_e)."""
    return """
%s
ports = ( { name = "pa"; kind = "af_packet"; ifname = "%s"; },
          { name = "pd"; kind = "vhost-user"; socket = "%s"; },
          { name = "pe"; kind = "vhost-user"; socket = "%s"; mtu = %d; } );
pods = ( { name = "a"; port = "pa"; mac = "%s"; ip = "%s"; },
         { name = "d"; port = "pd"; mac = "%s"; ip = "%s"; },
         { name = "e"; port = "pe"; mac = "%s"; ip = "%s"; } );
""" % (extra, host, sock_d, sock_e, mtu_e, MAC_A, KIP, MAC_D, GIP, MAC_E, HIP)


def macb(m):
    return bytes.fromhex(m.replace(":", ""))


def ip4(src, dst, proto, payload, df=False, ident=1, total=None):
    t = 20 + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, t & 0xffff, ident, 0x4000 if df else 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", inet_csum(h)) + h[12:] + payload


def udp4(src, dst, sport, dport, payload, df=False, smac=MAC_D, ident=1, total=None):
    """A whole UDP datagram (its checksum complete) from a guest to the gateway's MAC."""
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(u))
    c = inet_csum(pseudo + u) or 0xffff
    u = u[:6] + struct.pack("!H", c) + u[8:]
    return macb(GW_MAC) + macb(smac) + b"\x08\x00" + ip4(src, dst, 17, u, df, ident, total)


def tcp4(src, dst, sport, dport, seq, ack, flags, payload=b"", partial=False, smac=MAC_D, opts=b""):
    thl = 20 + len(opts)
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (thl // 4) << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, (thl + len(payload)) & 0xffff)
    c = (~inet_csum(pseudo) & 0xffff) if partial else inet_csum(pseudo + t + payload)
    t = t[:16] + struct.pack("!H", c) + t[18:]
    return macb(GW_MAC) + macb(smac) + b"\x08\x00" + ip4(src, dst, 6, t + payload, df=True)


def pattern(n, k=0):
    return bytes((i + k) % 251 for i in range(n))


def port(sw, name):
    return [p for p in sw.ok("stats")["ports"] if p["name"] == name][0]


def delta(sw, before):
    """Drops and events grown since before (sw.ok("stats"))."""
    st = sw.ok("stats")
    out = {}
    for kind in ("drops", "events"):
        for k, v in st[kind].items():
            if v != before[kind].get(k, 0):
                out[k] = v - before[kind].get(k, 0)
    return out


def mbufs(sw):
    """Ordinary and 64 KB mbufs taken (with guests' external buffers), per `status`."""
    lim = sw.ok("status")["limits"]
    return lim["mbufs"]["used"], lim["large_mbufs"]["used"]


def heap(sw):
    """The EAL heap of socket 0 (DPDK telemetry /eal/heap_info): (allocated bytes, free bytes)."""
    path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % sw.prefix
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    try:
        s.connect(path)
        s.recv(4096)
        s.send(b"/eal/heap_info,0")
        d = json.loads(s.recv(65536).decode())["/eal/heap_info"]
    finally:
        s.close()
    return int(d["Alloc_size"]), int(d["Free_size"])


def sanitizer_errors(sw):
    return [line for line in sw.text().splitlines()
            if "runtime error" in line or "AddressSanitizer" in line or "LeakSanitizer" in line]


def frames_until(g, pred, n, timeout=3):
    """Frames g's RX ring got (read as they come) until n of them satisfy pred."""
    got, end = [], time.time() + timeout
    while time.time() < end:
        got += [f for _, f in g.frames()]
        if len([f for f in got if pred(f)]) >= n:
            break
        time.sleep(0.02)
    return got


def is_ip(f, src, dst, proto=None):
    return (len(f) >= 34 and f[12:14] == b"\x08\x00" and f[26:30] == socket.inet_aton(src) and
            f[30:34] == socket.inet_aton(dst) and (proto is None or f[23] == proto))


def setup(scope, mtu_e=9000, d_features=OL, e_features=PLAIN, extra=""):
    host = "xb" + uid()
    ns = veth_pod(scope, host, MAC_A, KIP)
    sd, se = scope.path("pd.sock"), scope.path("pe.sock")
    sw = Switch(scope, conf(host, sd, se, mtu_e, extra)).start()
    gd = VhostGuest(scope, sd).setup(features=d_features)
    ge = VhostGuest(scope, se).setup(features=e_features)
    return sw, ns, gd, ge


def handshake(sw, gd, ge, sport, dport):
    """A TCP connection d -> e, its three packets written by hand (e's SYN-ACK
    by hand too), so that conntrack lets data through. Returns d's next seq."""
    st0 = sw.ok("stats")
    for _ in range(3):           # (a guest just set up: the first may find e's ring not yet enabled)
        gd.post_tx(tcp4(GIP, HIP, sport, dport, 1000, 0, SYN), kick=True)
        got = frames_until(ge, lambda f: is_ip(f, GIP, HIP, 6), 1, timeout=1)
        if got:
            break
    check(any(is_ip(f, GIP, HIP, 6) for f in got), "e did not get d's SYN: %s, %s" % (delta(sw, st0), [len(f) for f in got]))
    ge.post_tx(tcp4(HIP, GIP, dport, sport, 5000, 1001, SYN | ACK, smac=MAC_E), kick=True)
    got = frames_until(gd, lambda f: is_ip(f, HIP, GIP, 6), 1)
    check(any(is_ip(f, HIP, GIP, 6) for f in got), "d did not get e's SYN-ACK")
    gd.post_tx(tcp4(GIP, HIP, sport, dport, 1001, 5001, ACK), kick=True)
    frames_until(ge, lambda f: is_ip(f, GIP, HIP, 6), 1)
    return 1001


# ------------------------------------------------------------ hits

@test
def tso_frame_with_jumbo_segments_to_a_guest_without_tso(scope):
    """Guest d sends 30,000 bytes of TCP in one TSO frame, segment size
    8,000, to guest e, which took no offloads (its port's MTU 9,000: an
    8,054-byte segment fits). The worker segments for e (psw_gso_segment):
    segments too large for a default mbuf came 'from pkt's pool', which was
    the 64 KB pool when the port copied the frame into a 64 KB mbuf; with
    the external buffer, pkt's pool is the port's 2 KB pool, the append
    failed, and the whole frame was dropped as gso_no_room (the attack's
    hit; now from the 64 KB pool). Expected: e gets
    4 segments carrying the 30,000 bytes, nothing dropped. (Segments of
    1,448 bytes, which fit a default mbuf, get through: checked first.)"""
    sw, ns, gd, ge = setup(scope)
    seq = handshake(sw, gd, ge, 41000, 5000)
    # 1,448: segments fit a default mbuf; 65,346 bytes: a 65,400-byte frame, past the external
    # buffer's limit, chained and copied into a 64 KB mbuf (its pool the large one): held
    for mss, total in ((1448, 14480), (8000, 65346), (8000, 30000)):
        st0 = sw.ok("stats")
        data = pattern(total, mss)
        gd.post_tx(tcp4(GIP, HIP, 41000, 5000, seq, 5001, PSH | ACK, data, partial=True), kick=True,
                   vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, mss, 34, 16))
        n = (total + mss - 1) // mss
        got = frames_until(ge, lambda f: is_ip(f, GIP, HIP, 6), n)
        segs = [f for f in got if is_ip(f, GIP, HIP, 6)]
        payload = b"".join(f[54:14 + struct.unpack("!H", f[16:18])[0]] for f in segs)
        d = delta(sw, st0)
        check(payload == data and len(segs) == n and all(len(f) <= 14 + 9000 for f in segs),
              "segment size %d: e got %d segments, %d bytes of the %d sent (%s); switch: %s" %
              (mss, len(segs), len(payload), total, [len(f) for f in segs], d))
        seq += total
        ge.post_tx(tcp4(HIP, GIP, 5000, 41000, 5001, seq, ACK, smac=MAC_E), kick=True)   # e acks it
        frames_until(gd, lambda f: is_ip(f, HIP, GIP, 6), 1, timeout=1)
    check(sw.proc.poll() is None, "the switch died")
    sw.stop()


@test
def jumbo_frame_without_df_is_fragmented_for_a_9000_byte_mtu(scope):
    """Guest d (no offloads negotiated, a larger MTU in the guest)
    sends a 20,000-byte UDP datagram without DF to guest e, whose port's MTU
    is 9,000. forward's fragment() took default mbufs only when a piece
    fits one, else 'pkt->pool'; the guest's frame is an external buffer on
    a 2 KB mbuf, so the 9,000-byte pieces found no room and the datagram
    was dropped (frag_no_room; the attack's hit, now from the 64 KB pool).
    Expected: 3 fragments of at most 9,000 bytes of IP,
    which carry the datagram (a kernel pod's same datagram is fragmented:
    its frame is a 64 KB mbuf). The same datagram to the kernel pod (MTU
    1,500: pieces that fit a default mbuf) is fragmented: checked first."""
    sw, ns, gd, ge = setup(scope, d_features=PLAIN)
    rx = ns.popen("exec /usr/bin/python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                  "s.bind(('0.0.0.0', 7000)); s.settimeout(5); print('up', flush=True); "
                  "print(len(s.recvfrom(70000)[0]), flush=True)\"", stdout=subprocess.PIPE, text=True)
    scope.defer(lambda: rx.kill())
    check(rx.stdout.readline().strip() == "up", "the pod's receiver did not start")
    data = pattern(20000 - 42)
    st0 = sw.ok("stats")
    gd.post_tx(udp4(GIP, KIP, 7000, 7000, data, ident=7), kick=True)
    out = rx.stdout.readline().strip()
    check(out == str(len(data)), "the kernel pod (MTU 1,500) did not get the datagram: %r; %s" %
          (out, delta(sw, st0)))
    st0 = sw.ok("stats")
    gd.post_tx(udp4(GIP, HIP, 7000, 7000, data, ident=8), kick=True)
    got = frames_until(ge, lambda f: is_ip(f, GIP, HIP, 17), 3)
    frags = [f for f in got if is_ip(f, GIP, HIP, 17)]
    d = delta(sw, st0)
    check(len(frags) == 3 and all(len(f) <= 14 + 9000 for f in frags),
          "guest e (MTU 9,000) got %d pieces %s of the 20,000-byte datagram; switch: %s" %
          (len(frags), [len(f) for f in frags], d))
    check(sw.proc.poll() is None, "the switch died")
    sw.stop()


# ------------------------------------------------------------ what held

UDP_RX = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
          "s.bind(('0.0.0.0', 7000)); s.settimeout(float(sys.argv[1])); print('up', flush=True)\n"
          "while True:\n"
          "    try:\n"
          "        d = s.recvfrom(70000)[0]\n"
          "    except OSError:\n"
          "        break\n"
          "    print(len(d), d[:4].hex(), flush=True)\n")


def udp_receiver(scope, ns, timeout):
    path = scope.path("udprx-%s.py" % uid())
    with open(path, "w") as f:
        f.write(UDP_RX)
    p = ns.popen("exec /usr/bin/python3 %s %s" % (path, timeout), stdout=subprocess.PIPE, text=True)
    scope.defer(lambda: p.poll() is None and p.kill())
    check(p.stdout.readline().strip() == "up", "the pod's UDP receiver did not start")
    return p


def icmp_too_big(f, mtu):
    """An ICMP fragmentation-needed to guest d announcing mtu."""
    return is_ip(f, "10.244.0.1", GIP, 1) and f[34] == 3 and f[35] == 4 and struct.unpack("!H", f[40:42])[0] == mtu


def tx_drained(g, q=1, timeout=3):
    """The switch has read every frame posted on g's TX ring q."""
    used = g.ring(q)[2]
    return wait_until(lambda: struct.unpack_from("<H", g.mem, used + 2)[0] == g.avail_idx[q], timeout)


@test
def jumbo_frames_of_a_guest_without_offloads_meet_the_mtu(scope):
    """Guest d negotiated no offloads and sends UDP datagrams of 3,000,
    9,000 and 20,000 bytes (external buffers, no offload requests). To the
    kernel pod (MTU 1,500): with DF each is answered with ICMP
    fragmentation needed (MTU 1,500, built in place in the external
    buffer); without DF each is fragmented and the pod's socket reads the
    whole datagram. To guest e (MTU 9,000): 3,000 and 9,000 bytes (IP
    within 9,000) arrive whole and unchanged; 20,000 with DF gets ICMP with
    MTU 9,000. Nothing longer than the MTU leaves the switch."""
    sw, ns, gd, ge = setup(scope, d_features=PLAIN)
    rx = udp_receiver(scope, ns, 4)
    sent = []
    for i, size in enumerate((3000, 9000, 20000)):
        data = pattern(size - 42, i)
        gd.post_tx(udp4(GIP, KIP, 7000, 7000, data, df=True, ident=100 + i), kick=True)
        gd.post_tx(udp4(GIP, KIP, 7000, 7000, data, df=False, ident=200 + i), kick=True)
        sent.append(len(data))
    got = frames_until(gd, lambda f: icmp_too_big(f, 1500), 3)
    check(len([f for f in got if icmp_too_big(f, 1500)]) == 3,
          "d did not get 3 ICMP fragmentation-needed (MTU 1,500): %s" % [(len(f), f[34:36].hex()) for f in got])
    lens = []
    while len(lens) < 3:
        line = rx.stdout.readline().split()
        if not line:
            break
        lens.append(int(line[0]))
    check(lens == sent, "the kernel pod read datagrams of %s, not %s" % (lens, sent))
    st0 = sw.ok("stats")
    whole = []
    for i, size in enumerate((3000, 9000 + 14)):
        fr = udp4(GIP, HIP, 7000, 7000, pattern(size - 42, i), df=True, ident=300 + i)
        gd.post_tx(fr, kick=True)
        whole.append(fr[14:])
    gd.post_tx(udp4(GIP, HIP, 7000, 7000, pattern(20000 - 42), df=True, ident=400), kick=True)
    got = frames_until(ge, lambda f: is_ip(f, GIP, HIP, 17), 2)
    check([f[14:] for f in got if is_ip(f, GIP, HIP, 17)] ==
          [w[:8] + bytes([w[8] - 1]) + w[9:10] + struct.pack("!H", inet_csum(w[:8] + bytes([w[8] - 1]) + w[9:10] +
                                                                            b"\0\0" + w[12:20])) + w[12:]
           for w in whole],
          "guest e (MTU 9,000) did not get the 3,000- and 9,014-byte frames unchanged: %s" % [len(f) for f in got])
    got = frames_until(gd, lambda f: icmp_too_big(f, 9000), 1)
    check(any(icmp_too_big(f, 9000) for f in got), "no ICMP with MTU 9,000 for 20,000 bytes with DF: %s" %
          delta(sw, st0))
    check(sw.proc.poll() is None and not sanitizer_errors(sw), "the switch died or erred: %s" % sanitizer_errors(sw))
    sw.stop()


@test
def frames_at_the_external_buffers_limit(scope):
    """TSO frames of 65,300 to 65,535 bytes from guest d to guest e (which
    takes TSO) on an established connection: 65,368 is the last that fits
    an external buffer (128 of headroom, 24 of shared info and a pointer,
    rounded up to 8, within 65,535), 65,369 on is chained and copied into a
    64 KB mbuf. Each
    reaches e whole and unchanged; 65,536 and 66,000 are dropped and
    counted (rx_missed). Then datagrams without offload requests and
    without DF, of 65,300 and 65,368 bytes (external buffers) to the
    kernel pod, are fragmented and read whole by its socket; 65,369 and
    65,535 (chained: not fragmentable, nb_segs > 1) are dropped as
    mtu_exceeded, counted, never sent. With DF, 65,368 is answered with
    ICMP (built in place: the external buffer has the room). Afterwards
    the mbufs taken and the EAL heap are where they were: no ASan or UBSan
    report."""
    sw, ns, gd, ge = setup(scope, d_features=OL, e_features=OL)
    seq = handshake(sw, gd, ge, 42000, 5001)
    frames_until(ge, lambda f: False, 1, timeout=0.3)
    base_mb, base_heap = mbufs(sw), heap(sw)[0]
    for size in (65300, 65367, 65368, 65369, 65370, 65400, 65520, 65535):
        data = pattern(size - 54, size)
        fr = tcp4(GIP, HIP, 42000, 5001, seq, 5001, PSH | ACK, data, partial=True)
        check(len(fr) == size, "a frame of %d bytes" % len(fr))
        gd.post_tx(fr, kick=True, vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16))
        got = [f for f in frames_until(ge, lambda f: is_ip(f, GIP, HIP, 6), 1) if is_ip(f, GIP, HIP, 6)]
        check(len(got) == 1 and got[0][54:] == data and len(got[0]) == size,
              "%d bytes: e got %s" % (size, [len(f) for f in got]))
        seq += len(data)
        ge.post_tx(tcp4(HIP, GIP, 5001, 42000, 5001, seq, ACK, smac=MAC_E), kick=True)
        frames_until(gd, lambda f: is_ip(f, HIP, GIP, 6), 1, timeout=1)
    pd0 = port(sw, "pd")
    for size in (65536, 66000):
        gd.post_tx(tcp4(GIP, HIP, 42000, 5001, seq, 5001, PSH | ACK, bytes(size - 54), partial=True), kick=True,
                   vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16))
    check(wait_until(lambda: port(sw, "pd")["rx_missed"] - pd0["rx_missed"] == 2, 2),
          "frames over 64 KB not counted: %s" % port(sw, "pd"))
    check(not [f for f in frames_until(ge, lambda f: False, 1, timeout=0.3) if is_ip(f, GIP, HIP, 6)],
          "e got a frame over 64 KB")
    rx = udp_receiver(scope, ns, 3)
    st0 = sw.ok("stats")
    for i, size in enumerate((65300, 65368, 65369, 65535)):
        gd.post_tx(udp4(GIP, KIP, 7000, 7000, pattern(size - 42, i), ident=500 + i), kick=True)
    lens = []
    for _ in range(2):
        line = rx.stdout.readline().split()
        if line:
            lens.append(int(line[0]) + 42)
    d = delta(sw, st0)
    check(lens == [65300, 65368], "the kernel pod read datagrams (as frames) of %s, not 65,300 and 65,368; %s" % (lens, d))
    check(d.get("mtu_exceeded", 0) == 2 and d.get("ip4_fragmented", 0) == 2,
          "chained datagrams not dropped and counted, or the others not fragmented: %s" % d)
    gd.post_tx(udp4(GIP, KIP, 7000, 7000, pattern(65368 - 42), df=True, ident=600), kick=True)
    got = frames_until(gd, lambda f: icmp_too_big(f, 1500), 1)
    check(any(icmp_too_big(f, 1500) for f in got), "no ICMP for 65,368 bytes with DF")
    time.sleep(0.3)
    check(wait_until(lambda: mbufs(sw) == base_mb, 3), "mbufs taken %s, before %s" % (mbufs(sw), base_mb))
    check(wait_until(lambda: heap(sw)[0] <= base_heap, 3), "the EAL heap holds %d bytes more than before" %
          (heap(sw)[0] - base_heap))
    check(sw.proc.poll() is None and not sanitizer_errors(sw), "the switch died or erred: %s" % sanitizer_errors(sw))
    sw.stop()


def flood(g, frame, n, vhdr, batch=48):
    """n copies of frame on g's TX ring, in batches the switch reads before the
    next (the guest's memory holds 80 buffers of 64 KB)."""
    for i in range(0, n, batch):
        for k in range(min(batch, n - i)):
            g.post_tx(frame, kick=k == min(batch, n - i) - 1, vhdr=vhdr, publish=k == min(batch, n - i) - 1)
        if not tx_drained(g):
            return False
    return True


@test
def a_flood_of_64_kb_frames_toward_receivers_that_do_not_read(scope):
    """Guest d sends 1,500 TSO frames of 64,000 bytes on an established
    connection to guest e, which never reads its RX ring (full after the
    first), and 1,500 64,000-byte datagrams (a partial checksum, DF) to the
    kernel pod, each answered with ICMP to d, whose own RX ring is not read
    either, and 500 datagrams of 64,000 bytes without DF, fragmented to a
    socket of the pod that is bound and never read: about 220 MB of
    external buffers, more than half of the EAL heap's free memory. The switch lives, counts what it could not deliver,
    the kernel pod still pings the gateway, and afterwards the mbufs taken
    and the heap's allocated bytes are what they were (an external buffer
    leaked per frame would leave 96 MB)."""
    sw, ns, gd, ge = setup(scope, d_features=OL, e_features=OL)
    seq = handshake(sw, gd, ge, 43000, 5002)
    time.sleep(0.2)
    base_mb, base_heap = mbufs(sw), heap(sw)[0]
    pe0 = port(sw, "pe")
    t0 = time.time()
    big = tcp4(GIP, HIP, 43000, 5002, seq, 5001, PSH | ACK, pattern(64000 - 54), partial=True)
    check(flood(gd, big, 1500, (NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16)), "the switch stopped reading d's ring")
    dg = udp4(GIP, KIP, 7001, 7001, pattern(64000 - 42), df=True)
    dg = dg[:40] + b"\0\0" + dg[42:]                     # (its checksum left to the offload, as partial)
    check(flood(gd, dg, 1500, (NEEDS_CSUM, 0, 0, 0, 34, 6)), "the switch stopped reading d's ring")
    # and 500 without DF, fragmented to a pod's socket that is bound and never read (its buffer full)
    idle = ns.popen("exec /usr/bin/python3 -c \"import socket, time; s = socket.socket(socket.AF_INET, "
                    "socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7002)); print('up', flush=True); time.sleep(30)\"",
                    stdout=subprocess.PIPE, text=True)
    scope.defer(lambda: idle.poll() is None and idle.kill())
    check(idle.stdout.readline().strip() == "up", "the pod's idle socket did not start")
    frag0 = sw.ok("stats")["events"].get("ip4_fragmented", 0)
    check(flood(gd, udp4(GIP, KIP, 7002, 7002, pattern(64000 - 42)), 500, None), "the switch stopped reading")
    st1 = sw.ok("stats")
    # (not all: a burst's room for added packets, 64, takes one datagram's 43 fragments; see
    # a_burst_of_jumbo_datagrams_to_a_1500_byte_mtu)
    check(st1["events"].get("ip4_fragmented", 0) - frag0 >= 1, "no datagram was fragmented: %s" %
          {k: v for k, v in st1["drops"].items() if v})
    took = time.time() - t0
    st = sw.ok("stats")
    pe = port(sw, "pe")
    check(sw.proc.poll() is None, "the switch died")
    check(pe["tx"] - pe0["tx"] >= 1 and pe["tx"] - pe0["tx"] < 1500,
          "e's port sent %d of 1,500 with its ring full: %s" % (pe["tx"] - pe0["tx"], pe))
    sent, got = ping_gw(ns)
    check(got == sent, "the kernel pod's pings to the gateway after the flood: %d of %d" % (got, sent))
    check(wait_until(lambda: mbufs(sw) == base_mb, 3), "mbufs taken %s, before %s" % (mbufs(sw), base_mb))
    h = heap(sw)[0]
    check(h <= base_heap + (64 << 10), "the EAL heap holds %d bytes more than before the flood" % (h - base_heap))
    check(not sanitizer_errors(sw), "sanitizer: %s" % sanitizer_errors(sw)[:3])
    print("    (flood of 3,500 x 64 KB in %.1fs; drops %s)" % (took, {k: v for k, v in st["drops"].items() if v}))
    sw.stop()


def ping_gw(ns):
    r = ns.sh("ping -c 3 -i 0.2 -W 1 10.244.0.1", check_rc=False)
    import re
    m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (3, 0)


@test
def a_guest_that_goes_away_in_the_middle_of_a_flood(scope):
    """Guest d posts 48 TSO frames of 64,000 bytes and 48 of 65,400
    (chained, copied into 64 KB mbufs) at once and closes its connection
    without waiting; the switch is reading them while the device goes. A
    new driver on the same socket gets the gateway's ARP answer and its
    frames through to e; the mbufs (ordinary and large) and the heap come
    back to what they were with the first guest connected."""
    sw, ns, gd, ge = setup(scope, d_features=OL, e_features=OL)
    handshake(sw, gd, ge, 44000, 5003)
    time.sleep(0.2)
    base_mb, base_heap = mbufs(sw), heap(sw)[0]
    for rnd in range(3):
        for size in (64000, 65400):
            fr = tcp4(GIP, HIP, 44000, 5003, 1001, 5001, PSH | ACK, pattern(size - 54), partial=True)
            for k in range(40):
                gd.post_tx(fr, kick=k == 39, vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16), publish=k == 39)
        gd.close()
        gd = attach(scope, scope.path("pd.sock"), features=OL)
        handshake(sw, gd, ge, 44100 + rnd, 5003)
    check(sw.proc.poll() is None, "the switch died")
    time.sleep(0.3)
    check(wait_until(lambda: mbufs(sw) == base_mb, 3), "mbufs taken %s, before %s" % (mbufs(sw), base_mb))
    h = heap(sw)[0]
    check(h <= base_heap + (64 << 10), "the EAL heap holds %d bytes more than before" % (h - base_heap))
    check(not sanitizer_errors(sw), "sanitizer: %s" % sanitizer_errors(sw)[:3])
    sw.stop()


@test
def a_burst_of_jumbo_datagrams_to_a_1500_byte_mtu(scope):
    """Guest d (no offloads; MTU 9,000 in the guest) sends 16 UDP
    datagrams of 9,000 bytes without DF to the kernel pod (MTU 1,500), all
    posted at once, as a guest at speed does: the switch reads them in one
    burst. Each becomes 7 fragments, 6 of them added packets; a burst has
    room for PSW_EXTRA_MAX (64) added packets, so from the 11th datagram on
    fragment() failed and the datagram was dropped (frag_no_room; the
    attack's hit). Now psw_vhostport_rx holds the frames whose fragments (for
    an MTU of 1,280) would pass the room left, for the next burst, as it
    holds a second TSO frame. Expected: the pod's socket reads the 16
    datagrams."""
    sw, ns, gd, ge = setup(scope, d_features=PLAIN)
    rx = udp_receiver(scope, ns, 3)
    st0 = sw.ok("stats")
    data = pattern(9000 - 42)
    for k in range(16):
        gd.post_tx(udp4(GIP, KIP, 7000, 7000, data, ident=900 + k), kick=k == 15, publish=k == 15)
    lens = []
    while len(lens) < 16:
        line = rx.stdout.readline().split()
        if not line:
            break
        lens.append(int(line[0]))
    d = delta(sw, st0)
    check(lens == [len(data)] * 16, "the kernel pod read %d of 16 datagrams of 9,000 bytes; switch: %s" %
          (len(lens), d))
    sw.stop()


@test
def a_short_datagram_in_a_jumbo_frame_is_not_sent_over_the_mtu(scope):
    """Guest d (no offloads) sends a 9,000-byte frame whose IPv4 header says
    100 bytes (8,886 bytes of trailer after the datagram), to guest e whose
    port's MTU is 1,500. forward met the IP length (100) with the MTU, not
    the frame's, and the 9,000-byte frame went to e as it was (the attack's
    hit). Now the frame's length is what meets the MTU, and past it the
    bytes after the datagram are cut: e gets the datagram, 114 bytes."""
    sw, ns, gd, ge = setup(scope, mtu_e=1500, d_features=PLAIN)
    st0 = sw.ok("stats")
    fr = udp4(GIP, HIP, 7000, 7000, pattern(100 - 28))
    gd.post_tx(fr + bytes(9000 - len(fr)), kick=True)
    got = [f for f in frames_until(ge, lambda f: is_ip(f, GIP, HIP, 17), 1, timeout=1) if is_ip(f, GIP, HIP, 17)]
    check([len(f) for f in got] == [114], "guest e (MTU 1,500) got frames of %s; switch: %s" %
          ([len(f) for f in got], delta(sw, st0)))
    sw.stop()


def stable_mbufs(sw):
    time.sleep(0.3)
    return mbufs(sw)


# ------------------------------------------------------------ the second attack (room, held frames)

@test
def chained_jumbo_frame_to_a_guest_with_a_9000_byte_mtu(scope):
    """Guest d (no offloads) sends UDP datagrams of 65,400 bytes (past an
    external buffer's limit: the vhost library chains 2 KB mbufs, and
    without an offload request the port leaves the chain as it is) to guest
    e, whose port's MTU is 9,000. forward_one met the first segment's
    data_len (2 KB) with MTU + 14, so the chain took the fast path and
    reached e whole (the second attack's hit; now the chain's pkt_len).
    Expected: nothing over 9,014 bytes
    reaches e; DF set: ICMP fragmentation needed (MTU 9,000) to d, or a
    counted drop; DF clear: dropped as mtu_exceeded (a chain is not
    fragmentable), as the same frames to the kernel pod (MTU 1,500) are."""
    sw, ns, gd, ge = setup(scope, d_features=PLAIN)
    st0 = sw.ok("stats")
    pe0 = port(sw, "pe")
    gd.post_tx(udp4(GIP, HIP, 7000, 7000, pattern(65400 - 42), df=True, ident=11), kick=True)
    gd.post_tx(udp4(GIP, HIP, 7000, 7000, pattern(65400 - 42, 3), df=False, ident=12), kick=True)
    got = frames_until(ge, lambda f: is_ip(f, GIP, HIP, 17), 2, timeout=1.5)
    big = [len(f) for f in got if len(f) > 14 + 9000]
    d = delta(sw, st0)
    pe = port(sw, "pe")
    check(not big, "guest e (MTU 9,000) got frames of %s bytes (over 9,014); e's port tx +%d; switch: %s" %
          (big, pe["tx"] - pe0["tx"], d))
    check(d.get("mtu_exceeded", 0) >= 1, "the chained datagrams were not counted as mtu_exceeded: %s" % d)
    check(sw.proc.poll() is None and not sanitizer_errors(sw), "the switch died or erred: %s" % sanitizer_errors(sw))
    sw.stop()


@test
def held_frames_of_a_guest_that_goes_away_are_given_back(scope):
    """Guest d posts 200 TSO frames of 64,000 bytes at once (the switch
    reads 32 a burst and holds all but one of them for the next bursts)
    and closes its connection at once; no driver comes back. The frames
    held for the gone device stayed in p->held (the second attack's hit).
    Now the worker polling the queue frees them when it finds the driver
    gone: the ordinary and 64 KB mbufs taken come back to what they were
    before."""
    sw, ns, gd, ge = setup(scope, d_features=OL, e_features=OL)
    seq = handshake(sw, gd, ge, 45000, 5004)
    base = stable_mbufs(sw)
    fr = tcp4(GIP, HIP, 45000, 5004, seq, 5001, PSH | ACK, pattern(64000 - 54), partial=True)
    for k in range(200):
        gd.post_tx(fr, kick=k == 199, vhdr=(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16), publish=k == 199)
    time.sleep(0.002)
    gd.close()
    mid = mbufs(sw)
    ok = wait_until(lambda: mbufs(sw) == base, 3)
    print("    (right after the close: mbufs %s; d's port %s)" % (mid, {k: v for k, v in port(sw, "pd").items() if k.startswith("rx")}))
    now = mbufs(sw)
    check(ok, "with d gone (no driver back): mbufs taken (ordinary, 64 KB) %s, before %s: frames held for "
          "the gone device are never freed" % (now, base))
    check(sw.proc.poll() is None and not sanitizer_errors(sw), "the switch died or erred: %s" % sanitizer_errors(sw))
    sw.stop()


@test
def a_mixed_burst_keeps_the_tcp_stream_in_order(scope):
    """One burst from guest d (OL) to guest e (PLAIN, MTU 9,000): small
    TCP segments, TSO frames (6,000 bytes, 1,448-byte segments) and jumbo UDP datagrams
    without DF (to the kernel pod, fragmented) interleaved, 30 frames
    posted at once. Held frames go in order: e's TCP payload, concatenated
    in arrival order, is the stream byte for byte; the pod reads every
    datagram."""
    sw, ns, gd, ge = setup(scope, d_features=OL)
    rx = udp_receiver(scope, ns, 3)
    seq0 = seq = handshake(sw, gd, ge, 46000, 5005)
    stream = b""
    n_udp = 0
    frames = []
    for i in range(30):
        kind = i % 3
        if kind == 0:
            data = pattern(700, i)
            frames.append((tcp4(GIP, HIP, 46000, 5005, seq, 5001, PSH | ACK, data), None))
        elif kind == 1:
            data = pattern(6000, i)          # 5 segments of at most 1,448 (e's RX ring: 64 buffers)
            frames.append((tcp4(GIP, HIP, 46000, 5005, seq, 5001, PSH | ACK, data, partial=True),
                           (NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16)))
        else:
            frames.append((udp4(GIP, KIP, 7000, 7000, pattern(9000 - 42, i), ident=2000 + i), None))
            n_udp += 1
            continue
        stream += data
        seq += len(data)
    st0 = sw.ok("stats")
    for k, (f, v) in enumerate(frames):
        gd.post_tx(f, kick=k == len(frames) - 1, vhdr=v, publish=k == len(frames) - 1)
    got = []
    end = time.time() + 4
    while time.time() < end:
        got += [f for _, f in ge.frames() if is_ip(f, GIP, HIP, 6)]
        if sum(len(f) - 54 for f in got) >= len(stream):
            break
        time.sleep(0.02)
    seqs = [struct.unpack("!I", f[38:42])[0] for f in got]
    payload = b"".join(f[54:14 + struct.unpack("!H", f[16:18])[0]] for f in got)
    check(payload == stream and seqs == sorted(seqs) and seqs[0] == seq0,
          "e's TCP stream: %d bytes of %d, in order %s; switch: %s" %
          (len(payload), len(stream), seqs == sorted(seqs), delta(sw, st0)))
    lens = []
    while len(lens) < n_udp:
        line = rx.stdout.readline().split()
        if not line:
            break
        lens.append(int(line[0]))
    check(len(lens) == n_udp, "the kernel pod read %d of %d jumbo datagrams; %s" % (len(lens), n_udp, delta(sw, st0)))
    check(sw.proc.poll() is None and not sanitizer_errors(sw), "the switch died or erred: %s" % sanitizer_errors(sw))
    sw.stop()


@test
def trailing_bytes_and_short_frames(scope):
    """Guest d (no offloads) to kernel pod (MTU 1,500) and guest e (MTU
    1,500): a 1,500-byte datagram plus 1 byte of padding (a 1,515-byte
    frame) arrives as its 1,514 bytes; a frame whose IPv4 total length is
    larger than the frame is dropped (ip4_bad_len) and nothing reaches e; a
    100-byte datagram in a 3,000-byte frame reaches the pod's socket whole."""
    sw, ns, gd, ge = setup(scope, mtu_e=1500, d_features=PLAIN)
    st0 = sw.ok("stats")
    fr = udp4(GIP, HIP, 7000, 7000, pattern(1500 - 28))
    gd.post_tx(fr + b"\xee", kick=True)
    got = [f for f in frames_until(ge, lambda f: is_ip(f, GIP, HIP, 17), 1, timeout=1) if is_ip(f, GIP, HIP, 17)]
    check([len(f) for f in got] == [1514] and got[0][34:] == fr[34:],
          "exact MTU + 1 byte: e got %s; %s" % ([len(f) for f in got], delta(sw, st0)))
    st0 = sw.ok("stats")
    fr = udp4(GIP, HIP, 7000, 7000, pattern(200), total=1400)
    gd.post_tx(fr, kick=True)
    got = [f for f in frames_until(ge, lambda f: is_ip(f, GIP, HIP, 17), 1, timeout=0.5) if is_ip(f, GIP, HIP, 17)]
    d = delta(sw, st0)
    check(not got and d.get("ip4_bad_len", 0) == 1, "an IP length past the frame: e got %s; %s" % ([len(f) for f in got], d))
    rx = udp_receiver(scope, ns, 2)
    fr = udp4(GIP, KIP, 7000, 7000, pattern(72))
    gd.post_tx(fr + bytes(3000 - len(fr)), kick=True)
    line = rx.stdout.readline().split()
    check(line and int(line[0]) == 72, "the pod read %s of a 100-byte datagram in 3,000 bytes" % line)
    check(sw.proc.poll() is None and not sanitizer_errors(sw), "the switch died or erred: %s" % sanitizer_errors(sw))
    sw.stop()


if __name__ == "__main__":
    main()
