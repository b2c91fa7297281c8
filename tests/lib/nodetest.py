"""What the tests of several nodes share (test_nodes.py, test_uplink_attack.py):
a router namespace on a switch's uplink, two switches on a bridged underlay,
Node objects and the neighbour table as `status` shows it."""
import json
import time

from pswtest import Netns, Switch, check, run, uid, veth_pod

ROUTER_MAC = "02:00:00:00:77:fe"


def neighbours(sw):
    """The switch's neighbour entries by address, and its neighbour counters."""
    st = sw.ok("status")
    return {e["address"]: e for e in st["neighbours"]["entries"]}, st["neighbours"]["counters"]


def wait_neighbour(sw, addr, state, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        entries, _ = neighbours(sw)
        if addr in entries and entries[addr]["state"] == state:
            return entries[addr]
        time.sleep(0.05)
    check(False, "neighbour %s not %s after %ss: %s" % (addr, state, timeout, neighbours(sw)))


def mac_of(ifname, ns=None):
    out = run((["ip", "-n", ns.name] if ns else ["ip"]) + ["-j", "link", "show", ifname]).stdout
    return json.loads(out)[0]["address"]


def node_object(name, cidr, address):
    """A Node; cidr and address may be lists (dual stack)."""
    cidrs = [cidr] if isinstance(cidr, str) else cidr
    addrs = [address] if isinstance(address, str) else address
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs},
            "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addrs] +
                       [{"type": "Hostname", "address": name}]}}


def pod_v6(ns, addr, gw):
    """IPv6 in a veth_pod: addr/64 (no duplicate address detection), default route via gw."""
    ns.sh("sysctl -qw net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.eth0.router_solicitations=0 "
          "net.ipv6.conf.eth0.disable_ipv6=0")
    ns.ip("-6 addr add %s/64 dev eth0 nodad" % addr)
    ns.ip("-6 route add default via %s" % gw)


class Underlay:
    """A router namespace on the switch's uplink: 192.168.77.254/24 (MAC
    ROUTER_MAC) on a veth whose other end the switch drives (af_packet), the
    addresses `behind` on its loopback, and a route back to the node's pods
    through the node's address."""

    def __init__(self, scope, pod_cidr="10.244.0.0/24", node="192.168.77.1",
                 behind=("172.31.99.1", "172.31.98.1", "172.31.97.1")):
        self.ns = Netns(scope)
        self.host = "up" + uid()
        run(["ip", "link", "add", self.host, "type", "veth", "peer", "name", "eth0", "netns", self.ns.name])
        scope.defer(lambda: run(["ip", "link", "del", self.host], check_rc=False))
        run(["ip", "link", "set", self.host, "up"])
        self.ns.sh("sysctl -qw net.ipv4.conf.all.arp_accept=1 net.ipv4.conf.default.arp_accept=1")
        self.ns.ip("link set eth0 address %s up" % ROUTER_MAC)
        self.ns.sh("sysctl -qw net.ipv4.conf.eth0.arp_accept=1")
        self.ns.ip("addr add 192.168.77.254/24 dev eth0")
        for a in behind:
            self.ns.ip("addr add %s/32 dev lo" % a)
        self.ns.ip("route add %s via %s" % (pod_cidr, node))
        self.ns.sh("ethtool -K eth0 tx off >/dev/null")


class TwoNodes:
    """Two switches whose uplinks share a bridge in an underlay namespace:
    node-a 192.168.88.1 with pods in 10.244.1.0/24, node-b 192.168.88.2
    with 10.244.2.0/24; one kernel pod on each (.5); both switches told
    about both Nodes. With subnet, the node addresses carry their /24 (the
    rest of the link reached directly); with ext, a client outside the
    cluster on the underlay, 192.168.88.100. With v6, dual stack: the nodes
    also have fd00:88::1 and ::2 (/64 with subnet), pods in
    fd00:10:244:1::/64 and fd00:10:244:2::/64 (::5 each). With from_node,
    the switches take their addresses from their Node objects
    (node.addresses_from_node) instead of the configuration. With pod_mtu,
    both ends of each pod's veth get that MTU (what the CNI plugin gives
    pods: 1450 under VXLAN). With vhost (a socket path), node-a also has a
    vhost-user pod, 10.244.1.20 (MAC 02:00:00:00:01:20), the switch the
    server."""

    def __init__(self, scope, encap, subnet=True, ext=True, v6=False, from_node=False, pod_mtu=None, extra="",
                 vhost=None):
        self.scope = scope
        self.under = Netns(scope)
        self.under.ip("link add br0 type bridge")
        self.under.ip("link set br0 up")
        self.sw, self.pods, self.up = {}, {}, {}
        for name, n in (("a", 1), ("b", 2)):
            up = "u%s%s" % (name, uid())
            run(["ip", "link", "add", up, "type", "veth", "peer", "name", "e" + name, "netns", self.under.name])
            scope.defer(lambda up=up: run(["ip", "link", "del", up], check_rc=False))
            run(["ip", "link", "set", up, "up"])
            self.under.ip("link set e%s master br0 up" % name)
            host = "p%s%s" % (name, uid())
            pod = veth_pod(scope, host, "02:00:00:00:0%d:05" % n, "10.244.%d.5" % n, gw="10.244.%d.1" % n)
            if pod_mtu:
                run(["ip", "link", "set", host, "mtu", str(pod_mtu)])
                pod.ip("link set eth0 mtu %d" % pod_mtu)
            if v6:
                pod_v6(pod, "fd00:10:244:%d::5" % n, "fd00:10:244:%d::1" % n)
                six = ('pod_cidr6 = "fd00:10:244:%d::/64"; gateway6 = "fd00:10:244:%d::1";' % (n, n),
                       ', "fd00:88::%d%s"' % (n, "/64" if subnet else ""),
                       'pod_cidr6 = "fd00:10:244::/48";', '; ip6 = "fd00:10:244:%d::5"' % n)
            else:
                six = ('pod_cidr6 = "";', "", "", "")
            addresses = 'addresses = [ "192.168.88.%d%s"%s ];' % (n, "/24" if subnet else "", six[1])
            if from_node:
                addresses = "addresses_from_node = true;"
            conf = """node = { name = "node-%s"; pod_cidr = "10.244.%d.0/24"; gateway = "10.244.%d.1";
  %s %s };
cluster = { pod_cidr = "10.244.0.0/16"; %s encapsulation = "%s"; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; uplink = true; },
          { name = "p"; kind = "af_packet"; ifname = "%s"; }%s );
pods = ( { name = "p%s"; port = "p"; mac = "02:00:00:00:0%d:05"; ip = "10.244.%d.5"%s; }%s );
""" % (name, n, n, six[0], addresses, six[2], encap, up, host,
       ',\n          { name = "g"; kind = "vhost-user"; socket = "%s"; }' % vhost if vhost and n == 1 else "",
       name, n, n, six[3],
       ',\n         { name = "g"; port = "g"; mac = "02:00:00:00:01:20"; ip = "10.244.1.20"; }'
       if vhost and n == 1 else "")
            self.sw[name] = Switch(scope, conf + extra, name="node-" + name + uid()).start(wait=False)
            self.pods[name] = pod
            self.up[name] = up
        if ext:
            self.ext = Netns(scope)
            run(["ip", "link", "add", "ex" + uid(), "netns", self.ext.name, "type", "veth", "peer", "name",
                 "ex", "netns", self.under.name])
            self.under.ip("link set ex master br0 up")
            link = json.loads(self.ext.sh("ip -j link show type veth").stdout)[0]["ifname"]
            self.ext.ip("link set %s up" % link)
            self.ext.ip("addr add 192.168.88.100/24 dev %s" % link)
            self.ext.sh("ethtool -K %s tx off >/dev/null" % link)      # whole checksums on the wire
        if v6:
            self.nodes = [node_object("node-%s" % x, ["10.244.%d.0/24" % n, "fd00:10:244:%d::/64" % n],
                                      ["192.168.88.%d" % n, "fd00:88::%d" % n])
                          for x, n in (("a", 1), ("b", 2))]
        else:
            self.nodes = [node_object("node-a", "10.244.1.0/24", "192.168.88.1"),
                          node_object("node-b", "10.244.2.0/24", "192.168.88.2")]
        for sw in self.sw.values():          # both started at once
            sw.wait_log("API on", 20)
            sw.ok("apply", {"objects": self.nodes})
