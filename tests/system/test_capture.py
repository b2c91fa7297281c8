#!/usr/bin/python3
"""podswitchctl capture (issue 18): a port's packets as pcapng, read back by
tshark (Wireshark's reader, not ours): the interface's name, each packet's
direction, the filter, the snap length, standard output, the errors, and a
session whose client died."""
import os
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


if __name__ == "__main__":
    main()
