#!/usr/bin/python3
"""System tests of the CNI plugin through containerd's CRI: the calls a
kubelet makes (RunPodSandbox, CreateContainer, ExecSync, StopPodSandbox,
RemovePodSandbox) to a private containerd 1.6 (tests/lib/cri.py), which runs
podswitch-cni from config/cni/ as shipped (10-podswitch.conflist by
default, 20-podswitch-hostlocal.conflist for a RuntimeClass handler).

The CNF test runs the host's dpdk-testpmd in the busybox image, with the
host's /usr mounted read-only (and /lib, /lib64 from it): testpmd needs
/var/run to exist (mkdir) and --stats-period, or it exits at once when
standard input is closed. A privileged container needs a privileged
sandbox; testpmd over memif with --no-huge needs neither.

Needs root, containerd, runc, python3-grpcio, python3-grpc-tools,
busybox-static and containernetworking-plugins (loopback, host-local), and
the shipped conflists' socket (/run/podswitch/podswitch.sock) free: not
at the same time as test_cni_spec.py, which wants it too.

Traps (beyond tests/lib/cri.py's), seen with a logging wrapper in front
of the plugin:
- CNI_ARGS: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID,
  K8S_POD_UID and IgnoreUnknown=1, in a different order on every call (a
  Go map); CNI_CONTAINERID is the sandbox id.
- Every StopPodSandbox sends DEL, the first with the netns, the next ones
  with an empty CNI_NETNS; RemovePodSandbox sends one more with an empty
  CNI_NETNS. Each must succeed, or the sandbox cannot go.
- A failed ADD makes the CRI send DEL at once (the switch down: the DEL
  is recorded in the state dir) and RunPodSandbox fails with the plugin's
  message inside containerd's.
- PodSandboxStatus gives the first IP as network.ip, the IPv6 one as
  additional_ips; verbose status has the netns path in the runtime spec.
"""
import json
import os
import re
import shutil
import sys
import uuid

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (DEFAULT_SOCK, DEFAULT_STATE, ROOT, Netns, check, cni_call, cni_conf,  # noqa: E402
                     default_switch, main, ping, test)
import cri  # noqa: E402

SHIPPED = os.path.join(ROOT, "config", "cni")
HOST_LOCAL_DATA = "/var/lib/cni/podswitch-host-local/podnet-hostlocal"   # as the shipped file says


def shipped_conf_dir(scope, name, conflist):
    """A conf dir holding one shipped file, copied byte for byte."""
    conf_dir = scope.path(name)
    os.makedirs(conf_dir)
    shutil.copy(os.path.join(SHIPPED, conflist), conf_dir)
    return conf_dir


def containerd_on_the_shipped_conflist(scope, handlers=None):
    """The CRI's default network: config/cni/10-podswitch.conflist."""
    conf_dir = shipped_conf_dir(scope, "net.d", "10-podswitch.conflist")
    return cri.Containerd(scope, conf_dir, cri.cni_bin_dir(scope), handlers)


def target_pod(scope):
    """A namespace pod attached directly by the plugin (not through the CRI)."""
    ns = Netns(scope)
    conf = cni_conf(DEFAULT_SOCK, version="1.0.0")
    rc, res = cni_call("ADD", conf, container_id="cri-target", netns="/run/netns/" + ns.name)
    check(rc == 0, "target pod: %s" % res)
    scope.defer(lambda: cni_call("DEL", conf, container_id="cri-target"))
    return res["ips"][0]["address"].split("/")[0]


def attachment(sw, container_id):
    items = [i for i in sw.ok("get", {"kind": "attachments"})["items"] if i["container_id"] == container_id]
    return items[0] if items else None


def port_names(sw):
    return sorted(p["name"] for p in sw.ok("get", {"kind": "ports"})["items"])


@test
def cri_kernel_pod_gets_an_address_and_reaches_a_pod(scope):
    """A sandbox run through the CRI is attached by the switch with the pod's
    namespace and name, the CRI reports the switch's address, a container in
    it answers at the first ping, and stop (twice, as a kubelet may) and
    remove leave no attachment and no port behind."""
    sw = default_switch(scope)
    ctd = containerd_on_the_shipped_conflist(scope)
    target_ip = target_pod(scope)
    ports_before = port_names(sw)
    pod_uid = str(uuid.uuid4())
    sid, sconf = ctd.run_pod_sandbox("web-1", "shop", pod_uid, labels={"app": "web"},
                                     annotations={"podswitch.test/cri": "1"})
    st = ctd.pod_sandbox_status(sid)
    att = attachment(sw, sid)
    check(att is not None, "no attachment for sandbox %s: %s" % (sid, sw.ok("get", {"kind": "attachments"})))
    check(st.state == cri.pb.SANDBOX_READY and st.network.ip == att["ip4"],
          "CRI says %s (state %d), the switch %s" % (st.network.ip, st.state, att["ip4"]))
    extra = [i.ip for i in st.network.additional_ips]
    check(extra == ([att["ip6"]] if att.get("ip6") else []),
          "CRI's additional IPs %s, the switch's ip6 %s" % (extra, att.get("ip6")))
    check((att["namespace"], att["name"]) == ("shop", "web-1"),
          "K8S_POD_NAMESPACE / K8S_POD_NAME: %s" % att)
    check(len(port_names(sw)) == len(ports_before) + 1, "ports: %s" % port_names(sw))

    cid = ctd.create_container(sid, sconf, "app", command=["sleep", "300"])
    ctd.start_container(cid)
    rc, out, err = ctd.exec_sync(cid, ["ip", "-4", "addr", "show", "eth0"])
    check(rc == 0 and (att["ip4"] + "/") in out, "eth0 in the container: rc %d %s%s" % (rc, out, err))
    rc, out, err = ctd.exec_sync(cid, ["ping", "-c", "3", "-W", "2", target_ip], timeout=15)
    check(rc == 0 and "3 packets received" in out and re.search(r"seq=0 ", out),
          "ping from the container: rc %d\n%s%s" % (rc, out, err))

    ctd.stop_container(cid)
    ctd.remove_container(cid)
    ctd.stop_pod_sandbox(sid)
    check(attachment(sw, sid) is None, "StopPodSandbox left %s" % attachment(sw, sid))
    ctd.stop_pod_sandbox(sid)       # the kubelet stops more than once; each must succeed
    ctd.remove_pod_sandbox(sid)
    check(attachment(sw, sid) is None, "RemovePodSandbox left %s" % attachment(sw, sid))
    check(port_names(sw) == ports_before, "ports after: %s, before: %s" % (port_names(sw), ports_before))
    check(not ctd.list_pod_sandboxes(), "the CRI still lists %s" % ctd.list_pod_sandboxes())
    sw.stop()


@test
def cri_runtime_class_with_the_host_local_conflist(scope):
    """A RuntimeClass handler with its own cni_conf_dir holding the shipped
    host-local list: its sandbox is addressed by host-local (the switch marks
    it external), a default sandbox by the switch; one pings the other from
    the first packet, and removing them frees both addresses."""
    sw = default_switch(scope)
    hl_dir = shipped_conf_dir(scope, "net-hostlocal.d", "20-podswitch-hostlocal.conflist")
    ctd = containerd_on_the_shipped_conflist(scope, handlers={"hostlocal": hl_dir})
    # host-local first: the switch then keeps its lease out of its own pool
    hl, _ = ctd.run_pod_sandbox("hl-1", "shop", str(uuid.uuid4()), runtime_handler="hostlocal")
    own, own_conf = ctd.run_pod_sandbox("own-1", "shop", str(uuid.uuid4()))
    att_hl, att_own = attachment(sw, hl), attachment(sw, own)
    check(att_hl and att_hl["network"] == "podnet-hostlocal" and att_hl["ipam_external"],
          "the handler's sandbox: %s" % att_hl)
    check(att_own and att_own["network"] == "podnet" and not att_own["ipam_external"],
          "the default sandbox: %s" % att_own)
    st = ctd.pod_sandbox_status(hl)
    check(st.runtime_handler == "hostlocal" and st.network.ip == att_hl["ip4"], "CRI: %s" % st)
    lease = os.path.join(HOST_LOCAL_DATA, att_hl["ip4"])
    check(os.path.exists(lease), "no host-local lease %s" % lease)

    cid = ctd.create_container(own, own_conf, "app", command=["sleep", "300"])
    ctd.start_container(cid)
    rc, out, err = ctd.exec_sync(cid, ["ping", "-c", "3", "-W", "2", att_hl["ip4"]], timeout=15)
    check(rc == 0 and "3 packets received" in out and re.search(r"seq=0 ", out),
          "ping to the host-local sandbox: rc %d\n%s%s" % (rc, out, err))
    for sid in (own, hl):
        ctd.stop_pod_sandbox(sid)
        ctd.remove_pod_sandbox(sid)
    check(sw.ok("status")["attachments"] == 0, "after remove: %s" % sw.ok("status"))
    check(not os.path.exists(lease), "host-local kept %s" % lease)
    sw.stop()


def cri_netns():
    return {n for n in os.listdir("/run/netns") if n.startswith("cni-")} if os.path.isdir("/run/netns") else set()


@test
def cri_sandbox_while_the_switch_is_down_fails_cleanly(scope):
    """The switch down at RunPodSandbox: the call fails with the plugin's own
    words (which socket), the CRI keeps no sandbox, no network namespace,
    no shim; the CRI's DEL is recorded for the switch, which releases it when
    it is back, and the kubelet's retry then succeeds."""
    sw = default_switch(scope)
    ctd = containerd_on_the_shipped_conflist(scope)
    sw.stop()
    netns_before = cri_netns()
    pod_uid = str(uuid.uuid4())
    try:
        ctd.run_pod_sandbox("web-2", "shop", pod_uid)
        check(False, "RunPodSandbox succeeded with the switch down")
    except grpc.RpcError as e:
        want = "podswitch is not reachable on %s" % DEFAULT_SOCK
        check(want in e.details(), "RunPodSandbox's error lacks %r: %s" % (want, e.details()))
    check(not ctd.list_pod_sandboxes(), "the CRI kept %s" % ctd.list_pod_sandboxes())
    check(cri_netns() == netns_before, "network namespaces left: %s" % (cri_netns() - netns_before))
    check(not ctd.shim_pids(), "shims left: %s" % ctd.shim_pids())
    released = os.path.join(DEFAULT_STATE, "released")
    check(os.listdir(released), "the CRI's DEL left no record in %s" % released)

    sw.start()
    check(sw.ok("status")["attachments"] == 0, "after the restart: %s" % sw.ok("status"))
    check(not os.listdir(released), "records not taken: %s" % os.listdir(released))
    sid, _ = ctd.run_pod_sandbox("web-2", "shop", pod_uid)
    att = attachment(sw, sid)
    check(att is not None and ctd.pod_sandbox_status(sid).network.ip == att["ip4"],
          "the retry: CRI %s, switch %s" % (ctd.pod_sandbox_status(sid).network.ip, att))
    ctd.stop_pod_sandbox(sid)
    ctd.remove_pod_sandbox(sid)
    check(sw.ok("status")["attachments"] == 0, "after remove: %s" % sw.ok("status"))
    sw.stop()


SAMPLE_CNF = os.path.join(ROOT, "config", "kubernetes", "cnf-testpmd.yaml")


def sample_cnf():
    """The shipped sample's cnf-memif Pod (its annotation, its container's script)."""
    import yaml
    with open(SAMPLE_CNF) as f:
        return next(d for d in yaml.safe_load_all(f) if d["kind"] == "Pod" and d["metadata"]["name"] == "cnf-memif")


@test
def cri_dpdk_cnf_finds_its_memif_in_its_pod_directory(scope):
    """Issue 17's CNF through the kubelet's path, from the shipped sample
    (config/kubernetes/cnf-testpmd.yaml, cnf-memif): its Pod object (as the
    agent delivers it) asks for a memif eth0 in its podswitch.io/interfaces
    annotation; RunPodSandbox through the shipped conflist attaches it as
    memif; the container mounts the pod's directory at /run/podswitch (what
    the kubelet makes of the sample's hostPath volume with subPathExpr
    $(POD_NAMESPACE)/$(POD_NAME)) and runs the sample's script, which starts
    dpdk-testpmd on the vdev it reads from interfaces.json; a kernel pod's
    pings are answered. The host's /usr is mounted read-only for testpmd
    and its libraries (the test image is busybox)."""
    sw = default_switch(scope)
    ctd = containerd_on_the_shipped_conflist(scope)
    client = Netns(scope)
    conf = cni_conf(DEFAULT_SOCK, version="1.0.0")
    rc, res = cni_call("ADD", conf, container_id="cri-client", netns="/run/netns/" + client.name)
    check(rc == 0, "client pod: %s" % res)
    scope.defer(lambda: cni_call("DEL", conf, container_id="cri-client"))
    pod = sample_cnf()
    r = sw.api("apply", {"objects": [pod]})
    check(r.get("ok"), "apply: %s" % r)
    sid, sconf = ctd.run_pod_sandbox("cnf-memif", "default", str(uuid.uuid4()))
    att = attachment(sw, sid)
    check(att and att["interface"] == "memif", "the CNF's attachment: %s" % att)
    poddir = os.path.join(scope.path("socks"), "pods", "default", "cnf-memif")
    logdir = scope.path("cnf-log")
    os.makedirs(logdir)
    vm = [m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "podswitch"][0]
    mounts = [(poddir, vm["mountPath"], vm.get("readOnly", False)), ("/usr", "/usr", True), ("/usr/lib", "/lib", True),
              ("/usr/lib64", "/lib64", True), (logdir, "/log", False)]
    # the sample's script as it is; EAL without hugepages (the test image has none) and the host's testpmd
    script = pod["spec"]["containers"][0]["args"][0]
    env = {"PATH": "/bin:/usr/bin", "PMD_EAL": "--no-huge -m 512 --lcores=0@0,1@0 --single-file-segments",
           "POD_NAMESPACE": "default", "POD_NAME": "cnf-memif"}
    cid = ctd.create_container(sid, sconf, "testpmd", command=["/bin/sh", "-c", "exec >/log/out 2>&1\n" + script],
                               envs=env, mounts=mounts)
    ctd.start_container(cid)
    got = 0
    for _ in range(30):
        got = ping(client, att["ip4"], count=1, interval=0.2)[1]
        if got:
            break
    st = ctd.container_status(cid)
    if got != 1:
        with open(os.path.join(logdir, "out"), errors="replace") as f:
            out = f.read()[-3000:]
    check(got == 1, "the CNF %s never answered (container state %d, exit %d):\n%s"
          % (att["ip4"], st.state, st.exit_code, out if got != 1 else ""))
    sent, got = ping(client, att["ip4"], count=5, interval=0.1)
    check(got == sent, "the CNF answered %d of %d" % (got, sent))
    ctd.stop_container(cid, timeout=5)
    ctd.remove_container(cid)
    ctd.stop_pod_sandbox(sid)
    ctd.remove_pod_sandbox(sid)
    check(attachment(sw, sid) is None and not os.path.exists(poddir),
          "after the sandbox: %s, directory %s" % (attachment(sw, sid), os.path.exists(poddir)))
    sw.stop()


@test
def cri_runtime_class_for_memif_pods(scope):
    """The fallback without annotations or Pod objects: a RuntimeClass whose
    containerd handler has its own cni_conf_dir holding the shipped
    config/cni/runtimeclass-memif/10-podswitch-memif.conflist. Its
    sandboxes are memif pods (their directory and interfaces.json made), a
    default sandbox stays kernel, and removal leaves no directory."""
    sw = default_switch(scope)
    memif_dir = shipped_conf_dir(scope, "net-memif.d", os.path.join("runtimeclass-memif",
                                                                    "10-podswitch-memif.conflist"))
    ctd = containerd_on_the_shipped_conflist(scope, handlers={"podswitch-memif": memif_dir})
    dp, _ = ctd.run_pod_sandbox("dp-1", "shop", str(uuid.uuid4()), runtime_handler="podswitch-memif")
    kp, _ = ctd.run_pod_sandbox("kp-1", "shop", str(uuid.uuid4()))
    a_dp, a_kp = attachment(sw, dp), attachment(sw, kp)
    check(a_dp and a_dp["interface"] == "memif" and a_dp["network"] == "podnet-memif",
          "the handler's sandbox: %s" % a_dp)
    check(a_kp and a_kp["interface"] == "kernel", "the default sandbox: %s" % a_kp)
    poddir = os.path.join(scope.path("socks"), "pods", "shop", "dp-1")
    with open(os.path.join(poddir, "interfaces.json")) as f:
        doc = json.load(f)
    check([(i["name"], i["kind"], i["ips"][0].split("/")[0]) for i in doc["interfaces"]] ==
          [("eth0", "memif", a_dp["ip4"])], "interfaces.json: %s" % doc)
    for sid in (dp, kp):
        ctd.stop_pod_sandbox(sid)
        ctd.remove_pod_sandbox(sid)
    check(attachment(sw, dp) is None and not os.path.exists(poddir), "left: %s" % attachment(sw, dp))
    sw.stop()


if __name__ == "__main__":
    main()
