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
    check(value(got, "podswitch_drops_total", reason="spoof_ip") == 5,
          "spoof drops: %s" % {k: v for k, v in got.items() if k[0] == "podswitch_drops_total" and v})
    check(value(got, "podswitch_worker_rx_packets_total", worker="0", lcore="1") == 25, "worker rx")
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
    # objects by kind, after an apply
    sw.ok("apply", {"objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "m1"}}]})
    got, _ = samples(scrape(url))
    check(value(got, "podswitch_objects", kind="Namespace") == 1, "objects by kind")


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


if __name__ == "__main__":
    main()
