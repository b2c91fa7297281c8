#!/usr/bin/python3
"""System tests of the NetworkPolicy audit log (docs/observability.md).

Each test starts its own switch with an `audit` group and a small cluster
(tests/lib/polmatrix.py: CNI-attached kernel pods with servers) and checks
the log file line by line: a denied connection gives exactly one line naming
the pods, ports and the isolating policy; allowed new connections are logged
where asked; a namespace that does not ask gives none; a flood is limited
per pod and the rest counted; the file rotates at its size; bad settings are
refused naming what is wrong and leave the running switch as it was. Then
attacks: a flood from many spoofed sources, huge names, reloads and pod
deletions while records are in flight.
"""
import json
import os
import re
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import Switch, check, cni_call, cni_conf, external_client, main, run, test  # noqa: E402
from polmatrix import POD_CIDR, Cluster, Pod  # noqa: E402

NAMESPACES = {"alpha": {"team": "a"}, "beta": {"team": "b"}, "gamma": {"team": "c"}}
PODS = [("alpha", "a-web", "web"), ("beta", "b-web", "web"), ("gamma", "c-web", "web")]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def audit_conf(path, **keys):
    body = 'file = "%s";' % path
    for k, v in keys.items():
        body += " %s = %s;" % (k, str(v).lower() if isinstance(v, bool) else v)
    return "audit = { %s };\n" % body


def annotate(cl, ns, value):
    """The Namespace object with the audit annotation (None: without it)."""
    meta = {"name": ns, "labels": cl.namespaces[ns]}
    if value is not None:
        meta["annotations"] = {"podswitch.io/policy-audit": value}
    cl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


def deny_ingress(cl, ns, name="deny-ingress"):
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: %s, namespace: %s}
spec: {podSelector: {}, policyTypes: [Ingress]}
""" % (name, ns))


def send_udp(pod, dst, dport, count=1, sport=0, pause=0.0):
    """count datagrams from pod (one socket, source port sport) to dst:dport."""
    pod.ns.sh("/usr/bin/python3 -c \"import socket, time\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('0.0.0.0', %d))\n"
              "for i in range(%d):\n"
              "    s.sendto(b'x', ('%s', %d))\n"
              "    time.sleep(%f)\n\"" % (sport, count, dst, dport, pause), timeout=120)


def ip6_of(pod):
    out = pod.ns.sh("ip -6 -o addr show dev eth0 scope global").stdout.split()
    return out[out.index("inet6") + 1].split("/")[0] if "inet6" in out else None


def send_udp6(pod, dst, dport, sport):
    pod.ns.sh("/usr/bin/python3 -c \"import socket\n"
              "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
              "s.bind(('::', %d))\n"
              "s.sendto(b'x', ('%s', %d))\n\"" % (sport, dst, dport))


def lines(path):
    """The log's lines, each parsed (a line that is not JSON fails the test)."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for n, text in enumerate(f.read().splitlines()):
            try:
                out.append(json.loads(text))
            except ValueError:
                raise AssertionError("%s line %d is not JSON: %r" % (path, n + 1, text[:300]))
    return out


def audit_stats(cl):
    return cl.stats()["audit"]


def settle(cl, want_drops, key="policy_ingress", timeout=10):
    """Until the switch has dropped want_drops packets (key) and written or
    counted every audited one; returns (stats, audit counters)."""
    end = time.time() + timeout
    while True:
        st = cl.stats()
        a = st["audit"]
        ctl_suppressed = a["suppressed"] - st["events"]["audit_suppressed"]
        if st["drops"].get(key, 0) >= want_drops and \
                a["queued"] == a["lines"] + a["write_errors"] + ctl_suppressed + a["dropped_off"]:
            time.sleep(0.3)                 # one more drain period: nothing late
            st2 = cl.stats()
            if st2["audit"] == st["audit"] or time.time() > end:
                return st2, st2["audit"]
        if time.time() > end:
            return st, a
        time.sleep(0.1)


def small_cluster(scope, conf):
    return Cluster(scope, conf=conf, pods=PODS, namespaces=NAMESPACES)


@test
def denied_connection_one_line(scope):
    """beta asks for denials, gamma does not: one UDP datagram into each
    denied pod gives exactly one line, for beta. A TCP connection through
    the ClusterIP is logged on the backend pod's address and port, once per
    SYN the policy dropped."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log))
    a, b, c = cl.pod("a-web"), cl.pod("b-web"), cl.pod("c-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    deny_ingress(cl, "gamma")
    before = cl.stats()["drops"].get("policy_ingress", 0)
    t0 = time.time()
    send_udp(a, b.ip, 53, sport=31001)
    send_udp(a, c.ip, 53, sport=31002)
    st, au = settle(cl, before + 2)
    check(st["drops"]["policy_ingress"] == before + 2, "2 datagrams denied, drops say %d"
          % (st["drops"]["policy_ingress"] - before))
    got = lines(log)
    check(len(got) == 1, "one line expected (beta only), got %d: %s" % (len(got), got))
    ln = got[0]
    check(TIME_RE.match(ln["time"]), "time not RFC 3339 with ms, UTC: %s" % ln["time"])
    when = time.mktime(time.strptime(ln["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    check(abs(when - t0) < 10, "time %s is not now" % ln["time"])
    want = {"verdict": "deny", "direction": "ingress", "protocol": "udp",
            "src": {"ip": a.ip, "port": 31001, "namespace": "alpha", "pod": "a-web"},
            "dst": {"ip": b.ip, "port": 53, "namespace": "beta", "pod": "b-web"},
            "policies": ["beta/deny-ingress"]}
    for k, v in want.items():
        check(ln.get(k) == v, "%s: want %s, got %s (line %s)" % (k, v, ln.get(k), ln))
    check(au["lines"] == 1 and au["suppressed"] == 0 and au["ring_full"] == 0, "counters: %s" % au)

    # IPv6: the same, with 16-byte addresses
    a6, b6 = ip6_of(a), ip6_of(b)
    check(a6 and b6, "the pods have no IPv6 address")
    before = st["drops"]["policy_ingress"]
    send_udp6(a, b6, 5353, 31003)
    st, au = settle(cl, before + 1)
    got = lines(log)
    check(len(got) == 2 and got[1]["src"] == {"ip": a6, "port": 31003, "namespace": "alpha", "pod": "a-web"}
          and got[1]["dst"] == {"ip": b6, "port": 5353, "namespace": "beta", "pod": "b-web"},
          "IPv6 line: %s" % got[1:])

    # TCP through the Service: after DNAT, as the backend sees it
    before = st["drops"]["policy_ingress"]
    check(cl.probe(a, b.cluster_ip, "tcp", 80) != "b-web", "the deny let TCP through")
    st, au = settle(cl, before + 1)
    syns = st["drops"]["policy_ingress"] - before
    tcp = [x for x in lines(log) if x["protocol"] == "tcp"]
    check(len(tcp) == syns, "%d SYNs denied, %d TCP lines" % (syns, len(tcp)))
    for x in tcp:
        check(x["dst"] == {"ip": b.ip, "port": 80, "namespace": "beta", "pod": "b-web"},
              "TCP line names %s" % x["dst"])
        check(x["src"]["pod"] == "a-web", "TCP line's source %s" % x["src"])
    cl.sw.stop()


@test
def allowed_connections_logged_when_asked(scope):
    """beta says "all": an allowed new connection gives one allow line with
    the policy and rule, its reply none; a denied one a deny line. Egress:
    alpha's egress policy, audited by alpha's annotation."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log))
    a, b, c = cl.pod("a-web"), cl.pod("b-web"), cl.pod("c-web")
    annotate(cl, "beta", "all")
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-alpha, namespace: beta}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: c}}}]
    ports: [{port: 9999, protocol: TCP}]
  - from: [{namespaceSelector: {matchLabels: {team: a}}}]
    ports: [{port: 53, protocol: UDP}]
""")
    check(cl.probe(a, b.ip, "udp", 53) == "b-web", "the allowed UDP did not pass")
    check(cl.probe(c, b.ip, "udp", 53) != "b-web", "the denied UDP passed")
    time.sleep(0.5)
    got = lines(log)
    allows = [x for x in got if x["verdict"] == "allow"]
    denies = [x for x in got if x["verdict"] == "deny"]
    check(len(allows) == 1, "one allow line expected: %s" % got)
    al = allows[0]
    check(al["policy"] == "beta/from-alpha" and al["rule"] == 1 and al["direction"] == "ingress",
          "allow names %s rule %s %s" % (al.get("policy"), al.get("rule"), al.get("direction")))
    check(al["src"]["pod"] == "a-web" and al["dst"]["pod"] == "b-web" and al["dst"]["port"] == 53,
          "allow line ends: %s" % al)
    check(len(denies) >= 1 and all(d["src"]["pod"] == "c-web" and d["policies"] == ["beta/from-alpha"]
                                   for d in denies), "deny lines: %s" % denies)
    # the same annotation on alpha, with an egress policy there
    annotate(cl, "alpha", "all")
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-to-beta, namespace: alpha}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: b}}}]}]
""")
    n0 = len(lines(log))
    check(cl.probe(a, b.ip, "udp", 53) == "b-web", "allowed both ways, yet refused")
    check(cl.probe(a, c.ip, "udp", 53) != "c-web", "egress to gamma passed")
    time.sleep(0.5)
    new = lines(log)[n0:]
    eg = sorted((x["verdict"], x["direction"], x.get("policy") or x.get("policies")[0]) for x in new)
    check(("allow", "egress", "alpha/out-to-beta") in eg and ("allow", "ingress", "beta/from-alpha") in eg
          and ("deny", "egress", "alpha/out-to-beta") in eg, "egress lines: %s" % eg)
    cl.sw.stop()


@test
def global_configuration_and_opt_out(scope):
    """audit.all_namespaces with allowed: every namespace is audited, but
    gamma, annotated "off", is not; a namespace annotated with a typo is
    refused on apply, naming the annotation."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log, all_namespaces=True, allowed=True))
    a, b, c = cl.pod("a-web"), cl.pod("b-web"), cl.pod("c-web")
    annotate(cl, "gamma", "off")
    deny_ingress(cl, "beta")
    deny_ingress(cl, "gamma")
    send_udp(a, b.ip, 53, sport=31010)
    send_udp(a, c.ip, 53, sport=31011)
    time.sleep(0.6)
    got = lines(log)
    check(len(got) == 1 and got[0]["dst"]["pod"] == "b-web", "only beta's denial expected: %s" % got)
    r = cl.apply({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "beta", "labels": NAMESPACES["beta"],
                               "annotations": {"podswitch.io/policy-audit": "Deny"}}}, check_rc=False)
    check(r.returncode != 0 and "policy-audit" in r.stderr + r.stdout and "deny" in r.stderr + r.stdout,
          "a bad annotation value was not refused by name: %s %s" % (r.stdout, r.stderr))
    cl.sw.stop()


@test
def flood_is_rate_limited_and_counted(scope):
    """2,000 denied datagrams from one pod: at most the bucket's lines
    (burst 50 + 10 a second), the rest counted as suppressed; lines +
    suppressed + ring_full = the policy's drops. /metrics says the same."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log, rate=10, burst=50) + 'metrics = { listen = "127.0.0.1:%d"; };\n'
                       % (19000 + os.getpid() % 1000))
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    before = cl.stats()["drops"].get("policy_ingress", 0)
    t0 = time.time()
    send_udp(a, b.ip, 53, count=2000, sport=31020)
    st, au = settle(cl, before + 1)
    took = time.time() - t0
    denied = st["drops"]["policy_ingress"] - before
    n = len(lines(log))
    print("    2000 sent, %d denied in %.1f s: %d lines, %d suppressed (%d on the worker), %d ring full"
          % (denied, took, n, au["suppressed"], st["events"]["audit_suppressed"], au["ring_full"]))
    check(denied >= 1000, "only %d of 2000 datagrams denied" % denied)
    check(50 <= n <= 50 + 10 * (took + 1), "%d lines in %.1f s: the bucket allows 50 + 10/s" % (n, took))
    check(au["lines"] == n, "lines counter %d, file %d" % (au["lines"], n))
    check(au["lines"] + au["suppressed"] + au["ring_full"] == denied,
          "lines %d + suppressed %d + ring_full %d != %d denied" % (au["lines"], au["suppressed"],
                                                                   au["ring_full"], denied))
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (19000 + os.getpid() % 1000),
                                  timeout=5).read().decode()
    metrics = dict(re.findall(r"^(podswitch_audit_\w+) (\d+)$", text, re.M))
    check(int(metrics.get("podswitch_audit_lines_total", -1)) == n and
          int(metrics.get("podswitch_audit_suppressed_total", -1)) == au["suppressed"] and
          metrics.get("podswitch_audit_enabled") == "1", "metrics: %s" % metrics)
    out = cl.ctl("stats").stdout
    check(re.search(r"^suppressed\s+%d$" % au["suppressed"], out, re.M), "stats shows no audit: %s" % out[-600:])
    status = json.loads(cl.ctl("status", "-o", "json").stdout)
    check(status.get("audit", {}).get("lines") == n and status["audit"]["file"] == log,
          "status: %s" % status.get("audit"))
    mark = len(cl.sw.text())
    os.kill(cl.sw.proc.pid, signal.SIGUSR1)
    check(re.search(r"^audit .*lines %d suppressed %d ring_full 0" % (n, au["suppressed"]),
                    cl.sw.wait_log(r"\naudit .*\n", 10, after=mark), re.M), "SIGUSR1 shows no audit line")
    cl.sw.stop()


@test
def rotation_at_the_size_limit(scope):
    """max_bytes 4096, files 2: the log rotates, file.1 and file.2 are kept
    (never file.3), none past 4096 bytes, every line whole."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log, max_bytes=4096, files=2, rate=100000, burst=100000))
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    send_udp(a, b.ip, 53, count=200, sport=31030, pause=0.001)
    st, au = settle(cl, 150)
    check(au["rotations"] >= 3, "rotations: %s" % au)
    for suffix in ("", ".1", ".2"):
        check(os.path.exists(log + suffix), "no %s%s" % (log, suffix))
        size = os.path.getsize(log + suffix)
        check(size <= 4096, "%s%s is %d bytes" % (log, suffix, size))
        lines(log + suffix)                              # every line whole JSON
    check(not os.path.exists(log + ".3"), "a third rotated file was kept")
    check(len(lines(log + ".1")) > 5, "file.1 holds %d lines" % len(lines(log + ".1")))
    cl.sw.stop()


@test
def established_connection_cut_by_a_change(scope):
    """An allowed TCP connection (logged as allowed with "all"), then a
    change that no longer allows it: its next packet is dropped and the
    line says so, "established": true, naming the policy now in force."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log))
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "all")
    allow = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: echo, namespace: beta}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 9000, protocol: TCP}]}]
"""
    cl.apply(allow)
    sess = a.session(b.ip, 9000)
    check(sess.line("one") == "one", "the allowed echo connection does not answer")
    time.sleep(0.4)
    got = lines(log)
    check(len(got) == 1 and got[0]["verdict"] == "allow" and got[0]["policy"] == "beta/echo" and
          got[0]["rule"] == 0 and "established" not in got[0], "the new connection's line: %s" % got)
    cl.apply(allow.replace("port: 9000", "port: 9001"))
    check(sess.line("two", timeout=1.0) is None, "the connection survived a change that denies it")
    time.sleep(0.4)
    cut = [x for x in lines(log)[1:] if x.get("established")]
    check(cut and cut[0]["verdict"] == "deny" and cut[0]["policies"] == ["beta/echo"] and
          cut[0]["dst"] == {"ip": b.ip, "port": 9000, "namespace": "beta", "pod": "b-web"} and
          cut[0]["src"]["pod"] == "a-web", "the cut connection's line: %s" % lines(log))
    cl.sw.stop()


@test
def full_disk(scope):
    """The log's file system fills up (a 16 kB tmpfs): lines that do not fit
    are counted as write errors with the reason, none is left cut in the
    middle, every denied datagram is still accounted for, and the switch
    goes on."""
    d = scope.path("small")
    os.mkdir(d)
    run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", d])
    scope.defer(lambda: run(["umount", "-l", d], check_rc=False))
    log = os.path.join(d, "audit.log")
    cl = small_cluster(scope, audit_conf(log, max_bytes=1 << 20, rate=100000, burst=100000))
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    before = cl.stats()["drops"].get("policy_ingress", 0)
    send_udp(a, b.ip, 53, count=400, sport=31050, pause=0.001)
    st, au = settle(cl, before + 300)
    denied = st["drops"]["policy_ingress"] - before
    got = lines(log)                                     # whole lines only
    print("    %d denied: %d lines (%d bytes), %d write errors (%s)"
          % (denied, len(got), os.path.getsize(log), au["write_errors"], au["last_error"]))
    check(au["write_errors"] > 0 and "No space left" in au["last_error"], "no write error counted: %s" % au)
    check(au["lines"] == len(got), "lines counted %d, in the file %d" % (au["lines"], len(got)))
    check(au["lines"] + au["write_errors"] + au["suppressed"] + au["ring_full"] == denied,
          "not every verdict accounted for: %s, %d denied" % (au, denied))
    check(cl.probe(b, a.ip, "udp", 53) == "a-web", "the switch stopped forwarding")
    cl.sw.stop()


@test
def masqueraded_nodeport_client_is_named(scope):
    """A NodePort with externalTrafficPolicy Cluster masquerades the client
    to the node's address after the policy judged the original client: the
    line names that client (address and port), not the node."""
    ext, conf = external_client(scope)
    log = scope.path("audit.log")
    cl = small_cluster(scope, conf + audit_conf(log))
    b = cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    cl.apply("""apiVersion: v1
kind: Service
metadata: {name: np, namespace: beta}
spec: {type: NodePort, externalTrafficPolicy: Cluster, selector: {id: b-web}, ports: [{port: 80, targetPort: 80}]}
""")
    svc = json.loads(cl.ctl("get", "svc", "np", "-n", "beta", "-o", "json").stdout)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    r = ext.sh("socat -T 2 - TCP:192.168.50.1:%d,connect-timeout=2,sourceport=31060 </dev/null" % node_port,
               check_rc=False, timeout=10)
    check(r.stdout.strip() == "", "the NodePort reached a pod that allows nothing: %r" % r.stdout)
    time.sleep(0.5)
    got = lines(log)
    check(got, "no line for the denied NodePort connection")
    for x in got:
        check(x["src"] == {"ip": "192.168.50.2", "port": 31060} and
              x["dst"] == {"ip": b.ip, "port": 80, "namespace": "beta", "pod": "b-web"} and
              x["policies"] == ["beta/deny-ingress"], "the line does not name the real client: %s" % x)
    cl.sw.stop()


def start_fails(scope, body, msg):
    sw = Switch(scope, body)
    sw.start(wait=False)
    try:
        rc = sw.proc.wait(30)
    except Exception:
        sw.kill()
        raise AssertionError("the switch started on: %s" % body)
    out = sw.text()
    check(rc != 0 and msg in out, "exit %s, expected %r in:\n%s" % (rc, msg, out[-1500:]))
    return out


@test
def bad_configuration_refused(scope):
    """A missing directory, a symbolic link (its target is never created), a
    directory, a FIFO, a relative path, values out of range: each refuses the
    start naming audit.file or the key. On reload: refused, and the running
    log goes on in the old file."""
    d = scope.path("")
    os.symlink(scope.path("victim"), scope.path("link.log"))
    os.mkfifo(scope.path("fifo.log"))
    start_fails(scope, audit_conf(d + "no/such/audit.log"), "its directory does not exist")
    start_fails(scope, audit_conf(scope.path("link.log")), "is a symbolic link")
    check(not os.path.exists(scope.path("victim")), "the link's target was created")
    start_fails(scope, audit_conf(scope.path("")), "must name a file")
    os.mkdir(scope.path("adir"))
    start_fails(scope, audit_conf(scope.path("adir")), "is a directory")
    start_fails(scope, audit_conf(scope.path("fifo.log")), "not a regular file")
    start_fails(scope, 'audit = { file = "audit.log"; };\n', "absolute path")
    start_fails(scope, audit_conf(scope.path("x.log"), rate=0), "audit.rate 0 is out of range")
    start_fails(scope, audit_conf(scope.path("x.log"), max_bytes=10), "audit.max_bytes 10 is out of range")
    start_fails(scope, audit_conf(scope.path("x.log"), files=1000), "audit.files 1000 is out of range")
    start_fails(scope, 'audit = { fil = "/tmp/x"; };\n', "fil")

    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log))
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    for body, msg in ((audit_conf(scope.path("link.log")), "symbolic link"),
                      (audit_conf(scope.path("x.log"), burst=0), "reload refused"),
                      (audit_conf(d + "gone/audit.log"), "directory does not exist")):
        out = cl.sw.reload(body, expect="reload (refused|failed)")
        check(msg in out, "reload said %r, expected %r" % (out[-400:], msg))
        send_udp(a, b.ip, 53, sport=0)
    time.sleep(0.6)
    check(len(lines(log)) == 3, "the running log stopped after refused reloads: %d lines" % len(lines(log)))
    check(not os.path.exists(scope.path("victim")), "a reload wrote through the link")
    check(cl.stats()["audit"]["file"] == log, "the running file changed: %s" % cl.stats()["audit"])
    cl.sw.stop()


@test
def reload_while_logging(scope):
    """Reloads that move the log to another file, change the limits and turn
    it off and on again while a pod floods: no line is cut, lines go to the
    file in force, and the switch stops cleanly (ASan)."""
    log1, log2 = scope.path("one.log"), scope.path("two.log")
    conf1 = audit_conf(log1, rate=100000, burst=100000)
    cl = small_cluster(scope, conf1)
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    flood = a.ns.popen("exec /usr/bin/python3 -c \"import socket, time\n"
                       "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                       "for i in range(30000):\n"
                       "    s.sendto(b'x', ('%s', 53))\n"
                       "    time.sleep(0.0002)\n\"" % b.ip)
    time.sleep(0.5)
    for body in (audit_conf(log2, rate=5, burst=5), "", audit_conf(log1, max_bytes=8192, files=1),
                 audit_conf(log2, rate=100000, burst=100000)):
        cl.sw.reload(body, expect="reloaded")
        time.sleep(0.3)
    n2 = len(lines(log2))
    time.sleep(0.5)
    check(len(lines(log2)) > n2, "the last file in force gets no lines")
    for p in (log1, log1 + ".1", log2):
        lines(p)                                         # whole lines only
    # an outside logrotate moves the file away; a reload with the same settings reopens it
    os.rename(log2, log2 + ".old")
    time.sleep(0.3)
    cl.sw.reload(audit_conf(log2, rate=100000, burst=100000), expect="reloaded")
    time.sleep(0.5)
    check(len(lines(log2)) > 0, "after a reload the moved-away file is still written, not %s" % log2)
    flood.kill()
    flood.wait()
    cl.sw.stop()


@test
def pod_deleted_while_records_in_flight(scope):
    """The denied pod goes (CNI DEL and its Pod object) during a flood at it:
    the records waiting are still written (named as they were judged, or by
    address), the switch keeps answering and stops cleanly (ASan)."""
    log = scope.path("audit.log")
    cl = small_cluster(scope, audit_conf(log, rate=100000, burst=100000))
    a, b = cl.pod("a-web"), cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    flood = a.ns.popen("exec /usr/bin/python3 -c \"import socket\n"
                       "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                       "while True:\n"
                       "    s.sendto(b'x', ('%s', 53))\n\"" % b.ip)
    time.sleep(0.5)
    ip = b.ip
    cl.delete(b.object())
    # the CNI DEL the runtime would send (the scope's deferred one then finds nothing)
    rc, out = cni_call("DEL", cni_conf(cl.sock), container_id=b.container_id)
    check(rc == 0, "CNI DEL during the flood: %s" % out)
    time.sleep(0.5)
    flood.kill()
    flood.wait()
    time.sleep(0.5)
    got = lines(log)
    print("    %d lines, the last %s" % (len(got), got[-1] if got else None))
    check(len(got) > 10, "only %d lines" % len(got))
    check(all(x["dst"]["ip"] == ip for x in got), "a line names another destination")
    check(all(x["policies"] == ["beta/deny-ingress"] for x in got), "a line lost its policy: %s"
          % [x for x in got if x["policies"] != ["beta/deny-ingress"]][:3])
    unnamed = [x for x in got if "pod" not in x["dst"]]
    check(not unnamed, "%d lines judged just before the pod went lost its name: %s" % (len(unnamed), unnamed[:2]))
    check(cl.stats()["audit"]["lines"] == len(got), "counter and file differ")
    cl.sw.stop()


@test
def huge_names(scope):
    """A 63-character namespace and a 253-character pod name: whole in the
    line, which stays one valid JSON line."""
    ns = "n" * 63
    pod = ("p" * 62 + ".") * 4 + "p"                 # 253 characters, a DNS subdomain
    log = scope.path("audit.log")
    cl = Cluster(scope, conf=audit_conf(log), pods=[("alpha", "a-web", "web")],
                 namespaces={"alpha": {"team": "a"}})
    a = cl.pod("a-web")
    cl.namespaces[ns] = {"team": "n"}
    annotate(cl, ns, "deny")
    b = Pod(scope, cl.sock, pod, ns, {"app": "web"})    # no Service: its name would be too long
    cl.apply(b.object())
    deny_ingress(cl, ns)
    send_udp(a, b.ip, 53, sport=31040)
    time.sleep(0.6)
    got = lines(log)
    check(len(got) == 1 and got[0]["dst"]["pod"] == pod and got[0]["dst"]["namespace"] == ns and
          got[0]["policies"] == ["%s/deny-ingress" % ns], "huge names: %s" % got)
    cl.sw.stop()


@test
def flood_from_spoofed_sources(scope):
    """An uplink host sends 2,000 datagrams from 2,000 forged addresses at
    one denied pod: the log takes at most that pod's bucket, the rest is
    counted, memory does not grow per source (one bucket per pod)."""
    ext, conf = external_client(scope)
    ext.ip("route add %s via 192.168.50.1" % POD_CIDR)
    log = scope.path("audit.log")
    cl = small_cluster(scope, conf + audit_conf(log, rate=10, burst=50))
    b = cl.pod("b-web")
    annotate(cl, "beta", "deny")
    deny_ingress(cl, "beta")
    before = cl.stats()["drops"].get("policy_ingress", 0)
    t0 = time.time()
    ext.sh("/usr/bin/python3 -c \"import socket, struct\n"
           "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)\n"
           "dst = socket.inet_aton('%s')\n"
           "for i in range(2000):\n"
           "    src = bytes([172, 16 + i // 256, i %% 256, 7])\n"
           "    udp = struct.pack('!HHHH', 40000, 53, 9, 0) + b'x'\n"
           "    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 29, i, 0, 64, 17, 0, src, dst)\n"
           "    s.sendto(ip + udp, ('%s', 0))\n\"" % (b.ip, b.ip), timeout=120)
    st, au = settle(cl, before + 1)
    took = time.time() - t0
    denied = st["drops"]["policy_ingress"] - before
    n = len(lines(log))
    print("    2000 forged sources, %d denied in %.1f s: %d lines, %d suppressed, %d ring full"
          % (denied, took, n, au["suppressed"], au["ring_full"]))
    check(denied >= 1000, "only %d forged datagrams reached the policy (drops %s)" % (denied, st["drops"]))
    check(n <= 50 + 10 * (took + 1), "%d lines from %d forged sources in %.1f s" % (n, denied, took))
    check(au["lines"] + au["suppressed"] + au["ring_full"] == denied, "not all counted: %s, %d" % (au, denied))
    cl.sw.stop()


if __name__ == "__main__":
    main()
