"""A small fake Kubernetes API server for podswitch's agent tests.

Standard library only. It serves cluster-wide (and namespaced) lists and
watches of Namespaces, Pods, Services, Nodes, EndpointSlices and
NetworkPolicies the way the real API server does, as far as a list+watch
client can tell:

  * lists: {"kind": "PodList", "apiVersion": "v1", "metadata":
    {"resourceVersion": "N"}, "items": [...]} with the items WITHOUT kind and
    apiVersion; limit/continue pagination over a consistent snapshot
    (continue tokens are opaque and expire with compaction: 410).
  * watches (?watch=1|true): HTTP/1.1 200, Transfer-Encoding: chunked, one
    JSON event a line, objects WITH kind and apiVersion. resourceVersion N
    replays every change after N from the history; unset or "0" starts with a
    synthetic ADDED for every current object. A resourceVersion older than
    the compaction point gets one ERROR event (code 410, reason Expired) and
    the end of the stream (or HTTP 410 when expired_as_http is set).
    timeoutSeconds ends the stream cleanly. BOOKMARK events only for
    allowWatchBookmarks=true.
  * Authorization: Bearer TOKEN, else 401 with a Status object; unknown
    paths 404, methods other than GET 405, all with Status objects.
  * client certificates (tls=True, client_certs="required" or "optional"):
    a certificate signed by the server's CA (client_cert() makes one)
    authenticates a request without a token, as the API server's x509
    authenticator does. "required": the TLS handshake fails without one
    (or with one of another CA); "optional": without one the token is
    checked. The subjects' CNs that authenticated are in client_cns.

The test thread changes the state (put, delete, compact, ...) while server
threads stream; everything is under one lock, and a watch is registered in
the same critical section that reads the history, so no event is missed or
sent twice.

    api = FakeAPI(tls=True).start()
    api.put({"kind": "Pod", "metadata": {"name": "a", "namespace": "default"}})
    ... point the agent at api.url with token api.token and CA api.ca_path ...
    api.stop()
"""
import base64
import collections
import copy
import datetime
import json
import os
import queue
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# resource name -> (kind, apiVersion, path prefix, namespaced)
RESOURCES = {
    "namespaces": ("Namespace", "v1", "/api/v1", False),
    "pods": ("Pod", "v1", "/api/v1", True),
    "services": ("Service", "v1", "/api/v1", True),
    "nodes": ("Node", "v1", "/api/v1", False),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1", True),
    "networkpolicies": ("NetworkPolicy", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", True),
    # a CustomResourceDefinition's (Multus'): absent from a server made with crds=False
    "multi-networkpolicies": ("MultiNetworkPolicy", "k8s.cni.cncf.io/v1beta1", "/apis/k8s.cni.cncf.io/v1beta1",
                              True),
}
KINDS = {v[0]: k for k, v in RESOURCES.items()}

FIRST_RV = 1000
DEFAULT_WATCH_TIMEOUT = 1800

Request = collections.namedtuple("Request", "method path query time")

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 410: "Expired", 429: "TooManyRequests",
           500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def status_object(code, message, reason=None):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason or REASONS.get(code, ""), "code": code}


def _resource(kind):
    """'Pod' or 'pods' -> 'pods'."""
    if kind in RESOURCES:
        return kind
    if kind in KINDS:
        return KINDS[kind]
    raise ValueError("fakeapi: unknown kind %r" % (kind,))


def _key(obj):
    md = obj.get("metadata", {})
    return (md.get("namespace", ""), md.get("name", ""))


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(event):
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _openssl(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s%s" % (" ".join(args), p.stdout, p.stderr))


def make_ca(certdir, name, cn=None):
    """A self-signed CA, EC P-256: (name.crt, name.key) in certdir."""
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", name + ".key", "-out", name + ".crt", "-days", "7", "-subj", "/CN=" + (cn or name),
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"], certdir)
    return os.path.join(certdir, name + ".crt"), os.path.join(certdir, name + ".key")


def make_client_cert(certdir, name, cn, ca="ca"):
    """A client certificate (extendedKeyUsage clientAuth) for CN cn, signed by
    the CA ca.crt/ca.key in certdir: (name.crt, name.key)."""
    with open(os.path.join(certdir, name + ".ext"), "w") as f:
        f.write("basicConstraints = CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = clientAuth\n"
                "authorityKeyIdentifier = keyid\n")
    _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/O=system:nodes/CN=" + cn], certdir)
    _openssl(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
              "-CAcreateserial", "-days", "7", "-extfile", name + ".ext", "-out", name + ".crt"], certdir)
    return os.path.join(certdir, name + ".crt"), os.path.join(certdir, name + ".key")


def make_certs(certdir):
    """A self-signed CA and a server certificate for 127.0.0.1 (CN and IP SAN)
    signed by it, EC P-256. Returns (ca.crt, server.crt, server.key) paths."""
    with open(os.path.join(certdir, "server.ext"), "w") as f:
        f.write("basicConstraints = CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid\n"
                "subjectAltName = IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    make_ca(certdir, "ca", "fakeapi-ca")
    _openssl(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr",
                             "-subj", "/CN=127.0.0.1"], certdir)
    _openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
              "-CAcreateserial", "-days", "7", "-extfile", "server.ext", "-out", "server.crt"], certdir)
    return tuple(os.path.join(certdir, n) for n in ("ca.crt", "server.crt", "server.key"))


class _Watch:
    def __init__(self, resource, namespace, bookmarks):
        self.resource = resource
        self.namespace = namespace
        self.bookmarks = bookmarks
        self.q = queue.Queue()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up mid-stream are normal here


class FakeAPI:
    # When True, every watch event is written in several chunks split
    # mid-JSON (one event line spans chunk boundaries).
    split_events = False
    # When True, a watch from a compacted resourceVersion is answered with
    # HTTP 410 and a Status object instead of 200 + one ERROR event.
    expired_as_http = False
    # When True, put() adds the server-side fields a real API server adds
    # (managedFields, last-applied annotation, status noise, ...).
    junk = True

    def __init__(self, token="t0ken", tls=False, certdir=None, client_certs=None, crds=True):
        if client_certs not in (None, "required", "optional") or (client_certs and not tls):
            raise ValueError("fakeapi: client_certs is None, 'required' or 'optional', with tls=True")
        self.token = token
        self.crds = crds                  # False: no MultiNetworkPolicy resource (404, as without the CRD)
        self.tls = tls
        self.client_certs = client_certs
        self.client_cns = set()           # CNs of client certificates that authenticated requests
        self.lock = threading.RLock()
        self.rv = FIRST_RV
        self.compact_rv = FIRST_RV        # history holds every change with rv > compact_rv
        self.store = {r: {} for r in RESOURCES}
        self.history = []                 # (rv, resource, event line bytes, namespace)
        self.snapshots = {}               # (resource, rv) -> sorted items, for continue
        self.watches = set()
        self.conns = set()
        self.log = []
        self.fail = []                    # pending (status, retry_after)
        self.port = None
        self.url = None
        self.httpd = None
        self.thread = None
        self.ca_path = None
        self._own_certdir = False
        if tls:
            if certdir is None:
                certdir = tempfile.mkdtemp(prefix="fakeapi-")
                self._own_certdir = True
            os.makedirs(certdir, exist_ok=True)
            self.certdir = certdir
            self.ca_path, self.cert_path, self.key_path = make_certs(certdir)

    # -- lifecycle -------------------------------------------------------

    def start(self):
        """Listen on 127.0.0.1: a free port the first time, the same port
        again after stop() (a restarted API server keeps its state)."""
        handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = _Server(("127.0.0.1", self.port or 0), handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert_path, self.key_path)
            ctx.set_alpn_protocols(["http/1.1"])
            if self.client_certs:
                ctx.load_verify_locations(self.ca_path)
                ctx.verify_mode = ssl.CERT_REQUIRED if self.client_certs == "required" else ssl.CERT_OPTIONAL
            # the handshake runs in the connection's thread (_Handler.setup)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fakeapi", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Close the listener and every connection (watches end abruptly,
        without the last chunk). State is kept; start() again to restart."""
        if self.httpd is None:
            return
        with self.lock:
            for w in list(self.watches):
                w.q.put(("stop",))
            conns = list(self.conns)
        self.httpd.shutdown()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.httpd.server_close()
        self.thread.join(5)
        self.httpd = None
        deadline = time.time() + 5
        while time.time() < deadline:
            with self.lock:
                if not self.watches and not self.conns:
                    break
            time.sleep(0.01)

    def client_cert(self, name, cn=None, foreign=False):
        """A client certificate and key (paths) for CN cn (default name), signed
        by the server's CA, or with foreign=True by a CA the server does not
        trust. tls=True only."""
        if not self.tls:
            raise ValueError("fakeapi: client certificates need tls=True")
        ca = "ca"
        if foreign:
            ca = "foreign-ca"
            if not os.path.exists(os.path.join(self.certdir, ca + ".crt")):
                make_ca(self.certdir, ca)
        return make_client_cert(self.certdir, name, cn or name, ca)

    def cleanup(self):
        """stop() and remove the generated certificates (if certdir was not given)."""
        self.stop()
        if self._own_certdir:
            shutil.rmtree(self.certdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- state -----------------------------------------------------------

    def _decorate(self, obj, old, rv):
        md = obj.setdefault("metadata", {})
        md["resourceVersion"] = str(rv)
        if old is not None:
            omd = old["metadata"]
            md.setdefault("uid", omd["uid"])
            md.setdefault("creationTimestamp", omd["creationTimestamp"])
            md["generation"] = omd.get("generation", 1) + 1
        else:
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", _now())
            md.setdefault("generation", 1)
        if not self.junk:
            return
        md["managedFields"] = [{
            "manager": "kubectl-client-side-apply", "operation": "Update",
            "apiVersion": obj["apiVersion"], "time": _now(), "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}}}, "f:spec": {".": {}}}}]
        md.setdefault("annotations", {}).setdefault(
            "kubectl.kubernetes.io/last-applied-configuration",
            json.dumps({"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                        "metadata": {"name": md.get("name")}}) + "\n")
        kind = obj["kind"]
        if kind in ("Pod", "Service", "Node", "Namespace"):
            st = obj.setdefault("status", {})
            if kind == "Pod":
                st.setdefault("conditions", [
                    {"type": t, "status": "True", "lastProbeTime": None,
                     "lastTransitionTime": md["creationTimestamp"]}
                    for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")])
                st.setdefault("qosClass", "BestEffort")
                st.setdefault("startTime", md["creationTimestamp"])
                st.setdefault("containerStatuses", [{
                    "name": "c", "ready": True, "restartCount": 0, "image": "busybox:latest",
                    "imageID": "docker.io/library/busybox@sha256:" + "0" * 64,
                    "state": {"running": {"startedAt": md["creationTimestamp"]}}}])
            elif kind == "Service":
                st.setdefault("loadBalancer", {})
            elif kind == "Node":
                st.setdefault("nodeInfo", {"kernelVersion": "6.1.0", "kubeletVersion": "v1.30.0",
                                           "operatingSystem": "linux", "architecture": "amd64"})
                st.setdefault("images", [{"names": ["registry.k8s.io/pause:3.9"], "sizeBytes": 321520}])
            elif kind == "Namespace":
                st.setdefault("phase", "Active")

    def _emit(self, resource, etype, obj, rv):
        """Record a change and hand it to the open watches. Lock held."""
        ns = obj["metadata"].get("namespace", "")
        line = _line({"type": etype, "object": obj})
        self.history.append((rv, resource, line, ns))
        for w in self.watches:
            if w.resource == resource and (w.namespace is None or w.namespace == ns):
                w.q.put(("data", line))

    def put(self, obj):
        """Create or update an object (a dict with kind and metadata.name;
        namespaced kinds default to namespace "default"). Returns the stored
        copy, as a watch would carry it."""
        obj = copy.deepcopy(obj)
        resource = _resource(obj.get("kind", ""))
        kind, api_version, _, namespaced = RESOURCES[resource]
        obj = dict({"kind": kind, "apiVersion": obj.get("apiVersion") or api_version},
                   **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("fakeapi: put() needs metadata.name")
        if namespaced:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        with self.lock:
            old = self.store[resource].get(_key(obj))
            self.rv += 1
            self._decorate(obj, old, self.rv)
            self.store[resource][_key(obj)] = obj
            self._emit(resource, "MODIFIED" if old is not None else "ADDED", copy.deepcopy(obj), self.rv)
            return copy.deepcopy(obj)

    def delete(self, kind, namespace, name):
        """Delete an object; watches get DELETED with its last state and a
        new resourceVersion. Returns that state; KeyError when absent."""
        resource = _resource(kind)
        namespaced = RESOURCES[resource][3]
        key = ((namespace or "") if namespaced else "", name)
        with self.lock:
            obj = self.store[resource].pop(key)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._emit(resource, "DELETED", copy.deepcopy(obj), self.rv)
            return copy.deepcopy(obj)

    def objects(self, kind):
        with self.lock:
            store = self.store[_resource(kind)]
            return [copy.deepcopy(store[k]) for k in sorted(store)]

    def resource_version(self):
        """The current (global) resourceVersion, as an int."""
        with self.lock:
            return self.rv

    def compact(self):
        """Forget the history up to now: watches from an older resourceVersion
        (and continue tokens of older lists) get 410 Expired. A watch from the
        current resourceVersion still works, as it misses nothing."""
        with self.lock:
            self.compact_rv = self.rv
            self.history = []
            self.snapshots = {k: v for k, v in self.snapshots.items() if k[1] >= self.rv}

    def expire_watches(self):
        """Every open watch gets an ERROR 410 Expired event and ends."""
        with self.lock:
            for w in self.watches:
                w.q.put(("expire",))

    def close_watches(self):
        """Every open watch ends cleanly (as at a server-side timeout)."""
        with self.lock:
            for w in self.watches:
                w.q.put(("close",))

    def bookmark(self):
        """A BOOKMARK at the current resourceVersion to every watch that asked
        allowWatchBookmarks=true. Returns how many watches got one."""
        n = 0
        with self.lock:
            for w in self.watches:
                if w.bookmarks:
                    kind, api_version = RESOURCES[w.resource][:2]
                    w.q.put(("data", _line({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": str(self.rv)}}})))
                    n += 1
        return n

    def fail_next(self, n, status=503, retry_after=None):
        """The next n requests (of any kind, before authentication) are answered
        with `status` and a Status object, with Retry-After if given."""
        with self.lock:
            self.fail.extend([(status, retry_after)] * n)

    def set_token(self, token):
        with self.lock:
            self.token = token

    def requests(self):
        """Every request so far: Request(method, path, query, time) tuples;
        query maps each parameter to its (last) value."""
        with self.lock:
            return list(self.log)

    def clear_requests(self):
        with self.lock:
            self.log = []

    def watchers(self, kind=None):
        """Watch streams open now (of one kind, or all)."""
        with self.lock:
            if kind is None:
                return len(self.watches)
            r = _resource(kind)
            return sum(1 for w in self.watches if w.resource == r)

    def wait_watchers(self, n, kind=None, timeout=10):
        """Wait until exactly n watch streams (of kind) are open; True if so."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.watchers(kind) == n:
                return True
            time.sleep(0.01)
        return self.watchers(kind) == n


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    api = None  # set by FakeAPI.start

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        with self.api.lock:
            self.api.conns.add(self.request)

    def finish(self):
        with self.api.lock:
            self.api.conns.discard(self.request)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    # -- plain responses -------------------------------------------------

    def _json(self, code, body, headers=()):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _status(self, code, message, reason=None, headers=()):
        self._json(code, status_object(code, message, reason), headers)

    def _not_allowed(self):
        self.api_log()
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self._status(405, "the server does not allow this method on the requested resource")

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _not_allowed

    def api_log(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        with self.api.lock:
            self.api.log.append(Request(self.command, u.path, q, time.time()))
        return u.path, q

    # -- GET ---------------------------------------------------------------

    def do_GET(self):
        api = self.api
        path, q = self.api_log()
        with api.lock:
            fail = api.fail.pop(0) if api.fail else None
            token = api.token
        if fail:
            code, retry_after = fail
            headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
            msg = "too many requests, please try again later" if code == 429 else "service unavailable"
            return self._status(code, msg, headers=headers)
        if not self._cert_user() and self.headers.get("Authorization") != "Bearer " + token:
            return self._status(401, "Unauthorized")
        route = self._route(path)
        if route is None or (route[0] == "multi-networkpolicies" and not api.crds):
            return self._status(404, "the server could not find the requested resource")
        resource, namespace, name = route
        if name is not None:
            return self._get_one(resource, namespace, name)
        if q.get("watch", "") in ("1", "true", "True"):
            return self._watch(resource, namespace, q)
        return self._list(resource, namespace, q)

    def _cert_user(self):
        """The CN of a client certificate the handshake verified, or None."""
        if not self.api.client_certs or not isinstance(self.request, ssl.SSLSocket):
            return None
        cert = self.request.getpeercert()
        for rdn in (cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    with self.api.lock:
                        self.api.client_cns.add(v)
                    return v
        return None

    def _route(self, path):
        """-> (resource, namespace or None, name or None), or None."""
        parts = [p for p in path.split("/") if p]
        for resource, (_, _, prefix, namespaced) in RESOURCES.items():
            pre = [p for p in prefix.split("/") if p]
            if parts[:len(pre)] != pre:
                continue
            rest = parts[len(pre):]
            if rest[:1] == [resource] and len(rest) <= 2:
                if len(rest) == 2 and namespaced:
                    continue
                return resource, None, rest[1] if len(rest) == 2 else None
            if namespaced and len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == resource:
                return resource, rest[1], rest[3] if len(rest) == 4 else None
        return None

    def _get_one(self, resource, namespace, name):
        with self.api.lock:
            obj = self.api.store[resource].get((namespace or "", name))
            obj = copy.deepcopy(obj)
        if obj is None:
            return self._status(404, '%s "%s" not found' % (resource, name))
        self._json(200, obj)

    def _list(self, resource, namespace, q):
        api = self.api
        kind, api_version = RESOURCES[resource][:2]
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            return self._status(400, "invalid limit")
        cont = q.get("continue")
        with api.lock:
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont.encode()))
                    rv, start = int(tok["rv"]), tok["start"]
                    if tok.get("ns") != namespace or tok.get("r") != resource:
                        raise ValueError
                except (ValueError, KeyError, TypeError):
                    return self._status(400, "continue key is not valid")
                if rv < api.compact_rv or (resource, rv) not in api.snapshots:
                    return self._status(
                        410, "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter.")
                items = [it for it in api.snapshots[(resource, rv)] if list(_key(it)) > start]
            else:
                rv = api.rv
                store = api.store[resource]
                items = [store[k] for k in sorted(store) if namespace is None or k[0] == namespace]
                items = copy.deepcopy(items)
                for it in items:
                    del it["kind"], it["apiVersion"]
            meta = {"resourceVersion": str(rv)}
            if limit > 0 and len(items) > limit:
                if not cont:
                    api.snapshots[(resource, rv)] = items
                last = list(_key(items[limit - 1]))
                meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                    {"v": "meta.k8s.io/v1", "rv": rv, "start": last, "r": resource,
                     "ns": namespace}).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            body = {"kind": kind + "List", "apiVersion": api_version, "metadata": meta,
                    "items": copy.deepcopy(items)}
        self._json(200, body)

    # -- watch -------------------------------------------------------------

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_event(self, line):
        if not self.api.split_events or len(line) < 4:
            return self._chunk(line)
        n = len(line)
        cuts = sorted({1, n // 3, (2 * n) // 3 + 1, n - 1})
        prev = 0
        for c in cuts + [n]:
            if c > prev:
                self._chunk(line[prev:c])
                time.sleep(0.002)  # separate TCP segments, so the client reads them apart
            prev = c

    def _peer_gone(self):
        sock = self.request
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            if isinstance(sock, ssl.SSLSocket):
                return True  # a client does not talk while watching: close_notify or FIN
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _watch(self, resource, namespace, q):
        api = self.api
        kind, api_version = RESOURCES[resource][:2]
        rvs = q.get("resourceVersion", "")
        try:
            start_rv = int(rvs) if rvs not in ("", "0") else None
            timeout = int(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError:
            return self._status(400, "invalid resourceVersion or timeoutSeconds")
        w = _Watch(resource, namespace, q.get("allowWatchBookmarks") in ("1", "true", "True"))
        expired = None
        with api.lock:
            if start_rv is None:
                store = api.store[resource]
                replay = [_line({"type": "ADDED", "object": store[k]}) for k in sorted(store)
                          if namespace is None or k[0] == namespace]
            elif start_rv < api.compact_rv:
                expired = "too old resource version: %d (%d)" % (start_rv, api.compact_rv)
                replay = []
            else:
                replay = [line for rv, r, line, ns in api.history
                          if rv > start_rv and r == resource and (namespace is None or ns == namespace)]
            if not expired:
                api.watches.add(w)
        if expired and api.expired_as_http:
            return self._status(410, expired, "Expired")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if expired:
                self._send_event(_line({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": expired, "reason": "Expired", "code": 410}}))
                self.wfile.write(b"0\r\n\r\n")
                return
            for line in replay:
                self._send_event(line)
            deadline = time.time() + timeout
            while True:
                left = deadline - time.time()
                if left <= 0:
                    break
                try:
                    msg = w.q.get(timeout=min(left, 0.2))
                except queue.Empty:
                    if self._peer_gone():
                        self.close_connection = True
                        return
                    continue
                if msg[0] == "data":
                    self._send_event(msg[1])
                elif msg[0] == "expire":
                    self._send_event(_line({"type": "ERROR", "object": {
                        "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "too old resource version", "reason": "Expired", "code": 410}}))
                    break
                elif msg[0] == "close":
                    break
                elif msg[0] == "stop":
                    self.close_connection = True
                    return
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            with api.lock:
                api.watches.discard(w)
