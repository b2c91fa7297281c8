#!/usr/bin/python3
"""System tests of Services: namespace pods attached through the CNI plugin,
real TCP and UDP servers that answer with their own names, Services and
EndpointSlices applied with podswitchctl, clients connecting to ClusterIPs."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import (BUILD, Netns, Switch, check, cni_call, cni_conf, external_client,  # noqa: E402
                     kill_group, main, run, test)

CTL = os.path.join(BUILD, "switch", "podswitchctl")


def apply(sw, scope, yaml_text, check_rc=True):
    path = scope.path("m%d.yaml" % time.time_ns())
    with open(path, "w") as f:
        f.write(yaml_text)
    return run([CTL, "-s", sw.sock, "apply", "-f", path], check_rc=check_rc)


class Pod:
    """A namespace pod attached through the CNI plugin."""

    def __init__(self, scope, sw, name, namespace="default", labels=None, ports=None):
        self.ns = Netns(scope)
        self.name = name
        rc, out = cni_call("ADD", cni_conf(sw.sock), container_id="ctr-" + name,
                           netns="/run/netns/" + self.ns.name,
                           args="K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s" % (namespace, name))
        check(rc == 0, "ADD %s: %s" % (name, out))
        self.ip = out["ips"][0]["address"].split("/")[0]
        containers = [{"name": "c", "ports": ports or []}]
        apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": containers}}))
        scope.defer(lambda: cni_call("DEL", cni_conf(sw.sock), container_id="ctr-" + name))

    def serve_tcp(self, port, text=None):
        """A TCP server answering every connection with text (default: the pod name),
        listening when this returns (a loaded machine may start it late)."""
        p = self.ns.popen("exec socat -t 5 TCP-LISTEN:%d,fork,reuseaddr SYSTEM:'echo %s; cat >/dev/null'" % (port, text or self.name))
        self.wait_listening(port)
        return p

    def wait_listening(self, port, timeout=5.0, proto="t"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ns.sh("ss -Hl%sn 'sport = :%d'" % (proto, port), check_rc=False).stdout.strip():
                return
            time.sleep(0.05)
        check(False, "%s: nothing listens on %s port %d after %.0f s"
              % (self.name, "TCP" if proto == "t" else "UDP", port, timeout))

    def serve_udp(self, port):
        p = self.ns.popen("exec socat UDP-RECVFROM:%d,fork,reuseaddr SYSTEM:'echo %s'" % (port, self.name))
        self.wait_listening(port, proto="u")
        return p

    def tcp(self, addr, port, timeout=3):
        r = self.ns.sh("socat -T %d - TCP:%s:%d,connect-timeout=%d </dev/null" % (timeout, addr, port, timeout),
                       check_rc=False, timeout=timeout + 5)
        return r.stdout.strip(), r.stderr.strip(), r.returncode

    def udp(self, addr, port, sport=None, timeout=2):
        bind = ",sourceport=%d" % sport if sport else ""
        r = self.ns.sh("echo hi | socat -T %d - UDP:%s:%d%s" % (timeout, addr, port, bind),
                       check_rc=False, timeout=timeout + 5)
        return r.stdout.strip()


def service_ip(sw, name, namespace="default"):
    svc = json.loads(run([CTL, "-s", sw.sock, "get", "svc", name, "-n", namespace, "-o", "json"]).stdout)
    return svc["spec"]["clusterIP"]


def track(scope, procs):
    for p in procs:
        scope.defer(lambda p=p: kill_group(p))


WEB_POLICY = """apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
"""


@test
def applied_objects_survive_a_restart(scope):
    """Issue 15: the objects applied are the switch's desired state on disk.
    Killed (SIGKILL) and started again on the same state directory, the
    switch has the Service (same ClusterIP) and the NetworkPolicy in force
    before anyone applies anything: the first connection of an allowed pod
    gets through, a pod the policy does not allow is refused."""
    state, sock = scope.path("keep-state"), scope.path("keep.sock")
    sw = Switch(scope, "", state=state, sock=sock).start()
    web = Pod(scope, sw, "web", labels={"app": "web"})
    client = Pod(scope, sw, "client", labels={"role": "client"})
    intruder = Pod(scope, sw, "intruder")
    track(scope, [web.serve_tcp(8080)])
    apply(sw, scope, WEB_POLICY)
    vip = service_ip(sw, "web")
    check(client.tcp(vip, 80)[0] == "web", "before the restart: the client did not reach web")
    check(intruder.tcp(vip, 80, timeout=1)[2] != 0, "before the restart: the intruder reached web")
    objects = json.load(open(os.path.join(state, "objects.json")))
    check(objects["format"] == "podswitch-objects" and objects["version"] == 1 and
          [o["kind"] for o in objects["objects"]] == ["Pod"] * 3 + ["Service", "NetworkPolicy"],
          "objects.json: %s" % [o["kind"] for o in objects.get("objects", [])])
    sw.kill()
    sw = Switch(scope, "", state=state, sock=sock).start()
    check("5 Kubernetes objects restored" in sw.text(), "start-up log: %s" % sw.text()[-1000:])
    check(service_ip(sw, "web") == vip, "the ClusterIP changed across the restart")
    out, err, rc = client.tcp(vip, 80)
    check(rc == 0 and out == "web", "after the restart the client's first connection failed: %r %r" % (out, err))
    check(intruder.tcp(vip, 80, timeout=1)[2] != 0, "after the restart the policy was not in force")
    # a delete is kept too
    pol = scope.path("pol.yaml")
    with open(pol, "w") as f:
        f.write(WEB_POLICY.split("---\n")[1])
    run([CTL, "-s", sw.sock, "delete", "-f", pol])
    sw.stop()
    sw = Switch(scope, "", state=state, sock=sock).start()
    check("4 Kubernetes objects restored" in sw.text(), "start-up log: %s" % sw.text()[-1000:])
    check(intruder.tcp(vip, 80)[0] == "web", "a deleted policy came back after a restart")
    sw.stop()


def svc(name, port, selector="web"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": selector}, "ports": [{"port": port, "targetPort": 8080}]}}


@test
def replace_swaps_the_services_at_once(scope):
    """The API's replace (what an agent sends after a relist): the stored
    Services not listed go, the listed ones are applied, in one change; a
    bad list changes nothing. Traffic to a Service kept through the replace
    is never refused."""
    sw = Switch(scope, "").start()
    web = Pod(scope, sw, "web", labels={"app": "web"})
    client = Pod(scope, sw, "client")
    track(scope, [web.serve_tcp(8080)])
    r = sw.api("apply", {"objects": [svc("a", 80), svc("b", 81)]})
    check(r["ok"], "apply: %s" % r)
    vip_b = service_ip(sw, "b")
    stop = threading.Event()
    failures = []

    def hammer():
        while not stop.is_set():
            out, err, rc = client.tcp(vip_b, 81, timeout=2)
            if rc != 0 or out != "web":
                failures.append((out, err))
    t = threading.Thread(target=hammer)
    t.start()
    try:
        for i in range(20):
            r = sw.api("replace", {"kinds": ["Service"], "objects": [svc("b", 81), svc("c%d" % i, 90)]})
            check(r["ok"] and len(r["result"]["deleted"]) == 1, "replace %d: %s" % (i, r))
    finally:
        stop.set()
        t.join()
    check(not failures, "connections to a Service kept through replaces failed: %s" % failures[:3])
    names = sorted(i["metadata"]["name"] for i in sw.ok("get", {"kind": "services"})["items"])
    check(names == ["b", "c19"], "after the replaces: %s" % names)
    check(service_ip(sw, "b") == vip_b, "a kept Service's ClusterIP changed")
    # refused, nothing changed: an object of another kind, a bad Service, an unknown kind
    for args, why in (({"kinds": ["Service"], "objects": [svc("d", 80), {
                        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]}, "a Namespace in a replace"),
                      ({"kinds": ["Service"], "objects": [svc("d", 80), svc("e", 70000)]}, "port"),
                      ({"kinds": ["Secret"], "objects": []}, "is not one of")):
        r = sw.api("replace", args)
        check(not r["ok"] and why in r["error"]["message"], "%s: %s" % (why, r))
        names = sorted(i["metadata"]["name"] for i in sw.ok("get", {"kind": "services"})["items"])
        check(names == ["b", "c19"], "a refused replace changed the Services: %s" % names)
    # an empty list of a kind removes all of it
    r = sw.api("replace", {"kinds": ["Service"], "objects": []})
    check(r["ok"] and sw.ok("get", {"kind": "services"})["items"] == [], "empty replace: %s" % r)
    sw.stop()


@test
def a_bad_objects_file_is_refused_and_set_aside(scope):
    """A corrupt objects file, one written by a newer podswitch, or one holding an
    object the switch refuses: the switch starts with no objects (not half of
    them), says why, and moves the file aside rather than overwrite it later."""
    state, sock = scope.path("bad-state"), scope.path("bad.sock")
    os.makedirs(state, mode=0o700)
    path = os.path.join(state, "objects.json")
    good_svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ok", "namespace": "default"},
                "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}}
    bad_svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad", "namespace": "default"},
               "spec": {"ports": [{"port": 70000}]}}
    cases = [
        ('{"format": "podswitch-objects", "version": 1, "objects": [', "not readable JSON"),
        (json.dumps({"format": "podswitch-objects", "version": 2, "objects": []}), "written by a newer podswitch"),
        (json.dumps({"version": 1, "objects": []}), "not a podswitch objects file"),
        (json.dumps({"format": "podswitch-objects", "version": 1, "objects": [good_svc, bad_svc]}),
         "an object is refused"),
    ]
    for text, why in cases:
        with open(path, "w") as f:
            f.write(text)
        sw = Switch(scope, "", state=state, sock=sock).start()
        log = sw.text()
        check(why in log and "starting without Kubernetes objects" in log and "objects.json.refused" in log,
              "%s: start-up log: %s" % (why, log[-800:]))
        check(open(path + ".refused").read() == text and not os.path.exists(path),
              "%s: the file was not set aside as it was" % why)
        check(sw.ok("get", {"kind": "services"})["items"] == [], "%s: objects were loaded" % why)
        # the switch works, and writes a new file of its own
        apply(sw, scope, json.dumps(good_svc))
        check(json.load(open(path))["objects"][0]["metadata"]["name"] == "ok", "%s: no new file" % why)
        sw.stop()
        os.unlink(path)
        os.unlink(path + ".refused")


@test
def clusterip_spreads_over_backends(scope):
    sw = Switch(scope, "", workers="[0, 1]").start()
    backends = [Pod(scope, sw, "web-%d" % i, labels={"app": "web"},
                    ports=[{"name": "http", "containerPort": 8080}]) for i in range(3)]
    client = Pod(scope, sw, "client")
    track(scope, [b.serve_tcp(8080) for b in backends])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
""")
    vip = service_ip(sw, "web")
    check(vip.startswith("10.9") or vip.startswith("10.1"), "ClusterIP %s not from the service CIDR" % vip)
    time.sleep(0.3)
    seen = {}
    for sport in range(40):
        out, err, rc = client.tcp(vip, 80)
        check(rc == 0 and out.startswith("web-"), "connection %d to %s:80 failed: %r %r" % (sport, vip, out, err))
        seen[out] = seen.get(out, 0) + 1
    check(sorted(seen) == ["web-0", "web-1", "web-2"], "backends reached: %s" % seen)
    # the backend sees the client's own address (no SNAT)
    out, _, _ = client.tcp(vip, 80)
    st = sw.ok("stats")
    check(st["events"]["svc_dnat"] >= 41 and st["drops"]["ct_invalid"] == 0, "counters: %s" % st["events"])
    check(st["conntrack"]["inserts"] >= 41 and st["conntrack"]["entries"] >= 1,
          "conntrack counters: %s" % st["conntrack"])
    # the connections are visible, client -> ClusterIP -> backend
    out = run([CTL, "-s", sw.sock, "get", "conntrack", client.ip]).stdout
    check(vip in out and client.ip in out and any(b.ip in out for b in backends),
          "get conntrack:\n%s" % out)
    sw.stop()


@test
def no_endpoint_service_refuses_at_once(scope):
    sw = Switch(scope, "", workers="[1]").start()
    client = Pod(scope, sw, "client")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nobody}
  ports: [{name: tcp, port: 80}, {name: dns, port: 53, protocol: UDP}]
""")
    vip = service_ip(sw, "empty")
    t0 = time.time()
    out, err, rc = client.tcp(vip, 80, timeout=5)
    took = time.time() - t0
    check(rc != 0 and "refused" in err.lower(), "no endpoints: rc %d %r" % (rc, err))
    check(took < 1.0, "refusal took %.2f s" % took)
    r = client.ns.sh("echo x | socat -T 2 - UDP:%s:53" % vip, check_rc=False)
    check(r.returncode != 0 and "refused" in r.stderr.lower(), "UDP to an empty Service: %r" % r.stderr)
    st = sw.ok("stats")
    check(st["events"]["svc_reject"] >= 2, "rejects counted: %s" % st["events"])
    sw.stop()


@test
def endpointslice_backends_and_named_port(scope):
    sw = Switch(scope, "", workers="[1]").start()
    a = Pod(scope, sw, "slice-a")
    b = Pod(scope, sw, "slice-b")
    client = Pod(scope, sw, "client")
    track(scope, [a.serve_tcp(9000), b.serve_tcp(9000)])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{name: main, port: 7000, targetPort: 9000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: main, port: 9000}]
endpoints:
- addresses: [%s]
  conditions: {ready: true}
- addresses: [%s]
  conditions: {ready: false}
""" % (a.ip, b.ip))
    vip = service_ip(sw, "api")
    names = {client.tcp(vip, 7000)[0] for _ in range(12)}
    check(names == {"slice-a"}, "only the ready endpoint may be used: %s" % names)
    # both become ready: both are used
    apply(sw, scope, """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: main, port: 9000}]
endpoints:
- addresses: [%s]
- addresses: [%s]
""" % (a.ip, b.ip))
    names = {client.tcp(vip, 7000)[0] for _ in range(30)}
    check(names == {"slice-a", "slice-b"}, "after both ready: %s" % names)
    # publishNotReadyAddresses: not-ready endpoints are used too
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: api}
spec: {publishNotReadyAddresses: true, ports: [{name: main, port: 7000, targetPort: 9000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: main, port: 9000}]
endpoints:
- addresses: [%s]
  conditions: {ready: false}
""" % b.ip)
    names = {client.tcp(vip, 7000)[0] for _ in range(6)}
    check(names == {"slice-b"}, "publishNotReadyAddresses: %s" % names)
    sw.stop()


@test
def udp_service_survives_backend_change(scope):
    sw = Switch(scope, "", workers="[1]").start()
    a = Pod(scope, sw, "udp-a", labels={"app": "dns"})
    b = Pod(scope, sw, "udp-b", labels={"app": "dns"})
    client = Pod(scope, sw, "client")
    track(scope, [a.serve_udp(5353), b.serve_udp(5353)])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: dns}
spec: {selector: {app: dns}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""")
    vip = service_ip(sw, "dns")
    first = client.udp(vip, 53, sport=40000)
    check(first in ("udp-a", "udp-b"), "UDP answer: %r" % first)
    again = client.udp(vip, 53, sport=40000)
    check(again == first, "the same flow moved from %s to %s" % (first, again))
    # the backend that answered goes away (label removed): the flow moves at once
    gone, other = (a, b) if first == "udp-a" else (b, a)
    apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": gone.name, "namespace": "default", "labels": {}}, "spec": {"containers": []}}))
    moved = client.udp(vip, 53, sport=40000)
    check(moved == other.name, "after %s left, the flow got %r, not %s" % (gone.name, moved, other.name))
    sw.stop()


@test
def icmp_error_from_a_backend_reaches_the_client_nated_back(scope):
    """A UDP backend with nothing listening answers port unreachable; the
    client, connected to the ClusterIP, must see it as 'connection refused'."""
    sw = Switch(scope, "", workers="[1]").start()
    Pod(scope, sw, "deaf", labels={"app": "deaf"})
    client = Pod(scope, sw, "client")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: deaf}
spec: {selector: {app: deaf}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""")
    vip = service_ip(sw, "deaf")
    t0 = time.time()
    r = client.ns.sh("echo x | socat -T 3 - UDP:%s:53" % vip, check_rc=False, timeout=10)
    check(r.returncode != 0 and "refused" in r.stderr.lower(),
          "the client did not see the backend's port unreachable: rc %d %r" % (r.returncode, r.stderr))
    check(time.time() - t0 < 2, "took %.1f s: the error was not delivered" % (time.time() - t0))
    sw.stop()


@test
def loadbalancer_ip_and_external_ips(scope):
    sw = Switch(scope, "", workers="[1]").start()
    web = Pod(scope, sw, "lbweb", labels={"app": "lb"})
    client = Pod(scope, sw, "client")
    track(scope, [web.serve_tcp(8080)])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: lb}
  externalIPs: [192.0.2.10]
  ports: [{port: 443, targetPort: 8080}]
status:
  loadBalancer: {ingress: [{ip: 198.51.100.7}]}
""")
    for addr in (service_ip(sw, "lb"), "192.0.2.10", "198.51.100.7"):
        out, err, rc = client.tcp(addr, 443)
        check(rc == 0 and out == "lbweb", "via %s: %r %r" % (addr, out, err))
    # loadBalancerSourceRanges: only those clients reach the load balancer's
    # address (the external IP and ClusterIP are not filtered)
    lb_ranges = """apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: lb}
  externalIPs: [192.0.2.10]
  loadBalancerSourceRanges: [%s]
  ports: [{port: 443, targetPort: 8080}]
status:
  loadBalancer: {ingress: [{ip: 198.51.100.7}]}
"""
    apply(sw, scope, lb_ranges % "203.0.113.0/24")
    out, err, rc = client.tcp("198.51.100.7", 443, timeout=1)
    check(out != "lbweb", "a client outside loadBalancerSourceRanges reached the load balancer")
    check(sw.ok("stats")["drops"].get("svc_source_range", 0) >= 1, "svc_source_range not counted")
    out, err, rc = client.tcp("192.0.2.10", 443)
    check(out == "lbweb", "the external IP is not filtered by the ranges: %r %r" % (out, err))
    apply(sw, scope, lb_ranges % ("203.0.113.0/24, %s/16" % client.ip))   # host bits, as the API server takes them
    out, err, rc = client.tcp("198.51.100.7", 443)
    check(rc == 0 and out == "lbweb", "a client inside the ranges (%s): %r %r %s" % (client.ip, out, err, sw.ok("stats")["drops"]))
    r = apply(sw, scope, lb_ranges % "not-a-cidr", check_rc=False)
    check(r.returncode != 0 and "spec.loadBalancerSourceRanges[0]" in r.stderr, "bad range: %r" % r.stderr)
    sw.stop()


@test
def full_conntrack_refuses_new_connections_not_established_ones(scope):
    # no per-port share here: one client fills the whole table
    sw = Switch(scope, "limits = { conntrack = 1024; conntrack_per_port = 0; };\n", workers="[1]").start()
    web = Pod(scope, sw, "big", labels={"app": "big"})
    client = Pod(scope, sw, "client")
    track(scope, [web.ns.popen("exec socat -t 5 TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'cat'")])
    web.wait_listening(8080)
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: big}
spec: {selector: {app: big}, ports: [{port: 80, targetPort: 8080}, {name: u, port: 53, targetPort: 5353, protocol: UDP}]}
""".replace("{port: 80,", "{name: t, port: 80,"))
    vip = service_ip(sw, "big")
    # an established connection, kept open: a line goes through every second
    est = client.ns.popen("exec socat -T 30 - TCP:%s:80" % vip, stdin=__import__("subprocess").PIPE,
                          stdout=__import__("subprocess").PIPE)
    track(scope, [est])
    est.stdin.write(b"before\n")
    est.stdin.flush()
    check(est.stdout.readline() == b"before\n", "established connection not working")
    # flood: 1500 new UDP flows from distinct source ports fill the table
    # (1024), faster than unanswered entries expire early under pressure (2 s)
    # paced (100 datagrams, then 10 ms), so the pod's queue into the switch
    # does not overflow on a loaded machine; the whole flood takes ~0.3 s
    for first in (20000, 21500, 23000):
        r = client.ns.sh("%s -c \"import socket, time\n"
                         "for p in range(%d, %d):\n"
                         "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                         "    s.bind(('', p)); s.sendto(b'x', ('%s', 53)); s.close()\n"
                         "    if p %% 100 == 0: time.sleep(0.01)\n"
                         "print('sent')\"" % (sys.executable, first, first + 1500, vip),
                         check_rc=False, timeout=60)
        check(r.returncode == 0 and "sent" in r.stdout, "the flood did not run: %r %r" % (r.stdout, r.stderr))
        if sw.ok("stats")["conntrack"]["refused_full"] > 0:
            break
    st = sw.ok("stats")
    check(st["conntrack"]["refused_full"] > 0 and st["drops"]["ct_full"] > 0,
          "the table never filled: %s" % st["conntrack"])
    # the established connection still works
    est.stdin.write(b"after\n")
    est.stdin.flush()
    check(est.stdout.readline() == b"after\n", "established connection broken by the flood")
    sw.stop()


@test
def one_pod_cannot_fill_the_connection_table(scope):
    """limits.conntrack_per_port (default a quarter): a pod flooding new UDP
    flows is refused beyond its share (ct_port_limit), the table never
    fills, and another pod still opens connections at once."""
    sw = Switch(scope, "limits = { conntrack = 1024; };\n", workers="[1]").start()
    web = Pod(scope, sw, "share", labels={"app": "share"})
    flooder = Pod(scope, sw, "flooder")
    other = Pod(scope, sw, "other")
    track(scope, [web.ns.popen("exec socat -t 5 TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo share; cat >/dev/null'")])
    web.wait_listening(8080)
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: share}
spec: {selector: {app: share}, ports: [{name: t, port: 80, targetPort: 8080}, {name: u, port: 53, targetPort: 5353, protocol: UDP}]}
""")
    vip = service_ip(sw, "share")
    flooder.ns.sh("for p in $(seq 20000 20600); do echo x | socat -T 0.01 - UDP:%s:53,sourceport=$p "
                  ">/dev/null 2>&1 & if [ $((p %% 200)) = 0 ]; then wait; fi; done; wait" % vip,
                  check_rc=False, timeout=120)
    st = sw.ok("stats")
    ct = st["conntrack"]
    check(ct["per_port_max"] == 256 and ct["refused_port_limit"] > 0 and st["drops"]["ct_port_limit"] > 0,
          "the flooding pod was not held to its share: %s" % ct)
    check(ct["refused_full"] == 0 and ct["entries"] <= 256 + 8, "the table filled: %s" % ct)
    t0 = time.monotonic()
    r = other.ns.sh("socat -T 2 - TCP:%s:80,connect-timeout=2 </dev/null" % vip, check_rc=False, timeout=10)
    took = time.monotonic() - t0
    check(r.stdout.strip() == "share" and took < 0.9,
          "another pod could not connect at once during the flood: %r (%.2f s)" % (r.stdout, took))
    sw.stop()


@test
def internal_traffic_policy_local(scope):
    sw = Switch(scope, "", workers="[1]").start()
    here = Pod(scope, sw, "here")
    client = Pod(scope, sw, "client")
    track(scope, [here.serve_tcp(8080)])
    # one endpoint on this node (an attached pod), one on another node
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: loc}
spec: {internalTrafficPolicy: Local, ports: [{name: p, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: loc-1, labels: {kubernetes.io/service-name: loc}}
addressType: IPv4
ports: [{name: p, port: 8080}]
endpoints:
- {addresses: [%s]}
- {addresses: [10.244.9.9], nodeName: another-node}
""" % here.ip)
    vip = service_ip(sw, "loc")
    names = {client.tcp(vip, 80)[0] for _ in range(10)}
    check(names == {"here"}, "Local policy used a remote endpoint: %s" % names)
    # only a remote endpoint left: dropped (the client times out), not refused
    apply(sw, scope, """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: loc-1, labels: {kubernetes.io/service-name: loc}}
addressType: IPv4
ports: [{name: p, port: 8080}]
endpoints:
- {addresses: [10.244.9.9], nodeName: another-node}
""")
    out, err, rc = client.tcp(vip, 80, timeout=1)
    check(rc != 0 and "refused" not in err.lower(), "expected a drop, got %r" % err)
    st = sw.ok("stats")
    check(st["drops"]["svc_no_local_endpoint"] >= 1 and st["events"]["svc_reject"] == 0,
          "drop not counted as such: %s" % st["drops"])
    # no endpoint anywhere: refused, as a Service without endpoints (kube-proxy rejects)
    apply(sw, scope, """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: loc-1, labels: {kubernetes.io/service-name: loc}}
addressType: IPv4
ports: [{name: p, port: 8080}]
endpoints: []
""")
    out, err, rc = client.tcp(vip, 80, timeout=1)
    check(rc != 0 and "refused" in err.lower(), "no endpoint at all: expected a refusal, got %r" % err)
    check(sw.ok("stats")["events"]["svc_reject"] >= 1, "the refusal was not counted")
    sw.stop()


@test
def session_affinity_pins_then_expires(scope):
    sw = Switch(scope, "", workers="[1]").start()
    backends = [Pod(scope, sw, "aff-%d" % i, labels={"app": "aff"}) for i in range(3)]
    client = Pod(scope, sw, "client")
    track(scope, [b.serve_tcp(8080) for b in backends])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: aff}
spec:
  selector: {app: aff}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 2}}
  ports: [{port: 80, targetPort: 8080}]
""")
    vip = service_ip(sw, "aff")
    names = [client.tcp(vip, 80)[0] for _ in range(15)]
    check(len(set(names)) == 1 and names[0].startswith("aff-"),
          "15 connections of one client reached %s" % sorted(set(names)))
    out = run([CTL, "-s", sw.sock, "get", "conntrack", client.ip]).stdout
    check("AFFINITY" in out and names[0] not in ("",), "no affinity record:\n%s" % out)
    # the record expires after timeoutSeconds of no new connection
    deadline = time.time() + 12
    while time.time() < deadline and "AFFINITY" in run([CTL, "-s", sw.sock, "get", "conntrack",
                                                         client.ip]).stdout:
        time.sleep(0.5)
    check(time.time() < deadline, "the affinity record did not expire")
    # without affinity the same client spreads (the policy made the difference)
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: aff}
spec: {selector: {app: aff}, ports: [{port: 80, targetPort: 8080}]}
""")
    spread = {client.tcp(vip, 80)[0] for _ in range(30)}
    check(len(spread) > 1, "without affinity still one backend: %s" % spread)
    sw.stop()


@test
def proxy_opt_out_labels(scope):
    """kube-proxy's opt-outs: a Service labelled service.kubernetes.io/service-proxy-name
    (any value) or service.kubernetes.io/headless is not programmed; the label
    added to a working Service stops its address answering, removed brings it back."""
    sw = Switch(scope, "", workers="[1]").start()
    web = Pod(scope, sw, "web", labels={"app": "web"})
    client = Pod(scope, sw, "client")
    track(scope, [web.serve_tcp(8080)])

    def service(labels):
        apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "web", "namespace": "default", "labels": labels},
            "spec": {"clusterIP": "10.96.7.7", "selector": {"app": "web"},
                     "ports": [{"port": 80, "targetPort": 8080}]}}))

    service({})
    out, err, rc = client.tcp("10.96.7.7", 80)
    check(rc == 0 and out == "web", "before any label: %r %r" % (out, err))
    for label in ({"service.kubernetes.io/service-proxy-name": "other-proxy"},
                  {"service.kubernetes.io/service-proxy-name": ""},
                  {"service.kubernetes.io/headless": ""}):
        service(label)
        dnat = sw.ok("stats")["events"]["svc_dnat"]
        out, err, rc = client.tcp("10.96.7.7", 80, timeout=1)
        check(rc != 0 and out == "", "labelled %s: still answered %r" % (label, out))
        check(sw.ok("stats")["events"]["svc_dnat"] == dnat, "labelled %s: a connection was NAT-ed" % label)
        service({})
        out, err, rc = client.tcp("10.96.7.7", 80)
        check(rc == 0 and out == "web", "label %s removed: %r %r" % (label, out, err))
    # applied already labelled: never programmed
    apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "other", "namespace": "default", "labels": {"service.kubernetes.io/service-proxy-name": "x"}},
        "spec": {"clusterIP": "10.96.7.8", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}))
    out, err, rc = client.tcp("10.96.7.8", 80, timeout=1)
    check(rc != 0 and out == "", "a Service of another proxy answered: %r" % out)
    sw.stop()


@test
def session_affinity_timeout_rebalances_an_idle_client(scope):
    """issue 13 item 9: timeoutSeconds 3. A client that waits 5 s between
    connections is balanced afresh each time, like a new client, so its eight
    connections spread over the three backends, whatever the expiry sweep (a
    pass every 5 s) has reached; a client connecting every second stays on
    its backend.

    Before, a record the sweep had not reached was used and refreshed, and a
    client connecting every 5 s, in step with the sweep, was pinned for good
    whenever the sweep passed its record less than 3 s after a connection.
    Three such clients, started 5/3 s apart, cannot all miss that window, so
    the old behaviour fails here every time. All clients run side by side
    (about 45 s)."""
    sw = Switch(scope, "", workers="[1]").start()
    backends = [Pod(scope, sw, "aft-%d" % i, labels={"app": "aft"}) for i in range(3)]
    slow = [Pod(scope, sw, "slow-%d" % i) for i in range(3)]
    fast = Pod(scope, sw, "fast")
    track(scope, [b.serve_tcp(8080) for b in backends])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: aft}
spec:
  selector: {app: aft}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 3}}
  ports: [{port: 80, targetPort: 8080}]
""")
    vip = service_ip(sw, "aft")
    got = {p.name: [] for p in slow + [fast]}

    def connect_every(client, period, delay):
        time.sleep(delay)
        for _ in range(8):
            t0 = time.monotonic()
            got[client.name].append(client.tcp(vip, 80)[0])
            time.sleep(max(0.0, period - (time.monotonic() - t0)))

    threads = [threading.Thread(target=connect_every, args=(p, 5.0, i * 5.0 / 3)) for i, p in enumerate(slow)]
    threads.append(threading.Thread(target=connect_every, args=(fast, 1.0, 0.0)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for name, names in got.items():
        check(len(names) == 8 and all(n.startswith("aft-") for n in names),
              "%s: connections failed: %s" % (name, names))
    check(len(set(got["fast"])) == 1, "a client connecting every second moved: %s" % got["fast"])
    for p in slow:
        check(len(set(got[p.name])) > 1,
              "%s, waiting 5 s (timeoutSeconds 3), stayed on one backend: %s" % (p.name, got[p.name]))
    st = sw.ok("stats")
    print("    ct_stale %d, expired_on_lookup %d, expired %d"
          % (st["events"]["ct_stale"], st["conntrack"]["expired_on_lookup"], st["conntrack"]["expired"]),
          flush=True)
    sw.stop()


@test
def nodeport_from_an_external_client(scope):
    ext, conf = external_client(scope)
    sw = Switch(scope, conf, workers="[1]").start()
    web = Pod(scope, sw, "np-web", labels={"app": "np"})
    # the backend answers with its name and the address it sees
    track(scope, [web.ns.popen("exec socat -t 5 TCP-LISTEN:8080,fork,reuseaddr "
                               "SYSTEM:'echo np-web $SOCAT_PEERADDR; cat >/dev/null'")])
    web.wait_listening(8080)
    sent, got = __import__("pswtest").ping(ext, "192.168.50.1", count=2)
    check(got == sent, "the node address does not answer ping on the uplink")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, selector: {app: np}, ports: [{port: 80, targetPort: 8080}]}
""")
    svc = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "np", "-o", "json"]).stdout)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    check(30000 <= node_port <= 32767, "nodePort %s not from the range" % node_port)
    # the first SYN must get through: a dropped one costs a 1 s retransmit,
    # which the connect timeout would hide; count drops and time the connect
    t0 = time.monotonic()
    r = ext.sh("socat -T 3 - TCP:192.168.50.1:%d,connect-timeout=3 </dev/null" % node_port,
               check_rc=False, timeout=10)
    took = time.monotonic() - t0
    check(r.stdout.strip() == "np-web 192.168.50.1",
          "externalTrafficPolicy Cluster: expected the node address as source, got %r %r"
          % (r.stdout, r.stderr))
    drops = sw.ok("stats")["drops"]
    check(drops.get("to_gateway", 0) == 0 and took < 0.9,
          "the first packet of a NodePort connection was lost: to_gateway %s, %.2f s"
          % (drops.get("to_gateway"), took))
    # two clients, one source port, at once: both masqueraded to the node's
    # address, the second on another port (no ct_clash)
    ext.ip("addr add 192.168.50.3/24 dev eth0")
    track(scope, [web.ns.popen("exec socat -t 3 TCP-LISTEN:8081,fork,reuseaddr "
                               "SYSTEM:'sleep 0.5; echo $SOCAT_PEERADDR $SOCAT_PEERPORT'")])
    web.wait_listening(8081)
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: np2}
spec: {type: NodePort, selector: {app: np}, ports: [{port: 81, targetPort: 8081}]}
""")
    np2 = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "np2", "-o", "json"]).stdout)["spec"]["ports"][0]["nodePort"]
    procs = [ext.popen("exec socat -t 3 - TCP:192.168.50.1:%d,bind=%s,sourceport=5555 </dev/null" % (np2, a),
                       stdout=-1, stderr=-1) for a in ("192.168.50.2", "192.168.50.3")]
    seen = [p.communicate(timeout=10)[0].decode().strip() for p in procs]
    check(len(set(seen)) == 2 and all(x.startswith("192.168.50.1 ") for x in seen),
          "two clients with one source port through a NodePort: %s (ct_clash %s)"
          % (seen, sw.ok("stats")["drops"].get("ct_clash")))
    # Local keeps the client's own address
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, externalTrafficPolicy: Local, selector: {app: np},
       ports: [{port: 80, targetPort: 8080}]}
""")
    svc = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "np", "-o", "json"]).stdout)
    check(svc["spec"]["ports"][0]["nodePort"] == node_port, "nodePort changed on re-apply")
    r = ext.sh("socat -T 3 - TCP:192.168.50.1:%d,connect-timeout=3 </dev/null" % node_port,
               check_rc=False, timeout=10)
    check(r.stdout.strip() == "np-web 192.168.50.2",
          "externalTrafficPolicy Local: expected the client's address, got %r %r" % (r.stdout, r.stderr))
    # an external IP follows externalTrafficPolicy too: Cluster masquerades
    # to the node's address, Local keeps the client's
    ext.ip("route add 192.0.2.10/32 via 192.168.50.1")
    for policy, seen in (("Cluster", "192.168.50.1"), ("Local", "192.168.50.2")):
        apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: npx}
spec: {externalTrafficPolicy: %s, externalIPs: [192.0.2.10], selector: {app: np},
       ports: [{port: 80, targetPort: 8080}]}
""" % policy)
        r = ext.sh("socat -T 3 - TCP:192.0.2.10:80,connect-timeout=3 </dev/null", check_rc=False, timeout=10)
        check(r.stdout.strip() == "np-web " + seen, "external IP, policy %s: %r %r" % (policy, r.stdout, r.stderr))
    # one client port to one backend through two Service addresses at once
    # (a NodePort and an external IP, both Local): the second keeps the
    # client's address and gets another port, as Linux does; no ct_clash
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: np2}
spec: {type: NodePort, externalTrafficPolicy: Local, selector: {app: np}, ports: [{port: 81, targetPort: 8081}]}
---
apiVersion: v1
kind: Service
metadata: {name: npx}
spec: {externalTrafficPolicy: Local, externalIPs: [192.0.2.10], selector: {app: np},
       ports: [{port: 80, targetPort: 8081}]}
""")
    clash = sw.ok("stats")["drops"].get("ct_clash", 0)
    procs = [ext.popen("exec socat -t 3 - TCP:%s,bind=192.168.50.2,sourceport=6666,reuseaddr,connect-timeout=2 </dev/null" % dst,
                       stdout=-1, stderr=-1) for dst in ("192.168.50.1:%d" % np2, "192.0.2.10:80")]
    seen = sorted(p.communicate(timeout=10)[0].decode().strip() for p in procs)
    check(len(set(seen)) == 2 and all(x.startswith("192.168.50.2 ") for x in seen) and
          "192.168.50.2 6666" in seen and sw.ok("stats")["drops"].get("ct_clash", 0) == clash,
          "one client port to one backend through a NodePort and an external IP (Local): %s (ct_clash %s)"
          % (seen, sw.ok("stats")["drops"].get("ct_clash")))
    # a nodePort outside the range is refused whole
    r = apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: bad}
spec: {type: NodePort, ports: [{port: 80, nodePort: 80}]}
""", check_rc=False)
    check(r.returncode == 1 and "nodeport_range" in r.stderr, "bad nodePort: %r" % r.stderr)
    sw.stop()


@test
def udp_datagram_larger_than_the_mtu(scope):
    """A UDP datagram that leaves the client in fragments reaches the backend
    through the ClusterIP whole (its later fragments DNAT-ed too), and the
    backend's fragmented answer comes back whole (un-NAT-ed)."""
    sw = Switch(scope, "", workers="[1]").start()
    echo = Pod(scope, sw, "frag-echo", labels={"app": "frag"})
    client = Pod(scope, sw, "client")
    track(scope, [echo.ns.popen("exec socat UDP-RECVFROM:5353,fork,reuseaddr SYSTEM:cat")])
    echo.wait_listening(5353, proto="u")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: frag}
spec: {selector: {app: frag}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""")
    vip = service_ip(sw, "frag")
    r = client.ns.sh("head -c 4000 /dev/zero | tr '\\0' x | socat -T 2 -b 65536 - UDP:%s:53 | wc -c" % vip,
                     check_rc=False)
    check(r.stdout.strip() == "4000", "a 4000-byte datagram through the ClusterIP: %r bytes back (%s)"
          % (r.stdout.strip(), sw.ok("stats")["events"].get("frag_followed")))
    check(sw.ok("stats")["events"].get("frag_followed", 0) >= 4, "later fragments not followed")


@test
def udp_datagram_larger_than_the_mtu_ipv6(scope):
    """As udp_datagram_larger_than_the_mtu, over IPv6: the client's kernel
    cuts the datagram with a Fragment header; its later fragment follows
    the first's DNAT to the backend, the backend's fragmented answer is
    un-NAT-ed the same way, and both arrive whole. (NodePorts are on the
    node's IPv4 addresses only.)"""
    sw = Switch(scope, "", workers="[1]").start()
    echo = Pod(scope, sw, "frag6-echo", labels={"app": "frag6"})
    client = Pod(scope, sw, "client")
    track(scope, [echo.ns.popen("exec socat UDP6-RECVFROM:5353,fork,reuseaddr SYSTEM:cat")])
    echo.wait_listening(5353, proto="u")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: frag6}
spec: {clusterIP: "fd00:96::53", selector: {app: frag6}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""")
    r = client.ns.sh("head -c 2000 /dev/zero | tr '\\0' x | socat -T 2 -b 65536 - UDP6:[fd00:96::53]:53 | wc -c",
                     check_rc=False)
    st = sw.ok("stats")
    check(r.stdout.strip() == "2000", "a 2000-byte datagram through the IPv6 ClusterIP: %r bytes back (%s)"
          % (r.stdout.strip(), {k: v for k, v in st["events"].items() if k.startswith("frag")}))
    check(st["events"].get("frag_followed", 0) >= 2, "later IPv6 fragments not followed both ways: %s"
          % st["events"].get("frag_followed"))


# Run in a client pod: a 2,000-byte UDP datagram to a Service address, its
# fragments sent last first through a raw socket; prints the length of the
# answer and whether it is the datagram sent.
REVERSED_FRAGMENTS = r"""
import socket, sys, time
from scapy.all import IP, IPv6, IPv6ExtHdrFragment, Raw, UDP, fragment, fragment6
family, src, dst, sport = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = bytes((i * 7) % 251 for i in range(2000))
af = socket.AF_INET if family == "4" else socket.AF_INET6
rx = socket.socket(af, socket.SOCK_DGRAM)
rx.bind(("", sport))
rx.settimeout(3)
if family == "4":
    frags = fragment(IP(src=src, dst=dst, id=4321) / UDP(sport=sport, dport=53) / Raw(data), fragsize=1400)
else:
    frags = fragment6(IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=0x4321) / UDP(sport=sport, dport=53) /
                      Raw(data), 1400)
tx = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW)
for f in reversed(frags):
    tx.sendto(bytes(f), (dst, 0))
    time.sleep(0.02)    # apart, so no burst takes them together (then they are followed, not held)
try:
    got = rx.recv(65536)
    print(len(got), got == data)
except socket.timeout:
    print(0, False)
"""


@test
def udp_fragments_in_reverse_order(scope):
    """A 2,000-byte UDP datagram to a ClusterIP (IPv4 and IPv6) whose later
    fragment comes before its first: the switch holds it until the first
    one comes and opens the connection, then sends it DNAT-ed after it;
    the backend gets the datagram whole and its answer comes back whole."""
    sw = Switch(scope, "", workers="[1]").start()
    echo = Pod(scope, sw, "rev-echo", labels={"app": "rev"})
    client = Pod(scope, sw, "client")
    track(scope, [echo.ns.popen("exec socat UDP-RECVFROM:5353,fork,reuseaddr SYSTEM:cat"),
                  echo.ns.popen("exec socat UDP6-RECVFROM:5354,fork,reuseaddr SYSTEM:cat")])
    echo.wait_listening(5353, proto="u")
    echo.wait_listening(5354, proto="u")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: rev}
spec: {selector: {app: rev}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: rev6}
spec: {clusterIP: "fd00:96::54", selector: {app: rev}, ports: [{port: 53, targetPort: 5354, protocol: UDP}]}
""")
    script = scope.path("reversed.py")
    with open(script, "w") as f:
        f.write(REVERSED_FRAGMENTS)
    src6 = client.ns.sh("ip -6 -o addr show dev eth0 scope global | awk '{print $4}'").stdout.split("/")[0]
    for family, src, dst in (("4", client.ip, service_ip(sw, "rev")), ("6", src6, "fd00:96::54")):
        r = client.ns.sh("/usr/bin/python3 %s %s %s %s 40123" % (script, family, src, dst), check_rc=False, timeout=30)
        st = sw.ok("stats")
        check(r.stdout.strip() == "2000 True", "IPv%s, fragments reversed: %r %r (%s; drops %s)" % (
            family, r.stdout.strip(), r.stderr.strip()[-300:],
            {k: v for k, v in st["events"].items() if k.startswith("frag")},
            {k: v for k, v in st["drops"].items() if v}))
    st = sw.ok("stats")
    check(st["events"].get("frag_held", 0) >= 2 and st["events"].get("frag_released", 0) >= 2,
          "later fragments not held and released: %s" % {k: v for k, v in st["events"].items() if k.startswith("frag")})
    check(st["drops"].get("frag_no_first", 0) == 0 and st["drops"].get("frag_hold_full", 0) == 0,
          "held fragments dropped: %s" % {k: v for k, v in st["drops"].items() if k.startswith("frag")})


@test
def health_check_node_port(scope):
    """A LoadBalancer with externalTrafficPolicy Local gets a
    healthCheckNodePort, answered on the node's address as kube-proxy does:
    200 and the count while this node has an endpoint, 503 when not."""
    ext, conf = external_client(scope)
    sw = Switch(scope, conf, workers="[1]").start()
    Pod(scope, sw, "hc-web", labels={"app": "hc"})          # the local endpoint
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: hc}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: hc},
       ports: [{port: 80, targetPort: 8080}]}
""")
    svc = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "hc", "-o", "json"]).stdout)
    hc = svc["spec"].get("healthCheckNodePort")
    check(isinstance(hc, int) and 30000 <= hc <= 32767, "no healthCheckNodePort allocated: %s" % svc["spec"])

    def probe():
        r = ext.sh("curl -s -m 3 -w '\\n%%{http_code}' http://192.168.50.1:%d/healthz" % hc, check_rc=False)
        body, _, code = r.stdout.rpartition("\n")
        return code, body

    code, body = probe()
    check(code == "200" and json.loads(body) == {"service": {"namespace": "default", "name": "hc"},
                                                 "localEndpoints": 1, "serviceProxyHealthy": True},
          "with a local endpoint: %s %r" % (code, body))
    apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "hc-web", "namespace": "default", "labels": {"app": "other"}}, "spec": {"containers": [{"name": "c"}]}}))
    code, body = probe()
    check(code == "503" and json.loads(body)["localEndpoints"] == 0, "without one: %s %r" % (code, body))
    # the port is refused for a Service that cannot have one
    r = apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: hc2}
spec: {type: NodePort, healthCheckNodePort: 31999, ports: [{port: 80}]}
""", check_rc=False)
    check(r.returncode != 0 and "healthCheckNodePort" in r.stderr, "healthCheckNodePort on a NodePort: %r" % r.stderr)


@test
def health_check_node_port_ipv6(scope):
    """healthCheckNodePort on the node's IPv6 address: a dual-stack
    LoadBalancer with externalTrafficPolicy Local is answered there as on
    its IPv4 address (handshake, HTTP answer and FIN over IPv6): 200 and 1
    while this node has an endpoint, 503 and 0 when not. An IPv4-only
    Service's port is not served on the IPv6 address (as its NodePorts)."""
    ext, conf = external_client(scope)
    conf6 = conf.replace('addresses = [ "192.168.50.1" ]', 'addresses = [ "192.168.50.1", "fd00:50::1/64" ]')
    check(conf6 != conf, "external_client's configuration changed: %s" % conf)
    ext.sh("sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.eth0.accept_dad=0 "
           "net.ipv6.conf.eth0.accept_ra=0")
    ext.ip("-6 addr add fd00:50::2/64 dev eth0 nodad")
    # the client's kernel solicits nothing before its link-local address has passed DAD
    end = time.time() + 5
    while ext.sh("ip -6 addr show dev eth0 tentative").stdout.strip() and time.time() < end:
        time.sleep(0.1)
    sw = Switch(scope, conf6, workers="[1]").start()
    Pod(scope, sw, "hc6-web", labels={"app": "hc6"})
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: hc6}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, ipFamilyPolicy: RequireDualStack,
       ipFamilies: [IPv4, IPv6], selector: {app: hc6}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hc4}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: hc6},
       ports: [{port: 81, targetPort: 8081}]}
""")
    ports = {}
    for name in ("hc6", "hc4"):
        spec = json.loads(run([CTL, "-s", sw.sock, "get", "svc", name, "-o", "json"]).stdout)["spec"]
        ports[name] = spec.get("healthCheckNodePort")
        check(isinstance(ports[name], int) and 30000 <= ports[name] <= 32767,
              "%s: no healthCheckNodePort allocated: %s" % (name, spec))

    def probe(host, port, flags="-6", timeout=3):
        r = ext.sh("curl -g %s -s -m %d -w '\n%%{http_code}' http://%s:%d/healthz" % (flags, timeout, host, port),
                   check_rc=False, timeout=timeout + 10)
        body, _, code = r.stdout.rpartition("\n")
        return code, body

    want = {"service": {"namespace": "default", "name": "hc6"}, "localEndpoints": 1, "serviceProxyHealthy": True}
    code, body = probe("[fd00:50::1]", ports["hc6"])
    check(code == "200" and json.loads(body) == want, "over IPv6, with a local endpoint: %s %r (drops %s)"
          % (code, body, {k: v for k, v in sw.ok("stats")["drops"].items() if v}))
    code, body = probe("192.168.50.1", ports["hc6"], flags="-4")
    check(code == "200" and json.loads(body) == want, "over IPv4, with a local endpoint: %s %r" % (code, body))
    # the pod's label changes: no local endpoint left, on either family
    apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "hc6-web", "namespace": "default", "labels": {"app": "other"}}, "spec": {"containers": [{"name": "c"}]}}))
    code, body = probe("[fd00:50::1]", ports["hc6"])
    check(code == "503" and json.loads(body)["localEndpoints"] == 0, "over IPv6, without one: %s %r" % (code, body))
    code, body = probe("192.168.50.1", ports["hc6"], flags="-4")
    check(code == "503" and json.loads(body)["localEndpoints"] == 0, "over IPv4, without one: %s %r" % (code, body))
    # an IPv4-only Service: its port answers on the IPv4 address only
    code, body = probe("192.168.50.1", ports["hc4"], flags="-4")
    check(code == "503", "the IPv4-only Service over IPv4: %s %r" % (code, body))
    code, body = probe("[fd00:50::1]", ports["hc4"], timeout=2)
    check(code == "000", "the IPv4-only Service answered over IPv6: %s %r" % (code, body))
    sw.stop()


@test
def several_ports_and_endpoints_appearing(scope):
    sw = Switch(scope, "", workers="[1]").start()
    web = Pod(scope, sw, "multi", labels={"app": "multi"},
              ports=[{"name": "a", "containerPort": 8081}, {"name": "b", "containerPort": 8082}])
    client = Pod(scope, sw, "client")
    track(scope, [web.serve_tcp(8081, "port-a"), web.serve_tcp(8082, "port-b"),
                  web.serve_udp(5353)])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: multi}
spec:
  selector: {app: multi}
  ports: [{name: a, port: 80, targetPort: a}, {name: b, port: 81, targetPort: b}]
---
apiVersion: v1
kind: Service
metadata: {name: later}
spec: {selector: {app: later}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""")
    vip = service_ip(sw, "multi")
    check(client.tcp(vip, 80)[0] == "port-a" and client.tcp(vip, 81)[0] == "port-b",
          "the two ports of one Service do not reach their own target ports")
    # a UDP flow to a Service without endpoints is refused, and nothing of it
    # is cached: once an endpoint appears the very same flow gets through
    late = service_ip(sw, "later")
    r = client.ns.sh("echo x | socat -T 2 - UDP:%s:53,sourceport=41000" % late, check_rc=False)
    check("refused" in r.stderr.lower(), "no endpoint yet: %r" % r.stderr)
    apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "multi", "namespace": "default", "labels": {"app": "later"}},
        "spec": {"containers": [{"name": "c", "ports": []}]}}))
    check(client.udp(late, 53, sport=41000) == "multi", "the same flow after an endpoint appeared")
    sw.stop()


@test
def backends_added_and_removed_while_clients_run(scope):
    sw = Switch(scope, "", workers="[0, 1]").start()
    pods = [Pod(scope, sw, "churn-%d" % i, labels={"app": "churn"}) for i in range(3)]
    client = Pod(scope, sw, "client")
    track(scope, [p.serve_tcp(8080) for p in pods])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: churn}
spec: {selector: {app: churn}, ports: [{port: 80, targetPort: 8080}]}
""")
    vip = service_ip(sw, "churn")
    # a client loop runs connections the whole time
    loop = client.ns.popen("for i in $(seq 300); do socat -T 2 - TCP:%s:80,connect-timeout=2 </dev/null "
                           "|| echo FAILED; done" % vip, stdout=__import__("subprocess").PIPE)

    def relabel(name, labels):
        apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "ports": []}]}}))

    for step in range(6):
        time.sleep(0.3)
        relabel("churn-%d" % (step % 3), {} if step % 2 == 0 else {"app": "churn"})
    relabel("churn-0", {"app": "churn"})
    relabel("churn-1", {"app": "churn"})
    relabel("churn-2", {"app": "churn"})
    out, _ = loop.communicate(timeout=240)
    lines = out.decode().split()
    if "FAILED" in lines or len(lines) != 300:
        drops = {k: v for k, v in sw.ok("stats")["drops"].items() if v}
        check(False, "%d of 300 connections failed while backends changed (drops: %s)"
              % (lines.count("FAILED"), drops))
    check(set(lines) == {"churn-0", "churn-1", "churn-2"}, "backends seen: %s" % set(lines))
    sw.stop()


@test
def ipv6_service(scope):
    sw = Switch(scope, "", workers="[1]").start()
    web = Pod(scope, sw, "v6web", labels={"app": "v6"})
    client = Pod(scope, sw, "client")
    track(scope, [web.ns.popen("exec socat -t 5 TCP6-LISTEN:8080,fork,reuseaddr SYSTEM:'echo v6web; cat >/dev/null'")])
    web.wait_listening(8080)
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: v6}
spec: {clusterIP: "fd00:96::10", selector: {app: v6}, ports: [{port: 80, targetPort: 8080}]}
""")
    r = client.ns.sh("socat -T 10 - TCP6:[fd00:96::10]:80,connect-timeout=3 </dev/null", check_rc=False,
                     timeout=20)
    check(r.stdout.strip() == "v6web", "IPv6 ClusterIP: %r %r (drops: %s)" % (
        r.stdout, r.stderr, {k: v for k, v in sw.ok("stats")["drops"].items() if v}))
    # and the same pod through its own IPv6 Service (hairpin over IPv6)
    r = web.ns.sh("socat -T 10 - TCP6:[fd00:96::10]:80,connect-timeout=3 </dev/null", check_rc=False,
                  timeout=20)
    check(r.stdout.strip() == "v6web", "IPv6 hairpin: %r %r" % (r.stdout, r.stderr))
    sw.stop()


@test
def dual_stack_cluster_ips_allocated(scope):
    """ClusterIPs of both families from node.service_cidr and
    node.service_cidr6, as the API server gives them: PreferDualStack gets
    one of each (IPv4 first: no ipFamilies), ipFamilies [IPv6] one IPv6
    address, a given IPv4 clusterIP with RequireDualStack gets an IPv6 one
    added; re-applied, each keeps its addresses; a pod reaches the endpoint
    through both."""
    import ipaddress
    sw = Switch(scope, 'node = { service_cidr6 = "fd00:96::/112"; };', workers="[1]").start()
    web = Pod(scope, sw, "dsweb", labels={"app": "ds"})
    client = Pod(scope, sw, "client")
    track(scope, [web.ns.popen("exec socat -t 5 TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 SYSTEM:'echo dsweb; cat >/dev/null'")])
    web.wait_listening(8080)
    manifest = """apiVersion: v1
kind: Service
metadata: {name: ds}
spec: {ipFamilyPolicy: PreferDualStack, selector: {app: ds}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: six}
spec: {ipFamilies: [IPv6], selector: {app: ds}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: given}
spec: {clusterIP: 10.96.0.77, ipFamilyPolicy: RequireDualStack, selector: {app: ds},
       ports: [{port: 80, targetPort: 8080}]}
"""
    apply(sw, scope, manifest)

    def spec(name):
        return json.loads(run([CTL, "-s", sw.sock, "get", "svc", name, "-o", "json"]).stdout)["spec"]

    v4net, v6net = ipaddress.ip_network("10.96.0.0/12"), ipaddress.ip_network("fd00:96::/112")
    first = {n: spec(n)["clusterIPs"] for n in ("ds", "six", "given")}
    ds = [ipaddress.ip_address(a) for a in first["ds"]]
    check(len(ds) == 2 and ds[0] in v4net and ds[1] in v6net and spec("ds")["clusterIP"] == first["ds"][0],
          "PreferDualStack: %s" % spec("ds"))
    six = [ipaddress.ip_address(a) for a in first["six"]]
    check(len(six) == 1 and six[0] in v6net and spec("six")["clusterIP"] == first["six"][0],
          "ipFamilies [IPv6]: %s" % spec("six"))
    given = [ipaddress.ip_address(a) for a in first["given"]]
    check(len(given) == 2 and str(given[0]) == "10.96.0.77" and given[1] in v6net,
          "a given IPv4 clusterIP, RequireDualStack: %s" % spec("given"))
    check(len({str(a) for a in ds + six + given}) == 5, "an address given twice: %s" % first)
    apply(sw, scope, manifest)
    check({n: spec(n)["clusterIPs"] for n in ("ds", "six", "given")} == first,
          "re-applied, the addresses changed: %s" % first)
    # an address a manifest gives is taken for the rest of its apply: "late"
    # alone gets some address X; deleted, then applied after a Service that
    # gives X itself, it gets another
    late = """apiVersion: v1
kind: Service
metadata: {name: late}
spec: {ports: [{port: 80}]}
"""
    apply(sw, scope, late)
    x = spec("late")["clusterIP"]
    path = scope.path("late.yaml")
    with open(path, "w") as f:
        f.write(late)
    run([CTL, "-s", sw.sock, "delete", "-f", path])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: early}
spec: {clusterIP: %s, ports: [{port: 80}]}
---
""" % x + late)
    check(spec("early")["clusterIP"] == x and spec("late")["clusterIP"] != x,
          "one address given twice in one apply: early %s, late %s" % (spec("early"), spec("late")))
    # clusterIPs alone names the clusterIP; a headless Service stays headless
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: only-ips}
spec: {clusterIPs: ["fd00:96::99"], ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {clusterIP: None, ports: [{port: 80}]}
""")
    check(spec("only-ips")["clusterIP"] == "fd00:96::99" and spec("only-ips")["clusterIPs"] == ["fd00:96::99"],
          "clusterIPs without clusterIP: %s" % spec("only-ips"))
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {ports: [{port: 80}]}
""")
    check(spec("headless")["clusterIP"] == "None", "a headless Service re-applied got an address: %s"
          % spec("headless"))
    for addr in first["ds"] + first["six"]:
        host = "[%s]" % addr if ":" in addr else addr
        r = client.ns.sh("socat -T 5 - TCP:%s:80,connect-timeout=3 </dev/null" % host, check_rc=False, timeout=15)
        check(r.stdout.strip() == "dsweb", "through %s: %r %r (drops: %s)" % (
            addr, r.stdout, r.stderr, {k: v for k, v in sw.ok("stats")["drops"].items() if v}))
    sw.stop()


@test
def hairpin_pod_reaches_itself_through_its_service(scope):
    sw = Switch(scope, "", workers="[1]").start()
    solo = Pod(scope, sw, "solo", labels={"app": "solo"})
    track(scope, [solo.serve_tcp(8080)])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: solo}
spec: {selector: {app: solo}, ports: [{port: 80, targetPort: 8080}]}
""")
    vip = service_ip(sw, "solo")
    out, err, rc = solo.tcp(vip, 80)
    check(rc == 0 and out == "solo", "hairpin: %r %r" % (out, err))
    check(sw.ok("stats")["events"]["svc_hairpin"] >= 1, "hairpin not counted")
    sw.stop()


@test
def bulk_tcp_through_a_service_stays_in_window(scope):
    """Window-scaled bulk transfers both ways through a ClusterIP: the
    sequence-window check must not drop a single legitimate segment."""
    sw = Switch(scope, "", workers="[1]").start()
    server = Pod(scope, sw, "bulk", labels={"app": "bulk"})
    client = Pod(scope, sw, "client")
    track(scope, [server.ns.popen("exec iperf3 -s -p 5201")])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: bulk}
spec: {selector: {app: bulk}, ports: [{port: 5201}]}
""")
    vip = service_ip(sw, "bulk")
    time.sleep(0.5)
    for reverse in ("", " -R"):
        r = client.ns.sh("iperf3 -c %s -p 5201 -t 2 -J%s" % (vip, reverse), check_rc=False, timeout=30)
        check(r.returncode == 0, "iperf3%s: %s %s" % (reverse, r.stdout[-300:], r.stderr[-300:]))
        end = json.loads(r.stdout)["end"]
        got = end["sum_received"]["bytes"]
        check(got > 10 * 1024 * 1024, "iperf3%s moved only %d bytes" % (reverse, got))
    st = sw.ok("stats")
    check(st["drops"]["ct_out_of_window"] == 0, "legitimate segments dropped as out of window: %s" % st["drops"])
    sw.stop()


def scrape_services(port):
    """The per-Service packet and byte samples of /metrics, read with Prometheus' own parser:
    {(name, metric, direction): value}."""
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            if smp.name in ("podswitch_service_packets_total", "podswitch_service_bytes_total"):
                out[(smp.labels["name"], smp.name.split("_")[2], smp.labels["direction"])] = smp.value
    return out


def metrics_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEND_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 40100))
s.settimeout(3)
got = []
for i in range(%(n)d):
    s.sendto(b"x" * %(size)d, ("%(vip)s", 53))
    got.append(len(s.recv(2048)))
print(" ".join(map(str, got)))
"""


UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 5353))
while True:
    data, peer = s.recvfrom(4096)
    s.sendto(b"echo\\n", peer)
"""


def udp_echo_service(scope, more=""):
    """A switch with /metrics, a UDP echo pod behind the Service echo (port 53),
    a client pod, and the objects in more: (switch, metrics port, client, ClusterIP)."""
    port = metrics_port()
    sw = Switch(scope, 'metrics = { listen = "127.0.0.1:%d"; };\n' % port, workers="[1]").start()
    server = Pod(scope, sw, "echo", labels={"app": "echo"})
    client = Pod(scope, sw, "client")
    # one process answering every datagram (socat's fork per datagram can miss one on a loaded machine)
    track(scope, [server.ns.popen("exec python3 -c '%s'" % UDP_ECHO)])
    server.wait_listening(5353, proto="u")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""" + more)
    return sw, port, client, service_ip(sw, "echo")


@test
def service_packets_and_bytes_in_metrics(scope):
    """A Service's packets and bytes both ways, scraped from /metrics with
    Prometheus' parser, match what the pods sent and got."""
    sw, port, client, vip = udp_echo_service(scope)
    n, size = 12, 100
    r = client.ns.sh("python3 -c '%s'" % (SEND_UDP % {"n": n, "size": size, "vip": vip}), check_rc=False,
                     timeout=60)
    check(r.returncode == 0, "client: %s %s" % (r.stdout, r.stderr))
    answers = [int(x) for x in r.stdout.split()]
    check(answers == [len("echo\n")] * n, "answers: %s" % answers)
    got = scrape_services(port)
    want = {("echo", "packets", "to_backends"): n, ("echo", "bytes", "to_backends"): n * (28 + size),
            ("echo", "packets", "from_backends"): n, ("echo", "bytes", "from_backends"): n * (28 + 5)}
    check(got == want, "scraped %s, sent %s" % (got, want))
    sw.stop()


HOLD_TCP = """
import socket, time
s = socket.create_connection(("%(vip)s", 80), timeout=3)
for i in range(%(n)d):
    s.sendall(b"y" * 100)
    time.sleep(0.25)
print("sent")
"""


@test
def a_deleted_services_connections_never_count_for_another(scope):
    """A Service's TCP connections outlive it (their NAT is in conntrack); their
    packets go on counting to its counter slot, so that slot must not be given
    to the next Service while they last."""
    port = metrics_port()
    sw = Switch(scope, 'metrics = { listen = "127.0.0.1:%d"; };\n' % port, workers="[1]").start()
    server = Pod(scope, sw, "sink", labels={"app": "sink"})
    client = Pod(scope, sw, "client")
    track(scope, [server.ns.popen("exec socat -t 5 TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'cat >/dev/null'")])
    server.wait_listening(8080)
    old = scope.path("old.yaml")
    with open(old, "w") as f:
        f.write("""apiVersion: v1
kind: Service
metadata: {name: old}
spec: {selector: {app: sink}, ports: [{port: 80, targetPort: 8080}]}
""")
    run([CTL, "-s", sw.sock, "apply", "-f", old])
    vip = service_ip(sw, "old")
    hold = client.ns.popen("exec python3 -c '%s'" % (HOLD_TCP % {"vip": vip, "n": 24}), stdout=subprocess.PIPE)
    track(scope, [hold])
    time.sleep(1.5)
    check(scrape_services(port).get(("old", "packets", "to_backends"), 0) >= 3, "old: %s" % scrape_services(port))
    run([CTL, "-s", sw.sock, "delete", "-f", old])
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: new}
spec: {selector: {app: sink}, ports: [{port: 81, targetPort: 8080}]}
""")
    out, _ = hold.communicate(timeout=20)
    check(hold.returncode == 0 and b"sent" in out, "the old connection broke: rc %s" % hold.returncode)
    got = scrape_services(port)
    check(("new", "packets", "to_backends") in got, "new not counted: %s" % got)
    check(got[("new", "packets", "to_backends")] == 0 and got[("new", "bytes", "to_backends")] == 0,
          "the deleted Service's connection counted for new: %s" % got)
    sw.stop()


SEND_UDP_NO_ANSWER = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 40200))
s.settimeout(0.3)
got = 0
for i in range(%(n)d):
    s.sendto(b"x" * %(size)d, ("%(vip)s", 53))
    try:
        s.recv(2048)
        got += 1
    except socket.timeout:
        pass
print(got)
"""


@test
def a_services_packets_a_policy_denies_are_not_counted(scope):
    """A datagram to a Service that a NetworkPolicy of its backend denies
    never reaches the backend: it is not counted as traffic to backends
    (each one after the denied entry is gone opens the connection anew)."""
    sw, port, client, vip = udp_echo_service(scope, """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-in}
spec: {podSelector: {matchLabels: {app: echo}}, policyTypes: [Ingress]}
""")
    n = 8
    r = client.ns.sh("python3 -c '%s'" % (SEND_UDP_NO_ANSWER % {"n": n, "size": 100, "vip": vip}),
                     check_rc=False, timeout=60)
    check(r.returncode == 0 and r.stdout.split() == ["0"], "client: %s %s" % (r.stdout, r.stderr))
    check(sw.stats().get("drop.policy_ingress", 0) >= n, "not denied: %s" % sw.stats().get("drop.policy_ingress"))
    got = scrape_services(port)
    want = {("echo", "packets", "to_backends"): 0, ("echo", "bytes", "to_backends"): 0,
            ("echo", "packets", "from_backends"): 0, ("echo", "bytes", "from_backends"): 0}
    check(got == want, "denied datagrams counted: %s" % got)
    sw.stop()


if __name__ == "__main__":
    main()
