#!/usr/bin/python3
"""Component tests of the podswitch command line: --check, exit statuses,
messages naming file and line, the embedded default, clean stop, and two
instances side by side."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pswtest import PODSWITCH, ROOT, Switch, check, main, run, test, uid  # noqa: E402


def podswitch(*args, timeout=30):
    return run([PODSWITCH] + list(args), check_rc=False, timeout=timeout)


@test
def check_accepts_default_and_example(scope):
    r = podswitch("--check")
    check(r.returncode == 0 and "<default>: configuration ok" in r.stdout, "default: %s %s" % (r.stdout, r.stderr))
    example = os.path.join(ROOT, "config", "podswitch.conf.example")
    r = podswitch("-c", example, "--check")
    check(r.returncode == 0, "example refused: %s" % r.stderr)
    partial = scope.path("partial.conf")
    with open(partial, "w") as f:
        f.write('node = { pod_cidr = "10.1.0.0/16"; gateway = "10.1.0.1"; };\n')
    r = podswitch("-c", partial, "--check")
    check(r.returncode == 0, "a file with only node.pod_cidr and gateway refused: %s" % r.stderr)


@test
def bad_files_exit_2_naming_file_line_and_key(scope):
    cases = [
        ('node = {\n  pod_cidr = "10.244.0.0/33";\n};\n', ":2:", "pod_cidr"),
        ('eal = { hugepage = true; };\n', ":1:", "hugepage"),
        ('workers = { cores = [ 4096 ]; };\n', ":1:", "4096"),
        ('node = { pod_cidr = "10.244.0.0/24"; gateway = "10.9.0.1"; };\n', ":1:", "gateway"),
        ('ports = (\n { name = "x"; kind = "null"; },\n { name = "x"; kind = "null"; }\n);\n', ":3:", "x"),
        ('node = { pod_cidr = "10.96.0.0/24"; };\n', ":", "overlap"),
        ('ports = ( { name = "x"; kind = "warp"; } );\n', ":1:", "warp"),
        ('node = { pod_cidr = 5; };\n', ":1:", "pod_cidr"),
        ('this is not libconfig\n', ":1:", ""),
    ]
    for i, (text, where, what) in enumerate(cases):
        path = scope.path("bad%d.conf" % i)
        with open(path, "w") as f:
            f.write(text)
        r = podswitch("-c", path, "--check")
        check(r.returncode == 2, "case %d exited %d: %s" % (i, r.returncode, r.stderr))
        line = r.stderr.strip()
        check(path + where in line and what in line, "case %d message: %s" % (i, line))
        check(len(r.stderr.strip().splitlines()) == 1, "case %d: not one line: %s" % (i, r.stderr))
    r = podswitch("-c", scope.path("missing.conf"))
    check(r.returncode == 2 and "cannot read" in r.stderr, "missing file: %s" % r.stderr)
    r = podswitch("--bogus")
    check(r.returncode == 2, "unknown option exited %d" % r.returncode)
    r = podswitch("--version")
    check(r.returncode == 0 and r.stdout.startswith("podswitch "), "version: %s" % r.stdout)


@test
def port_that_cannot_be_created_is_named(scope):
    blocker = scope.path("plainfile")
    open(blocker, "w").close()
    sw = Switch(scope, 'ports = ( { name = "pd"; kind = "vhost-user"; socket = "%s/x.sock"; } );\n'
                % blocker)
    p = subprocess.run([PODSWITCH, "-c", sw.conf], capture_output=True, text=True, timeout=30)
    run(["rm", "-rf", "/var/run/dpdk/" + sw.prefix], check_rc=False)
    check(p.returncode == 1, "exit %d" % p.returncode)
    last = p.stderr.strip().splitlines()[-1]
    check("port 'pd' (vhost-user)" in last and "directory" in last and blocker in last,
          "message: %s" % last)


@test
def server_socket_dir_created_and_stale_socket_replaced(scope):
    import socket as so
    sock = scope.path("deep/er/pd.sock")
    os.makedirs(os.path.dirname(sock))
    stale = so.socket(so.AF_UNIX)
    stale.bind(sock)
    stale.close()                       # a socket file nobody listens on
    sw = Switch(scope, 'ports = ( { name = "pd"; kind = "vhost-user"; socket = "%s"; } );\n' % sock)
    sw.start()
    check(os.path.exists(sock), "socket not created")
    # a second switch must not steal a socket the first one serves
    sw2 = Switch(scope, 'ports = ( { name = "pd"; kind = "vhost-user"; socket = "%s"; } );\n' % sock)
    p = subprocess.run([PODSWITCH, "-c", sw2.conf], capture_output=True, text=True, timeout=30)
    run(["rm", "-rf", "/var/run/dpdk/" + sw2.prefix], check_rc=False)
    check(p.returncode == 1 and "in use by another process" in p.stderr, "second switch: %s" % p.stderr[-300:])
    sw.stop()


@test
def default_configuration_runs_and_stops_cleanly(scope):
    p = subprocess.Popen([PODSWITCH], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    scope.defer(lambda: p.poll() is None and p.kill())
    t0 = time.time()
    line = ""
    while time.time() - t0 < 20 and "running" not in line:
        line = p.stdout.readline()
        if not line and p.poll() is not None:
            break
    check("running" in line and "<default>" in line, "did not start: %s" % line)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    check(p.returncode == 0 and "podswitch: stopped" in out, "stop: %d %s" % (p.returncode, out[-500:]))


@test
def two_instances_side_by_side(scope):
    body = 'ports = ( { name = "n0"; kind = "null"; } );\n'
    a = Switch(scope, body, workers="[0]", name="one").start()
    b = Switch(scope, body, workers="[1]", name="two").start()
    time.sleep(0.5)
    sa, sb = a.stats(), b.stats()
    # net_null delivers zero-filled frames: both switches receive and drop them
    check(sa["port.n0.rx"] > 0 and sb["port.n0.rx"] > 0, "an instance is not running its port")
    check(sa["drop.unknown_ethertype"] > 0, "null frames not counted as drops")
    a.stop()
    b.stop()


if __name__ == "__main__":
    main()
