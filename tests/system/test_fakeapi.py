#!/usr/bin/python3
"""Self-test of tests/lib/fakeapi.py, the fake Kubernetes API server the
agent tests list and watch from: lists and pagination, watches (history
replay, live events, bookmarks, events split across chunks, expiry,
timeouts), failures with Retry-After, bearer tokens, TLS and client
certificates signed by the test CA. Standard library clients only (plus
the curl CLI when it is installed)."""
import http.client
import json
import os
import queue
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from fakeapi import FakeAPI  # noqa: E402
from pswtest import check, main, test  # noqa: E402

PODS = "/api/v1/pods"


def pod(name, ns="default", ip=None, labels=None):
    o = {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
         "spec": {"containers": [{"name": "c"}]}}
    if ip:
        o["status"] = {"podIP": ip, "phase": "Running"}
    return o


def started(scope, **kw):
    api = FakeAPI(**kw)
    scope.defer(api.cleanup)
    return api.start()


def client_ctx(api):
    return ssl.create_default_context(cafile=api.ca_path) if api.tls else None


def get(api, path, token=None, method="GET", ctx=None):
    """One request; returns (status, headers dict, decoded JSON body)."""
    if api.tls:
        c = http.client.HTTPSConnection("127.0.0.1", api.port, timeout=10, context=ctx or client_ctx(api))
    else:
        c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    headers = {} if token == "" else {"Authorization": "Bearer " + (token or api.token)}
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(body) if body else None


class Watch:
    """A watch read off a raw socket: the chunked framing is parsed here, so
    the test sees every chunk; events are reassembled line by line."""

    def __init__(self, api, path, token=None):
        s = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        if api.tls:
            s = client_ctx(api).wrap_socket(s, server_hostname="127.0.0.1")
        self.sock = s
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                   "Accept: application/json\r\n\r\n" % (path, token or api.token)).encode())
        self.f = s.makefile("rb")
        self.status = int(self.f.readline().split()[1])
        self.headers = {}
        while True:
            h = self.f.readline().decode().strip()
            if not h:
                break
            k, v = h.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunks = []
        self.events = queue.Queue()
        self.clean = None  # True: ended by the last chunk; False: connection cut
        self.body = None
        self.leftover = b""
        if self.headers.get("transfer-encoding") != "chunked":
            self.body = json.loads(self.f.read(int(self.headers.get("content-length", 0))))
            return
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        try:
            self.sock.settimeout(30)
            while True:
                size_line = self.f.readline()
                if not size_line:
                    self.clean = False
                    break
                n = int(size_line.strip(), 16)
                if n == 0:
                    self.f.readline()
                    self.clean = True
                    break
                data = self.f.read(n)
                self.f.read(2)
                self.chunks.append(data)
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.events.put(json.loads(line))
        except (OSError, ValueError):
            self.clean = False
        self.leftover = buf  # an event cut short: the test's next() still ends
        self.events.put(None)

    def next(self, timeout=5):
        """The next event; None at the end of the stream."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no watch event within %ss" % timeout)

    def take(self, n, timeout=5):
        return [self.next(timeout) for _ in range(n)]

    def quiet(self, seconds=0.3):
        """True when no event arrives for a while."""
        try:
            e = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        self.events.put(e)
        return False

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        except OSError:
            pass


def watch(scope, api, path, **kw):
    w = Watch(api, path, **kw)
    scope.defer(w.close)
    return w


@test
def list_pages_and_items_have_no_kind(scope):
    api = started(scope)
    for i in range(5):
        api.put(pod("p%d" % i, ip="10.0.0.%d" % (i + 1)))
    api.put(pod("q", ns="other"))
    st, _, body = get(api, PODS)
    check(st == 200, "list: %s" % st)
    check(body["kind"] == "PodList" and body["apiVersion"] == "v1", "list kind: %s" % body)
    check(body["metadata"]["resourceVersion"] == str(api.resource_version()), "list rv: %s" % body["metadata"])
    check("continue" not in body["metadata"], "unpaged list has continue")
    check(len(body["items"]) == 6, "6 items: %d" % len(body["items"]))
    for it in body["items"]:
        check("kind" not in it and "apiVersion" not in it, "item carries kind/apiVersion: %s" % it)
        md = it["metadata"]
        check(md["uid"] and md["creationTimestamp"] and md["resourceVersion"], "metadata filled: %s" % md)
        check(md["managedFields"], "no managedFields junk")
    check(body["items"][0]["status"]["podIP"] == "10.0.0.1", "status kept: %s" % body["items"][0]["status"])
    check(body["items"][0]["status"]["conditions"], "no status junk")
    # pages of 2 over a consistent snapshot, even with changes in between
    names, path, rvs = [], PODS + "?limit=2", set()
    for page in range(10):
        st, _, b = get(api, path)
        check(st == 200 and len(b["items"]) <= 2, "page %d: %s %s" % (page, st, b))
        names += [it["metadata"]["name"] for it in b["items"]]
        rvs.add(b["metadata"]["resourceVersion"])
        if page == 0:
            api.put(pod("zz"))
            check(b["metadata"]["remainingItemCount"] == 4, "remaining: %s" % b["metadata"])
        if not b["metadata"].get("continue"):
            break
        path = PODS + "?limit=2&continue=" + b["metadata"]["continue"]
    check(names == ["p0", "p1", "p2", "p3", "p4", "q"], "paged names: %s" % names)
    check(len(rvs) == 1, "pages of one list share a resourceVersion: %s" % rvs)
    st, _, b = get(api, PODS + "?limit=500&resourceVersion=0&resourceVersionMatch=NotOlderThan")
    check(st == 200 and len(b["items"]) == 7 and "continue" not in b["metadata"], "limit 500: %s" % st)
    st, _, b = get(api, PODS + "?limit=2&continue=garbage")
    check(st == 400 and b["kind"] == "Status", "bad continue: %s %s" % (st, b))
    check([o["metadata"]["name"] for o in api.objects("Pod")][:2] == ["p0", "p1"], "objects()")


@test
def every_resource_path_answers_and_others_do_not(scope):
    api = started(scope)
    api.put({"kind": "Namespace", "metadata": {"name": "default"}})
    api.put({"kind": "Node", "metadata": {"name": "n1"}})
    api.put({"kind": "Service", "metadata": {"name": "s", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}})
    api.put({"kind": "EndpointSlice", "metadata": {"name": "s-1", "namespace": "default",
                                                   "labels": {"kubernetes.io/service-name": "s"}},
             "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]})
    api.put({"kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": "default"}, "spec": {}})
    api.put(pod("a"))
    for path, kind, av in [("/api/v1/namespaces", "NamespaceList", "v1"), ("/api/v1/nodes", "NodeList", "v1"),
                           ("/api/v1/services", "ServiceList", "v1"), (PODS, "PodList", "v1"),
                           ("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSliceList",
                            "discovery.k8s.io/v1"),
                           ("/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicyList",
                            "networking.k8s.io/v1"),
                           ("/api/v1/namespaces/default/pods", "PodList", "v1"),
                           ("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                            "EndpointSliceList", "discovery.k8s.io/v1")]:
        st, _, b = get(api, path)
        check(st == 200 and b["kind"] == kind and b["apiVersion"] == av and len(b["items"]) == 1,
              "%s: %s %s" % (path, st, b))
    st, _, b = get(api, "/api/v1/namespaces/nope/pods")
    check(st == 200 and b["items"] == [], "other namespace: %s" % b)
    st, _, b = get(api, "/api/v1/namespaces/default/pods/a")
    check(st == 200 and b["kind"] == "Pod" and b["metadata"]["name"] == "a", "get one: %s" % b)
    for path in ["/api/v1/secrets", "/apis/apps/v1/deployments", "/api/v1/pods/a", "/healthz"]:
        st, _, b = get(api, path)
        check(st == 404 and b["kind"] == "Status" and b["code"] == 404 and b["reason"] == "NotFound",
              "%s: %s %s" % (path, st, b))
    for m in ["POST", "PUT", "DELETE", "PATCH"]:
        st, _, b = get(api, PODS, method=m)
        check(st == 405 and b["code"] == 405, "%s: %s %s" % (m, st, b))


@test
def watch_replays_history_then_streams_live(scope):
    api = started(scope)
    _, _, lst = get(api, PODS)
    rv0 = lst["metadata"]["resourceVersion"]
    api.put(pod("a"))
    api.put(pod("b"))
    api.put({"kind": "Service", "metadata": {"name": "s"}})  # another kind: not in the pod watch
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%s&allowWatchBookmarks=true" % rv0)
    check(w.status == 200 and w.headers["content-type"] == "application/json", "watch: %s" % w.headers)
    e1, e2 = w.take(2)
    check((e1["type"], e1["object"]["metadata"]["name"]) == ("ADDED", "a"), "replay 1: %s" % e1)
    check((e2["type"], e2["object"]["metadata"]["name"]) == ("ADDED", "b"), "replay 2: %s" % e2)
    check(e1["object"]["kind"] == "Pod" and e1["object"]["apiVersion"] == "v1", "event objects carry kind")
    check(w.quiet(), "an event beyond the history")
    check(api.watchers() == 1 and api.watchers("Pod") == 1 and api.watchers("services") == 0,
          "watchers: %d" % api.watchers())
    uid_a = e1["object"]["metadata"]["uid"]
    api.put(pod("a", labels={"x": "1"}))
    e = w.next()
    check(e["type"] == "MODIFIED" and e["object"]["metadata"]["labels"] == {"x": "1"}, "modified: %s" % e)
    check(e["object"]["metadata"]["uid"] == uid_a, "uid kept on update")
    last = api.delete("Pod", "default", "b")
    e = w.next()
    check(e["type"] == "DELETED" and e["object"]["metadata"]["name"] == "b", "deleted: %s" % e)
    check(int(e["object"]["metadata"]["resourceVersion"]) == api.resource_version()
          == int(last["metadata"]["resourceVersion"]) > int(e2["object"]["metadata"]["resourceVersion"]),
          "DELETED has a new resourceVersion")
    check(api.bookmark() == 1, "one watch asked for bookmarks")
    e = w.next()
    check(e == {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {
        "resourceVersion": str(api.resource_version())}}}, "bookmark: %s" % e)
    # a watch without allowWatchBookmarks gets none; one from a later rv gets only what follows it
    w2 = watch(scope, api, PODS + "?watch=true&resourceVersion=%s" % e["object"]["metadata"]["resourceVersion"])
    check(api.wait_watchers(2), "two watches")
    check(api.bookmark() == 1 and w2.quiet(), "bookmark to a watch that did not ask for it")
    w.next()
    api.close_watches()
    check(w.next() is None and w2.next() is None, "close_watches ends the streams")
    check(w.clean and w2.clean, "streams ended with the last chunk")
    check(w.leftover == w2.leftover == b"", "stream ended mid-event")
    check(api.wait_watchers(0), "watchers left: %d" % api.watchers())


@test
def watch_without_resource_version_starts_with_current_state(scope):
    api = started(scope)
    api.put(pod("a"))
    api.put(pod("b"))
    api.delete("Pod", "default", "a")
    w = watch(scope, api, PODS + "?watch=1")
    e = w.next()
    check(e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "b", "synthetic add: %s" % e)
    check(w.quiet(), "more than the current state")
    w0 = watch(scope, api, PODS + "?watch=1&resourceVersion=0")
    check(w0.next()["object"]["metadata"]["name"] == "b" and w0.quiet(), "rv 0 starts at current state")


@test
def watch_ends_cleanly_at_timeout_seconds(scope):
    api = started(scope)
    t0 = time.time()
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%d&timeoutSeconds=1" % api.resource_version())
    check(w.next(5) is None, "event on an empty watch")
    dt = time.time() - t0
    check(w.clean and 0.9 < dt < 2.5, "timeout end clean=%s after %.2fs" % (w.clean, dt))
    check(api.wait_watchers(0), "watch still counted")


@test
def split_events_are_reassembled_by_a_line_reader(scope):
    api = started(scope)
    api.split_events = True
    rv = api.resource_version()
    for i in range(3):
        api.put(pod("split%d" % i, ip="10.1.0.%d" % i))
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%d&allowWatchBookmarks=1" % rv)
    evs = w.take(3)
    api.put(pod("live"))
    api.bookmark()
    evs += w.take(2)
    check([e["type"] for e in evs] == ["ADDED"] * 4 + ["BOOKMARK"], "types: %s" % [e["type"] for e in evs])
    check([e["object"]["metadata"].get("name") for e in evs[:4]] == ["split0", "split1", "split2", "live"],
          "names: %s" % evs)
    api.close_watches()
    check(w.next() is None and w.clean and w.leftover == b"", "split stream did not end on a whole event")
    mid = [c for c in w.chunks if not c.endswith(b"\n")]
    check(len(w.chunks) >= 5 * 3 and len(mid) >= 5 * 2, "chunks not split mid-event: %d chunks" % len(w.chunks))
    # a real line reader (http.client undoes the chunking) sees whole lines
    c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    c.request("GET", PODS + "?watch=1&resourceVersion=%d&timeoutSeconds=1" % rv,
              headers={"Authorization": "Bearer " + api.token})
    r = c.getresponse()
    lines = [json.loads(ln) for ln in r.read().splitlines()]
    check([e["object"]["metadata"]["name"] for e in lines] == ["split0", "split1", "split2", "live"],
          "http.client lines: %s" % lines)
    c.close()


@test
def compaction_expires_old_watches_and_continue_tokens(scope):
    api = started(scope)
    for i in range(3):
        api.put(pod("p%d" % i))
    _, _, page = get(api, PODS + "?limit=1")
    old_rv = page["metadata"]["resourceVersion"]
    api.put(pod("p9"))
    api.compact()
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%s" % old_rv)
    e = w.next()
    check(w.status == 200 and e["type"] == "ERROR", "expired watch: %s %s" % (w.status, e))
    check(e["object"]["kind"] == "Status" and e["object"]["code"] == 410 and e["object"]["reason"] == "Expired",
          "410 event: %s" % e)
    check(w.next() is None and w.clean, "expired watch ends cleanly")
    api.expired_as_http = True
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%s" % old_rv)
    check(w.status == 410 and w.body["code"] == 410 and w.body["reason"] == "Expired", "HTTP 410: %s" % w.body)
    st, _, b = get(api, PODS + "?limit=1&continue=" + page["metadata"]["continue"])
    check(st == 410 and b["reason"] == "Expired", "old continue: %s %s" % (st, b))
    # the current resourceVersion misses nothing: still watchable
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%d" % api.resource_version())
    check(w.status == 200 and w.quiet(), "current rv after compaction")
    api.put(pod("after"))
    check(w.next()["object"]["metadata"]["name"] == "after", "live after compaction")


@test
def expire_watches_sends_410_and_ends(scope):
    api = started(scope)
    ws = [watch(scope, api, p + "?watch=1&resourceVersion=%d" % api.resource_version())
          for p in (PODS, "/api/v1/services")]
    check(api.wait_watchers(2), "two watches")
    api.expire_watches()
    for w in ws:
        e = w.next()
        check(e == {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                "message": "too old resource version", "reason": "Expired",
                                                "code": 410}}, "expiry event: %s" % e)
        check(w.next() is None, "stream goes on after expiry")
    check(api.wait_watchers(0), "watches left")


@test
def fail_next_answers_the_status_with_retry_after(scope):
    api = started(scope)
    api.fail_next(2, 429, retry_after=3)
    for _ in range(2):
        st, h, b = get(api, PODS)
        check(st == 429 and h.get("retry-after") == "3" and b["code"] == 429 and b["reason"] == "TooManyRequests",
              "429: %s %s %s" % (st, h, b))
    check(get(api, PODS)[0] == 200, "third request not served")
    api.fail_next(1)
    st, h, b = get(api, PODS + "?watch=1")
    check(st == 503 and "retry-after" not in h and b["reason"] == "ServiceUnavailable", "503: %s %s" % (st, h))
    check(get(api, PODS)[0] == 200, "after 503")


@test
def tokens_are_checked_and_rotate(scope):
    api = started(scope, token="first")
    for tok in ["wrong", ""]:
        st, _, b = get(api, PODS, token=tok)
        check(st == 401 and b["kind"] == "Status" and b["code"] == 401 and b["reason"] == "Unauthorized",
              "token %r: %s %s" % (tok, st, b))
    w = Watch(api, PODS + "?watch=1", token="wrong")
    scope.defer(w.close)
    check(w.status == 401, "watch with a wrong token: %s" % w.status)
    check(get(api, PODS)[0] == 200, "right token refused")
    api.set_token("second")
    check(get(api, PODS, token="first")[0] == 401, "old token accepted after rotation")
    check(get(api, PODS, token="second")[0] == 200, "new token refused")


@test
def requests_are_logged(scope):
    api = started(scope)
    get(api, PODS + "?limit=5&resourceVersion=0")
    get(api, "/api/v1/nodes", token="bad")
    r = api.requests()
    check([(x.method, x.path) for x in r] == [("GET", PODS), ("GET", "/api/v1/nodes")], "log: %s" % r)
    m, p, q, t = r[0]
    check(q == {"limit": "5", "resourceVersion": "0"} and abs(t - time.time()) < 5, "query: %s" % (q,))


@test
def tls_with_the_generated_ca(scope):
    api = started(scope, tls=True, certdir=scope.path("certs"))
    check(api.url == "https://127.0.0.1:%d" % api.port and os.path.exists(api.ca_path), "url/ca: %s" % api.url)
    api.put(pod("a"))
    st, _, b = get(api, PODS)  # verifies the chain and the 127.0.0.1 IP SAN
    check(st == 200 and len(b["items"]) == 1, "TLS list: %s" % st)
    try:
        get(api, PODS, ctx=ssl.create_default_context())
        check(False, "the server's certificate verified without its CA")
    except ssl.SSLCertVerificationError:
        pass
    api.split_events = True
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%d&allowWatchBookmarks=true" % (api.resource_version() - 1))
    check(w.next()["object"]["metadata"]["name"] == "a", "TLS replay")
    api.put(pod("b"))
    check(w.next()["object"]["metadata"]["name"] == "b", "TLS live")
    api.close_watches()
    check(w.next() is None and w.clean, "TLS clean end")
    if shutil.which("curl"):
        p = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", api.ca_path, "-H",
                            "Authorization: Bearer " + api.token,
                            api.url + PODS + "?watch=1&timeoutSeconds=1"],
                           capture_output=True, text=True, timeout=10)
        lines = [json.loads(ln) for ln in p.stdout.splitlines()]
        check(p.returncode == 0 and [e["object"]["metadata"]["name"] for e in lines] == ["a", "b"],
              "curl watch: rc %d %s %s" % (p.returncode, p.stdout, p.stderr))


def refused_at_handshake(api, ctx):
    """True when the TLS connection fails (no client certificate, or one of a
    CA the server does not trust); with TLS 1.3 that shows on the first read."""
    try:
        get(api, PODS, token="", ctx=ctx)
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return True
    return False


@test
def client_certificates_required_and_optional(scope):
    api = started(scope, tls=True, client_certs="required", certdir=scope.path("certs"))
    api.put(pod("a"))
    crt, key = api.client_cert("agent", cn="system:node:node-a")
    ctx = client_ctx(api)
    ctx.load_cert_chain(crt, key)
    st, _, b = get(api, PODS, token="", ctx=ctx)  # no token: the certificate authenticates
    check(st == 200 and len(b["items"]) == 1, "list with a client certificate: %s %s" % (st, b))
    check(api.client_cns == {"system:node:node-a"}, "client CNs: %s" % api.client_cns)
    check(refused_at_handshake(api, client_ctx(api)), "required: a client without a certificate got through")
    rogue = client_ctx(api)
    rogue.load_cert_chain(*api.client_cert("rogue", foreign=True))
    check(refused_at_handshake(api, rogue), "required: a certificate of another CA got through")
    check(api.client_cns == {"system:node:node-a"}, "client CNs after refusals: %s" % api.client_cns)
    # a watch over a client-certificate connection
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", api.port), timeout=10), server_hostname="127.0.0.1")
    s.sendall(b"GET " + (PODS + "?watch=1&timeoutSeconds=1").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    head = s.recv(4096)
    s.close()
    check(head.startswith(b"HTTP/1.1 200"), "watch with a client certificate: %r" % head[:80])
    # optional: the certificate or the token; neither is 401, a foreign certificate fails
    opt = started(scope, tls=True, client_certs="optional", certdir=scope.path("certs-opt"))
    ctx = client_ctx(opt)
    ctx.load_cert_chain(*opt.client_cert("agent"))
    check(get(opt, PODS, token="", ctx=ctx)[0] == 200, "optional: certificate refused")
    check(get(opt, PODS)[0] == 200, "optional: token refused")
    st, _, b = get(opt, PODS, token="")
    check(st == 401 and b["reason"] == "Unauthorized", "optional: neither: %s %s" % (st, b))
    rogue = client_ctx(opt)
    rogue.load_cert_chain(*opt.client_cert("rogue", foreign=True))
    check(refused_at_handshake(opt, rogue), "optional: a certificate of another CA got through")
    try:
        FakeAPI(client_certs="required")
        check(False, "client certificates without TLS accepted")
    except ValueError:
        pass


@test
def concurrent_puts_reach_every_watch_in_order(scope):
    api = started(scope)
    rv = api.resource_version()
    ws = [watch(scope, api, PODS + "?watch=1&resourceVersion=%d" % rv) for _ in range(3)]
    check(api.wait_watchers(3), "watches")
    writers = [threading.Thread(target=lambda k=k: [api.put(pod("w%d-%d" % (k, i))) for i in range(50)])
               for k in range(2)]
    for t in writers:
        t.start()
    deleted = 0
    for i in range(20):
        api.put(pod("m%d" % i))
        if i % 2:
            api.delete("Pod", "default", "m%d" % (i - 1))
            deleted += 1
    for t in writers:
        t.join()
    total = 100 + 20 + deleted
    for w in ws:
        evs = w.take(total)
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        check(rvs == list(range(rv + 1, rv + total + 1)), "resourceVersions not in order/complete")
    # a watch started afterwards from the same rv replays the same sequence
    late = watch(scope, api, PODS + "?watch=1&resourceVersion=%d" % rv)
    check(len(late.take(total)) == total and late.quiet(), "late replay")


@test
def restart_keeps_state_and_port_and_cuts_watches(scope):
    api = started(scope)
    api.put(pod("a"))
    port = api.port
    w = watch(scope, api, PODS + "?watch=1&resourceVersion=%d" % api.resource_version())
    check(api.wait_watchers(1), "watch")
    api.stop()
    check(w.next() is None and w.clean is False, "stop() should cut the watch (clean=%s)" % w.clean)
    check(api.watchers() == 0, "watchers after stop")
    try:
        get(api, PODS)
        check(False, "stopped server answered")
    except OSError:
        pass
    api.start()
    check(api.port == port, "new port after restart")
    st, _, b = get(api, PODS)
    check(st == 200 and [i["metadata"]["name"] for i in b["items"]] == ["a"], "state after restart: %s" % b)


if __name__ == "__main__":
    main()
