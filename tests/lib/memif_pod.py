#!/usr/bin/python3
"""A memif pod that reconnects: a memif slave (client) written for the
tests, in the role libmemif and VPP slaves play. DPDK 22.11's net_memif
connects once, when its port starts, so a testpmd pod stays down after a
switch restart (docs/ports.md); this one retries its socket every 100 ms
whenever it is not connected, as a long-running CNF does.

It answers ARP requests and ICMP echo requests (IPv4) with its MAC, like
testpmd's icmpecho mode, and counts. Each connection gets fresh shared
memory (one memfd: both rings, then 2 KB buffers). It polls the master's
ring (the switch does not signal M2S) and writes the S2M ring's eventfd
when the switch asks for interrupts (MASK_INT clear), so a parked port is
woken by its frames.

Usage: memif_pod.py SOCKET ID MAC. Prints "connected N" on each
connection and "disconnected N REASON" when one ends; exits on SIGTERM or
SIGINT."""
import fcntl
import mmap
import os
import select
import signal
import socket
import struct
import sys
import time

from polagent import inet_csum

ACK, HELLO, INIT, ADD_REGION, ADD_RING, CONNECT, CONNECTED, DISCONNECT = 1, 2, 3, 4, 5, 6, 7, 8
COOKIE = 0x3E31F20
VERSION = 0x0200
MASK_INT = 1
LOG2 = 5                                  # 32 descriptors a ring
SLOTS = 1 << LOG2
BUF = 2048
S2M_OFF, M2S_OFF, BUF_OFF = 0, 4096, 8192
REGION = BUF_OFF + 2 * SLOTS * BUF
HEAD, TAIL, DESC = 6, 64, 128

running = True


def stop(*_):
    global running
    running = False


def msg(mtype, body=b""):
    return (struct.pack("<H", mtype) + body).ljust(128, b"\0")


def answer(frame, mac):
    """The reply to an ARP request or an ICMP echo request, or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack_from("!H", frame, 12)[0]
    if etype == 0x0806 and len(frame) >= 42 and struct.unpack_from("!H", frame, 20)[0] == 1:
        sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
        return (frame[6:12] + mac + b"\x08\x06" + frame[14:20] + b"\x00\x02" +
                mac + tpa + sha + spa)
    if etype != 0x0800 or len(frame) < 34:
        return None
    ihl = (frame[14] & 0xf) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    if frame[23] != 1 or len(frame) < 14 + total or total < ihl + 8 or frame[14 + ihl] != 8:
        return None
    ip = bytearray(frame[14:14 + ihl])
    ip[12:16], ip[16:20] = frame[30:34], frame[26:30]
    ip[8] = 64
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", inet_csum(bytes(ip)))
    icmp = bytearray(frame[14 + ihl:14 + total])
    icmp[0] = 0
    icmp[2:4] = b"\0\0"
    icmp[2:4] = struct.pack("!H", inet_csum(bytes(icmp)))
    return frame[6:12] + mac + b"\x08\x00" + bytes(ip) + bytes(icmp)


class Conn:
    """One connection to the master: the control channel and the shared memory."""

    def __init__(self, path, iid):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(2)
        self.fds = []
        try:
            self.s.connect(path)
            self.setup(iid)
        except BaseException:
            self.close()
            raise

    def expect(self, want):
        r = self.s.recv(256)
        t = struct.unpack_from("<H", r)[0] if len(r) >= 2 else None
        if t != want:
            reason = r[6:102].split(b"\0")[0].decode(errors="replace") if t == DISCONNECT else ""
            raise OSError("expected message %d, got %s %s" % (want, t, reason))

    def setup(self, iid):
        self.expect(HELLO)
        self.s.send(msg(INIT, struct.pack("<HIB24s32s", VERSION, iid, 0, b"", b"memif_pod")))
        self.expect(ACK)
        fd = os.memfd_create("memif_pod", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        self.fds.append(fd)
        os.ftruncate(fd, REGION)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)   # the master requires it
        self.mm = mmap.mmap(fd, REGION)
        for ring, first in ((S2M_OFF, 0), (M2S_OFF, SLOTS)):
            struct.pack_into("<IHH", self.mm, ring, COOKIE, 0, 0)
            struct.pack_into("<H", self.mm, ring + TAIL, 0)
            for i in range(SLOTS):
                struct.pack_into("<HHIII", self.mm, ring + DESC + 16 * i, 0, 0, BUF,
                                 BUF_OFF + (first + i) * BUF, 0)
        struct.pack_into("<H", self.mm, M2S_OFF + 4, MASK_INT)   # this pod polls what it receives
        socket.send_fds(self.s, [msg(ADD_REGION, struct.pack("<HQ", 0, REGION))], [fd])
        self.expect(ACK)
        self.ev = {}
        for s2m, off in ((1, S2M_OFF), (0, M2S_OFF)):
            ev = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            self.fds.append(ev)
            self.ev[s2m] = ev
            socket.send_fds(self.s, [msg(ADD_RING, struct.pack("<HHHIBH", s2m, 0, 0, off, LOG2, 0))], [ev])
            self.expect(ACK)
        self.s.send(msg(CONNECT, b"memif_pod".ljust(32, b"\0")))
        self.expect(CONNECTED)
        # every receive buffer given to the master; nothing sent yet
        struct.pack_into("<H", self.mm, M2S_OFF + HEAD, SLOTS)
        self.m2s_read = 0                      # M2S: frames read up to here
        self.s2m_head = 0                      # S2M: frames given up to here
        self.s.setblocking(False)

    def u16(self, off):
        return struct.unpack_from("<H", self.mm, off)[0]

    def poll(self, mac, counts):
        """Serve the rings once; False when the master has gone."""
        try:
            r = self.s.recv(256)
            if not r or struct.unpack_from("<H", r)[0] == DISCONNECT:
                self.reason = r[6:102].split(b"\0")[0].decode(errors="replace") if r else "closed"
                return False
        except BlockingIOError:
            pass
        except OSError as e:
            self.reason = str(e)
            return False
        tail = self.u16(M2S_OFF + TAIL)
        sent = 0
        while self.m2s_read != tail:
            d = M2S_OFF + DESC + 16 * (self.m2s_read % SLOTS)
            _, _, length, offset, _ = struct.unpack_from("<HHIII", self.mm, d)
            counts["rx"] += 1
            reply = answer(bytes(self.mm[offset:offset + min(length, BUF)]), mac)
            # the buffer goes back to the master at once
            struct.pack_into("<HHIII", self.mm, d, 0, 0, BUF, offset, 0)
            self.m2s_read = (self.m2s_read + 1) & 0xffff
            struct.pack_into("<H", self.mm, M2S_OFF + HEAD, (self.u16(M2S_OFF + HEAD) + 1) & 0xffff)
            if reply is None:
                continue
            s2m_tail = self.u16(S2M_OFF + TAIL)
            if (self.s2m_head - s2m_tail) & 0xffff >= SLOTS:
                counts["tx_full"] += 1
                continue
            d = S2M_OFF + DESC + 16 * (self.s2m_head % SLOTS)
            offset = BUF_OFF + (self.s2m_head % SLOTS) * BUF
            self.mm[offset:offset + len(reply)] = reply
            struct.pack_into("<HHIII", self.mm, d, 0, 0, len(reply), offset, 0)
            self.s2m_head = (self.s2m_head + 1) & 0xffff
            struct.pack_into("<H", self.mm, S2M_OFF + HEAD, self.s2m_head)
            counts["tx"] += 1
            sent += 1
        if sent and not self.u16(S2M_OFF + 4) & MASK_INT:
            os.eventfd_write(self.ev[1], 1)
        return True

    def close(self):
        self.s.close()
        if getattr(self, "mm", None) is not None:
            self.mm.close()
            self.mm = None
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def main():
    path, iid, mac = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3].replace(":", ""))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    counts = {"rx": 0, "tx": 0, "tx_full": 0}
    n = 0
    while running:
        try:
            c = Conn(path, iid)
        except OSError:
            time.sleep(0.1)                    # the switch is away: try again
            continue
        n += 1
        print("connected %d" % n, flush=True)
        while running and c.poll(mac, counts):
            select.select([c.s], [], [], 0.002)
        print("disconnected %d %s rx %d tx %d" % (n, getattr(c, "reason", "stopped"), counts["rx"], counts["tx"]),
              flush=True)
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
