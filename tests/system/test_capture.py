#!/usr/bin/python3
"""podswitchctl capture (issue 18): a port's packets as pcapng, read back by
tshark (Wireshark's reader, not ours): the interface's name, each packet's
direction, the filter, the snap length, standard output, the errors, and a
session whose client died."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import BUILD, Switch, check, kernel_pod, main, ping, run, test, uid  # noqa: E402

CTL = os.path.join(BUILD, "switch", "podswitchctl")
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
UDP = ("/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
       "[s.sendto(bytes(%d), (\"%s\", %d)) for _ in range(%d)]'")
FIELDS = ["frame.interface_name", "frame.interface_description", "frame.packet_flags_direction",
          "frame.len", "frame.cap_len", "ip.src", "ip.dst", "icmp.type", "udp.dstport"]


def two_pods(scope):
    ta, tb = "pa" + uid(), "pb" + uid()
    sw = Switch(scope, """
ports = (
  { name = "pa"; kind = "kernel"; ifname = "%s"; },
  { name = "pb"; kind = "kernel"; ifname = "%s"; }
);
pods = (
  { name = "a"; port = "pa"; mac = "%s"; ip = "10.244.0.10"; },
  { name = "b"; port = "pb"; mac = "%s"; ip = "10.244.0.11"; }
);
""" % (ta, tb, MAC_A, MAC_B), workers="[0, 1]").start()
    a = kernel_pod(scope, ta, MAC_A, "10.244.0.10")
    b = kernel_pod(scope, tb, MAC_B, "10.244.0.11")
    # resolve both ways first: the captures below see only what the test sends
    check(ping(a, "10.244.0.11", count=1)[1] == 1, "a does not reach b")
    check(ping(b, "10.244.0.10", count=1)[1] == 1, "b does not reach a")
    return sw, a, b


def capture(scope, sw, args, out=None):
    """Start podswitchctl capture; returns the process once the session is open."""
    p = subprocess.Popen([CTL, "-s", sw.sock, "capture"] + args,
                         stdout=out if out is not None else subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=out is None)
    scope.defer(lambda: p.poll() is None and p.kill())
    end = time.monotonic() + 10
    while time.monotonic() < end and p.poll() is None:
        if any(c["port"] == args[0] for c in sw.ok("status").get("captures", [])):
            return p
        time.sleep(0.02)
    raise AssertionError("capture did not start: rc %s %s" % (p.poll(), p.stderr.read()))


def finish(p, timeout=10):
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("capture did not end by itself within %d s" % timeout)
    check(p.returncode == 0, "capture exited %d: %s" % (p.returncode, err))
    return err


def read_pcapng(path):
    r = run(["tshark", "-r", path, "-T", "fields", "-E", "separator=|"] +
            sum([["-e", f] for f in FIELDS], []))
    return [dict(zip(FIELDS, line.split("|"))) for line in r.stdout.splitlines() if line]


@test
def ping_captured_with_interface_and_direction(scope):
    sw, a, _ = two_pods(scope)
    path = scope.path("ping.pcapng")
    p = capture(scope, sw, ["pa", "-c", "2", "-w", path, "icmp"])
    check(ping(a, "10.244.0.11", count=1)[1] == 1, "ping lost while captured")
    err = finish(p)
    check("2 packets captured" in err, "summary: %s" % err)
    pk = read_pcapng(path)
    check(len(pk) == 2, "%d packets in the file, want the request and the reply: %s" % (len(pk), pk))
    req, rep = pk
    for x in pk:
        check(x["frame.interface_name"] == "pa", "interface %r, want pa" % x["frame.interface_name"])
        check("kernel" in x["frame.interface_description"], "description %r" % x["frame.interface_description"])
    # epb_flags: 1 inbound (the port received it), 2 outbound (the switch sent it)
    check(req["icmp.type"] == "8" and int(req["frame.packet_flags_direction"], 0) == 1 and
          (req["ip.src"], req["ip.dst"]) == ("10.244.0.10", "10.244.0.11"), "request: %s" % req)
    check(rep["icmp.type"] == "0" and int(rep["frame.packet_flags_direction"], 0) == 2 and
          (rep["ip.src"], rep["ip.dst"]) == ("10.244.0.11", "10.244.0.10"), "reply: %s" % rep)
    check(req["frame.len"] == req["frame.cap_len"] == "98", "request length %s" % req)
    check(sw.ok("status")["captures"] == [], "the session outlived its client")


@test
def filter_direction_and_snap_length(scope):
    sw, a, b = two_pods(scope)
    path = scope.path("udp.pcapng")
    p = capture(scope, sw, ["pa", "-Q", "tx", "-s", "64", "-f", "udp dst port 7777", "-w", path, "-G", "3"])
    # to a: UDP to 7777 (wanted), to 7778 (filtered out), pings (filtered out);
    # from a: UDP to 7777 (received by the port, not sent: not wanted)
    b.sh(UDP % (1000, "10.244.0.10", 7777, 5))
    b.sh(UDP % (100, "10.244.0.10", 7778, 5))
    a.sh(UDP % (10, "10.244.0.11", 7777, 1))
    ping(b, "10.244.0.10", count=2)
    finish(p)
    pk = read_pcapng(path)
    check(len(pk) == 5, "%d packets, want the 5 datagrams to 7777: %s" % (len(pk), pk))
    for x in pk:
        check(x["udp.dstport"] == "7777" and int(x["frame.packet_flags_direction"], 0) == 2,
              "not a datagram the switch sent to 7777: %s" % x)
        check(x["frame.len"] == "1042" and x["frame.cap_len"] == "64", "lengths %s" % x)


@test
def standard_output_is_a_pcapng_stream(scope):
    sw, a, _ = two_pods(scope)
    path = scope.path("stdout.pcapng")
    with open(path, "wb") as f:
        p = capture(scope, sw, ["pb", "-c", "4", "-w", "-", "icmp"], out=f)
        ping(a, "10.244.0.11", count=2)
        p.wait(10)
    check(p.returncode == 0, "capture to stdout exited %s" % p.returncode)
    pk = read_pcapng(path)
    check([x["icmp.type"] for x in pk] == ["8", "0", "8", "0"], "stream: %s" % pk)
    check(all(x["frame.interface_name"] == "pb" for x in pk), "interfaces: %s" % pk)


@test
def bad_requests_name_what_is_wrong(scope):
    sw, _, _ = two_pods(scope)
    for args, want in ((["nosuch", "-w", "/dev/null"], "no port 'nosuch'"),
                       (["pa", "-w", "/dev/null", "udp", "port", "99999"], "filter"),
                       (["pa", "-w", "/dev/null", "-s", "10"], "snaplen"),
                       (["pa", "-w", "/dev/null", "-Q", "sideways"], "direction"),
                       (["pa"], "-w FILE"),
                       (["pa", "-w", "/dev/null", "-c", "x"], "not a number")):
        r = run([CTL, "-s", sw.sock, "capture"] + args, check_rc=False)
        check(r.returncode != 0 and want in r.stderr, "%s: rc %d, %r" % (args, r.returncode, r.stderr))
    r = run([CTL, "-s", sw.sock, "capture", "pa", "-w", scope.dir], check_rc=False)
    check(r.returncode == 1 and "Is a directory" in r.stderr, "-w a directory: %r" % r.stderr)
    # by hand on the API: a value of the wrong type is refused, never taken as a default
    for args, want in (({"port": "pa", "direction": 1}, "'direction' must be a string"),
                       ({"port": "pa", "filter": 7}, "'filter' must be a string"),
                       ({"port": "pa", "snaplen": 65536}, "'snaplen' must be"),
                       ({"port": "pa", "count": -1}, "'count' must be")):
        r = sw.api("capture.start", args)
        check(not r["ok"] and want in r["error"]["message"], "%s: %s" % (args, r))
    check(sw.ok("status")["captures"] == [], "a refused start left a session")
    p = capture(scope, sw, ["pa", "-w", "/dev/null"])
    r = run([CTL, "-s", sw.sock, "capture", "pa", "-w", "/dev/null"], check_rc=False)
    check(r.returncode == 1 and "being captured already" in r.stderr, "second capture: %s" % r.stderr)
    p.terminate()
    finish(p)
    check(sw.ok("status")["captures"] == [], "stopped session still listed")


@test
def a_dead_client_session_is_closed(scope):
    sw, a, _ = two_pods(scope)
    p = capture(scope, sw, ["pa", "-w", "/dev/null"])
    p.kill()
    p.wait()
    check(len(sw.ok("status")["captures"]) == 1, "the session went with its client at once?")
    for _ in range(3):
        ping(a, "10.244.0.11", count=1)
    end = time.monotonic() + 15
    while sw.ok("status")["captures"] and time.monotonic() < end:
        time.sleep(0.5)
    check(sw.ok("status")["captures"] == [], "an unread session was never closed")
    check(ping(a, "10.244.0.11", count=2)[1] == 2, "traffic after the session closed")


@test
def two_workers_records_come_oldest_first(scope):
    """pa's requests are received by one worker, its replies sent by the other:
    with more waiting than a read takes, the file's times still never go back."""
    sw, a, _ = two_pods(scope)
    path = scope.path("merged.pcapng")
    p = capture(scope, sw, ["pa", "-s", "128", "-w", path, "icmp"])
    os.kill(p.pid, signal.SIGSTOP)            # both workers' rings fill while nobody reads
    scope.defer(lambda: os.kill(p.pid, signal.SIGCONT))
    a.sh("ping -f -c 300 10.244.0.11 >/dev/null")
    os.kill(p.pid, signal.SIGCONT)
    end = time.monotonic() + 10
    while sw.ok("status")["captures"][0]["delivered"] < 600 and time.monotonic() < end:
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    finish(p)
    r = run(["tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "icmp.type"])
    pk = [line.split() for line in r.stdout.splitlines()]
    check(len(pk) == 600, "%d packets, want 300 requests and 300 replies" % len(pk))
    ts = [float(t) for t, _ in pk]
    back = [i for i in range(1, len(ts)) if ts[i] < ts[i - 1]]
    check(not back, "%d times go back, the first at packet %d: %s" % (len(back), back[0] if back else 0,
                                                                    pk[back[0] - 2:back[0] + 2] if back else ""))
    check([x[1] for x in pk[:4]] == ["8", "0", "8", "0"], "not request, reply, ...: %s" % pk[:4])


@test
def sessions_opened_and_closed_in_a_loop(scope):
    """A script opening and stopping sessions as fast as it can (16 MB of
    records each): a closed session's memory is back for the next one."""
    sw, _, _ = two_pods(scope)
    refused = []
    for _ in range(150):
        r = sw.api("capture.start", {"port": "pa"})
        if not r["ok"]:
            refused.append(r["error"]["message"])
            continue
        sw.ok("capture.stop", {"id": r["result"]["id"]})
    check(not refused, "%d of 150 starts refused, the first: %s" % (len(refused), refused[:1]))


@test
def times_stay_on_the_wall_clock(scope):
    """A packet's time is when it passed, also 20 s into a capture: the TSC's
    rate as DPDK gives it (rounded to 10 MHz) may be off by 0.25%, 50 ms by then."""
    sw, a, _ = two_pods(scope)
    path = scope.path("clock.pcapng")
    p = capture(scope, sw, ["pa", "-Q", "rx", "-w", path, "icmp"])
    sent = []
    for k in range(2):
        time.sleep(20 if k else 0)
        t0 = time.time()
        ping(a, "10.244.0.11", count=1)
        sent.append((t0, time.time()))
    end = time.monotonic() + 10
    while sw.ok("status")["captures"][0]["delivered"] < 2 and time.monotonic() < end:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    finish(p)
    r = run(["tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch"])
    ts = [float(t) for t in r.stdout.split()]
    check(len(ts) == 2, "%d requests in the file, want 2" % len(ts))
    for t, (lo, hi) in zip(ts, sent):
        check(lo <= t <= hi, "a request stamped %.6f, sent between %.6f and %.6f" % (t, lo, hi))


@test
def what_was_caught_before_ctrl_c_is_written(scope):
    """The operator stops the capture right after the packet passed: it is in the file."""
    sw, a, _ = two_pods(scope)
    path = scope.path("ctrlc.pcapng")
    p = capture(scope, sw, ["pa", "-Q", "rx", "-w", path, "icmp"])
    os.kill(p.pid, signal.SIGSTOP)            # between two reads, whatever it was doing
    scope.defer(lambda: os.kill(p.pid, signal.SIGCONT))
    ping(a, "10.244.0.11", count=1)
    p.send_signal(signal.SIGINT)
    os.kill(p.pid, signal.SIGCONT)
    err = finish(p)
    r = run(["tshark", "-r", path, "-T", "fields", "-e", "icmp.type"])
    check(r.stdout.split() == ["8"], "in the file: %r; %s" % (r.stdout, err))


if __name__ == "__main__":
    main()
