#!/usr/bin/python3
"""Component tests: the real podswitch binary on pcap ports. Crafted frames go
in through a pcap file; what comes out of each port is compared byte for byte
with the frame the switch should have produced (headers, TTL, checksums)."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import GW_MAC, Switch, check, main, test  # noqa: E402

from scapy.all import (ARP, ICMP, IP, UDP, TCP, Dot1Q, Ether, ICMPv6EchoReply,  # noqa: E402
                       ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptSrcLLAddr, ICMPv6TimeExceeded, IPOption_RR, IPv6, Raw,
                       rdpcap, wrpcap)

MAC_A, MAC_B, MAC_R = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:fe"
A4, B4, GW4 = "10.244.0.10", "10.244.0.11", "10.244.0.1"
A6, B6, GW6 = "fd00:10:244::10", "fd00:10:244::11", "fd00:10:244::1"
PAYLOAD = Raw(bytes(range(32)))


def empty_pcap(path):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))


def conf(scope):
    return """
ports = (
  { name = "p0"; kind = "pcap"; rx_pcap = "%s"; tx_pcap = "%s"; },
  { name = "p1"; kind = "pcap"; rx_pcap = "%s"; tx_pcap = "%s"; },
  { name = "up"; kind = "pcap"; rx_pcap = "%s"; tx_pcap = "%s"; }
);
pods = (
  { name = "a"; port = "p0"; mac = "%s"; ip = "%s"; ip6 = "%s"; },
  { name = "b"; port = "p1"; mac = "%s"; ip = "%s"; ip6 = "%s"; }
);
routes = ( { prefix = "10.245.0.0/16"; port = "up"; mac = "%s"; },
           { prefix = "fd00:99::/32"; port = "up"; mac = "%s"; } );
""" % (scope.path("in0.pcap"), scope.path("out0.pcap"), scope.path("in1.pcap"),
       scope.path("out1.pcap"), scope.path("in2.pcap"), scope.path("out2.pcap"),
       MAC_A, A4, A6, MAC_B, B4, B6, MAC_R, MAC_R)


def run_pcap(scope, frames):
    """Feed frames into port p0 (pod a); return (outputs per port, counters)."""
    wrpcap(scope.path("in0.pcap"), frames)
    empty_pcap(scope.path("in1.pcap"))
    empty_pcap(scope.path("in2.pcap"))
    sw = Switch(scope, conf(scope)).start()
    end = time.time() + 15
    while time.time() < end:
        s = sw.stats()
        if s.get("port.p0.rx", 0) >= len(frames):
            break
        time.sleep(0.1)
    s = sw.stop()
    check(s["port.p0.rx"] == len(frames), "switch read %d of %d frames" % (s["port.p0.rx"], len(frames)))
    out = [[bytes(p) for p in rdpcap(scope.path("out%d.pcap" % i))] for i in range(3)]
    return out, s


def same(got, want, what):
    want = bytes(want)
    if got != want:
        raise AssertionError("%s differs:\n got  %s\n want %s" % (what, got.hex(), want.hex()))


def from_a():
    return Ether(src=MAC_A, dst=GW_MAC)


@test
def routed_frames_are_rewritten_exactly(scope):
    ins = [
        from_a() / IP(src=A4, dst=B4, ttl=64, id=7) / UDP(sport=1000, dport=2000) / PAYLOAD,
        from_a() / IPv6(src=A6, dst=B6, hlim=64) / TCP(sport=1000, dport=80, flags="S") / PAYLOAD,
        from_a() / IP(src=A4, dst="10.245.1.1", ttl=9, id=8) / UDP(sport=1, dport=2) / PAYLOAD,
        from_a() / IP(src=A4, dst=B4, ttl=20, id=9, options=[IPOption_RR()]) / UDP() / PAYLOAD,
        from_a() / Dot1Q(vlan=5) / IP(src=A4, dst=B4, ttl=5, id=10) / UDP() / PAYLOAD,
        from_a() / IPv6(src=A6, dst="fd00:99::5", hlim=2) / UDP(sport=5, dport=6) / PAYLOAD,
    ]
    out, s = run_pcap(scope, ins)
    to_b = Ether(src=GW_MAC, dst=MAC_B)
    to_r = Ether(src=GW_MAC, dst=MAC_R)
    check(len(out[1]) == 4, "pod b got %d frames, expected 4" % len(out[1]))
    check(len(out[2]) == 2, "uplink got %d frames, expected 2" % len(out[2]))
    check(len(out[0]) == 0, "pod a got %d frames, expected none" % len(out[0]))
    same(out[1][0], to_b / IP(src=A4, dst=B4, ttl=63, id=7) / UDP(sport=1000, dport=2000) / PAYLOAD,
         "IPv4 pod to pod")
    same(out[1][1], to_b / IPv6(src=A6, dst=B6, hlim=63) / TCP(sport=1000, dport=80, flags="S") / PAYLOAD,
         "IPv6 pod to pod")
    same(out[1][2], to_b / IP(src=A4, dst=B4, ttl=19, id=9, options=[IPOption_RR()]) / UDP() / PAYLOAD,
         "IPv4 with options")
    same(out[1][3], to_b / IP(src=A4, dst=B4, ttl=4, id=10) / UDP() / PAYLOAD, "VLAN tag stripped")
    same(out[2][0], to_r / IP(src=A4, dst="10.245.1.1", ttl=8, id=8) / UDP(sport=1, dport=2) / PAYLOAD,
         "IPv4 routed to the uplink")
    same(out[2][1], to_r / IPv6(src=A6, dst="fd00:99::5", hlim=1) / UDP(sport=5, dport=6) / PAYLOAD,
         "IPv6 routed to the uplink")
    check(s["event.forwarded_ip4"] == 4 and s["event.forwarded_ip6"] == 2, "counters: %s" % s)


@test
def gateway_answers_exactly(scope):
    ins = [
        Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MAC_A, psrc=A4, pdst=GW4),
        from_a() / IP(src=A4, dst=GW4, id=3) / ICMP(type=8, id=77, seq=1) / PAYLOAD,
        Ether(src=MAC_A, dst="33:33:ff:00:00:01") / IPv6(src="fe80::a", dst="ff02::1:ff00:1", hlim=255) /
        ICMPv6ND_NS(tgt=GW6) / ICMPv6NDOptSrcLLAddr(lladdr=MAC_A),
        from_a() / IPv6(src=A6, dst=GW6, hlim=64) / ICMPv6EchoRequest(id=5, seq=9) / PAYLOAD,
        from_a() / IP(src=A4, dst=B4, ttl=1, id=4) / UDP(sport=3, dport=4) / PAYLOAD,
        from_a() / IPv6(src=A6, dst=B6, hlim=1) / UDP(sport=3, dport=4) / PAYLOAD,
    ]
    out, s = run_pcap(scope, ins)
    to_a = Ether(src=GW_MAC, dst=MAC_A)
    check(len(out[0]) == 6, "pod a got %d answers, expected 6" % len(out[0]))
    same(out[0][0], to_a / ARP(op=2, hwsrc=GW_MAC, psrc=GW4, hwdst=MAC_A, pdst=A4), "ARP reply")
    same(out[0][1], to_a / IP(src=GW4, dst=A4, id=3) / ICMP(type=0, id=77, seq=1) / PAYLOAD, "echo reply")
    same(out[0][2], to_a / IPv6(src=GW6, dst="fe80::a", hlim=255) /
         ICMPv6ND_NA(tgt=GW6, R=1, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=GW_MAC), "neighbour advert")
    same(out[0][3], to_a / IPv6(src=GW6, dst=A6, hlim=64) / ICMPv6EchoReply(id=5, seq=9) / PAYLOAD,
         "echo6 reply")
    quoted = bytes(IP(src=A4, dst=B4, ttl=1, id=4) / UDP(sport=3, dport=4) / PAYLOAD)[:28]
    same(out[0][4], to_a / IP(src=GW4, dst=A4, tos=0xc0, id=0, ttl=64) / ICMP(type=11, code=0) /
         Raw(quoted), "ICMP time exceeded")
    quoted6 = bytes(IPv6(src=A6, dst=B6, hlim=1) / UDP(sport=3, dport=4) / PAYLOAD)
    same(out[0][5], to_a / IPv6(src=GW6, dst=A6, hlim=64) / ICMPv6TimeExceeded(code=0) / Raw(quoted6),
         "ICMPv6 time exceeded")
    check(s["event.arp_reply"] == 1 and s["event.nd_reply"] == 1 and s["event.echo_reply"] == 2 and
          s["event.icmp_time_exceeded"] == 2, "counters: %s" % s)


@test
def bad_frames_are_dropped_and_counted(scope):
    bad_csum = from_a() / IP(src=A4, dst=B4, chksum=0x1234) / UDP() / PAYLOAD
    bad_len = bytearray(bytes(from_a() / IP(src=A4, dst=B4) / UDP() / PAYLOAD))
    bad_len[16:18] = struct.pack("!H", 1400)        # IPv4 total length beyond the frame
    ins = [
        from_a() / IP(src=B4, dst=B4) / UDP() / PAYLOAD,                       # spoofed IP
        Ether(src=MAC_B, dst=GW_MAC) / IP(src=A4, dst=B4) / UDP() / PAYLOAD,   # spoofed MAC
        bad_csum,
        Ether(bytes(bad_len)),
        Ether(src=MAC_A, dst=GW_MAC, type=0x88b5) / PAYLOAD,                   # unknown ethertype
        Ether(bytes(from_a() / IP(src=A4, dst=B4) / UDP() / PAYLOAD)[:20]),    # runt
        from_a() / IP(src=A4, dst="10.99.0.1") / UDP() / PAYLOAD,              # no route
        from_a() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP(src=A4, dst=B4) / UDP(),
        Ether(src=MAC_A, dst="02:00:00:00:00:99") / IP(src=A4, dst=B4) / UDP(),  # not for us
        from_a() / IP(src=A4, dst=B4) / TCP(dataofs=15) / Raw(b"x" * 8),       # TCP header cut
    ]
    out, s = run_pcap(scope, ins)
    check(sum(len(o) for o in out) == 0, "bad frames came out: %s" % [len(o) for o in out])
    want = {"spoof_ip": 1, "spoof_mac": 1, "ip4_bad_csum": 1, "ip4_bad_len": 1,
            "unknown_ethertype": 1, "runt": 1, "no_route": 1, "vlan_stack": 1,
            "l2_not_for_us": 1, "l4_truncated": 1}
    for k, v in want.items():
        check(s["drop." + k] == v, "drop.%s = %d, expected %d" % (k, s["drop." + k], v))
    check(sum(v for k, v in s.items() if k.startswith("drop.")) == len(ins), "drops don't add up: %s" % s)


if __name__ == "__main__":
    main()
