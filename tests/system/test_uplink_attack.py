#!/usr/bin/python3
"""Adversarial system tests of the uplinks: the neighbour table (spoofed and
unsolicited ARP, floods toward unresolved next hops, held packets whose
route goes away), VXLAN decapsulation of malformed or misaddressed frames,
what the switch answers to VXLAN-carried packets, and hostile Node objects.
Each test asserts the safe, correct behaviour."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from nodetest import (ROUTER_MAC, TwoNodes, Underlay, mac_of, neighbours, node_object,  # noqa: E402
                      wait_neighbour)
from pswtest import Netns, Switch, check, main, ping, run, test, uid, veth_pod  # noqa: E402

if os.environ.get("ATK_SANITIZE"):
    # under an ASan/UBSan build: end every switch with SIGTERM (so leaks are
    # reported) and print any sanitizer report from its log
    _kill = Switch.kill

    def _graceful_kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except Exception:
                pass
        try:
            t = self.text()
            if re.search(r"AddressSanitizer|LeakSanitizer|runtime error", t):
                i = re.search(r"AddressSanitizer|LeakSanitizer|runtime error", t).start()
                print("SANITIZER REPORT (%s):\n%s" % (self.log, t[max(0, i - 200):i + 3000]), flush=True)
        except OSError:
            pass
        _kill(self)

    Switch.kill = _graceful_kill


def mbufs(sw):
    return sw.ok("status")["mbufs_in_use"]


def wait_mbufs(sw, baseline, slack=4, timeout=8):
    end = time.time() + timeout
    while time.time() < end:
        n = mbufs(sw)
        if n <= baseline + slack:
            return n
        time.sleep(0.1)
    return mbufs(sw)


def drops(st):
    return sum(v for k, v in st.items() if k.startswith("drop."))


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def scapy(code, ns=None):
    """Run scapy code (sendp ... ) on the host or in a namespace."""
    cmd = ("from scapy.all import *; from scapy.layers.vxlan import VXLAN; "
           "from scapy.layers.l2 import Dot1Q; conf.verb = 0; " + code)
    if ns is None:
        run(["/usr/bin/python3", "-c", cmd], timeout=120)
    else:
        run(["nsenter", "--net=/run/netns/" + ns.name, "/usr/bin/python3", "-c", cmd], timeout=120)


def node_conf(up, pod_host, extra_routes="", extra_ports=""):
    return """node = { addresses = [ "192.168.77.1" ]; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; },
          { name = "p1"; kind = "af_packet"; ifname = "%s"; }%s );
pods = ( { name = "p1"; port = "p1"; mac = "02:00:00:00:01:05"; ip = "10.244.0.5"; } );
routes = ( { prefix = "10.99.0.0/16"; via = "192.168.77.254"; }%s );
""" % (up, pod_host, extra_ports, extra_routes)


def arp_from_router_ns(u, hwsrc, psrc, op=2, pdst="192.168.77.1", eth_src=None, count=1):
    scapy("sendp(Ether(src='%s', dst='ff:ff:ff:ff:ff:ff')/ARP(op=%d, hwsrc='%s', psrc='%s', "
          "hwdst='ff:ff:ff:ff:ff:ff', pdst='%s'), iface='eth0', count=%d)"
          % (eth_src or hwsrc, op, hwsrc, psrc, pdst, count), ns=u.ns)


def underlay_switch(scope):
    u = Underlay(scope, behind=("10.99.0.1", "10.98.0.1", "10.97.0.1"))
    host = "pp" + uid()
    pod = veth_pod(scope, host, "02:00:00:00:01:05", "10.244.0.5")
    sw = Switch(scope, node_conf(u.host, host)).start()
    wait_neighbour(sw, "192.168.77.254", "reachable")
    return u, host, pod, sw


# ---------------------------------------------------------------- ARP / neighbours

@test
def arp_zero_mac_not_learned(scope):
    """An ARP from the uplink claiming a known next hop is at 00:00:00:00:00:00
    (not a valid station address) must not replace the entry's MAC."""
    u, host, pod, sw = underlay_switch(scope)
    arp_from_router_ns(u, "00:00:00:00:00:00", "192.168.77.254", eth_src="02:00:00:00:77:99")
    time.sleep(0.5)
    entries, c = neighbours(sw)
    check(entries["192.168.77.254"]["mac"] == ROUTER_MAC,
          "the router's entry was poisoned with the zero MAC: %s" % entries["192.168.77.254"])
    sent, got = ping(pod, "10.99.0.1", count=2)
    check(got == 2, "routing through the router after a zero-MAC ARP: %d/%d" % (got, sent))


@test
def arp_own_mac_not_learned(scope):
    """An ARP claiming a next hop is at the switch's own uplink MAC (a
    reflection, or an attacker making the switch send to itself) must be
    refused."""
    u, host, pod, sw = underlay_switch(scope)
    own = mac_of(u.host)
    arp_from_router_ns(u, own, "192.168.77.254", eth_src="02:00:00:00:77:99")
    time.sleep(0.5)
    entries, c = neighbours(sw)
    check(entries["192.168.77.254"]["mac"] == ROUTER_MAC,
          "the router's entry now points at the switch's own MAC: %s" % entries["192.168.77.254"])


@test
def arp_replies_for_unasked_addresses(scope):
    """Replies, requests and announcements about addresses the switch never
    asked for create no entry, whatever the opcode or VLAN tag; they are
    counted as unsolicited; a burst of them does not kill the switch and
    the node still answers ARP for its own address afterwards."""
    u, host, pod, sw = underlay_switch(scope)
    _, c0 = neighbours(sw)
    arp_from_router_ns(u, "02:00:00:00:77:98", "192.168.77.98", op=2)
    arp_from_router_ns(u, "02:00:00:00:77:97", "192.168.77.97", op=1, pdst="192.168.77.50")
    scapy("sendp(Ether(src='02:00:00:00:77:96', dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=5)/ARP(op=2, "
          "hwsrc='02:00:00:00:77:96', psrc='192.168.77.96', pdst='192.168.77.1'), iface='eth0')", ns=u.ns)
    # a burst of 2000 announcements of random addresses
    scapy("sendp([Ether(src='02:00:00:00:78:%02x' % (i % 256), dst='ff:ff:ff:ff:ff:ff')/ARP(op=2, "
          "hwsrc='02:00:00:00:78:%02x' % (i % 256), psrc='192.168.%d.%d' % (100 + i // 250, 1 + i % 250), "
          "pdst='192.168.77.1') for i in range(2000)], iface='eth0')", ns=u.ns)
    time.sleep(0.5)
    entries, c = neighbours(sw)
    check(set(entries) == {"192.168.77.254"}, "entries for unasked addresses: %s" % sorted(entries))
    check(c["unsolicited"] >= c0["unsolicited"] + 3, "unsolicited not counted: %s -> %s" % (c0, c))
    # the router forgets the node and asks again: the switch must answer
    u.ns.ip("neigh flush dev eth0")
    sent, got = ping(u.ns, "192.168.77.1", count=2)
    check(got == 2, "the node's address after the ARP burst: %d/%d" % (got, sent))


@test
def arp_reply_on_other_port_refused(scope):
    """A next hop asked for on one named uplink: an answer (spoofed) from a
    second uplink must not move the entry there."""
    u = Underlay(scope, behind=("10.99.0.1", "10.98.0.1", "10.97.0.1"))
    host = "pp" + uid()
    pod = veth_pod(scope, host, "02:00:00:00:01:05", "10.244.0.5")
    ns2 = Netns(scope)
    up2 = "uq" + uid()
    run(["ip", "link", "add", up2, "type", "veth", "peer", "name", "eth0", "netns", ns2.name])
    scope.defer(lambda: run(["ip", "link", "del", up2], check_rc=False))
    run(["ip", "link", "set", up2, "up"])
    ns2.ip("link set eth0 address 02:00:00:00:66:01 up")
    body = node_conf(u.host, host, extra_ports="""
, { name = "up2"; kind = "af_packet"; ifname = "%s"; uplink = true; }""" % up2).replace(
        'via = "192.168.77.254"; }', 'via = "192.168.77.254"; port = "up"; }')
    sw = Switch(scope, body).start()
    wait_neighbour(sw, "192.168.77.254", "reachable")
    scapy("sendp(Ether(src='02:00:00:00:66:01', dst='ff:ff:ff:ff:ff:ff')/ARP(op=2, hwsrc='02:00:00:00:66:01', "
          "psrc='192.168.77.254', pdst='192.168.77.1'), iface='eth0', count=3)", ns=ns2)
    time.sleep(0.5)
    entries, c = neighbours(sw)
    e = entries["192.168.77.254"]
    check(e["mac"] == ROUTER_MAC and e["port"] == "up", "entry moved by a spoofed ARP on up2: %s" % e)
    sent, got = ping(pod, "10.99.0.1", count=2)
    check(got == 2, "ping after spoofed ARP on another uplink: %d/%d" % (got, sent))


@test
def arp_vlan_tagged_not_learned(scope):
    """The switch speaks untagged on its uplinks: a VLAN-tagged ARP (from
    another L2 domain of a trunk) claiming a known next hop must not move
    the entry to the sender's MAC."""
    u, host, pod, sw = underlay_switch(scope)
    scapy("sendp(Ether(src='02:00:00:00:77:55', dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=5)/ARP(op=2, "
          "hwsrc='02:00:00:00:77:55', psrc='192.168.77.254', pdst='192.168.77.1'), iface='eth0')", ns=u.ns)
    time.sleep(0.5)
    entries, _ = neighbours(sw)
    check(entries["192.168.77.254"]["mac"] == ROUTER_MAC,
          "a VLAN 5 ARP re-pointed the untagged next hop: %s" % entries["192.168.77.254"])


@test
def arp_chatter_does_not_starve_node_answers(scope):
    """ARP traffic between other stations of the underlay (nothing about
    this node nor a neighbour it asked for) at a few thousand a second
    must not use up the budget the switch answers its own ARP with: the
    router, flushing its cache during the chatter, still reaches the node.
    (Rate-dependent: it needs the sender to beat PSW_PUNT_RATE, 1000/s;
    the plain build fails it at ~3000/s, a slow ASan run may not.)"""
    u, host, pod, sw = underlay_switch(scope)
    chatter = u.ns.popen("exec /usr/bin/python3 -c \"from scapy.all import *; conf.verb = 0\n"
                         "f = [Ether(src='02:00:00:00:79:%02x' % i, dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, "
                         "hwsrc='02:00:00:00:79:%02x' % i, psrc='192.168.77.%d' % (100 + i), "
                         "pdst='192.168.77.%d' % (150 + i)) for i in range(40)]\n"
                         "s = conf.L2socket(iface='eth0')\n"
                         "while True:\n  [s.send(x) for x in f]\"")
    time.sleep(1.5)
    st0 = sw.stats()
    u.ns.ip("neigh flush dev eth0")
    sent, got = ping(u.ns, "192.168.77.1", count=5, interval=0.3)
    st1 = sw.stats()
    from pswtest import kill_group
    kill_group(chatter)
    check(got >= 4, "the node's own ARP/echo answers starved by other stations' ARP chatter: %d/%d, "
          "punt_limit +%d" % (got, sent, delta(st0, st1, "drop.punt_limit")))


# ---------------------------------------------------------------- held packets

def udp_blast(pod, dst, n):
    pod.sh("/usr/bin/python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
           "for i in range(%d):\n  s.sendto(b'x'*64, ('%s', 9000 + i %% 64))\"" % (n, dst), timeout=60)


@test
def flood_to_unresolved_next_hop(scope):
    """Thousands of packets toward a next hop that never answers: at most
    PSW_NEIGH_HOLD (8) are held, every other one is dropped and counted
    (drop_hold, drop_failed, punt_full), and once it fails the mbufs come
    back to the baseline; the switch still forwards to a good next hop."""
    u, host, pod, sw = underlay_switch(scope)
    sw.reload(node_conf(u.host, host, """,
  { prefix = "10.97.0.0/16"; via = "192.168.77.250"; }"""))
    time.sleep(0.3)
    base = mbufs(sw)
    st0 = sw.stats()
    _, c0 = neighbours(sw)
    n = 5000
    udp_blast(pod, "10.97.0.1", n)
    entries, c = neighbours(sw)
    check(entries["192.168.77.250"]["held"] <= 8, "more than 8 held: %s" % entries["192.168.77.250"])
    check(mbufs(sw) >= base + entries["192.168.77.250"]["held"], "mbufs_in_use does not see held packets")
    wait_neighbour(sw, "192.168.77.250", "failed", timeout=8)
    used = wait_mbufs(sw, base)
    check(used <= base + 4, "mbufs in use %d, baseline %d: held packets leaked" % (used, base))
    entries, c = neighbours(sw)
    st = sw.stats()
    if os.environ.get("ATK_DEBUG"):
        print("    flood:", c, "mbufs", base, used)
    accounted = sum(c[k] - c0[k] for k in ("drop_hold", "drop_failed", "drop_gone", "sent")) + \
        delta(st0, st, "drop.punt_full") + delta(st0, st, "drop.punt_limit")
    check(c["held"] - c0["held"] <= n, "held counted more than sent: %s" % c)
    # the kernel may lose a few on its own socket queue, never more than it sent
    rx = delta(st0, st, "port.p1.rx")
    check(rx == 0 or abs(accounted - rx) <= 16,
          "packets unaccounted: %d received from the pod, %d dropped/sent (%s)" % (rx, accounted, c))
    sent, got = ping(pod, "10.99.0.1", count=2)
    check(got == 2, "good next hop after the flood: %d/%d" % (got, sent))


@test
def route_removed_while_packets_held(scope):
    """Packets held for a next hop whose route is removed (reload) are
    dropped as drop_gone and their mbufs freed; the switch stops cleanly."""
    u, host, pod, sw = underlay_switch(scope)
    with_route = node_conf(u.host, host, """,
  { prefix = "10.97.0.0/16"; via = "192.168.77.250"; }""")
    sw.reload(with_route)
    time.sleep(0.3)
    base = mbufs(sw)
    for _ in range(5):
        udp_blast(pod, "10.97.0.1", 20)
        entries, c0 = neighbours(sw)
        held = entries.get("192.168.77.250", {}).get("held", 0)
        if os.environ.get("ATK_DEBUG"):
            print("    held", held)
        sw.reload(node_conf(u.host, host))
        entries, c = neighbours(sw)
        check("192.168.77.250" not in entries, "entry outlived its route: %s" % entries)
        check(c["drop_gone"] >= c0["drop_gone"] + held, "held packets not counted gone: %s -> %s" % (c0, c))
        sw.reload(with_route)
    used = wait_mbufs(sw, base)
    check(used <= base + 4, "mbufs in use %d, baseline %d" % (used, base))
    udp_blast(pod, "10.97.0.1", 8)     # held at stop time
    sw.stop()


@test
def uplink_removed_neighbour_forgotten(scope):
    """The uplink a neighbour answered on is removed (reload) and a pod port
    takes its place: the neighbour must not keep pointing at the old port
    index, i.e. traffic for the route through it must not go to the new
    pod, and an uplink that comes back re-resolves it."""
    u, host, pod, sw = underlay_switch(scope)
    host2 = "pq" + uid()
    pod2 = veth_pod(scope, host2, "02:00:00:00:01:06", "10.244.0.6")
    ns3 = Netns(scope)
    up2 = "uq" + uid()
    run(["ip", "link", "add", up2, "type", "veth", "peer", "name", "eth0", "netns", ns3.name])
    scope.defer(lambda: run(["ip", "link", "del", up2], check_rc=False))
    run(["ip", "link", "set", up2, "up"])
    ns3.ip("link set eth0 up")
    body = """node = { addresses = [ "192.168.77.1" ]; };
ports = ( { name = "p2"; kind = "af_packet"; ifname = "%s"; },
          { name = "p1"; kind = "af_packet"; ifname = "%s"; },
          { name = "up2"; kind = "af_packet"; ifname = "%s"; uplink = true; } );
pods = ( { name = "p1"; port = "p1"; mac = "02:00:00:00:01:05"; ip = "10.244.0.5"; },
         { name = "p2"; port = "p2"; mac = "02:00:00:00:01:06"; ip = "10.244.0.6"; } );
routes = ( { prefix = "10.99.0.0/16"; via = "192.168.77.254"; } );
""" % (host2, host, up2)
    sw.reload(body)
    time.sleep(0.3)
    # a third pod port, created after the uplink's slot was freed: it takes that index
    host3 = "pr" + uid()
    veth_pod(scope, host3, "02:00:00:00:01:07", "10.244.0.7")
    body = body.replace('ports = ( ', 'ports = ( { name = "p3"; kind = "af_packet"; ifname = "%s"; },\n'
                        % host3).replace('pods = ( ', 'pods = ( { name = "p3"; port = "p3"; mac = '
                                         '"02:00:00:00:01:07"; ip = "10.244.0.7"; },\n')
    sw.reload(body)
    time.sleep(0.5)
    entries, _ = neighbours(sw)
    st0 = sw.stats()
    if os.environ.get("ATK_DEBUG"):
        print("   ", entries, sw.ok("status").get("ports"))
    pod.sh("ping -c 3 -i 0.2 -W 1 10.99.0.1", check_rc=False)
    st1 = sw.stats()
    leaked = delta(st0, st1, "port.p2.tx") + delta(st0, st1, "port.p3.tx")
    check(leaked == 0, "packets for the route via the router went to a pod's port (+%d), entry %s"
          % (leaked, entries.get("192.168.77.254")))
    check(entries.get("192.168.77.254", {}).get("state") != "reachable" or
          entries["192.168.77.254"].get("port") not in ("p3", "p2", "p1"),
          "the neighbour is 'reachable' on a pod port: %s" % entries.get("192.168.77.254"))


# ---------------------------------------------------------------- VXLAN

class AttackedNodes(TwoNodes):
    """TwoNodes (nodetest), node addresses without a subnet, no outside
    client; node-a's pod reaches node-b's before any attack."""

    def __init__(self, scope, encap):
        super().__init__(scope, encap, subnet=False, ext=False)
        sent, got = ping(self.pods["a"], "10.244.2.5", count=4)
        check(got >= 1, "%s: pods across nodes do not reach each other at all" % encap)
        self.b_mac = mac_of(self.up["b"])

    def inject_b(self, frames):
        """Send scapy frame expressions (strings) from node-a's wire to node-b."""
        scapy("sendp([%s], iface='%s')" % (", ".join(frames), self.up["a"]))


def vx(outer_dst_mac, inner, outer="IP(src='192.168.88.1', dst='192.168.88.2')", udp="UDP(sport=50000, dport=4789)",
       vni=1):
    return ("Ether(dst='%s', src='02:00:00:00:88:01')/%s/%s/VXLAN(vni=%d, flags=8)/%s"
            % (outer_dst_mac, outer, udp, vni, inner))


INNER_OK = "Ether(dst='00:00:00:00:00:00', src='02:50:53:57:00:01')/IP(src='10.244.1.5', dst='10.244.2.5')/ICMP()"


@test
def vxlan_outer_mac_not_ours_ignored(scope):
    """A VXLAN frame on the wire to another station's MAC (or broadcast)
    is not for this node: it must not be decapsulated and forwarded (the
    guard's L2 check is bypassed because decap rewrites the inner MAC)."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    before = sw.stats()
    c.inject_b([vx("02:00:00:00:99:99", INNER_OK), vx("ff:ff:ff:ff:ff:ff", INNER_OK),
                vx("01:00:5e:00:00:01", INNER_OK)])
    time.sleep(0.5)
    after = sw.stats()
    check(delta(before, after, "event.vxlan_decap") == 0 and delta(before, after, "event.forwarded_ip4") == 0,
          "frames to other MACs decapsulated/forwarded: decap +%d, forwarded +%d"
          % (delta(before, after, "event.vxlan_decap"), delta(before, after, "event.forwarded_ip4")))


@test
def vxlan_udp_length_lies(scope):
    """The UDP length of a VXLAN datagram that does not cover the VXLAN
    header and an inner frame (8, or 0) is malformed: dropped, counted, not
    forwarded."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    before = sw.stats()
    c.inject_b([vx(c.b_mac, INNER_OK, udp="UDP(sport=50000, dport=4789, len=8)"),
                vx(c.b_mac, INNER_OK, udp="UDP(sport=50000, dport=4789, len=16)")])
    time.sleep(0.5)
    after = sw.stats()
    check(delta(before, after, "event.forwarded_ip4") == 0,
          "VXLAN with a lying UDP length forwarded (+%d)" % delta(before, after, "event.forwarded_ip4"))
    check(drops(after) - drops(before) >= 2, "not counted as drops")


@test
def vxlan_bad_udp_checksum(scope):
    """A VXLAN datagram with a non-zero, wrong UDP checksum is corrupt
    (RFC 768: a non-zero checksum is verified): not decapsulated."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    before = sw.stats()
    c.inject_b([vx(c.b_mac, INNER_OK, udp="UDP(sport=50000, dport=4789, chksum=0x1234)")])
    time.sleep(0.5)
    after = sw.stats()
    check(delta(before, after, "event.vxlan_decap") == 0 and delta(before, after, "port.p.tx") == 0,
          "VXLAN with a bad UDP checksum decapsulated (+%d) and delivered (+%d)"
          % (delta(before, after, "event.vxlan_decap"), delta(before, after, "port.p.tx")))


@test
def vxlan_malformed_dropped_and_counted(scope):
    """Malformed or odd VXLAN frames: truncated, inner frame shorter than Ethernet, inner VLAN, inner ARP, inner
    IPv6, inner fragment to a pod (allowed), nested VXLAN, outer fragments, inner to the node address / gateway,
    inner sources that are a local pod or a node address. Nothing crashes,
    every dropped frame is counted, nothing leaks mbufs, nothing spoofed
    reaches the pod."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    m = c.b_mac
    base = mbufs(sw)
    inner_eth = "Ether(dst='00:00:00:00:00:00', src='02:50:53:57:00:01')"
    bad = [
        # (an outer IP total length beyond the frame never crosses the
        # underlay's Linux bridge: br_netfilter drops it before the switch)
        # inner frame of 6 bytes
        vx(m, "Raw(b'\\x00' * 6)"),
        # inner Ethernet header only (IPv4 type, no IP header); inner IP header cut
        vx(m, inner_eth.replace("')", "', type=0x0800)", 1)),
        vx(m, inner_eth.replace("')", "', type=0x0800)", 1) + "/Raw(bytes(IP(src='10.244.1.5', dst='10.244.2.5'))[:12])"),
        # nothing after the VXLAN header
        "Ether(dst='%s', src='02:00:00:00:88:01')/IP(src='192.168.88.1', dst='192.168.88.2')/"
        "UDP(sport=50000, dport=4789)/VXLAN(vni=1, flags=8)" % m,
        # VXLAN header cut short
        "Ether(dst='%s', src='02:00:00:00:88:01')/IP(src='192.168.88.1', dst='192.168.88.2')/"
        "UDP(sport=50000, dport=4789)/Raw(b'\\x08\\x00\\x00')" % m,
        vx(m, inner_eth + "/Dot1Q(vlan=7)/IP(src='10.244.1.5', dst='10.244.2.5')/ICMP()"),
        vx(m, inner_eth + "/ARP(op=2, psrc='10.244.1.5', pdst='10.244.2.5', hwsrc='02:00:00:00:01:05')"),
        vx(m, inner_eth + "/IPv6(src='fd00::1', dst='fd00::2')/ICMPv6EchoRequest()"),
        # nested VXLAN (inner is VXLAN to this node again)
        vx(m, inner_eth + "/IP(src='10.244.1.5', dst='192.168.88.2')/UDP(sport=50001, dport=4789)/VXLAN(vni=1)/"
           + INNER_OK),
        # outer fragments
        vx(m, INNER_OK, outer="IP(src='192.168.88.1', dst='192.168.88.2', flags='MF')"),
        vx(m, INNER_OK, outer="IP(src='192.168.88.1', dst='192.168.88.2', frag=100)"),
        # spoofed inner sources: this node's own pod, this node's address, the gateway
        vx(m, inner_eth + "/IP(src='10.244.2.5', dst='10.244.2.5')/ICMP()"),
        vx(m, inner_eth + "/IP(src='192.168.88.2', dst='10.244.2.5')/ICMP()"),
        vx(m, inner_eth + "/IP(src='10.244.2.1', dst='10.244.2.5')/ICMP()"),
        # inner broadcast / multicast
        vx(m, inner_eth + "/IP(src='10.244.1.5', dst='10.244.2.255')/ICMP()"),
        vx(m, inner_eth + "/IP(src='10.244.1.5', dst='224.0.0.1')/ICMP()"),
        # inner TCP to the gateway (no such service)
        vx(m, inner_eth + "/IP(src='10.244.1.5', dst='10.244.2.1')/UDP(sport=1, dport=53)"),
    ]
    if os.environ.get("ATK_DEBUG"):
        for f in bad:
            b0 = sw.stats()
            c.inject_b([f])
            time.sleep(0.3)
            b1 = sw.stats()
            print("   ", f[-90:], {k: delta(b0, b1, k) for k in b1 if delta(b0, b1, k)})
    before = sw.stats()
    c.inject_b(bad)
    time.sleep(1)
    after = sw.stats()
    check(sw.proc.poll() is None, "node-b died")
    n_drops = drops(after) - drops(before)
    check(n_drops >= len(bad), "%d malformed frames, %d drops counted: %s"
          % (len(bad), n_drops, {k: delta(before, after, k) for k in after if k.startswith("drop.")
                                 and delta(before, after, k)}))
    # nothing of it reached node-b's pod (port "p")
    check(delta(before, after, "port.p.tx") == 0,
          "node-b's pod was sent %d frames of malformed/spoofed traffic" % delta(before, after, "port.p.tx"))
    check(wait_mbufs(sw, base) <= base + 4, "mbufs leaked: %d -> %d" % (base, mbufs(sw)))
    sent, got = ping(c.pods["a"], "10.244.2.5", count=2)
    check(got == 2, "pods across nodes after the malformed frames: %d/%d" % (got, sent))


@test
def vxlan_to_gateway_address_not_decapsulated(scope):
    """VXLAN arriving on the uplink addressed to the pod gateway address
    (10.244.2.1), not to a node address, is not a tunnel endpoint of this
    node: it must not be decapsulated (is_vxlan uses psw_node_addr, which
    includes the gateway)."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    before = sw.stats()
    c.inject_b([vx(c.b_mac, INNER_OK, outer="IP(src='192.168.88.1', dst='10.244.2.1')")])
    time.sleep(0.5)
    after = sw.stats()
    check(delta(before, after, "event.vxlan_decap") == 0 and delta(before, after, "port.p.tx") == 0,
          "VXLAN to the gateway address decapsulated (+%d) and delivered to the pod (+%d)"
          % (delta(before, after, "event.vxlan_decap"), delta(before, after, "port.p.tx")))


@test
def vxlan_inner_fragment_delivered(scope):
    """A pod on node-a sends a large UDP datagram that it fragments itself:
    the fragments cross in VXLAN and are reassembled by node-b's pod."""
    c = AttackedNodes(scope, "vxlan")
    p = c.pods["b"].popen("exec socat -u UDP-RECV:9100 OPEN:/dev/stdout", stdout=-1)
    time.sleep(0.3)
    c.pods["a"].sh("ip link set eth0 mtu 1200; python3 -c \"import socket; s=socket.socket(socket.AF_INET, "
                   "socket.SOCK_DGRAM); s.sendto(b'y'*3000, ('10.244.2.5', 9100))\"")
    time.sleep(1)
    from pswtest import kill_group
    kill_group(p)
    got = p.stdout.read()
    check(len(got) == 3000, "fragmented datagram across VXLAN: received %d of 3000 bytes" % len(got))


@test
def vxlan_echo_to_remote_gateway(scope):
    """A pod pings the other node's gateway through VXLAN: the answer must
    come back to it (encapsulated, as the request came), not leave the
    uplink bare toward the inner source's MAC."""
    c = AttackedNodes(scope, "vxlan")
    sent, got = ping(c.pods["a"], "10.244.2.1", count=2)
    check(got == 2, "echo to node-b's gateway across VXLAN: %d/%d" % (got, sent))


@test
def vxlan_ttl_exceeded_reaches_sender(scope):
    """TTL 2 from node-a's pod: node-a forwards with TTL 1, node-b must not
    forward it; its ICMP time exceeded must reach the pod (in VXLAN)."""
    c = AttackedNodes(scope, "vxlan")
    r = c.pods["a"].sh("ping -c 1 -W 2 -t 2 10.244.2.5", check_rc=False)
    check("Time to live exceeded" in r.stdout, "no time-exceeded back across VXLAN:\n%s" % r.stdout)
    sb = c.sw["b"].stats()
    check(sb.get("event.icmp_time_exceeded", 0) >= 1, "node-b made no time-exceeded")


@test
def vxlan_full_size_packets(scope):
    """A full-size (1500 byte) IP packet with DF from a pod toward another
    node over VXLAN needs 1550 bytes on an uplink of MTU 1500: it must
    either arrive or be answered with ICMP fragmentation-needed, never be
    lost silently."""
    c = AttackedNodes(scope, "vxlan")
    r = c.pods["a"].sh("ping -c 2 -W 2 -M do -s 1472 10.244.2.5", check_rc=False)
    ok = re.search(r"2 received", r.stdout) or re.search(r"(?i)frag needed|mtu", r.stdout + r.stderr)
    sa = c.sw["a"].stats()
    check(ok, "1500-byte packets across VXLAN vanished: %s%s\nnode-a drops: %s"
          % (r.stdout, r.stderr, {k: v for k, v in sa.items() if k.startswith("drop.") and v}))


@test
def vxlan_relay_to_third_party(scope):
    """A frame decapsulated on node-b whose inner destination is not on
    node-b (another node's pods, or the outside) must not be relayed by
    node-b (back into VXLAN or out of its uplink)."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    sw.ok("apply", {"objects": [node_object("node-c", "10.244.3.0/24", "192.168.88.3")]})
    c.sw["a"].ok("apply", {"objects": [node_object("node-c", "10.244.3.0/24", "192.168.88.3")]})
    inner_eth = "Ether(dst='00:00:00:00:00:00', src='02:50:53:57:00:01')"
    before = sw.stats()
    c.inject_b([vx(c.b_mac, inner_eth + "/IP(src='10.244.1.5', dst='10.244.3.5')/ICMP()")])
    time.sleep(0.5)
    after = sw.stats()
    check(delta(before, after, "event.vxlan_encap") == 0 and delta(before, after, "event.forwarded_ip4") == 0,
          "node-b relayed a decapsulated frame to node-c: encap +%d, forwarded +%d"
          % (delta(before, after, "event.vxlan_encap"), delta(before, after, "event.forwarded_ip4")))


# ---------------------------------------------------------------- Node objects

@test
def hostile_node_addresses(scope):
    """Nodes whose InternalIP is a local pod, the gateway, broadcast,
    multicast, loopback or 0.0.0.0 (or this node's own address) make no
    route and no ARP request for those addresses on the underlay."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    bogus = [("evil-self", "10.244.50.0/24", "192.168.88.2"),
             ("evil-pod", "10.244.51.0/24", "10.244.2.5"),
             ("evil-gw", "10.244.52.0/24", "10.244.2.1"),
             ("evil-bcast", "10.244.53.0/24", "255.255.255.255"),
             ("evil-mcast", "10.244.55.0/24", "224.0.0.1"),
             ("evil-lo", "10.244.56.0/24", "127.0.0.1"),
             ("evil-zero", "10.244.57.0/24", "0.0.0.0")]
    r = sw.api("apply", {"objects": [node_object(*b) for b in bogus]})
    time.sleep(1.5)
    entries, cnt = neighbours(sw)
    wrong = [b[2] for b in bogus if b[2] in entries]
    check(sw.proc.poll() is None, "node-b died on hostile Nodes")
    check(not wrong, "neighbour entries (ARP on the underlay) for addresses no node can have: %s (apply ok: %s)"
          % (wrong, r.get("ok")))


@test
def node_cidr_overlapping_this_node(scope):
    """Nodes whose podCIDR overlaps this node's (a /25 inside it, the whole
    /16 around it) take no traffic from this node's own pods."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    objs = [node_object("evil-overlap", "10.244.2.0/25", "192.168.88.9"),
            node_object("evil-wide", "10.244.0.0/16", "192.168.88.10")]
    sw.ok("apply", {"objects": objs})
    time.sleep(0.5)
    sent, got = ping(c.pods["a"], "10.244.2.5", count=2)
    check(got == 2, "node-b's own pod (inside an overlapping Node CIDR) from node-a: %d/%d" % (got, sent))
    entries, _ = neighbours(sw)
    check("192.168.88.9" not in entries and "192.168.88.10" not in entries,
          "overlapping Nodes got next hops: %s" % list(entries))


@test
def thousand_nodes(scope):
    """A thousand Nodes (each a next hop that never answers) apply and
    delete without a crash; the neighbour table empties again, the held
    packets' mbufs come back, and the real peer still works."""
    c = AttackedNodes(scope, "vxlan")
    sw = c.sw["b"]
    base = mbufs(sw)
    many = [node_object("n%d" % i, "10.%d.%d.0/24" % (100 + i // 250, i % 250), "192.168.%d.%d"
                        % (90 + i // 250, 1 + i % 250)) for i in range(1000)]
    r = sw.api("apply", {"objects": many}, timeout=60)
    check(r.get("ok") is True, "apply of 1000 Nodes: %s" % str(r)[:300])
    # packets toward some of them, held
    udp_blast(c.pods["b"], "10.100.1.1", 20)
    udp_blast(c.pods["b"], "10.101.2.1", 20)
    time.sleep(1)
    entries, cnt = neighbours(sw)
    check(sw.proc.poll() is None, "died after 1000 Nodes")
    check(len(entries) >= 1000, "only %d neighbour entries for 1000 Nodes" % len(entries))
    r = sw.api("delete", {"objects": many}, timeout=60)
    check(r.get("ok") is True, "delete of 1000 Nodes: %s" % str(r)[:300])
    time.sleep(0.5)
    entries, cnt = neighbours(sw)
    check(set(entries) <= {"192.168.88.1"}, "entries left after deleting 1000 Nodes: %d" % len(entries))
    check(wait_mbufs(sw, base) <= base + 4, "mbufs %d, baseline %d" % (mbufs(sw), base))
    sent, got = ping(c.pods["b"], "10.244.1.5", count=2)
    check(got == 2, "node-a's pods after 1000 Nodes came and went: %d/%d" % (got, sent))


if __name__ == "__main__":
    main()
