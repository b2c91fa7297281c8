#!/usr/bin/python3
"""System tests: a hostile kernel pod attacks the switch through its
offloads, end to end. Kernel pods attach with PACKET_VNET_HDR
(pmd-glue/psw_sockport.c), so every frame a pod's kernel hands over
carries a virtio-net header: a partial checksum (its start and offset) and
segmentation (type, segment size) that the switch takes as requests
(switch/stage/psw_gso.h). A pod with CAP_NET_RAW writes those headers
itself: inside its namespace it opens socket(AF_PACKET, SOCK_RAW) on eth0
with PACKET_VNET_HDR and sends any header its kernel lets through
(virtio_net_hdr_to_skb); what passes reaches the switch's socket as it is.

Each test sends such frames and checks what the switch does with them:
refused and counted (gso_bad, spoof_ip, policy_ingress, rx_missed), or
delivered right (the receiving tap pod's kernel verifies every checksum);
never a header rewritten after the guard and the policy judged it; no mbuf
kept; the switch forwarding other pods' traffic throughout.

The attacker's socket and the victims' sniffers are opened in the pods'
namespaces from this process (setns), so frames are sent and seen without
a helper process."""
import ctypes
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (BUILD, Netns, Switch, check, cni_call, cni_conf, kernel_pod, kill_group,  # noqa: E402
                     main, run, test, uid)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402

CTL = os.path.join(BUILD, "switch", "podswitchctl")
TAP_MAC, TAP_IP, TAP_IP6 = "02:00:00:00:0f:01", "10.244.0.200", "fd00:10:244::c8"
GW_MAC = "02:50:53:57:00:01"
SOL_PACKET, PACKET_VNET_HDR, CLONE_NEWNET, ETH_P_ALL = 263, 15, 0x40000000, 3
NEEDS_CSUM = 1
GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 0, 1, 3, 4, 5, 0x80
_libc = ctypes.CDLL(None, use_errno=True)


def vh(flags=0, gso_type=GSO_NONE, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    """A struct virtio_net_hdr (10 bytes, little-endian) as a pod's own socket writes it."""
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def in_netns(ns, fn):
    """fn() run in ns's network namespace (sockets it opens stay there)."""
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + ns.name, os.O_RDONLY)
    try:
        check(_libc.setns(there, CLONE_NEWNET) == 0, "setns: errno %d" % ctypes.get_errno())
        return fn()
    finally:
        _libc.setns(here, CLONE_NEWNET)
        os.close(here)
        os.close(there)


def mac_of(ns, dev="eth0"):
    return json.loads(ns.sh("ip -j link show %s" % dev).stdout)[0]["address"]


def ip6_of(ns, dev="eth0"):
    return json.loads(ns.sh("ip -j -6 addr show dev %s scope global" % dev).stdout)[0]["addr_info"][0]["local"]


def nstat(ns, *names):
    out = ns.sh("nstat -az %s" % " ".join(names)).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
            if line and not line.startswith("#")}


class Attacker:
    """A CNI pod whose raw socket writes virtio-net headers (CAP_NET_RAW)."""

    def __init__(self, scope, sw, name):
        self.ns = Netns(scope)
        rc, out = cni_call("ADD", cni_conf(sw.sock), container_id="ctr-" + name,
                           netns="/run/netns/" + self.ns.name,
                           args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s" % name)
        check(rc == 0, "ADD %s: %s" % (name, out))
        scope.defer(lambda: cni_call("DEL", cni_conf(sw.sock), container_id="ctr-" + name))
        self.ip = out["ips"][0]["address"].split("/")[0]
        self.ip6 = ip6_of(self.ns)
        self.mac = mac_of(self.ns)

        def open_raw():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
            s.bind(("eth0", 0))
            return s
        self.sock = in_netns(self.ns, open_raw)
        scope.defer(self.sock.close)

    def eth(self):
        return Ether(src=self.mac, dst=GW_MAC)

    def send(self, hdr, frame):
        """hdr + frame through the pod's kernel; None when that kernel refused it (errno)."""
        try:
            self.sock.send(hdr + bytes(frame))
            return None
        except OSError as e:
            return e.errno


class Sniffer:
    """Every frame that reaches dev in ns (an AF_PACKET socket there)."""

    def __init__(self, scope, ns, dev="eth0"):
        def open_sniffer():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((dev, 0))
            s.setblocking(False)
            return s
        self.sock = in_netns(ns, open_sniffer)
        scope.defer(self.sock.close)

    def frames(self, settle=0.3):
        """The IP frames received since the last call (after settle seconds), parsed."""
        time.sleep(settle)
        got = []
        while True:
            try:
                data, addr = self.sock.recvfrom(70000)
            except BlockingIOError:
                return got
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            e = Ether(data)
            if IP in e or IPv6 in e:
                got.append(e)


def send_file(scope, src_ns, dst_ns, addr, dst_port, size):
    """size random bytes over one TCP connection; True when they arrived byte for byte."""
    path = scope.path("data-%s.bin" % uid())
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    srv = dst_ns.popen("exec socat -u TCP-LISTEN:%d,reuseaddr OPEN:%s.out,creat,trunc" % (dst_port, path))
    scope.defer(lambda: kill_group(srv))
    dst_ns.wait_listening(dst_port)
    src_ns.sh("socat -u OPEN:%s TCP:%s:%d,connect-timeout=5" % (path, addr, dst_port), timeout=60)
    srv.wait(30)
    with open(path + ".out", "rb") as f:
        return f.read() == data


class Lab:
    """A switch with an attacking CNI pod, a victim CNI pod (offloads: large
    frames reach it whole) and a tap pod (no offloads: the switch segments
    and finishes checksums for it, and its kernel checks them)."""

    def __init__(self, scope, tap=True):
        self.scope = scope
        tapname = "ptap" + uid()
        body = "limits = { large_mbufs = 256; };\n"     # offloads (0, the default, has none)
        if tap:
            body += """
ports = ( { name = "tp"; kind = "kernel"; ifname = "%s"; } );
pods = ( { name = "tapped"; port = "tp"; mac = "%s"; ip = "%s"; ip6 = "%s"; } );
""" % (tapname, TAP_MAC, TAP_IP, TAP_IP6)
        self.sw = Switch(scope, body).start()
        self.tap = kernel_pod(scope, tapname, TAP_MAC, TAP_IP, ip6=TAP_IP6) if tap else None
        self.tapname = tapname
        self.a = Attacker(scope, self.sw, "atk" + uid())
        self.w = Attacker(scope, self.sw, "vic" + uid())     # its raw socket unused: a victim
        self.w_sniff = Sniffer(scope, self.w.ns)
        self.t_sniff = Sniffer(scope, self.tap, tapname) if tap else None
        # every neighbour resolved, so a probe's answer is not an ARP exchange
        for dst in (self.w.ip,) + ((TAP_IP,) if tap else ()):
            self.a.ns.sh("ping -c 1 -W 1 %s >/dev/null" % dst, check_rc=False)
            self.a.ns.sh("ping -6 -c 1 -W 1 %s >/dev/null" % (self.w.ip6 if dst == self.w.ip else TAP_IP6),
                         check_rc=False)

    def counters(self):
        st = self.sw.ok("stats")
        c = {"drop." + k: v for k, v in st["drops"].items()}
        c.update({"event." + k: v for k, v in st["events"].items()})
        for p in st["ports"]:
            for k, v in p.items():
                if isinstance(v, int):
                    c["port.%s.%s" % (p["name"], k)] = v
        return c

    def delta(self, before):
        after = self.counters()
        return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    def attacker_port(self, c, what):
        return sum(v for k, v in c.items() if k.startswith("port.") and "atk" in k and k.endswith("." + what))

    def mbufs(self):
        return self.sw.ok("status")["mbufs_in_use"]

    def apply(self, yaml):
        path = self.scope.path("obj-%s.yaml" % uid())
        with open(path, "w") as f:
            f.write(yaml)
        run([CTL, "-s", self.sw.sock, "apply", "-f", path])

    def alive(self):
        """The switch still up and forwarding: the victim pings the tap pod (or the attacker)."""
        check(self.sw.proc.poll() is None, "podswitch exited: %s" % self.sw.text()[-2000:])
        dst = TAP_IP if self.tap is not None else self.a.ip
        if self.tap is None:
            return
        r = self.w.ns.sh("ping -c 2 -i 0.2 -W 1 %s" % dst, check_rc=False)
        check(" 0% packet loss" in r.stdout, "the victim no longer reaches %s: %s" % (dst, r.stdout))


def udp_sink(scope, ns, port, family=socket.AF_INET):
    """A UDP socket bound in ns on port; datagrams whose checksum fails never reach it."""
    s = in_netns(ns, lambda: socket.socket(family, socket.SOCK_DGRAM))
    scope.defer(s.close)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    s.setblocking(False)
    return s


def drain(s):
    got = []
    while True:
        try:
            got.append(s.recv(70000))
        except BlockingIOError:
            return got


@test
def policy_holds_against_checksum_writes(scope):
    """W admits only UDP 53 (NetworkPolicy). The attacker sends UDP to W:53
    whose virtio-net header asks for a checksum written over the ports, the
    addresses or the UDP length, by a plain partial checksum and by UDP
    segmentation: every two bytes the switch writes for a pod are either
    written before the guard and the policy look (the port's own finishing
    of an offset no mbuf field holds) or at the L4 checksum field, so W
    never gets a datagram on another port, and what cannot be honoured is
    counted (gso_bad)."""
    lab = Lab(scope, tap=False)
    lab.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-only, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - ports: [{protocol: UDP, port: 53}]
""")
    a, w = lab.a, lab.w
    sink = udp_sink(scope, w.ns, 53)
    small = a.eth() / IP(src=a.ip, dst=w.ip) / UDP(sport=40001, dport=53) / (b"d" * 100)
    big = a.eth() / IP(src=a.ip, dst=w.ip, flags="DF") / UDP(sport=40002, dport=53) / (b"D" * 20000)
    # the control: UDP 53 with its own partial checksum arrives, UDP 9999 does not
    check(a.send(vh(NEEDS_CSUM, csum_start=34, csum_offset=6), small) is None, "the pod's kernel refused")
    plain9999 = a.eth() / IP(src=a.ip, dst=w.ip) / UDP(sport=40001, dport=9999) / (b"d" * 100)
    a.send(vh(), plain9999)
    got = lab.w_sniff.frames()
    check(any(UDP in e and e[UDP].dport == 53 for e in got), "UDP 53 with a partial checksum did not reach W")
    check(len(drain(sink)) == 1, "W's socket did not take the datagram")
    before = lab.counters()
    attacks = [
        # (virtio-net header, frame): the checksum's two bytes aimed at a header
        (vh(NEEDS_CSUM, csum_start=34, csum_offset=2), small),    # the destination port
        (vh(NEEDS_CSUM, csum_start=34, csum_offset=0), small),    # the source port
        (vh(NEEDS_CSUM, csum_start=34, csum_offset=4), small),    # the UDP length
        (vh(NEEDS_CSUM, csum_start=30, csum_offset=6), small),    # UDP's offset, from the destination address
        (vh(NEEDS_CSUM, csum_start=32, csum_offset=6), small),    # ... its last half and the port
        (vh(NEEDS_CSUM, csum_start=28, csum_offset=8), small),    # SCTP's offset onto the ports
        (vh(NEEDS_CSUM, csum_start=26, csum_offset=16), small),   # TCP's offset onto the UDP header
        (vh(NEEDS_CSUM, csum_start=36, csum_offset=6), small),    # foreign, inside the UDP header
        (vh(NEEDS_CSUM, csum_start=34, csum_offset=300), small),  # an offset no mbuf field holds
        (vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 30, 6), big),      # segmentation, checksum in the IP header
        (vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 36, 6), big),      # ... inside the UDP header
        (vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 34, 2), big),      # ... at the destination port
        (vh(NEEDS_CSUM, GSO_TCPV4, 54, 1400, 34, 16), big),      # TCP segmentation of UDP
    ]
    refused = 0
    for hdr, frame in attacks:
        if a.send(hdr, frame) is not None:
            refused += 1             # the pod's own kernel said no: fine as well
    got = lab.w_sniff.frames(0.5)
    wrong = [e.summary() + " dport %d" % e[UDP].dport for e in got
             if UDP in e and e[IP].src == a.ip and e[UDP].dport != 53]
    check(not wrong, "W received what its policy forbids: %s" % wrong)
    check(not [e for e in got if TCP in e], "W received TCP")
    d = lab.delta(before)
    bad = d.get("drop.gso_bad", 0) + d.get("drop.policy_ingress", 0) + lab.attacker_port(d, "rx_missed")
    check(bad + refused + sum(1 for e in got if UDP in e and e[UDP].dport == 53) >= len(attacks),
          "some frames vanished uncounted: %s (%d refused by the pod's kernel)" % (d, refused))
    check(d.get("drop.gso_bad", 0) >= 5, "checksums aimed at headers were not refused: %s" % d)
    # the switch still forwards what the policy admits
    drain(sink)
    a.send(vh(NEEDS_CSUM, csum_start=34, csum_offset=6), small)
    time.sleep(0.3)
    check(len(drain(sink)) == 1, "UDP 53 no longer reaches W after the attack")
    lab.alive()


@test
def ipv6_source_and_header_writes(scope):
    """IPv6 from the attacker: partial checksums aimed at its own source
    address (to make it another pod's after the anti-spoofing guard passed
    it), at the next header and the payload length, and a TCPv6 GSO frame
    spoofing another pod's source: the guard judges the written bytes
    (spoof_ip) or the request is refused (gso_bad); nothing reaches W or
    the tap pod from another source than the attacker's."""
    lab = Lab(scope)
    a, w = lab.a, lab.w
    f6 = a.eth() / IPv6(src=a.ip6, dst=w.ip6) / UDP(sport=40020, dport=5353) / (b"6" * 100)
    spoof = a.eth() / IPv6(src=w.ip6, dst=TAP_IP6) / TCP(sport=40021, dport=80, flags="A") / (b"S" * 20000)
    before = lab.counters()
    attacks = [
        (vh(NEEDS_CSUM, csum_start=22, csum_offset=6), f6),      # UDP offset: in the source address
        (vh(NEEDS_CSUM, csum_start=22, csum_offset=8), f6),      # SCTP offset: same
        (vh(NEEDS_CSUM, csum_start=22, csum_offset=16), f6),     # TCP offset: its last bytes
        (vh(NEEDS_CSUM, csum_start=14, csum_offset=6), f6),      # the next header / hop limit word
        (vh(NEEDS_CSUM, csum_start=14, csum_offset=4), f6),      # the payload length (raw offset)
        (vh(NEEDS_CSUM, csum_start=30, csum_offset=2), f6),      # the source address, pre-parse write
        (vh(NEEDS_CSUM, csum_start=54, csum_offset=-48 & 0xffff), f6),   # backwards: refused by the kernel
        (vh(NEEDS_CSUM, GSO_TCPV6, 74, 1428, 74 - 20, 16), spoof),       # another pod's source, whole
        (vh(NEEDS_CSUM, GSO_TCPV6, 74, 1428, 38, 16), spoof),    # ... and the checksum in the destination
    ]
    for hdr, frame in attacks:
        a.send(hdr, frame)
    got = lab.w_sniff.frames(0.5) + lab.t_sniff.frames(0)
    foreign = [e.summary() for e in got if IPv6 in e and e[IPv6].src not in (a.ip6, w.ip6, TAP_IP6)
               and not e[IPv6].src.startswith("fe80")]
    check(not foreign, "a spoofed IPv6 source got through: %s" % foreign)
    fromw = [e.summary() for e in got if IPv6 in e and e[IPv6].src == w.ip6 and TCP in e]
    check(not fromw, "TCP in W's name reached the tap pod: %s" % fromw)
    d = lab.delta(before)
    check(d.get("drop.spoof_ip", 0) >= 1, "the spoofed frames were not counted spoof_ip: %s" % d)
    check(d.get("drop.gso_bad", 0) >= 3, "checksums in the IPv6 header were not refused: %s" % d)
    lab.alive()


@test
def bogus_segmentation_requests(scope):
    """Segmentation requests a kernel would never make, to the tap pod (the
    switch would segment for it): segment sizes 1, 8 and 65,000 on 20 KB,
    TCP segmentation of UDP, UDP segmentation of TCP, a SYN and an RST to
    cut, a GSO frame whose IPv4 header says it is a fragment, a frame
    longer than the MTU without segmentation. Each is refused (gso_bad,
    or by the pod's own kernel) and the tap pod gets none of it; a small
    frame with segment size 1 becomes 64 one-byte datagrams, every checksum
    right (the tap pod's kernel checks them)."""
    lab = Lab(scope)
    a, t = lab.a, lab.tap
    sink = udp_sink(scope, t, 5000)
    pay = b"G" * 20000
    tcp = a.eth() / IP(src=a.ip, dst=TAP_IP, flags="DF") / TCP(sport=40030, dport=5001, flags="A") / pay
    udp = a.eth() / IP(src=a.ip, dst=TAP_IP, flags="DF") / UDP(sport=40031, dport=5000) / pay
    syn = a.eth() / IP(src=a.ip, dst=TAP_IP, flags="DF") / TCP(sport=40032, dport=5001, flags="S") / pay
    rst = a.eth() / IP(src=a.ip, dst=TAP_IP, flags="DF") / TCP(sport=40033, dport=5001, flags="RA") / pay
    frag = a.eth() / IP(src=a.ip, dst=TAP_IP, flags="MF") / UDP(sport=40034, dport=5000) / pay
    csum0 = nstat(t, "TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors")
    before = lab.counters()
    attacks = [
        ("size 1", vh(NEEDS_CSUM, GSO_TCPV4, 54, 1, 34, 16), tcp),
        ("size 8", vh(NEEDS_CSUM, GSO_TCPV4, 54, 8, 34, 16), tcp),
        ("size 65000", vh(NEEDS_CSUM, GSO_TCPV4, 54, 65000, 34, 16), tcp),
        ("size 0", vh(NEEDS_CSUM, GSO_TCPV4, 54, 0, 34, 16), tcp),
        ("udp size 8", vh(NEEDS_CSUM, GSO_UDP_L4, 42, 8, 34, 6), udp),
        ("TCP GSO of UDP", vh(NEEDS_CSUM, GSO_TCPV4, 42, 1400, 34, 16), udp),
        ("TCP GSO of UDP, UDP offset", vh(NEEDS_CSUM, GSO_TCPV4, 42, 1400, 34, 6), udp),
        ("UDP GSO of TCP", vh(NEEDS_CSUM, GSO_UDP_L4, 54, 1400, 34, 6), tcp),
        ("TCPv6 GSO of IPv4", vh(NEEDS_CSUM, GSO_TCPV6, 54, 1400, 34, 16), tcp),
        ("SYN", vh(NEEDS_CSUM, GSO_TCPV4, 54, 1400, 34, 16), syn),
        ("SYN, ECN", vh(NEEDS_CSUM, GSO_TCPV4 | GSO_ECN, 54, 1400, 34, 16), syn),
        ("RST", vh(NEEDS_CSUM, GSO_TCPV4, 54, 1400, 34, 16), rst),
        ("fragment", vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 34, 6), frag),
        ("no GSO, 20 KB", vh(NEEDS_CSUM, csum_start=34, csum_offset=6), udp),
        ("no GSO, no csum, 20 KB", vh(), udp),
    ]
    outcome = {}
    for name, hdr, frame in attacks:
        err = a.send(hdr, frame)
        outcome[name] = "refused by the pod's kernel (%d)" % err if err else "sent"
    got = lab.t_sniff.frames(0.5)
    mine = [e.summary() for e in got if IP in e and e[IP].src == a.ip and (TCP in e or UDP in e)]
    check(not mine, "the tap pod got pieces of refused frames: %s (%s)" % (mine[:5], outcome))
    d = lab.delta(before)
    sent = sum(1 for v in outcome.values() if v == "sent")
    counted = d.get("drop.gso_bad", 0) + lab.attacker_port(d, "rx_missed")
    check(counted >= sent, "%d frames passed the pod's kernel, %d counted: %s %s" % (sent, counted, outcome, d))
    check(d.get("drop.gso_bad", 0) >= 5, "gso_bad: %s" % d)
    # what a hostile kernel may ask and the switch honours: 64 one-byte datagrams
    tiny = a.eth() / IP(src=a.ip, dst=TAP_IP) / UDP(sport=40035, dport=5000) / bytes(range(64))
    check(a.send(vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1, 34, 6), tiny) is None, "the pod's kernel refused")
    time.sleep(0.3)
    got = drain(sink)
    check(sorted(got) == sorted(bytes([i]) for i in range(64)),
          "the tap pod's socket got %d datagrams, not the 64 one-byte ones" % len(got))
    csum1 = nstat(t, "TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors")
    check(csum1 == csum0, "checksum errors in the tap pod: %s -> %s" % (csum0, csum1))
    lab.alive()


@test
def tagged_and_natted_large_frames(scope):
    """Large UDP frames with an 802.1Q tag (the kernel takes the tag off,
    the switch puts it back: the checksum's start moves by four) and large
    frames to a ClusterIP (NAT keeps the partial checksum partial): to the
    tap pod they arrive as right datagrams of the asked size, to W whole;
    a tagged request pointing into the tag or the IP header is refused."""
    lab = Lab(scope)
    a, w, t = lab.a, lab.w, lab.tap
    lab.apply("""apiVersion: v1
kind: Service
metadata: {name: dns}
spec: {ports: [{name: udp, port: 53, targetPort: 5000, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: udp, port: 5000, protocol: UDP}]
endpoints: [{addresses: [%s]}]
""" % TAP_IP)
    vip = json.loads(run([CTL, "-s", lab.sw.sock, "get", "svc", "dns", "-o", "json"]).stdout)["spec"]["clusterIP"]
    tsink, wsink = udp_sink(scope, t, 5000), udp_sink(scope, w.ns, 5000)
    csum0 = nstat(t, "TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors")
    pay = bytes(range(250)) * 56                       # 14,000 bytes: ten datagrams of 1,400
    cases = [
        ("tagged to tap", vh(NEEDS_CSUM, GSO_UDP_L4, 46, 1400, 38, 6),
         a.eth() / Dot1Q(vlan=0) / IP(src=a.ip, dst=TAP_IP) / UDP(sport=40040, dport=5000) / pay, tsink, 10),
        ("tagged 7 to tap", vh(NEEDS_CSUM, GSO_UDP_L4, 46, 1400, 38, 6),
         a.eth() / Dot1Q(vlan=7) / IP(src=a.ip, dst=TAP_IP) / UDP(sport=40041, dport=5000) / pay, tsink, 10),
        ("tagged to W", vh(NEEDS_CSUM, GSO_UDP_L4, 46, 1400, 38, 6),
         a.eth() / Dot1Q(vlan=0) / IP(src=a.ip, dst=w.ip) / UDP(sport=40042, dport=5000) / pay, wsink, 10),
        ("ClusterIP to tap", vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 34, 6),
         a.eth() / IP(src=a.ip, dst=vip) / UDP(sport=40043, dport=53) / pay, tsink, 10),
        ("tagged ClusterIP to tap", vh(NEEDS_CSUM, GSO_UDP_L4, 46, 1400, 38, 6),
         a.eth() / Dot1Q(vlan=0) / IP(src=a.ip, dst=vip) / UDP(sport=40044, dport=53) / pay, tsink, 10),
        ("IPv6 tagged to tap", vh(NEEDS_CSUM, GSO_UDP_L4, 66, 1400, 58, 6),
         a.eth() / Dot1Q(vlan=0) / IPv6(src=a.ip6, dst=TAP_IP6) / UDP(sport=40045, dport=5000) / pay, None, 0),
    ]
    for name, hdr, frame, sink, n in cases:
        check(a.send(hdr, frame) is None, "%s: the pod's kernel refused" % name)
        time.sleep(0.2)
        if sink is None:
            continue
        got = drain(sink)
        if sink is wsink:
            # W gets one frame with its request: its kernel cuts it (no UDP_GRO on the socket)
            check(b"".join(got) == pay, "%s: W got %s" % (name, [len(g) for g in got]))
        else:
            check(len(got) == n and b"".join(got) == pay,
                  "%s: the tap pod got %s, not %d datagrams of 1,400" % (name, [len(g) for g in got], n))
    before = lab.counters()
    bad = [
        vh(NEEDS_CSUM, GSO_UDP_L4, 46, 1400, 34, 6),      # the untagged offsets on a tagged frame
        vh(NEEDS_CSUM, GSO_UDP_L4, 46, 1400, 14, 6),      # in the tag
        vh(NEEDS_CSUM, csum_start=34, csum_offset=6),     # no GSO, in the IP addresses
    ]
    frame = a.eth() / Dot1Q(vlan=0) / IP(src=a.ip, dst=TAP_IP) / UDP(sport=40046, dport=5001) / pay[:1000]
    refused = 0
    for hdr in bad[:2]:
        if a.send(hdr, a.eth() / Dot1Q(vlan=0) / IP(src=a.ip, dst=TAP_IP) / UDP(sport=40046, dport=5001) / pay):
            refused += 1                 # the pod's kernel: a GSO start in the tag, or not at UDP
    if a.send(bad[2], frame):
        refused += 1
    got = [e for e in lab.t_sniff.frames(0.4) if UDP in e and e[UDP].dport == 5001]
    check(not got, "the tap pod got frames of refused tagged requests: %s" % [e.summary() for e in got])
    d = lab.delta(before)
    check(d.get("drop.gso_bad", 0) + lab.attacker_port(d, "rx_missed") + refused >= 3,
          "refusals not counted: %s (%d refused by the pod's kernel)" % (d, refused))
    check(d.get("drop.gso_bad", 0) >= 1, "the checksum in a tagged frame's IP header was not refused: %s" % d)
    csum1 = nstat(t, "TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors")
    check(csum1 == csum0, "checksum errors in the tap pod: %s -> %s" % (csum0, csum1))
    lab.alive()


@test
def flood_of_large_frames(scope):
    """Three seconds of 60 KB frames as fast as the attacker's kernel takes
    them: UDP segmentation to the tap pod (43 segments each), to W whole,
    to a ClusterIP, segment sizes past the MTU without DF (dropped, never
    fragmented whole: mtu_exceeded), and
    a SYN to cut. The switch counts what it cannot take (rx_missed, gso_bad),
    keeps forwarding W's traffic to the tap pod, and afterwards every mbuf
    is back and a TCP transfer between the victims works."""
    lab = Lab(scope)
    a, w, t = lab.a, lab.w, lab.tap
    lab.apply("""apiVersion: v1
kind: Service
metadata: {name: flood}
spec: {ports: [{name: udp, port: 53, targetPort: 6000, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: flood-1, labels: {kubernetes.io/service-name: flood}}
addressType: IPv4
ports: [{name: udp, port: 6000, protocol: UDP}]
endpoints: [{addresses: [%s]}]
""" % TAP_IP)
    vip = json.loads(run([CTL, "-s", lab.sw.sock, "get", "svc", "flood", "-o", "json"]).stdout)["spec"]["clusterIP"]
    pay = b"F" * 60000
    frames = [
        vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 34, 6) +
        bytes(a.eth() / IP(src=a.ip, dst=TAP_IP) / UDP(sport=41000, dport=6000) / pay),
        vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 34, 6) +
        bytes(a.eth() / IP(src=a.ip, dst=w.ip) / UDP(sport=41001, dport=6000) / pay),
        vh(NEEDS_CSUM, GSO_UDP_L4, 42, 1400, 34, 6) +
        bytes(a.eth() / IP(src=a.ip, dst=vip) / UDP(sport=41002, dport=53) / pay),
        vh(NEEDS_CSUM, GSO_UDP_L4, 42, 3000, 34, 6) +
        bytes(a.eth() / IP(src=a.ip, dst=TAP_IP) / UDP(sport=41003, dport=6000) / pay),
        vh(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16) +
        bytes(a.eth() / IP(src=a.ip, dst=TAP_IP) / TCP(sport=41004, dport=6001, flags="S") / pay),
    ]
    wsock = in_netns(w.ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    scope.defer(wsock.close)
    tsink = udp_sink(scope, t, 7000)
    time.sleep(0.5)
    base = lab.mbufs()
    before = lab.counters()
    sent = refused = wsent = wgot = 0
    i = 0
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            a.sock.send(frames[i % len(frames)], socket.MSG_DONTWAIT)
            sent += 1
        except OSError:
            refused += 1
        i += 1
        if i % 40 == 0:
            wsock.sendto(b"victim %d" % i, (TAP_IP, 7000))
            wsent += 1
            wgot += sum(1 for g in drain(tsink) if g.startswith(b"victim"))
    time.sleep(0.5)
    wgot += sum(1 for g in drain(tsink) if g.startswith(b"victim"))
    d = lab.delta(before)
    check(lab.sw.proc.poll() is None, "podswitch died in the flood: %s" % lab.sw.text()[-2000:])
    check(wsent > 20 and wgot >= wsent * 0.9,
          "W's datagrams to the tap pod during the flood: %d of %d (%s)" % (wgot, wsent, d))
    check(d.get("drop.gso_bad", 0) > 0, "the SYNs to cut were not refused: %s" % d)
    check(d.get("event.gso_segmented", 0) > 0 and d.get("drop.mtu_exceeded", 0) > 0 and
          d.get("event.ip4_fragmented", 0) == 0,
          "the flood was not segmented, or its segments past the MTU fragmented: %s" % d)
    rx = lab.attacker_port(d, "rx")
    missed = lab.attacker_port(d, "rx_missed")
    check(rx > 0, "nothing from the attacker taken: %s" % d)
    # back to the baseline (per-lcore caches may hold a few: a little slack)
    deadline = time.monotonic() + 5
    while lab.mbufs() > base + 64 and time.monotonic() < deadline:
        time.sleep(0.2)
    check(lab.mbufs() <= base + 64, "mbufs in use %d after the flood, %d before" % (lab.mbufs(), base))
    check(send_file(scope, w.ns, t, TAP_IP, 7001, 2 * 1024 * 1024), "W -> tap after the flood: not byte-exact")
    check(lab.attacker_port(lab.counters(), "rx_missed") >= missed, "rx_missed went backwards")
    lab.alive()


if __name__ == "__main__":
    main()
