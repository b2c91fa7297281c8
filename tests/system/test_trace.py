#!/usr/bin/python3
"""System tests of `podswitchctl trace`: namespace pods attached through the
CNI plugin, a Service and a NetworkPolicy applied with podswitchctl, real
clients; the trace of a real packet names the backend chosen (after DNAT),
the policy and rule that allowed it, or the drop reason. Then what an
adversary would try: a flood while armed, a filter matching everything,
a port removed while traced, many traces at once, a client killed."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import BUILD, Netns, Switch, check, cni_call, cni_conf, main, ping, run, test  # noqa: E402
from nodetest import TwoNodes  # noqa: E402

CTL = os.path.join(BUILD, "switch", "podswitchctl")


def apply(sw, scope, yaml_text):
    path = scope.path("m%d.yaml" % time.time_ns())
    with open(path, "w") as f:
        f.write(yaml_text)
    return run([CTL, "-s", sw.sock, "apply", "-f", path])


class Pod:
    """A namespace pod attached through the CNI plugin."""

    def __init__(self, scope, sw, name, labels=None):
        self.ns = Netns(scope)
        self.name = name
        self.sw = sw
        self.cid = "ctr-" + name
        rc, out = cni_call("ADD", cni_conf(sw.sock), container_id=self.cid,
                           netns="/run/netns/" + self.ns.name,
                           args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s" % name)
        check(rc == 0, "ADD %s: %s" % (name, out))
        self.ip = out["ips"][0]["address"].split("/")[0]
        apply(sw, scope, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"containers": [{"name": "c"}]}}))
        scope.defer(self.delete)

    def delete(self):
        cni_call("DEL", cni_conf(self.sw.sock), container_id=self.cid)

    def serve_tcp(self, port):
        p = self.ns.popen("exec socat -t 5 TCP-LISTEN:%d,fork,reuseaddr SYSTEM:'echo %s; cat >/dev/null'" % (port, self.name))
        self.ns.wait_listening(port)
        return p

    def tcp(self, addr, port, timeout=3):
        r = self.ns.sh("socat -T %d - TCP:%s:%d,connect-timeout=%d </dev/null" % (timeout, addr, port, timeout),
                       check_rc=False, timeout=timeout + 5)
        return r.stdout.strip(), r.returncode


SETUP = """apiVersion: v1
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
  ingress:
  - from: [{podSelector: {matchLabels: {role: other}}}]
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080}]
"""


def service_setup(scope, workers="[1]"):
    sw = Switch(scope, "", workers=workers).start()
    web = Pod(scope, sw, "web-0", labels={"app": "web"})
    client = Pod(scope, sw, "client", labels={"role": "client"})
    stranger = Pod(scope, sw, "stranger")
    web.serve_tcp(8080)
    apply(sw, scope, SETUP)
    svc = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "web", "-o", "json"]).stdout)
    return sw, web, client, stranger, svc["spec"]["clusterIP"]


def last_id(sw):
    r = sw.api("trace.poll", {"from": 1000})
    return r["result"]["id"] if r.get("ok") else 0


def trace_bg(sw, *args):
    """podswitchctl trace in the background; returns once the trace is armed."""
    before = last_id(sw)
    p = subprocess.Popen([CTL, "-s", sw.sock, "trace"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    end = time.time() + 10
    while time.time() < end:
        r = sw.api("trace.poll", {"from": 1000})
        if r.get("ok") and r["result"]["id"] > before and r["result"]["armed"]:
            return p
        if p.poll() is not None:
            raise AssertionError("trace exited at once: %s %s" % p.communicate())
        time.sleep(0.05)
    raise AssertionError("the trace was never armed")


def finish(p, timeout=20):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


@test
def trace_of_a_clusterip_packet_shows_backend_and_policy(scope):
    sw, web, client, stranger, vip = service_setup(scope)
    p = trace_bg(sw, "--filter", "tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0 and src host " + client.ip,
                 "--json")
    out, rc = client.tcp(vip, 80)
    check(rc == 0 and out == "web-0", "connection through the Service: %r %d" % (out, rc))
    rc, out, err = finish(p)
    check(rc == 0, "trace failed (%d): %s" % (rc, err))
    res = json.loads(out)
    check(res["traced"] == 1 and len(res["records"]) == 1, "one record: %s" % out[:2000])
    r = res["records"][0]
    svc = r.get("service")
    check(svc is not None and svc["name"] == "default/web" and svc["address"] == vip and svc["port"] == 80,
          "the Service: %s" % json.dumps(r, indent=1))
    check(svc["backend"] == {"address": web.ip, "port": 8080}, "the backend after DNAT: %s" % svc)
    pol = r.get("policy", {})
    check(pol.get("ingress", {}).get("policy") == "default/web-from-clients" and pol["ingress"]["rule"] == 1,
          "the allowing policy and rule: %s" % json.dumps(pol))
    check(r["verdict"]["action"] == "tx", "verdict: %s" % r["verdict"])
    stages = [s["stage"] for s in r["stages"]]
    check(stages == ["rx", "parse", "guard", "conntrack", "service", "policy", "forward"],
          "stages: %s" % stages)
    service = r["stages"][4]
    check(vip in service["headers_before"] and "%s:8080" % web.ip in service["headers"],
          "NAT before/after: %s" % service)
    # the same as text
    p = trace_bg(sw, "--filter", "tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0")
    out, rc = client.tcp(vip, 80)
    rc, out, err = finish(p)
    check(rc == 0, "trace failed (%d): %s" % (rc, err))
    for want in ("Packet 1 of 1", "Service default/web (%s:80 TCP): backend %s:8080, DNAT" % (vip, web.ip),
                 "ingress allowed by default/web-from-clients ingress rule 1", "conntrack  miss", "verdict    sent on"):
        check(want in out, "%r not in:\n%s" % (want, out))
    sw.stop()


@test
def trace_of_a_denied_packet_names_the_drop_reason(scope):
    sw, web, client, stranger, vip = service_setup(scope)
    p = trace_bg(sw, "--filter", "tcp and src host " + stranger.ip, "--json")
    out, rc = stranger.tcp(vip, 80, timeout=1)
    check(rc != 0, "the stranger got through: %r" % out)
    rc, out, err = finish(p)
    check(rc == 0, "trace failed (%d): %s" % (rc, err))
    r = json.loads(out)["records"][0]
    check(r["verdict"]["action"] == "drop" and r["verdict"]["reason"] == "policy_ingress",
          "verdict: %s" % r["verdict"])
    ing = r["policy"]["ingress"]
    check(ing["isolated_by"] == ["default/web-from-clients"] and not ing["allowed"], "policy: %s" % r["policy"])
    check(r["service"]["backend"]["address"] == web.ip, "DNAT before the policy: %s" % r.get("service"))
    # text: the reason and its explanation
    p = trace_bg(sw, "--filter", "tcp and src host " + stranger.ip)
    stranger.tcp(vip, 80, timeout=1)
    rc, out, err = finish(p)
    check("dropped: policy_ingress (NetworkPolicy: no ingress rule of the destination pod allows it)" in out
          and "isolated by default/web-from-clients; no rule allows it" in out, "text:\n%s" % out)
    sw.stop()


@test
def a_filter_matching_nothing_times_out_clearly(scope):
    sw = Switch(scope, "").start()
    t0 = time.time()
    r = run([CTL, "-s", sw.sock, "trace", "--filter", "udp port 9", "--timeout", "1"], check_rc=False)
    took = time.time() - t0
    check(r.returncode == 1 and r.stdout == "", "rc %d, out %r" % (r.returncode, r.stdout))
    check("timed out: 0 of 1 packets matched the filter 'udp port 9' within 1 s; the trace is disarmed"
          in r.stderr, "message: %r" % r.stderr)
    check(took < 8, "took %.1f s" % took)
    # disarmed: another trace starts at once
    res = sw.ok("trace.start", {"filter": "udp port 9"})
    sw.ok("trace.stop", {"id": res["id"]})
    # a switch stopped with a trace armed stops cleanly (sanitizers: nothing leaked)
    sw.ok("trace.start", {"filter": "udp port 9", "timeout": 60})
    t0 = time.time()
    sw.stop()
    check(time.time() - t0 < 10, "the stop took %.1f s" % (time.time() - t0))


@test
def trace_disarms_after_n_and_shows_the_switchs_answers(scope):
    sw = Switch(scope, "").start()
    a = Pod(scope, sw, "a")
    p = trace_bg(sw, "--filter", "icmp", "-c", "2", "--json")
    a.ns.sh("ping -c 5 -i 0.2 -W 1 10.244.0.1")
    rc, out, err = finish(p)
    check(rc == 0, "trace: %d %s" % (rc, err))
    res = json.loads(out)
    check(res["traced"] == 2 and len(res["records"]) == 2, "two records: %s" % out[:1500])
    for r in res["records"]:
        guard = [s for s in r["stages"] if s["stage"] == "guard"][0]
        check("answered by the switch (echo_reply)" in guard["decision"], "guard: %s" % guard)
        check(r["verdict"]["action"] == "tx", "verdict %s" % r["verdict"])
    # disarmed: the old id is over, a new trace starts
    r = sw.api("trace.poll", {"id": res["id"]})
    check(r["ok"] and r["result"]["armed"] is False and r["result"]["traced"] == 2, "poll: %s" % r)
    res2 = sw.ok("trace.start", {"filter": "icmp"})
    sw.ok("trace.stop", {"id": res2["id"]})
    sw.stop()


@test
def bad_input_is_refused_naming_it(scope):
    sw = Switch(scope, "").start()
    cases = [
        (["-c", "0"], "count must be a number from 1 to 64"),
        (["-c", "65"], "count must be a number from 1 to 64"),
        (["-c", "x"], "-c 'x' is not a number"),
        (["--port", "nosuch"], "unknown port 'nosuch'"),
        (["--filter", "tcp port"], "filter 'tcp port': "),
        (["--filter", "frobnicate 7"], "filter 'frobnicate 7': "),
        (["--timeout", "0"], "timeout must be from 1 to 3600 seconds"),
        (["--filter", "x" * 300], "filter is longer than 255 characters"),
        (["stray"], "unexpected 'stray'"),
    ]
    for args, want in cases:
        r = run([CTL, "-s", sw.sock, "trace"] + args, check_rc=False)
        check(r.returncode != 0 and want in r.stderr, "%s: rc %d %r" % (args, r.returncode, r.stderr))
    # nothing armed by any of them
    res = sw.ok("trace.start", {})
    sw.ok("trace.stop", {"id": res["id"]})
    r = sw.api("trace.poll", {"id": 12345})
    check(not r["ok"] and "no trace 12345" in r["error"]["message"], "unknown id: %s" % r)
    sw.stop()


REVERSED_FRAGMENTS = r"""
import socket, sys, time
from scapy.all import IP, Raw, UDP, fragment
src, dst = sys.argv[1], sys.argv[2]
frags = fragment(IP(src=src, dst=dst, id=4321) / UDP(sport=40123, dport=53) / Raw(b"x" * 2000), fragsize=1400)
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for f in reversed(frags):
    tx.sendto(bytes(f), (dst, 0))
    time.sleep(0.05)
"""


@test
def a_fragment_held_then_released_shows_both(scope):
    sw = Switch(scope, "").start()
    echo = Pod(scope, sw, "echo", labels={"app": "rev"})
    client = Pod(scope, sw, "client")
    echo.ns.popen("exec socat UDP-RECVFROM:5353,fork,reuseaddr SYSTEM:cat")
    apply(sw, scope, """apiVersion: v1
kind: Service
metadata: {name: rev}
spec: {selector: {app: rev}, ports: [{port: 53, targetPort: 5353, protocol: UDP}]}
""")
    vip = json.loads(run([CTL, "-s", sw.sock, "get", "svc", "rev", "-o", "json"]).stdout)["spec"]["clusterIP"]
    script = scope.path("reversed.py")
    with open(script, "w") as f:
        f.write(REVERSED_FRAGMENTS)
    p = trace_bg(sw, "--filter", "ip[6:2] & 0x3fff != 0 and dst host " + vip, "-c", "2", "--json")
    client.ns.sh("/usr/bin/python3 %s %s %s" % (script, client.ip, vip), timeout=30)
    rc, out, err = finish(p)
    check(rc == 0, "trace: %d %s" % (rc, err))
    recs = json.loads(out)["records"]
    check(len(recs) == 3, "held, first, released: %s" % json.dumps(recs, indent=1)[:3000])
    held, first, again = recs
    check(held["verdict"]["action"] == "hold" and "fragment hold" in held["verdict"]["text"],
          "the later fragment held: %s" % held["verdict"])
    check(first["verdict"]["action"] == "tx" and first["service"]["backend"]["address"] == echo.ip,
          "the first fragment DNAT-ed: %s" % first.get("service"))
    check(again["released"] and again["packet"] == held["packet"] and again["verdict"]["action"] == "tx",
          "the held one traced again when released: %s" % again["verdict"])
    check("released from the fragment hold" in again["stages"][0]["decision"], "rx: %s" % again["stages"][0])
    sw.stop()


@test
def vxlan_encapsulation_decapsulation_and_a_punt_to_resolve(scope):
    c = TwoNodes(scope, "vxlan")
    a, b = c.sw["a"], c.sw["b"]
    sent, got = ping(c.pods["a"], "10.244.2.5", count=1)
    check(got == 1, "the pods do not reach each other")
    pa = trace_bg(a, "--filter", "icmp[icmptype] == icmp-echo and dst host 10.244.2.5", "--json")
    pb = trace_bg(b, "--filter", "udp port 4789", "--port", "up", "--json")
    ping(c.pods["a"], "10.244.2.5", count=1)
    (rca, outa, erra), (rcb, outb, errb) = finish(pa), finish(pb)
    check(rca == 0 and rcb == 0, "traces: %s %s" % (erra, errb))
    ra, rb = json.loads(outa)["records"][0], json.loads(outb)["records"][0]
    fwd = [s for s in ra["stages"] if s["stage"] == "forward"][0]
    check("encapsulated in VXLAN to 192.168.88.2" in fwd["decision"] and fwd["encapsulation"] == "vxlan",
          "node-a's forward: %s" % fwd)
    check("VXLAN vni" in fwd["headers"], "the outer headers: %s" % fwd["headers"])
    tun = [s for s in rb["stages"] if s["stage"] == "tunnel"]
    check(tun and "outer headers removed" in tun[0]["decision"] and "10.244.1.5" in tun[0]["headers"],
          "node-b's tunnel stage: %s" % rb["stages"])
    check(rb["verdict"]["action"] == "tx" and rb["in_port"] == "up", "node-b's verdict: %s" % rb)
    # a host on the uplink's subnet not known yet: the first packet waits for its MAC
    p = trace_bg(a, "--filter", "icmp and dst host 192.168.88.100", "--json")
    ping(c.pods["a"], "192.168.88.100", count=1)
    rc, out, err = finish(p)
    r = json.loads(out)["records"][0]
    check(r["verdict"]["action"] == "punt" and r["verdict"]["punt"].startswith("resolve"),
          "the first packet to an unknown neighbour: %s" % json.dumps(r, indent=1)[:3000])
    for sw in c.sw.values():
        sw.stop()


@test
def trace_and_capture_at_once_see_the_same_ping(scope):
    sw = Switch(scope, "").start()
    a = Pod(scope, sw, "a")
    b = Pod(scope, sw, "b")
    ping(a.ns, b.ip, count=1)
    port = "cni-ctr-a-eth0"
    cap = subprocess.Popen([CTL, "-s", sw.sock, "capture", port, "-c", "2", "-w", scope.path("a.pcapng"), "icmp"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.time() + 10
    while time.time() < end and not any(c["port"] == port for c in sw.ok("status").get("captures", [])):
        time.sleep(0.02)
    p = trace_bg(sw, "--filter", "icmp", "-c", "2", "--json")
    sent, got = ping(a.ns, b.ip, count=1)
    check(got == 1, "the ping was lost with capture and trace on")
    rc, out, err = finish(p)
    check(rc == 0, "trace: %s" % err)
    recs = json.loads(out)["records"]
    check([r["in_port"] for r in recs] == [port, "cni-ctr-b-eth0"] and
          all(r["verdict"]["action"] == "tx" for r in recs), "request and reply traced: %s" % recs)
    _, err = cap.communicate(timeout=10)
    check(cap.returncode == 0, "capture: %s" % err)
    n = run(["tshark", "-r", scope.path("a.pcapng")]).stdout.strip().splitlines()
    check(len(n) == 2, "capture holds the request and the reply: %s" % n)
    sw.stop()


# ---------------------------------------------------------------- adversary


@test
def a_flood_while_armed_with_a_filter_matching_everything(scope):
    sw = Switch(scope, "", workers="[0, 1]").start()
    a = Pod(scope, sw, "a")
    b = Pod(scope, sw, "b")
    srv = b.ns.popen("exec iperf3 -s -1")
    b.ns.wait_listening(5201)
    flood = a.ns.popen("exec iperf3 -c %s -u -b 0 -l 64 -t 4" % b.ip)
    time.sleep(1)
    for _ in range(3):
        rc, out, err = finish(subprocess.Popen([CTL, "-s", sw.sock, "trace", "-c", "64", "--json"],
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        check(rc == 0, "trace under flood: %d %s" % (rc, err))
        res = json.loads(out)
        check(res["traced"] == 64 and len(res["records"]) == 64 and res["lost"] == 0,
              "64 records: traced %d, %d records, lost %d" % (res["traced"], len(res["records"]), res["lost"]))
        check(sorted(r["packet"] for r in res["records"]) == list(range(1, 65)), "packet numbers")
    flood.wait(20)
    srv.wait(10)
    st = sw.ok("stats")
    check(st["drops"]["unhandled"] == 0, "no packet left undecided: %s" % st["drops"])
    sw.stop()


@test
def many_traces_at_once_one_arms(scope):
    sw = Switch(scope, "").start()
    procs = [subprocess.Popen([CTL, "-s", sw.sock, "trace", "--filter", "udp port 9", "--timeout", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(12)]
    results = [finish(p) for p in procs]
    running = [r for r in results if "already running" in r[2]]
    timed_out = [r for r in results if "timed out" in r[2]]
    check(len(timed_out) == 1 and len(running) == 11, "one armed, the others refused: %s" % results)
    res = sw.ok("trace.start", {})
    sw.ok("trace.stop", {"id": res["id"]})
    sw.stop()


@test
def a_killed_client_leaves_the_trace_to_its_timeout(scope):
    sw = Switch(scope, "").start()
    p = trace_bg(sw, "--filter", "udp port 9", "--timeout", "2")
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = sw.api("trace.start", {})
    check(not r["ok"] and "already running" in r["error"]["message"], "still armed: %s" % r)
    time.sleep(2.3)
    res = sw.ok("trace.start", {})
    sw.ok("trace.stop", {"id": res["id"]})
    # SIGINT: the client disarms on its way out
    p = trace_bg(sw, "--filter", "udp port 9", "--timeout", "30")
    p.send_signal(signal.SIGINT)
    rc, out, err = finish(p)
    check(rc == 1 and "interrupted: 0 of 1" in err, "interrupted: %d %r" % (rc, err))
    res = sw.ok("trace.start", {})
    sw.ok("trace.stop", {"id": res["id"]})
    sw.stop()


@test
def a_port_removed_while_traced_packets_are_in_flight(scope):
    sw = Switch(scope, "", workers="[0, 1]").start()
    a = Pod(scope, sw, "a")
    b = Pod(scope, sw, "b")
    pinger = a.ns.popen("exec ping -f -W 1 %s" % b.ip)
    time.sleep(0.3)
    p = subprocess.Popen([CTL, "-s", sw.sock, "trace", "-c", "64", "--filter", "icmp", "--json",
                          "--timeout", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            b.delete()
            rc, out = cni_call("ADD", cni_conf(sw.sock), container_id=b.cid, netns="/run/netns/" + b.ns.name,
                               args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=b")
    t = threading.Thread(target=churn)
    t.start()
    try:
        rc, out, err = finish(p)
    finally:
        stop.set()
        t.join(30)
    pinger.kill()
    check(rc in (0, 1) and out, "trace: %d %s" % (rc, err))
    res = json.loads(out)
    check(len(res["records"]) > 0, "records: %s" % out[:500])
    for r in res["records"]:
        check(r["stages"][0]["stage"] == "rx" and r["verdict"]["action"] in ("tx", "drop", "punt"),
              "record: %s" % r)
    check(sw.proc.poll() is None, "the switch died")
    sw.stop()


if __name__ == "__main__":
    main()
