#!/usr/bin/python3
"""End to end through real pod ports: psw-gen (tests/perf/psw_gen.c), an
open-loop generator, on CPU 0; the switch's one worker (podswitch) or PMD
thread (Open vSwitch with DPDK, run privately) on CPU 1; joined by two
vhost-user sockets on which the generator's virtio_user ports are the
servers (the switches connect as clients, so every switch meets the very
same sockets, frames and flows).

The generator sends UDP frames of N flows (source ports) out of port 0 as
fast as the switch takes them (vhost-user pushes back when the switch is
slower), or at a fixed rate, and counts them on port 1. The figure is the
rate received on port 1 over a 5-second window after a 1-second warm-up, in
Mpps and in Gbit/s of frame bytes, with the loss; at a fixed rate, the
latency (min / median / p99) from TSC stamps in the frames.

Scenarios (64-byte and 1518-byte frames, on-the-wire sizes):
  io       testpmd io forwarding between the same two sockets: the cost of
           the ports themselves (the reference for pod-to-pod)
  l3       pod a -> pod b routed (MACs rewritten, TTL, anti-spoofing);
           OVS: OpenFlow rules matching in_port, MAC and addresses, rewriting
           the MACs, dec_ttl
  svc      pod a -> the ClusterIP of pod b, 8,192 flows, 1 flow, 10k and 1M flows
           (1,000,000: 64,000 source ports to each of 16 Service ports)
           (conntrack + DNAT); OVS: ct(nat) / ct(commit, nat(dst=...))
  svc+pol  the same with a NetworkPolicy of 1,000 rules on pod b
           (podswitch), a 1,000-flow ACL table on new connections (OVS)
  l3, scraped
           l3 twice, alternating: as it is, and with metrics.listen set and
           /metrics scraped every second while the generator runs (what a
           Prometheus scrape costs the worker; issue 18's budget is 2%), at
           PSW_BENCH_SCRAPE_RATE (5e6) pps; compare the worker's cycles/pkt
  l3, full node
           l3 with the rest of a full node attached and idle beside the two
           busy ports (PSW_BENCH_FULL_KERNEL=600 af_packet ports on veth
           pairs, PSW_BENCH_FULL_VHOST=300 vhost-user ports counting the two
           busy ones, PSW_BENCH_FULL_MEMIF=100 memif ports); of the idle
           vhost-user ports, PSW_BENCH_FULL_CONNECTED=8 have a driver (an
           idle testpmd), the others none. Open vSwitch gets the same
           vhost-user ports (it has no memif, and its kernel ports are not
           polled by the PMD thread). "l3, full node memif": the same with
           the two busy ports memif ones (of the 100), podswitch only
  vxlan encap
           pod a (first socket) -> a pod of another node (10.244.1.10; a v1
           Node with podCIDR 10.244.1.0/24 and InternalIP 192.168.240.2),
           routed and encapsulated in VXLAN (VNI 1, UDP 4789) out of the
           uplink: the second socket, a vhost-user uplink with the node's
           address 192.168.240.1/24. The generator is the other node there:
           it answers ARP for its address and counts the frames inside.
           OVS, as its userspace tunnelling is set up: br-int with the pod's
           port and a vxlan port (remote_ip, local_ip, key 1) and a rule
           routing pod a's packets for that CIDR into it (MACs rewritten,
           dec_ttl); br-phy with the uplink's port and NORMAL, the node's
           address on br-phy's own interface (in a network namespace of its
           own), the route (ovs/route/add) and the other node's MAC
           (tnl/arp/set, so it asks nothing)
  vxlan decap
           the other node's pod -> pod a: the generator sends every frame in
           VXLAN from 192.168.240.2 into the uplink's socket and counts the
           inner frames on the pod's. podswitch checks that the inner source
           is the sending node's (its Node's CIDR); OVS matches tun_src and
           the inner source CIDR on the vxlan port, routes to pod a
  l3 tso   pod a -> pod b routed, TCP: 64,000-byte frames, each with a
           segmentation request (MSS 1,448: the virtio-net header's
           GSO_TCPV4), 64 flows; pod b's driver takes large frames
           (GUEST_TSO4/6, GUEST_CSUM): they cross the switch whole. The
           figure is the TCP payload received, in Gbit/s. OVS with
           other_config:userspace-tso-enable=true
  l3 tso, segmented
           the same, pod b's driver without GUEST_TSO: the switch cuts each
           frame into 1,448-byte segments (podswitch only: Open vSwitch 3.1
           drops a TSO packet to a port without TSO)
           Both check every run's frames (all in VXLAN or none; the first
           one's outer and inner headers) and print the first run's, and
           open the window after OVERLAY_WARMUP (3 s): podswitch learns the
           other node's MAC by ARP, about a second after the uplink comes up

Each scenario runs the switches alternately in one invocation and prints
the ratio podswitch / Open vSwitch. Appends one JSON object per figure to
argv[1]; further arguments pick scenarios.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import BUILD, Scope, Switch, api_call, defer_dpdk_stop, uid  # noqa: E402
from nodetest import node_object  # noqa: E402

RUNS = int(os.environ.get("PSW_BENCH_E2E_RUNS", "3"))
SECONDS = float(os.environ.get("PSW_BENCH_E2E_SECONDS", "5"))
# "l3, scraped" at a fixed rate the worker keeps up with: the control thread
# (and its scrapes) shares CPU 0 with the generator here, so at full speed a
# scrape would slow the generator, not the worker
SCRAPE_RATE = float(os.environ.get("PSW_BENCH_SCRAPE_RATE", "5e6"))
LAT_RATE = int(os.environ.get("PSW_BENCH_E2E_LAT_PPS", "500000"))
GEN_MAC = ["02:00:00:00:e0:0a", "02:00:00:00:e0:0b"]
GW_MAC = "02:50:53:57:00:01"          # podswitch's default gateway MAC
IP_A, IP_B = "10.244.0.10", "10.244.0.11"


GEN = os.path.join(BUILD, "tests", "perf", "psw-gen")
OVS_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
MAC_A, MAC_B = GEN_MAC
VIP = "10.96.0.80"
# The overlay: this node's uplink (the second socket) on an underlay that
# only the generator and the switches' private namespaces see; the other
# node (its tunnel endpoint and pods) is the generator's port there.
NODE_IP, REMOTE_NODE_IP = "192.168.240.1", "192.168.240.2"
UPLINK_MAC = "02:00:00:00:0e:01"      # the switch's MAC on the uplink (OVS: br-phy's)
REMOTE_GW_MAC = "02:50:53:57:00:02"   # the other node's pod gateway: the inner source MAC it sends
REMOTE_CIDR, REMOTE_POD = "10.244.1.0/24", "10.244.1.10"
VXLAN_PORT, VNI = 4789, 1
OVERLAY_WARMUP = 3          # seconds: the other node's MAC asked for and learned (podswitch)


class Generator:
    """psw-gen on CPU 0: virtio_user servers on both sockets, open loop. Start
    it after the switch: it waits in its start-up for the switch (a vhost-user
    client that retries every second) to connect to each socket in turn."""

    def __init__(self, scope, socks, frame, flows, dst_ip, dport, rate=0, seconds=SECONDS, memif=False,
                 src=(MAC_A, GW_MAC, IP_A), extra=(), warmup=1):
        burst = 2 if rate else 32           # at a fixed rate: latency of the switch, not of a queue
        self.prefix = "pswgen" + uid()
        cmd = [GEN, "--no-huge", "-m", "512", "--no-pci", "--file-prefix=" + self.prefix, "--lcores=0@0",
               "--single-file-segments", "--log-level=*:error"]
        for i, s in enumerate(socks):
            if memif:       # the switch's memif ports are the servers
                cmd.append("--vdev=net_memif%d,role=client,id=0,socket=%s,socket-abstract=no,mac=%s"
                           % (i, s, GEN_MAC[i]))
            else:
                cmd.append("--vdev=net_virtio_user%d,path=%s,server=1,queues=1,queue_size=1024,mac=%s"
                           % (i, s, GEN_MAC[i]))
        cmd += ["--", "--frame", str(frame), "--flows", str(flows), "--seconds", str(seconds),
                "--warmup", str(warmup), "--rate", str(rate), "--burst", str(burst),
                "--src-mac", src[0], "--dst-mac", src[1], "--src-ip", src[2], "--dst-ip", dst_ip, "--dport", str(dport)] + list(extra)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        scope.defer(self.stop)

    def result(self, timeout=120):
        out, err = self.p.communicate(timeout=timeout)
        if self.p.returncode != 0:
            raise RuntimeError("psw-gen failed (%d): %s" % (self.p.returncode, err[-2000:]))
        return json.loads(out.strip().splitlines()[-1])

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True)


def podswitch_eal():
    """The same memory as Open vSwitch gets, when there are hugepages: 2 MB pages."""
    if not HUGE_DIR[0]:
        return ""
    return 'hugepages = true; memory_mb = 512; args = [ "--huge-dir=%s" ];' % HUGE_DIR[0]


def podswitch_conf(socks, extra="", memif=False):
    kind = 'kind = "memif"' if memif else 'kind = "vhost-user"; client = true'
    return """ports = ( { name = "g0"; %s; socket = "%s"; },
          { name = "g1"; %s; socket = "%s"; } );
pods = ( { name = "a"; namespace = "bench"; port = "g0"; mac = "%s"; ip = "%s"; },
         { name = "b"; namespace = "bench"; port = "g1"; mac = "%s"; ip = "%s"; } );
%s""" % (kind, socks[0], kind, socks[1], GEN_MAC[0], IP_A, GEN_MAC[1], IP_B, extra)


def policy_objects(nb_rules):
    """Pod b isolated for ingress by nb_rules rules: nb_rules - 1 that do not
    match the generator's flow (other /32 peers on other ports), the last one
    allowing pod a's address to UDP 8080."""
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "bench",
                                                             "labels": {"app": "b"}},
             "spec": {"containers": [{"name": "c"}]}}]
    rules = [{"from": [{"ipBlock": {"cidr": "192.168.%d.%d/32" % (i // 250, i % 250 + 1)}}],
              "ports": [{"port": 1000 + i % 5000, "protocol": "UDP"}]} for i in range(nb_rules - 1)]
    rules.append({"from": [{"ipBlock": {"cidr": IP_A + "/32"}}], "ports": [{"port": 8080, "protocol": "UDP"}]})
    objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "b-in", "namespace": "bench"},
                 "spec": {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": rules}})
    return objs


def service_objects(nb_ports=1):
    """Service b on the ClusterIP, UDP ports 80.. to pod b's 8080.. (named when several)."""
    def named(i, d):
        return dict(d, name="p%d" % i) if nb_ports > 1 else d
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "namespace": "bench"},
             "spec": {"clusterIP": VIP, "ports": [named(i, {"port": 80 + i, "targetPort": 8080 + i,
                                                            "protocol": "UDP"}) for i in range(nb_ports)]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "b-1", "namespace": "bench", "labels": {"kubernetes.io/service-name": "b"}},
             "addressType": "IPv4",
             "ports": [named(i, {"port": 8080 + i, "protocol": "UDP"}) for i in range(nb_ports)],
             "endpoints": [{"addresses": [IP_B], "conditions": {"ready": True}}]}]


FLOWS_PER_DPORT = 64000     # psw-gen: more flows than this use the next destination ports
SCENARIOS = {
    # name: (destination, UDP port, flows)
    "l3": (IP_B, 8080, 8192),
    "svc": (VIP, 80, 8192),
    "svc, 1 flow": (VIP, 80, 1),
    "svc, 10k flows": (VIP, 80, 10000),
    "svc, 1M flows": (VIP, 80, 1000000),
    "svc+pol": (VIP, 80, 8192),
    "l3, full node": (IP_B, 8080, 8192),
    "l3, scraped": (IP_B, 8080, 8192),
    "vxlan encap": (REMOTE_POD, 8080, 8192),
    "vxlan decap": (IP_A, 8080, 8192),
    "l3 tso": (IP_B, 8080, 64),
    "l3 tso, segmented": (IP_B, 8080, 64),
}
TSO_MSS = 1448


def tso_args(scenario):
    """psw-gen's arguments for a TSO scenario: large TCP frames, and pod b taking them or not."""
    if not scenario.startswith("l3 tso"):
        return []
    return ["--tso", str(TSO_MSS)] + ([] if scenario.endswith("segmented") else ["--lro"])


FULL = {k: int(os.environ.get("PSW_BENCH_FULL_" + k.upper(), d))
        for k, d in (("kernel", 600), ("vhost", 300), ("memif", 100), ("connected", 8))}


class FullNode:
    """The idle rest of a full node, attached as the CNI plugin attaches pods
    (the API's cni.add + cni.attach): af_packet ports on veth pairs, vhost-user
    and memif ports on sockets the switch serves; an idle testpmd drives the
    first FULL["connected"] vhost-user ports. Open vSwitch gets the same number
    of vhost-user ports (dpdkvhostuserclient), the first FULL["connected"]
    served by an idle testpmd started before it (its virtio_user servers
    accept one client after another)."""

    def __init__(self, scope, memif=False):
        """memif: the two busy ports are memif ones (of FULL["memif"]), else vhost-user."""
        self.scope = scope
        self.dir = scope.path("full" + uid())
        os.makedirs(self.dir)
        tag = uid()[-4:]
        self.veths = ["pk%s_%d" % (tag, i) for i in range(FULL["kernel"])]
        self.nb_vhost = max(0, FULL["vhost"] - (0 if memif else 2))
        self.nb_memif = max(0, FULL["memif"] - (2 if memif else 0))
        self.nb_connected = min(FULL["connected"], self.nb_vhost)

    def idle_pod(self, vdevs):
        if not vdevs:
            return
        prefix = "pswidle" + uid()
        cmd = ["dpdk-testpmd", "--no-huge", "-m", "512", "--no-pci", "--file-prefix=" + prefix,
               "--lcores=0@0,1@0", "--log-level=*:error", "--single-file-segments"] + [
               "--vdev=" + v for v in vdevs] + [
               "--", "-i", "--nb-cores=1", "--no-mlockall", "--total-num-mbufs=%d" % (2048 * len(vdevs))]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        defer_dpdk_stop(self.scope, p, prefix)

    def attach_podswitch(self, sw):
        """Attach every idle port; then the idle DPDK pod connects to the first vhost-user ones."""
        socks = []
        kinds = ([("kernel", v) for v in self.veths] + [("vhost-user", None)] * self.nb_vhost +
                 [("memif", None)] * self.nb_memif)
        added = []
        for i, (kind, veth) in enumerate(kinds):
            args = {"container_id": "idle%d" % i, "ifname": "eth0", "interface": kind,
                    "pod_namespace": "bench", "pod_name": "idle%d" % i}
            if veth:
                args["host_ifname"] = veth
            r = api_call(sw.sock, "cni.add", args)
            assert r["ok"], (args, r)
            added.append((kind, args))
        if self.veths:     # as the plugin does: the veth after the address, before the attach
            batch = "".join("link add %s type veth peer name %sp\nlink set %s up\n" % (v, v, v)
                            for v in self.veths)
            subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
            self.scope.defer(lambda: subprocess.run(["ip", "-force", "-batch", "-"], text=True,
                                                    input="".join("link del %s\n" % v for v in self.veths)))
        for kind, args in added:
            r = api_call(sw.sock, "cni.attach", args)
            assert r["ok"], (args, r)
            if kind == "vhost-user" and len(socks) < self.nb_connected:
                iface = r["result"]["interfaces"][-1] if "interfaces" in r["result"] else r["result"]
                socks.append(iface.get("socketPath") or iface.get("socket"))
        self.idle_pod(["net_virtio_user%d,path=%s,queues=1" % (i, sk) for i, sk in enumerate(socks)])
        self.wait_connected(lambda: sum(1 for p in sw.ok("get", {"kind": "ports"})["items"]
                                        if p["name"].startswith("cni-idle") and p.get("link_up")))

    def ovs_ports(self):
        socks = [os.path.join(self.dir, "v%d.sock" % i) for i in range(self.nb_vhost)]
        self.idle_pod(["net_virtio_user%d,path=%s,server=1,queues=1" % (i, socks[i])
                       for i in range(self.nb_connected)])
        cmd = []
        for i, sk in enumerate(socks):
            cmd += ["--", "add-port", "br0", "idle%d" % i, "--", "set", "Interface", "idle%d" % i,
                    "type=dpdkvhostuserclient", "options:vhost-server-path=" + sk]
        return cmd

    def wait_connected(self, connected):
        """Until connected() counts every idle driver (or 60 s)."""
        end = time.time() + 60
        while connected() < self.nb_connected and time.time() < end:
            time.sleep(0.2)


def service_ports(flows):
    return (flows + FLOWS_PER_DPORT - 1) // FLOWS_PER_DPORT


class Scraper(threading.Thread):
    """GET url every second until stopped; counts the scrapes."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.done, self.scrapes = url, threading.Event(), 0

    def run(self):
        while not self.done.wait(1.0):
            with urllib.request.urlopen(self.url, timeout=5) as r:
                r.read()
            self.scrapes += 1


def overlay_macs(scenario):
    """(the pod's MAC, the other node's): the generator's MACs on the pod's
    socket and on the uplink's; it sends from the pod (encap, its port 0 on
    the first socket) or from the other node (decap, its port 0 on the
    uplink's socket)."""
    return (GEN_MAC[0], GEN_MAC[1]) if scenario == "vxlan encap" else (GEN_MAC[1], GEN_MAC[0])


def overlay_generator(scope, socks, scenario, frame, rate=0):
    """psw-gen for a VXLAN scenario, on [pod socket, uplink socket]: it answers
    ARP for the other node's address on either port (podswitch has no static
    neighbour; Open vSwitch is given it with tnl/arp/set, and asks nothing).
    The window opens after OVERLAY_WARMUP seconds: podswitch's first ARP
    request on the uplink that has just come up goes unanswered, the next
    (1 s later) is, and the packets before it are dropped (punt_limit)."""
    dst, dport, flows = SCENARIOS[scenario]
    arp = ["--arp-ip", REMOTE_NODE_IP]
    if scenario == "vxlan encap":
        return Generator(scope, socks, frame, flows, dst, dport, rate, extra=arp, warmup=OVERLAY_WARMUP)
    # the other node's pod, as the other node's switch sends it: its gateway's
    # MAC, no destination MAC (the receiver sets its own), inside VXLAN from its
    # address to this node's
    return Generator(scope, socks[::-1], frame, flows, dst, dport, rate, src=(REMOTE_GW_MAC, "00:00:00:00:00:00",
                                                                               REMOTE_POD),
                     extra=arp + ["--outer-src-mac", overlay_macs(scenario)[1], "--outer-dst-mac", UPLINK_MAC,
                                  "--outer-src-ip", REMOTE_NODE_IP, "--outer-dst-ip", NODE_IP, "--vni", str(VNI),
                                  "--vxlan-port", str(VXLAN_PORT)], warmup=OVERLAY_WARMUP)


def check_overlay(scenario, swname, res):
    """What the generator counted must be what the scenario says (else the
    figure measures something else): VXLAN from this node to the other, the
    pod's packet inside, routed (TTL 63); or, decapsulated, the other node's
    pod's packet to pod a. Returns the first frame's headers, in words."""
    b = bytes.fromhex(res["rx_first"])
    pod_mac, remote_mac = overlay_macs(scenario)

    def mac(o):
        return ":".join("%02x" % x for x in b[o:o + 6])

    def ip(o):
        return socket.inet_ntoa(b[o:o + 4])
    got = {}
    if scenario == "vxlan encap" and len(b) >= 92:
        got = {"outer": (mac(0), mac(6), b[12:14].hex(), ip(26), ip(30), b[23], int.from_bytes(b[36:38], "big"),
                         b[42], int.from_bytes(b[46:49], "big")),
               "inner": (ip(76), ip(80), b[72], mac(56), mac(50))}
        want = {"outer": (remote_mac, UPLINK_MAC, "0800", NODE_IP, REMOTE_NODE_IP, 17, VXLAN_PORT, 0x08, VNI),
                "inner": (IP_A, REMOTE_POD, 63, GW_MAC, "00:00:00:00:00:00")}
        whole = res["received_vxlan"] >= 0.999 * res["rx_pps"] * SECONDS
    elif scenario == "vxlan decap" and len(b) >= 42:
        got = {"frame": (mac(0), mac(6), ip(26), ip(30), b[22])}
        want = {"frame": (pod_mac, GW_MAC, REMOTE_POD, IP_A, 63)}
        whole = res["received_vxlan"] == 0
    if not got or got != want or not whole or res["rx_pps"] <= 0:
        raise RuntimeError("%s, %s: the frames counted are not what the scenario sends (%d of them in VXLAN): "
                           "first %s, wanted %s" % (scenario, swname, res["received_vxlan"], got, want))
    if scenario == "vxlan encap":
        o, i = got["outer"], got["inner"]
        return ("%s > %s, %s > %s UDP %d VXLAN flags 0x%02x VNI %d | %s > %s TTL %d (%.0f of %.0f frames in VXLAN)"
                % (o[1], o[0], o[3], o[4], o[6], o[7], o[8], i[0], i[1], i[2], res["received_vxlan"],
                   res["rx_pps"] * SECONDS))
    f = got["frame"]
    return "%s > %s, %s > %s TTL %d (none in VXLAN)" % (f[1], f[0], f[2], f[3], f[4])


def podswitch_overlay_conf(socks, scenario, extra=""):
    """Pod a on the first socket, the uplink on the second; the other node
    comes as a v1 Node (applied once the generator is there to answer ARP)."""
    return """ports = ( { name = "g0"; kind = "vhost-user"; client = true; socket = "%s"; },
          { name = "up"; kind = "vhost-user"; client = true; socket = "%s"; uplink = true; mac = "%s"; } );
pods = ( { name = "a"; namespace = "bench"; port = "g0"; mac = "%s"; ip = "%s"; } );
node = { name = "bench-a"; addresses = [ "%s/24" ]; };
cluster = { pod_cidr = "10.244.0.0/16"; encapsulation = "vxlan"; vxlan_port = %d; vni = %d; };
%s""" % (socks[0], socks[1], UPLINK_MAC, overlay_macs(scenario)[0], IP_A, NODE_IP, VXLAN_PORT, VNI, extra)


def run_podswitch_overlay(scope, sw, socks, scenario, frame, rate=0):
    """Start the generator, wait for both ports, then give the switch the
    other node: its neighbour entry is asked for when the generator can
    answer (an ARP lost to a port not yet connected would fail it for 5 s)."""
    gen = overlay_generator(scope, socks, scenario, frame, rate)
    end = time.time() + 60
    while time.time() < end and sum(1 for p in sw.ok("get", {"kind": "ports"})["items"]
                                    if p["name"] in ("g0", "up") and p.get("link_up")) < 2:
        time.sleep(0.05)
    r = api_call(sw.sock, "apply", {"objects": [node_object("bench-b", REMOTE_CIDR, REMOTE_NODE_IP)]})
    assert r["ok"], r
    return gen.result()


def run_podswitch(scope, scenario, frame, rate=0, memif=False, scrape=False):
    socks = [scope.path("g%d-%s.sock" % (i, uid())) for i in range(2)]
    dst, dport, flows = SCENARIOS[scenario]
    # room for every connection: 1M flows need more than the default 262,144
    # one generator port opens every flow: no per-port share
    full = FullNode(scope, memif) if scenario == "l3, full node" else None
    extra = "limits = { conntrack = %d; conntrack_per_port = 0;%s };" % (
        max(262144, 1 << (flows - 1).bit_length()), " pods = 1100;" if full else "")
    if full:        # room for 1,000 pod addresses
        extra += '\nnode = { pod_cidr = "10.244.0.0/20"; gateway = "10.244.0.1"; };'
    if scrape:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            listen = "127.0.0.1:%d" % s.getsockname()[1]
        extra += '\nmetrics = { listen = "%s"; };' % listen

    overlay = scenario.startswith("vxlan")
    sw = Switch(scope, podswitch_overlay_conf(socks, scenario, extra) if overlay else
                podswitch_conf(socks, extra=extra, memif=memif),
                workers="[1]", idle_sleep_us=0, eal=podswitch_eal()).start()
    if full:
        full.attach_podswitch(sw)
    if scenario.startswith("svc"):
        r = api_call(sw.sock, "apply", {"objects": service_objects(service_ports(flows))})
        assert r["ok"], r
    if scenario == "svc+pol":
        r = api_call(sw.sock, "apply", {"objects": policy_objects(1000)})
        assert r["ok"], r
    scraper = Scraper("http://%s/metrics" % listen) if scrape else None
    if scraper:
        scraper.start()
    if overlay:
        res = run_podswitch_overlay(scope, sw, socks, scenario, frame, rate)
    else:
        res = Generator(scope, socks, frame, flows, dst, dport, rate, memif=memif,
                        extra=tso_args(scenario)).result()
    if scraper:
        scraper.done.set()
        scraper.join()
        res["scrapes"] = scraper.scrapes
    if full:
        res["ports"] = len(sw.ok("get", {"kind": "ports"})["items"])
        res["parked"] = sw.ok("stats")["workers"][0]["ports_parked"]
    stats = sw.stats()
    # the worker's own cost: its busy cycles over the packets it read (warm-up included)
    res["cpp"] = sw.ok("stats")["workers"][0]["cycles_per_packet"]
    sw.stop()
    res["drops"] = {k: v for k, v in stats.items() if k.startswith("drop.") and v}
    return res


def run_io(scope, frame, rate=0, memif=False):
    """testpmd io forwarding as the 'switch' between the same two sockets, on CPU 1."""
    socks = [scope.path("g%d-%s.sock" % (i, uid())) for i in range(2)]
    prefix = "pswio" + uid()
    mem = ["--huge-dir=" + HUGE_DIR[0], "-m", "512"] if HUGE_DIR[0] else ["--no-huge", "-m", "512"]
    cmd = ["dpdk-testpmd"] + mem + ["--no-pci", "--file-prefix=" + prefix,
           "--lcores=0@0,1@1", "--log-level=*:error", "--single-file-segments",
           ] + (["--vdev=net_memif%d,role=server,id=0,socket=%s,socket-abstract=no" % (i, sk)
                 for i, sk in enumerate(socks)] if memif else
                ["--vdev=net_vhost%d,iface=%s,client=1,queues=1" % (i, sk) for i, sk in enumerate(socks)]) + [
           "--", "--forward-mode=io", "--auto-start", "--stats-period=100", "--nb-cores=1",
           "--no-mlockall", "--total-num-mbufs=8192", "--rxd=1024", "--txd=1024"]
    io = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    stop = defer_dpdk_stop(scope, io, prefix)
    if memif:
        end = time.time() + 10
        while not all(os.path.exists(sk) for sk in socks) and time.time() < end:
            time.sleep(0.05)
    res = Generator(scope, socks, frame, 8192, IP_B, 8080, rate, memif=memif).result()
    stop()
    res["drops"] = {}
    return res


def ovs_flows(scenario):
    """OpenFlow rules doing the closest equivalent of podswitch's work."""
    out = ["table=0,priority=0,actions=drop"]
    if scenario == "vxlan encap":
        # br-int: pod a's packets to the other node's pods routed into the
        # VXLAN port (port 2), inner MACs as podswitch writes them
        return out + ["table=0,priority=10,in_port=1,ip,dl_src=%s,nw_src=%s,nw_dst=%s,actions=mod_dl_src:%s,"
                      "mod_dl_dst:00:00:00:00:00:00,dec_ttl,output:2"
                      % (overlay_macs(scenario)[0], IP_A, REMOTE_CIDR, GW_MAC)]
    if scenario == "vxlan decap":
        # what comes out of the tunnel from the other node, from its pods
        # (podswitch's sender check), routed to pod a
        return out + ["table=0,priority=10,in_port=2,ip,tun_src=%s,nw_src=%s,nw_dst=%s,actions=mod_dl_src:%s,"
                      "mod_dl_dst:%s,dec_ttl,output:1"
                      % (REMOTE_NODE_IP, REMOTE_CIDR, IP_A, GW_MAC, overlay_macs(scenario)[0])]
    if scenario.startswith("l3"):
        out += ["table=0,priority=10,in_port=1,ip,dl_src=%s,nw_src=%s,nw_dst=%s,actions=mod_dl_src:%s,"
                "mod_dl_dst:%s,dec_ttl,output:2" % (MAC_A, IP_A, IP_B, GW_MAC, MAC_B),
                "table=0,priority=10,in_port=2,ip,dl_src=%s,nw_src=%s,nw_dst=%s,actions=mod_dl_src:%s,"
                "mod_dl_dst:%s,dec_ttl,output:1" % (MAC_B, IP_B, IP_A, GW_MAC, MAC_A)]
        return out
    # Service: conntrack with DNAT; replies un-NAT-ed; the policy (an ACL) on new connections only
    nb_ports = service_ports(SCENARIOS[scenario][2])
    out += ["table=0,priority=10,in_port=1,udp,dl_src=%s,nw_src=%s,actions=ct(zone=1,nat,table=1)" % (MAC_A, IP_A),
            "table=0,priority=10,in_port=2,udp,dl_src=%s,nw_src=%s,actions=ct(zone=1,nat,table=2)" % (MAC_B, IP_B)]
    out += ["table=1,priority=10,ct_state=+new+trk,udp,nw_dst=%s,tp_dst=%d,"
            "actions=ct(commit,zone=1,nat(dst=%s:%d),table=3)" % (VIP, 80 + i, IP_B, 8080 + i)
            for i in range(nb_ports)]
    out += [
            # committed (NAT-ed by the lookup; OVS keeps a one-way UDP flow +new until a reply):
            # the verdict was taken at commit; 8080/0xfff0 = the targets 8080..8095
            "table=1,priority=20,ct_state=+trk,udp,nw_dst=%s,tp_dst=8080/0xfff0,actions=resubmit(,4)" % IP_B,
            "table=1,priority=10,ct_state=-new+trk,actions=resubmit(,4)",
            "table=1,priority=0,actions=drop",
            "table=2,priority=10,ct_state=-new+trk,actions=mod_dl_src:%s,mod_dl_dst:%s,dec_ttl,output:1"
            % (GW_MAC, MAC_A),
            "table=2,priority=0,actions=drop",
            "table=4,priority=0,actions=mod_dl_src:%s,mod_dl_dst:%s,dec_ttl,output:2" % (GW_MAC, MAC_B)]
    if scenario == "svc+pol":
        out += ["table=3,priority=100,udp,nw_src=192.168.%d.%d,tp_dst=%d,actions=resubmit(,4)"
                % (i // 250, i % 250 + 1, 1000 + i % 5000) for i in range(999)]
        out += ["table=3,priority=100,udp,nw_src=%s,tp_dst=8080,actions=resubmit(,4)" % IP_A,
                "table=3,priority=0,actions=drop"]
    else:
        out += ["table=3,priority=0,actions=resubmit(,4)"]
    return out


HUGE_DIR = [os.environ.get("PSW_BENCH_HUGE_DIR", "")]


def reserve_hugepages(scope, pages=600):
    """Open vSwitch with DPDK needs hugepages: use PSW_BENCH_HUGE_DIR, or reserve
    and mount pages for this run (released by the scope)."""
    if HUGE_DIR[0]:
        return True
    path = "/proc/sys/vm/nr_hugepages"
    old = int(open(path).read())
    try:
        open(path, "w").write(str(old + pages))
    except OSError:
        return False
    scope.defer(lambda: open(path, "w").write(str(old)))
    free = [int(x.split()[1]) for x in open("/proc/meminfo") if x.startswith("HugePages_Free")]
    if not free or free[0] < pages:
        return False
    d = scope.path("huge")
    os.makedirs(d)
    if subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", d]).returncode != 0:
        return False
    scope.defer(lambda: subprocess.run(["umount", d]))
    HUGE_DIR[0] = d
    return True


def ovs_available():
    return os.path.exists(OVS_VSWITCHD) and shutil.which("ovsdb-server") and shutil.which("ovs-vsctl")


def ovs_overlay_bridges(vsctl, env, socks, netns, ctl, scenario):
    """Open vSwitch's userspace tunnel, as its documentation sets it up: br-int
    with the pod's port (1) and a VXLAN port (2) to the other node; br-phy
    with the uplink's port, the node's address on its own (tap) interface and
    the NORMAL flow; the route to the other node on br-phy and its MAC given
    (tnl/arp/set), so nothing is asked."""
    for br in ("br-int", "br-phy"):
        subprocess.run(vsctl + ["add-br", br, "--", "set", "bridge", br, "datapath_type=netdev"], check=True, env=env)
    subprocess.run(vsctl + ["set", "bridge", "br-phy", "other_config:hwaddr=" + UPLINK_MAC], check=True, env=env)
    subprocess.run(vsctl + ["add-port", "br-int", "vhu0", "--", "set", "Interface", "vhu0",
                            "type=dpdkvhostuserclient", "options:vhost-server-path=" + socks[0], "ofport_request=1"],
                   check=True, env=env)
    subprocess.run(vsctl + ["add-port", "br-int", "vxlan0", "--", "set", "Interface", "vxlan0", "type=vxlan",
                            "options:remote_ip=" + REMOTE_NODE_IP, "options:local_ip=" + NODE_IP,
                            "options:key=%d" % VNI, "options:dst_port=%d" % VXLAN_PORT, "ofport_request=2"],
                   check=True, env=env)
    subprocess.run(vsctl + ["add-port", "br-phy", "vhu1", "--", "set", "Interface", "vhu1",
                            "type=dpdkvhostuserclient", "options:vhost-server-path=" + socks[1]], check=True, env=env)
    ns = ["ip", "netns", "exec", netns]
    subprocess.run(ns + ["ip", "addr", "add", NODE_IP + "/24", "dev", "br-phy"], check=True)
    subprocess.run(ns + ["ip", "link", "set", "br-phy", "up"], check=True)
    appctl = ["ovs-appctl", "-t", ctl]
    subprocess.run(appctl + ["ovs/route/add", REMOTE_NODE_IP + "/32", "br-phy"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(appctl + ["tnl/arp/set", "br-phy", REMOTE_NODE_IP, overlay_macs(scenario)[1]],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def run_ovs(scope, scenario, frame, rate=0):
    """A private Open vSwitch (own database, run directory and DPDK prefix): PMD on CPU 1,
    its other threads on CPU 0, two dpdkvhostuserclient ports on the generator's sockets.
    For the overlay, in a network namespace of its own (br-phy's tap and address)."""
    socks = [scope.path("g%d-%s.sock" % (i, uid())) for i in range(2)]
    d = scope.path("ovs" + uid())
    os.makedirs(d)
    overlay = scenario.startswith("vxlan")
    netns = "pswovs" + uid() if overlay else None
    if netns:
        subprocess.run(["ip", "netns", "add", netns], check=True)
        scope.defer(lambda: subprocess.run(["ip", "netns", "del", netns]))
        # no IPv6 chatter (MLD, DAD) from br-phy's tap onto the uplink
        subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], check=True)
    env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
    db, dbsock = os.path.join(d, "conf.db"), os.path.join(d, "db.sock")
    subprocess.run(["ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"], check=True, env=env)
    procs = []

    def stop_all():
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree("/var/run/dpdk/ovs" + os.path.basename(d), ignore_errors=True)
    scope.defer(stop_all)
    log = open(os.path.join(d, "ovs.out"), "w")
    procs.append(subprocess.Popen(["ovsdb-server", db, "--remote=punix:" + dbsock,
                                   "--unixctl=" + os.path.join(d, "ovsdb.ctl"),
                                   "--log-file=" + os.path.join(d, "ovsdb.log")], env=env, stdout=log,
                                  stderr=subprocess.STDOUT))
    vsctl = ["ovs-vsctl", "--db=unix:" + dbsock, "--timeout=30"]
    end = time.time() + 10
    while not os.path.exists(dbsock) and time.time() < end:
        time.sleep(0.05)
    subprocess.run(vsctl + ["--no-wait", "init"], check=True, env=env)
    subprocess.run(vsctl + ["--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                            "other_config:dpdk-lcore-mask=0x1", "other_config:pmd-cpu-mask=0x2",
                            "other_config:dpdk-socket-mem=512",
                            # OVS adds --in-memory, which --no-huge cannot go with: 2 MB pages
                            "other_config:dpdk-extra=--no-pci --huge-dir=%s --file-prefix=ovs%s"
                            % (HUGE_DIR[0], os.path.basename(d))]
                   + (["other_config:userspace-tso-enable=true"] if scenario.startswith("l3 tso") else []),
                   check=True, env=env)
    dst, dport, flows = SCENARIOS[scenario]
    full = FullNode(scope) if scenario == "l3, full node" else None
    ctl = os.path.join(d, "vswitchd.ctl")
    procs.append(subprocess.Popen((["ip", "netns", "exec", netns] if netns else []) +
                                  [OVS_VSWITCHD, "unix:" + dbsock, "--unixctl=" + ctl,
                                   "--log-file=" + os.path.join(d, "vswitchd.log")], env=env, stdout=log,
                                  stderr=subprocess.STDOUT))
    if overlay:
        ovs_overlay_bridges(vsctl, env, socks, netns, ctl, scenario)
    else:
        subprocess.run(vsctl + ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"],
                       check=True, env=env)
    for i, sk in enumerate([] if overlay else socks):
        subprocess.run(vsctl + ["add-port", "br0", "vhu%d" % i, "--", "set", "Interface", "vhu%d" % i,
                                "type=dpdkvhostuserclient", "options:vhost-server-path=" + sk,
                                "ofport_request=%d" % (i + 1)], check=True, env=env)
    if full and full.nb_vhost:
        subprocess.run(vsctl + ["--timeout=300"] + full.ovs_ports(), check=True, env=env)
        full.wait_connected(lambda: subprocess.run(
            vsctl + ["--columns=link_state", "find", "Interface", "type=dpdkvhostuserclient", "link_state=up"],
            env=env, capture_output=True, text=True).stdout.count("up") - 2)
    ffile = os.path.join(d, "flows.txt")
    with open(ffile, "w") as f:
        f.write("\n".join(ovs_flows(scenario)) + "\n")
    ofctl = ["ovs-ofctl"]          # ct() needs Nicira extensions
    br = "br-int" if overlay else "br0"
    subprocess.run(ofctl + ["del-flows", br], check=True, env=env)
    subprocess.run(ofctl + ["add-flows", br, ffile], check=True, env=env)
    if overlay:
        res = overlay_generator(scope, socks, scenario, frame, rate).result()
    else:
        res = Generator(scope, socks, frame, flows, dst, dport, rate, extra=tso_args(scenario)).result()
    if full:
        res["ports"] = 2 + full.nb_vhost
    res["drops"] = {}
    stop_all()
    return res


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip() + "\n\nusage: bench_e2e.py [RESULTS_FILE [SCENARIO ...]]   scenarios: io, "
              + ", ".join(SCENARIOS) + ", io memif, l3 memif")
        return
    out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
    only = sys.argv[2:] if len(sys.argv) > 2 else None
    huge = Scope()
    try:
        ovs = ovs_available() and reserve_hugepages(huge)
        measure(out, only, ovs)
    finally:
        huge.close()


def measure(out, only, ovs):
    print("generator: psw-gen (open loop, UDP) on CPU 0; the switch's worker / PMD thread on CPU 1; "
          "%.0f s windows after 1 s warm-up (vxlan: %d s); median of %d runs, switches alternating%s"
          % (SECONDS, OVERLAY_WARMUP, RUNS, "" if ovs else " (Open vSwitch with DPDK or hugepages missing: skipped)"),
          flush=True)
    plan = [("io", 64), ("l3", 64), ("l3, scraped", 64), ("svc", 64), ("svc, 1 flow", 64), ("svc, 10k flows", 64),
            ("svc, 1M flows", 64), ("svc+pol", 64), ("vxlan encap", 64), ("vxlan decap", 64),
            ("io", 1518), ("l3", 1518), ("io memif", 64), ("l3 memif", 64), ("l3, full node", 64),
            ("l3, full node memif", 64), ("l3 tso", 64000), ("l3 tso, segmented", 64000)]
    two_pods = {}
    for scenario, frame in plan:
        if only and scenario not in only:
            continue
        memif = scenario.endswith(" memif")
        scenario = scenario.replace(" memif", "")
        if scenario == "io":
            switches = ["testpmd io"]
        elif scenario == "l3, scraped":
            switches = ["podswitch", "podswitch scraped"]
        elif scenario == "l3 tso, segmented":
            switches = ["podswitch"]
        else:           # Open vSwitch has no memif port type
            switches = ["podswitch"] + (["ovs"] if ovs and not memif else [])
        vals = {sw: [] for sw in switches}
        drops = {}
        for _ in range(RUNS):
            for swname in switches:          # alternate within one invocation
                scope = Scope()
                try:
                    if swname == "testpmd io":
                        res = run_io(scope, frame, memif=memif)
                    elif swname == "podswitch":
                        res = run_podswitch(scope, scenario, frame, memif=memif,
                                            rate=SCRAPE_RATE if scenario == "l3, scraped" else 0)
                    elif swname == "podswitch scraped":
                        res = run_podswitch(scope, scenario, frame, scrape=True, rate=SCRAPE_RATE)
                    else:
                        res = run_ovs(scope, scenario, frame)
                    if scenario.startswith("vxlan"):
                        seen = check_overlay(scenario, swname, res)
                        if len(vals[swname]) == 0:
                            print("  %s, %s, first frame received: %s" % (scenario, swname, seen), flush=True)
                    vals[swname].append(res)
                    drops.update(res["drops"])
                finally:
                    scope.close()
        meds = {}
        for swname, rs in vals.items():
            tso = scenario.startswith("l3 tso")
            rx = [r["rx_payload_bps" if tso else "rx_pps"] for r in rs]
            med = statistics.median(rx)
            meds[swname] = med
            loss = statistics.median(r["loss"] for r in rs)
            name = "e2e %s, %dB, %s, %s" % ("memif" if memif else "vhost-user", frame, scenario, swname)
            if tso:         # TCP payload received; the loss of frames whose first segment never came
                print("%-48s %6.2f Gbit/s of TCP payload  (min %.2f, max %.2f)  frames lost %5.1f%%%s"
                      % (name, med / 1e9, min(rx) / 1e9, max(rx) / 1e9, loss * 100,
                         "  drops: %s" % drops if drops and swname == "podswitch" else ""), flush=True)
                if out:
                    out.write(json.dumps({"scenario": name, "unit": "Gbit/s", "median": round(med / 1e9, 3),
                                          "min": round(min(rx) / 1e9, 3), "max": round(max(rx) / 1e9, 3),
                                          "runs": len(rx), "loss": round(loss, 5)}) + "\n")
                continue
            ports = ("  [%d ports%s]" % (rs[0]["ports"], ", %d parked" % rs[0]["parked"] if "parked" in rs[0] else "")
                     if "ports" in rs[0] else "")
            cpp = ("  worker %.1f cycles/pkt" % statistics.median(r["cpp"] for r in rs)
                   if scenario == "l3, scraped" else "")
            print("%-48s %7.2f Mpps %6.2f Gbit/s  loss %5.1f%%  (min %.2f, max %.2f)%s%s%s"
                  % (name, med / 1e6, med * frame * 8 / 1e9, loss * 100, min(rx) / 1e6, max(rx) / 1e6, cpp,
                     "  drops: %s" % drops if drops and swname == "podswitch" else "", ports), flush=True)
            if (scenario, frame) == ("l3", 64):
                two_pods[swname, memif] = med
            elif scenario == "l3, full node" and two_pods.get((swname, memif)):
                print("%-48s %7.1f%%" % ("  %s: full node / two ports" % swname,
                                         100 * med / two_pods[swname, memif]), flush=True)
            if out:
                out.write(json.dumps({"scenario": name, "unit": "Mpps", "median": round(med / 1e6, 3),
                                      "min": round(min(rx) / 1e6, 3), "max": round(max(rx) / 1e6, 3),
                                      "runs": len(rx), "gbps": round(med * frame * 8 / 1e9, 3),
                                      "loss": round(loss, 5)}) + "\n")
        if "podswitch scraped" in meds and meds["podswitch"] > 0:
            print("%-48s %7.1f%%" % ("  scraped every second / not scraped", 100 * meds["podswitch scraped"] /
                                     meds["podswitch"]), flush=True)
        if "ovs" in meds and meds["ovs"] > 0:
            print("%-48s %7.2fx" % ("  podswitch / Open vSwitch", meds["podswitch"] / meds["ovs"]), flush=True)
    # latency at a fixed rate below both switches' maximum
    if not only or "latency" in only:
        for swname in ["podswitch"] + (["ovs"] if ovs else []):
            lat = []
            for _ in range(RUNS):
                scope = Scope()
                try:
                    lat.append(run_podswitch(scope, "l3", 64, rate=LAT_RATE) if swname == "podswitch"
                               else run_ovs(scope, "l3", 64, rate=LAT_RATE))
                finally:
                    scope.close()
            for key in ("lat_min_ns", "lat_median_ns", "lat_p99_ns"):
                med = statistics.median(r[key] for r in lat)
                name = "e2e vhost-user latency at %.1f Mpps, %s, %s" % (LAT_RATE / 1e6, swname, key[4:-3])
                print("%-48s %7.0f ns" % (name, med), flush=True)
                if out:
                    out.write(json.dumps({"scenario": name, "unit": "ns", "median": round(med),
                                          "runs": len(lat)}) + "\n")


if __name__ == "__main__":
    main()
