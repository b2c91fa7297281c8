#!/usr/bin/python3
"""System tests of NetworkPolicy enforcement.

Each test starts its own switch with three labelled Namespaces and two
CNI-attached kernel pods in each (tests/lib/polmatrix.py):

    namespace  labels    pods (labels app=..., id=<name>)
    alpha      team=a    a-web (app=web)  a-db (app=db)
    beta       team=b    b-web (app=web)  b-db (app=db)
    gamma      team=c    c-web (app=web)  c-db (app=db)

Every pod serves TCP 80, 81, 8080 and UDP 53, 5353 (answering with its own
name) and has a ClusterIP Service of its own with the same ports. Named
container ports: web pods http=80/TCP alt=8080/TCP dns=53/UDP; db pods
http=8080/TCP alt=81/TCP dns=5353/UDP.

A test applies policies and asserts the FULL matrix (every client pod to
every other pod, each port, by pod IP and through the ClusterIP; a pod to
itself is not probed, see polmatrix) against an expectation written out in
the test. The policy is checked on the backend pod's address and port, after
Service translation. New connections are checked against the policies in
force; established ones are judged again after a change (docs/policy.md).
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import polmatrix  # noqa: E402
from pswtest import check, external_client, kill_group, main, run, test  # noqa: E402
from polmatrix import POD_CIDR, Cluster, everything, read_line  # noqa: E402

HTTP = {"web": 80, "db": 8080}      # the named port "http" of each app
DNS = {"web": 53, "db": 5353}       # the named port "dns" (UDP) of each app


@test
def no_policy_everything_reachable(scope):
    cl = Cluster(scope)
    t0 = time.time()
    got = cl.check_matrix(everything, what="no policy")
    took = time.time() - t0
    cl.check_matrix(everything, via_service=False, what="no policy, pod IPs only")
    st = cl.stats()
    check(st["drops"].get("policy_ingress", 0) == 0 and st["drops"].get("policy_egress", 0) == 0,
          "policy drops without a policy: %s" % st["drops"])
    print("  %d pods set up in %.2f s; a matrix of %d cells (pod IP and ClusterIP) in %.2f s"
          % (len(cl.pods), cl.setup_s, len(got), took))
    cl.sw.stop()


@test
def default_deny_ingress(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: beta}
spec: {podSelector: {}, policyTypes: [Ingress]}
""")
    # nothing reaches beta, not even from beta; beta's pods still reach everyone
    cl.check_matrix(lambda c, s, proto, port: s.namespace != "beta")
    cl.sw.stop()


@test
def default_deny_egress(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: gamma}
spec: {podSelector: {}, policyTypes: [Egress]}
""")
    # gamma's pods reach nobody (not even each other); everyone reaches gamma
    cl.check_matrix(lambda c, s, proto, port: c.namespace != "gamma")
    cl.sw.stop()


@test
def default_deny_both(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: alpha}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""")
    cl.check_matrix(lambda c, s, proto, port: c.namespace != "alpha" and s.namespace != "alpha")
    cl.sw.stop()


@test
def allow_by_pod_label(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web, namespace: beta}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
""")

    def expected(c, s, proto, port):
        if s.name == "b-db":              # a podSelector alone: web pods of beta only
            return c.name == "b-web"
        return True
    cl.check_matrix(expected)
    cl.sw.stop()


@test
def allow_by_namespace_label(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-team-a, namespace: beta}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}}]
""")

    def expected(c, s, proto, port):
        if s.namespace == "beta":         # every pod of alpha, nothing else (beta neither)
            return c.namespace == "alpha"
        return True
    cl.check_matrix(expected)
    cl.sw.stop()


@test
def namespace_and_pod_selector_combined_vs_separate(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: and, namespace: gamma}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [a]}]}
      podSelector: {matchLabels: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: or, namespace: beta}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
    - podSelector: {matchLabels: {app: web}}
""")

    def expected(c, s, proto, port):
        if s.name == "c-db":              # one peer with both selectors: web pods OF alpha
            return c.name == "a-web"
        if s.name == "b-db":              # two peers: any pod of alpha, OR web pods of beta
            return c.namespace == "alpha" or c.name == "b-web"
        return True
    cl.check_matrix(expected)
    cl.sw.stop()


@test
def ipblock_with_except(scope):
    cl = Cluster(scope)
    b_web = cl.pod("b-web")
    a_web = cl.pod("a-web")
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cidr-in, namespace: alpha}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: "%s", except: ["%s/32"]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cidr-out, namespace: gamma}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: "%s/32"}}]
""" % (POD_CIDR, b_web.ip, a_web.ip))

    def expected(c, s, proto, port):
        if c.name == "c-db":              # egress to a-web's address only (also via its ClusterIP:
            return s.name == "a-web"      # the policy sees the backend's address)
        if s.name == "a-web":             # the whole pod range but b-web
            return c.name != "b-web"
        return True
    cl.check_matrix(expected)
    cl.sw.stop()


@test
def port_ranges_and_protocol(scope):
    cl = Cluster(scope)
    a_web, c_web = cl.pod("a-web"), cl.pod("c-web")
    # TCP 53 (served, outside the matrix) answers before any policy
    for addr in (c_web.ip, c_web.cluster_ip):
        check(cl.probe(a_web, addr, "tcp", 53) == "c-web", "TCP 53 to c-web (%s) before any policy" % addr)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: range, namespace: beta}
spec:
  podSelector: {}
  ingress:
  - ports: [{protocol: TCP, port: 80, endPort: 81}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: udp-only, namespace: gamma}
spec:
  podSelector: {}
  ingress:
  - ports: [{protocol: UDP, port: 53}]
""")

    def expected(c, s, proto, port):
        if s.namespace == "beta":         # TCP 80..81 from anyone; not 8080, not UDP
            return proto == "tcp" and port in (80, 81)
        if s.namespace == "gamma":        # UDP 53 only
            return (proto, port) == ("udp", 53)
        return True
    cl.check_matrix(expected)
    # allowing UDP 53 does not open TCP 53
    for addr in (c_web.ip, c_web.cluster_ip):
        got = cl.probe(a_web, addr, "tcp", 53)
        check(got != "c-web", "TCP 53 to c-web (%s) open with only UDP 53 allowed" % addr)
    cl.sw.stop()


@test
def named_ports(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: http-in, namespace: alpha}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-out, namespace: beta}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP, port: dns}]
""")

    def expected(c, s, proto, port):
        # ingress "http" resolves on each destination pod: 80 on a-web, 8080 on a-db
        if s.namespace == "alpha" and (proto, port) != ("tcp", HTTP[s.app]):
            return False
        # egress "dns" resolves on the destination pod too: UDP 53 to web, 5353 to db
        if c.namespace == "beta" and (proto, port) != ("udp", DNS[s.app]):
            return False
        return True
    cl.check_matrix(expected)
    cl.sw.stop()


DENY_BETA = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: beta}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


@test
def policy_update_and_delete(scope):
    cl = Cluster(scope)
    # each check starts SETTLE (0.2 s) after the apply or delete returned
    cl.apply(DENY_BETA)
    cl.check_matrix(lambda c, s, proto, port: s.namespace != "beta", what="created")
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: beta}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}}]
""")
    cl.check_matrix(lambda c, s, proto, port: s.name != "b-db" or c.namespace == "alpha",
                    what="replaced")
    cl.delete(DENY_BETA)
    cl.check_matrix(everything, what="deleted")
    # two policies, one deleted: the other stays in force
    cl.apply(DENY_BETA + """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: q, namespace: gamma}
spec: {podSelector: {}, policyTypes: [Egress]}
""")
    cl.check_matrix(lambda c, s, proto, port: s.namespace != "beta" and c.namespace != "gamma",
                    what="two created")
    cl.delete(DENY_BETA)
    cl.check_matrix(lambda c, s, proto, port: c.namespace != "gamma", what="one of two deleted")
    cl.sw.stop()


@test
def pod_and_namespace_label_changes(scope):
    cl = Cluster(scope)
    b_web, b_db = cl.pod("b-web"), cl.pod("b-db")
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-guard, namespace: beta}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
    - podSelector: {matchLabels: {role: trusted}}
""")
    cl.check_matrix(lambda c, s, proto, port: s.name != "b-db" or c.namespace == "alpha",
                    what="initial")
    # gamma takes alpha's label: its pods are let in
    cl.label_namespace("gamma", {"team": "a"})
    cl.check_matrix(lambda c, s, proto, port: s.name != "b-db" or c.namespace in ("alpha", "gamma"),
                    what="namespace gamma relabelled team=a")
    # b-web becomes trusted
    cl.relabel(b_web, {"app": "web", "role": "trusted"})
    cl.check_matrix(lambda c, s, proto, port: s.name != "b-db" or c.namespace in ("alpha", "gamma")
                    or c.name == "b-web", what="pod b-web relabelled role=trusted")
    # b-db leaves the policy's podSelector: open to all
    cl.relabel(b_db, {"app": "cache"})
    cl.check_matrix(everything, what="pod b-db relabelled app=cache")
    # and everything back: gamma out again, b-db guarded again, b-web still trusted
    cl.label_namespace("gamma", {"team": "c"}, settle=0)
    cl.relabel(b_db, {"app": "db"})
    cl.check_matrix(lambda c, s, proto, port: s.name != "b-db" or c.namespace == "alpha"
                    or c.name == "b-web", what="gamma back to team=c, b-db back to app=db")

    # a Pod of another node in beta (only its Pod object is here): its labels,
    # its address and its going away each change what b-db lets in
    def remote(labels, ip):
        return ("apiVersion: v1\nkind: Pod\nmetadata: {name: r-1, namespace: beta, labels: %s}\n"
                "spec: {containers: [{name: c}]}\nstatus: {podIP: %s}\n" % (json.dumps(labels), ip))

    def allowed(src):
        return cl.explain(src, "beta/b-db", "tcp/80", json_out=True)["allowed"]

    cl.apply(remote({"role": "guest"}, "10.246.9.9"), settle=0)
    check(not allowed("10.246.9.9"), "remote pod without role=trusted let in")
    cl.apply(remote({"role": "trusted"}, "10.246.9.9"), settle=0)
    check(allowed("10.246.9.9"), "remote pod relabelled role=trusted not let in")
    cl.apply(remote({"role": "trusted"}, "10.246.9.10"), settle=0)
    check(allowed("10.246.9.10") and not allowed("10.246.9.9"), "remote pod's new address not followed")
    cl.apply(remote({"role": "guest"}, "10.246.9.10"), settle=0)
    check(not allowed("10.246.9.10"), "remote pod relabelled role=guest still let in")
    cl.apply(remote({"role": "trusted"}, "10.246.9.10"), settle=0)
    cl.delete(remote({"role": "trusted"}, "10.246.9.10"), settle=0)
    check(not allowed("10.246.9.10"), "deleted remote pod still let in")
    cl.sw.stop()


def unsolicited(cl, client, server, udp_port, tcp_port):
    """From server's UDP port 53 and TCP port 80, unsolicited, to client's udp_port
    (a UDP socket listens there) and tcp_port: a datagram and a SYN-ACK, three
    of each. Returns (UDP payloads received, TCP flags seen on the client's interface)."""
    lis = client.agent("listen", json.dumps({"ifname": client.ifname, "udp_port": udp_port,
                                             "tcp_port": tcp_port, "peer": server.ip,
                                             "seconds": 1.0}))
    check(read_line(lis.stdout, 10) == "ready", "the listener in %s did not start" % client.name)
    server.agent_run("inject", {"dst": client.ip, "udp": [53, udp_port], "synack": [80, tcp_port],
                                "count": 3})
    line = read_line(lis.stdout, 10)
    check(line is not None, "the listener in %s gave no result" % client.name)
    got = json.loads(line)
    return got["udp"], got["tcp_flags"]


@test
def stateful_replies(scope):
    cl = Cluster(scope)
    a_web, b_db = cl.pod("a-web"), cl.pod("b-db")
    # c-db: ingress from anyone, egress to no one; its replies still reach its clients
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-server, namespace: gamma}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress, Egress]
  ingress: [{}]
""")
    cl.check_matrix(lambda c, s, proto, port: c.name != "c-db", what="server without egress")
    cl.delete("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-server, namespace: gamma}
""")
    # without a policy an unsolicited datagram from b-db:53 reaches a-web (the
    # control: the injection works)
    # (the SYN-ACK is only looked at: whether a switch lets an unsolicited
    # SYN-ACK reach an unisolated pod is its own business)
    udp, _ = unsolicited(cl, a_web, b_db, 40053, 40080)
    check(len(udp) >= 1, "control: the unsolicited datagram did not arrive without any policy")
    # a-web isolated for ingress, nothing allowed: its own connections get their
    # replies, but nothing unsolicited comes in, however much it looks like a reply
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-web-closed, namespace: alpha}
spec:
  podSelector: {matchLabels: {id: a-web}}
  policyTypes: [Ingress]
""")
    cl.check_matrix(lambda c, s, proto, port: s.name != "a-web", what="a-web isolated")
    udp, tcp_flags = unsolicited(cl, a_web, b_db, 40054, 40081)
    check(udp == [], "an unsolicited datagram from b-db:53 reached the isolated a-web: %s" % udp)
    check(all(f & 0x12 != 0x12 for f in tcp_flags),
          "an unsolicited SYN-ACK from b-db:80 reached the isolated a-web (flags %s)" % tcp_flags)
    cl.sw.stop()


ALPHA_ONLY_INTO_BETA = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: alpha-only, namespace: beta}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}]}]
"""


@test
def established_connection_on_policy_change(scope):
    """Documented behaviour (docs/policy.md): a policy change judges
    established connections again at their next packet. One the new
    policies still allow goes on undisturbed; one they no longer allow is
    cut; new connections follow the new policies."""
    cl = Cluster(scope)
    a_web, b_db, c_web, b_web = cl.pod("a-web"), cl.pod("b-db"), cl.pod("c-web"), cl.pod("b-web")
    kept = {"a-web -> b-db pod IP": a_web.session(b_db.ip, 9000),
            "a-web -> b-db ClusterIP": a_web.session(b_db.cluster_ip, 9000)}
    cut = {"c-web -> b-web pod IP": c_web.session(b_web.ip, 9000),
           "c-web -> b-web ClusterIP": c_web.session(b_web.cluster_ip, 9000)}
    for what, s in list(kept.items()) + list(cut.items()):
        check(s.line("before") == "before", "%s: no echo before the policy" % what)
    cl.apply(ALPHA_ONLY_INTO_BETA)
    for what, s in kept.items():
        check(s.line("after") == "after", "%s: a connection the new policy allows was cut" % what)
    for what, s in cut.items():
        check(s.line("after", timeout=1.0) is None,
              "%s: a connection the new policy denies still works" % what)
    # new connections follow the policy
    check(c_web.session(b_web.ip, 9000).line("new", timeout=1.0) is None,
          "a new connection from gamma got into beta")
    check(a_web.session(b_web.ip, 9000).line("new") == "new", "a new connection from alpha was refused")
    cl.check_matrix(lambda c, s, proto, port: s.namespace != "beta" or c.namespace == "alpha")
    # the allowed ones are still up, seconds later
    for what, s in kept.items():
        check(s.line("later") == "later", "%s: the allowed connection died after the policy" % what)
    cl.sw.stop()


@test
def counters_and_explain(scope):
    cl = Cluster(scope)
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: beta}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-alpha, namespace: beta}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: gamma}
spec: {podSelector: {}, policyTypes: [Egress]}
""")

    def expected(c, s, proto, port):
        if c.namespace == "gamma":
            return False
        if s.namespace == "beta":
            return s.app == "web" and c.namespace == "alpha"
        return True
    got = cl.check_matrix(expected)
    # every denied probe sent at least one packet, each dropped and counted
    denied_in = sum(1 for (c, s, p, port, v) in got if cl.pod(c).namespace != "gamma"
                    and not expected(cl.pod(c), cl.pod(s), p, port))
    denied_out = sum(1 for (c, s, p, port, v) in got if cl.pod(c).namespace == "gamma")
    drops = cl.stats()["drops"]
    check(drops.get("policy_ingress", 0) >= denied_in and drops.get("policy_egress", 0) >= denied_out,
          "stats -o json: policy_ingress %s (>= %d expected), policy_egress %s (>= %d expected)"
          % (drops.get("policy_ingress"), denied_in, drops.get("policy_egress"), denied_out))
    table = {w[0]: w[1] for w in (line.split() for line in cl.ctl("stats").stdout.splitlines())
             if len(w) == 2}
    check(int(table.get("policy_ingress", 0)) > 0 and int(table.get("policy_egress", 0)) > 0,
          "podswitchctl stats does not show the policy drops")
    sig = cl.sw.stats()
    check(sig.get("drop.policy_ingress", 0) > 0 and sig.get("drop.policy_egress", 0) > 0,
          "SIGUSR1 counters lack the policy drops")

    # per-policy connection counters: the stored objects with a status {selected, allowed, denied}
    items = json.loads(cl.ctl("get", "networkpolicies", "-A", "-o", "json").stdout)
    pols = {"%s/%s" % (i["metadata"]["namespace"], i["metadata"]["name"]): i["status"] for i in items}
    check(sorted(pols) == ["beta/deny-ingress", "beta/web-from-alpha", "gamma/deny-egress"],
          "get networkpolicies: %s" % sorted(pols))
    for key, i in pols.items():
        check(isinstance(i.get("allowed"), int) and isinstance(i.get("denied"), int),
              "%s has no allowed/denied counters: %s" % (key, json.dumps(i)[:400]))
    check(pols["beta/deny-ingress"]["denied"] > 0, "beta/deny-ingress denied nothing")
    check(pols["beta/deny-ingress"]["allowed"] == 0,
          "beta/deny-ingress has no rule but counts allowed connections")
    check(pols["gamma/deny-egress"]["denied"] > 0, "gamma/deny-egress denied nothing")
    check(pols["beta/web-from-alpha"]["allowed"] > 0, "beta/web-from-alpha allowed nothing")

    # explain: text, first line "allowed ..." or "denied ...", naming the policy
    text = cl.explain("alpha/a-db", "beta/b-db", "tcp/80")
    check(text.startswith("denied") and "beta/deny-ingress" in text,
          "explain alpha/a-db beta/b-db tcp/80:\n%s" % text)
    text = cl.explain("alpha/a-web", "beta/b-web", "tcp/80")
    check(text.startswith("allowed") and "beta/web-from-alpha" in text,
          "explain alpha/a-web beta/b-web tcp/80:\n%s" % text)

    def explain(src, dst, pp):
        e = cl.explain(src, dst, pp, json_out=True)
        check(isinstance(e.get("allowed"), bool) and isinstance(e.get("ingress"), dict)
              and isinstance(e.get("egress"), dict)
              and isinstance(e["ingress"].get("isolated"), bool)
              and isinstance(e["egress"].get("isolated"), bool),
              "explain %s %s %s -o json: %s" % (src, dst, pp, e))
        return e

    # -o json: {"allowed", "egress": {...}, "ingress": {...}}; a direction has
    # "isolated", "isolated_by" (the policies selecting the pod for it) and, when
    # a rule allowed it, "policy" ("ns/name") and "rule" (its index)
    # denied by ingress isolation: no allowing rule; the isolating policy is named
    for src, dst, pp in [("alpha/a-db", "beta/b-db", "tcp/80"),
                         ("alpha/a-db", "service/beta/b-db", "tcp/80"),
                         (cl.pod("a-db").ip, cl.pod("b-db").ip, "udp/53")]:
        e = explain(src, dst, pp)
        check(e["allowed"] is False and e["ingress"]["isolated"] is True and e["egress"]["isolated"] is False
              and e["ingress"].get("policy") is None and "beta/deny-ingress" in e["ingress"].get("isolated_by", []),
              "explain %s %s %s: %s" % (src, dst, pp, e))
    # allowed by a rule: the policy and the rule's index
    for src, dst, pp in [("alpha/a-web", "beta/b-web", "tcp/80"),
                         ("alpha/a-web", "service/beta/b-web", "udp/5353"),
                         (cl.pod("a-db").ip, cl.pod("b-web").ip, "tcp/8080")]:
        e = explain(src, dst, pp)
        check(e["allowed"] is True and e["ingress"]["isolated"] is True
              and e["ingress"].get("policy") == "beta/web-from-alpha" and e["ingress"].get("rule") == 0
              and sorted(e["ingress"].get("isolated_by", [])) == ["beta/deny-ingress", "beta/web-from-alpha"],
              "explain %s %s %s: %s" % (src, dst, pp, e))
    # denied by egress isolation
    e = explain("gamma/c-web", "alpha/a-web", "tcp/80")
    check(e["allowed"] is False and e["egress"]["isolated"] is True and e["ingress"]["isolated"] is False
          and e["egress"].get("isolated_by") == ["gamma/deny-egress"], "explain gamma/c-web alpha/a-web: %s" % e)
    # no policy either side
    e = explain("alpha/a-web", "alpha/a-db", "udp/5353")
    check(e["allowed"] is True and e["ingress"]["isolated"] is False and e["egress"]["isolated"] is False,
          "explain alpha/a-web alpha/a-db: %s" % e)
    # the connections the matrix opened remember the policy that allowed them
    b_web = cl.pod("b-web")
    conns = json.loads(cl.ctl("get", "conntrack", b_web.ip, "-o", "json").stdout)
    check(any(c.get("ingress_policy") == "beta/web-from-alpha" for c in conns),
          "get conntrack %s: no connection records beta/web-from-alpha: %s" % (b_web.ip, conns[:3]))
    check("in:beta/web-from-alpha" in cl.ctl("get", "conntrack", b_web.ip).stdout,
          "get conntrack table lacks the POLICY column")
    cl.sw.stop()


def scale_objects(n_ns=10, n_pods=1000, n_pol=10000):
    """Namespaces scale-0..9, Pods with addresses in 10.246.0.0/16 (not attached:
    outside the pod CIDR), and NetworkPolicies of every shape selecting them."""
    objs = [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "scale-%d" % n, "labels": {"team": "t%d" % n, "tier": "x%d" % (n % 3)}}}
            for n in range(n_ns)]
    roles = ["frontend", "backend", "cache"]
    for i in range(n_pods):
        ip = "10.246.%d.%d" % (i // 200, i % 200 + 1)
        objs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "p-%d" % i, "namespace": "scale-%d" % (i % n_ns),
                                  "labels": {"app": "app-%d" % (i % 20), "role": roles[i % 3],
                                             "id": "p-%d" % i}},
                     "spec": {"containers": [{"name": "c", "ports": [
                         {"name": "http", "containerPort": 8000 + i % 7},
                         {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
                     "status": {"podIP": ip, "podIPs": [{"ip": ip}]}})
    for j in range(n_pol):
        shape = j % 5
        sel = [{"matchLabels": {"app": "app-%d" % (j % 20)}},
               {"matchExpressions": [{"key": "role", "operator": "In", "values": [roles[j % 3]]}]},
               {"matchLabels": {"id": "p-%d" % ((j * 7) % n_pods)}},
               {},
               {"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["cache"]}]}][shape]
        peers = [[{"podSelector": {"matchLabels": {"role": roles[(j + 1) % 3]}}}],
                 [{"namespaceSelector": {"matchLabels": {"team": "t%d" % (j % n_ns)}}}],
                 [{"namespaceSelector": {"matchLabels": {"tier": "x%d" % (j % 3)}},
                   "podSelector": {"matchLabels": {"app": "app-%d" % ((j + 3) % 20)}}}],
                 [{"ipBlock": {"cidr": "10.246.0.0/16", "except": ["10.246.%d.0/24" % (j % 5)]}}],
                 [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
                  {"ipBlock": {"cidr": "10.246.%d.0/24" % (j % 5)}}]][(j // 5) % 5]
        ports = [[{"port": 8000 + j % 7}],
                 [{"port": "http"}],
                 [{"protocol": "UDP", "port": 53}, {"port": 1000, "endPort": 2000}],
                 []][j % 4]
        spec = {"podSelector": sel, "ingress": [{"from": peers, "ports": ports}]}
        if j % 3 == 0:
            spec["policyTypes"] = ["Ingress", "Egress"]
            spec["egress"] = [{"to": peers, "ports": ports}]
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "np-%d" % j, "namespace": "scale-%d" % (j % n_ns)},
                     "spec": spec})
    return objs


@test
def scale_10k_policies(scope):
    cl = Cluster(scope, namespaces={"local": {"team": "local"}},
                 pods=[("local", "l-src", "web"), ("local", "l-dst", "web"), ("local", "l-target", "db")])
    src, dst, target = cl.pod("l-src"), cl.pod("l-dst"), cl.pod("l-target")
    objs = scale_objects()
    path = scope.path("scale.json")
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objs}, f, separators=(",", ":"))
    size = os.path.getsize(path)
    t0 = time.time()
    r = cl.ctl("apply", "-f", path)
    big_apply = time.time() - t0
    check(len(r.stdout.splitlines()) == len(objs), "apply answered %d lines for %d objects"
          % (len(r.stdout.splitlines()), len(objs)))
    # the local pods are selected by no policy: all open
    cl.check_matrix(everything, what="10,000 policies on other pods")

    # a continuous stream l-src -> l-dst, 1000 datagrams a second, must lose nothing
    sink = dst.agent("sink", json.dumps({"port": 7000}), stdin=subprocess.PIPE)
    check(read_line(sink.stdout, 10) == "ready", "the sink did not start")
    stream = src.agent("stream", json.dumps({"addr": dst.ip, "port": 7000, "pps": 1000}),
                       stdin=subprocess.PIPE)
    check(read_line(stream.stdout, 10) == "ready", "the stream did not start")
    # l-src probes l-target (UDP 53, a new flow every 5 ms) until 20 in a row fail
    ports = cl.sports(3000)
    watch = src.agent("watch", json.dumps({"addr": target.ip, "port": 53, "sport": ports[0],
                                           "interval": 0.005, "timeout": 0.05, "losses": 20,
                                           "max": 12}))
    check(read_line(watch.stdout, 10) == "ready", "the watcher did not start")
    time.sleep(0.5)
    t0 = time.time()
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-target, namespace: local}
spec:
  podSelector: {matchLabels: {id: l-target}}
  policyTypes: [Ingress]
""", settle=0)
    one_apply = time.time() - t0
    line = read_line(watch.stdout, 20)
    check(line is not None, "the watcher gave no result")
    probes = json.loads(line)
    time.sleep(0.2)
    stream.stdin.close()
    sent = json.loads(read_line(stream.stdout, 10))["sent"]
    time.sleep(0.2)
    sink.stdin.close()
    received = json.loads(read_line(sink.stdout, 10))["received"]

    before = [ok for t, ok in probes if t < t0 - 0.06]
    in_force = len(probes) >= 20 and not any(ok for t, ok in probes[-20:])
    last_ok = max([t for t, ok in probes if ok] + [t0])
    effect = min([t for t, ok in probes if not ok and t > last_ok] + [float("inf")]) - t0
    print("  apply of %d Namespaces, %d Pods, %d NetworkPolicies (one List, %.1f MB): %.2f s"
          % (sum(o["kind"] == "Namespace" for o in objs), sum(o["kind"] == "Pod" for o in objs),
             sum(o["kind"] == "NetworkPolicy" for o in objs), size / 1e6, big_apply))
    print("  one more policy with 10,000 in place: apply returned in %.0f ms, in force %s after"
          " the apply started; stream at 1000 pps: %d sent, %d lost"
          % (one_apply * 1000, "%.0f ms" % (effect * 1000) if in_force else "NOT", sent, sent - received))
    # (a probe waits 50 ms for its answer: on a loaded machine one may miss)
    check(len(before) >= 20 and sum(before) >= 0.9 * len(before),
          "before the policy, only %d of %d probes of l-target answered" % (sum(before), len(before)))
    check(in_force, "l-target still answered 12 s after the deny policy was applied")
    check(sent >= 1000, "the stream sent only %d datagrams" % sent)
    check(received == sent, "the stream l-src -> l-dst lost %d of %d datagrams while the policy was applied"
          % (sent - received, sent))
    cl.check_matrix(lambda c, s, proto, port: s.name != "l-target", what="l-target denied")
    cl.sw.stop()


@test
def external_clients_and_node_traffic(scope):
    """An external client on the uplink (192.168.50.2; the node is 192.168.50.1).
    NodePort with externalTrafficPolicy Cluster is masqueraded to the node's
    address, but judged on the original client, which the connection
    remembers (masquerade is no way past a backend's ingress policy). With
    Local the client's own address is kept and judged like any peer
    (ipBlock). Egress to an external address obeys ipBlock with except."""
    ext, conf = external_client(scope)
    ext.ip("route add %s via 192.168.50.1" % POD_CIDR)      # pods reach it unmasqueraded
    cl = Cluster(scope, conf=conf)
    a_web, b_web = cl.pod("a-web"), cl.pod("b-web")
    srv = ext.popen("exec socat -t 5 TCP-LISTEN:7000,fork,reuseaddr SYSTEM:'echo ext; cat >/dev/null'")
    scope.defer(lambda: kill_group(srv))
    time.sleep(0.3)
    check(cl.probe(b_web, "192.168.50.2", "tcp", 7000) == "ext", "b-web cannot reach the external server")

    def nodeport(policy):
        cl.apply("""apiVersion: v1
kind: Service
metadata: {name: np, namespace: alpha}
spec: {type: NodePort, externalTrafficPolicy: %s, selector: {id: a-web}, ports: [{port: 80, targetPort: 80}]}
""" % policy)
        svc = json.loads(run([polmatrix.CTL, "-s", cl.sock, "get", "svc", "np", "-n", "alpha", "-o",
                              "json"]).stdout)
        r = ext.sh("socat -T 2 - TCP:192.168.50.1:%d,connect-timeout=2 </dev/null"
                   % svc["spec"]["ports"][0]["nodePort"], check_rc=False, timeout=10)
        return r.stdout.strip()

    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-web-closed, namespace: alpha}
spec: {podSelector: {matchLabels: {id: a-web}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-web-out, namespace: beta}
spec:
  podSelector: {matchLabels: {id: b-web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 192.168.50.0/24, except: [192.168.50.2/32]}}]}]
""")
    check(nodeport("Cluster") == "", "NodePort (Cluster, masqueraded) reached a pod that allows nothing")
    check(nodeport("Local") == "", "NodePort (Local, client address kept) reached a pod that allows nothing")
    check(cl.probe(b_web, "192.168.50.2", "tcp", 7000) != "ext", "egress to an excepted address got out")
    cl.apply("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-outside, namespace: alpha}
spec:
  podSelector: {matchLabels: {id: a-web}}
  ingress: [{from: [{ipBlock: {cidr: 192.168.50.0/24}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-web-out, namespace: beta}
spec:
  podSelector: {matchLabels: {id: b-web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 192.168.50.0/24}}]}]
""")
    check(nodeport("Local") == "a-web", "NodePort (Local) from an allowed ipBlock refused")
    check(nodeport("Cluster") == "a-web", "NodePort (Cluster, masqueraded) from an allowed ipBlock refused")
    check(cl.probe(b_web, "192.168.50.2", "tcp", 7000) == "ext", "egress to an allowed ipBlock refused")
    check(cl.probe(b_web, a_web.ip, "tcp", 80) != "a-web", "b-web got out to a pod its egress does not list")
    cl.sw.stop()


@test
def connections_from_before_any_policy_server_speaks_first(scope):
    """Connections open before any policy existed are not tracked; after a
    change the first packet seen may be the server's. It must be allowed
    both as what it is and as the client's connection to the server (the
    lower port is taken as the server's): a new deny into the server cuts
    the connection, an allowed one goes on (docs/policy.md)."""
    cl = Cluster(scope)
    a_web, b_db, c_web, b_web = cl.pod("a-web"), cl.pod("b-db"), cl.pod("c-web"), cl.pod("b-web")
    procs = []
    for srv in (b_db, b_web):             # servers that speak first: a line every 0.1 s
        procs.append(srv.ns.popen("exec socat -t 5 TCP-LISTEN:9101,fork,reuseaddr "
                                  "SYSTEM:'while echo tick; do sleep 0.1; done'"))
    time.sleep(0.3)

    def session(client, server):
        p = client.ns.popen("exec socat -u TCP:%s:9101 -" % server.ip, stdout=subprocess.PIPE)
        procs.append(p)
        return p

    kept = session(a_web, b_db)           # alpha -> beta: still allowed after the change
    cut = session(c_web, b_web)           # gamma -> beta: denied after the change
    for what, p in (("a-web <- b-db", kept), ("c-web <- b-web", cut)):
        check(read_line(p.stdout, 3) == "tick", "%s: no tick before any policy" % what)
    try:
        cl.apply(ALPHA_ONLY_INTO_BETA)
        end = time.time() + 0.5              # lines already on their way
        while time.time() < end:
            read_line(cut.stdout, 0.1)
            read_line(kept.stdout, 0.1)
        check(read_line(cut.stdout, 1.5) is None,
              "c-web still gets b-web's lines: the deny into beta did not cut a connection whose "
              "server spoke first")
        got = [read_line(kept.stdout, 1.0) for _ in range(5)]
        check(got == ["tick"] * 5, "a-web's connection to b-db, still allowed, lost b-db's lines: %s" % got)
    finally:
        for p in procs:
            kill_group(p)
    cl.sw.stop()


@test
def nothing_left_behind(scope):
    """Runs last: every pod namespace the tests above made is gone, and no
    process they started (servers, probes, socat) is still running."""
    now = {line.split()[0] for line in run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()}
    left = sorted(now & set(polmatrix.CREATED_NETNS))
    check(not left, "network namespaces left behind: %s" % " ".join(left))
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z":
            procs.append("%s %s" % (pid, cmd[:80]))
    check(not procs, "processes left running: %s" % "; ".join(procs))


if __name__ == "__main__":
    main()
