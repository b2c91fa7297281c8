#!/usr/bin/python3
"""Component tests of the daemon's log (log group of the configuration):
JSON lines for everything the switch and DPDK write, one call site's
repeated message held to log.rate and counted in /metrics, per-subsystem
levels, and a reload that changes the level."""
import json
import os
import signal
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import Switch, check, main, test  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def json_lines(text):
    """The log's lines; fails on a line that is neither JSON nor the counters' dump."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
        else:
            check(not line.startswith("podswitch:") and not line.startswith("EAL:") and
                  "TELEMETRY" not in line, "a log line not in JSON: %r" % line)
    return out


def terminate(sw):
    sw.proc.send_signal(signal.SIGTERM)
    check(sw.proc.wait(20) == 0, "podswitch did not stop cleanly")


@test
def json_lines_and_rate_limit(scope):
    port = free_port()
    body = 'log = { format = "json"; rate = 3; };\nmetrics = { listen = "127.0.0.1:%d"; };\n' % port
    sw = Switch(scope, body).start()
    sw.wait_log("metrics on")
    # 8 reloads of a file that does not parse: one call site, 3 lines written, 5 held back
    good = open(sw.conf).read()
    with open(sw.conf, "a") as f:
        f.write("node = {\n")
    for i in range(8):
        # one at a time: a SIGHUP sent while another is pending is merged with it
        os.kill(sw.proc.pid, signal.SIGHUP)
        end = time.time() + 10
        while True:
            got = samples(port)
            seen = (got[("podswitch_log_lines_total", frozenset({("level", "error")}))] +
                    got[("podswitch_log_suppressed_total", frozenset())])
            if seen >= i + 1 or time.time() > end:
                break
            time.sleep(0.05)
        check(seen == i + 1, "reload %d: %d refusals seen" % (i + 1, seen))
    check(got[("podswitch_log_lines_total", frozenset({("level", "error")}))] == 3,
          "error lines: %s" % got[("podswitch_log_lines_total", frozenset({("level", "error")}))])
    check(got[("podswitch_log_suppressed_total", frozenset())] == 5,
          "suppressed: %s" % got[("podswitch_log_suppressed_total", frozenset())])
    with open(sw.conf, "w") as f:
        f.write(good)
    terminate(sw)
    lines = json_lines(sw.text())
    for x in lines:
        check(set(x) == {"time", "level", "subsystem", "msg"}, "fields of %s" % x)
        check(x["time"].endswith("Z") and x["time"][10] == "T", "time %r" % x["time"])
    refused = [x for x in lines if "reload refused" in x["msg"]]
    check(len(refused) == 3 and all(x["level"] == "error" and x["subsystem"] == "config" for x in refused),
          "reload refusals logged: %s" % refused)
    check(any(x["subsystem"] == "dpdk" for x in lines), "DPDK's own lines not in the log")
    check(any(x["subsystem"] == "api" and x["msg"].startswith("API on") for x in lines), "no API line")
    check(lines[-1]["msg"] == "stopped", "last line %s" % lines[-1])


@test
def levels_per_subsystem_and_reload(scope):
    body = 'log = { level = "warning"; subsystems = { api = "info"; }; };\n'
    sw = Switch(scope, body).start()
    t = sw.text()
    check("podswitch: API on" in t, "api at info: its line is missing")
    check("restored from" not in t and "running" not in t, "state/main info lines at level warning:\n" + t)
    # a reload to info: the reload's own line (config, info) is written
    sw.reload('log = { level = "info"; };\n')
    check("podswitch: reloaded" in sw.text(), "no reload line at info")
    sw.stop()


if __name__ == "__main__":
    main()
