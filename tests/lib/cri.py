"""A private containerd driven through its CRI, as a kubelet drives it.

Containerd(scope, cni_conf_dir, cni_bin_dir) starts containerd 1.6 with its
own root, state, sockets and runc root under the test scope, imports a
busybox-static image (the pause image and the app image at once), and offers
the CRI calls the tests need. The gRPC stubs come from cri/runtime.proto,
generated at import time into the build directory (nothing generated is in the
tree). Everything started is stopped by the scope, by PID.

Traps (containerd 1.6 as Debian 12 packages it, on this machine):
- Root cannot lower oom_score_adj here: the CRI needs restrict_oom_score_adj.
- The CRI pulls sandbox_image when it is missing: the image is named
  localhost/..., so that a pull could only ever go to this host, and it is
  imported before the first RunPodSandbox.
- The CRI looks for CNI plugins only in its bin_dir (loopback included, for
  lo in every sandbox); it reads conf_dir's first file by name only.
- Shims outlive containerd (their own sessions), and containers outlive a
  killed shim: sandboxes are removed through the CRI before containerd
  stops; after it, shims still naming our socket and processes still in our
  cgroup parent are killed by PID. Shim sockets live in /run/containerd/s/
  whatever the state dir; a killed shim leaves its own there.
- The CRI's network namespaces are /var/run/netns/cni-<uuid>, outside the
  state dir; RemovePodSandbox removes them.
- The "opt" plugin would create /opt/containerd: disabled.
- libcni in the CRI caches every ADD's result in /var/lib/cni/results
  (podman's too), named <network>-<sandbox id>-<ifname>; DEL removes it.
- Without a cgroup_parent the CRI (cgroupfs) puts every container under
  k8s.io in each hierarchy and leaves those directories: sandboxes get a
  parent of this instance's own, removed at the end.
"""
import glob
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

import grpc

from pswtest import BUILD, Failure, check, run

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "cri", "runtime.proto")
IMAGE = "localhost/podswitch-busybox:1"
K8S_NS = "k8s.io"           # the containerd namespace the CRI keeps its objects in
SHIM_SOCKETS = "/run/containerd/s"  # where every shim puts its socket, whatever our state dir
CNI_RESULTS = "/var/lib/cni/results"  # libcni's cache in the CRI: not configurable in 1.6


def _stubs():
    """runtime_pb2 and runtime_pb2_grpc, generated once per proto text into
    the build dir (build output, like the cnidriver); written beside and
    renamed, so two runs never see half a file."""
    text = open(PROTO, "rb").read()
    cache = os.path.join(BUILD, "cri-stubs-" + hashlib.sha256(text).hexdigest()[:16])
    if not os.path.exists(os.path.join(cache, "runtime_pb2_grpc.py")):
        tmp = tempfile.mkdtemp(prefix="cri-stubs-gen-", dir=BUILD)
        from grpc_tools import protoc
        rc = protoc.main(["protoc", "-I" + os.path.dirname(PROTO), "--python_out=" + tmp,
                          "--grpc_python_out=" + tmp, PROTO])
        if rc != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Failure("protoc failed on %s" % PROTO)
        try:
            os.rename(tmp, cache)
        except OSError:             # another run got there first
            shutil.rmtree(tmp, ignore_errors=True)
    sys.path.insert(0, cache)
    import runtime_pb2
    import runtime_pb2_grpc
    return runtime_pb2, runtime_pb2_grpc


pb, pb_grpc = _stubs()


# ---------------------------------------------------------------- the image

def _goarch():
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _blob(out, data):
    """Store data under blobs/sha256 of the OCI layout; return its descriptor."""
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def _busybox_layer():
    """One uncompressed layer: /bin/busybox and the applets the tests call."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
        t.add("/bin/busybox", "bin/busybox")
        for applet in ("sh", "sleep", "ip", "ping", "cat", "env", "ls", "hostname", "grep", "cut", "head", "mkdir", "sed"):
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            t.addfile(info)
    return buf.getvalue()


def busybox_oci_archive(path, name=IMAGE):
    """An OCI image archive of busybox-static. Its default process sleeps for
    ever, which is all a pause container has to do (PID 1 needs no handler:
    the CRI stops a sandbox with SIGKILL)."""
    out = tempfile.mkdtemp(prefix="psw-oci-")
    try:
        os.makedirs(os.path.join(out, "blobs", "sha256"))
        layer = _busybox_layer()
        layer_desc = dict(_blob(out, layer), mediaType="application/vnd.oci.image.layer.v1.tar")
        config = {"architecture": _goarch(), "os": "linux",
                  "config": {"Entrypoint": ["/bin/sleep"], "Cmd": ["2147483647"],
                             "Env": ["PATH=/bin"], "WorkingDir": "/"},
                  "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}
        config_desc = dict(_blob(out, json.dumps(config).encode()),
                           mediaType="application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = dict(_blob(out, json.dumps(manifest).encode()),
                             mediaType="application/vnd.oci.image.manifest.v1+json")
        # ctr import names the image after io.containerd.image.name
        manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
        with open(os.path.join(out, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, f)
        with open(os.path.join(out, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with tarfile.open(path, "w") as t:
            for entry in ("oci-layout", "index.json", "blobs"):
                t.add(os.path.join(out, entry), entry)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return path


# ---------------------------------------------------------------- containerd

def unix_sockets_of(pid):
    """Paths of the unix sockets a process holds (its listening one among them)."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    with open("/proc/net/unix") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [r[7] for r in rows if len(r) >= 8 and r[6] in inodes]


def cni_bin_dir(scope):
    """The CRI's bin_dir: the built plugin and the two Debian plugins it needs."""
    d = scope.path("cni-bin")
    os.makedirs(d, exist_ok=True)
    os.symlink(os.path.join(BUILD, "switch", "podswitch-cni"), os.path.join(d, "podswitch-cni"))
    for name in ("loopback", "host-local"):
        os.symlink(os.path.join("/usr/lib/cni", name), os.path.join(d, name))
    return d


CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{runc_root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
"""

# A RuntimeClass handler with a network of its own (cni_conf_dir per runtime).
HANDLER = """[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
  runtime_type = "io.containerd.runc.v2"
  cni_conf_dir = "{cni_conf}"
  cni_max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
    Root = "{runc_root}"
"""


class Containerd:
    """containerd on its own root, state and socket under the scope;
    handlers: {RuntimeClass handler name: its own CNI conf dir}."""

    def __init__(self, scope, cni_conf_dir, cni_bin_dir, handlers=None):
        self.scope = scope
        self.dir = scope.path("containerd")
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "containerd.sock")
        self.log = os.path.join(self.dir, "containerd.log")
        self.sandboxes = {}             # id: network namespace, to remove even after a failure
        self.cgroup_parent = "/" + os.path.basename(scope.dir) + "-cri"
        self.made_run_dirs = [d for d in (SHIM_SOCKETS, os.path.dirname(SHIM_SOCKETS))
                              if not os.path.exists(d)]
        conf = os.path.join(self.dir, "config.toml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(root=os.path.join(self.dir, "root"),
                                  state=os.path.join(self.dir, "state"), sock=self.sock,
                                  image=IMAGE, runc_root=os.path.join(self.dir, "runc"),
                                  cni_bin=cni_bin_dir, cni_conf=cni_conf_dir))
            for name, conf_dir in (handlers or {}).items():
                f.write(HANDLER.format(name=name, cni_conf=conf_dir, runc_root=os.path.join(self.dir, "runc")))
        # before the process: stop() needs the channel, and connects lazily
        self.channel = grpc.insecure_channel("unix://" + self.sock)
        self.rt = pb_grpc.RuntimeServiceStub(self.channel)
        self.logf = open(self.log, "w")
        # its own session (setsid): a signal to the test's group never reaches it
        self.proc = subprocess.Popen(["containerd", "--config", conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        scope.defer(self.stop)
        self.wait_ready(30)
        self.import_image()

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout):
        """Until the CRI answers Version (the socket exists well before)."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise Failure("containerd exited (%d):\n%s" % (self.proc.returncode, self.text()[-3000:]))
            try:
                return self.rt.Version(pb.VersionRequest(), timeout=2)
            except Exception as e:      # not listening yet, or the CRI not yet up
                last = e
                time.sleep(0.1)
        raise Failure("containerd's CRI did not answer within %ds: %s\n%s"
                      % (timeout, last, self.text()[-3000:]))

    def ctr(self, *args, timeout=60):
        return run(["ctr", "-a", self.sock, "-n", K8S_NS] + list(args), timeout=timeout)

    def import_image(self):
        """Pause and app image, imported (and unpacked for the CRI's snapshotter)
        before any sandbox, so the CRI never tries to pull."""
        archive = busybox_oci_archive(os.path.join(self.dir, "busybox-oci.tar"))
        self.ctr("images", "import", "--snapshotter", "overlayfs", archive)
        check(IMAGE in self.ctr("images", "ls", "-q").stdout, "%s not imported" % IMAGE)

    # ------------------------------------------------------------ cleanup

    def remove_all_sandboxes(self):
        """What a test left running: every sandbox we know of and every one the
        CRI lists, stopped and removed (containers go with their sandbox)."""
        ids = list(self.sandboxes.keys())
        try:
            ids += [s.id for s in self.rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=10).items]
        except Exception:
            pass
        for sid in dict.fromkeys(ids):
            for call in (self.stop_pod_sandbox, self.remove_pod_sandbox):
                try:
                    call(sid)
                except Exception:
                    pass

    def shim_pids(self):
        """Shims our containerd started: they name its socket in their arguments."""
        pids = []
        for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(cmdline, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and self.sock.encode() in argv:
                pids.append(int(cmdline.split("/")[2]))
        return pids

    def unmount_all(self):
        """Mounts left under our directory (rootfs, shm), deepest first."""
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for point in sorted((p for p in points if p.startswith(self.dir + "/")), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def stop(self):
        """Sandboxes through the CRI, then containerd (by PID); then whatever
        a containerd that died or hung left: shims, containers, mounts,
        namespaces, directories."""
        if self.proc.poll() is None:
            self.remove_all_sandboxes()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.channel.close()
        self.kill_shims_left()
        self.kill_containers_left()
        self.unmount_all()
        self.remove_sandboxes_left()
        self.remove_made_dirs()
        self.logf.close()

    def kill_shims_left(self):
        for pid in self.shim_pids():
            sockets = unix_sockets_of(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for path in sockets:        # a killed shim cannot remove its own
                if path.startswith(SHIM_SOCKETS + "/") and os.path.exists(path):
                    os.unlink(path)

    def cgroup_dirs(self):
        """Our cgroup parent in every hierarchy, and the containers' under it."""
        dirs = glob.glob("/sys/fs/cgroup/*" + self.cgroup_parent)
        return glob.glob("/sys/fs/cgroup/*%s/*/" % self.cgroup_parent) + dirs

    def kill_containers_left(self):
        """Container processes outlive a killed shim: those in our cgroup
        parent are ours."""
        for procs in glob.glob("/sys/fs/cgroup/pids%s/*/cgroup.procs" % self.cgroup_parent):
            with open(procs) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def remove_sandboxes_left(self):
        """What is left of sandboxes containerd could not remove (it hung or
        died): the network namespace, gone with its last mount and the pod's
        veth end with it; libcni's cached results, named after the sandbox."""
        for sid, path in self.sandboxes.items():
            leftovers = glob.glob(os.path.join(CNI_RESULTS, "*-%s-*" % sid))
            if path and os.path.exists(path):
                subprocess.run(["umount", path], capture_output=True)
                leftovers.append(path)
            for f in leftovers:
                try:
                    os.unlink(f)
                except OSError:
                    pass

    def remove_made_dirs(self):
        """Our cgroups (busy until killed processes are gone: a few tries)
        and the shim socket dirs when we made them; rmdir only, so a
        directory someone else still uses stays."""
        end = time.monotonic() + 5
        while self.cgroup_dirs() and time.monotonic() < end:
            for d in self.cgroup_dirs():
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            time.sleep(0.05)
        for d in self.made_run_dirs:
            try:
                os.rmdir(d)
            except OSError:
                pass

    # ------------------------------------------------------------ the CRI

    def sandbox_config(self, name, namespace, uid, labels=None, annotations=None):
        """What a kubelet sends for a pod (metadata as CNI_ARGS K8S_POD_*)."""
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=0),
            hostname=name, labels=labels or {}, annotations=annotations or {},
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=self.cgroup_parent))

    def run_pod_sandbox(self, name, namespace, uid, labels=None, annotations=None,
                        runtime_handler="", timeout=60):
        """Returns (sandbox id, its config: CreateContainer needs it again)."""
        config = self.sandbox_config(name, namespace, uid, labels, annotations)
        r = self.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler),
                                  timeout=timeout)
        self.sandboxes[r.pod_sandbox_id] = self.netns_path(r.pod_sandbox_id)
        return r.pod_sandbox_id, config

    def netns_path(self, sandbox_id):
        """The sandbox's network namespace, from the runtime spec the CRI shows
        in verbose status (/var/run/netns/cni-<uuid>, outside our dirs)."""
        try:
            r = self.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True),
                                         timeout=10)
            spec = json.loads(r.info["info"])["runtimeSpec"]
            return [n.get("path") for n in spec["linux"]["namespaces"] if n["type"] == "network"][0]
        except Exception:               # only a fallback for the cleanup
            return None

    def pod_sandbox_status(self, sandbox_id):
        return self.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id),
                                        timeout=10).status

    def list_pod_sandboxes(self):
        return list(self.rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=10).items)

    def stop_pod_sandbox(self, sandbox_id):
        self.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=60)

    def remove_pod_sandbox(self, sandbox_id):
        self.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=60)
        self.sandboxes.pop(sandbox_id, None)

    def create_container(self, sandbox_id, sandbox_config, name, image=IMAGE, command=(), args=(),
                         envs=None, mounts=(), privileged=False):
        """mounts: (host path, container path, readonly) triples."""
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=image),
            command=list(command), args=list(args),
            envs=[pb.KeyValue(key=k, value=v) for k, v in (envs or {}).items()],
            mounts=[pb.Mount(host_path=h, container_path=c, readonly=ro) for h, c, ro in mounts],
            linux=pb.LinuxContainerConfig(
                security_context=pb.LinuxContainerSecurityContext(privileged=privileged)))
        r = self.rt.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config), timeout=60)
        return r.container_id

    def start_container(self, container_id):
        self.rt.StartContainer(pb.StartContainerRequest(container_id=container_id), timeout=60)

    def container_status(self, container_id):
        return self.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id),
                                       timeout=10).status

    def exec_sync(self, container_id, cmd, timeout=10):
        """Returns (exit code, stdout, stderr) as text."""
        r = self.rt.ExecSync(pb.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout),
                             timeout=timeout + 10)
        return r.exit_code, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def stop_container(self, container_id, timeout=0):
        self.rt.StopContainer(pb.StopContainerRequest(container_id=container_id, timeout=timeout),
                              timeout=timeout + 30)

    def remove_container(self, container_id):
        self.rt.RemoveContainer(pb.RemoveContainerRequest(container_id=container_id), timeout=30)
