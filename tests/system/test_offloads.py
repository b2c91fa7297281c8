#!/usr/bin/python3
"""System tests of kernel pods' offloads (issue 14): pods attached through
the CNI plugin keep TX checksum and TCP segmentation offload, and hand the
switch up to 60 KB of TCP in one frame (PACKET_VNET_HDR); a port that
cannot take such frames (a tap pod here, like a vhost-user or memif pod or
an uplink) gets them cut into segments with every checksum computed, which
its kernel then checks."""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (BUILD, Netns, Switch, check, cni_call, cni_conf, kernel_pod, kill_group,  # noqa: E402
                     main, ping, run, test, udp_sizes, uid)

CTL = os.path.join(BUILD, "switch", "podswitchctl")
TAP_MAC, TAP_IP, TAP_IP6 = "02:00:00:00:0f:01", "10.244.0.200", "fd00:10:244::c8"
MB = 1024 * 1024
# offloads (the default, said anyway: the test is of them)
LARGE = "limits = { large_mbufs = 256; };\n"


def cni_pod(scope, sw, name):
    ns = Netns(scope)
    rc, out = cni_call("ADD", cni_conf(sw.sock), container_id="ctr-" + name, netns="/run/netns/" + ns.name,
                       args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s" % name)
    check(rc == 0, "ADD %s: %s" % (name, out))
    scope.defer(lambda: cni_call("DEL", cni_conf(sw.sock), container_id="ctr-" + name))
    return ns, out["ips"][0]["address"].split("/")[0]


def ip6_of(ns):
    return json.loads(ns.sh("ip -j -6 addr show dev eth0 scope global").stdout)[0]["addr_info"][0]["local"]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def features(ns):
    out = ns.sh("ethtool -k eth0").stdout
    return {line.split(":")[0].strip(): line.split(":")[1].split()[0]
            for line in out.splitlines()[1:] if ":" in line}


def gso_max_size(ns):
    out = ns.sh("ip -d link show eth0").stdout.split()
    return int(out[out.index("gso_max_size") + 1])


def port(sw, name_part):
    for p in sw.ok("stats")["ports"]:
        if name_part in p["name"]:
            return p
    raise AssertionError("no port like %s" % name_part)


def nstat(ns, *names):
    out = ns.sh("nstat -az %s" % " ".join(names)).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
            if line and not line.startswith("#")}


def send_file(scope, src_ns, dst_ns, addr, dst_port, size, listen_port=None):
    """size random bytes over one TCP connection from src_ns to addr:dst_port
    (the receiver in dst_ns listens on listen_port, default dst_port); True
    when they arrived byte for byte."""
    path = scope.path("data-%s.bin" % uid())
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    srv = dst_ns.popen("exec socat -u TCP6-LISTEN:%d,reuseaddr,ipv6only=0 OPEN:%s.out,creat,trunc"
                       % (listen_port or dst_port, path))
    scope.defer(lambda: kill_group(srv))
    end = time.monotonic() + 5
    while time.monotonic() < end and not dst_ns.sh("ss -Hltn 'sport = :%d'" % (listen_port or dst_port),
                                                   check_rc=False).stdout.strip():
        time.sleep(0.05)
    src_ns.sh("socat -u OPEN:%s TCP:%s:%d,connect-timeout=5" % (path, addr, dst_port), timeout=120)
    srv.wait(60)
    with open(path, "rb") as a, open(path + ".out", "rb") as b:
        return hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest()


@test
def kernel_pods_hand_over_large_frames(scope):
    """Two CNI pods: their interfaces keep the offloads the switch takes,
    20 MB cross byte for byte each way, in frames far larger than the MTU
    (the switch's own port counters), and nothing is segmented or
    checksummed by the switch between two such pods."""
    mport = free_port()
    sw = Switch(scope, LARGE + 'metrics = { listen = "127.0.0.1:%d"; };\n' % mport).start()
    a, a_ip = cni_pod(scope, sw, "off-a")
    b, b_ip = cni_pod(scope, sw, "off-b")
    f = features(a)
    check(f.get("tx-checksumming") == "on" and f.get("tcp-segmentation-offload") == "on",
          "pod's offloads: %s" % {k: f.get(k) for k in ("tx-checksumming", "tcp-segmentation-offload")})
    check(f.get("tx-udp_tnl-segmentation") == "off" and f.get("tx-gre-segmentation") == "off",
          "tunnel segmentation left on: %s" % {k: v for k, v in f.items() if "tnl" in k or "gre" in k})
    check(gso_max_size(a) == 61440, "gso_max_size %d" % gso_max_size(a))
    # the first packet is answered at once (no frame held back by the larger ring)
    sent, got = ping(a, b_ip, count=3)
    check(got == sent, "ping %d of %d" % (got, sent))
    before = port(sw, "off-a")
    check(send_file(scope, a, b, b_ip, 6001, 20 * MB), "a -> b: 20 MB not byte-exact")
    after = port(sw, "off-a")
    frames, size = after["rx"] - before["rx"], after["rx_bytes"] - before["rx_bytes"]
    check(size > 20 * MB and size / frames > 4000,
          "a -> b: %d bytes in %d frames from pod a: %.0f a frame, no large frames" % (size, frames, size / frames))
    check(send_file(scope, b, a, a_ip, 6002, 20 * MB), "b -> a: 20 MB not byte-exact")
    # IPv6: large TCPv6 frames, whole
    check(send_file(scope, a, b, "[%s]" % ip6_of(b), 6005, 8 * MB), "a -> b over IPv6: not byte-exact")
    ev = sw.ok("stats")["events"]
    check(ev["gso_segmented"] == 0 and ev["csum_finished"] == 0,
          "between two offloading pods the switch segmented %d / finished %d" %
          (ev["gso_segmented"], ev["csum_finished"]))
    drops = {k: v for k, v in sw.ok("stats")["drops"].items() if v and k not in ("nd_ignored",)}
    check(not drops, "drops: %s" % drops)
    # every 64 KB buffer back in its pool, and the limit shown
    end = time.monotonic() + 3
    while time.monotonic() < end and sw.ok("status")["limits"]["large_mbufs"]["used"] != 0:
        time.sleep(0.1)
    check(sw.ok("status")["limits"]["large_mbufs"] == {"used": 0, "max": 256},
          "large mbufs after the traffic: %s" % sw.ok("status")["limits"]["large_mbufs"])
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        gauges = {line.split()[0]: float(line.split()[1]) for line in r.read().decode().splitlines()
                  if line.startswith(("podswitch_large_mbufs_in_use ", "podswitch_mbufs_in_use "))}
    check(gauges.get("podswitch_large_mbufs_in_use") == 0 and "podswitch_mbufs_in_use" in gauges,
          "/metrics: %s" % gauges)


@test
def a_pod_without_offloads_gets_whole_segments_through_a_clusterip(scope):
    """An offloading CNI pod sends to a ClusterIP whose endpoint is a tap pod
    (no offloads): NAT keeps the partial checksum right, the switch cuts the
    60 KB frames into MTU-sized segments and finishes every checksum, and
    the tap pod's kernel, which checks them, counts no error; UDP with a
    partial checksum too, and the answers back."""
    tap = "ptap" + uid()
    sw = Switch(scope, LARGE + """
ports = ( { name = "tp"; kind = "kernel"; ifname = "%s"; } );
pods = ( { name = "tapped"; port = "tp"; mac = "%s"; ip = "%s"; ip6 = "%s"; } );
""" % (tap, TAP_MAC, TAP_IP, TAP_IP6)).start()
    t = kernel_pod(scope, tap, TAP_MAC, TAP_IP, ip6=TAP_IP6)
    a, a_ip = cni_pod(scope, sw, "off-c")
    path = scope.path("svc.yaml")
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Service
metadata: {name: plain}
spec: {ports: [{name: tcp, port: 80, targetPort: 8080}, {name: udp, port: 53, targetPort: 5353, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: plain-1, labels: {kubernetes.io/service-name: plain}}
addressType: IPv4
ports: [{name: tcp, port: 8080}, {name: udp, port: 5353, protocol: UDP}]
endpoints: [{addresses: [%s]}]
""" % TAP_IP)
    run([CTL, "-s", sw.sock, "apply", "-f", path])
    vip = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "plain", "-o", "json"]).stdout)["spec"]["clusterIP"]
    sent, got = ping(a, TAP_IP, count=2)
    check(got == sent, "ping the tap pod: %d of %d" % (got, sent))
    # (the tap's own frames from before it was a pod's, with the kernel's MAC, count as spoof_mac)
    drops0 = sw.ok("stats")["drops"]
    base = nstat(t, "TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors")
    check(send_file(scope, a, t, vip, 80, 20 * MB, listen_port=8080), "a -> ClusterIP -> tap: not byte-exact")
    ev = sw.ok("stats")["events"]
    check(ev["gso_segmented"] > 0, "nothing segmented for the tap pod: %s" % ev["gso_segmented"])
    check(ev["svc_dnat"] >= 1, "not through the Service")
    # UDP: a 1,400-byte datagram whose checksum the pod's kernel left to the switch
    srv = t.popen("exec socat -T 3 UDP-RECVFROM:5353,reuseaddr SYSTEM:'wc -c'")
    scope.defer(lambda: kill_group(srv))
    time.sleep(0.3)
    out = a.sh("head -c 1400 /dev/urandom | socat -T 3 - UDP:%s:53" % vip, check_rc=False, timeout=10).stdout
    check(out.strip() == "1400", "UDP through the ClusterIP: answer %r" % out)
    # IPv6 straight to the tap pod: TCPv6 segments
    check(send_file(scope, a, t, "[%s]" % TAP_IP6, 6006, 8 * MB), "a -> tap over IPv6: not byte-exact")
    # UDP segmentation (UDP_SEGMENT, as QUIC servers send): one 14,000-byte
    # frame from the pod's kernel, ten 1,400-byte datagrams to the tap pod
    sizes = scope.path("uso")
    srv = udp_sizes(t, 5454, sizes, 2)
    scope.defer(lambda: kill_group(srv))
    time.sleep(0.4)
    seg0 = sw.ok("stats")["events"]["gso_segmented"]
    a.sh("""python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 103, 1400)
s.sendto(bytes(range(200)) * 70, ('%s', 5454))
" """ % TAP_IP)
    srv.wait(10)
    got = open(sizes).read().split()
    check(got == ["1400"] * 10, "UDP_SEGMENT: the tap pod got datagrams of %s, not ten of 1,400" % got)
    check(sw.ok("stats")["events"]["gso_segmented"] == seg0 + 1, "the 14,000-byte frame was not segmented once")
    errs = nstat(t, "TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors")
    check(errs == base, "checksum errors in the tap pod: %s -> %s" % (base, errs))
    # the other way: plain frames into the offloading pod
    check(send_file(scope, t, a, a_ip, 6003, 4 * MB), "tap -> a: not byte-exact")
    drops = {k: v - drops0[k] for k, v in sw.ok("stats")["drops"].items()
             if v != drops0[k] and k not in ("nd_ignored",)}
    check(not drops, "drops during the traffic: %s" % drops)


@test
def no_offloads_with_no_large_buffers(scope):
    """limits.large_mbufs = 0: the CNI plugin turns the pod's TX checksum
    offload off (frames at most the MTU, checksums whole), and TCP works."""
    sw = Switch(scope, "limits = { large_mbufs = 0; };\n").start()
    a, a_ip = cni_pod(scope, sw, "plain-a")
    b, b_ip = cni_pod(scope, sw, "plain-b")
    f = features(a)
    check(f.get("tx-checksumming") == "off", "tx-checksumming %s" % f.get("tx-checksumming"))
    check(send_file(scope, a, b, b_ip, 6004, 4 * MB), "a -> b not byte-exact")
    p = port(sw, "plain-a")
    check(p["rx_bytes"] / p["rx"] < 1600, "frames larger than the MTU without offloads")


if __name__ == "__main__":
    main()
