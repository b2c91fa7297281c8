#!/usr/bin/python3
"""System tests of the node's uplinks: next hops resolved by ARP (the
neighbour table), packets held while their next hop is asked for, the
node's addresses announced; and, with Node objects, pods of two switches
reaching each other without NAT."""
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from nodetest import TwoNodes, Underlay, mac_of, neighbours, pod_v6, wait_neighbour  # noqa: E402
from pswtest import Netns, Switch, check, cni_call, cni_conf, main, ping, run, test, uid, veth_pod  # noqa: E402


def node_conf(up, pod_host, extra_routes=""):
    return """node = { addresses = [ "192.168.77.1" ]; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; },
          { name = "p1"; kind = "af_packet"; ifname = "%s"; } );
pods = ( { name = "p1"; port = "p1"; mac = "02:00:00:00:01:05"; ip = "10.244.0.5"; } );
routes = ( { prefix = "172.31.99.0/24"; via = "192.168.77.254"; }%s );
""" % (up, pod_host, extra_routes)


@test
def next_hops_resolved_by_arp(scope):
    """A route through an address: the switch asks for its MAC on the uplink
    at once, from its own MAC there, and routes with the answer; the node's
    address is announced; an ARP about an address nobody asked for teaches
    nothing."""
    u = Underlay(scope)
    host = "pp" + uid()
    pod = veth_pod(scope, host, "02:00:00:00:01:05", "10.244.0.5")
    sw = Switch(scope, node_conf(u.host, host)).start()
    e = wait_neighbour(sw, "192.168.77.254", "reachable")
    check(e["mac"] == "02:00:00:00:77:fe" and e["port"] == "up", "entry %s" % e)
    sent, got = ping(pod, "172.31.99.1", count=3)
    check(got == 3, "ping through the via route: %d/%d" % (got, sent))
    # the router saw the uplink's own MAC (not gateway_mac) for the node address
    up_mac = mac_of(u.host)
    neigh = u.ns.sh("ip -j neigh show 192.168.77.1").stdout
    check(up_mac in neigh, "router's entry for the node: %s (uplink MAC %s)" % (neigh, up_mac))
    _, c = neighbours(sw)
    check(c["announces"] >= 1 and c["requests"] >= 1 and c["learned"] >= 1, "counters %s" % c)
    # an announcement of an address the switch never asked about
    before = c["unsolicited"]
    u.ns.sh("/usr/bin/python3 -c \"from scapy.all import *; sendp(Ether(src='02:00:00:00:77:99', dst='ff:ff:ff:ff:ff:ff')"
            "/ARP(op=1, hwsrc='02:00:00:00:77:99', psrc='192.168.77.99', pdst='192.168.77.99'), "
            "iface='eth0', verbose=0)\"")
    end = time.time() + 5
    while time.time() < end:
        entries, c = neighbours(sw)
        if c["unsolicited"] > before:
            break
        time.sleep(0.05)
    check(c["unsolicited"] > before and "192.168.77.99" not in entries,
          "unsolicited ARP: counters %s, entries %s" % (c, list(entries)))


@test
def first_packet_held_until_resolved(scope):
    """A route whose next hop does not answer yet: the first packet waits in
    the switch (not dropped) and leaves with the answer; a next hop that
    never answers fails, and its packets are dropped and counted."""
    u = Underlay(scope)
    host = "pp" + uid()
    pod = veth_pod(scope, host, "02:00:00:00:01:05", "10.244.0.5")
    sw = Switch(scope, node_conf(u.host, host)).start()
    wait_neighbour(sw, "192.168.77.254", "reachable")
    u.ns.ip("route add 10.244.0.0/16 via 192.168.77.1")  # replies from .253 / .250 sources
    sw.reload(node_conf(u.host, host, """,
  { prefix = "172.31.98.0/24"; via = "192.168.77.253"; },
  { prefix = "172.31.97.0/24"; via = "192.168.77.250"; }"""))
    p = pod.popen("exec ping -c 1 -W 5 172.31.98.1", stdout=-1, stderr=-1)
    time.sleep(0.2)
    u.ns.ip("addr add 192.168.77.253/24 dev eth0")   # now it answers the next request
    out, _ = p.communicate(timeout=10)
    check(p.returncode == 0, "the first packet was lost while its next hop was resolved:\n%s" % out.decode())
    e = wait_neighbour(sw, "192.168.77.253", "reachable")
    check(e["mac"] == "02:00:00:00:77:fe", "entry %s" % e)
    _, c = neighbours(sw)
    check(c["held"] >= 1 and c["sent"] >= 1, "held and sent: %s" % c)
    # .250 never answers: three broadcasts a second apart, then failed
    wait_neighbour(sw, "192.168.77.250", "failed", timeout=8)
    before = c["drop_failed"] + c["drop_hold"]
    sent, got = ping(pod, "172.31.97.1", count=2, interval=0.2)
    check(got == 0, "a next hop that never answered still got packets")
    _, c = neighbours(sw)
    check(c["drop_failed"] + c["drop_hold"] >= before + 1, "failed drops not counted: %s" % c)


def peer_seen(server_ns, client_ns, dst, proto="UDP"):
    """The source address a server in server_ns sees for a client in client_ns."""
    # (-t 5: after the client's EOF the server waits for the echo, which a loaded machine may start late;
    # the echo reads its input to the end: the client's bytes written to a child gone would end socat
    # with EPIPE before it sent the echo)
    tcp = proto.startswith("TCP")
    p = server_ns.popen("exec socat %s %s-LISTEN:9000,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR%s'"
                        % ("-t 5" if tcp else "", proto, "; cat >/dev/null" if tcp else ""))
    server_ns.wait_listening(9000, "t" if proto.startswith("TCP") else "u")
    r = client_ns.sh("echo hi | timeout 5 socat -t 2 - %s:%s:9000" % (proto, dst), check_rc=False)
    p.kill()
    seen = r.stdout.strip().strip("[]")
    try:
        return ipaddress.ip_address(seen).compressed   # socat writes IPv6 in full
    except ValueError:
        return seen


def two_nodes(scope, encap, **kw):
    c = TwoNodes(scope, encap, **kw)
    a, b = c.pods["a"], c.pods["b"]
    # the first packet crosses: the next hop was resolved when the Node came
    sent, got = ping(a, "10.244.2.5", count=1, interval=0.2)
    check(got == 1, "%s: the first ping from node-a's pod to node-b's was lost" % encap)
    sent, got = ping(b, "10.244.1.5", count=3)
    check(got == 3, "%s: node-b's pod to node-a's: %d/%d" % (encap, got, sent))
    # no NAT: each side sees the other pod's own address
    seen = peer_seen(b, a, "10.244.2.5")
    check(seen == "10.244.1.5", "%s: UDP source seen by node-b's pod: %r" % (encap, seen))
    seen = peer_seen(a, b, "10.244.1.5", "TCP")
    check(seen == "10.244.2.5", "%s: TCP source seen by node-a's pod: %r (drops a %s, b %s)"
          % (encap, seen, nonzero_drops(c.sw["a"]), nonzero_drops(c.sw["b"])))
    return c


@test
def pods_across_nodes_native_routing(scope):
    """Native routing: node-b's pod CIDR is routed to node-b's InternalIP,
    its MAC found by ARP; a deleted Node takes its route with it."""
    c = two_nodes(scope, "none")
    # the same Nodes again (a heartbeat, once trimmed): nothing changes, nothing is written
    path = os.path.join(c.sw["a"].state, "objects.json")
    before = os.stat(path).st_mtime_ns
    r = c.sw["a"].ok("apply", {"objects": c.nodes})
    check({x["action"] for x in r["results"]} == {"unchanged"}, "re-apply: %s" % r)
    check(os.stat(path).st_mtime_ns == before, "objects.json rewritten for an unchanged apply")
    # a ClusterIP on node-a whose one endpoint is node-b's pod: DNAT here,
    # routed there, the reply un-NATed here; the backend sees the client
    c.sw["a"].ok("apply", {"objects": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "far", "namespace": "default"},
         "spec": {"clusterIP": "10.96.0.77", "ports": [{"port": 80, "targetPort": 9000, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "far-1", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "far"}},
         "addressType": "IPv4", "ports": [{"port": 9000, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.244.2.5"], "nodeName": "node-b",
                        "conditions": {"ready": True}}]}]})
    p = c.pods["b"].popen("exec socat -t 5 TCP-LISTEN:9000,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR; cat >/dev/null'")
    c.pods["b"].wait_listening(9000)
    r = c.pods["a"].sh("echo hi | timeout 5 socat -t 2 - TCP:10.96.0.77:80", check_rc=False)
    p.kill()
    check(r.stdout.strip() == "10.244.1.5", "ClusterIP to a pod on another node: %r" % r.stdout)
    # a NodePort on node-a from outside, its endpoint on node-b: masqueraded to
    # node-a's address, node-b sends the reply there on its host route to node-a
    c.sw["a"].ok("apply", {"objects": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "far", "namespace": "default"},
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.77",
                  "ports": [{"port": 80, "targetPort": 9000, "nodePort": 30080, "protocol": "TCP"}]}}]})
    p = c.pods["b"].popen("exec socat -t 5 TCP-LISTEN:9000,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR; cat >/dev/null'")
    c.pods["b"].wait_listening(9000)
    r = c.ext.sh("echo hi | timeout 5 socat -d -d -t 2 - TCP:192.168.88.1:30080", check_rc=False)
    p.kill()
    check(r.stdout.strip() == "192.168.88.1", "NodePort to a pod on another node: %r; %s" % (r.stdout, r.stderr[-800:]))
    # the client's MAC was found on the uplink's subnet (node.addresses /24), on the first packet
    entries, _ = neighbours(c.sw["a"])
    check(entries.get("192.168.88.100", {}).get("kind") == "host" and
          entries["192.168.88.100"]["state"] == "reachable", "the client on the subnet: %s" % entries)
    sa = c.sw["a"].stats()
    check(sa.get("event.vxlan_encap", 0) == 0, "native routing encapsulated")
    entries, _ = neighbours(c.sw["a"])
    check(entries.get("192.168.88.2", {}).get("mac") == mac_of(c.up["b"]),
          "node-a's entry for node-b: %s" % entries)
    c.sw["a"].ok("delete", {"objects": [c.nodes[1]]})
    before = c.sw["a"].stats().get("drop.no_route", 0)
    sent, got = ping(c.pods["a"], "10.244.2.5", count=2)
    check(got == 0, "node-b's pods still reached after its Node was deleted")
    check(c.sw["a"].stats().get("drop.no_route", 0) >= before + 2, "no_route not counted")
    entries, _ = neighbours(c.sw["a"])
    check("192.168.88.2" not in entries, "node-b's neighbour entry outlived its Node: %s" % entries)


@test
def pods_across_nodes_vxlan(scope):
    """VXLAN: the same, encapsulated between the node addresses; a VXLAN
    frame whose inner source is not a pod of its sender, or that comes from
    an address that is no node, or with another VNI, is dropped and counted."""
    c = two_nodes(scope, "vxlan")
    sa, sb = c.sw["a"].stats(), c.sw["b"].stats()
    check(sa.get("event.vxlan_encap", 0) >= 5 and sb.get("event.vxlan_decap", 0) >= 5,
          "vxlan counters: a %s, b %s" % (sa.get("event.vxlan_encap"), sb.get("event.vxlan_decap")))
    # longer than the overlay takes (1500 - 50): no DF, sent in fragments
    # (each encapsulated) and answered the same way; DF set, the sender
    # learns the MTU
    r = c.pods["a"].sh("ping -c 2 -i 0.2 -W 1 -M dont -s 1460 10.244.2.5", check_rc=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
    sent, got = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    check(got == 2 and c.sw["a"].stats().get("event.ip4_fragmented", 0) >= 2 and
          c.sw["b"].stats().get("event.ip4_fragmented", 0) >= 2,
          "1,488-byte pings without DF across the overlay: %d of %d answered, fragmented a %s, b %s"
          % (got, sent, c.sw["a"].stats().get("event.ip4_fragmented"),
             c.sw["b"].stats().get("event.ip4_fragmented")))
    r = c.pods["a"].sh("ping -c 1 -W 1 -M do -s 1460 10.244.2.5", check_rc=False)
    sa2 = c.sw["a"].stats()
    check(sa2.get("event.icmp_too_big", 0) >= 1, "no fragmentation-needed sent: %s" % r.stdout)
    route = c.pods["a"].sh("ip route get 10.244.2.5").stdout
    check("mtu 1450" in route, "the pod did not learn the path MTU: %s" % route)
    b_mac = mac_of(c.up["b"])

    def inject(outer_src, inner_src, vni=1):
        run(["/usr/bin/python3", "-c",
             "from scapy.all import *; from scapy.layers.vxlan import VXLAN; "
             "sendp(Ether(dst='%s', src='02:00:00:00:88:01')/IP(src='%s', dst='192.168.88.2')/"
             "UDP(sport=50000, dport=4789)/VXLAN(vni=%d, flags=8)/Ether(dst='00:00:00:00:00:00', "
             "src='02:50:53:57:00:01')/IP(src='%s', dst='10.244.2.5')/ICMP(), iface='%s', verbose=0)"
             % (b_mac, outer_src, vni, inner_src, c.up["a"])])

    before = c.sw["b"].stats()
    inject("192.168.88.1", "10.244.9.9")       # a source that is not node-a's pod
    inject("192.168.88.77", "10.244.1.5")      # from an address that is no node
    inject("192.168.88.1", "10.244.1.5", vni=2)
    time.sleep(0.5)
    after = c.sw["b"].stats()
    check(after.get("drop.vxlan_spoof", 0) - before.get("drop.vxlan_spoof", 0) == 2,
          "vxlan_spoof: %s -> %s" % (before.get("drop.vxlan_spoof"), after.get("drop.vxlan_spoof")))
    check(after.get("drop.vxlan_bad", 0) - before.get("drop.vxlan_bad", 0) == 1, "vxlan_bad not counted")


@test
def offloading_pods_across_the_overlay(scope):
    """Kernel pods that keep their offloads (TX checksum, TSO; gso_max_size
    61440 and the overlay's MTU, as the CNI plugin sets them): node-a cuts
    each large frame into segments before encapsulating them (the underlay
    takes 1,500 bytes), each with whole checksums, which node-b's pod
    checks; 8 MB cross byte for byte each way."""
    c = TwoNodes(scope, "vxlan", ext=False, pod_mtu=1450, extra="limits = { large_mbufs = 256; };\n")
    for pod in c.pods.values():
        pod.sh("ethtool -K eth0 tx on tso on >/dev/null")
        pod.sh("ethtool -K eth0 tx-udp_tnl-segmentation off tx-udp_tnl-csum-segmentation off "
               "tx-gre-segmentation off >/dev/null 2>&1", check_rc=False)
        pod.ip("link set eth0 gso_max_size 61440")
    a, b = c.pods["a"], c.pods["b"]
    sent, got = ping(a, "10.244.2.5", count=2)
    check(got == 2, "ping across: %d of %d" % (got, sent))
    data = os.urandom(8 * 1024 * 1024)
    path = scope.path("bulk")
    with open(path, "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest()
    errs0 = b.sh("nstat -az TcpInCsumErrors").stdout.split()
    for src, dst, addr in ((a, b, "10.244.2.5"), (b, a, "10.244.1.5")):
        dst.popen("exec socat -t 5 TCP-LISTEN:9099,reuseaddr SYSTEM:'sha256sum'")
        wait_listening(dst, 9099)
        r = src.sh("socat -T 20 -t 20 - TCP:%s:9099 <%s" % (addr, path), check_rc=False, timeout=60)
        check(r.stdout.split()[:1] == [want], "8 MB to %s: SHA-256 %r (drops a %s, b %s)"
              % (addr, r.stdout.strip(), nonzero_drops(c.sw["a"]), nonzero_drops(c.sw["b"])))
    sa, sb = c.sw["a"].stats(), c.sw["b"].stats()
    check(sa.get("event.gso_segmented", 0) > 0 and sb.get("event.gso_segmented", 0) > 0,
          "large frames were not segmented before encapsulation: a %s, b %s"
          % (sa.get("event.gso_segmented"), sb.get("event.gso_segmented")))
    check(sa.get("event.vxlan_encap", 0) > 5000, "not across the overlay: encap %s" % sa.get("event.vxlan_encap"))
    check(b.sh("nstat -az TcpInCsumErrors").stdout.split() == errs0, "checksum errors in node-b's pod")
    for sw in (c.sw["a"], c.sw["b"]):
        d = nonzero_drops(sw)
        check(not {k for k in d if "gso" in k or "vxlan" in k or "mtu" in k}, "drops: %s" % d)


@test
def pods_across_nodes_geneve(scope):
    """Geneve (RFC 8926) as the overlay: pods reach each other without NAT;
    the underlay carries Geneve as Wireshark reads it (version 0, no
    options, Ethernet inside, the VNI, the inner pod addresses); a frame
    with a non-critical option is taken, one with a critical option or a
    control packet is dropped and counted (geneve_option), as is one with
    another VNI (vxlan_bad) or an inner source no pod of its sender's."""
    c = two_nodes(scope, "geneve")
    sa, sb = c.sw["a"].stats(), c.sw["b"].stats()
    check(sa.get("event.vxlan_encap", 0) >= 5 and sb.get("event.vxlan_decap", 0) >= 5,
          "overlay counters: a %s, b %s" % (sa.get("event.vxlan_encap"), sb.get("event.vxlan_decap")))
    # what crosses the underlay, read by tshark's own Geneve dissector
    pcap = scope.path("underlay.pcap")
    # (af_packet sends bypass the sender's taps: each packet is caught where it arrives)
    cap = subprocess.Popen(["dumpcap", "-q", "-i", c.up["a"], "-f", "udp port 6081", "-i", c.up["b"], "-f",
                            "udp port 6081", "-c", "4", "-w", pcap], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scope.defer(lambda: cap.poll() is None and cap.kill())
    time.sleep(1.0)
    ping(c.pods["a"], "10.244.2.5", count=2, interval=0.2)
    try:
        cap.wait(timeout=10)
    except subprocess.TimeoutExpired:
        cap.kill()
    r = run(["tshark", "-r", pcap, "-T", "fields", "-E", "separator=|", "-e", "geneve.version",
             "-e", "geneve.options", "-e", "geneve.flags.oam", "-e", "geneve.flags.critical",
             "-e", "geneve.proto_type", "-e", "geneve.vni", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type"])
    rows = [ln.split("|") for ln in r.stdout.split("\n") if ln.strip()]
    got = {(v, o, f1 in ("0", "False") and f2 in ("0", "False"), p, int(n, 0) if n else None, s, d, i)
           for v, o, f1, f2, p, n, s, d, i in rows}
    want = {("0", "", True, "0x6558", 1, "192.168.88.1,10.244.1.5", "192.168.88.2,10.244.2.5", "8"),
            ("0", "", True, "0x6558", 1, "192.168.88.2,10.244.2.5", "192.168.88.1,10.244.1.5", "0")}
    check(len(rows) >= 4 and got == want, "the underlay's Geneve as tshark reads it: %s\n%s"
          % (rows, run(["tshark", "-r", pcap]).stdout))
    b_mac = mac_of(c.up["b"])

    def inject(geneve, inner_src="10.244.1.5"):
        run(["/usr/bin/python3", "-c",
             "from scapy.all import *; from scapy.contrib.geneve import GENEVE; "
             "sendp(Ether(dst='%s', src='02:00:00:00:88:01')/IP(src='192.168.88.1', dst='192.168.88.2')/"
             "UDP(sport=50000, dport=6081)/%s/Ether(dst='00:00:00:00:00:00', "
             "src='02:50:53:57:00:01')/IP(src='%s', dst='10.244.2.5')/ICMP(), iface='%s', verbose=0)"
             % (b_mac, geneve, inner_src, c.up["a"])])

    opt = "Raw(b'\\x01\\x02\\x05\\x01' + b'\\x00' * 4)"     # class 0x0102, type 5, one word of data
    before = c.sw["b"].stats()
    inject("GENEVE(vni=1, proto=0x6558, optionlen=2)/" + opt)
    inject("GENEVE(vni=1, proto=0x6558, optionlen=2, critical=1)/" + opt)
    inject("GENEVE(vni=1, proto=0x6558, oam=1)")
    inject("GENEVE(vni=2, proto=0x6558)")
    inject("GENEVE(vni=1, proto=0x6558)", inner_src="10.244.9.9")
    time.sleep(0.5)
    after = c.sw["b"].stats()

    def d(k):
        return after.get(k, 0) - before.get(k, 0)

    check(d("event.vxlan_decap") == 1 and d("drop.geneve_option") == 2 and d("drop.vxlan_bad") == 1 and
          d("drop.vxlan_spoof") == 1, "injected Geneve: decap +%d, geneve_option +%d, vxlan_bad +%d, "
          "vxlan_spoof +%d" % (d("event.vxlan_decap"), d("drop.geneve_option"), d("drop.vxlan_bad"),
                               d("drop.vxlan_spoof")))
    st = c.sw["a"].ok("status")
    check(st.get("cluster", {}).get("encapsulation") == "geneve", "status: %s" % st.get("cluster"))


@test
def pods_masqueraded_to_outside(scope):
    """Pod traffic leaving the cluster takes the node's address; two pods with
    the same source port to one server both get through (ports allocated, no
    clash); cluster.no_masquerade keeps the pod's own address; ping too."""
    u = Underlay(scope, pod_cidr="10.244.0.0/16")
    hosts = ["pp" + uid(), "pq" + uid()]
    pods = [veth_pod(scope, hosts[0], "02:00:00:00:01:05", "10.244.0.5"),
            veth_pod(scope, hosts[1], "02:00:00:00:01:06", "10.244.0.6")]
    sw = Switch(scope, """node = { addresses = [ "192.168.77.1" ]; };
cluster = { pod_cidr = "10.244.0.0/16"; no_masquerade = [ "172.31.98.0/24" ]; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; },
          { name = "p1"; kind = "af_packet"; ifname = "%s"; },
          { name = "p2"; kind = "af_packet"; ifname = "%s"; } );
pods = ( { name = "p1"; port = "p1"; mac = "02:00:00:00:01:05"; ip = "10.244.0.5"; },
         { name = "p2"; port = "p2"; mac = "02:00:00:00:01:06"; ip = "10.244.0.6"; } );
routes = ( { prefix = "0.0.0.0/0"; via = "192.168.77.254"; } );
""" % (u.host, hosts[0], hosts[1])).start()
    wait_neighbour(sw, "192.168.77.254", "reachable")
    srv = u.ns.popen("exec socat -t 3 TCP-LISTEN:9000,fork,reuseaddr SYSTEM:'sleep 0.5; echo $SOCAT_PEERADDR $SOCAT_PEERPORT'")
    usrv = u.ns.popen("exec socat UDP-RECVFROM:9001,bind=172.31.99.1,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'")
    u.ns.wait_listening(9000)
    u.ns.wait_listening(9001, "u")
    # both pods from source port 5555 at once: the second gets another port
    procs = [p.popen("exec socat -t 3 - TCP:172.31.99.1:9000,sourceport=5555 </dev/null",
                     stdout=-1, stderr=-1) for p in pods]
    seen = [pr.communicate(timeout=10)[0].decode().strip() for pr in procs]
    check(all(x.startswith("192.168.77.1 ") for x in seen), "TCP sources seen outside: %s" % seen)
    check(len(set(seen)) == 2 and "192.168.77.1 5555" in seen, "the two connections: %s" % seen)
    r = pods[0].sh("echo hi | timeout 5 socat -t 2 - UDP:172.31.99.1:9001", check_rc=False)
    check(r.stdout.strip() == "192.168.77.1", "UDP source seen outside: %r" % r.stdout)
    # an ICMP error about a masqueraded connection reaches the pod (port
    # unreachable here; fragmentation-needed, for path MTU, the same way)
    r = pods[0].sh("echo hi | socat -T 2 - UDP:172.31.99.1:9999", check_rc=False)
    check("Connection refused" in r.stderr, "no port-unreachable back through the masquerade: %r" % r.stderr)
    # to a no_masquerade destination: the pod's own address (the router routes back)
    srv2 = u.ns.popen("exec socat -t 5 TCP-LISTEN:9002,bind=172.31.98.1,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR; cat >/dev/null'")
    u.ns.wait_listening(9002)
    r = pods[0].sh("echo hi | timeout 5 socat -t 2 - TCP:172.31.98.1:9002", check_rc=False)
    check(r.stdout.strip() == "10.244.0.5", "no_masquerade destination saw %r" % r.stdout)
    # without a route back to the pods, only masqueraded traffic is answered
    u.ns.ip("route del 10.244.0.0/16")
    sent, got = ping(pods[1], "172.31.99.1", count=2)
    check(got == 2, "masqueraded ping: %d/%d" % (got, sent))
    # a router's error about a masqueraded ping (its unreachable route) reaches
    # the pod that pinged, as traceroute -I needs its time-exceeded
    u.ns.ip("route add unreachable 172.31.96.0/24")
    r = pods[1].sh("ping -c 1 -W 2 172.31.96.1", check_rc=False)
    check(re.search(r"From 192\.168\.77\.254 .*Unreachable", r.stdout),
          "no router's error back through the masquerade: %r" % r.stdout)
    for p in (srv, usrv, srv2):
        p.kill()
    st = sw.stats()
    check(st.get("event.masquerade", 0) >= 4, "masquerade events: %s" % st.get("event.masquerade"))


def v6_pod(scope, host, mac, ip4, ip6):
    """A kernel pod with IPv6 too: fd00:10:244::/64 through the gateway."""
    pod = veth_pod(scope, host, mac, ip4)
    pod.sh("sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.eth0.accept_ra=0")
    pod.ip("-6 addr add %s/64 dev eth0 nodad" % ip6)
    pod.ip("-6 route add default via fd00:10:244::1")
    return pod


def peer(text):
    """socat's SOCAT_PEERADDR (and port) of IPv6, '[fd77:0000:...:0001] 5555',
    as 'fd77::1 5555'."""
    words = text.strip().replace("[", "").replace("]", "").split()
    try:
        words[0] = str(ipaddress.ip_address(words[0]))
    except (IndexError, ValueError):
        pass
    return " ".join(words)


V6_CONF = """node = { addresses = [ "192.168.77.1"%s ]; };
cluster = { pod_cidr = [ "10.244.0.0/16", "fd00:10:244::/48" ];
            no_masquerade = [ "172.31.98.0/24", "2001:db8:98::/48" ]; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; },
          { name = "p1"; kind = "af_packet"; ifname = "%s"; },
          { name = "p2"; kind = "af_packet"; ifname = "%s"; } );
pods = ( { name = "p1"; port = "p1"; mac = "02:00:00:00:01:05"; ip = "10.244.0.5"; ip6 = "fd00:10:244::5"; },
         { name = "p2"; port = "p2"; mac = "02:00:00:00:01:06"; ip = "10.244.0.6"; ip6 = "fd00:10:244::6"; } );
routes = ( { prefix = "::/0"; port = "up"; mac = "%s"; } );
"""


@test
def pods_masqueraded_to_outside_ipv6(scope):
    """IPv6 pod traffic leaving the cluster takes the node's IPv6 address:
    ping, TCP (two pods from one source port: no clash), UDP, a port
    unreachable back to the pod; a no_masquerade prefix keeps the pod's
    address; a NodePort on the node's IPv6 address masquerades the client.
    The outside is a static route with the router's MAC (IPv6 next hops are
    not resolved by ND yet); the router finds the node's address by ND,
    which the switch answers on the uplink."""
    u = Underlay(scope, pod_cidr="10.244.0.0/16")
    u.ns.sh("sysctl -qw net.ipv6.conf.eth0.accept_ra=0")
    u.ns.ip("-6 addr add fd77::fe/64 dev eth0 nodad")
    u.ns.ip("-6 addr add 2001:db8:99::1/128 dev lo")
    u.ns.ip("-6 addr add 2001:db8:98::1/128 dev lo")
    # the router's kernel sends no neighbour solicitation before its
    # link-local address has passed DAD
    end = time.time() + 5
    while u.ns.sh("ip -6 addr show dev eth0 tentative").stdout.strip() and time.time() < end:
        time.sleep(0.1)
    hosts = ["pp" + uid(), "pq" + uid()]
    pods = [v6_pod(scope, hosts[0], "02:00:00:00:01:05", "10.244.0.5", "fd00:10:244::5"),
            v6_pod(scope, hosts[1], "02:00:00:00:01:06", "10.244.0.6", "fd00:10:244::6")]
    conf = V6_CONF % (', "fd77::1/64"', u.host, hosts[0], hosts[1], "02:00:00:00:77:fe")
    sw = Switch(scope, conf).start()
    st = sw.ok("status")["cluster"]
    check(st.get("masquerade6") is True and st.get("masquerade6_address") == "fd77::1", "status: %s" % st)
    # no route back to the pods' IPv6 CIDR: only masqueraded traffic is answered
    sent, got = ping(pods[0], "2001:db8:99::1", count=3, v6=True)
    check(got == 3, "masqueraded IPv6 ping: %d/%d (drops %s)" % (got, sent, nonzero_drops(sw)))
    srv = u.ns.popen("exec socat -t 3 TCP6-LISTEN:9000,fork,reuseaddr "
                     "SYSTEM:'sleep 0.5; echo $SOCAT_PEERADDR $SOCAT_PEERPORT'")
    usrv = u.ns.popen("exec socat UDP6-RECVFROM:9001,bind=[2001:db8:99::1],fork,reuseaddr "
                      "SYSTEM:'echo $SOCAT_PEERADDR'")
    u.ns.wait_listening(9000)
    u.ns.wait_listening(9001, "u")
    procs = [p.popen("exec socat -t 3 - TCP6:[2001:db8:99::1]:9000,sourceport=5555 </dev/null",
                     stdout=-1, stderr=-1) for p in pods]
    seen = [peer(pr.communicate(timeout=10)[0].decode()) for pr in procs]
    check(all(x.startswith("fd77::1 ") for x in seen), "TCP sources seen outside: %s (drops %s)"
          % (seen, nonzero_drops(sw)))
    check(len(set(seen)) == 2 and "fd77::1 5555" in seen, "the two connections: %s" % seen)
    r = pods[1].sh("echo hi | timeout 5 socat -t 2 - UDP6:[2001:db8:99::1]:9001", check_rc=False)
    check(peer(r.stdout) == "fd77::1", "UDP source seen outside: %r" % r.stdout)
    r = pods[0].sh("echo hi | socat -T 2 - UDP6:[2001:db8:99::1]:9999", check_rc=False)
    check("Connection refused" in r.stderr, "no port unreachable back through the masquerade: %r" % r.stderr)
    # to a no_masquerade destination: the pod's own address (the router routes back)
    u.ns.ip("-6 route add fd00:10:244::/64 via fd77::1")
    srv2 = u.ns.popen("exec socat -t 5 TCP6-LISTEN:9002,bind=[2001:db8:98::1],reuseaddr SYSTEM:'echo $SOCAT_PEERADDR; cat >/dev/null'")
    u.ns.wait_listening(9002)
    r = pods[0].sh("echo hi | timeout 5 socat -t 2 - TCP6:[2001:db8:98::1]:9002", check_rc=False)
    check(peer(r.stdout) == "fd00:10:244::5", "no_masquerade destination saw %r" % r.stdout)
    for p in (srv, usrv, srv2):
        p.kill()
    # from outside: a NodePort on the node's IPv6 address, policy Cluster
    sw.ok("apply", {"objects": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np6", "namespace": "default"},
         "spec": {"type": "NodePort", "clusterIP": "fd00:96::10", "ipFamilies": ["IPv6"],
                  "ports": [{"port": 80, "targetPort": 9000, "nodePort": 30080, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "np6-1", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "np6"}},
         "addressType": "IPv6", "ports": [{"port": 9000, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["fd00:10:244::6"], "conditions": {"ready": True}}]}]})
    back = pods[1].popen("exec socat -t 5 TCP6-LISTEN:9000,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR; cat >/dev/null'")
    pods[1].wait_listening(9000)
    r = u.ns.sh("echo hi | timeout 5 socat -t 2 - TCP6:[fd77::1]:30080", check_rc=False)
    back.kill()
    check(peer(r.stdout) == "fd77::1", "IPv6 NodePort, policy Cluster: the backend saw %r (drops %s)"
          % (r.stdout, nonzero_drops(sw)))
    st = sw.stats()
    check(st.get("event.masquerade", 0) >= 4, "masquerade events: %s" % st.get("event.masquerade"))
    # without an IPv6 node address nothing is masqueraded for IPv6, and status says why
    sw.stop()
    sw = Switch(scope, V6_CONF % ("", u.host, hosts[0], hosts[1], "02:00:00:00:77:fe")).start()
    st = sw.ok("status")["cluster"]
    check(st.get("masquerade6") is False and "IPv6" in st.get("masquerade6_off", "")
          and st.get("masquerade") is True, "status without an IPv6 node address: %s" % st)


def nonzero_drops(sw):
    return {k: v for k, v in sw.ok("stats")["drops"].items() if v}


@test
def ipv6_next_hops_resolved_by_nd(scope):
    """IPv6 next hops by neighbour discovery: a route through an IPv6 address
    is resolved at once by a solicitation from the node's address on that
    subnet, its first packet held and sent with the answer; a destination
    on the uplink's IPv6 subnet is reached directly; the node's IPv6
    address is announced and answered for; an advertisement nobody asked
    for teaches nothing, nor does one with a hop limit below 255."""
    u = Underlay(scope)
    u.ns.sh("sysctl -qw net.ipv6.conf.eth0.accept_dad=0")
    u.ns.ip("-6 addr add fd00:77::254/64 dev eth0 nodad")
    u.ns.ip("-6 addr add fd00:99::1/128 dev lo")
    u.ns.ip("-6 route add fd00:10:244::/64 via fd00:77::1")
    host = "pp" + uid()
    pod = veth_pod(scope, host, "02:00:00:00:01:05", "10.244.0.5")
    pod_v6(pod, "fd00:10:244::5", "fd00:10:244::1")
    conf = """node = { addresses = [ "192.168.77.1", "fd00:77::1/64" ]; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; },
          { name = "p1"; kind = "af_packet"; ifname = "%s"; } );
pods = ( { name = "p1"; port = "p1"; mac = "02:00:00:00:01:05"; ip = "10.244.0.5"; ip6 = "fd00:10:244::5"; } );
routes = ( { prefix = "fd00:99::/64"; via = "fd00:77::254"; }%s );
"""
    sw = Switch(scope, conf % (u.host, host, "")).start()
    e = wait_neighbour(sw, "fd00:77::254", "reachable")
    check(e["mac"] == "02:00:00:00:77:fe" and e["port"] == "up", "entry %s" % e)
    sent, got = ping(pod, "fd00:99::1", count=1, v6=True)
    check(got == 1, "the first ping6 through the via route was lost")
    # the router learned the node's address with the uplink's own MAC
    up_mac = mac_of(u.host)
    neigh = u.ns.sh("ip -6 -j neigh show fd00:77::1").stdout
    check(up_mac in neigh, "router's entry for the node: %s (uplink MAC %s)" % (neigh, up_mac))
    # a destination on the uplink's subnet: its own next hop, asked on the first packet
    u.ns.ip("-6 addr add fd00:77::253/64 dev eth0 nodad")
    sent, got = ping(pod, "fd00:77::253", count=1, v6=True)
    check(got == 1, "the first ping6 to a destination on the uplink's subnet was lost")
    entries, c = neighbours(sw)
    check(entries.get("fd00:77::253", {}).get("kind") == "host", "glean entry: %s" % entries)
    check(c["solicits"] >= 2 and c["announces"] >= 2 and c["learned"] >= 2, "counters %s" % c)
    # a later route through a next hop that answers only after a while: held, not lost
    sw.reload(conf % (u.host, host, """,
  { prefix = "fd00:98::/64"; via = "fd00:77::252"; }"""))
    u.ns.ip("-6 addr add fd00:98::1/128 dev lo")
    p = pod.popen("exec ping -6 -c 1 -W 5 fd00:98::1", stdout=-1, stderr=-1)
    time.sleep(0.2)
    u.ns.ip("-6 addr add fd00:77::252/64 dev eth0 nodad")
    out, _ = p.communicate(timeout=10)
    check(p.returncode == 0, "the first packet was lost while its IPv6 next hop was resolved:\n%s" % out.decode())
    _, c = neighbours(sw)
    check(c["held"] >= 1 and c["sent"] >= 1, "held and sent: %s" % c)
    # advertisements the switch did not ask for, or with a hop limit below 255
    before = c
    u.ns.sh("/usr/bin/python3 -c \"from scapy.all import *; "
            "sendp(Ether(src='02:00:00:00:77:99', dst='33:33:00:00:00:01')/IPv6(src='fd00:77::99', dst='ff02::1')"
            "/ICMPv6ND_NA(tgt='fd00:77::99', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:77:99'), "
            "iface='eth0', verbose=0); "
            "sendp(Ether(src='02:00:00:00:77:98', dst='33:33:00:00:00:01')/IPv6(src='fd00:77::254', dst='ff02::1', hlim=64)"
            "/ICMPv6ND_NA(tgt='fd00:77::254', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:77:98'), "
            "iface='eth0', verbose=0)\"")
    end = time.time() + 5
    while time.time() < end:
        entries, c = neighbours(sw)
        if c["unsolicited"] > before["unsolicited"]:
            break
        time.sleep(0.05)
    check(c["unsolicited"] > before["unsolicited"] and "fd00:77::99" not in entries,
          "unsolicited NA: counters %s, entries %s" % (c, list(entries)))
    time.sleep(0.3)
    entries, c = neighbours(sw)
    check(entries["fd00:77::254"]["mac"] == "02:00:00:00:77:fe", "an NA with hop limit 64 moved the router: %s"
          % entries["fd00:77::254"])


def two_nodes_v6(scope, encap):
    c = TwoNodes(scope, encap, v6=True)
    a, b = c.pods["a"], c.pods["b"]
    sent, got = ping(a, "fd00:10:244:2::5", count=1, v6=True)
    check(got == 1, "%s: the first ping6 from node-a's pod to node-b's was lost" % encap)
    sent, got = ping(b, "fd00:10:244:1::5", count=3, v6=True)
    check(got == 3, "%s: node-b's pod to node-a's over IPv6: %d/%d" % (encap, got, sent))
    check(peer_seen(b, a, "[fd00:10:244:2::5]", "UDP6") == "fd00:10:244:1::5",
          "%s: UDP6 source seen by node-b's pod" % encap)
    check(peer_seen(a, b, "[fd00:10:244:1::5]", "TCP6") == "fd00:10:244:2::5",
          "%s: TCP6 source seen by node-a's pod" % encap)
    # IPv4 still crosses too
    sent, got = ping(a, "10.244.2.5", count=1)
    check(got == 1, "%s: IPv4 beside IPv6" % encap)
    return c


@test
def ipv6_pods_across_nodes_native_routing(scope):
    """Dual stack, native routing: node-b's IPv6 pod CIDR is routed to its IPv6
    InternalIP, whose MAC neighbour discovery finds; the first packet crosses."""
    c = two_nodes_v6(scope, "none")
    entries, _ = neighbours(c.sw["a"])
    check(entries.get("fd00:88::2", {}).get("state") in ("reachable", "probe"), "node-b's IPv6 entry: %s"
          % entries.get("fd00:88::2"))


@test
def ipv6_pods_across_nodes_vxlan(scope):
    """Dual stack under VXLAN: IPv6 pods' frames ride the IPv4 underlay to
    node-b's IPv4 InternalIP; each side sees the other pod's own address."""
    c = two_nodes_v6(scope, "vxlan")
    st = c.sw["b"].stats()
    check(st.get("event.vxlan_decap", 0) >= 4, "vxlan_decap on node-b: %s" % st.get("event.vxlan_decap"))


@test
def pods_get_the_overlay_mtu(scope):
    """Under VXLAN a pod attached through the CNI plugin gets the uplink's MTU
    less the encapsulation (both ends of its veth), and the result says so."""
    u = Underlay(scope)
    sw = Switch(scope, """node = { addresses = [ "192.168.77.1" ]; };
cluster = { pod_cidr = "10.244.0.0/16"; encapsulation = "vxlan"; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; mtu = 1400; } );
""" % u.host).start()
    ns = Netns(scope)
    rc, out = cni_call("ADD", cni_conf(sw.sock), container_id="ctr-mtu", netns="/run/netns/" + ns.name)
    check(rc == 0, "ADD: %s" % out)
    scope.defer(lambda: cni_call("DEL", cni_conf(sw.sock), container_id="ctr-mtu"))
    check(json.loads(ns.sh("ip -j link show eth0").stdout)[0]["mtu"] == 1350, "pod MTU")
    host = [i["name"] for i in out["interfaces"] if "sandbox" not in i or not i["sandbox"]][0]
    check(json.loads(run(["ip", "-j", "link", "show", host]).stdout)[0]["mtu"] == 1350, "host end MTU")
    pod_if = [i for i in out["interfaces"] if i.get("sandbox")][0]
    check(pod_if.get("mtu") == 1350, "result interface: %s" % pod_if)


@test
def node_addresses_from_the_node_object(scope):
    """node.addresses_from_node: each switch takes its address from its own
    Node's InternalIP. VXLAN between them, ARP and ping from outside work on
    it; a Node that moves its address moves the switch's (the old one is no
    longer answered, the new one is announced); a reload keeps it; the Node
    deleted takes it away."""
    from nodetest import node_object
    c = two_nodes(scope, "vxlan", subnet=False, from_node=True)
    a = c.sw["a"]
    cl = a.ok("status")["cluster"]
    check(cl["node_addresses"] == ["192.168.88.1"] and cl["node_addresses_from"] == "Node",
          "node-a's addresses: %s" % cl)
    sent, got = ping(c.ext, "192.168.88.1", count=1)
    check(got == 1, "node-a's address from its Node not answered from outside")
    # node-a moves to .11: both switches are told, as the agent would
    moved = [node_object("node-a", "10.244.1.0/24", "192.168.88.11"), c.nodes[1]]
    for sw in c.sw.values():
        sw.ok("apply", {"objects": moved})
    cl = a.ok("status")["cluster"]
    check(cl["node_addresses"] == ["192.168.88.11"], "after the move: %s" % cl)
    sent, got = ping(c.ext, "192.168.88.11", count=1)
    check(got == 1, "the moved address not answered (first ping)")
    c.ext.sh("ip neigh flush all")
    sent, got = ping(c.ext, "192.168.88.1", count=1, timeout=2)
    check(got == 0, "the old address still answered")
    # VXLAN from the new address: node-b accepts it (its route to node-a's pods goes to .11)
    sent, got = ping(c.pods["a"], "10.244.2.5", count=2)
    check(got == 2, "pods across nodes after the move: %d/%d" % (got, sent))
    a.reload(a.body)
    check(a.ok("status")["cluster"]["node_addresses"] == ["192.168.88.11"], "a reload lost the Node's address")
    sent, got = ping(c.pods["b"], "10.244.1.5", count=1)
    check(got == 1, "pods across nodes after a reload")
    a.ok("delete", {"objects": [moved[0]]})
    check(a.ok("status")["cluster"]["node_addresses"] == [], "node-a's Node deleted, its address kept")


def wait_listening(ns, port, proto="TCP", timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if ns.sh("ss -Hln%s 'sport = :%d'" % ("t" if proto == "TCP" else "u", port), check_rc=False).stdout.strip():
            return
        time.sleep(0.05)
    check(False, "nothing listens on %s port %d after %d s" % (proto, port, timeout))


def serve_peer(ns, proto, port):
    """A server in ns that answers each TCP connection or UDP datagram with
    the client's address as it sees it; listening when this returns."""
    p = ns.popen("exec socat %s:%d,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR%s'"
                 % ("-t 5 TCP-LISTEN" if proto == "TCP" else "UDP-RECVFROM", port,
                    "; cat >/dev/null" if proto == "TCP" else ""))
    wait_listening(ns, port, proto)
    return p


# A UDP client that ends with the first answer (socat waits out its timeout).
UDP_ASK = """/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(%s)
s.sendto(b"hi\\n", ("%s", %d))
try:
    sys.stdout.write(s.recv(1000).decode())
except socket.timeout:
    pass'"""


def ask(ns, proto, dst, port, timeout=2):
    """What a serve_peer server at dst:port answers a client in ns within
    timeout seconds ('' for nothing)."""
    if proto == "UDP":
        cmd = UDP_ASK % (timeout, dst, port)
    else:
        cmd = "socat -T 3 - TCP:%s:%d,connect-timeout=%s </dev/null" % (dst, port, timeout)
    return ns.sh(cmd, check_rc=False, timeout=15).stdout.strip()


def cni_pod(scope, sw, name, ip):
    """A kernel pod default/name attached to sw through the CNI plugin, at ip."""
    ns = Netns(scope)
    rc, out = cni_call("ADD", cni_conf(sw.sock), container_id="ctr-" + name, netns="/run/netns/" + ns.name,
                       args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;IP=%s" % (name, ip))
    check(rc == 0, "CNI ADD %s: %s" % (name, out))
    scope.defer(lambda: cni_call("DEL", cni_conf(sw.sock), container_id="ctr-" + name))
    return ns


def pod_object(name, node, ip, labels):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"podIP": ip, "podIPs": [{"ip": ip}]}}


def policy_drops(sw, kinds=("ingress", "egress")):
    st = sw.stats()
    return sum(st.get("drop.policy_" + k, 0) for k in kinds)


def policy_across_nodes(scope, encap):
    c = TwoNodes(scope, encap)
    a, b = c.pods["a"], c.pods["b"]
    # the nodes have found each other (the switches start side by side): what
    # follows is about the policy; first-packet delivery is two_nodes()'s test
    wait_neighbour(c.sw["a"], "192.168.88.2", "reachable")
    wait_neighbour(c.sw["b"], "192.168.88.1", "reachable")
    other = cni_pod(scope, c.sw["a"], "other", "10.244.1.7")
    c.ext.ip("route add 10.244.2.0/24 via 192.168.88.2")
    serve_peer(b, "UDP", 9000)
    serve_peer(b, "TCP", 9001)
    clients = ((a, "10.244.1.5", "node-a's pod pa"), (other, "10.244.1.7", "node-a's pod other"),
               (c.ext, "192.168.88.100", "the external client"))
    # before the policy every one of them gets in: a refusal below is the policy's
    for ns, src, who in clients:
        for proto, port in (("UDP", 9000), ("TCP", 9001)):
            got = ask(ns, proto, "10.244.2.5", port)
            check(got == src, "%s: %s, no policy yet: %s to node-b's pod answered %r" % (encap, who, proto, got))
    # every node knows every Pod and every NetworkPolicy (as the agent gives them)
    objects = [pod_object("pa", "node-a", "10.244.1.5", {"role": "client"}),
               pod_object("other", "node-a", "10.244.1.7", {"role": "other"}),
               pod_object("pb", "node-b", "10.244.2.5", {"app": "web"}),
               {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "web-from-clients", "namespace": "default"},
                "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]}}]
    for sw in c.sw.values():
        sw.ok("apply", {"objects": objects})
    before_a, before_b = policy_drops(c.sw["a"]), policy_drops(c.sw["b"], ["ingress"])
    sent, got = ping(a, "10.244.2.5", count=1)
    check(got == 1, "%s: the allowed pod's first ping after the policy was lost" % encap)
    for proto, port in (("UDP", 9000), ("TCP", 9001)):
        got = ask(a, proto, "10.244.2.5", port)
        check(got == "10.244.1.5", "%s: the allowed pod on node-a, %s: %r" % (encap, proto, got))
    for ns, src, who in clients[1:]:
        for proto, port in (("UDP", 9000), ("TCP", 9001)):
            got = ask(ns, proto, "10.244.2.5", port, timeout=0.5)
            check(got == "", "%s: %s, not allowed, got an answer over %s: %r" % (encap, who, proto, got))
    # dropped at node-b's pod (ingress), counted there and against the policy;
    # node-a, whose pods no policy isolates, let everything leave
    after_b = policy_drops(c.sw["b"], ["ingress"])
    check(after_b >= before_b + 4, "%s: node-b's policy_ingress %d -> %d" % (encap, before_b, after_b))
    check(policy_drops(c.sw["a"]) == before_a, "%s: node-a dropped by policy" % encap)
    rows = c.sw["b"].ok("get", {"kind": "networkpolicies"})["items"]
    status = {r["metadata"]["name"]: r["status"] for r in rows}["web-from-clients"]
    check(status["denied"] >= 4 and status["allowed"] >= 2, "%s: node-b's policy counters %s" % (encap, status))
    # the allowed pod relabelled (its Pod object on node-b): now refused too
    c.sw["b"].ok("apply", {"objects": [pod_object("pa", "node-a", "10.244.1.5", {"role": "gone"})]})
    got = ask(a, "TCP", "10.244.2.5", 9001, timeout=0.5)
    check(got == "", "%s: node-a's pod relabelled still got in: %r" % (encap, got))
    for sw in c.sw.values():
        sw.stop()


@test
def network_policy_allows_only_a_pod_on_the_other_node(scope):
    """A NetworkPolicy on node-b's pod lets in only pods labelled role=client;
    the Pod objects of node-a's pods are applied to node-b too (every node
    knows every Pod). node-a's labelled pod gets UDP and TCP answers and its
    first ping through; node-a's other pod (attached by the CNI plugin) and
    the external client, both answered before the policy, get nothing. The
    drops are node-b's (policy_ingress, the policy's denied count), none
    node-a's. Relabelled on node-b, the allowed pod is refused. VXLAN and
    native routing."""
    for encap in ("vxlan", "none"):
        policy_across_nodes(scope, encap)


@test
def service_across_the_overlay_large_udp_and_tcp(scope):
    """VXLAN, pods at the overlay MTU (1450, as the CNI plugin sets it): a
    ClusterIP on node-a whose one endpoint is node-b's pod. A 2,000-byte UDP
    datagram (two fragments) reaches the backend intact and its echo comes
    back intact (the later fragments DNAT-ed and un-NAT-ed on node-a); 200 kB
    over TCP arrive intact both ways (SHA-256 compared)."""
    c = TwoNodes(scope, "vxlan", ext=False, pod_mtu=1450)
    a, b = c.pods["a"], c.pods["b"]
    check(json.loads(a.sh("ip -j link show eth0").stdout)[0]["mtu"] == 1450, "the pod's MTU")
    ports = [("u", 53, 9053, "UDP"), ("up", 80, 9080, "TCP"), ("down", 81, 9081, "TCP")]
    objects = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "big", "namespace": "default"},
         "spec": {"clusterIP": "10.96.0.88",
                  "ports": [{"name": n, "port": p, "targetPort": t, "protocol": pr} for n, p, t, pr in ports]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "big-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "big"}},
         "addressType": "IPv4", "ports": [{"name": n, "port": t, "protocol": pr} for n, p, t, pr in ports],
         "endpoints": [{"addresses": ["10.244.2.5"], "nodeName": "node-b", "conditions": {"ready": True}}]}]
    for sw in c.sw.values():
        sw.ok("apply", {"objects": objects})
    dgram, bulk = os.urandom(2000), os.urandom(200000)
    paths = {k: scope.path(k) for k in ("dgram", "bulk", "got", "echo")}
    for k, v in (("dgram", dgram), ("bulk", bulk)):
        with open(paths[k], "wb") as f:
            f.write(v)
    b.popen("exec socat -b 65536 UDP-RECVFROM:9053,fork,reuseaddr SYSTEM:'tee %s'" % paths["got"])
    b.popen("exec socat -t 5 TCP-LISTEN:9080,reuseaddr SYSTEM:'sha256sum'")
    b.popen("exec socat -t 5 TCP-LISTEN:9081,reuseaddr SYSTEM:'cat %s'" % paths["bulk"])
    wait_listening(b, 9053, "UDP")
    wait_listening(b, 9080)
    wait_listening(b, 9081)
    a.sh("socat -T 3 -t 1 -b 65536 - UDP:10.96.0.88:53 <%s >%s" % (paths["dgram"], paths["echo"]), check_rc=False)
    sa = c.sw["a"].stats()
    with open(paths["got"], "rb") as f:
        got = f.read()
    check(got == dgram, "the backend got %d bytes of the 2,000-byte datagram%s (node-a: frag_followed %s, drops %s)"
          % (len(got), "" if len(got) != 2000 else ", not the same", sa.get("event.frag_followed"),
             nonzero_drops(c.sw["a"])))
    with open(paths["echo"], "rb") as f:
        echo = f.read()
    check(echo == dgram, "the client got %d bytes back%s (node-a: frag_followed %s, drops %s)"
          % (len(echo), "" if len(echo) != 2000 else ", not the same", sa.get("event.frag_followed"),
             nonzero_drops(c.sw["a"])))
    check(sa.get("event.frag_followed", 0) >= 2, "node-a did not follow the later fragments both ways: %s"
          % sa.get("event.frag_followed"))
    want = hashlib.sha256(bulk).hexdigest()
    r = a.sh("socat -T 10 -t 10 - TCP:10.96.0.88:80 <%s" % paths["bulk"], check_rc=False, timeout=30)
    check(r.stdout.split()[:1] == [want], "200 kB to the backend: its SHA-256 %r, sent %s (drops %s)"
          % (r.stdout.strip(), want, nonzero_drops(c.sw["a"])))
    r = a.sh("socat -T 10 -u TCP:10.96.0.88:81 - | sha256sum", check_rc=False, timeout=30)
    check(r.stdout.split()[:1] == [want], "200 kB from the backend: SHA-256 %r, sent %s (drops %s)"
          % (r.stdout.strip(), want, nonzero_drops(c.sw["a"])))
    sa, sb = c.sw["a"].stats(), c.sw["b"].stats()
    check(sa.get("event.vxlan_encap", 0) >= 150 and sb.get("event.vxlan_decap", 0) >= 150,
          "the transfers did not cross in VXLAN: encap %s, decap %s"
          % (sa.get("event.vxlan_encap"), sb.get("event.vxlan_decap")))
    check(sa.get("drop.mtu_exceeded", 0) == 0 and sa.get("drop.ct_out_of_window", 0) == 0,
          "node-a dropped: %s" % nonzero_drops(c.sw["a"]))
    for sw in c.sw.values():
        sw.stop()


def lb_objects(policy):
    """A LoadBalancer (NodePort 30080, external IP 192.0.2.10, load-balancer
    IP 198.51.100.7) whose one endpoint is node-b's pod."""
    spec = {"type": "LoadBalancer", "clusterIP": "10.96.0.99", "externalTrafficPolicy": policy,
            "externalIPs": ["192.0.2.10"],
            "ports": [{"port": 80, "targetPort": 9000, "nodePort": 30080, "protocol": "TCP"}]}
    if policy == "Local":
        spec["healthCheckNodePort"] = 31080     # the API server's, the same on every node
    return [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "default"},
             "spec": spec, "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "lb-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "lb"}},
             "addressType": "IPv4", "ports": [{"port": 9000, "protocol": "TCP"}],
             "endpoints": [{"addresses": ["10.244.2.5"], "nodeName": "node-b", "conditions": {"ready": True}}]}]


def traffic_policy_across_nodes(scope, encap):
    c = TwoNodes(scope, encap)
    ext = c.ext
    serve_peer(c.pods["b"], "TCP", 9000)

    def through(node):
        ext.ip("route replace 192.0.2.10/32 via %s" % node)
        ext.ip("route replace 198.51.100.7/32 via %s" % node)

    def connect(addr, port, timeout=2):
        t0 = time.monotonic()
        got = ask(ext, "TCP", addr, port, timeout)
        return got, time.monotonic() - t0

    def health(node):
        r = ext.sh("curl -s -m 3 -w '\\n%%{http_code}' http://%s:31080/healthz" % node, check_rc=False)
        body, _, code = r.stdout.rpartition("\n")
        try:
            return code, json.loads(body)
        except ValueError:
            return code, body

    for sw in c.sw.values():
        sw.ok("apply", {"objects": lb_objects("Cluster")})
    # Cluster: node-a forwards to node-b's pod, masqueraded to node-a's address
    through("192.168.88.1")
    for addr, port in (("192.168.88.1", 30080), ("192.0.2.10", 80), ("198.51.100.7", 80)):
        got, took = connect(addr, port)
        check(got == "192.168.88.1" and took < 0.9, "%s: Cluster, %s:%d through node-a: the backend saw %r "
              "(%.2f s; node-a drops %s, node-b drops %s)" % (encap, addr, port, got, took,
                                                              nonzero_drops(c.sw["a"]), nonzero_drops(c.sw["b"])))
    # Local: node-a has no endpoint of its own and drops; node-b keeps the client's address
    for sw in c.sw.values():
        sw.ok("apply", {"objects": lb_objects("Local")})
    before = c.sw["a"].stats().get("drop.svc_no_local_endpoint", 0)
    for addr, port in (("192.168.88.1", 30080), ("192.0.2.10", 80), ("198.51.100.7", 80)):
        got, _ = connect(addr, port, timeout=0.5)
        check(got == "", "%s: Local, %s:%d through node-a (no local endpoint) answered %r" % (encap, addr, port, got))
    after = c.sw["a"].stats().get("drop.svc_no_local_endpoint", 0)
    check(after >= before + 3, "%s: node-a's svc_no_local_endpoint %d -> %d" % (encap, before, after))
    # node-a's own pod: the policy is for traffic from outside; every endpoint,
    # the pod's own address kept (kube-proxy's "pod traffic for external destinations")
    for addr, port in (("192.168.88.1", 30080), ("192.0.2.10", 80), ("198.51.100.7", 80)):
        t0 = time.monotonic()
        got = ask(c.pods["a"], "TCP", addr, port, 2)
        took = time.monotonic() - t0
        check(got == "10.244.1.5" and took < 0.9, "%s: Local, node-a's pod to %s:%d: the backend saw %r (%.2f s; "
              "node-a drops %s)" % (encap, addr, port, got, took, nonzero_drops(c.sw["a"])))
    check(c.sw["a"].stats().get("drop.svc_no_local_endpoint", 0) == after,
          "%s: node-a dropped its own pod's connections as if from outside" % encap)
    through("192.168.88.2")
    for addr, port in (("192.168.88.2", 30080), ("192.0.2.10", 80), ("198.51.100.7", 80)):
        got, took = connect(addr, port)
        check(got == "192.168.88.100" and took < 0.9, "%s: Local, %s:%d through node-b: the backend saw %r "
              "(%.2f s; node-b drops %s)" % (encap, addr, port, got, took, nonzero_drops(c.sw["b"])))
    # the load balancer's health check: node-a has no endpoint, node-b one
    code, body = health("192.168.88.1")
    check(code == "503" and isinstance(body, dict) and body.get("localEndpoints") == 0,
          "%s: node-a's health check: %s %r" % (encap, code, body))
    code, body = health("192.168.88.2")
    check(code == "200" and isinstance(body, dict) and body.get("localEndpoints") == 1 and
          body.get("service") == {"namespace": "default", "name": "lb"},
          "%s: node-b's health check: %s %r" % (encap, code, body))
    for sw in c.sw.values():
        sw.stop()


@test
def external_traffic_policy_across_nodes(scope):
    """A LoadBalancer Service (NodePort, external IP, load-balancer IP) on
    both nodes whose one endpoint is node-b's pod, reached by the external
    client. externalTrafficPolicy Cluster through node-a: forwarded, the
    backend sees node-a's address, the first SYN through. Local: node-a
    drops (svc_no_local_endpoint), but takes its own pod to node-b's
    endpoint with the pod's address (the policy is not for pods); node-b
    takes the client in with its own address; healthCheckNodePort answers 503 / localEndpoints 0 on node-a,
    200 / 1 on node-b. VXLAN and native routing."""
    for encap in ("vxlan", "none"):
        traffic_policy_across_nodes(scope, encap)


def node_removed(scope, encap):
    c = TwoNodes(scope, encap, ext=False)
    a, b = c.pods["a"], c.pods["b"]
    serve_peer(b, "UDP", 9000)
    sent, got = ping(a, "10.244.2.5", count=1)
    check(got == 1, "%s: the first ping before the delete was lost" % encap)
    sw = c.sw["a"]
    sw.ok("delete", {"objects": [c.nodes[1]]})
    before = sw.stats().get("drop.no_route", 0)
    sent, got = ping(a, "10.244.2.5", count=2)
    check(got == 0, "%s: node-b's pod still reached after its Node was deleted" % encap)
    check(sw.stats().get("drop.no_route", 0) >= before + 2, "%s: no_route not counted" % encap)
    entries, counters = neighbours(sw)
    check("192.168.88.2" not in entries, "%s: node-b's neighbour entry outlived its Node: %s" % (encap, entries))
    # node-b's pod, which node-b still routes to node-a: no answer either (under
    # VXLAN node-a no longer takes what node-b sends for its pods)
    spoof = sw.stats().get("drop.vxlan_spoof", 0)
    sent, got = ping(b, "10.244.1.5", count=1)
    check(got == 0, "%s: node-a answered node-b's pod with node-b's Node deleted" % encap)
    check(encap != "vxlan" or sw.stats().get("drop.vxlan_spoof", 0) > spoof,
          "node-a's vxlan_spoof not counted for node-b's VXLAN after the delete")
    sw.ok("apply", {"objects": [c.nodes[1]]})
    sent, got = ping(a, "10.244.2.5", count=1)
    check(got == 1, "%s: the first ping after node-b's Node came back was lost (neighbours %s)"
          % (encap, neighbours(sw)))
    entries, after = neighbours(sw)
    check(entries.get("192.168.88.2", {}).get("mac") == mac_of(c.up["b"]) and
          after["requests"] > counters["requests"], "%s: node-b not asked for again: %s, %s"
          % (encap, entries.get("192.168.88.2"), after))
    sent, got = ping(b, "10.244.1.5", count=1)
    check(got == 1, "%s: node-b's pod to node-a's after the Node came back" % encap)
    got = ask(a, "UDP", "10.244.2.5", 9000)
    check(got == "10.244.1.5", "%s: UDP after the Node came back: %r" % (encap, got))
    for node in c.sw.values():
        node.stop()


@test
def node_removed_and_re_added(scope):
    """node-b's Node deleted on node-a: its pods are unreachable (no_route
    counted) and its neighbour entry goes; node-b's pod gets no answer either
    (under VXLAN node-a counts vxlan_spoof). Applied again, the first ping
    gets through (route rebuilt, node-b's MAC asked for anew), and node-b's
    pod reaches node-a's, UDP too. Both modes."""
    for encap in ("none", "vxlan"):
        node_removed(scope, encap)


if __name__ == "__main__":
    main()
