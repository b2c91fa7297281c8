#!/usr/bin/python3
"""System tests of DPDK pods the Kubernetes way (issue 17; docs/cni.md,
"Choosing the interface per pod", "The socket inside the pod"): the Pod
object's podswitch.io/interfaces annotation, the request's own choice
(CNI_ARGS, args.cni as Multus passes cni-args) above it, the
configuration's default below it; an ADD that waits for its Pod object
(waitForPod) and one that gives up with CNI's "try again later"; a
malformed annotation refused with nothing left behind; the pod's directory
(sockets and interfaces.json) and a DPDK application that finds its
interface there, seeing the directory where a pod mounts it. The plugin is
called directly, as a CNI 1.1 runtime would (socketPath)."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import stat  # noqa: E402
import subprocess  # noqa: E402
from polmatrix import ctl  # noqa: E402
from pswtest import (Netns, Switch, check, cni_call, cni_conf, defer_dpdk_stop, main, ping,  # noqa: E402
                     test, uid)

ANNOTATION = "podswitch.io/interfaces"


def pod(name, interfaces=None, namespace="default", raw=None):
    meta = {"name": name, "namespace": namespace, "labels": {"app": "pod"}}
    if interfaces is not None or raw is not None:
        meta["annotations"] = {ANNOTATION: raw if raw is not None else json.dumps(interfaces)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


def attachments(sw):
    return {(a["container_id"], a["ifname"]): a for a in sw.ok("get", {"kind": "attachments"})["items"]}


def host_veth(cid, ifname="eth0"):
    """The host end the plugin names for a container's interface (FNV-1a 32 of
    container id and ifname, as podswitch-cni's host_ifname): other tests'
    veths come and go meanwhile, this one must not be there."""
    h = 2166136261
    for ch in (cid + ifname).encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    return "psw%08x" % h


def veth_exists(cid, ifname="eth0"):
    return os.path.exists("/sys/class/net/" + host_veth(cid, ifname))


class Adder:
    """ADDs of one switch's pods, each DEL-ed when the test ends."""

    def __init__(self, scope, sw):
        self.scope, self.sw = scope, sw

    def add(self, name, ifname="eth0", conf=None, args="", netns=None):
        ns = netns or Netns(self.scope)
        cid = "ctr-%s-%s" % (name, uid())
        conf = conf or cni_conf(self.sw.sock)
        t0 = time.monotonic()
        rc, out = cni_call("ADD", conf, container_id=cid, netns="/run/netns/" + ns.name, ifname=ifname,
                           args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s%s" % (name, args))
        took = time.monotonic() - t0
        self.scope.defer(lambda: cni_call("DEL", conf, container_id=cid, ifname=ifname,
                                          netns="/run/netns/" + ns.name))
        return rc, out, cid, ns, took


def kind_of(sw, cid, ifname="eth0"):
    a = attachments(sw).get((cid, ifname))
    return a["interface"] if a else None


@test
def the_annotation_chooses_each_interface(scope):
    sw = Switch(scope, "", workers="[1]").start()
    r = sw.api("apply", {"objects": [pod("cnf", [{"name": "eth0", "kind": "memif"},
                                                 {"name": "net1", "kind": "vhost-user"}]),
                                     pod("plain"), pod("other", [{"name": "net1", "kind": "memif"}])]})
    check(r.get("ok"), "apply: %s" % r)
    ad = Adder(scope, sw)
    rc, out, cid, ns, _ = ad.add("cnf")
    check(rc == 0, "ADD eth0: %s" % out)
    sock = out["interfaces"][-1].get("socketPath", "")
    check(sock.endswith(".memif") and os.path.exists(sock), "eth0 is not memif: %s" % out)
    check(kind_of(sw, cid) == "memif", "attachment: %s" % attachments(sw))
    check(ns.sh("ip link show eth0", check_rc=False).returncode != 0, "a memif pod got a kernel eth0")
    rc, out, cid1, _, _ = ad.add("cnf", ifname="net1", netns=ns)
    check(rc == 0 and out["interfaces"][-1].get("socketPath", "").endswith(".sock"), "ADD net1: %s" % out)
    check(kind_of(sw, cid1, "net1") == "vhost-user", "net1: %s" % attachments(sw))
    # no annotation, or none for this interface: the configuration's default (kernel here)
    for name in ("plain", "other"):
        rc, out, cid, ns, _ = ad.add(name)
        check(rc == 0 and kind_of(sw, cid) == "kernel", "%s: %s %s" % (name, out, attachments(sw)))
        check(ns.sh("ip link show eth0", check_rc=False).returncode == 0 and veth_exists(cid),
              "%s has no eth0, or its host end is not %s" % (name, host_veth(cid)))
    # the default itself may be a DPDK kind
    rc, out, cid, _, _ = ad.add("plain", conf=cni_conf(sw.sock, "vhost-user"))
    check(rc == 0 and kind_of(sw, cid) == "vhost-user", "default vhost-user: %s" % out)
    sw.stop()


@test
def a_host_end_name_another_pods_veth_holds_is_left_alone(scope):
    """The host end's name is a 32-bit hash of the container id and
    interface, so two pods' can be equal: a veth of that name whose other
    end is another namespace's (another pod's) is left alone (ADD takes the
    next name; CHECK finds ours; DEL deletes ours only, GC never names it).
    One whose other end is in the pod's own namespace (an ADD that failed)
    is the pod's and replaced."""
    sw = Switch(scope, "", workers="[1]").start()
    conf = cni_conf(sw.sock)
    cid = "ctr-clash-%s" % uid()
    name = host_veth(cid)
    other, mine = Netns(scope), Netns(scope)
    scope.defer(lambda: subprocess.run(["ip", "link", "del", name], capture_output=True))
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", other.name],
                   check=True)
    netns = "/run/netns/" + mine.name
    args = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=clash"
    rc, out = cni_call("ADD", conf, container_id=cid, netns=netns, args=args)
    scope.defer(lambda: cni_call("DEL", conf, container_id=cid, netns=netns))
    check(rc == 0, "ADD beside another pod's veth of its name: %s" % out)
    check(other.sh("ip link show eth0", check_rc=False).returncode == 0 and
          os.path.exists("/sys/class/net/" + name), "the other pod's veth was deleted")
    host = attachments(sw)[(cid, "eth0")]["host_ifname"]
    check(host != name and os.path.exists("/sys/class/net/" + host), "host end %r (the other's %s)" % (host, name))
    sent, got = ping(mine, out["ips"][0]["gateway"], count=1)
    check(got == 1, "the pod on its second name does not reach its gateway")
    rc, chk = cni_call("CHECK", dict(conf, prevResult=out), container_id=cid, netns=netns, args=args)
    check(rc == 0, "CHECK: %s" % chk)
    rc, res = cni_call("DEL", conf, container_id=cid, netns=netns, args=args)
    check(rc == 0 and not os.path.exists("/sys/class/net/" + host), "DEL left %s: %s" % (host, res))
    check(os.path.exists("/sys/class/net/" + name), "DEL deleted the other pod's veth")
    # a host end whose other end is in the pod's namespace: the pod's own leftover
    cid2 = "ctr-left-%s" % uid()
    left, ns2 = host_veth(cid2), Netns(scope)
    scope.defer(lambda: subprocess.run(["ip", "link", "del", left], capture_output=True))
    subprocess.run(["ip", "link", "add", left, "type", "veth", "peer", "name", "eth0", "netns", ns2.name],
                   check=True)
    rc, out = cni_call("ADD", conf, container_id=cid2, netns="/run/netns/" + ns2.name,
                       args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=left")
    scope.defer(lambda: cni_call("DEL", conf, container_id=cid2, netns="/run/netns/" + ns2.name))
    check(rc == 0 and attachments(sw)[(cid2, "eth0")]["host_ifname"] == left,
          "a leftover of the pod's own not replaced: %s %s" % (out, attachments(sw).get((cid2, "eth0"))))
    sent, got = ping(ns2, out["ips"][0]["gateway"], count=1)
    check(got == 1, "the pod whose leftover was replaced does not reach its gateway")
    sw.stop()


@test
def the_request_comes_before_the_annotation(scope):
    sw = Switch(scope, "", workers="[1]").start()
    check(sw.api("apply", {"objects": [pod("cnf", [{"name": "eth0", "kind": "memif"}])]}).get("ok"), "apply")
    ad = Adder(scope, sw)
    # CNI_ARGS PODSWITCH_INTERFACE
    rc, out, cid, ns, _ = ad.add("cnf", args=";PODSWITCH_INTERFACE=kernel")
    check(rc == 0 and kind_of(sw, cid) == "kernel", "PODSWITCH_INTERFACE: %s" % out)
    check(ns.sh("ip link show eth0", check_rc=False).returncode == 0, "no kernel eth0")
    # args.cni.interface (Multus' cni-args)
    multus = cni_conf(sw.sock, args={"cni": {"interface": "vhost-user"}})
    rc, out, cid, _, _ = ad.add("cnf", conf=multus)
    check(rc == 0 and kind_of(sw, cid) == "vhost-user", "args.cni.interface: %s" % out)
    # and CNI_ARGS before args.cni
    rc, out, cid, _, _ = ad.add("cnf", conf=multus, args=";PODSWITCH_INTERFACE=memif")
    check(rc == 0 and kind_of(sw, cid) == "memif", "CNI_ARGS over args.cni: %s" % out)
    # a bad kind in args.cni is the configuration's error, named
    rc, out, _, _, _ = ad.add("cnf", conf=cni_conf(sw.sock, args={"cni": {"interface": "tap"}}))
    check(rc != 0 and out["code"] == 7 and "args.cni.interface" in out["msg"], "bad args.cni: %s" % out)
    sw.stop()


@test
def add_waits_for_its_pod_object_then_gives_up(scope):
    sw = Switch(scope, "", workers="[1]").start()
    ad = Adder(scope, sw)
    waiting = cni_conf(sw.sock, waitForPod=5)
    late = {}

    def add_late():
        late["r"] = ad.add("late", conf=waiting)
    t = threading.Thread(target=add_late)
    t.start()
    time.sleep(0.8)
    check(attachments(sw) == {}, "attached before its Pod object: %s" % attachments(sw))
    check(sw.api("apply", {"objects": [pod("late", [{"name": "eth0", "kind": "memif"}])]}).get("ok"), "apply")
    t.join(30)
    rc, out, cid, _, took = late["r"]
    check(rc == 0 and kind_of(sw, cid) == "memif", "the waiting ADD: %s" % out)
    check(0.7 < took < 3, "the waiting ADD took %.2f s (the Pod came after 0.8 s)" % took)
    # no Pod object within waitForPod: CNI's "try again later", nothing left
    rc, out, cid, _, took = ad.add("never", conf=cni_conf(sw.sock, waitForPod=1))
    check(rc != 0 and out["code"] == 11 and "default/never" in out["msg"], "no Pod: %s" % out)
    check(0.9 < took < 3, "gave up after %.2f s (waitForPod 1)" % took)
    check((cid, "eth0") not in attachments(sw) and not veth_exists(cid),
          "a failed ADD left %s / %s" % (attachments(sw), veth_exists(cid)))
    # without waitForPod a pod whose object is not there gets the default at once
    rc, out, cid, _, took = ad.add("unknown")
    check(rc == 0 and kind_of(sw, cid) == "kernel" and took < 2, "no wait: %s in %.2f s" % (out, took))
    sw.stop()


@test
def a_bad_annotation_fails_the_add_and_leaves_nothing(scope):
    sw = Switch(scope, "", workers="[1]").start()
    ad = Adder(scope, sw)
    bad = {
        "notjson": ("[{name: eth0}", "is not JSON"),
        "notlist": ('{"name": "eth0", "kind": "memif"}', "is not a JSON array"),
        "noname": ('[{"kind": "memif"}]', "needs a \"name\""),
        "badkind": ('[{"name": "eth0", "kind": "tap"}]', "must be kernel, vhost-user or memif"),
        "typo": ('[{"name": "eth0", "knd": "memif"}]', "unknown key \"knd\""),
        "twice": ('[{"name": "eth0", "kind": "memif"}, {"name": "eth0", "kind": "kernel"}]', "listed twice"),
        "other": ('[{"name": "eth0", "kind": "memif"}, {"name": "net1", "kind": "veth"}]', "entry net1"),
    }
    r = sw.api("apply", {"objects": [pod(n, raw=v[0]) for n, v in bad.items()]})
    check(r.get("ok"), "the Pod objects themselves are accepted: %s" % r)
    for name, (_, why) in bad.items():
        rc, out, cid, ns, _ = ad.add(name)
        check(rc != 0 and ANNOTATION in out["msg"] and why in out["msg"] and "default/" + name in out["msg"],
              "%s: %s" % (name, out))
        check(ns.sh("ip link show eth0", check_rc=False).returncode != 0 and not veth_exists(cid),
              "%s: a veth left" % name)
    check(attachments(sw) == {}, "failed ADDs left %s" % attachments(sw))
    check(sw.ok("status")["attachments"] == 0, "status: %s" % sw.ok("status"))
    sw.stop()


def pod_dir(sw, namespace, name):
    return os.path.join(sw.scope.path("socks"), "pods", namespace, name)


def read_interfaces(sw, namespace, name):
    with open(os.path.join(pod_dir(sw, namespace, name), "interfaces.json")) as f:
        return json.load(f)


def testpmd_seeing(scope, directory, vdevs):
    """dpdk-testpmd (icmpecho) as a pod runs it: in a mount namespace of its own
    where the pod's directory is at /run/podswitch, as a hostPath volume with
    subPathExpr puts it; vdevs are what interfaces.json gave."""
    prefix = "psw" + uid()
    log = open(scope.path("pmd%s.log" % prefix), "w")
    pmd = ("dpdk-testpmd --no-huge -m 256 --no-pci --file-prefix=%s --lcores=0@0,1@0 --single-file-segments "
           "%s --log-level=*:notice -- --forward-mode=icmpecho --auto-start --stats-period=1 "
           "--nb-cores=1 --rxq=1 --txq=1 --no-mlockall --total-num-mbufs=4096"
           % (prefix, " ".join("'--vdev=%s'" % v for v in vdevs)))
    sh = ("mount --make-rprivate / && mount -t tmpfs pod-run /run && mkdir -p /run/podswitch && "
          "mount --bind '%s' /run/podswitch && exec %s"
          % (directory, pmd))
    p = subprocess.Popen(["unshare", "-m", "sh", "-c", sh], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    defer_dpdk_stop(scope, p, prefix)
    p.log = log.name
    return p


@test
def a_dpdk_pod_finds_its_interfaces_in_its_directory(scope):
    sw = Switch(scope, "", workers="[1]").start()
    check(sw.api("apply", {"objects": [pod("cnf", [{"name": "eth0", "kind": "memif"},
                                                   {"name": "net1", "kind": "vhost-user"}])]}).get("ok"), "apply")
    ad = Adder(scope, sw)
    client = Netns(scope)
    rc, rk, _, _, _ = ad.add("client", netns=client)
    check(rc == 0, "client: %s" % rk)
    rc, r0, cid0, ns, _ = ad.add("cnf")
    check(rc == 0, "eth0: %s" % r0)
    d = pod_dir(sw, "default", "cnf")
    doc = read_interfaces(sw, "default", "cnf")
    check(doc["namespace"] == "default" and doc["name"] == "cnf" and [i["name"] for i in doc["interfaces"]]
          == ["eth0"], "interfaces.json: %s" % doc)
    rc, r1, cid1, _, _ = ad.add("cnf", ifname="net1", netns=ns)
    check(rc == 0, "net1: %s" % r1)
    doc = read_interfaces(sw, "default", "cnf")
    ifs = {i["name"]: i for i in doc["interfaces"]}
    check(sorted(ifs) == ["eth0", "net1"], "interfaces.json: %s" % doc)
    e0, n1 = ifs["eth0"], ifs["net1"]
    check(e0["kind"] == "memif" and e0["socket"] == "eth0.memif" and n1["kind"] == "vhost-user" and
          n1["socket"] == "net1.sock", "kinds and sockets: %s" % doc)
    check(e0["mac"] == r0["interfaces"][-1]["mac"] and e0["ips"] == [x["address"] for x in r0["ips"]] and
          e0["gateway"] == r0["ips"][0]["gateway"] and e0["queues"] == 1 and e0["mtu"] >= 1280,
          "eth0 as the result has it: %s vs %s" % (e0, r0))
    # the sockets are in the pod's directory; the switch reaches them through a short link
    for i in (e0, n1):
        check(stat.S_ISSOCK(os.stat(os.path.join(d, i["socket"])).st_mode), "no socket %s in %s" % (i, d))
    for r in (r0, r1):
        sp = r["interfaces"][-1]["socketPath"]
        check(len(sp) < 108 and os.path.realpath(sp).startswith(os.path.realpath(d)),
              "socketPath %s is not the pod directory's" % sp)
    # an application that knows only /run/podswitch/interfaces.json: both its
    # ports, memif and vhost-user (virtio-user), answer
    pmd = testpmd_seeing(scope, d, [i["vdev"] for i in doc["interfaces"]])
    for i in (e0, n1):
        cnf_ip = i["ips"][0].split("/")[0]
        got = 0
        for _ in range(30):
            got = ping(client, cnf_ip, count=1, interval=0.2)[1]
            if got or pmd.poll() is not None:
                break
        check(got == 1, "the CNF's %s %s never answered; testpmd:\n%s"
              % (i["name"], cnf_ip, open(pmd.log).read()[:2500]))
        sent, got = ping(client, cnf_ip, count=5, interval=0.1)
        check(got == sent, "the CNF's %s answered %d of %d" % (i["name"], got, sent))
    # DEL of one interface: the file lists the other; of the last: nothing left
    conf = cni_conf(sw.sock)
    rc, out = cni_call("DEL", conf, container_id=cid1, ifname="net1", netns="/run/netns/" + ns.name)
    check(rc == 0, "DEL net1: %s" % out)
    check([i["name"] for i in read_interfaces(sw, "default", "cnf")["interfaces"]] == ["eth0"], "after DEL net1")
    check(not os.path.exists(os.path.join(d, "net1.sock")), "net1.sock left after its DEL")
    pmd.send_signal(2)
    pmd.wait(10)
    rc, out = cni_call("DEL", conf, container_id=cid0, netns="/run/netns/" + ns.name)
    check(rc == 0, "DEL eth0: %s" % out)
    check(not os.path.exists(d) and not os.path.exists(os.path.dirname(d)),
          "the pod directory is still there: %s" % (os.listdir(d) if os.path.exists(d) else "(namespace's)"))
    check(os.listdir(os.path.join(sw.scope.path("socks"), "p")) == [], "a socket link left")
    sw.stop()


@test
def long_names_and_a_hostile_pod_directory(scope):
    sw = Switch(scope, "", workers="[1]").start()
    ns_name, pod_name = "n" * 63, ("p" * 62 + ".") * 4 + "q"    # the longest Kubernetes names
    check(len(pod_name) == 253, "pod name length %d" % len(pod_name))
    r = sw.api("apply", {"objects": [pod(pod_name, [{"name": "eth0", "kind": "memif"}], namespace=ns_name),
                                     pod("evil", [{"name": "eth0", "kind": "vhost-user"}])]})
    check(r.get("ok"), "apply: %s" % r)
    ad = Adder(scope, sw)
    cid = "ctr-long-" + uid()
    n = Netns(scope)
    conf = cni_conf(sw.sock)
    rc, out = cni_call("ADD", conf, container_id=cid, netns="/run/netns/" + n.name,
                       args="K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s" % (ns_name, pod_name))
    scope.defer(lambda: cni_call("DEL", conf, container_id=cid, netns="/run/netns/" + n.name))
    check(rc == 0, "ADD with the longest names: %s" % out)
    d = pod_dir(sw, ns_name, pod_name)
    check(stat.S_ISSOCK(os.stat(os.path.join(d, "eth0.memif")).st_mode), "no socket in %s" % d)
    check(len(out["interfaces"][-1]["socketPath"]) < 108, "socketPath %s" % out["interfaces"][-1]["socketPath"])
    # the same pod and interface from a second sandbox before the first's DEL: refused, named
    rc, out2 = cni_call("ADD", conf, container_id=cid + "b", netns="/run/netns/" + n.name,
                        args="K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s" % (ns_name, pod_name))
    check(rc != 0 and "already has interface eth0" in out2["msg"] and cid in out2["msg"], "second: %s" % out2)
    # a pod plants links where the switch writes: they are replaced, never followed
    rc, r, ecid, ens, _ = ad.add("evil")
    check(rc == 0, "evil: %s" % r)
    e = pod_dir(sw, "default", "evil")
    victim = scope.path("victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    os.remove(os.path.join(e, "interfaces.json"))
    os.symlink(victim, os.path.join(e, "interfaces.json"))
    os.symlink(victim, os.path.join(e, ".interfaces.json.tmp"))
    rc, r2, cid2, _, _ = ad.add("evil", ifname="net1", netns=ens,
                                conf=cni_conf(sw.sock, "memif"))   # rewrites its interfaces.json
    check(rc == 0, "evil net1: %s" % r2)
    check(open(victim).read() == "precious\n", "the switch wrote through the pod's link")
    check(not os.path.islink(os.path.join(e, "interfaces.json")) and
          len(read_interfaces(sw, "default", "evil")["interfaces"]) == 2, "interfaces.json not replaced")
    # a FIFO where the temporary goes: no hang, the old file stays
    os.mkfifo(os.path.join(e, ".interfaces.json.tmp"))
    rc, out = cni_call("DEL", cni_conf(sw.sock, "memif"), container_id=cid2, ifname="net1",
                       netns="/run/netns/" + ens.name)
    check(rc == 0, "DEL under a FIFO: %s" % out)
    check(open(victim).read() == "precious\n", "victim changed")
    check([i["name"] for i in read_interfaces(sw, "default", "evil")["interfaces"]] == ["eth0"],
          "interfaces.json after the DEL: %s" % read_interfaces(sw, "default", "evil"))
    sw.stop()


@test
def restart_keeps_pod_directories_and_clears_released_ones(scope):
    """The switch killed with DPDK pods attached (their sockets left behind):
    a pod's DEL while it is down is taken at the restart and leaves no
    directory (the stale socket is the switch's, not the pod's); a pod kept
    gets its link and interfaces.json back."""
    sw = Switch(scope, "", workers="[1]").start()
    check(sw.api("apply", {"objects": [pod("keep", [{"name": "eth0", "kind": "vhost-user"}]),
                                       pod("gone", [{"name": "eth0", "kind": "memif"}])]}).get("ok"), "apply")
    conf = cni_conf(sw.sock, stateDir=sw.state)
    ad = Adder(scope, sw)
    rc, out, kcid, kns, _ = ad.add("keep", conf=conf)
    check(rc == 0, "keep: %s" % out)
    rc, out, gcid, gns, _ = ad.add("gone", conf=conf)
    check(rc == 0, "gone: %s" % out)
    kd, gd = pod_dir(sw, "default", "keep"), pod_dir(sw, "default", "gone")
    links = os.path.join(sw.scope.path("socks"), "p")
    klink = [ln for ln in os.listdir(links) if os.path.realpath(os.path.join(links, ln)) == kd]
    check(len(klink) == 1, "keep's link: %s" % os.listdir(links))
    sw.kill()
    check(stat.S_ISSOCK(os.lstat(os.path.join(gd, "eth0.memif")).st_mode), "no stale socket after the kill")
    rc, out = cni_call("DEL", conf, container_id=gcid, netns="/run/netns/" + gns.name)
    check(rc == 0, "DEL while down: %s" % out)
    os.remove(os.path.join(links, klink[0]))
    os.remove(os.path.join(kd, "interfaces.json"))
    sw2 = Switch(scope, "", workers="[1]", name="again", sock=sw.sock, state=sw.state).start()
    check("1 pod attachment(s) restored" in sw2.text(), "not restored:\n%s" % sw2.text()[-1500:])
    check(not os.path.exists(gd), "the released pod's directory stayed: %s" %
          (os.listdir(gd) if os.path.exists(gd) else ""))
    check(os.listdir(links) == klink, "links after the restart: %s" % os.listdir(links))
    check(stat.S_ISSOCK(os.stat(os.path.join(links, klink[0], "eth0.sock")).st_mode), "keep's socket")
    check([i["name"] for i in read_interfaces(sw2, "default", "keep")["interfaces"]] == ["eth0"],
          "keep's interfaces.json")
    # a temporary a switch killed while writing interfaces.json left is its own too
    with open(os.path.join(kd, ".interfaces.json.tmp"), "w") as f:
        f.write('{"namespace": "default", "na')
    rc, out = cni_call("DEL", conf, container_id=kcid, netns="/run/netns/" + kns.name)
    check(rc == 0 and not os.path.exists(kd) and os.listdir(links) == [], "DEL keep: %s, %s" %
          (out, os.listdir(kd) if os.path.exists(kd) else ""))
    sw2.stop()


@test
def a_release_at_restart_keeps_the_directory_of_a_pod_still_there(scope):
    """A pod with two DPDK interfaces, one DEL-ed while the switch was
    stopped: at the restart the directory the pod has mounted stays (the
    same directory, not one made anew the pod cannot see), and holds the
    other interface's socket and an interfaces.json listing it."""
    sw = Switch(scope, "", workers="[1]").start()
    check(sw.api("apply", {"objects": [pod("two", [{"name": "eth0", "kind": "memif"},
                                                   {"name": "net1", "kind": "memif"}])]}).get("ok"), "apply")
    conf = cni_conf(sw.sock, stateDir=sw.state)
    ad = Adder(scope, sw)
    rc, out, cid, ns, _ = ad.add("two", conf=conf)
    check(rc == 0, "eth0: %s" % out)
    rc, out, cid1, _, _ = ad.add("two", ifname="net1", conf=conf, netns=ns)
    check(rc == 0, "net1: %s" % out)
    d = pod_dir(sw, "default", "two")
    ino = os.stat(d).st_ino
    sw.stop()
    rc, out = cni_call("DEL", conf, container_id=cid1, ifname="net1", netns="/run/netns/" + ns.name)
    check(rc == 0, "DEL while down: %s" % out)
    sw2 = Switch(scope, "", workers="[1]", name="again", sock=sw.sock, state=sw.state).start()
    check("1 pod attachment(s) restored" in sw2.text(), "not restored:\n%s" % sw2.text()[-1500:])
    check(os.path.isdir(d) and os.stat(d).st_ino == ino, "the pod's directory was made anew")
    check(sorted(os.listdir(d)) == ["eth0.memif", "interfaces.json"], "in it: %s" % os.listdir(d))
    check([i["name"] for i in read_interfaces(sw2, "default", "two")["interfaces"]] == ["eth0"],
          "interfaces.json: %s" % read_interfaces(sw2, "default", "two"))
    rc, out = cni_call("DEL", conf, container_id=cid, netns="/run/netns/" + ns.name)
    check(rc == 0 and not os.path.exists(d), "DEL eth0: %s" % out)
    sw2.stop()


@test
def a_pod_refused_for_a_shared_link_leaves_the_other_pods_directory(scope):
    """Two pods whose names hash alike share a link name; the second is
    refused at its attach, and its DEL must not take the first's
    interfaces.json, socket or link through that link. The collision is
    simulated: the second pod's link made to point at the first's
    directory, as the shared link does."""
    sw = Switch(scope, "", workers="[1]").start()
    check(sw.api("apply", {"objects": [pod("alpha", [{"name": "net1", "kind": "memif"}]),
                                       pod("beta", [{"name": "net2", "kind": "memif"}])]}).get("ok"), "apply")
    ad = Adder(scope, sw)
    rc, out, _, _, _ = ad.add("alpha", ifname="net1")
    check(rc == 0, "alpha: %s" % out)
    a = pod_dir(sw, "default", "alpha")
    links = os.path.join(sw.scope.path("socks"), "p")
    before = sorted(os.listdir(a)), os.listdir(links)
    # beta's cni.add (the record), its attach refused: only the record exists
    cid = "ctr-beta-" + uid()
    r = sw.api("cni.add", {"container_id": cid, "ifname": "net2", "pod_namespace": "default",
                           "pod_name": "beta", "interface": "memif"})
    check(r.get("ok"), "cni.add beta: %s" % r)
    link = os.path.dirname(r["result"]["socket"])
    check(not os.path.exists(link), "beta's link exists before its attach")
    os.symlink(a, link)
    r = sw.api("cni.del", {"container_id": cid, "ifname": "net2"})
    check(r.get("ok"), "cni.del beta: %s" % r)
    check((sorted(os.listdir(a)), [x for x in os.listdir(links) if x != os.path.basename(link)]) == before,
          "alpha's directory or link changed by beta's DEL: %s, %s (were %s)" %
          (os.listdir(a), os.listdir(links), before))
    check(read_interfaces(sw, "default", "alpha")["interfaces"][0]["name"] == "net1", "alpha's interfaces.json")
    os.remove(link)
    sw.stop()


@test
def a_pod_the_runtime_does_not_name_keeps_the_flat_socket(scope):
    """Without K8S_POD_NAME the plugin names the pod by its container id:
    that is no Kubernetes pod, and gets no directory under the namespace
    default (docs/cni.md), but the flat socket in sockets_dir."""
    sw = Switch(scope, "", workers="[1]").start()
    n = Netns(scope)
    conf = cni_conf(sw.sock, "memif")
    cid = "0123456789abcdef" + uid()
    rc, out = cni_call("ADD", conf, container_id=cid, netns="/run/netns/" + n.name)
    scope.defer(lambda: cni_call("DEL", conf, container_id=cid, netns="/run/netns/" + n.name))
    check(rc == 0, "ADD: %s" % out)
    sp = out["interfaces"][-1]["socketPath"]
    check(os.path.dirname(sp) == sw.scope.path("socks") and not os.path.exists(pod_dir(sw, "default", cid)),
          "socketPath %s, pods %s" % (sp, os.listdir(sw.scope.path("socks"))))
    sw.stop()


@test
def a_huge_annotation_is_refused_not_searched(scope):
    """Every ADD checks the whole annotation, each name against those before
    it: a tenant's 256 KB annotation of thousands of entries held the
    control thread for seconds per ADD. More entries than any pod has
    interfaces are refused at once."""
    sw = Switch(scope, "", workers="[1]").start()
    many = [{"name": "if%d" % i, "kind": "memif"} for i in range(3000)] + [{"name": "eth0", "kind": "memif"}]
    check(sw.api("apply", {"objects": [pod("many", many),
                                       pod("enough", [{"name": "net%d" % i, "kind": "memif"}
                                                      for i in range(63)] + [{"name": "eth0", "kind": "memif"}])]
                           }).get("ok"), "apply")
    ad = Adder(scope, sw)
    rc, out, cid, _, _ = ad.add("many")
    check(rc != 0 and "at most 64" in out["msg"] and (cid, "eth0") not in attachments(sw), "many: %s" % out)
    rc, out, cid, _, _ = ad.add("enough")
    check(rc == 0 and kind_of(sw, cid) == "memif", "64 entries: %s" % out)
    sw.stop()


def run_plugin(binary, command, conf, cid, netns, ifname, args=""):
    """Another CNI plugin (Debian's), called as Multus delegates to it."""
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
           "CNI_IFNAME": ifname, "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": args}
    p = subprocess.run([binary], input=json.dumps(conf), env=env, capture_output=True, text=True, timeout=30)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None)


@test
def a_multus_secondary_attachment(scope):
    """Multus' call sequence: the pod's primary network from another plugin
    (Debian's bridge with host-local, the default route its own), then
    podswitch-cni as net1 (a NetworkAttachmentDefinition's config, kernel
    through its cni-args) and net2 (memif): each its own port and address;
    the pod's default route stays the primary's, net1 routes the pods;
    CHECK per attachment; DEL of net1 leaves eth0 and net2."""
    sw = Switch(scope, "", workers="[1]").start()
    ad = Adder(scope, sw)
    peer = Netns(scope)
    rc, rp, _, _, _ = ad.add("peer", netns=peer)
    check(rc == 0, "peer: %s" % rp)
    peer_ip = rp["ips"][0]["address"].split("/")[0]
    cnf = Netns(scope)
    netns = "/run/netns/" + cnf.name
    cid = "ctr-multus-" + uid()
    k8s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=cnf"
    bridge = "pswbr" + uid()[-6:]
    primary = {"cniVersion": "1.0.0", "name": "primary", "type": "bridge", "bridge": bridge,
               "isDefaultGateway": True, "ipam": {"type": "host-local", "subnet": "10.99.0.0/24",
                                                 "dataDir": scope.path("hl")}}
    scope.defer(lambda: subprocess.run(["ip", "link", "del", bridge], capture_output=True))
    scope.defer(lambda: run_plugin("/usr/lib/cni/bridge", "DEL", primary, cid, netns, "eth0", k8s))
    rc, r0 = run_plugin("/usr/lib/cni/bridge", "ADD", primary, cid, netns, "eth0", k8s)
    check(rc == 0, "primary: %s" % r0)
    # podswitch as the secondary networks, the NAD's config with cni-args in args.cni
    nad = cni_conf(sw.sock, name="podswitch-net", args={"cni": {"interface": "kernel"}})
    rc, r1 = cni_call("ADD", nad, container_id=cid, netns=netns, ifname="net1", args=k8s)
    scope.defer(lambda: cni_call("DEL", nad, container_id=cid, ifname="net1", netns=netns))
    check(rc == 0, "net1: %s" % r1)
    # IPv4: the primary has the default, net1 the pods; IPv6: the primary has none, net1 the default
    check([x for x in r1["routes"] if ":" not in x["dst"]] == [{"dst": "10.244.0.0/24", "gw": "10.244.0.1"}] and
          [x["dst"] for x in r1["routes"] if ":" in x["dst"]] == ["::/0"], "net1's routes: %s" % r1["routes"])
    routes = cnf.sh("ip -4 route").stdout
    check("default via 10.99.0.1 dev eth0" in routes and "10.244.0.0/24 via 10.244.0.1 dev net1" in routes,
          "the pod's routes:\n%s" % routes)
    sent, got = ping(cnf, peer_ip, count=3, interval=0.2)
    check(got == sent, "net1 to a podswitch pod: %d of %d" % (got, sent))
    rc, out = cni_call("CHECK", dict(nad, prevResult=r1), container_id=cid, netns=netns, ifname="net1", args=k8s)
    check(rc == 0, "CHECK net1: %s" % out)
    dpdk = cni_conf(sw.sock, name="podswitch-dpdk", args={"cni": {"interface": "memif"}})
    rc, r2 = cni_call("ADD", dpdk, container_id=cid, netns=netns, ifname="net2", args=k8s)
    scope.defer(lambda: cni_call("DEL", dpdk, container_id=cid, ifname="net2", netns=netns))
    check(rc == 0 and r2["interfaces"][-1].get("socketPath"), "net2: %s" % r2)
    doc = read_interfaces(sw, "default", "cnf")
    check(sorted((i["name"], i["kind"]) for i in doc["interfaces"]) == [("net1", "kernel"), ("net2", "memif")],
          "interfaces.json: %s" % doc)
    atts = attachments(sw)
    check({(cid, "net1"), (cid, "net2")} <= set(atts) and atts[(cid, "net1")]["network"] == "podswitch-net" and
          atts[(cid, "net1")]["port"] != atts[(cid, "net2")]["port"], "attachments: %s" % atts)
    rc, out = cni_call("DEL", nad, container_id=cid, netns=netns, ifname="net1", args=k8s)
    check(rc == 0, "DEL net1: %s" % out)
    check(cnf.sh("ip link show net1", check_rc=False).returncode != 0, "net1 still in the pod")
    check("default via 10.99.0.1 dev eth0" in cnf.sh("ip -4 route").stdout, "the primary's route went")
    check((cid, "net2") in attachments(sw) and (cid, "net1") not in attachments(sw), "after DEL net1")
    check([i["name"] for i in read_interfaces(sw, "default", "cnf")["interfaces"]] == ["net2"],
          "interfaces.json: %s" % read_interfaces(sw, "default", "cnf"))
    sw.stop()


def secondary_pod(scope, sw, name, labels, nad, annotations=None):
    """A pod as Multus makes it: eth0 from Debian's bridge plugin (the primary),
    net1 from podswitch-cni (NAD config nad); its Pod object applied. Returns
    (netns, net1's IPv4 address)."""
    ns = Netns(scope)
    netns = "/run/netns/" + ns.name
    cid = "ctr-%s-%s" % (name, uid())
    k8s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + name
    primary = {"cniVersion": "1.0.0", "name": "primary", "type": "bridge", "bridge": sw.bridge,
               "isDefaultGateway": True, "ipam": {"type": "host-local", "subnet": "10.99.0.0/24",
                                                 "dataDir": scope.path("hl")}}
    scope.defer(lambda: run_plugin("/usr/lib/cni/bridge", "DEL", primary, cid, netns, "eth0", k8s))
    rc, r0 = run_plugin("/usr/lib/cni/bridge", "ADD", primary, cid, netns, "eth0", k8s)
    check(rc == 0, "%s's primary: %s" % (name, r0))
    meta = {"name": name, "namespace": "default", "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    check(sw.api("apply", {"objects": [dict(pod(name), metadata=meta)]}).get("ok"), "apply")
    rc, r1 = cni_call("ADD", nad, container_id=cid, netns=netns, ifname="net1", args=k8s)
    scope.defer(lambda: cni_call("DEL", nad, container_id=cid, ifname="net1", netns=netns))
    check(rc == 0, "%s's net1: %s" % (name, r1))
    return ns, r1["ips"][0]["address"].split("/")[0]


@test
def a_secondary_never_takes_over_a_route_of_the_primary(scope):
    """A pod whose primary network already routes podswitch's pod CIDR
    (the two overlap): the secondary ADD fails naming it, the primary's
    route stays as it was, and nothing is left attached."""
    sw = Switch(scope, "", workers="[1]").start()
    sw.bridge = "pswbr" + uid()[-6:]
    scope.defer(lambda: subprocess.run(["ip", "link", "del", sw.bridge], capture_output=True))
    ns = Netns(scope)
    netns = "/run/netns/" + ns.name
    cid = "ctr-ovl-%s" % uid()
    k8s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=ovl"
    primary = {"cniVersion": "1.0.0", "name": "primary", "type": "bridge", "bridge": sw.bridge,
               "isDefaultGateway": True, "ipam": {"type": "host-local", "subnet": "10.99.0.0/24",
                                                 "dataDir": scope.path("hl"),
                                                 "routes": [{"dst": "10.244.0.0/24"}]}}
    scope.defer(lambda: run_plugin("/usr/lib/cni/bridge", "DEL", primary, cid, netns, "eth0", k8s))
    rc, r0 = run_plugin("/usr/lib/cni/bridge", "ADD", primary, cid, netns, "eth0", k8s)
    check(rc == 0, "primary: %s" % r0)
    before = ns.sh("ip -4 route show 10.244.0.0/24").stdout.strip()
    check("dev eth0" in before, "the primary does not route the pod CIDR: %r" % before)
    nad = cni_conf(sw.sock, name="podswitch-net", args={"cni": {"interface": "kernel"}})
    rc, out = cni_call("ADD", nad, container_id=cid, netns=netns, ifname="net1", args=k8s)
    scope.defer(lambda: cni_call("DEL", nad, container_id=cid, ifname="net1", netns=netns))
    check(rc != 0 and "overlaps" in (out or {}).get("msg", "") + (out or {}).get("details", ""),
          "ADD over the primary's route: %s %s" % (rc, out))
    check(ns.sh("ip -4 route show 10.244.0.0/24").stdout.strip() == before, "the primary's route changed")
    check(ns.sh("ip link show net1", check_rc=False).returncode != 0, "net1 left in the pod")
    check(attachments(sw) == {}, "left attached: %s" % attachments(sw))
    sw.stop()


def mnp(name, policy_for, ingress, selector=None):
    meta = {"name": name, "namespace": "default"}
    if policy_for is not None:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/policy-for": policy_for}
    return {"apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy", "metadata": meta,
            "spec": {"podSelector": {"matchLabels": selector or {"app": "srv"}}, "policyTypes": ["Ingress"],
                     "ingress": ingress}}


@test
def multinetworkpolicy_on_a_secondary_network(scope):
    """MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1) on podswitch's secondary
    attachments: the pods' own network (eth0, Debian's bridge) is not
    podswitch's; net1 is (the NAD podswitch-net). A NetworkPolicy isolating
    the server leaves net1 alone; a MultiNetworkPolicy for podswitch-net
    denies, then allows the client only; one for another network does
    nothing, nor one for the same name in another namespace (a server's
    Pod naming its NetworkAttachmentDefinition's namespace, kept as it was
    at ADD when the annotation is rewritten)."""
    import socket as sk
    with sk.socket() as s:
        s.bind(("127.0.0.1", 0))
        mport = s.getsockname()[1]
    sw = Switch(scope, 'metrics = { listen = "127.0.0.1:%d"; };\n' % mport, workers="[1]").start()
    sw.bridge = "pswbr" + uid()[-6:]
    scope.defer(lambda: subprocess.run(["ip", "link", "del", sw.bridge], capture_output=True))
    nad = cni_conf(sw.sock, name="podswitch-net", args={"cni": {"interface": "kernel"}})
    srv, srv_ip = secondary_pod(scope, sw, "srv", {"app": "srv"}, nad)
    cli, _ = secondary_pod(scope, sw, "cli", {"role": "client"}, nad)
    other, _ = secondary_pod(scope, sw, "other", {"role": "other"}, nad)

    def reach(ns):
        return ping(ns, srv_ip, count=2, interval=0.2)[1] == 2

    check(reach(cli) and reach(other), "before any policy")
    # a NetworkPolicy is for the pods' own network, not net1
    r = sw.api("apply", {"objects": [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                      "metadata": {"name": "deny-all", "namespace": "default"},
                                      "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]})
    check(r.get("ok"), "NetworkPolicy: %s" % r)
    check(reach(cli), "a NetworkPolicy cut the secondary network")
    # for another network: nothing
    check(sw.api("apply", {"objects": [mnp("deny-other", "other-net", [])]}).get("ok"), "apply")
    check(reach(cli), "a MultiNetworkPolicy for other-net cut podswitch-net")
    # for podswitch-net: deny, then the client only
    r = sw.api("apply", {"objects": [mnp("deny-net1", "default/podswitch-net", [])]})
    check(r.get("ok"), "MultiNetworkPolicy: %s" % r)
    check(not reach(cli) and not reach(other), "denied, yet answered")
    st = sw.ok("stats")
    check(st["drops"]["policy_ingress"] >= 4, "drops: %s" % st["drops"])
    r = sw.api("apply", {"objects": [mnp("deny-net1", "podswitch-net",
                                         [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}])]})
    check(r.get("ok"), "MultiNetworkPolicy update: %s" % r)
    check(reach(cli), "the client allowed on net1, yet not answered")
    check(not reach(other), "another pod let through")
    # explain, by the net1 addresses: the MultiNetworkPolicy and its rule, or what isolates
    cli_ip = cli.sh("ip -4 -o addr show net1").stdout.split()[3].split("/")[0]
    other_ip = other.sh("ip -4 -o addr show net1").stdout.split()[3].split("/")[0]
    ex = sw.ok("explain", {"from": cli_ip, "to": srv_ip, "port": 80})
    check(ex["allowed"] and ex["ingress"].get("policy") == "MultiNetworkPolicy/default/deny-net1",
          "explain cli -> srv: %s" % ex)
    ex = sw.ok("explain", {"from": other_ip, "to": srv_ip, "port": 80})
    check(not ex["allowed"] and "MultiNetworkPolicy/default/deny-net1" in ex["ingress"].get("isolated_by", []),
          "explain other -> srv: %s" % ex)
    # a client pod of another node: a peer by its address on podswitch-net, as
    # Multus' network-status annotation gives it, not by its own network's
    remote = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "remote-cli", "namespace": "default", "labels": {"role": "client"},
        "annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps([
            {"name": "primary", "interface": "eth0", "ips": ["10.77.0.5"], "default": True},
            {"name": "default/podswitch-net", "interface": "net1", "ips": ["10.244.0.200"]}])}},
        "spec": {"containers": []}, "status": {"podIP": "10.77.0.5"}}
    check(sw.api("apply", {"objects": [remote]}).get("ok"), "apply remote")
    ex = sw.ok("explain", {"from": "10.244.0.200", "to": srv_ip, "port": 80})
    check(ex["allowed"] and ex["ingress"].get("policy") == "MultiNetworkPolicy/default/deny-net1",
          "the remote client's net1 address: %s" % ex)
    ex = sw.ok("explain", {"from": "10.77.0.5", "to": srv_ip, "port": 80})
    check(not ex["allowed"], "the remote client's own address allowed on net1: %s" % ex)
    got = {o["metadata"]["name"]: o for o in sw.ok("get", {"kind": "multinetworkpolicies"})["items"]}
    check(sorted(got) == ["deny-net1", "deny-other"], "get: %s" % got)
    st = got["deny-net1"]["status"]
    check(st["selected"] == ["srv"] and st["allowed"] >= 1 and st["denied"] >= 2 and
          got["deny-other"]["status"]["selected"] == [], "counters and selected pods: %s" % got)
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    denied = {s.labels["name"]: s.value for s in fams["podswitch_multinetworkpolicy_denied"].samples}
    check(denied.get("deny-net1", 0) == st["denied"] and "deny-other" in denied,
          "/metrics: %s vs %s" % (denied, st))
    # deleted: open again
    r = sw.api("delete", {"objects": [mnp("deny-net1", "podswitch-net", [])]})
    check(r.get("ok"), "delete: %s" % r)
    check(reach(other), "the MultiNetworkPolicy's deletion left the pod isolated")
    # policy-for compares the NetworkAttachmentDefinition's namespace: a bare
    # name is the policy's own namespace's
    check(sw.api("apply", {"objects": [mnp("deny-elsewhere", "elsewhere/podswitch-net", [])]}).get("ok"), "apply")
    check(reach(other), "a MultiNetworkPolicy for elsewhere/podswitch-net cut default/podswitch-net")
    # a server whose Pod says (Multus' network-selection annotation) its net1
    # is nets/podswitch-net
    nets = {"k8s.v1.cni.cncf.io/networks": "nets/podswitch-net@net1"}
    _, nsrv_ip = secondary_pod(scope, sw, "nsrv", {"app": "nsrv"}, nad, annotations=nets)
    att = [a for a in sw.ok("get", {"kind": "attachments"})["items"] if a["name"] == "nsrv"]
    check(len(att) == 1 and att[0]["network_attachment"] == "nets/podswitch-net", "nsrv: %s" % att)

    def reach_nsrv():
        return ping(other, nsrv_ip, count=2, interval=0.2)[1] == 2

    check(sw.api("apply", {"objects": [mnp("deny-bare", "podswitch-net", [], {"app": "nsrv"})]}).get("ok"),
          "apply")
    check(reach_nsrv(), "policy-for podswitch-net (default's) cut the server's nets/podswitch-net")
    check(sw.api("apply", {"objects": [mnp("deny-nets", "nets/podswitch-net", [], {"app": "nsrv"})]}).get("ok"),
          "apply")
    check(not reach_nsrv(), "policy-for nets/podswitch-net left the server's net1 open")
    # its owner rewrites the annotation after the ADD: the interface stays
    # on the network Multus attached it to
    check(sw.api("apply", {"objects": [dict(pod("nsrv"), metadata={
        "name": "nsrv", "namespace": "default", "labels": {"app": "nsrv"},
        "annotations": {"k8s.v1.cni.cncf.io/networks": "podswitch-net@net1"}})]}).get("ok"), "apply nsrv")
    check(not reach_nsrv(), "a rewritten annotation moved net1 out of its policy")
    sw.stop()


@test
def a_bad_multinetworkpolicy_is_refused(scope):
    sw = Switch(scope, "", workers="[1]").start()
    for ann, why in (("a/b/c", "not a NetworkAttachmentDefinition"), ("Bad_Name", "not a NetworkAttachmentDefinition"),
                     (",", "not a NetworkAttachmentDefinition"),
                     (",".join("net-%d" % i for i in range(200)), "longer than 1023 characters")):
        r = sw.api("apply", {"objects": [mnp("x", ann, [])]})
        check(not r.get("ok") and why in r["error"]["message"] and "policy-for" in r["error"]["message"],
              "%r: %s" % (ann, r))
    o = mnp("x", "net", [])
    o["apiVersion"] = "k8s.cni.cncf.io/v1"
    r = sw.api("apply", {"objects": [o]})
    check(not r.get("ok") and "k8s.cni.cncf.io/v1beta1" in r["error"]["message"], "apiVersion: %s" % r)
    o = mnp("x", "net", [{"from": [{}]}])
    r = sw.api("apply", {"objects": [o]})
    check(not r.get("ok"), "an empty peer: %s" % r)
    check(sw.ok("get", {"kind": "multinetworkpolicies"})["items"] == [], "something was stored")
    sw.stop()


@test
def policies_of_both_kinds_on_a_pod_of_two_attachments(scope):
    """A pod whose eth0 and net1 are both podswitch's (net1 attached first, as
    a re-ADD of eth0 leaves them): a NetworkPolicy and a MultiNetworkPolicy of
    the same name each isolate their own interface only; get networkpolicies
    lists the pod once; explain by name is the pod's own network (eth0); each
    deleted by its identity alone leaves the other's slot and isolation."""
    sw = Switch(scope, "", workers="[1]").start()
    objs = [dict(pod(n), metadata={"name": n, "namespace": "default", "labels": lb})
            for n, lb in (("dual", {"app": "srv"}), ("cli", {"role": "client"}))]
    check(sw.api("apply", {"objects": objs}).get("ok"), "apply the pods")
    ad = Adder(scope, sw)
    rc, r1, _, dual, _ = ad.add("dual", ifname="net1", conf=cni_conf(sw.sock, name="podswitch-net"))
    check(rc == 0, "dual's net1: %s" % r1)
    rc, r0, _, _, _ = ad.add("dual", netns=dual)
    check(rc == 0, "dual's eth0: %s" % r0)
    rc, rc_out, _, _, _ = ad.add("cli")
    check(rc == 0, "cli: %s" % rc_out)
    eth0_ip, net1_ip, cli_ip = (r["ips"][0]["address"].split("/")[0] for r in (r0, r1, rc_out))
    np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "x", "namespace": "default"},
          "spec": {"podSelector": {"matchLabels": {"app": "srv"}}, "policyTypes": ["Ingress"]}}
    check(sw.api("apply", {"objects": [np, mnp("x", "podswitch-net", [])]}).get("ok"), "apply the policies")

    def isolated_by(to, frm=None):
        ex = sw.ok("explain", {"from": frm or cli_ip, "to": to, "port": 80})
        return ex["ingress"].get("isolated_by", [])

    check(isolated_by(eth0_ip) == ["default/x"] and isolated_by(net1_ip) == ["MultiNetworkPolicy/default/x"],
          "each kind its own interface: %s %s" % (isolated_by(eth0_ip), isolated_by(net1_ip)))
    check(isolated_by("default/dual", "default/cli") == ["default/x"], "explain by name: %s" %
          sw.ok("explain", {"from": "default/cli", "to": "default/dual", "port": 80}))
    got = sw.ok("get", {"kind": "networkpolicies"})["items"]
    check([o["status"]["selected"] for o in got] == [["dual"]], "get networkpolicies: %s" % got)
    # deleted by identity: the other kind's slot and isolation stay
    ident = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "x", "namespace": "default"}}
    check(sw.api("delete", {"objects": [ident]}).get("ok"), "delete the NetworkPolicy")
    check(isolated_by(eth0_ip) == [] and isolated_by(net1_ip) == ["MultiNetworkPolicy/default/x"],
          "NetworkPolicy gone: %s %s" % (isolated_by(eth0_ip), isolated_by(net1_ip)))
    check(sw.api("apply", {"objects": [np]}).get("ok"), "apply the NetworkPolicy again")
    mident = {"apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
              "metadata": {"name": "x", "namespace": "default"}}
    check(sw.api("delete", {"objects": [mident]}).get("ok"), "delete the MultiNetworkPolicy")
    check(isolated_by(eth0_ip) == ["default/x"] and isolated_by(net1_ip) == [],
          "MultiNetworkPolicy gone: %s %s" % (isolated_by(eth0_ip), isolated_by(net1_ip)))
    # podswitchctl explain names the kind of the policy that allows
    check(sw.api("apply", {"objects": [mnp("y", "podswitch-net", [{}])]}).get("ok"), "apply an allowing one")
    out = ctl(sw.sock, "explain", cli_ip, net1_ip, "80").stdout
    check("allowed by MultiNetworkPolicy default/y, ingress rule 0" in out, "podswitchctl explain:\n%s" % out)
    sw.stop()


@test
def multinetworkpolicies_survive_a_restart(scope):
    """objects.json keeps MultiNetworkPolicies (after the NetworkPolicies, a
    NetworkPolicy of the same name beside one); killed and started again on
    the same state directory, the switch has both, and a secondary
    interface keeps the NetworkAttachmentDefinition it had at ADD."""
    state, sock = scope.path("keep-state"), scope.path("keep.sock")
    sw = Switch(scope, "", state=state, sock=sock).start()
    np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "x", "namespace": "default"},
          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    check(sw.api("apply", {"objects": [mnp("x", "podswitch-net", []), np]}).get("ok"), "apply")
    # a secondary interface's NetworkAttachmentDefinition, as its Pod said at ADD
    check(sw.api("apply", {"objects": [dict(pod("keep"), metadata={
        "name": "keep", "namespace": "default",
        "annotations": {"k8s.v1.cni.cncf.io/networks": "nets/n1@net1"}})]}).get("ok"), "apply keep")
    rc, out, cid, _, _ = Adder(scope, sw).add("keep", ifname="net1")
    check(rc == 0, "ADD net1: %s" % out)
    objects = json.load(open(os.path.join(state, "objects.json")))
    check([o["kind"] for o in objects["objects"] if o["kind"] != "Pod"] == ["NetworkPolicy", "MultiNetworkPolicy"],
          "objects.json: %s" % objects)
    sw.kill()
    sw = Switch(scope, "", state=state, sock=sock).start()
    got = [sw.ok("get", {"kind": k})["items"] for k in ("networkpolicies", "multinetworkpolicies")]
    check([[o["metadata"]["name"] for o in g] for g in got] == [["x"], ["x"]] and
          got[1][0]["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/policy-for": "podswitch-net"},
          "after the restart: %s" % got)
    a = attachments(sw).get((cid, "net1"), {})
    check(a.get("network_attachment") == "nets/n1", "net1's network after the restart: %s" % a)
    sw.stop()


@test
def a_networkpolicy_peer_on_a_secondary_network_only(scope):
    """A pod whose own network is another plugin's (podswitch attaches its net1
    only) is, as a NetworkPolicy's peer, its Pod object's addresses
    (status.podIPs), as a pod of another node would be; not its net1 address,
    which is not on the pods' own network. Incremental (the Pod changed) and
    full (a Namespace changed) plans agree."""
    sw = Switch(scope, "", workers="[1]").start()
    sw.bridge = "pswbr" + uid()[-6:]
    scope.defer(lambda: subprocess.run(["ip", "link", "del", sw.bridge], capture_output=True))
    nad = cni_conf(sw.sock, name="podswitch-net", args={"cni": {"interface": "kernel"}})
    cli, cli_net1 = secondary_pod(scope, sw, "cli", {"role": "client"}, nad)
    cli_eth0 = cli.sh("ip -4 -o addr show eth0").stdout.split()[3].split("/")[0]
    web = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default",
                                                          "labels": {"app": "web"}}, "spec": {"containers": []}}
    np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "from-cli", "namespace": "default"},
          "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]}}
    check(sw.api("apply", {"objects": [web, np]}).get("ok"), "apply web")
    rc, rw, _, _, _ = Adder(scope, sw).add("web")
    check(rc == 0, "web: %s" % rw)
    web_ip = rw["ips"][0]["address"].split("/")[0]
    cli_obj = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "cli", "namespace": "default", "labels": {"role": "client"}},
               "spec": {"containers": []}, "status": {"podIPs": [{"ip": cli_eth0}]}}
    check(sw.api("apply", {"objects": [cli_obj]}).get("ok"), "apply cli's status")

    def allowed(src):
        return sw.ok("explain", {"from": src, "to": web_ip, "port": 80})["allowed"]

    check(allowed(cli_eth0) and not allowed(cli_net1), "after the Pod changed: eth0 %s, net1 %s"
          % (allowed(cli_eth0), allowed(cli_net1)))
    check(sw.api("apply", {"objects": [{"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": "default", "labels": {"x": "y"}}}]}).get("ok"), "ns")
    check(allowed(cli_eth0) and not allowed(cli_net1), "after a full plan: eth0 %s, net1 %s"
          % (allowed(cli_eth0), allowed(cli_net1)))
    sw.stop()


if __name__ == "__main__":
    main()
