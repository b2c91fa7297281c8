#!/usr/bin/python3
"""podswitch-agent (issue 15) against a fake Kubernetes API server
(tests/lib/fakeapi.py) and a real switch: lists and watches reach the
switch, trimmed; Nodes applied, deleted and reconciled by a relist; lag;
expiry relists and reconciles; events split across chunks; Retry-After;
token rotation; the switch going away and coming back; the API server going
away (the switch keeps its state); TLS with the cluster CA; client
certificates from a kubeconfig (data and file variants), and refusal
without one."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from fakeapi import FakeAPI  # noqa: E402
from pswtest import BUILD, Switch, check, main, run, test  # noqa: E402

AGENT = os.path.join(BUILD, "switch", "podswitch-agent")
CTL = os.path.join(BUILD, "switch", "podswitchctl")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def svc(name, port=80, labels=None):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": 8080, "protocol": "TCP"}],
                     "type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}}


def node(name, cidrs, ips, ready="True"):
    """A Node as the API server holds it (the fake adds nodeInfo, images, managedFields)."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs, "providerID": "fake://" + name},
            "status": {"addresses": [{"type": "InternalIP", "address": a} for a in ips] +
                       [{"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}]}}


def objects():
    """A small cluster as the API server would hold it."""
    return [
        node("node-a", ["10.244.0.0/24"], ["192.168.0.11"]),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default", "labels": {
            "kubernetes.io/metadata.name": "default"}}, "spec": {"finalizers": ["kubernetes"]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "default",
                                                         "labels": {"app": "web"}},
         "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 8080}]}],
                  "nodeName": "node-a", "restartPolicy": "Always"},
         "status": {"phase": "Running", "podIP": "10.244.0.50", "podIPs": [{"ip": "10.244.0.50"}],
                    "conditions": [{"type": "Ready", "status": "True"}]}},
        svc("web"),
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"},
                      "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "u"}]},
         "addressType": "IPv4", "ports": [{"port": 8080, "protocol": "TCP", "name": ""}],
         "endpoints": [{"addresses": ["10.244.0.50"], "conditions": {"ready": True, "serving": True,
                                                                   "terminating": False},
                        "nodeName": "node-a", "targetRef": {"kind": "Pod", "name": "web-1"}}]},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "web-in", "namespace": "default"},
         "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]}},
    ]


class Agent:
    def __init__(self, scope, api, sw, token_file=None, watch_timeout=30, tls_ca=None, user=None):
        self.scope, self.api, self.sw = scope, api, sw
        self.port = free_port()
        self.log = scope.path("agent%d.log" % self.port)
        kc = scope.path("kubeconfig%d" % self.port)
        if user is None:
            user = {"tokenFile": token_file} if token_file else {"token": api.token}
        cluster = {"server": api.url}
        if tls_ca:
            cluster["certificate-authority"] = tls_ca
        with open(kc, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "t",
                       "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
                       "clusters": [{"name": "c", "cluster": cluster}],
                       "users": [{"name": "u", "user": user}]}, f)
        self.proc = subprocess.Popen([AGENT, "--kubeconfig", kc, "--switch", sw.sock,
                                      "--health", "127.0.0.1:%d" % self.port,
                                      "--watch-timeout", str(watch_timeout)],
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        scope.defer(self.kill)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(10)
        check(rc == 0, "the agent exited %d on SIGTERM: %s" % (rc, self.text()[-500:]))

    def text(self):
        return open(self.log).read()

    def http(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def status(self):
        code, body = self.http("/status")
        return json.loads(body) if code == 200 else None

    def wait_ready(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if self.http("/readyz")[0] == 200:
                return
            check(self.proc.poll() is None, "the agent exited: %s" % self.text()[-1000:])
            time.sleep(0.1)
        check(False, "the agent never became ready: %s\n%s" % (self.status(), self.text()[-1000:]))


def names(sw, kind):
    """Names of the stored objects of a kind (policies are listed as rows)."""
    return sorted(i["metadata"]["name"] if "metadata" in i else i["name"]
                  for i in sw.ok("get", {"kind": kind, "objects": True})["items"])


def wait_for(what, fn, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return
        time.sleep(0.05)
    check(False, "%s: not within %.0f s" % (what, timeout))


def start(scope, tls=False, crds=True, **agent_kw):
    api = FakeAPI(tls=tls, crds=crds).start()
    scope.defer(api.cleanup)
    for o in objects():
        api.put(o)
    sw = Switch(scope, "").start()
    agent = Agent(scope, api, sw, tls_ca=api.ca_path if tls else None, **agent_kw)
    agent.wait_ready()
    return api, sw, agent


@test
def lists_and_watches_reach_the_switch_trimmed(scope):
    api, sw, agent = start(scope, tls=True)
    check(names(sw, "services") == ["web"] and names(sw, "networkpolicies") == ["web-in"],
          "after the first list: %s %s" % (names(sw, "services"), names(sw, "networkpolicies")))
    pod = [i for i in sw.ok("get", {"kind": "pods", "objects": True})["items"] if i["metadata"]["name"] == "web-1"]
    check(pod and "managedFields" not in pod[0]["metadata"] and "uid" not in pod[0]["metadata"] and
          "conditions" not in pod[0].get("status", {}) and pod[0]["status"]["podIP"] == "10.244.0.50",
          "the Pod as the switch stores it: %s" % pod)
    # live events, in order
    api.put(svc("api", 443))
    wait_for("a new Service", lambda: "api" in names(sw, "services"))
    api.put(dict(svc("api", 8443)))
    wait_for("a changed Service", lambda: [i for i in sw.ok("get", {"kind": "services"})["items"]
                                           if i["metadata"]["name"] == "api"][0]["spec"]["ports"][0]["port"] == 8443)
    api.delete("Service", "default", "api")
    wait_for("a deleted Service", lambda: "api" not in names(sw, "services"))
    # events split across chunks are put back together
    api.split_events = True
    api.put(svc("split", 81))
    wait_for("an event split across chunks", lambda: "split" in names(sw, "services"))
    api.bookmark()
    # a Service another proxy owns is not programmed (kube-proxy's labels), nor a headless one
    api.put(svc("other", 82, labels={"service.kubernetes.io/service-proxy-name": "someone-else"}))
    time.sleep(0.5)
    st = agent.status()
    check(st["ready"] and st["kinds"]["Service"]["events"] >= 5 and st["kinds"]["Service"]["refused"] == 0,
          "agent status: %s" % st)
    # the switch shows the agent's sync state
    wait_for("the agent's report in status", lambda: "agent" in sw.ok("status"), timeout=8)
    rep = sw.ok("status")["agent"]
    check(rep["report"]["ready"] and rep["reported_s_ago"] <= 6, "status.agent: %s" % rep)
    code, _ = agent.http("/healthz")
    check(code == 200, "healthz %d" % code)
    agent.stop()
    # the agent has exited (its connections closed): the server notices within moments
    check(api.wait_watchers(0, timeout=5), "watches left open after the agent stopped: %d" % api.watchers())


def ctl(sw, *args, check_rc=True):
    return run([CTL, "-s", sw.sock] + list(args), check_rc=check_rc)


@test
def nodes_reach_the_switch_go_and_are_reconciled(scope):
    """v1 Node: listed and watched, trimmed to what the switch reads, shown by
    `podswitchctl get node`; a deleted Node goes; a relist after the agent was
    away reconciles; the lag of the Node events is reported."""
    api, sw, agent = start(scope, watch_timeout=2)
    out = ctl(sw, "get", "nodes").stdout
    row = [ln.split() for ln in out.splitlines() if ln.startswith("node-a")]
    check(out.splitlines()[0].split() == ["NAME", "POD-CIDRS", "INTERNAL-IP"] and
          row == [["node-a", "10.244.0.0/24", "192.168.0.11"]], "get nodes after the list:\n%s" % out)
    api.put(node("node-b", ["10.244.1.0/24", "fd00:10:244:1::/64"], ["192.168.0.12", "fd00::12"]))
    wait_for("a new Node", lambda: "node-b" in names(sw, "nodes"))
    got = json.loads(ctl(sw, "get", "node", "node-b", "-o", "json").stdout)
    check(got["spec"] == {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"]} and
          got["status"] == {"addresses": [{"type": "InternalIP", "address": "192.168.0.12"},
                                          {"type": "InternalIP", "address": "fd00::12"},
                                          {"type": "Hostname", "address": "node-b"}]} and
          got["metadata"] == {"name": "node-b", "labels": {"kubernetes.io/hostname": "node-b"}},
          "the Node as the switch stores it (trimmed): %s" % got)
    # a heartbeat (conditions only) is an event, not a change; a new address is
    events = agent.status()["kinds"]["Node"]["events"]
    api.put(node("node-b", ["10.244.1.0/24", "fd00:10:244:1::/64"], ["192.168.0.12", "fd00::12"], ready="False"))
    api.put(node("node-b", ["10.244.1.0/24", "fd00:10:244:1::/64"], ["192.168.0.22", "fd00::12"]))
    wait_for("a Node's new InternalIP", lambda: json.loads(ctl(sw, "get", "node", "node-b", "-o", "json").stdout)
             ["status"]["addresses"][0]["address"] == "192.168.0.22")
    st = agent.status()["kinds"]["Node"]
    check(st["events"] == events + 2 and st["refused"] == 0, "Node counters: %s" % st)
    api.delete("Node", None, "node-b")
    wait_for("a deleted Node", lambda: "node-b" not in names(sw, "nodes"))
    r = ctl(sw, "get", "node", "node-b", check_rc=False)
    check(r.returncode == 1 and 'Node "node-b" not found' in r.stderr, "get of a deleted Node: %s" % r.stderr)
    # lag: from a complete event line to the switch's answer, per kind, in /status and in the switch's status
    st = agent.status()["kinds"]["Node"]
    check(0 < st["lag_last_ms"] <= st["lag_max_ms"] < 5000, "Node lag: %s" % st)
    check(agent.status()["kinds"]["Pod"]["lag_max_ms"] == 0, "lag of a kind without events: %s" % agent.status())
    wait_for("the lag in the switch's status", lambda: sw.ok("status").get("agent", {}).get("report", {})
             .get("kinds", {}).get("Node", {}).get("lag_max_ms", 0) > 0, timeout=8)
    out = ctl(sw, "status").stdout
    check("lag_max_ms" in out and "lag_last_ms" in out, "podswitchctl status: %s" % out)
    # the agent goes; meanwhile node-a is deleted and node-c made; history compacted: the relist reconciles
    agent.kill()
    api.delete("Node", None, "node-a")
    api.put(node("node-c", ["fd00:10:244:2::/64"], ["fd00::13"]))
    api.compact()
    agent = Agent(scope, api, sw, watch_timeout=2)
    agent.wait_ready()
    check(names(sw, "nodes") == ["node-c"], "Nodes after the relist: %s" % names(sw, "nodes"))
    out = ctl(sw, "get", "nodes").stdout
    check([ln.split() for ln in out.splitlines()[1:]] == [["node-c", "fd00:10:244:2::/64", "fd00::13"]],
          "get nodes after the relist:\n%s" % out)
    # a watch expired with 410 relists Nodes too
    before = agent.status()["kinds"]["Node"]["lists"]
    api.compact()
    api.expire_watches()
    wait_for("a Node relist after 410", lambda: agent.status()["kinds"]["Node"]["lists"] > before)
    agent.stop()


@test
def client_certificate_from_a_kubeconfig(scope):
    """The API server asks for a client certificate signed by its CA: the agent
    authenticates with client-certificate-data / client-key-data, and with
    client-certificate / client-key files (relative to the kubeconfig), with
    no token; without a certificate, or with one of another CA, it is refused
    and never ready (and the switch keeps what it has)."""
    api = FakeAPI(tls=True, client_certs="required").start()
    scope.defer(api.cleanup)
    for o in objects():
        api.put(o)
    crt, key = api.client_cert("agent", cn="system:node:node-a")
    sw = Switch(scope, "").start()

    def b64(path):
        return base64.b64encode(open(path, "rb").read()).decode()
    agent = Agent(scope, api, sw, tls_ca=api.ca_path,
                  user={"client-certificate-data": b64(crt), "client-key-data": b64(key)})
    agent.wait_ready()
    check(names(sw, "services") == ["web"] and names(sw, "nodes") == ["node-a"],
          "synced with a client certificate: %s %s" % (names(sw, "services"), names(sw, "nodes")))
    check(api.client_cns == {"system:node:node-a"}, "the server saw: %s" % api.client_cns)
    agent.stop()
    # the file variants, relative to the kubeconfig's directory
    for src, dst in ((crt, "client.crt"), (key, "client.key")):
        with open(scope.path(dst), "wb") as f:
            f.write(open(src, "rb").read())
    agent = Agent(scope, api, sw, tls_ca=api.ca_path,
                  user={"client-certificate": "client.crt", "client-key": "client.key"})
    agent.wait_ready()
    api.put(svc("by-file", 96))
    wait_for("an event over a client-certificate watch", lambda: "by-file" in names(sw, "services"))
    agent.stop()
    # without a certificate (and no token), or with one of a CA the server does not trust: refused
    rogue_crt, rogue_key = api.client_cert("rogue", cn="system:node:node-a", foreign=True)
    for user, why, alert in (({}, "no certificate", "alert certificate required"),
                             ({"client-certificate-data": b64(rogue_crt), "client-key-data": b64(rogue_key)},
                              "another CA's certificate", "alert unknown ca")):
        agent = Agent(scope, api, sw, tls_ca=api.ca_path, user=user)
        time.sleep(3)
        st = agent.status()
        check(agent.http("/readyz")[0] == 503 and st is not None and
              not any(k["synced"] for k in st["kinds"].values()) and
              all(k["lists"] == 0 and k["reconnects"] >= 1 for k in st["kinds"].values()),
              "%s: the agent got in: %s" % (why, st))
        # (its log is written as it retries: a loaded machine may take longer than the status).
        # With TLS 1.3 the server judges the client's certificate after the client has
        # finished its handshake: its alert races the request the client sends, and when
        # the server's close resets the connection first, the alert is lost and curl can
        # only say that the TLS write failed. Either way the log names the TLS failure.
        def said():
            return alert in agent.text() or re.search(r"SSL_(write|read)\(\) error", agent.text())
        end = time.time() + 10
        while not said() and time.time() < end:
            time.sleep(0.2)
        check(said(), "%s: the agent's log does not say why the handshake failed (%s): %s"
              % (why, alert, agent.text()[-600:]))
        agent.stop()
    check(names(sw, "services") == ["by-file", "web"], "the refused agents changed the switch: %s"
          % names(sw, "services"))


@test
def expiry_and_a_restart_relist_and_reconcile(scope):
    api, sw, agent = start(scope, watch_timeout=2)
    # the agent goes; meanwhile a Service is deleted and another created; history compacted
    agent.kill()
    api.delete("Service", "default", "web")
    api.put(svc("new", 90))
    api.compact()
    agent = Agent(scope, api, sw, watch_timeout=2)
    agent.wait_ready()
    check(names(sw, "services") == ["new"], "after a restart's relist: %s" % names(sw, "services"))
    # a watch whose resourceVersion has been compacted away: 410, relist
    before = agent.status()["kinds"]["Service"]
    api.compact()
    api.expire_watches()
    wait_for("a relist after 410", lambda: agent.status()["kinds"]["Service"]["lists"] > before["lists"])
    check(agent.status()["kinds"]["Service"]["expired"] >= 1, "expired counter: %s" % agent.status())
    # as HTTP 410 too; and a plain end of the stream is resumed, not relisted
    api.expired_as_http = True
    check(api.wait_watchers(1, "Service"), "no Service watch to expire")
    lists = agent.status()["kinds"]["Service"]["lists"]
    api.compact()
    api.put(svc("after", 91))
    api.expire_watches()
    wait_for("the Service made around the expiry", lambda: "after" in names(sw, "services"))
    # "after" may come by the watch before the expiry: wait for the relist to be over
    wait_for("the relist after the expiry", lambda: (lambda k: k["lists"] > lists and k["synced"])(
             agent.status()["kinds"]["Service"]))
    lists = agent.status()["kinds"]["Service"]["lists"]
    api.close_watches()
    api.put(svc("resumed", 92))
    wait_for("a Service after a clean end of the watch", lambda: "resumed" in names(sw, "services"))
    check(agent.status()["kinds"]["Service"]["lists"] == lists, "a clean end relisted: %s" % agent.status())


@test
def retry_after_and_token_rotation(scope):
    api = FakeAPI().start()
    scope.defer(api.cleanup)
    for o in objects():
        api.put(o)
    tok = scope.path("token")
    with open(tok, "w") as f:
        f.write(api.token + "\n")
    sw = Switch(scope, "").start()
    api.fail_next(2, status=429, retry_after=2)
    t0 = time.time()
    agent = Agent(scope, api, sw, token_file=tok)
    agent.wait_ready(timeout=20)
    lists = {}
    for r in api.requests():
        if "watch" not in r.query:
            lists.setdefault(r.path, []).append(r.time)
    retried = {p: t[1] - t[0] for p, t in lists.items() if len(t) >= 2}
    # two lists got 429 with Retry-After: 2; each was asked again no sooner
    check(len(retried) == 2 and all(g >= 1.9 for g in retried.values()) and time.time() - t0 >= 1.9,
          "Retry-After 2 not honoured: %s" % retried)
    # the token rotates: the file changes, the server takes only the new one
    with open(tok + ".new", "w") as f:
        f.write("r0tated\n")
    os.rename(tok + ".new", tok)
    api.set_token("r0tated")
    api.close_watches()
    api.put(svc("after-rotation", 93))
    wait_for("an object after the token rotated", lambda: "after-rotation" in names(sw, "services"), timeout=10)


@test
def the_switch_goes_and_comes_back_and_the_api_server_goes(scope):
    api, sw, agent = start(scope, watch_timeout=5)
    state, sock = sw.state, sw.sock
    sw.stop()
    # while the switch is away the cluster changes
    api.delete("NetworkPolicy", "default", "web-in")
    api.put(svc("while-away", 94))
    time.sleep(1)
    check(agent.http("/readyz")[0] == 503, "ready without a switch")
    sw = Switch(scope, "", state=state, sock=sock).start()
    wait_for("a full resync with the switch back",
             lambda: "while-away" in names(sw, "services") and names(sw, "networkpolicies") == [], timeout=10)
    agent.wait_ready()
    # the API server goes: the switch keeps the last state (no flush)
    api.stop()
    time.sleep(3)
    check(names(sw, "services") == ["web", "while-away"], "services after the API server went: %s"
          % names(sw, "services"))
    check(agent.proc.poll() is None, "the agent exited when the API server went")
    api.start()
    api.put(svc("api-back", 95))
    wait_for("an object once the API server is back", lambda: "api-back" in names(sw, "services"), timeout=40)


def mnp(name):
    return {"apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"k8s.v1.cni.cncf.io/policy-for": "podswitch-net"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


@test
def multinetworkpolicies_with_and_without_their_crd(scope):
    """Multus' MultiNetworkPolicy is a custom resource: watched like the other
    kinds where the cluster has it; where it has none (404), the kind is
    absent, synced as empty, and the agent is ready all the same."""
    api, sw, agent = start(scope)
    api.put(mnp("deny-net1"))
    wait_for("a MultiNetworkPolicy", lambda: names(sw, "multinetworkpolicies") == ["deny-net1"])
    got = sw.ok("get", {"kind": "multinetworkpolicies"})["items"][0]
    check(got["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/policy-for": "podswitch-net"},
          "its policy-for annotation: %s" % got)
    api.delete("MultiNetworkPolicy", "default", "deny-net1")
    wait_for("a deleted MultiNetworkPolicy", lambda: names(sw, "multinetworkpolicies") == [])
    st = agent.status()["kinds"]["MultiNetworkPolicy"]
    check(st["synced"] and not st["absent"] and st["events"] >= 2, "status: %s" % st)
    agent.stop()
    sw.stop()
    api2, sw2, agent2 = start(scope, crds=False)
    st = agent2.status()
    check(st["ready"] and st["kinds"]["MultiNetworkPolicy"]["absent"] and
          st["kinds"]["MultiNetworkPolicy"]["synced"], "without the CRD: %s" % st)
    check("MultiNetworkPolicy: the API server has no such resource" in agent2.text(),
          "the agent's log: %s" % agent2.text()[-600:])
    check(names(sw2, "services") == ["web"], "the other kinds: %s" % names(sw2, "services"))


@test
def the_daemonset_runs_the_agent_with_read_only_rights(scope):
    """The shipped DaemonSet: the agent beside the switch with its probes, and a
    ClusterRole of get/list/watch on the kinds it reads, nothing more."""
    import yaml
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "kubernetes",
                        "podswitch-daemonset.yaml")
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {d["kind"]: d for d in docs}
    role = by_kind["ClusterRole"]
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    check(all(sorted(rule["verbs"]) == ["get", "list", "watch"] for rule in role["rules"]),
          "verbs: %s" % role["rules"])
    check(granted == {("", "namespaces"), ("", "pods"), ("", "services"), ("", "nodes"),
                      ("discovery.k8s.io", "endpointslices"), ("networking.k8s.io", "networkpolicies"),
                      ("k8s.cni.cncf.io", "multi-networkpolicies")},
          "resources: %s" % sorted(granted))
    binding = by_kind["ClusterRoleBinding"]
    spec = by_kind["DaemonSet"]["spec"]["template"]["spec"]
    check(binding["roleRef"]["name"] == role["metadata"]["name"] and
          binding["subjects"][0]["name"] == spec["serviceAccountName"] == by_kind["ServiceAccount"]["metadata"]["name"],
          "the binding does not join the role to the DaemonSet's account")
    agent = [c for c in spec["containers"] if c["name"] == "agent"][0]
    check(agent["command"][0].endswith("podswitch-agent") and
          agent["livenessProbe"]["httpGet"]["path"] == "/healthz" and
          agent["readinessProbe"]["httpGet"]["path"] == "/readyz", "agent container: %s" % agent)
    # the flags it is given are ones the agent takes
    r = run([AGENT] + agent["command"][1:] + ["--help"], check_rc=False)
    check(r.returncode == 0 and "usage" in r.stdout, "the DaemonSet's flags: %s %s" % (r.stdout, r.stderr))


if __name__ == "__main__":
    main()
