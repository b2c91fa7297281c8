"""Test harness for podswitch component and system tests.

Starts the real daemon on a generated configuration, reads its counters
(SIGUSR1), and creates namespaces, interfaces and DPDK pods that are always
cleaned up, even when a test fails. Tests register with @test and run with
main(); the runner prints one line per test and a closing
'NAME: passed N, failed N' line, and exits non-zero on any failure.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PSW_BUILD", os.path.join(ROOT, "build"))
PODSWITCH = os.path.join(BUILD, "switch", "podswitch")
GW_MAC = "02:50:53:57:00:01"

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(cmd, check_rc=True, timeout=60, **kw):
    """Run a command (list or string); return CompletedProcess."""
    shell = isinstance(cmd, str)
    p = subprocess.run(cmd, shell=shell, capture_output=True, text=True, timeout=timeout, **kw)
    if check_rc and p.returncode != 0:
        raise Failure("command failed (%d): %s\n%s%s" % (p.returncode, cmd, p.stdout, p.stderr))
    return p


class Scope:
    """Collects cleanup actions; runs them in reverse order, ignoring errors."""

    def __init__(self):
        self.actions = []
        self.dir = tempfile.mkdtemp(prefix="psw-test-")
        self.actions.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))

    def defer(self, fn):
        self.actions.append(fn)

    def close(self):
        while self.actions:
            fn = self.actions.pop()
            try:
                fn()
            except Exception:
                pass

    def path(self, name):
        return os.path.join(self.dir, name)

    def sanitizer_reports(self):
        """What ASan/UBSan wrote in this scope's logs (a failed test's
        likely cause under the ASan build), before close() removes them."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".log"):
                continue
            with open(self.path(name), errors="replace") as f:
                lines = f.read().splitlines()
            for i, line in enumerate(lines):
                if "ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line or "runtime error" in line:
                    out.append("%s:\n%s" % (name, "\n".join(lines[i:i + 30])))
                    break
        return out


_uid = [0]


def uid():
    """Short unique token for names (interfaces are limited to 15 characters)."""
    _uid[0] += 1
    return "%d%d" % (os.getpid() % 10000, _uid[0])


class Switch:
    """A podswitch process on a generated libconfig file."""

    def __init__(self, scope, body, workers="[1]", name=None, sock=None, state=None, idle_sleep_us=50,
                 eal=""):
        self.scope = scope
        self.prefix = "psw" + uid()
        self.conf = scope.path((name or self.prefix) + ".conf")
        self.log = scope.path((name or self.prefix) + ".log")
        self.body = body
        self.workers = workers
        self.idle_sleep_us = idle_sleep_us
        self.eal = eal
        self.proc = None
        # each instance its own API socket and state, unless a test shares them on purpose
        self.sock = sock or scope.path((name or self.prefix) + ".sock")
        self.state = state or scope.path((name or self.prefix) + "-state")
        self.write(body)

    def write(self, body):
        with open(self.conf, "w") as f:
            f.write('eal = { file_prefix = "%s"; %s };\n' % (self.prefix, self.eal))
            f.write("workers = { cores = %s; idle_sleep_us = %d; };\n" % (self.workers, self.idle_sleep_us))
            f.write('api = { socket = "%s"; sockets_dir = "%s"; state_dir = "%s"; };\n'
                    % (self.sock, self.scope.path("socks"), self.state))
            f.write(body)

    def start(self, wait=True):
        """Start the daemon; with wait (the default) return once its API
        answers, else at once (wait_log("API on", 20) before using it)."""
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([PODSWITCH, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        self.scope.defer(self.kill)
        self.scope.defer(lambda: shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True))
        if wait:
            self.wait_log("API on", 20)
        return self

    def api(self, op, args=None, timeout=30):
        """One API request; returns the response dict."""
        return api_call(self.sock, op, args, timeout)

    def ok(self, op, args=None):
        r = self.api(op, args)
        check(r.get("ok") is True, "%s failed: %s" % (op, r))
        return r["result"]

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def fd_names(self):
        """What each open descriptor is (for a message when a count differs)."""
        names = {}
        for fd in os.listdir("/proc/%d/fd" % self.proc.pid):
            try:
                names[int(fd)] = os.readlink("/proc/%d/fd/%s" % (self.proc.pid, fd))
            except OSError:
                pass
        return names

    def text(self):
        with open(self.log) as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, after=0):
        end = time.time() + timeout
        while time.time() < end:
            t = self.text()[after:]
            if re.search(pattern, t):
                return t
            if self.proc.poll() is not None:
                raise Failure("podswitch exited (%d):\n%s" % (self.proc.returncode, self.text()[-3000:]))
            time.sleep(0.05)
        raise Failure("no '%s' in podswitch output after %ss:\n%s" % (pattern, timeout, self.text()[-3000:]))

    def stats(self):
        """Counters as a dict: 'drop.X', 'event.X', 'port.NAME.rx', ..."""
        mark = len(self.text())
        os.kill(self.proc.pid, signal.SIGUSR1)
        t = self.wait_log(r"event forwarded_ip6 \d+", 10, after=mark)
        return parse_stats(t[t.rfind("podswitch counters"):])

    def reload(self, body, expect="reloaded"):
        mark = len(self.text())
        self.write(body)
        os.kill(self.proc.pid, signal.SIGHUP)
        return self.wait_log(expect, 15, after=mark)

    def stop(self):
        """SIGTERM; returns the final counters. Fails if the exit is not clean."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("podswitch did not stop within 20 s of SIGTERM")
        t = self.text()
        check(rc == 0, "podswitch exited with %d:\n%s" % (rc, t[-2000:]))
        check("podswitch: stopped" in t, "no clean stop message")
        return parse_stats(t[t.rfind("podswitch counters"):])

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def api_call(sock, op, args=None, timeout=30):
    import json
    import socket
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    c.connect(sock)
    c.sendall((json.dumps({"api": 1, "op": op, "args": args or {}}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = c.recv(65536)
        if not chunk:
            break
        buf += chunk
    c.close()
    return json.loads(buf)


CNI_PLUGIN_DIR = os.path.join(BUILD, "switch")
CNIDRIVER_SRC = os.path.join(ROOT, "tests", "system", "cnidriver")


def cnidriver():
    """Build (once) the libcni driver from Debian's golang-github-appc-cni-dev sources."""
    out = os.path.join(BUILD, "cnidriver")
    src = os.path.join(CNIDRIVER_SRC, "main.go")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        gopath = os.path.join(BUILD, "gopath")
        env = dict(os.environ, GO111MODULE="off", GOPATH=gopath + ":/usr/share/gocode",
                   GOCACHE=os.path.join(BUILD, "gocache"), GOFLAGS="")
        run(["go", "build", "-o", out, "."], cwd=CNIDRIVER_SRC, env=env, timeout=300)
    return out


def cni_conf(sock, interface="kernel", version="1.1.0", **extra):
    conf = {"cniVersion": version, "name": "podnet", "type": "podswitch-cni", "socket": sock,
            "interface": interface}
    conf.update(extra)
    return conf


def cni_call(command, conf, container_id=None, netns=None, ifname="eth0", args=None,
             stdin=None):
    """Run the plugin directly; returns (exit status, parsed stdout or None)."""
    import json
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command,
           "CNI_PATH": CNI_PLUGIN_DIR + ":/usr/lib/cni"}
    if container_id is not None:
        env["CNI_CONTAINERID"] = container_id
    if netns is not None:
        env["CNI_NETNS"] = netns
    if ifname is not None:
        env["CNI_IFNAME"] = ifname
    if args is not None:
        env["CNI_ARGS"] = args
    data = stdin if stdin is not None else json.dumps(conf)
    p = subprocess.run([os.path.join(CNI_PLUGIN_DIR, "podswitch-cni")], input=data, env=env,
                       capture_output=True, text=True, timeout=60)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = None
    return p.returncode, out


# Where the shipped conflists (config/cni/) expect the switch.
DEFAULT_SOCK = "/run/podswitch/podswitch.sock"
DEFAULT_STATE = "/var/lib/podswitch"


def default_switch(scope):
    """A switch on the socket and state directory the shipped files name. Refuses
    when another switch serves that socket; a state directory left by someone
    else is moved aside for the test and put back after it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(DEFAULT_SOCK)
        check(False, "a podswitch already serves %s; these tests need it free" % DEFAULT_SOCK)
    except OSError:
        pass
    finally:
        s.close()
    if os.path.exists(DEFAULT_STATE):
        aside = DEFAULT_STATE + ".test-aside-%d" % os.getpid()
        os.rename(DEFAULT_STATE, aside)

        def restore():
            shutil.rmtree(DEFAULT_STATE, ignore_errors=True)
            os.rename(aside, DEFAULT_STATE)
        scope.defer(restore)
    else:
        scope.defer(lambda: shutil.rmtree(DEFAULT_STATE, ignore_errors=True))
    return Switch(scope, "", workers="[1]", sock=DEFAULT_SOCK, state=DEFAULT_STATE).start()


def parse_stats(text):
    s = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) == 3 and w[0] in ("drop", "event"):
            s["%s.%s" % (w[0], w[1])] = int(w[2])
        elif w and w[0] == "port" and len(w) >= 4:
            for i in range(4, len(w) - 1, 2):
                s["port.%s.%s" % (w[1], w[i])] = int(w[i + 1])
    return s


class Netns:
    """A network namespace standing in for a pod."""

    def __init__(self, scope, name=None):
        self.name = name or "psw" + uid()
        self.scope = scope
        run(["ip", "netns", "add", self.name])
        scope.defer(lambda: run(["ip", "netns", "del", self.name], check_rc=False))
        self.ip("link set lo up")

    def ip(self, args):
        return run("ip -n %s %s" % (self.name, args))

    def sh(self, cmd, check_rc=True, timeout=60):
        return run(["nsenter", "--net=/run/netns/" + self.name, "sh", "-c", cmd],
                   check_rc=check_rc, timeout=timeout)

    def wait_listening(self, port, proto="t", timeout=10.0):
        """Until something listens on port (proto "t" TCP, "u" UDP) here: a
        server started with popen is ready before a client runs, however
        loaded the machine."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sh("ss -Hl%sn 'sport = :%d'" % (proto, port), check_rc=False).stdout.strip():
                return
            time.sleep(0.05)
        raise Failure("nothing listens on %s port %d in %s" % (proto, port, self.name))

    def popen(self, cmd, **kw):
        """A process in the namespace, in a session of its own: kill_group() ends it
        and everything it forked (socat children), even when the test failed."""
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.name, "sh", "-c", cmd],
                             start_new_session=True, **kw)
        self.scope.defer(lambda: kill_group(p))
        return p


def kill_group(p):
    """Kill a process started by Netns.popen and all it forked."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


def wait_link(ifname, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if run(["ip", "link", "show", ifname], check_rc=False).returncode == 0:
            return
        time.sleep(0.05)
    raise Failure("interface %s did not appear" % ifname)


def kernel_pod(scope, ifname, mac, ip4, ip6=None, gw4="10.244.0.1", gw6="fd00:10:244::1",
               plen=24):
    """Move the switch's tap interface into a new namespace and configure it
    the way the CNI plugin will: MAC, addresses, default routes via the gateway."""
    ns = Netns(scope)
    wait_link(ifname)
    run(["ip", "link", "set", ifname, "netns", ns.name])
    ns.ip("link set %s address %s" % (ifname, mac))
    ns.ip("link set %s up" % ifname)
    ns.ip("addr add %s/%d dev %s" % (ip4, plen, ifname))
    ns.ip("route add default via %s dev %s" % (gw4, ifname))
    if ip6:
        ns.ip("addr add %s/64 dev %s nodad" % (ip6, ifname))
        ns.ip("-6 route add default via %s dev %s" % (gw6, ifname))
    return ns


def veth_pod(scope, host, mac, ip, gw="10.244.0.1"):
    """A kernel pod on a veth pair the test owns (it outlives a switch)."""
    ns = Netns(scope)
    run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name])
    scope.defer(lambda: run(["ip", "link", "del", host], check_rc=False))
    run(["ip", "link", "set", host, "up"])
    ns.ip("link set eth0 address %s up" % mac)
    ns.ip("addr add %s/24 dev eth0" % ip)
    ns.ip("route add default via %s" % gw)
    ns.sh("ethtool -K eth0 tx off >/dev/null")
    ns.sh("sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1")   # no router solicitations
    return ns


def testpmd_pod(scope, vdev, cpu=0, name="pmd"):
    """A DPDK pod: dpdk-testpmd answering ARP and ping (icmpecho) on one vdev."""
    prefix = "psw" + uid()
    log = scope.path(name + prefix + ".log")
    logf = open(log, "w")
    cmd = ["dpdk-testpmd", "--no-huge", "-m", "256", "--no-pci", "--file-prefix=" + prefix,
           "--lcores=0@%d,1@%d" % (cpu, cpu), "--single-file-segments", "--vdev=" + vdev,
           "--log-level=*:notice", "--", "--forward-mode=icmpecho", "--auto-start",
           "--stats-period=1", "--nb-cores=1", "--rxq=1", "--txq=1", "--no-mlockall",
           "--total-num-mbufs=4096"]
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    defer_dpdk_stop(scope, p, prefix)
    p.log = log
    return p


def defer_dpdk_stop(scope, p, prefix):
    """At scope end: SIGINT to a DPDK process (SIGKILL after 10 s), then its runtime
    directory. Returns that stop, to call earlier (a second call does nothing)."""
    def stop():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)

    scope.defer(stop)
    return stop


def external_client(scope):
    """A namespace standing in for a client outside the cluster, on the node's
    uplink: veth, 192.168.50.2/24; the node's address there is 192.168.50.1."""
    ext = Netns(scope)
    host = "up" + uid()
    run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ext.name])
    scope.defer(lambda: run(["ip", "link", "del", host], check_rc=False))
    run(["ip", "link", "set", host, "up"])
    ext.ip("link set eth0 address 02:00:00:00:50:02 up")
    ext.ip("addr add 192.168.50.2/24 dev eth0")
    ext.sh("ethtool -K eth0 tx off >/dev/null")
    conf = """node = { addresses = [ "192.168.50.1" ]; };
ports = ( { name = "up"; kind = "af_packet"; ifname = "%s"; } );
routes = ( { prefix = "192.168.50.0/24"; port = "up"; mac = "02:00:00:00:50:02"; } );
""" % host
    return ext, conf


def wait_until(fn, timeout):
    """Poll fn until it is true or timeout seconds pass; its last answer."""
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.02)
    return fn()


def udp_sizes(ns, port, path, timeout):
    """A UDP server in ns on port: the sizes of the datagrams it reads until
    timeout seconds pass without one, written to path (space-separated)
    when it ends. Returns its process (kill_group() it at the end)."""
    return ns.popen("""exec python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', %d))
s.settimeout(%s)
got = []
try:
    while True:
        got.append(len(s.recv(65536)))
except OSError:
    pass
open('%s', 'w').write(' '.join(map(str, got)))
" """ % (port, timeout, path))


def ping(ns, dst, count=3, interval=0.2, timeout=10, v6=False):
    """Returns (sent, received) of a ping run inside ns."""
    r = ns.sh("ping %s -c %d -i %s -W 1 %s" % ("-6" if v6 else "", count, interval, dst),
              check_rc=False, timeout=timeout + count * interval + 5)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
    check(m, "ping gave no summary: %s %s" % (r.stdout, r.stderr))
    return int(m.group(1)), int(m.group(2))


def main():
    only = sys.argv[1:]
    passed = failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        scope = Scope()
        t0 = time.time()
        try:
            fn(scope)
            passed += 1
            print("  passed  %s (%.1fs)" % (fn.__name__, time.time() - t0), flush=True)
        except Exception as e:
            failed += 1
            print("  FAILED  %s (%.1fs): %s" % (fn.__name__, time.time() - t0, e), flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
            for report in scope.sanitizer_reports():
                print(report, flush=True)
        finally:
            scope.close()
    # Not the 'N passed, N failed' form: scripts/test prints the one closing
    # line CI reads, and a per-file copy of it would be a second one.
    print("%s: passed %d, failed %d" % (os.path.basename(sys.argv[0]), passed, failed))
    sys.exit(1 if failed else 0)
