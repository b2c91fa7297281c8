#!/usr/bin/python3
"""Soak: one switch for a given wall time while pods come and go, Services
and NetworkPolicies change, and every kind of traffic flows, including
malformed frames; at the end the switch must hold what it held at the start.

    soak.py [MINUTES]        (default 10; scripts/soak runs it)

Two long-lived pods (attached through libcni) exchange a steady ping (IPv4
and IPv6) and an echoed TCP stream, checked byte for byte, the whole time.
Each round attaches three pods through libcni, starts TCP and UDP servers
in them, applies a Service selecting them, applies, changes and deletes a
NetworkPolicy (probing what it allows and denies), runs TCP connects and
UDP requests through the ClusterIP and pod to pod (IPv4 and IPv6), pings
the gateway, sends a few thousand malformed frames from one pod (a scapy
fuzz() corpus, saved as a pcap), then deletes the Service and detaches
the pods.

At the end, after the connection table has drained: mbufs in use, file
descriptors, ports, attachments and conntrack entries are back to the
baseline taken after setup, resident memory has not grown by more than
16 MiB (or 10%), the switch still runs and stops cleanly, and every drop
counter that grew is explained: malformed frames explain the parse, guard
and conntrack reasons while they are sent; policy probes explain policy
drops; kernel pods' own multicast and neighbour chatter explains
multicast / nd_ignored / arp_ignored. Anything else is a failure.

The corpus, the switch log and a JSON summary are kept in
PSW_SOAK_OUT (default /tmp/psw-soak-DATE-TIME).
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pswtest  # noqa: E402
from pswtest import GW_MAC, Netns, Switch, check, kill_group, main, ping, run, test  # noqa: E402
import test_cni  # noqa: E402  (Runtime: the libcni client)
import test_services  # noqa: E402  (apply, service_ip)

# importing the test files registered their tests: this file runs only its own
pswtest._tests[:] = []

PY = "/usr/bin/python3"
NS = "soak"
GW4, GW6 = "10.244.0.1", "fd00:10:244::1"
# the pod that sends the malformed frames: a fixed address each round
# (runtimeConfig), so the corpus is built for it and the address is reused
FUZZ_IP4, FUZZ_IP6, FUZZ_MAC = "10.244.0.200", "fd00:10:244::c8", "02:00:00:00:00:c8"
PODS_PER_ROUND = 3
FRAMES_PER_ROUND = int(os.environ.get("PSW_SOAK_FRAMES", "3000"))
STREAM_PORT = 7000
# Findings of the first one-hour soak, now strict by default:
# - single malformed TCP frames left connections held for a day after
#   their pods were gone (a pick-up opened by its one packet as the reply):
#   fixed, a pick-up seen one way only goes after 30 s;
# - spoof_mac grew while kernel pods were attached (15 in 20 attaches at
#   the time); no longer seen (0 in 60) since the CNI plugin removes a
#   stale host end of its own name before cni.add.
# PSW_SOAK_STRICT=0 reports both as known findings instead of failing.
STRICT = os.environ.get("PSW_SOAK_STRICT", "1") == "1"
KNOWN_FUZZ_ENTRIES = not STRICT
KNOWN_ATTACH_DROPS = set() if STRICT else {"spoof_mac"}

# Drop reasons malformed frames explain (while they are being sent).
MALFORMED_DROPS = {
    "runt", "vlan_stack", "unknown_ethertype", "l2_not_for_us", "ip4_bad_version", "ip4_bad_ihl",
    "ip4_bad_len", "ip4_bad_csum", "ip6_bad_version", "ip6_bad_len", "ip6_bad_ext", "l4_truncated",
    "arp_bad", "arp_ignored", "nd_ignored", "nd_bad", "spoof_mac", "spoof_ip", "multicast", "link_local",
    "to_gateway", "ttl_exceeded", "no_route", "ct_invalid", "ct_out_of_window", "svc_not_tracked",
    "svc_no_endpoint", "policy_ingress", "policy_egress", "punt_limit",
    # a fuzzed frame to a ClusterIP can take the reply tuple of a direct
    # flow another fuzzed frame made (random source ports, the same backend)
    "ct_clash",
}
# Drop reasons the rest of the soak explains: policy probes that must be
# denied, and kernel pods' own chatter (IPv6 MLD and router solicitations to
# multicast, neighbour solicitations the switch does not answer, ARP probes).
BACKGROUND_DROPS = {"policy_ingress", "policy_egress", "multicast", "nd_ignored", "arp_ignored"}

# A UDP server answering each datagram with the pod's name: one process, no
# fork (socat's UDP-RECVFROM,fork can hand a datagram to a child that has
# already answered, and the client then sees silence with no drop anywhere).
UDP_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[2])))
answer = (sys.argv[1] + "\n").encode()
while True:
    _, peer = s.recvfrom(4096)
    s.sendto(answer, peer)
"""

STREAM_CLIENT = r"""
import json, os, signal, socket, sys, time
dst, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CHUNK, PERIOD = 16384, 0.02
st = {"sent": 0, "echoed": 0, "max_rtt": 0.0, "error": None, "started": time.time(), "done": False}
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
def save():
    with open(out + ".tmp", "w") as f:
        json.dump(st, f)
    os.rename(out + ".tmp", out)
try:
    s = socket.create_connection((dst, port), timeout=10)
    s.settimeout(30)
    last = 0
    while not stop:
        data = os.urandom(CHUNK)
        t0 = time.monotonic()
        s.sendall(data)
        st["sent"] += len(data)
        got = b""
        while len(got) < len(data):
            part = s.recv(len(data) - len(got))
            if not part:
                raise IOError("the echo server closed the stream")
            got += part
        if got != data:
            raise IOError("echoed bytes differ at offset %d" % st["echoed"])
        st["echoed"] += len(got)
        st["max_rtt"] = max(st["max_rtt"], time.monotonic() - t0)
        if time.monotonic() - last > 1:
            save()
            last = time.monotonic()
        time.sleep(PERIOD)
    s.close()
except Exception as e:
    st["error"] = "%s: %s" % (type(e).__name__, e)
st["done"] = True
save()
"""


# ---------------------------------------------------------------- malformed frames

def build_corpus(seed, count, mac, ip4, ip6, dst4, dst6):
    """count frames (bytes) from a pod at mac/ip4/ip6, mostly addressed to
    the gateway MAC, to dst4/dst6 (pods, the gateway, a ClusterIP, outside):
    scapy fuzz() headers, truncations, bad lengths, checksums and IHL,
    fragments, VLAN stacks, IPv6 extension chains, ARP and ND, ICMP errors
    quoting random packets, spoofed sources. Deterministic for a seed."""
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.all import (ARP, ICMP, IP, SCTP, TCP, UDP, Dot1Q, Ether, ICMPv6DestUnreach,
                           ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS,
                           ICMPv6PacketTooBig, ICMPv6TimeExceeded, IPerror, IPerror6, IPv6,
                           IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                           IPv6ExtHdrRouting, Raw, TCPerror, UDPerror, fragment, fragment6, fuzz, raw)
    random.seed(seed)
    R = random.Random(seed)

    def payload(n=None):
        return Raw(bytes(R.getrandbits(8) for _ in range(R.randint(0, 200) if n is None else n)))

    def eth(dst=GW_MAC, src=mac):
        return Ether(src=src, dst=dst)

    def l4():
        return fuzz(R.choice([TCP(), UDP(), ICMP(), SCTP()]))

    def l4_6():
        return fuzz(R.choice([TCP(), UDP(), ICMPv6EchoRequest(), SCTP()]))

    def valid4():
        p = R.choice([TCP(sport=R.randint(1024, 65535), dport=R.choice([80, 8080, 53, 5353, 22]),
                          flags=R.choice(["S", "SA", "A", "R", "F", "PA", "FPU", ""])),
                      UDP(sport=R.randint(1024, 65535), dport=R.choice([53, 5353, 80])),
                      ICMP(type=R.choice([0, 8, 3, 11, 5, 13]))])
        return IP(src=ip4, dst=R.choice(dst4), ttl=R.choice([64, 1, 2])) / p / payload()

    def valid6():
        p = R.choice([TCP(sport=R.randint(1024, 65535), dport=R.choice([80, 8080, 53]),
                          flags=R.choice(["S", "A", "R", "F", "PA"])),
                      UDP(sport=R.randint(1024, 65535), dport=R.choice([53, 5353])),
                      ICMPv6EchoRequest()])
        return IPv6(src=ip6, dst=R.choice(dst6), hlim=R.choice([64, 1])) / p / payload()

    def ext_chain():
        hdrs = [IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment]
        p = None
        for _ in range(R.randint(1, 6)):
            h = R.choice(hdrs)()
            h = fuzz(h) if R.random() < 0.5 else h
            p = h if p is None else p / h
        return p

    def kind_fuzz_l4():
        return "fuzz_l4", eth() / IP(src=ip4, dst=R.choice(dst4)) / l4() / payload()

    def kind_fuzz_ip4():
        return "fuzz_ip4", eth() / fuzz(IP(version=4, src=ip4, dst=R.choice(dst4))) / l4() / payload()

    def kind_fuzz_ip4_any():
        return "fuzz_ip4_any", eth() / fuzz(IP(src=ip4, dst=R.choice(dst4))) / payload()

    def kind_bad_ip4():
        p = eth() / valid4()
        b = bytearray(raw(p))
        what = R.choice(["ihl", "len_short", "len_long", "csum", "version", "ttl0", "options"])
        if what == "ihl":
            b[14] = 0x40 | R.choice([0, 1, 2, 3, 4, 6, 9, 15])
        elif what == "len_short":
            b[16:18] = R.randint(0, 19).to_bytes(2, "big")
        elif what == "len_long":
            b[16:18] = (len(b) - 14 + R.randint(1, 4000)).to_bytes(2, "big")
        elif what == "csum":
            b[24] ^= 1 + R.getrandbits(7)
        elif what == "version":
            b[14] = (R.choice([0, 1, 5, 6, 7, 15]) << 4) | 5
        elif what == "ttl0":
            b[22] = 0
        else:
            p = eth() / IP(src=ip4, dst=R.choice(dst4), options=payload(R.choice([1, 3, 4, 8, 40])).load) / \
                UDP(dport=53) / payload()
            return "ip4_options", p
        return "ip4_" + what, bytes(b)

    def kind_truncated():
        p = eth() / (valid4() if R.random() < 0.6 else valid6())
        b = raw(p)
        return "truncated", b[:R.randint(14, max(14, len(b) - 1))]

    def kind_runt():
        return "runt", raw(eth())[:14] + payload(R.randint(0, 19)).load

    def kind_fragments():
        big = IP(src=ip4, dst=R.choice(dst4), id=R.getrandbits(16)) / UDP(dport=R.choice([53, 5353])) / \
            payload(R.randint(600, 1400))
        frags = fragment(big, fragsize=R.choice([8, 64, 256, 512]))
        R.shuffle(frags)
        return "frag4", [eth() / f for f in frags[:R.randint(1, min(len(frags), 8))]]

    def kind_frag_odd():
        p = IP(src=ip4, dst=R.choice(dst4), flags=R.choice([0, 1, 2, 3]), frag=R.getrandbits(13),
               id=R.getrandbits(16)) / payload()
        return "frag4_odd", eth() / p

    def kind_fragments6():
        big = IPv6(src=ip6, dst=R.choice(dst6)) / IPv6ExtHdrFragment(id=R.getrandbits(32)) / \
            UDP(dport=53) / payload(R.randint(700, 1400))
        frags = fragment6(big, R.choice([600, 1000, 1280]))
        R.shuffle(frags)
        return "frag6", [eth() / f for f in frags]

    def kind_frag6_odd():
        h = IPv6ExtHdrFragment(offset=R.getrandbits(13), m=R.getrandbits(1), id=R.getrandbits(32),
                               nh=R.choice([6, 17, 58, 0, 60, 43, 44]))
        return "frag6_odd", eth() / IPv6(src=ip6, dst=R.choice(dst6)) / h / payload()

    def kind_vlan():
        p = eth()
        for _ in range(R.randint(1, 4)):
            p = p / Dot1Q(vlan=R.getrandbits(12), type=R.choice([0x8100, 0x88a8, 0x0800, 0x86dd]))
        return "vlan", p / (valid4() if R.random() < 0.5 else valid6())

    def kind_fuzz_ip6():
        return "fuzz_ip6", eth() / fuzz(IPv6(src=ip6, dst=R.choice(dst6))) / l4_6() / payload()

    def kind_ip6_ext():
        return "ip6_ext", eth() / IPv6(src=ip6, dst=R.choice(dst6)) / ext_chain() / l4_6() / payload()

    def kind_bad_ip6():
        b = bytearray(raw(eth() / valid6()))
        what = R.choice(["plen_short", "plen_long", "version"])
        if what == "plen_short":
            b[18:20] = R.randint(0, 7).to_bytes(2, "big")
        elif what == "plen_long":
            b[18:20] = (len(b) - 54 + R.randint(1, 3000)).to_bytes(2, "big")
        else:
            b[14] = (R.choice([0, 4, 5, 7, 15]) << 4) | (b[14] & 0x0f)
        return "ip6_" + what, bytes(b)

    def kind_nd():
        m = R.choice([ICMPv6ND_NS(tgt=R.choice([GW6] + dst6)), ICMPv6ND_NA(tgt=ip6), ICMPv6ND_RS(), ICMPv6ND_RA()])
        dst_mac, dst_ip = R.choice([(GW_MAC, GW6), ("33:33:ff:00:00:01", "ff02::1:ff00:1"),
                                    ("33:33:00:00:00:02", "ff02::2")])
        m = fuzz(m) if R.random() < 0.5 else m
        return "nd", eth(dst=dst_mac) / IPv6(src=R.choice([ip6, "fe80::c8", "::"]), dst=dst_ip, hlim=255) / m

    def kind_arp():
        if R.random() < 0.5:
            a = fuzz(ARP())
        else:
            a = ARP(op=R.choice([1, 2, 3, 0]), hwsrc=mac, psrc=R.choice([ip4, "10.244.0.77", "0.0.0.0"]),
                    pdst=R.choice([GW4] + dst4), hwlen=R.choice([6, 6, 0, 8]), plen=R.choice([4, 4, 16, 0]))
        p = eth(dst=R.choice([GW_MAC, "ff:ff:ff:ff:ff:ff"])) / a
        b = raw(p)
        return "arp", b[:R.randint(14, len(b))] if R.random() < 0.2 else b

    def kind_icmp_error():
        inner = IPerror(src=R.choice(dst4 + ["192.0.2.9"]), dst=R.choice([ip4, "198.51.100.3"])) / \
            R.choice([UDPerror(sport=R.choice([53, 5353]), dport=R.randint(1024, 65535)),
                      TCPerror(sport=8080, dport=R.randint(1024, 65535))])
        outer = ICMP(type=R.choice([3, 11, 12, 4]), code=R.randint(0, 15))
        p = eth() / IP(src=ip4, dst=R.choice(dst4)) / outer / inner / payload(R.randint(0, 1200))
        return "icmp_error", p

    def kind_icmp6_error():
        inner = IPerror6(src=R.choice(dst6), dst=R.choice([ip6, "2001:db8::9"])) / \
            R.choice([UDPerror(sport=53, dport=R.randint(1024, 65535)), TCPerror(sport=8080)])
        outer = R.choice([ICMPv6DestUnreach(code=R.randint(0, 7)), ICMPv6PacketTooBig(mtu=R.getrandbits(32)),
                          ICMPv6TimeExceeded()])
        return "icmp6_error", eth() / IPv6(src=ip6, dst=R.choice(dst6)) / outer / inner / payload()

    def kind_spoof():
        if R.random() < 0.5:
            return "spoof_ip", eth() / IP(src="10.244.0.%d" % R.randint(2, 254), dst=R.choice(dst4)) / \
                UDP(dport=53) / payload()
        return "spoof_mac", eth(src="02:00:00:%02x:%02x:%02x" % tuple(R.getrandbits(8) for _ in range(3))) / \
            valid4()

    def kind_multicast():
        return "multicast", eth(dst=R.choice(["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "33:33:00:00:00:fb"])) / \
            (valid4() if R.random() < 0.5 else valid6())

    def kind_not_for_us():
        return "l2_other", eth(dst="02:%02x:%02x:%02x:%02x:%02x" % tuple(R.getrandbits(8) for _ in range(5))) / \
            valid4()

    def kind_ethertype():
        return "ethertype", Ether(src=mac, dst=GW_MAC, type=R.choice([0x88cc, 0x8847, 0x0806, 0x86dd, 0x0800,
                                                                    R.getrandbits(16)])) / payload()

    def kind_fuzz_ether():
        return "fuzz_ether", fuzz(Ether(src=mac)) / payload()

    def kind_tcp_flags():
        t = TCP(sport=R.randint(1024, 65535), dport=R.choice([80, 8080]), flags=R.getrandbits(9),
                seq=R.getrandbits(32), ack=R.getrandbits(32), window=R.getrandbits(16),
                dataofs=R.choice([None, None, 0, 4, 15]))
        return "tcp_flags", eth() / IP(src=ip4, dst=R.choice(dst4)) / t / payload()

    kinds = [(kind_fuzz_l4, 10), (kind_fuzz_ip4, 8), (kind_fuzz_ip4_any, 3), (kind_bad_ip4, 10),
             (kind_truncated, 8), (kind_runt, 2), (kind_fragments, 3), (kind_frag_odd, 3),
             (kind_fragments6, 2), (kind_frag6_odd, 3), (kind_vlan, 5), (kind_fuzz_ip6, 6),
             (kind_ip6_ext, 6), (kind_bad_ip6, 5), (kind_nd, 4), (kind_arp, 5), (kind_icmp_error, 5),
             (kind_icmp6_error, 3), (kind_spoof, 3), (kind_multicast, 2), (kind_not_for_us, 2),
             (kind_ethertype, 2), (kind_fuzz_ether, 2), (kind_tcp_flags, 8)]
    funcs, weights = [k for k, _ in kinds], [w for _, w in kinds]
    frames, by_kind = [], {}
    while len(frames) < count:
        name, p = R.choices(funcs, weights)[0]()
        for f in (p if isinstance(p, list) else [p]):
            b = f if isinstance(f, bytes) else raw(f)
            frames.append(b[:1514])
            by_kind[name] = by_kind.get(name, 0) + 1
    return frames[:count], by_kind


def send_frames_main(argv):
    """In the pod's namespace: build the corpus, save it, send it on iface."""
    seed, count, pcap, iface, mac, ip4, ip6, dst4, dst6 = argv
    frames, by_kind = build_corpus(int(seed), int(count), mac, ip4, ip6, dst4.split(","), dst6.split(","))
    from scapy.all import RawPcapWriter
    w = RawPcapWriter(pcap, linktype=1)
    for f in frames:
        w.write(f)
    w.close()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent, errors = 0, {}
    for i, f in enumerate(frames):
        try:
            s.send(f)
            sent += 1
        except OSError as e:
            errors[e.strerror] = errors.get(e.strerror, 0) + 1
        if i % 50 == 49:
            time.sleep(0.01)     # a few thousand frames per second: modest, no tx queue overrun
    print(json.dumps({"frames": len(frames), "sent": sent, "errors": errors, "kinds": by_kind}))


# ---------------------------------------------------------------- the soak

def rss(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssShmem", "RssFile", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def ctl_delete(sw, scope, text):
    path = scope.path("del%d.yaml" % time.time_ns())
    with open(path, "w") as f:
        f.write(text)
    return run([test_services.CTL, "-s", sw.sock, "delete", "-f", path])


def pod_manifest(name, labels):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS,
                       "labels": labels}, "spec": {"containers": [{"name": "c"}]}})


class Soak:
    def __init__(self, scope, minutes):
        self.scope, self.minutes = scope, minutes
        self.out = os.environ.get("PSW_SOAK_OUT") or time.strftime("/tmp/psw-soak-%Y%m%d-%H%M%S")
        os.makedirs(self.out, exist_ok=True)
        self.failures = []
        self.n = {"rounds": 0, "pods_attached": 0, "tcp_ok": 0, "udp_ok": 0, "ping_ok": 0,
                  "denied_ok": 0, "refused_ok": 0, "frames_sent": 0, "frames_built": 0,
                  "policy_changes": 0, "services": 0}
        self.kinds = {}
        self.rss_by_round, self.load_by_round = [], []
        self.fuzz_drops, self.other_drops, self.unexplained, self.known_drops = {}, {}, {}, []
        self.round, self.phase_name, self.phase_drops = "setup", "setup", {}

    def fail(self, msg):
        self.failures.append(msg)
        print("  soak: " + msg, flush=True)

    def drops(self):
        return self.sw.ok("stats")["drops"]

    def phase(self, name):
        """Close the phase running so far (its drops are judged against what
        it explains) and start the one called name."""
        now = self.drops()
        delta = {}
        self.add_drops(delta, self.phase_drops, now)
        allowed = MALFORMED_DROPS if self.phase_name == "malformed frames" else BACKGROUND_DROPS
        into = self.fuzz_drops if self.phase_name == "malformed frames" else self.other_drops
        self.add_drops(into, {}, delta)
        for k, v in delta.items():
            if self.phase_name.startswith("attach") and k in KNOWN_ATTACH_DROPS:
                self.known_drops.append("round %s, %s: %s +%d" % (self.round, self.phase_name, k, v))
                print("  soak: known finding: round %s, %s: %s grew by %d" % (self.round, self.phase_name, k, v),
                      flush=True)
            elif k not in allowed:
                self.unexplained[k] = self.unexplained.get(k, 0) + v
                self.fail("round %s, %s: drop counter %s grew by %d, which nothing there explains"
                          % (self.round, self.phase_name, k, v))
        self.phase_name, self.phase_drops = name, now

    def add_drops(self, into, a, b):
        for k in b:
            d = b[k] - a.get(k, 0)
            if d:
                into[k] = into.get(k, 0) + d

    # ------------------------------------------------------------ setup

    def setup(self):
        sc = self.scope
        self.sw = Switch(sc, "", workers="[1]").start()
        self.rt = test_cni.Runtime(sc, self.sw)
        test_services.apply(self.sw, sc, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n" % NS)
        self.keep_a, self.keep_b = Netns(sc), Netns(sc)
        ra = self.rt.add(self.keep_a, "soak-keep-a", "keep-a", NS)
        rb = self.rt.add(self.keep_b, "soak-keep-b", "keep-b", NS)
        test_services.apply(self.sw, sc, pod_manifest("keep-a", {"role": "client"}))
        test_services.apply(self.sw, sc, pod_manifest("keep-b", {"role": "other"}))
        self.a4, self.b4 = test_cni.pod_ip(ra), test_cni.pod_ip(rb)
        self.a6, self.b6 = test_cni.pod_ip(ra, 6), test_cni.pod_ip(rb, 6)
        # the round pods' namespaces are reused; their interfaces are not
        self.round_ns = [Netns(sc) for _ in range(PODS_PER_ROUND)]
        # the long-lived traffic: ping v4 and v6, and an echoed TCP stream
        check(ping(self.keep_a, self.b4, count=2)[1] == 2, "the long-lived pods cannot reach each other")
        self.keep_b.popen("exec socat TCP6-LISTEN:%d,ipv6only=0,reuseaddr PIPE" % STREAM_PORT)
        self.wait_listening(self.keep_b, STREAM_PORT)
        script = sc.path("stream.py")
        with open(script, "w") as f:
            f.write(STREAM_CLIENT)
        self.stream_status = sc.path("stream.json")
        self.udp_server = sc.path("udp_server.py")
        with open(self.udp_server, "w") as f:
            f.write(UDP_SERVER)
        self.stream = self.keep_a.popen("exec %s %s %s %d %s" % (PY, script, self.b4, STREAM_PORT,
                                                                  self.stream_status))
        self.ping4_out, self.ping6_out = sc.path("ping4.txt"), sc.path("ping6.txt")
        self.ping4 = self.keep_a.popen("exec ping -i 0.2 -W 2 %s" % self.b4, stdout=open(self.ping4_out, "w"))
        self.ping6 = self.keep_a.popen("exec ping -6 -i 1 -W 2 %s" % self.b6, stdout=open(self.ping6_out, "w"))
        end = time.time() + 10
        while time.time() < end and self.stream_state().get("echoed", 0) == 0:
            time.sleep(0.2)
        check(self.stream_state().get("echoed", 0) > 0, "the long-lived TCP stream does not flow: %s"
              % self.stream_state())
        time.sleep(2)
        self.phase("baseline")
        self.base = self.snapshot()
        print("  baseline: %s" % self.fmt(self.base), flush=True)

    def wait_listening(self, ns, port, proto="t", timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ns.sh("ss -Hl%sn 'sport = :%d'" % (proto, port), check_rc=False).stdout.strip():
                return
            time.sleep(0.05)
        raise pswtest.Failure("nothing listens on %s port %d in %s" % (proto, port, ns.name))

    def stream_state(self):
        try:
            with open(self.stream_status) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def snapshot(self):
        st = self.sw.ok("status")
        stats = self.sw.ok("stats")
        return {"mbufs_in_use": st["mbufs_in_use"], "ports": st["ports"], "attachments": st["attachments"],
                "pods": st["pods"], "fds": self.sw.fds(), "rss": rss(self.sw.proc.pid),
                "ct_entries": stats["conntrack"]["entries"], "conntrack": stats["conntrack"],
                "drops": stats["drops"]}

    @staticmethod
    def fmt(s):
        return ("mbufs_in_use %d, fds %d, VmRSS %d KiB (anon %d, shmem %d), conntrack entries %d, "
                "ports %d, attachments %d" % (s["mbufs_in_use"], s["fds"], s["rss"]["VmRSS"],
                                              s["rss"]["RssAnon"], s["rss"]["RssShmem"], s["ct_entries"],
                                              s["ports"], s["attachments"]))

    # ------------------------------------------------------------ one round

    def expect(self, what, ok, detail=""):
        if not ok:
            self.fail("round %d, %s: %s %s" % (self.round, self.phase_name, what, detail))
        return ok

    def tcp(self, ns, addr, port, timeout=3):
        fam = "TCP6:[%s]" % addr if ":" in addr else "TCP:%s" % addr
        r = ns.sh("socat -T %d - %s:%d,connect-timeout=%d </dev/null" % (timeout, fam, port, timeout),
                  check_rc=False, timeout=timeout + 10)
        return r.stdout.strip(), r.stderr.strip()

    def udp(self, ns, addr, port, timeout=2):
        fam = "UDP6:[%s]" % addr if ":" in addr else "UDP:%s" % addr
        r = ns.sh("echo hi | socat -T %d - %s:%d" % (timeout, fam, port), check_rc=False, timeout=timeout + 10)
        return r.stdout.strip(), r.stderr.strip()

    def evidence(self, addr, again):
        """What a failed probe leaves to go on: the drops of the phase so far,
        the newest connections to its address, and whether the same probe,
        repeated at once, is answered."""
        grown = {}
        self.add_drops(grown, self.phase_drops, self.drops())
        items = [e for e in self.sw.ok("get", {"kind": "conntrack"})["items"] if addr in (e["dst"], e["backend"])]
        items = sorted(items, key=lambda e: e["idle_seconds"])[:4]
        return "; drops in this phase so far %s; newest connections to it %s; load %.1f; repeated: %s" % (
            json.dumps(grown), json.dumps(items), os.getloadavg()[0], again())

    def allowed_tcp(self, ns, addr, port, names):
        out, err = self.tcp(ns, addr, port)
        if self.expect("TCP from %s to %s:%d" % (ns.name, addr, port), out in names, "answered %r %r%s"
                       % (out, err, "" if out in names else
                          self.evidence(addr, lambda: repr(self.tcp(ns, addr, port))))):
            self.n["tcp_ok"] += 1

    def allowed_udp(self, ns, addr, port, names):
        out, err = self.udp(ns, addr, port)
        if self.expect("UDP from %s to %s:%d" % (ns.name, addr, port), out in names, "answered %r %r%s"
                       % (out, err, "" if out in names else
                          self.evidence(addr, lambda: repr(self.udp(ns, addr, port))))):
            self.n["udp_ok"] += 1

    def denied(self, what, out):
        if self.expect("%s should be denied by the policy" % what, out == "", "but got %r" % out):
            self.n["denied_ok"] += 1

    def policy(self, version):
        rules = [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                  "ports": [{"protocol": "TCP", "port": 8080}]}]
        if version == 2:
            rules = [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                      "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "UDP", "port": 5353}]},
                     {"from": [{"podSelector": {"matchLabels": {"app": "soak-web"}}}]}]
        return json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                           "metadata": {"name": "soak-web", "namespace": NS},
                           "spec": {"podSelector": {"matchLabels": {"app": "soak-web"}},
                                    "policyTypes": ["Ingress"], "ingress": rules}})

    def one_round(self, i):
        self.round = i
        sw, sc, rt = self.sw, self.scope, self.rt
        pods, procs = [], []
        # attach through libcni; pod 0 at the fuzz pod's fixed address
        for k, ns in enumerate(self.round_ns):
            name, cid = "r%d-p%d" % (i, k), "soak-r%d-p%d" % (i, k)
            self.phase("attach %s%s" % (name, " (requested address and MAC)" if k == 0 else ""))
            cap = {"ips": [FUZZ_IP4 + "/24", FUZZ_IP6 + "/64"], "mac": FUZZ_MAC} if k == 0 else None
            r = rt.add(ns, cid, name, NS, cap=cap)
            pods.append({"ns": ns, "name": name, "cid": cid, "ip4": test_cni.pod_ip(r),
                         "ip6": test_cni.pod_ip(r, 6)})
            self.n["pods_attached"] += 1
        names = {p["name"] for p in pods}
        self.phase("servers and Service")
        test_services.apply(sw, sc, "\n---\n".join(pod_manifest(p["name"], {"app": "soak-web"}) for p in pods))
        for p in pods:
            procs.append(p["ns"].popen("exec socat -t 5 TCP6-LISTEN:8080,ipv6only=0,fork,reuseaddr SYSTEM:'echo %s; cat >/dev/null'"
                                       % p["name"]))
            procs.append(p["ns"].popen("exec %s %s %s 5353" % (PY, self.udp_server, p["name"])))
        for p in pods:
            self.wait_listening(p["ns"], 8080)
            self.wait_listening(p["ns"], 5353, proto="u")
        svc = ("apiVersion: v1\nkind: Service\nmetadata: {name: soak-web, namespace: %s}\n"
               "spec: {selector: {app: soak-web}, ports: [{name: t, port: 80, targetPort: 8080}, "
               "{name: u, port: 53, targetPort: 5353, protocol: UDP}]}\n" % NS)
        test_services.apply(sw, sc, svc)
        self.n["services"] += 1
        vip = test_services.service_ip(sw, "soak-web", NS)
        time.sleep(0.3)
        fuzz_now = i % 2 == 1          # odd rounds: malformed frames while a policy is in force
        # policy v1: only role=client, only TCP 8080
        self.phase("policy v1")
        test_services.apply(sw, sc, self.policy(1))
        self.n["policy_changes"] += 1
        time.sleep(0.3)
        self.allowed_tcp(self.keep_a, vip, 80, names)
        self.denied("UDP keep-a -> ClusterIP:53 under policy v1", self.udp(self.keep_a, vip, 53, timeout=1)[0])
        self.denied("TCP keep-b -> ClusterIP:80 under policy v1", self.tcp(self.keep_b, vip, 80, timeout=1)[0])
        # policy v2: UDP 5353 too, and the round's pods among themselves
        self.phase("policy v2")
        test_services.apply(sw, sc, self.policy(2))
        self.n["policy_changes"] += 1
        time.sleep(0.3)
        self.allowed_udp(self.keep_a, vip, 53, names)
        self.allowed_tcp(pods[1]["ns"], pods[2]["ip4"], 8080, {pods[2]["name"]})
        self.denied("TCP keep-b -> %s:8080 under policy v2" % pods[0]["ip4"],
                    self.tcp(self.keep_b, pods[0]["ip4"], 8080, timeout=1)[0])
        if fuzz_now:
            self.fuzz(pods, vip)
        self.phase("policy deleted, traffic")
        ctl_delete(sw, sc, self.policy(2))
        self.n["policy_changes"] += 1
        time.sleep(0.3)
        # no policy: everything through the ClusterIP and pod to pod, v4 and v6
        for ns in (self.keep_a, self.keep_b):
            for _ in range(4):
                self.allowed_tcp(ns, vip, 80, names)
                self.allowed_udp(ns, vip, 53, names)
        for p in pods:
            self.allowed_tcp(self.keep_b, p["ip4"], 8080, {p["name"]})
            self.allowed_tcp(self.keep_a, p["ip6"], 8080, {p["name"]})
            self.allowed_udp(self.keep_b, p["ip4"], 5353, {p["name"]})
            self.allowed_udp(self.keep_a, p["ip6"], 5353, {p["name"]})
        # ICMP errors: a closed UDP port answers unreachable, seen as refused
        _, err = self.udp(self.keep_a, pods[1]["ip4"], 9, timeout=2)
        if self.expect("UDP to a closed port", "refused" in err.lower(), "gave %r" % err):
            self.n["refused_ok"] += 1
        for p in pods:
            for dst, v6 in ((GW4, False), (GW6, True)):
                sent, got = ping(p["ns"], dst, count=2, interval=0.2, v6=v6)
                if self.expect("ping %s -> gateway %s" % (p["name"], dst), got == sent, "%d of %d" % (got, sent)):
                    self.n["ping_ok"] += got
        sent, got = ping(pods[2]["ns"], self.a6, count=2, interval=0.2, v6=True)
        if self.expect("ping6 %s -> keep-a" % pods[2]["name"], got == sent, "%d of %d" % (got, sent)):
            self.n["ping_ok"] += got
        if not fuzz_now:
            self.fuzz(pods, vip)
        # take it all down again
        self.phase("teardown")
        ctl_delete(sw, sc, svc)
        ctl_delete(sw, sc, "\n---\n".join(pod_manifest(p["name"], {}) for p in pods))
        for pr in procs:
            kill_group(pr)
        for p in pods:
            rt.cmd("del", p["ns"], p["cid"])
        self.phase("between rounds")
        self.n["rounds"] += 1
        r = rss(self.sw.proc.pid)
        self.rss_by_round.append([r["VmRSS"], r["RssAnon"], r["RssShmem"]])
        self.load_by_round.append(os.getloadavg()[0])
        if i == 0:
            self.warm = rss(self.sw.proc.pid)

    def fuzz(self, pods, vip):
        """A few thousand malformed frames from pod 0 (the fixed address)."""
        p = self.scope.path("corpus-%03d.pcap" % self.round)
        dst4 = [q["ip4"] for q in pods] + [self.a4, self.b4, GW4, vip, "192.0.2.9", "10.244.0.254",
                                           "169.254.1.1", "255.255.255.255", "224.0.0.1"]
        dst6 = [q["ip6"] for q in pods] + [self.a6, self.b6, GW6, "2001:db8::9", "fe80::1", "ff02::1"]
        self.phase("malformed frames")
        r = pods[0]["ns"].sh("%s %s --send-frames %d %d %s eth0 %s %s %s %s %s"
                             % (PY, os.path.abspath(__file__), self.round, FRAMES_PER_ROUND, p, FUZZ_MAC,
                                FUZZ_IP4, FUZZ_IP6, ",".join(dst4), ",".join(dst6)), timeout=300)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        self.n["frames_built"] += res["frames"]
        self.n["frames_sent"] += res["sent"]
        for k, v in res["kinds"].items():
            self.kinds[k] = self.kinds.get(k, 0) + v
        # the worker may be behind on a busy machine: the phase ends when the
        # sending pod's port has received nothing new for a second
        port = "cni-%s-eth0" % pods[0]["cid"]
        last, still, end = -1, 0, time.time() + 30
        while still < 4 and time.time() < end:
            rx = [q["rx"] for q in self.sw.ok("stats")["ports"] if q["name"] == port]
            still = still + 1 if rx == last else 0
            last = rx
            time.sleep(0.25)
        self.phase("after malformed frames")
        shutil.copy(p, self.out)

    # ------------------------------------------------------------ the end

    def live_entries(self):
        """Conntrack entries, less those of the known finding (TCP entries of
        the malformed-frame pod left ESTABLISHED: see KNOWN_FUZZ_ENTRIES)."""
        items = self.sw.ok("get", {"kind": "conntrack"})["items"]
        fuzz_tcp = [e for e in items if e["protocol"] == "TCP" and e["state"] == "ESTABLISHED" and
                    ({e["src"], e["dst"]} & {FUZZ_IP4, FUZZ_IP6})]
        return len(items) - (len(fuzz_tcp) if KNOWN_FUZZ_ENTRIES else 0), items, fuzz_tcp

    def finish(self, t_start):
        sw = self.sw
        t_churn = time.time() - t_start
        self.round = "end"
        self.phase("drain")
        print("  churn stopped after %d rounds (%.1f min); waiting for conntrack to drain"
              % (self.n["rounds"], t_churn / 60), flush=True)
        t0 = time.time()
        while True:
            live, items, known = self.live_entries()
            if live <= self.base["ct_entries"] or time.time() - t0 > 180:
                break
            time.sleep(5)
        drain_s = time.time() - t0
        time.sleep(1)
        self.phase("end")
        end = self.snapshot()
        # stop the long-lived traffic and read its results
        sock = self.keep_a.sh("ss -tinH dst %s" % self.b4, check_rc=False).stdout
        m = re.search(r"\bretrans:\d+/(\d+)", sock)
        retrans = int(m.group(1)) if m else 0
        os.killpg(self.stream.pid, signal.SIGTERM)
        self.stream.wait(40)
        for pr in (self.ping4, self.ping6):
            os.killpg(pr.pid, signal.SIGINT)
            pr.wait(10)
        stream = self.stream_state()
        pings = {}
        for v, path in (("ping4", self.ping4_out), ("ping6", self.ping6_out)):
            m = re.search(r"(\d+) packets transmitted, (\d+) received", open(path).read())
            pings[v] = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        # the checks
        b, w = self.base, self.warm
        if live > b["ct_entries"]:
            self.fail("conntrack did not drain in 180 s: %d entries (%d known), baseline %d; "
                      "left: %s" % (len(items), len(known), b["ct_entries"], json.dumps(items)[:3000]))
        if known:
            print("  known finding: %d conntrack entries of the malformed-frame pod left ESTABLISHED "
                  "(86400 s) by single malformed TCP frames, still there after the pods left: %s"
                  % (len(known), json.dumps(known[:3])), flush=True)
        if end["mbufs_in_use"] > b["mbufs_in_use"] + 1024:
            self.fail("mbufs leaked: %d -> %d in use" % (b["mbufs_in_use"], end["mbufs_in_use"]))
        if end["fds"] > b["fds"] + 1:
            self.fail("file descriptors leaked: %d -> %d" % (b["fds"], end["fds"]))
        # DPDK's memory (--no-huge: shared memory) becomes resident as it is
        # first touched, so resident memory is judged from the end of round 1;
        # on the switch's own pages (anonymous + shared), as the pages of
        # its libraries (RssFile) come and go with the page cache
        own_w = w["RssAnon"] + w["RssShmem"]
        grow = end["rss"]["RssAnon"] + end["rss"]["RssShmem"] - own_w
        if grow > 16 * 1024 and grow > own_w / 10:
            self.fail("resident memory (anonymous + shared) grew by %d KiB after round 1 (%d -> %d)"
                      % (grow, own_w, own_w + grow))
        for k in ("ports", "attachments", "pods"):
            if end[k] != b[k]:
                self.fail("%s: %d at the start, %d at the end" % (k, b[k], end[k]))
        if stream.get("error") or not stream.get("echoed"):
            self.fail("the long-lived TCP stream broke: %s" % stream)
        for v, (sent, got) in pings.items():
            if sent == 0 or sent - got > sent // 1000:
                self.fail("long-lived %s lost %d of %d" % (v, sent - got, sent))
        total = {}
        self.add_drops(total, b["drops"], end["drops"])
        self.sw_ports = sw.ok("stats")["ports"]
        # the switch still runs and stops cleanly
        check(sw.proc.poll() is None, "podswitch is no longer running")
        final = sw.stop()
        log = sw.text()
        shutil.copy(sw.log, os.path.join(self.out, "podswitch.log"))
        summary = {
            "minutes": self.minutes, "churn_minutes": round(t_churn / 60, 1), "counts": self.n,
            "malformed_kinds": self.kinds, "drops_total": total, "drops_malformed_windows": self.fuzz_drops,
            "drops_outside": self.other_drops, "unexplained": self.unexplained,
            "baseline": {k: v for k, v in b.items() if k not in ("drops",)}, "rss_after_round_1": w,
            "rss_by_round": self.rss_by_round, "load_by_round": self.load_by_round,
            "end": {k: v for k, v in end.items() if k not in ("drops",)},
            "conntrack_drain_s": round(drain_s, 1), "conntrack_left": items, "stream": stream,
            "pings": pings, "stream_socket": sock.strip(), "stream_retransmits": retrans,
            "failures": self.failures, "known_findings": known, "known_attach_drops": self.known_drops,
            "final_counters_port_lines": {k: v for k, v in final.items() if k.startswith("port.")},
            "log_warnings": [l for l in log.splitlines() if re.search(r"(?i)error|warn|fail", l)][:50],
        }
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
        self.print_summary(summary, b, end)
        check(not self.failures, "%d finding(s), see above and %s/summary.json" % (len(self.failures), self.out))

    def print_summary(self, s, b, end):
        n = s["counts"]
        st = s["stream"]
        print("  ---- soak summary (%.1f min of churn, %.1f min asked) ----" % (s["churn_minutes"], self.minutes))
        print("  rounds %d; pods attached and detached through libcni %d; Services %d; policy changes %d"
              % (n["rounds"], n["pods_attached"], n["services"], n["policy_changes"]))
        print("  connections: TCP %d, UDP %d answered; %d denied as the policy said; %d ICMP port "
              "unreachable seen; %d pings to the gateway and pods"
              % (n["tcp_ok"], n["udp_ok"], n["denied_ok"], n["refused_ok"], n["ping_ok"]))
        print("  malformed frames: %d sent (%d built) in %d kinds; corpora in %s"
              % (n["frames_sent"], n["frames_built"], len(self.kinds), self.out))
        print("  long-lived: ping4 %d/%d, ping6 %d/%d answered; TCP stream %.1f MiB echoed byte-exact, "
              "slowest 16 KiB round trip %.3f s, %d segments retransmitted"
              % (s["pings"]["ping4"][1], s["pings"]["ping4"][0], s["pings"]["ping6"][1], s["pings"]["ping6"][0],
                 st.get("echoed", 0) / 1048576, st.get("max_rtt", 0), s["stream_retransmits"]))
        ports = self.sw_ports
        print("  pod ports (kernel side losses): %s" % ", ".join("%s rx_missed %d tx_drop %d rx_nombuf %d"
              % (p["name"], p["rx_missed"], p["tx_drop"], p["rx_nombuf"]) for p in ports))
        print("  baseline: %s" % self.fmt(b))
        print("  end:      %s" % self.fmt(end))
        own = end["rss"]["RssAnon"] + end["rss"]["RssShmem"]
        print("  VmRSS %+d KiB since the baseline; anonymous + shared %+d KiB since the baseline, %+d KiB "
              "since the end of round 1" % (end["rss"]["VmRSS"] - b["rss"]["VmRSS"],
                                            own - b["rss"]["RssAnon"] - b["rss"]["RssShmem"],
                                            own - self.warm["RssAnon"] - self.warm["RssShmem"]))
        print("  conntrack drained to %d in %.0f s (inserts %d, expired %d, early %d, flushed %d)"
              % (end["ct_entries"], s["conntrack_drain_s"],
                 end["conntrack"]["inserts"], end["conntrack"]["expired"], end["conntrack"]["expired_early"],
                 end["conntrack"]["flushed"]))
        print("  drops during malformed frames: %s" % json.dumps(dict(sorted(s["drops_malformed_windows"].items()))))
        print("  drops the rest of the time: %s" % json.dumps(dict(sorted(s["drops_outside"].items()))))
        print("  known finding, spoof_mac while a pod is attached: %d of %d attaches, %d frames"
              % (len(self.known_drops), n["pods_attached"],
                 sum(int(k.rsplit("+", 1)[1]) for k in self.known_drops)))
        print("  unexplained drops: %s" % (json.dumps(s["unexplained"]) if s["unexplained"] else "none"))
        if self.load_by_round:
            print("  machine load (1-minute average, %d cores) over the rounds: median %.1f, max %.1f"
                  % (os.cpu_count(), sorted(self.load_by_round)[len(self.load_by_round) // 2],
                     max(self.load_by_round)))
        print("  findings: %s" % ("; ".join(self.failures) if self.failures else "none"), flush=True)


MINUTES = [10.0]


@test
def soak(scope):
    s = Soak(scope, MINUTES[0])
    s.setup()
    t_start = time.time()
    i = 0
    while time.time() - t_start < MINUTES[0] * 60 or i == 0:
        s.one_round(i)
        i += 1
        if i % 5 == 0:
            st = s.stream_state()
            print("  round %d, %.1f min: %d findings, stream %.1f MiB echoed, mbufs %d, fds %d, VmRSS %d KiB"
                  % (i, (time.time() - t_start) / 60, len(s.failures), st.get("echoed", 0) / 1048576,
                     s.sw.ok("status")["mbufs_in_use"], s.sw.fds(), rss(s.sw.proc.pid)["VmRSS"]), flush=True)
            print("    anonymous %d KiB, shared %d KiB" % tuple(s.rss_by_round[-1][1:]), flush=True)
        check(s.sw.proc.poll() is None, "podswitch died in round %d:\n%s" % (i, s.sw.text()[-3000:]))
    s.finish(t_start)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--send-frames":
        send_frames_main(sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) > 1:
        MINUTES[0] = float(sys.argv[1])
        del sys.argv[1:]
    main()
