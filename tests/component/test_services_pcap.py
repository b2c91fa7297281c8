#!/usr/bin/python3
"""Component test of Services in the real binary: Services are applied
through the API first, then a reload adds a pcap port, so the crafted frames
are read after the Services exist. The client (a host beyond the uplink) and
the backend (a pod of another node, routed through the uplink) both send on
the one uplink port, so their frames are read in order; uplinks may not
claim local pods' addresses (reverse-path checks). What leaves the uplink is
compared byte for byte with frames built from scratch."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import GW_MAC, Switch, check, main, test  # noqa: E402

from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, rdpcap, wrpcap  # noqa: E402

MAC_UP = "02:00:00:00:00:fe"
A, B, VIP, EMPTY = "192.168.60.10", "10.244.1.11", "10.96.0.16", "10.96.0.17"
DATA = Raw(b"hello")


SERVICES = """apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: %s, ports: [{name: http, port: 80, targetPort: 8080},
                              {name: dns, port: 53, targetPort: 5353, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]
endpoints: [{addresses: [%s]}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {clusterIP: %s, ports: [{port: 80}]}
""" % (VIP, B, EMPTY)


def ports_conf(scope):
    return """
ports = (
  { name = "up"; kind = "pcap"; rx_pcap = "%s"; tx_pcap = "%s"; }
);
routes = (
  { prefix = "0.0.0.0/0"; port = "up"; mac = "%s"; }
);
""" % (scope.path("in.pcap"), scope.path("out-up.pcap"), MAC_UP)


def same(got, want, what):
    want = bytes(want)
    if got != want:
        raise AssertionError("%s differs:\n got  %s\n want %s" % (what, got.hex(), want.hex()))


@test
def service_nat_in_the_real_binary(scope):
    up = Ether(src=MAC_UP, dst=GW_MAC)
    syn = IP(src=A, dst=VIP, id=1) / TCP(sport=40000, dport=80, flags="S", seq=1000)
    quoted = IP(src=A, dst=B, id=3, ttl=63) / UDP(sport=33000, dport=5353) / DATA
    # A reply cannot share a burst with the packet it answers (a backend must
    # receive the SYN first), but a replayed file would put them in one 32-frame
    # burst: fillers (dropped, unknown ethertype) push each answer into the next.
    filler = Ether(src=MAC_UP, dst=GW_MAC, type=0x88b5) / Raw(b"x" * 46)
    frames = [filler] * 31 + [
        up / syn,                                                                  # DNAT
        up / IP(src=B, dst=A, id=2) / TCP(sport=8080, dport=40000, flags="SA", seq=5000, ack=1001),  # un-NAT
    ] + [filler] * 30 + [
        up / IP(src=A, dst=VIP, id=3) / UDP(sport=33000, dport=53) / DATA,         # UDP DNAT
        up / IP(src=B, dst=A, id=4) / ICMP(type=3, code=3) / Raw(bytes(quoted)[:28]),  # ICMP error
        up / IP(src=A, dst=VIP, id=5) / TCP(sport=40009, dport=80, flags="A", seq=1, ack=1),  # invalid
        up / IP(src=A, dst=EMPTY, id=6) / TCP(sport=40010, dport=80, flags="S", seq=7000),  # RST
    ]
    wrpcap(scope.path("in.pcap"), frames)
    sw = Switch(scope, "", workers="[1]").start()
    path = scope.path("svc.yaml")
    with open(path, "w") as f:
        f.write(SERVICES)
    from pswtest import run, BUILD
    run([os.path.join(BUILD, "switch", "podswitchctl"), "-s", sw.sock, "apply", "-f", path])
    sw.reload(ports_conf(scope))
    end = time.time() + 15
    while time.time() < end and sw.stats().get("port.up.rx", 0) < len(frames):
        time.sleep(0.1)
    # per-Service counters: web's TCP and UDP connections, empty's RST
    svcs = {(x["namespace"], x["name"]): x for x in sw.ok("stats")["services"]}
    check(set(svcs) == {("default", "web"), ("default", "empty")}, "Services counted: %s" % svcs)
    web, empty = svcs[("default", "web")], svcs[("default", "empty")]
    check((web["connections"], web["rejected"]) == (2, 0), "web: %s" % web)
    # its packets both ways (IP length): the SYN (40) and the datagram (33) to
    # the backend, the SYN-ACK (40) back; the ICMP error and the refused ACK are not
    check((web["packets_to_backends"], web["bytes_to_backends"]) == (2, 73), "web to backends: %s" % web)
    check((web["packets_from_backends"], web["bytes_from_backends"]) == (1, 40), "web from backends: %s" % web)
    check(empty["packets_to_backends"] == 0 and empty["packets_from_backends"] == 0, "empty: %s" % empty)
    check((empty["connections"], empty["rejected"], empty["no_local"]) == (0, 1, 0), "empty: %s" % empty)
    # a Service deleted leaves the list; one made again under its name starts at zero
    run([os.path.join(BUILD, "switch", "podswitchctl"), "-s", sw.sock, "delete", "-f", path])
    check(sw.ok("stats")["services"] == [], "deleted Services still counted")
    run([os.path.join(BUILD, "switch", "podswitchctl"), "-s", sw.sock, "apply", "-f", path])
    svcs = {(x["namespace"], x["name"]): x for x in sw.ok("stats")["services"]}
    check(all(x["connections"] == 0 and x["rejected"] == 0 for x in svcs.values()) and len(svcs) == 2,
          "made again: %s" % svcs)
    s = sw.stop()
    check(s["port.up.rx"] == len(frames), "read %d of %d frames" % (s["port.up.rx"], len(frames)))
    out = [bytes(p) for p in rdpcap(scope.path("out-up.pcap"))]
    to_up = Ether(src=GW_MAC, dst=MAC_UP)
    check(len(out) == 5, "frames out of the uplink: %d" % len(out))
    same(out[0], to_up / IP(src=A, dst=B, id=1, ttl=63) / TCP(sport=40000, dport=8080, flags="S", seq=1000),
         "SYN DNAT-ed to the backend")
    same(out[1], to_up / IP(src=VIP, dst=A, id=2, ttl=63) /
         TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001), "SYN-ACK un-NAT-ed")
    same(out[2], to_up / IP(src=A, dst=B, id=3, ttl=63) / UDP(sport=33000, dport=5353) / DATA,
         "UDP DNAT-ed")
    quoted_back = IP(src=A, dst=VIP, id=3, ttl=63) / UDP(sport=33000, dport=53) / DATA
    want_err = to_up / IP(src=VIP, dst=A, id=4, ttl=63) / ICMP(type=3, code=3) / Raw(bytes(quoted_back)[:28])
    # the quoted UDP checksum stays as the backend saw it (RFC 5508 does not ask to fix it)
    got_err = bytearray(out[3])
    want_err = bytearray(bytes(want_err))
    uoff = 14 + 20 + 8 + 20 + 6
    want_err[uoff:uoff + 2] = got_err[uoff:uoff + 2]
    icmp_sum = 14 + 20 + 2
    want_err[icmp_sum:icmp_sum + 2] = b"\0\0"
    c = sum(struct.unpack("!%dH" % ((len(want_err) - 34) // 2), bytes(want_err[34:34 + (len(want_err) - 34) // 2 * 2])))
    while c >> 16:
        c = (c & 0xffff) + (c >> 16)
    want_err[icmp_sum:icmp_sum + 2] = struct.pack("!H", ~c & 0xffff)
    same(bytes(got_err), bytes(want_err), "ICMP error NAT-ed back")
    same(out[4], Ether(src=GW_MAC, dst=MAC_UP) / IP(src=EMPTY, dst=A, id=6, ttl=64, flags=0) /
         TCP(sport=80, dport=40010, flags="RA", seq=0, ack=7001, window=0), "RST for a Service without endpoints")
    check(s["drop.ct_invalid"] == 1, "invalid TCP not dropped: %d" % s["drop.ct_invalid"])
    check(s["drop.unknown_ethertype"] == 61, "fillers: %d" % s["drop.unknown_ethertype"])


@test
def services_past_the_counter_slots_are_named(scope):
    """16383 Services have counters; one more is left out of stats, and the log says which."""
    sw = Switch(scope, "").start()
    path = scope.path("many.yaml")
    with open(path, "w") as f:
        f.write("---\n".join("apiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
                             "spec: {clusterIP: 10.%d.%d.%d, ports: [{port: 80}]}\n"
                             % (i, 96 + i // 62500, i // 250 % 250, i % 250 + 1) for i in range(16384)))
    from pswtest import run, BUILD
    run([os.path.join(BUILD, "switch", "podswitchctl"), "-s", sw.sock, "apply", "-f", path], timeout=300)
    counted = {x["name"] for x in sw.ok("stats")["services"]}
    check(len(counted) == 16383, "%d Services counted" % len(counted))
    left = ({"s%d" % i for i in range(16384)} - counted).pop()
    sw.wait_log("Service default/%s is not counted: all 16383 counter slots are taken" % left)
    sw.stop()


if __name__ == "__main__":
    main()
