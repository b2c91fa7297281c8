#!/usr/bin/python3
"""Component tests of /metrics (metrics.listen): the real binary on pcap
ports, frames in, a scrape parsed by Prometheus' own text parser
(python3-prometheus-client), its values compared with the frames sent and
with what `stats` says; refusals of a bad listen address."""
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import GW_MAC, PODSWITCH, Switch, check, main, run, test  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from scapy.all import IP, UDP, Ether, Raw, wrpcap  # noqa: E402

MAC_A, A4, B4 = "02:00:00:00:00:0a", "10.244.0.10", "10.244.0.11"


def empty_pcap(path):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conf(scope, listen):
    return """metrics = { listen = "%s"; };
ports = (
  { name = "p0"; kind = "pcap"; rx_pcap = "%s"; tx_pcap = "%s"; },
  { name = "p1"; kind = "pcap"; rx_pcap = "%s"; tx_pcap = "%s"; }
);
pods = (
  { name = "a"; port = "p0"; mac = "%s"; ip = "%s"; },
  { name = "b"; port = "p1"; mac = "02:00:00:00:00:0b"; ip = "%s"; }
);
""" % (listen, scope.path("in0.pcap"), scope.path("out0.pcap"), scope.path("in1.pcap"),
       scope.path("out1.pcap"), MAC_A, A4, B4)


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        check(r.status == 200, "status %s" % r.status)
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("text/plain; version=0.0.4"), "content type %r" % ctype)
        return r.read().decode()


def exchange(port, data, timeout=5, src="127.0.0.1"):
    """Send data on a new connection, read until the server closes it or
    timeout passes; returns (seconds taken, bytes read, whether it closed)."""
    t0 = time.time()
    out, closed = b"", False
    with socket.socket() as s:
        s.settimeout(timeout)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                out += chunk
        except socket.timeout:
            pass
    return time.time() - t0, out, closed


def metrics_switch(scope):
    """A switch on two empty pcap ports with /metrics; returns it and its port."""
    empty_pcap(scope.path("in0.pcap"))
    empty_pcap(scope.path("in1.pcap"))
    port = free_port()
    sw = Switch(scope, conf(scope, "127.0.0.1:%d" % port)).start()
    sw.wait_log("metrics on http://127.0.0.1:%d/metrics" % port)
    return sw, port


def samples(text):
    """{(name, frozenset(labels)): value}, and the families' types, from the parser."""
    out, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, types


def value(got, metric, **labels):
    key = (metric, frozenset(labels.items()))
    check(key in got, "no sample %s%s" % (metric, labels))
    return got[key]


@test
def scrape_matches_the_traffic(scope):
    """20 frames from pod a to pod b and 5 spoofed ones: the scrape says
    20 received... on p0 (25), 20 sent on p1, 5 dropped as spoof, the
    worker's counts, and agrees with stats; names and types follow
    Prometheus' conventions."""
    good = [Ether(src=MAC_A, dst=GW_MAC) / IP(src=A4, dst=B4) / UDP(sport=1000 + i, dport=53) / Raw(b"x" * 20)
            for i in range(20)]
    bad = [Ether(src=MAC_A, dst=GW_MAC) / IP(src="10.244.0.99", dst=B4) / UDP(sport=7, dport=53) / Raw(b"y" * 20)
           for _ in range(5)]
    wrpcap(scope.path("in0.pcap"), good + bad)
    empty_pcap(scope.path("in1.pcap"))
    port = free_port()
    sw = Switch(scope, conf(scope, "127.0.0.1:%d" % port)).start()
    sw.wait_log("metrics on http://127.0.0.1:%d/metrics" % port)
    url = "http://127.0.0.1:%d/metrics" % port
    end = time.time() + 15
    while time.time() < end and sw.stats().get("port.p0.rx", 0) < 25:
        time.sleep(0.1)
    got, types = samples(scrape(url))
    check(value(got, "podswitch_port_rx_packets_total", port="p0", kind="pcap") == 25, "p0 rx")
    check(value(got, "podswitch_port_tx_packets_total", port="p1", kind="pcap") == 20, "p1 tx")
    # 62-byte frames (14 + 20 + 8 + 20), routed without a change in length
    check(value(got, "podswitch_port_rx_bytes_total", port="p0", kind="pcap") == 25 * 62, "p0 rx bytes")
    check(value(got, "podswitch_port_tx_bytes_total", port="p1", kind="pcap") == 20 * 62, "p1 tx bytes")
    check(value(got, "podswitch_port_tx_bytes_total", port="p0", kind="pcap") == 0, "p0 tx bytes")
    check(value(got, "podswitch_drops_total", reason="spoof_ip") == 5,
          "spoof drops: %s" % {k: v for k, v in got.items() if k[0] == "podswitch_drops_total" and v})
    check(value(got, "podswitch_worker_rx_packets_total", worker="0", lcore="1") == 25, "worker rx")
    # idle cycles: the worker's time since it started less its busy cycles; it grows while nothing comes
    idle0 = value(got, "podswitch_worker_idle_cycles_total", worker="0", lcore="1")
    busy0 = value(got, "podswitch_worker_busy_cycles_total", worker="0", lcore="1")
    time.sleep(0.3)
    later, _ = samples(scrape(url))
    idle1 = value(later, "podswitch_worker_idle_cycles_total", worker="0", lcore="1")
    check(busy0 > 0 and idle0 > busy0, "an idle switch: idle %d, busy %d" % (idle0, busy0))
    check(idle1 - idle0 > 1e7, "idle cycles did not grow over 0.3 s: %d -> %d" % (idle0, idle1))
    check(value(later, "podswitch_worker_busy_cycles_total", worker="0", lcore="1") == busy0,
          "busy cycles moved with no traffic")
    check(value(got, "podswitch_up") == 1 and value(got, "podswitch_pods") == 2, "up, pods")
    # the parser names counter families without _total; their samples end in it
    for (sample, _), _ in got.items():
        check(sample.startswith("podswitch_"), "metric without the prefix: %s" % sample)
        family = sample[:-len("_total")] if sample.endswith("_total") else sample
        check(types.get(family) != "counter" or sample.endswith("_total"), "counter sample %s" % sample)
    check(types.get("podswitch_drops") == "counter" and types.get("podswitch_conntrack_entries") == "gauge",
          "types: %s" % types)
    # the same as stats, drop for drop
    st = sw.ok("stats")
    for reason, n in st["drops"].items():
        check(value(got, "podswitch_drops_total", reason=reason) == n, "drop %s: %s" % (reason, n))
    # only GET /metrics
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % port, timeout=5)
        check(False, "/other answered")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "/other: %s" % e.code)
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=5)
        check(False, "POST answered")
    except urllib.error.HTTPError as e:
        check(e.code == 405, "POST: %s" % e.code)
    # objects by kind, and the changes, after an apply and a refused one
    before, _ = samples(scrape(url))
    t0 = time.time()
    sw.ok("apply", {"objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "m1"}}]})
    got, types = samples(scrape(url))
    check(value(got, "podswitch_objects", kind="Namespace") == 1, "objects by kind")
    check(types["podswitch_change_duration_seconds"] == "summary", "change duration type")
    ok0 = value(before, "podswitch_changes_total", result="ok")
    check(value(got, "podswitch_changes_total", result="ok") == ok0 + 1, "apply not counted as a change")
    check(value(got, "podswitch_change_duration_seconds_count") ==
          value(before, "podswitch_change_duration_seconds_count") + 1, "duration count")
    last = value(got, "podswitch_change_last_duration_seconds")
    check(0 < last < 5 and value(got, "podswitch_change_max_duration_seconds") >= last, "last change %s s" % last)
    check(value(got, "podswitch_change_duration_seconds_sum") >=
          value(before, "podswitch_change_duration_seconds_sum") + last - 1e-9, "duration sum")
    check(abs(value(got, "podswitch_last_change_timestamp_seconds") - t0) < 5, "last change time")
    # a change refused by a compiler (two Services, one address) is counted, and is not in force
    time.sleep(1.1)                          # the timestamp has a resolution of a second
    svc = {"apiVersion": "v1", "kind": "Service", "spec": {"clusterIP": "10.96.0.99", "ports": [{"port": 80}]}}
    r = sw.api("apply", {"objects": [dict(svc, metadata={"name": "one"}), dict(svc, metadata={"name": "two"})]})
    check(not r.get("ok"), "two Services on one address applied: %s" % r)
    after, _ = samples(scrape(url))
    check(value(after, "podswitch_changes_total", result="failed") ==
          value(got, "podswitch_changes_total", result="failed") + 1, "refused change not counted")
    check(value(after, "podswitch_last_change_timestamp_seconds") ==
          value(got, "podswitch_last_change_timestamp_seconds"), "a refused change is not in force")


@test
def policy_counters(scope):
    """A NetworkPolicy isolating pod b (applied, then the pcap ports come by
    a reload): the 10 datagrams a sends b are denied, and the scrape counts
    them under the policy (denied 10, allowed 0) and as policy_ingress
    drops; a policy that isolates nothing here counts nothing."""
    listen = "127.0.0.1:%d" % free_port()
    sw = Switch(scope, 'metrics = { listen = "%s"; };\n' % listen).start()
    sw.ok("apply", {"objects": [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "deny-in", "namespace": "default"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "elsewhere", "namespace": "other"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]})
    frames = [Ether(src=MAC_A, dst=GW_MAC) / IP(src=A4, dst=B4) / UDP(sport=2000 + i, dport=53) / Raw(b"z" * 20)
              for i in range(10)]
    wrpcap(scope.path("in0.pcap"), frames)
    empty_pcap(scope.path("in1.pcap"))
    sw.reload(conf(scope, listen))
    end = time.time() + 15
    while time.time() < end and sw.stats().get("port.p0.rx", 0) < 10:
        time.sleep(0.1)
    got, types = samples(scrape("http://%s/metrics" % listen))
    check(value(got, "podswitch_networkpolicy_denied_total", namespace="default", name="deny-in") == 10,
          "denied: %s" % {k: v for k, v in got.items() if k[0].startswith("podswitch_networkpolicy")})
    check(value(got, "podswitch_networkpolicy_allowed_total", namespace="default", name="deny-in") == 0, "allowed")
    check(value(got, "podswitch_networkpolicy_denied_total", namespace="other", name="elsewhere") == 0,
          "a policy selecting nothing here")
    check(value(got, "podswitch_drops_total", reason="policy_ingress") == 10, "policy_ingress drops")
    check(types.get("podswitch_networkpolicy_denied") == "counter", "type: %s" % types.get("podswitch_networkpolicy_denied"))


def telemetry(sw, *cmds):
    """dpdk-telemetry.py on the switch's socket: {command: answer}."""
    r = run(["dpdk-telemetry.py", "-f", sw.prefix], input="\n".join(cmds) + "\n", timeout=30)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            out.update(json.loads(line))
    return out


@test
def dpdk_telemetry_commands(scope):
    """dpdk-telemetry.py (Debian's dpdk package) asks podswitch's own
    commands: the port counters, drops by reason, the port list, status,
    conntrack; an unknown port gets no data; the ethdev commands still work."""
    frames = [Ether(src=MAC_A, dst=GW_MAC) / IP(src=A4, dst=B4) / UDP(sport=1000 + i, dport=53) / Raw(b"x" * 20)
              for i in range(6)] + [Ether(src=MAC_A, dst=GW_MAC) / IP(src="10.244.0.99", dst=B4) / UDP() / Raw(b"y")]
    wrpcap(scope.path("in0.pcap"), frames)
    empty_pcap(scope.path("in1.pcap"))
    sw = Switch(scope, conf(scope, "")).start()
    end = time.time() + 15
    while time.time() < end and sw.stats().get("port.p0.rx", 0) < 7:
        time.sleep(0.1)
    got = telemetry(sw, "/podswitch/port,p0", "/podswitch/port,p1", "/podswitch/port,nope", "/podswitch/stats",
                    "/podswitch/ports", "/podswitch/status", "/podswitch/conntrack", "/podswitch/workers",
                    "/ethdev/list")
    check(got["/podswitch/port"] is None, "an unknown port answered: %s" % got["/podswitch/port"])
    check(got["/podswitch/ports"] == ["p0", "p1"], "ports: %s" % got["/podswitch/ports"])
    check(got["/podswitch/stats"]["drop/spoof_ip"] == 1 and got["/podswitch/stats"]["event/forwarded_ip4"] == 6,
          "stats: %s" % {k: v for k, v in got["/podswitch/stats"].items() if v})
    check(got["/podswitch/status"]["pods"] == 2 and got["/podswitch/status"]["workers"] == 1,
          "status: %s" % got["/podswitch/status"])
    check(got["/podswitch/conntrack"]["size"] > 0, "conntrack: %s" % got["/podswitch/conntrack"])
    check(got["/podswitch/workers"]["0/rx"] == 7, "workers: %s" % got["/podswitch/workers"])
    check(isinstance(got["/ethdev/list"], list), "ethdev/list: %s" % got.get("/ethdev/list"))
    one = telemetry(sw, "/podswitch/port,p0")["/podswitch/port"]
    check(one["name"] == "p0" and one["rx"] == 7, "port p0: %s" % one)
    one = telemetry(sw, "/podswitch/port,p1")["/podswitch/port"]
    check(one["tx"] == 6, "port p1: %s" % one)


@test
def a_bad_listen_address_is_refused(scope):
    """A listen address that does not parse fails the configuration, naming
    the key; one that cannot be bound fails the start with the reason."""
    for bad in ("localhost:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "[::1:9464", "1.2.3.4:9x"):
        path = scope.path("bad.conf")
        with open(path, "w") as f:
            f.write('metrics = { listen = "%s"; };\n' % bad)
        r = run([PODSWITCH, "-c", path, "--check"], check_rc=False)
        check(r.returncode != 0 and "metrics.listen '%s': give ADDRESS:PORT" % bad in r.stdout + r.stderr,
              "%s: %s %s" % (bad, r.stdout, r.stderr))
    # taken by someone else: the switch does not start
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        taken = s.getsockname()[1]
        empty_pcap(scope.path("in0.pcap"))
        empty_pcap(scope.path("in1.pcap"))
        sw = Switch(scope, conf(scope, "127.0.0.1:%d" % taken))
        sw.write(sw.body)
        r = run([PODSWITCH, "-c", sw.conf], check_rc=False, timeout=60)
        check(r.returncode != 0 and "metrics.listen '127.0.0.1:%d': cannot listen there" % taken in r.stderr,
              "port taken: rc %d %s" % (r.returncode, r.stderr[-500:]))


@test
def a_request_read_in_parts_is_answered_at_once(scope):
    """libmicrohttpd reads a connection edge-triggered: a request larger
    than one read leaves bytes in the socket that raise no new event, so
    the control loop must run it again when it says (MHD_get_timeout).
    Without that, a 20 kB request waited seconds for the loop's 1 s tick
    and one past the 32 kB a connection may use was never refused nor
    timed out (each tick read a little more)."""
    sw, port = metrics_switch(scope)
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    took, out, closed = exchange(port, head + b"a" * 20000 + b"\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 200") and closed and took < 1, "20 kB request: %.1f s, %r" % (took, out[:40]))
    took, out, closed = exchange(port, head + b"a" * 40000 + b"\r\n\r\n")
    check(closed and took < 2 and (out == b"" or out.startswith(b"HTTP/1.1 4")),
          "40 kB request: %.1f s, closed %s, %r" % (took, closed, out[:40]))
    got, _ = samples(scrape("http://127.0.0.1:%d/metrics" % port))
    check(value(got, "podswitch_up") == 1, "scrape after")
    sw.stop()


@test
def clients_cannot_flood_the_log(scope):
    """libmicrohttpd writes a line for each client that hangs up
    mid-request or finds the connection limit: 400 such connections in a
    burst leave a handful of lines and a count, not 400 lines (a client
    that can reach the port could fill the disk, or stall the control
    thread on a slow stderr)."""
    sw, port = metrics_switch(scope)
    before = sw.text().count("\n")
    for i in range(400):
        with socket.socket() as s:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /metr")
    # libmicrohttpd 0.9.75 misses a hang-up that came with the request's
    # bytes: 8 of these hold 127.0.0.1's share until the idle timeout; a
    # scrape from another address is served
    _, out, _ = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", src="127.0.0.2")
    check(out.startswith(b"HTTP/1.1 200"), "scrape after the burst: %r" % out[:40])
    sw.ok("status")
    lines = sw.text().count("\n") - before
    check(lines <= 20, "%d lines in the log for 400 connections:\n%s" % (lines, sw.text()[-1000:]))
    sw.stop()                              # with those connections still open


@test
def odd_requests_get_plain_answers(scope):
    """HEAD, HTTP/1.0, a query string, bodies sent with methods that take
    none (chunked, large, Expect: 100-continue), pipelining: each is
    answered at once and closed, nothing leaks (the ASan daemon's stop)."""
    sw, port = metrics_switch(scope)
    close = b"Host: x\r\nConnection: close\r\n"
    cases = [
        (b"HEAD /metrics HTTP/1.1\r\n" + close + b"\r\n", b"HTTP/1.1 200"),
        (b"GET /metrics HTTP/1.0\r\n\r\n", b"HTTP/1.1 200"),
        (b"GET /metrics?x=1 HTTP/1.1\r\n" + close + b"\r\n", b"HTTP/1.1 200"),
        (b"POST /metrics HTTP/1.1\r\n" + close + b"Transfer-Encoding: chunked\r\n\r\n"
         + b"5\r\nhello\r\n" * 100 + b"0\r\n\r\n", b"HTTP/1.1 405"),
        (b"POST /metrics HTTP/1.1\r\n" + close + b"Content-Length: 100000\r\n\r\n" + b"x" * 100000,
         b"HTTP/1.1 405"),
        (b"PUT /metrics HTTP/1.1\r\n" + close + b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n",
         b"HTTP/1.1 405"),
        (b"GET /metrics HTTP/9.9\r\n\r\n", b"HTTP/1.1 505"),
    ]
    for request, status in cases:
        took, out, closed = exchange(port, request)
        what = request.split(b"\r\n")[0]
        check(out.startswith(status) and closed and took < 2,
              "%r: %.1f s, closed %s, %r" % (what, took, closed, out[:40]))
    head = exchange(port, cases[0][0])[1]
    length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    check(head.endswith(b"\r\n\r\n") and length and int(length[0].split(b":")[1]) > 1000,
          "HEAD: headers only, the body's length: %r" % head)
    # one request a connection: a pipelined second one is not read
    pipelined = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2
    took, out, closed = exchange(port, pipelined)
    check(out.count(b"HTTP/1.1 200") == 1 and closed and took < 2, "pipelined: %.1f s %r" % (took, out[:60]))
    sw.stop()


@test
def scrapes_while_the_state_changes(scope):
    """Two clients scrape without pause while reloads add and remove
    ports, objects are applied and deleted, and CNI ADD/DEL attach and
    detach pods: every scrape is a 200 the parser reads, and the last
    one names exactly the ports and kinds left."""
    empty_pcap(scope.path("in0.pcap"))
    empty_pcap(scope.path("in1.pcap"))
    port = free_port()
    body = conf(scope, "127.0.0.1:%d" % port)
    sw = Switch(scope, body).start()
    sw.wait_log("metrics on")
    url = "http://127.0.0.1:%d/metrics" % port
    done, failures, scrapes = threading.Event(), [], [0]

    def scraper():
        while not done.is_set():
            try:
                samples(scrape(url))
                scrapes[0] += 1
            except Exception as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=scraper) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for step, nb_extra in enumerate((0, 3, 6, 2)):
            extra = "".join(',\n  { name = "x%d"; kind = "null"; }' % i for i in range(nb_extra))
            sw.reload(body.replace('out1.pcap"; }\n', 'out1.pcap"; }' + extra + "\n"))
            namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n%d" % i}}
                          for i in range(30)]
            sw.ok("apply", {"objects": namespaces})
            sw.ok("delete", {"objects": namespaces[10:]})
            for i in range(4):
                sw.ok("cni.add", {"container_id": "c%d%d" % (step, i), "ifname": "eth0", "interface": "memif"})
            for i in range(4):
                sw.ok("cni.del", {"container_id": "c%d%d" % (step, i), "ifname": "eth0"})
    finally:
        done.set()
        for t in threads:
            t.join()
    check(not failures and scrapes[0] > 0, "%d scrapes, failures: %s" % (scrapes[0], failures[:3]))
    got, _ = samples(scrape(url))
    ports = {dict(k[1])["port"] for k in got if k[0] == "podswitch_port_rx_packets_total"}
    check(ports == {"p0", "p1", "x0", "x1"}, "ports in the scrape: %s" % sorted(ports))
    check(value(got, "podswitch_objects", kind="Namespace") == 10, "Namespaces left")
    check(value(got, "podswitch_attachments") == 0, "attachments left")
    sw.stop()


def tcp_sockets(sw):
    return sum(1 for name in sw.fd_names().values() if name.startswith("socket:"))


@test
def slow_clients_are_bounded_and_the_api_answers(scope):
    """Slowloris: 16 clients from two addresses send a request a byte at a
    time, 2 more wait. The switch holds 16 connections, no more; the API
    answers at once throughout; when one address leaves, a third is
    served; SIGTERM with the rest still open exits cleanly."""
    sw, port = metrics_switch(scope)
    base = tcp_sockets(sw)
    slow = {}
    for src in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        slow[src] = []
        for i in range(8 if src != "127.0.0.3" else 2):
            s = socket.socket()
            s.bind((src, 0))
            s.connect(("127.0.0.1", port))       # the backlog takes those over the limit
            slow[src].append(s)
            scope.defer(s.close)
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
    worst = 0
    for byte in range(12):
        for s in slow["127.0.0.1"] + slow["127.0.0.2"] + slow["127.0.0.3"]:
            s.send(request[byte:byte + 1])
        t0 = time.time()
        sw.ok("status")
        worst = max(worst, time.time() - t0)
        time.sleep(0.25)
    held = tcp_sockets(sw) - base
    check(held == 16, "%d connections held (at most 16)" % held)
    check(worst < 1, "the API took %.2f s during the slow clients" % worst)
    for s in slow["127.0.0.2"] + slow["127.0.0.3"]:
        s.close()
    took, out, _ = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            src="127.0.0.4")
    check(out.startswith(b"HTTP/1.1 200") and took < 3, "a scrape once room was made: %.1f s %r" % (took, out[:40]))
    sw.stop()


if __name__ == "__main__":
    main()
