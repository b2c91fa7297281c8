"""Reachability-matrix harness for the NetworkPolicy system tests.

A Cluster is one podswitch with three labelled Namespaces and two kernel pods
in each, attached through the CNI plugin and described by applied v1 Pod
objects (labels app=web|db and id=<pod name>, named container ports). Every
pod runs one server (polagent.py serve: TCP 80, 81, 8080, UDP 53, 5353, plus
TCP 53 and a TCP 9000 echo outside the matrix) answering with its pod name,
and has a ClusterIP Service of its own (selector id=<pod name>, the same
ports, port = targetPort).

check_matrix(expected) probes every client pod -> every other pod x every
matrix port, by pod IP and (via_service) through the server's ClusterIP, all
at once: one probe process per client pod, every target from its own source
port never used before in the test (so no flow can ride on a connection-
tracking entry of an earlier matrix), 1 s timeout. It compares each cell
with expected(client, server, proto, port) -> bool and fails listing every
wrong cell.

Self cells (a pod to itself) are not probed: to its own pod IP the traffic
never leaves the pod's network namespace (the kernel loops it back), so the
switch never sees it and Kubernetes says a pod cannot block itself; through
its own ClusterIP (hairpin) Kubernetes leaves it unspecified.
"""
import json
import os
import select
import subprocess
import sys
import time

from pswtest import BUILD, Failure, Netns, Switch, check, cni_call, cni_conf, run, uid

CTL = os.path.join(BUILD, "switch", "podswitchctl")
AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "polagent.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

PORTS = [("tcp", 80), ("tcp", 81), ("tcp", 8080), ("udp", 53), ("udp", 5353)]
PROBE_TIMEOUT = 1.0
# time allowed between an apply returning and the dataplane following it
SETTLE = 0.2
POD_CIDR = "10.244.0.0/24"          # the switch's default node.pod_cidr
CREATED_NETNS = []                  # every pod namespace made here (for a leak check)

NAMESPACES = {"alpha": {"team": "a"}, "beta": {"team": "b"}, "gamma": {"team": "c"}}
# (namespace, pod name, app); the named container ports differ between the two
# apps so that a named port in a policy resolves per destination pod
PODS = [("alpha", "a-web", "web"), ("alpha", "a-db", "db"),
        ("beta", "b-web", "web"), ("beta", "b-db", "db"),
        ("gamma", "c-web", "web"), ("gamma", "c-db", "db")]
NAMED_PORTS = {
    "web": [{"name": "http", "containerPort": 80, "protocol": "TCP"},
            {"name": "alt", "containerPort": 8080, "protocol": "TCP"},
            {"name": "dns", "containerPort": 53, "protocol": "UDP"}],
    "db": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
           {"name": "alt", "containerPort": 81, "protocol": "TCP"},
           {"name": "dns", "containerPort": 5353, "protocol": "UDP"}],
}
SERVICE_PORTS = [{"name": "t80", "port": 80, "protocol": "TCP"},
                 {"name": "t81", "port": 81, "protocol": "TCP"},
                 {"name": "t8080", "port": 8080, "protocol": "TCP"},
                 {"name": "u53", "port": 53, "protocol": "UDP"},
                 {"name": "u5353", "port": 5353, "protocol": "UDP"},
                 {"name": "t53", "port": 53, "protocol": "TCP"},
                 {"name": "echo", "port": 9000, "protocol": "TCP"}]


def ctl(sock, *args, check_rc=True, timeout=120):
    return run([CTL, "-s", sock] + list(args), check_rc=check_rc, timeout=timeout)


def read_line(f, timeout):
    """One line from a pipe within timeout seconds, or None."""
    fd = f.fileno()
    end = time.time() + timeout
    buf = b""
    while b"\n" not in buf:
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return buf.decode(errors="replace") or None
        buf += chunk
    return buf.split(b"\n")[0].decode(errors="replace")


class Pod:
    """A namespace pod attached through the CNI plugin, described by a v1 Pod."""

    def __init__(self, scope, sock, name, namespace, labels, ports=None):
        self.scope, self.sock = scope, sock
        self.name, self.namespace = name, namespace
        self.labels = dict(labels)
        self.ports = ports or []
        self.cluster_ip = None
        self.ns = Netns(scope)
        CREATED_NETNS.append(self.ns.name)
        # unique per run: the plugin names the host veth after the container id
        cid = ("ctr-%s-%s-%s" % (uid(), namespace, name))[:127]    # the CNI's limit; uid keeps it unique
        self.container_id = cid
        rc, out = cni_call("ADD", cni_conf(sock), container_id=cid,
                           netns="/run/netns/" + self.ns.name,
                           args="K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s" % (namespace, name))
        check(rc == 0, "CNI ADD %s/%s: %s" % (namespace, name, out))
        scope.defer(lambda: cni_call("DEL", cni_conf(sock), container_id=cid))
        self.ip = out["ips"][0]["address"].split("/")[0]
        self.ifname = "eth0"

    @property
    def key(self):
        return "%s/%s" % (self.namespace, self.name)

    @property
    def app(self):
        return self.labels.get("app")

    def object(self):
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
                "spec": {"containers": [{"name": "c", "ports": self.ports}]}}

    def agent(self, cmd, arg, **kw):
        """A polagent program in this pod, in a session of its own, ended by the scope."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return self.ns.popen("exec %s %s %s '%s'" % (PY, AGENT, cmd, arg), **kw)

    def agent_run(self, cmd, spec, timeout=30):
        """Run a polagent program to its end; returns its parsed JSON output."""
        p = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.ns.name, PY, AGENT, cmd,
                              json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise Failure("%s in %s did not finish in %ss" % (cmd, self.name, timeout))
        check(p.returncode == 0, "%s in %s failed: %s" % (cmd, self.name, err.decode()[-500:]))
        return json.loads(out.decode().strip().splitlines()[-1])

    def serve(self):
        p = self.agent("serve", self.name)
        self.server = p
        return p

    def session(self, addr, port):
        """A long-lived TCP connection (to an echo server): see Session."""
        return Session(self, addr, port)


class Session:
    """socat in the pod holding one TCP connection open; line() sends a line
    and returns the line that came back within the timeout, or None."""

    def __init__(self, pod, addr, port):
        self.p = pod.ns.popen("exec socat -T 120 - TCP:%s:%d,connect-timeout=2" % (addr, port),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def line(self, text, timeout=2.0):
        try:
            self.p.stdin.write((text + "\n").encode())
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return read_line(self.p.stdout, timeout)


class Cluster:
    """One switch, NAMESPACES, PODS each with a server and a ClusterIP Service."""

    def __init__(self, scope, workers="[1]", conf="", pods=PODS, namespaces=NAMESPACES):
        t0 = time.time()
        self.scope = scope
        self.sw = Switch(scope, conf, workers=workers).start()
        self.sock = self.sw.sock
        self.sport = 20000
        self.namespaces = {n: dict(l) for n, l in namespaces.items()}
        self.apply([self.namespace_object(n) for n in self.namespaces], settle=0)
        self.pods = []
        for namespace, name, app in pods:
            self.pods.append(Pod(scope, self.sock, name, namespace, {"app": app, "id": name},
                                 [dict(p) for p in NAMED_PORTS[app]]))
        for p in self.pods:
            p.serve()
        objs = [p.object() for p in self.pods]
        objs += [{"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": p.name, "namespace": p.namespace},
                  "spec": {"selector": {"id": p.name}, "ports": SERVICE_PORTS}} for p in self.pods]
        self.apply(objs, settle=0)
        svcs = json.loads(ctl(self.sock, "get", "svc", "-A", "-o", "json").stdout)
        vips = {(s["metadata"]["namespace"], s["metadata"]["name"]): s["spec"]["clusterIP"] for s in svcs}
        for p in self.pods:
            p.cluster_ip = vips[(p.namespace, p.name)]
            check(read_line(p.server.stdout, 10) == "ready", "the server in %s did not start" % p.key)
        self.setup_s = time.time() - t0

    # ---- objects ----------------------------------------------------------

    def pod(self, name):
        for p in self.pods:
            if p.name == name or p.key == name:
                return p
        raise KeyError(name)

    def namespace_object(self, name):
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": self.namespaces[name]}}

    def _manifest(self, objs):
        path = self.scope.path("m%d.%s" % (time.time_ns(), "yaml" if isinstance(objs, str) else "json"))
        with open(path, "w") as f:
            if isinstance(objs, str):
                f.write(objs)
            else:
                json.dump({"apiVersion": "v1", "kind": "List",
                           "items": objs if isinstance(objs, list) else [objs]}, f)
        return path

    def apply(self, objs, settle=SETTLE, check_rc=True):
        """Apply YAML text or objects (dict or list); then wait settle seconds."""
        t0 = time.time()
        r = ctl(self.sock, "apply", "-f", self._manifest(objs), check_rc=check_rc)
        self.last_apply_s = time.time() - t0
        time.sleep(settle)
        return r

    def delete(self, objs, settle=SETTLE):
        r = ctl(self.sock, "delete", "-f", self._manifest(objs))
        time.sleep(settle)
        return r

    def relabel(self, pod, labels, settle=SETTLE):
        """Re-apply a Pod object with new labels (id is kept: its Service selects it)."""
        pod.labels = dict(labels, id=pod.name)
        return self.apply(pod.object(), settle=settle)

    def label_namespace(self, name, labels, settle=SETTLE):
        self.namespaces[name] = dict(labels)
        return self.apply(self.namespace_object(name), settle=settle)

    def ctl(self, *args, check_rc=True):
        return ctl(self.sock, *args, check_rc=check_rc)

    def stats(self):
        return json.loads(self.ctl("stats", "-o", "json").stdout)

    # ---- probes -----------------------------------------------------------

    def sports(self, n):
        """n source ports never used before in this cluster (20000..32767, below
        the kernel's ephemeral range)."""
        if self.sport + n > 32768:
            self.sport = 20000
        base = self.sport
        self.sport += n
        return list(range(base, base + n))

    def probe_all(self, plan, timeout=PROBE_TIMEOUT):
        """plan: {client pod: [(addr, proto, port), ...]} -> {client pod name: [result, ...]},
        every client probing at once."""
        n = max([len(t) for t in plan.values()] + [0])
        ports = self.sports(n)
        procs = {}
        for client, targets in plan.items():
            spec = {"timeout": timeout,
                    "targets": [[a, proto, port, ports[i]] for i, (a, proto, port) in enumerate(targets)]}
            path = self.scope.path("probe-%s-%d.json" % (client.name, time.time_ns()))
            with open(path, "w") as f:
                json.dump(spec, f)
            procs[client.name] = subprocess.Popen(
                ["nsenter", "--net=/run/netns/" + client.ns.name, PY, AGENT, "probe", "@" + path],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                start_new_session=True)
        out = {}
        failures = []
        for name, p in procs.items():
            try:
                o, e = p.communicate(timeout=timeout + 15)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
            try:
                out[name] = json.loads(o.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                failures.append("probe in %s: rc %s %s" % (name, p.returncode, e.decode()[-400:]))
        if failures:
            raise Failure("; ".join(failures))
        return out

    def probe(self, client, addr, proto, port, timeout=PROBE_TIMEOUT):
        """One probe; returns the answer (a pod name) or '!timeout', '!refused', ..."""
        return self.probe_all({client: [(addr, proto, port)]}, timeout)[client.name][0]

    def matrix(self, via_service=True, clients=None, servers=None):
        """{(client, server, proto, port, via): answer} with via 'pod' or 'svc'."""
        clients = clients or self.pods
        servers = servers or self.pods
        plan, cells = {}, {}
        for c in clients:
            plan[c], cells[c.name] = [], []
            for s in servers:
                if s is c:
                    continue          # self cells: see the module comment
                for proto, port in PORTS:
                    for via, addr in [("pod", s.ip)] + ([("svc", s.cluster_ip)] if via_service else []):
                        plan[c].append((addr, proto, port))
                        cells[c.name].append((c.name, s.name, proto, port, via))
        got = self.probe_all(plan)
        return {cell: got[c][i] for c in cells for i, cell in enumerate(cells[c])}

    def check_matrix(self, expected, via_service=True, what="", clients=None, servers=None):
        """Probe the matrix and compare every cell with expected(client, server, proto,
        port) -> bool. A cell is reachable when the answer is the server's own name."""
        t0 = time.time()
        got = self.matrix(via_service, clients, servers)
        self.last_matrix_s = time.time() - t0
        wrong = {}
        for cell in sorted(got, key=lambda c: (c[0], c[1], c[4], c[2] == "udp", c[3])):
            c, s, proto, port, via = cell
            want = bool(expected(self.pod(c), self.pod(s), proto, port))
            answer = got[cell]
            if (answer == s) != want:
                addr = self.pod(s).ip if via == "pod" else self.pod(s).cluster_ip
                how = "allowed" if answer == s else "denied (%s)" % answer.lstrip("!") \
                    if answer.startswith("!") else "answer %r" % answer
                line = "%-6s -> %-6s via %s %-15s expected %s, got %s:" % (
                    c, s, via, addr, "allowed" if want else "denied", how)
                wrong.setdefault(line, []).append("%s/%d" % (proto, port))
        if wrong:
            n = sum(len(v) for v in wrong.values())
            raise Failure("%s%d of %d cells wrong:\n    %s" % (
                what + ": " if what else "", n, len(got),
                "\n    ".join("%s %s" % (k, " ".join(v)) for k, v in wrong.items())))
        return got

    def explain(self, src, dst, proto_port, json_out=False):
        args = ["explain", src, dst, proto_port] + (["-o", "json"] if json_out else [])
        r = self.ctl(*args)
        return json.loads(r.stdout) if json_out else r.stdout


def everything(c, s, proto, port):
    return True
