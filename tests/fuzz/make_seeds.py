#!/usr/bin/python3
"""Write the seed corpora of tests/fuzz/corpus/<target>/ (run from anywhere).

Seeds are small, real inputs: frames built with scapy for the addresses
fuzz_stages.c sets up (pods V and W, the gateway, a Service VIP, NodePort,
IPv6), the shipped configuration files, manifests and API requests like the
ones the tests send, and CNI requests like a runtime's. Re-running rewrites
the seed-*.* files only; inputs merged in by scripts/fuzz -merge are kept.
"""
import json
import os
import struct
import sys

from scapy.layers.vxlan import VXLAN
from scapy.all import (ARP, Dot1Q, Ether, ICMP, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6DestUnreach,
                       ICMPv6PacketTooBig, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IP, IPv6, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop,
                       IPerror, Raw, SCTP, TCP, UDP, UDPerror, fragment, fragment6)

ROOT = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(ROOT))

GW_MAC, V_MAC, W_MAC, EXT_MAC = "02:50:53:57:00:01", "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:ee"
V, W, GW, NODE, EXT, VIP = "10.244.0.10", "10.244.0.11", "10.244.0.1", "192.168.50.1", "192.168.50.9", "10.96.0.16"
V6, W6, GW6, VIP6 = "fd00::a", "fd00::b", "fd00::1", "fd00::1010"
P_V, P_W, P_UPLINK, P_NODE = 0, 1, 2, 3
PLAIN = 0x80       # copy into an ordinary mbuf (room to grow) instead of a page end
OFFL = 0x40        # an offload request before the frame (fuzz_stages.c)


def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def burst(options, *frames):
    """fuzz_stages input: options byte, then [port][len16][frame] per frame."""
    out = bytes([options])
    for port, pkt in frames:
        raw = bytes(pkt)
        out += bytes([port]) + struct.pack(">H", len(raw)) + raw
    return out


def from_v(l3):
    return Ether(src=V_MAC, dst=GW_MAC) / l3


def from_w(l3):
    return Ether(src=W_MAC, dst=GW_MAC) / l3


def from_ext(l3):
    return Ether(src=EXT_MAC, dst=GW_MAC) / l3


def stage_seeds():
    syn = from_v(IP(src=V, dst=W) / TCP(sport=40000, dport=8080, flags="S", seq=1000))
    synack = from_w(IP(src=W, dst=V) / TCP(sport=8080, dport=40000, flags="SA", seq=5000, ack=1001))
    ack = from_v(IP(src=V, dst=W) / TCP(sport=40000, dport=8080, flags="A", seq=1001, ack=5001) / Raw(b"GET /"))
    fin = from_v(IP(src=V, dst=W) / TCP(sport=40000, dport=8080, flags="FA", seq=1006, ack=5001))
    rst = from_w(IP(src=W, dst=V) / TCP(sport=8080, dport=40000, flags="R", seq=5001))
    seeds = {
        "tcp-handshake": burst(0, (P_V, syn), (P_W, synack), (P_V, ack), (P_V, fin), (P_W, rst)),
        "tcp-handshake-policy": burst(1, (P_V, syn), (P_W, synack), (P_V, ack)),
        "vip-udp": burst(0, (P_V, from_v(IP(src=V, dst=VIP) / UDP(sport=33000, dport=53) / Raw(b"q" * 12))),
                         (P_W, from_w(IP(src=W, dst=V) / UDP(sport=5353, dport=33000) / Raw(b"a" * 20)))),
        "vip-tcp-affinity": burst(1, (P_V, from_v(IP(src=V, dst=VIP) / TCP(sport=41000, dport=80, flags="S"))),
                                  (P_W, from_w(IP(src=W, dst=V) / TCP(sport=8080, dport=41000, flags="SA", ack=1)))),
        "vip-reject": burst(0, (P_V | PLAIN, from_v(IP(src=V, dst=VIP) / TCP(sport=41001, dport=81, flags="S"))),
                            (P_V | PLAIN, from_v(IP(src=V, dst=VIP) / UDP(sport=41001, dport=81)))),
        "nodeport": burst(2, (P_UPLINK, from_ext(IP(src=EXT, dst=NODE) / TCP(sport=50000, dport=30080, flags="S"))),
                          (P_W, from_w(IP(src=W, dst=NODE) / TCP(sport=8080, dport=50000, flags="SA", ack=1)))),
        "node-stack": burst(1, (P_NODE, Ether(src="02:00:00:00:00:11", dst=GW_MAC) /
                                IP(src=NODE, dst=W) / TCP(sport=50001, dport=8080, flags="S"))),
        "uplink-spoof": burst(1, (P_UPLINK, from_ext(IP(src=V, dst=W) / UDP(sport=1, dport=2)))),
        "pod-spoof": burst(0, (P_V, from_v(IP(src=W, dst=V) / UDP(sport=1, dport=2))),
                           (P_V, Ether(src=W_MAC, dst=GW_MAC) / IP(src=V, dst=W) / UDP())),
        "arp": burst(0, (P_V | PLAIN, Ether(src=V_MAC, dst="ff:ff:ff:ff:ff:ff") /
                         ARP(op=1, hwsrc=V_MAC, psrc=V, pdst=GW)),
                     (P_W, Ether(src=W_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=W_MAC, psrc=W, pdst=V))),
        "nd": burst(0, (P_V | PLAIN, Ether(src=V_MAC, dst="33:33:ff:00:00:01") /
                        IPv6(src=V6, dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt=GW6) /
                        ICMPv6NDOptSrcLLAddr(lladdr=V_MAC))),
        "ping-gateway": burst(0, (P_V | PLAIN, from_v(IP(src=V, dst=GW) / ICMP(id=7, seq=1) / Raw(b"x" * 32))),
                              (P_V | PLAIN, from_v(IPv6(src=V6, dst=GW6) / ICMPv6EchoRequest(id=7, seq=1)))),
        "ping-pods": burst(1, (P_V, from_v(IP(src=V, dst=W) / ICMP(id=9))),
                           (P_W, from_w(IP(src=W, dst=V) / ICMP(type=0, id=9))),
                           (P_W, from_w(IP(src=W, dst=V) / ICMP(type=8, id=9)))),
        "ttl-exceeded": burst(0, (P_V | PLAIN, from_v(IP(src=V, dst="8.8.8.8", ttl=1) / UDP(sport=3, dport=33434))),
                              (P_V | PLAIN, from_v(IPv6(src=V6, dst="2001:db8::1", hlim=1) / UDP()))),
        "outside": burst(0, (P_V, from_v(IP(src=V, dst="8.8.8.8") / TCP(sport=40002, dport=443, flags="S"))),
                         (P_UPLINK, from_ext(IP(src="8.8.8.8", dst=V) / TCP(sport=443, dport=40002, flags="SA")))),
        "vlan": burst(0, (P_V, Ether(src=V_MAC, dst=GW_MAC) / Dot1Q(vlan=10) / IP(src=V, dst=W) / UDP()),
                      (P_V, Ether(src=V_MAC, dst=GW_MAC) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / IP(src=V, dst=W) / UDP()),
                      (P_V, Ether(src=V_MAC, dst=GW_MAC) / Dot1Q() / Dot1Q() / Dot1Q() / IP(src=V, dst=W) / UDP())),
        "ip-options": burst(0, (P_V, from_v(IP(src=V, dst=W, options=b"\x94\x04\x00\x00") / TCP(flags="S")))),
        "ip6-vip-udp": burst(0, (P_V, from_v(IPv6(src=V6, dst=VIP6) / UDP(sport=33001, dport=53))),
                             (P_W, from_w(IPv6(src=W6, dst=V6) / UDP(sport=5353, dport=33001)))),
        "ip6-ext": burst(0, (P_V, from_v(IPv6(src=V6, dst=W6) / IPv6ExtHdrHopByHop() / TCP(flags="S"))),
                         (P_V, from_v(IPv6(src=V6, dst=W6) / IPv6ExtHdrFragment(offset=0, m=1, id=5) / UDP() / Raw(b"f" * 16))),
                         (P_V, from_v(IPv6(src=V6, dst=W6) / IPv6ExtHdrFragment(offset=2, m=0, id=5) / Raw(b"g" * 16)))),
        "sctp": burst(0, (P_V, from_v(IP(src=V, dst=W) / SCTP(sport=5000, dport=5001) / Raw(b"\x01" + b"\x00" * 15)))),
    }
    frags = fragment(IP(src=V, dst=W) / UDP(sport=7, dport=7) / Raw(b"z" * 64), fragsize=32)
    seeds["ip4-fragments"] = burst(0, *[(P_V, from_v(f)) for f in frags])
    # a fragmented datagram to a Service: the later fragments follow the first's DNAT
    frags = fragment(IP(src=V, dst=VIP, id=77) / UDP(sport=33005, dport=53) / Raw(b"q" * 96), fragsize=32)
    seeds["ip4-fragments-vip"] = burst(0, *[(P_V, from_v(f)) for f in frags])
    # ... the later ones before their first (held, released when it comes),
    # in one burst and (options bit 6) in bursts of four
    seeds["ip4-fragments-vip-reversed"] = burst(0, *[(P_V, from_v(f)) for f in reversed(frags)])
    seeds["ip4-fragments-vip-reversed-bursts"] = burst(64, *([(P_V, from_v(f)) for f in reversed(frags[1:])] +
                                                             [(P_V, from_v(IP(src=V, dst=W) / UDP()))] * 2 +
                                                             [(P_V, from_v(frags[0]))]))
    # IPv6: in order, then reversed across bursts, to the IPv6 ClusterIP
    frags6 = fragment6(IPv6(src=V6, dst=VIP6) / IPv6ExtHdrFragment(id=0x10203) /
                       UDP(sport=33006, dport=53) / Raw(b"s" * 120), 104)
    seeds["ip6-fragments-vip"] = burst(0, *[(P_V, from_v(f)) for f in frags6])
    seeds["ip6-fragments-vip-reversed-bursts"] = burst(64, *([(P_V, from_v(f)) for f in reversed(frags6[1:])] +
                                                             [(P_V, from_v(IPv6(src=V6, dst=W6) / UDP()))] * 2 +
                                                             [(P_V, from_v(frags6[0]))]))
    # a flood of later fragments whose first never comes: the hold stays
    # bounded (oldest pushed out), the rest expire at the end (bit 7)
    flood = [(P_V, from_v(IP(src=V, dst=VIP, id=1000 + i, frag=4) / Raw(b"l" * 16))) for i in range(100)]
    seeds["fragments-without-first"] = burst(128, *flood)
    # A backend's ICMP error about a Service connection (un-NAT-ed: it quotes
    # the datagram as the backend received it, after DNAT), and a forged one.
    q = IPerror(src=V, dst=W) / UDPerror(sport=33000, dport=5353)
    seeds["icmp-error"] = burst(0, (P_V, from_v(IP(src=V, dst=VIP) / UDP(sport=33000, dport=53))),
                                (P_W, from_w(IP(src=W, dst=V) / ICMP(type=3, code=3) / bytes(q))),
                                (P_W, from_w(IP(src=W, dst="8.8.8.8") / ICMP(type=3, code=3) / bytes(q))))
    q6 = IPv6(src=V6, dst=W6) / UDP(sport=33001, dport=5353)
    seeds["icmp-error-tcp"] = burst(0, (P_V, from_v(IP(src=V, dst=VIP) / TCP(sport=41002, dport=80, flags="S", seq=7))),
                                    (P_W, from_w(IP(src=W, dst=V) / ICMP(type=3, code=4, nexthopmtu=1400) /
                                                 bytes(IPerror(src=V, dst=W) / TCP(sport=41002, dport=8080, flags="S", seq=7)))))
    seeds["icmp6-error"] = burst(0, (P_V, from_v(IPv6(src=V6, dst=VIP6) / UDP(sport=33002, dport=53))),
                                 (P_W, from_w(IPv6(src=W6, dst=V6) / ICMPv6DestUnreach(code=4) /
                                              bytes(IPv6(src=V6, dst=W6) / UDP(sport=33002, dport=5353)))))
    seeds["icmp6-error-hbh"] = burst(0, (P_V, from_v(IPv6(src=V6, dst=VIP6) / UDP(sport=33001, dport=53))),
                                     (P_W, from_w(IPv6(src=W6, dst=V6) / IPv6ExtHdrHopByHop() /
                                                  ICMPv6DestUnreach(code=4) / bytes(q6))))
    seeds["runts"] = burst(4, (P_V, Raw(b"\x02" * 13)), (P_V, Ether(src=V_MAC, dst=GW_MAC, type=0x800) / Raw(b"\x45")),
                           (P_V, Ether(src=V_MAC, dst=GW_MAC) / IP(src=V, dst=W, ihl=4) / Raw(b"\x00" * 8)))
    # VXLAN (options bit 3): from node 192.168.50.2 carrying its pod's packet
    # to V, a forged inner source, another VNI; V to the VXLAN route and to
    # the route whose next hop is not resolved (punted)
    up = Ether(src=EXT_MAC, dst="02:00:00:00:00:0c")
    inner = Ether(src="02:50:53:57:00:02", dst="00:00:00:00:00:00")
    seeds["vxlan"] = burst(8, (P_UPLINK, up / IP(src="192.168.50.2", dst=NODE) / UDP(sport=50001, dport=4789) /
                               VXLAN(vni=1, flags=8) / inner / IP(src="10.245.0.7", dst=V) / ICMP()),
                           (P_UPLINK, up / IP(src="192.168.50.2", dst=NODE) / UDP(sport=50001, dport=4789) /
                            VXLAN(vni=1, flags=8) / inner / IP(src="10.244.0.99", dst=V) / ICMP()),
                           (P_UPLINK, up / IP(src="192.168.50.2", dst=NODE) / UDP(sport=50001, dport=4789) /
                            VXLAN(vni=2, flags=8) / inner / IP(src="10.245.0.7", dst=V) / ICMP()),
                           (P_V, from_v(IP(src=V, dst="10.245.0.7") / UDP(sport=1, dport=2))),
                           (P_V, from_v(IP(src=V, dst="10.246.0.7") / UDP(sport=1, dport=2))),
                           (P_UPLINK, up / ARP(op=2, hwsrc=EXT_MAC, psrc="192.168.50.9", pdst=NODE)))
    # IPv6 (options bit 3): node-b's IPv6 pod in VXLAN to V6, V6 to the IPv6
    # VXLAN route and to the uplink's IPv6 subnet (punted); advertisements on
    # the uplink: well-formed (punted), hop limit 64 (ignored)
    seeds["vxlan-ip6"] = burst(8, (P_UPLINK, up / IP(src="192.168.50.2", dst=NODE) / UDP(sport=50001, dport=4789) /
                                   VXLAN(vni=1, flags=8) / inner / IPv6(src="fd00:245::7", dst=V6) / ICMPv6EchoRequest()),
                               (P_V, from_v(IPv6(src=V6, dst="fd00:245::7") / UDP(sport=1, dport=2))),
                               (P_V, from_v(IPv6(src=V6, dst="fd00:50::9") / UDP(sport=1, dport=2))),
                               (P_UPLINK, Ether(src=EXT_MAC, dst="02:00:00:00:00:0c") /
                                IPv6(src="fd00:50::9", dst="fd00:50::1", hlim=255) /
                                ICMPv6ND_NA(tgt="fd00:50::9", S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=EXT_MAC)),
                               (P_UPLINK, Ether(src=EXT_MAC, dst="02:00:00:00:00:0c") /
                                IPv6(src="fd00:50::9", dst="fd00:50::1", hlim=64) /
                                ICMPv6ND_NA(tgt="fd00:50::9", S=1, O=1)))
    # longer than the 1500-byte MTU: DF (answered), no DF (dropped), IPv6 (answered)
    seeds["too-big"] = burst(0, (P_V | PLAIN, from_v(IP(src=V, dst=W, flags="DF") / UDP() / Raw(b"b" * 1500))),
                             (P_V | PLAIN, from_v(IP(src=V, dst=W) / UDP() / Raw(b"b" * 1500))),
                             (P_V | PLAIN, from_v(IPv6(src=V6, dst=W6) / UDP() / Raw(b"b" * 1500))))
    # egress masquerade (options bit 4), IPv4 and IPv6, frame by frame (bit
    # 5): out and back, two pods with one source port, UDP, echo,
    # no_masquerade, packet too big, untracked (GRE, a later fragment); an
    # IPv6 NodePort from outside
    NODE6, OUT6 = "2001:db8:50::1", "2001:db8:99::1"
    seeds["egress-masq"] = burst(48, (P_V, from_v(IP(src=V, dst="8.8.8.8") / TCP(sport=40010, dport=443, flags="S"))),
                                 (P_UPLINK, up / IP(src="8.8.8.8", dst=NODE) / TCP(sport=443, dport=40010, flags="SA")),
                                 (P_W, from_w(IP(src=W, dst="8.8.8.8") / TCP(sport=40010, dport=443, flags="S"))),
                                 (P_V, from_v(IP(src=V, dst="172.31.98.1") / UDP(sport=40011, dport=53))),
                                 (P_V, from_v(IP(src=V, dst="8.8.8.8") / ICMP(id=5))))
    syn6 = IPv6(src=NODE6, dst=OUT6) / TCP(sport=40012, dport=443, flags="S")
    seeds["egress-masq6"] = burst(48, (P_V, from_v(IPv6(src=V6, dst=OUT6) / TCP(sport=40012, dport=443, flags="S"))),
                                  (P_UPLINK, up / IPv6(src=OUT6, dst=NODE6) / TCP(sport=443, dport=40012, flags="SA")),
                                  (P_W, from_w(IPv6(src=W6, dst=OUT6) / TCP(sport=40012, dport=443, flags="S"))),
                                  (P_V, from_v(IPv6(src=V6, dst=OUT6) / UDP(sport=40013, dport=53))),
                                  (P_V, from_v(IPv6(src=V6, dst=OUT6) / ICMPv6EchoRequest(id=6))),
                                  (P_V, from_v(IPv6(src=V6, dst="2001:db8:98::1") / UDP(sport=40014, dport=53))),
                                  (P_UPLINK | PLAIN, up / IPv6(src="2001:db8:77::fe", dst=NODE6) /
                                   ICMPv6PacketTooBig(mtu=1280) / bytes(syn6)),
                                  (P_V, from_v(IPv6(src=V6, dst=OUT6, nh=47) / Raw(b"\x00" * 8))),
                                  (P_V, from_v(IPv6(src=V6, dst=OUT6) / IPv6ExtHdrFragment(offset=2, m=0, id=9) /
                                               Raw(b"h" * 16))))
    seeds["nodeport6"] = burst(48, (P_UPLINK, up / IPv6(src="2001:db8:99::7", dst=NODE6) /
                                    TCP(sport=5555, dport=30080, flags="S")),
                               (P_UPLINK, up / IPv6(src="2001:db8:99::8", dst=NODE6) /
                                TCP(sport=5555, dport=30080, flags="S")),
                               (P_W, from_w(IPv6(src=W6, dst=NODE6) / TCP(sport=8080, dport=5555, flags="SA"))))
    # kernel pods' offload requests (port | OFFL: 8 bytes before the frame, fuzz_stages.c)
    def offload(pkt, start, off, kind, mss=0, tag=0):
        return struct.pack(">HBBHBB", start, off, kind, mss, tag, 0) + bytes(pkt)
    big = from_v(IP(src=V, dst=W, flags="DF") / TCP(sport=40001, dport=8080, flags="PA", seq=1, ack=1) /
                 Raw(b"d" * 1800))
    seeds["offloads"] = burst(
        0,
        (P_V | OFFL, offload(big, 34, 16, 4, 536)),                  # TCP segmentation, V -> W
        (P_V | OFFL | PLAIN, offload(from_v(IP(src=V, dst=VIP) / UDP(sport=33001, dport=53) / Raw(b"u" * 1200)),
                                     34, 6, 1 | 4 | 8, 400)),        # UDP segmentation to a ClusterIP
        (P_V | OFFL, offload(from_v(IP(src=V, dst=W) / TCP(sport=40002, dport=8080, flags="A") / Raw(b"x" * 90)),
                             34, 16, 0)),                            # a partial checksum alone
        (P_V | OFFL, offload(from_v(IP(src=V, dst=W) / UDP(sport=40003, dport=4789) / Raw(b"i" * 80)),
                             84, 6, 1)),                             # a tunnel's inner checksum (foreign)
        (P_V | OFFL, offload(from_v(IPv6(src=V6, dst=W6) / TCP(sport=40004, dport=8080, flags="A") /
                                    Raw(b"6" * 1500)), 54, 16, 4, 600)),
        (P_V | OFFL, offload(from_v(IP(src=V, dst=W) / TCP(sport=40005, dport=8080, flags="S") / Raw(b"s" * 600)),
                             34, 16, 4, 100)),                       # a SYN to cut: refused
        (P_V | OFFL, offload(big, 20, 16, 0)),                       # a checksum over the IP header: refused
        (P_V | OFFL, offload(from_v(IP(src=V, dst="10.245.0.9") / TCP(sport=40006, dport=80, flags="A") /
                                    Raw(b"o" * 1500)), 34, 16, 4, 700)))   # into the overlay
    for name, data in seeds.items():
        write("stages", name, data)


def config_seeds():
    with open(os.path.join(TOP, "config", "podswitch.conf.example")) as f:
        write("config", "example.conf", f.read())
    write("config", "minimal.conf", 'node = { pod_cidr = "10.244.1.0/24"; gateway = "10.244.1.1"; };\n')
    write("config", "ports.conf", """workers = { cores = [ 1 ]; idle_sleep_us = 0; };
node = { name = "n1"; pod_cidr = "10.244.0.0/24"; gateway = "10.244.0.1";
         pod_cidr6 = "fd00:10:244::/64"; gateway6 = "fd00:10:244::1"; gateway_mac = "02:50:53:57:00:01"; };
ports = ( { name = "up0"; kind = "af_packet"; iface = "eth1"; uplink = true; },
          { name = "p1"; kind = "tap"; iface = "psw1"; },
          { name = "v1"; kind = "vhost-user"; socket = "/run/podswitch/v1.sock"; },
          { name = "m1"; kind = "memif"; socket = "/run/podswitch/m1.sock"; id = 0; } );
pods = ( { namespace = "default"; name = "a"; port = "p1"; ip4 = "10.244.0.10"; mac = "02:00:00:00:00:0a"; } );
routes = ( { prefix = "0.0.0.0/0"; port = "up0"; mac = "02:00:00:00:00:ee"; },
           { prefix = "10.244.1.0/24"; port = "up0"; mac = "02:00:00:00:00:ef"; } );
limits = { mbufs = 8192; conntrack = 65536; };
""")


K8S = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"team": "a"}}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "prod", "name": "web-1", "labels": {"app": "web"}},
     "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
     "status": {"podIP": "10.244.0.10", "podIPs": [{"ip": "10.244.0.10"}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "prod", "name": "web"},
     "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "selector": {"app": "web"},
              "sessionAffinity": "ClientIP", "externalIPs": ["192.168.50.20"],
              "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"namespace": "prod", "name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
     "addressType": "IPv4", "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
     "endpoints": [{"addresses": ["10.244.0.10"], "conditions": {"ready": True}, "nodeName": "n1"},
                   {"addresses": ["10.244.0.11"], "conditions": {"ready": False}}]},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"namespace": "prod", "name": "allow"},
     "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
              "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
                  {"key": "team", "operator": "In", "values": ["a", "b"]}]}, "podSelector": {}},
                  {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                  "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}, {"port": "http"}]}],
              "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"protocol": "UDP", "port": 53}]}]}},
]


def yaml_of(obj, indent=0):
    """A small YAML writer (block style) for the seeds."""
    pad = "  " * indent
    out = ""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out += f"{pad}{k}:\n" + yaml_of(v, indent + 1)
            else:
                out += f"{pad}{k}: {json.dumps(v)}\n"
    else:
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = yaml_of(v, indent + 1)
                out += f"{pad}- " + inner.lstrip()
            else:
                out += f"{pad}- {json.dumps(v)}\n"
    return out


def manifest_seeds():
    write("manifest", "all.yaml", "---\n".join(yaml_of(o) for o in K8S))
    write("manifest", "list.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": K8S}, indent=1))
    write("manifest", "scalars.yaml", "a: ~\nb: 0x1F\nc: 1.5e3\nd: 'true'\ne: !!str 5\nf: &x [1, {g: *x}]\n"
          "h: |\n  text\n  more\ni: >-\n  folded\n")
    path = os.path.join(TOP, "config", "kubernetes", "podswitch-daemonset.yaml")
    if os.path.exists(path):
        with open(path) as f:
            write("manifest", "daemonset.yaml", f.read())


def api_seeds():
    def req(op, args=None):
        r = {"api": 1, "op": op}
        if args is not None:
            r["args"] = args
        return json.dumps(r, separators=(",", ":"))

    write("api", "version", req("version"))
    write("api", "status-stats", req("status") + "\n" + req("stats"))
    write("api", "apply-get-explain", "\n".join([
        req("apply", {"objects": K8S}),
        req("get", {"kind": "networkpolicies", "namespace": "prod"}),
        req("get", {"kind": "svc", "name": "web", "namespace": "prod"}),
        req("explain", {"from": "prod/web-1", "to": "service/prod/web", "proto": "tcp", "port": 80}),
        req("explain", {"from": "10.1.2.3", "to": "prod/web-1", "port": 8050}),
        req("delete", {"objects": [K8S[2]]}),
    ]))
    write("api", "apply-list", req("apply", {"objects": [{"apiVersion": "v1", "kind": "List", "items": K8S[:4]}]}))
    write("api", "cni", "\n".join([
        req("cni.add", {"container_id": "c1", "ifname": "eth0", "network": "podnet", "netns": "/var/run/netns/a",
                        "pod_namespace": "prod", "pod_name": "web-1", "interface": "kernel",
                        "host_ifname": "pswc1", "ips": ["10.244.0.7/24"], "mac": "02:00:00:00:00:07"}),
        req("cni.add", {"container_id": "c2", "ifname": "eth0", "interface": "memif"}),
        req("cni.check", {"container_id": "c1", "ifname": "eth0"}),
        req("get", {"kind": "attachments"}),
        req("get", {"kind": "pods"}),
        req("cni.del", {"container_id": "c2", "ifname": "eth0"}),
        req("cni.gc", {"valid": [{"container_id": "c1", "ifname": "eth0"}], "network": "podnet"}),
    ]))
    write("api", "cni-policy", "\n".join([
        req("cni.add", {"container_id": "c1", "ifname": "eth0", "pod_namespace": "prod", "pod_name": "web-1",
                        "interface": "kernel", "host_ifname": "pswc1", "ips": ["10.244.0.10"]}),
        req("apply", {"objects": K8S}),
        req("explain", {"from": "10.1.2.3", "to": "prod/web-1", "port": 8050}),
        req("explain", {"from": "prod/web-1", "to": "10.244.0.99", "proto": "udp", "port": 53}),
        req("get", {"kind": "netpol"}),
    ]))
    write("api", "bad", '{"api":1,"op":"get","args":[]}\n{"api":2,"op":"x"}\nnot json\n{"api":1,"op":"nope"}')


def cni_seeds():
    conflist = os.path.join(TOP, "config", "cni", "10-podswitch.conflist")
    base = {"cniVersion": "1.1.0", "name": "podnet", "type": "podswitch-cni",
            "socket": "/run/podswitch/podswitch.sock", "interface": "kernel",
            "runtimeConfig": {"ips": ["10.244.0.7/24"], "mac": "02:00:00:00:00:07"},
            "prevResult": {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/a"}],
                           "ips": [{"address": "10.244.0.7/24", "gateway": "10.244.0.1", "interface": 0}]}}
    env = ("CNI_COMMAND={}\nCNI_CONTAINERID=abc123\nCNI_NETNS=/var/run/netns/a\nCNI_IFNAME=eth0\n"
           "CNI_PATH=/usr/lib/cni\nCNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-1;"
           "IP=10.244.0.7;MAC=02:00:00:00:00:07;PODSWITCH_INTERFACE=vhost-user\n\n")
    for cmd in ("ADD", "DEL", "CHECK"):
        write("cni", cmd.lower(), env.format(cmd) + json.dumps(base))
    write("cni", "gc", "CNI_COMMAND=GC\n\n" + json.dumps(dict(base, **{"cni.dev/valid-attachments": [
        {"containerID": "abc123", "ifname": "eth0"}]})))
    write("cni", "status", "CNI_COMMAND=STATUS\n\n" + json.dumps({"cniVersion": "1.0.0", "name": "podnet"}))
    ipam = dict(base, ipam={"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]]})
    write("cni", "ipam", env.format("ADD") + json.dumps(ipam))
    if os.path.exists(conflist):
        with open(conflist) as f:
            plugin = json.load(f)["plugins"][0]
        write("cni", "conflist", env.format("ADD") + json.dumps(dict(plugin, cniVersion="1.1.0", name="podnet")))


if __name__ == "__main__":
    stage_seeds()
    config_seeds()
    manifest_seeds()
    api_seeds()
    cni_seeds()
    for t in sorted(os.listdir(os.path.join(ROOT, "corpus"))):
        print(t, len(os.listdir(os.path.join(ROOT, "corpus", t))), "seeds", file=sys.stderr)
