#!/usr/bin/python3
"""Small programs run inside a pod's network namespace by the NetworkPolicy
tests (tests/lib/polmatrix.py). Standard library only, so each starts fast.

  polagent.py serve NAME          TCP 53, 80, 81, 8080 and UDP 53, 5353: every
                                  connection / datagram is answered with
                                  "NAME\\n"; TCP 9000 echoes lines. Prints
                                  "ready" once every socket is bound.
  polagent.py probe JSON          JSON: {"timeout": s, "targets": [[addr, proto,
                                  port, sport], ...]}; probes every target at once
                                  from its own source port (UDP resent at 0.3 s
                                  and 0.6 s) and prints a JSON list, one entry a
                                  target: the first line answered, or
                                  "!timeout", "!refused", "!error:..."
  polagent.py watch JSON          {"addr", "port", "sport", "interval", "timeout",
                                  "losses", "max"}: one UDP probe after another,
                                  each from a new source port, until "losses"
                                  in a row went unanswered (or "max" seconds);
                                  prints a JSON list of [send time, answered].
  polagent.py listen JSON         {"ifname", "udp_port", "tcp_port", "peer",
                                  "seconds"}: a UDP socket on udp_port and a packet
                                  socket on ifname; prints "ready", then after
                                  "seconds" a JSON object: the UDP payloads
                                  received and the TCP flags of the segments from
                                  peer to tcp_port seen on the interface.
  polagent.py inject JSON         {"dst", "udp": [sport, dport], "synack": [sport,
                                  dport], "count"}: unsolicited UDP datagrams and
                                  TCP SYN-ACKs through raw sockets; prints
                                  {"sent": count}.
  polagent.py stream JSON         {"addr", "port", "pps"}: UDP datagrams at pps
                                  until standard input closes; prints {"sent": n}.
  polagent.py sink JSON           {"port"}: counts UDP datagrams until standard
                                  input closes; prints {"received": n}.

JSON: the text itself, or @FILE to read it from a file.
"""
import errno
import json
import os
import selectors
import socket
import struct
import sys
import time

TCP_PORTS = (53, 80, 81, 8080)
UDP_PORTS = (53, 5353)
ECHO_PORT = 9000


def serve(name):
    reply = (name + "\n").encode()
    sel = selectors.DefaultSelector()
    for port in TCP_PORTS + (ECHO_PORT,):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(128)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("listen", port))
    for port in UDP_PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("udp", port))
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            kind, port = key.data
            s = key.fileobj
            try:
                if kind == "listen":
                    c, _ = s.accept()
                    if port == ECHO_PORT:
                        c.setblocking(False)
                        sel.register(c, selectors.EVENT_READ, ("echo", port))
                    else:
                        c.setblocking(True)
                        c.settimeout(1)
                        c.sendall(reply)
                        c.close()
                elif kind == "udp":
                    while True:
                        try:
                            _, peer = s.recvfrom(2048)
                        except BlockingIOError:
                            break
                        s.sendto(reply, peer)
                else:
                    data = s.recv(65536)
                    if data:
                        s.setblocking(True)
                        s.sendall(data)
                        s.setblocking(False)
                    else:
                        sel.unregister(s)
                        s.close()
            except OSError:
                if kind == "echo":
                    try:
                        sel.unregister(s)
                    except (KeyError, ValueError):
                        pass
                    s.close()


def probe(spec):
    timeout = float(spec.get("timeout", 1.0))
    targets = spec["targets"]
    results = ["!timeout"] * len(targets)
    sel = selectors.DefaultSelector()
    bufs = {}
    udp = {}
    start = time.monotonic()
    for i, (addr, proto, port, sport) in enumerate(targets):
        try:
            if proto == "tcp":
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if sport:
                    s.bind(("0.0.0.0", sport))
                s.setblocking(False)
                rc = s.connect_ex((addr, port))
                if rc not in (0, errno.EINPROGRESS):
                    results[i] = "!error:" + os.strerror(rc)
                    s.close()
                    continue
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                if sport:
                    s.bind(("0.0.0.0", sport))
                s.connect((addr, port))
                s.setblocking(False)
                s.send(b"probe\n")
                udp[i] = s
            bufs[i] = b""
            sel.register(s, selectors.EVENT_READ, i)
        except OSError as e:
            results[i] = "!error:" + str(e)
    resends = [start + 0.3, start + 0.6]
    while bufs:
        now = time.monotonic()
        if now >= start + timeout:
            break
        while resends and now >= resends[0]:
            resends.pop(0)
            for i, s in udp.items():
                if i in bufs:
                    try:
                        s.send(b"probe\n")
                    except OSError:
                        pass
        wake = min([start + timeout] + resends[:1])
        for key, _ in sel.select(max(0.0, wake - now)):
            i = key.data
            s = key.fileobj
            done = False
            try:
                data = s.recv(4096)
                if targets[i][1] == "udp":
                    results[i] = data.decode(errors="replace").strip()
                    done = True
                elif data:
                    bufs[i] += data
                    if b"\n" in bufs[i]:
                        results[i] = bufs[i].split(b"\n")[0].decode(errors="replace")
                        done = True
                else:
                    results[i] = bufs[i].decode(errors="replace").strip() or "!closed"
                    done = True
            except BlockingIOError:
                continue
            except ConnectionRefusedError:
                results[i] = "!refused"
                done = True
            except ConnectionResetError:
                results[i] = "!reset"
                done = True
            except OSError as e:
                results[i] = "!error:" + str(e)
                done = True
            if done:
                sel.unregister(s)
                s.close()
                bufs.pop(i)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(json.dumps(results), flush=True)


def watch(spec):
    addr, port = spec["addr"], int(spec["port"])
    sport = int(spec["sport"])
    interval, timeout = float(spec.get("interval", 0.005)), float(spec.get("timeout", 0.05))
    losses, end = int(spec.get("losses", 20)), time.time() + float(spec.get("max", 20))
    out, in_row = [], 0
    print("ready", flush=True)
    while in_row < losses and time.time() < end:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", sport))
        sport = sport + 1 if sport < 32767 else 20000
        s.connect((addr, port))
        s.settimeout(timeout)
        t = time.time()
        ok = False
        try:
            s.send(b"watch\n")
            ok = bool(s.recv(2048))
        except OSError:
            pass
        s.close()
        out.append([t, ok])
        in_row = 0 if ok else in_row + 1
        time.sleep(max(0.0, interval - (time.time() - t)))
    print(json.dumps(out), flush=True)


def listen(spec):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", int(spec["udp_port"])))
    u.setblocking(False)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    raw.bind((spec["ifname"], 0))
    raw.setblocking(False)
    peer = socket.inet_aton(spec["peer"])
    tcp_port = int(spec["tcp_port"])
    sel = selectors.DefaultSelector()
    sel.register(u, selectors.EVENT_READ, "udp")
    sel.register(raw, selectors.EVENT_READ, "raw")
    got = {"udp": [], "tcp_flags": []}
    print("ready", flush=True)
    end = time.monotonic() + float(spec["seconds"])
    while time.monotonic() < end:
        for key, _ in sel.select(max(0.0, end - time.monotonic())):
            try:
                data, addr = key.fileobj.recvfrom(65536)
            except BlockingIOError:
                continue
            if key.data == "udp":
                got["udp"].append(data.decode(errors="replace"))
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            ip = data[14:] if len(data) >= 34 and data[12:14] == b"\x08\x00" else data
            if len(ip) < 40 or ip[0] >> 4 != 4 or ip[9] != 6 or ip[12:16] != peer:
                continue
            ihl = (ip[0] & 15) * 4
            dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
            if dport == tcp_port:
                got["tcp_flags"].append(ip[ihl + 13])
    print(json.dumps(got), flush=True)


def inet_csum(data):
    """The internet checksum of data (RFC 1071), as the header field holds it."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def inject(spec):
    dst = spec["dst"]
    count = int(spec.get("count", 3))
    # the source address the kernel will put in the header (the pod's own)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((dst, 9))
    src = probe.getsockname()[0]
    probe.close()
    for _ in range(count):
        if spec.get("udp"):
            sport, dport = spec["udp"]
            payload = b"unsolicited\n"
            hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(hdr) + len(payload))
            c = inet_csum(pseudo + hdr + payload) or 0xffff
            hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), c)
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
            s.sendto(hdr + payload, (dst, 0))
            s.close()
        if spec.get("synack"):
            sport, dport = spec["synack"]
            hdr = struct.pack("!HHIIBBHHH", sport, dport, 0x1000, 0x2000, 5 << 4, 0x12, 64240, 0, 0)
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
            hdr = hdr[:16] + struct.pack("!H", inet_csum(pseudo + hdr)) + hdr[18:]
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
            s.sendto(hdr, (dst, 0))
            s.close()
        time.sleep(0.05)
    print(json.dumps({"sent": count}), flush=True)


def stream(spec):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((spec["addr"], int(spec["port"])))
    gap = 1.0 / float(spec.get("pps", 1000))
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    n, start = 0, time.monotonic()
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        due = start + n * gap
        if now >= due:
            try:
                s.send(struct.pack("!Q", n))
            except OSError:
                pass   # counted as sent: the receiver will miss it
            n += 1
            continue
        if sel.select(due - now) and not os.read(sys.stdin.fileno(), 4096):
            break
    print(json.dumps({"sent": n}), flush=True)


def sink(spec):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    u.bind(("0.0.0.0", int(spec["port"])))
    u.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(u, selectors.EVENT_READ, "udp")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    seen = set()
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    while True:
                        try:
                            seen.add(struct.unpack("!Q", u.recv(64)[:8])[0])
                        except (BlockingIOError, struct.error):
                            break
                    print(json.dumps({"received": len(seen)}), flush=True)
                    return
                continue
            while True:
                try:
                    seen.add(struct.unpack("!Q", u.recv(64)[:8])[0])
                except BlockingIOError:
                    break
                except struct.error:
                    pass


if __name__ == "__main__":
    cmd, arg = sys.argv[1], sys.argv[2]
    if arg.startswith("@"):
        with open(arg[1:]) as f:
            arg = f.read()
    if cmd == "serve":
        serve(arg)
    else:
        {"probe": probe, "watch": watch, "listen": listen, "inject": inject, "stream": stream,
         "sink": sink}[cmd](json.loads(arg))
