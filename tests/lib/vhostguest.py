"""A vhost-user driver for tests (the frontend side of the protocol over a
memfd, split rings, no DPDK): a test sends exactly the message sequence a
buggy or hostile driver sends, and reads what the switch wrote, virtio-net
headers included."""
import mmap
import os
import socket
import struct
import time

GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 5, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 11, 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_ENABLE = 15, 16, 18
F_MRG_RXBUF, F_MQ, F_PROTOCOL_FEATURES, F_VERSION_1 = 1 << 15, 1 << 22, 1 << 30, 1 << 32
# offloads: the guest sends partial checksums and TSO frames (CSUM, HOST_TSO4/6), takes them (GUEST_*)
F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_GUEST_TSO6 = 1 << 0, 1 << 1, 1 << 7, 1 << 8
F_HOST_TSO4, F_HOST_TSO6 = 1 << 11, 1 << 12
F_OFFLOADS = F_CSUM | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6
# virtio_net_hdr: flags, gso_type
NEEDS_CSUM, GSO_NONE, GSO_TCPV4, GSO_TCPV6 = 1, 0, 1, 4
QSZ = 256                     # descriptors per ring
MEM = 8 << 20                 # the guest's memory: one memfd region at guest address 0
VA = 0x7f0000000000           # the driver's own address of that region (ring addresses are in it)
HDR = 12                      # virtio_net_hdr_mrg_rxbuf (VERSION_1)
JUMBO_BUF = 0x300000          # buffers for frames over 2 KB, from here to MEM, each its own


class VhostGuest:
    """The driver side of vhost-user over split rings: vring 2q is the
    guest's RX queue q (the switch writes), 2q + 1 its TX queue (the switch
    reads). Kicks like a virtio driver: only while the device asks for them
    (VRING_USED_F_NO_NOTIFY clear), unless told otherwise."""

    def __init__(self, scope, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.memfd = os.memfd_create("vhost-guest", 0)
        os.ftruncate(self.memfd, MEM)
        self.mem = mmap.mmap(self.memfd, MEM)
        self.kick, self.call, self.avail_idx = [None] * 8, [None] * 8, [0] * 8
        self.rx_used = 0              # RX used-ring entries read by frames()
        self.jumbo = JUMBO_BUF        # where the next frame over 2 KB goes (in turn: one not yet read stays)
        self.closed = False
        scope.defer(self.close)

    def send(self, req, payload=b"", fds=()):
        msg = struct.pack("<III", req, 1, len(payload)) + payload
        if fds:
            socket.send_fds(self.s, [msg], list(fds))
        else:
            self.s.sendall(msg)

    def recv_u64(self):
        d = b""
        while len(d) < 20:
            c = self.s.recv(20 - len(d))
            if not c:
                raise EOFError("the switch closed the vhost-user connection")
            d += c
        return struct.unpack("<IIIQ", d)[3]

    @staticmethod
    def ring(q):
        desc = 0x10000 * (q + 1)
        avail = desc + 16 * QSZ
        used = (avail + 6 + 2 * QSZ + 4095) & ~4095
        return desc, avail, used

    @staticmethod
    def buf(q, i):
        return 0x100000 + (q * QSZ + i) * 2048

    def setup(self, features=F_VERSION_1, vrings=2):
        """Features, memory, and vrings 0..vrings-1 set up (kick and call fds).
        Without F_PROTOCOL_FEATURES a vring is enabled by its kick fd; with it,
        by enable()."""
        self.send(GET_FEATURES)
        self.features = self.recv_u64() & features
        self.send(SET_OWNER)
        if self.features & F_PROTOCOL_FEATURES:
            self.send(GET_PROTOCOL_FEATURES)
            self.recv_u64()
            self.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", 0))
        self.send(SET_FEATURES, struct.pack("<Q", self.features))
        self.send(SET_MEM_TABLE, struct.pack("<IIQQQQ", 1, 0, 0, MEM, VA, 0), [self.memfd])
        for q in range(vrings):
            desc, avail, used = self.ring(q)
            self.send(SET_VRING_NUM, struct.pack("<II", q, QSZ))
            self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", q, 0, VA + desc, VA + used, VA + avail, 0))
            self.send(SET_VRING_BASE, struct.pack("<II", q, 0))
            self.call[q] = os.eventfd(0, os.EFD_NONBLOCK)
            self.send(SET_VRING_CALL, struct.pack("<Q", q), [self.call[q]])
            self.set_kick(q)
        self.fill_rx(64)
        return self

    def set_kick(self, q):
        """(Again:) a new kick eventfd for vring q; the old one is closed."""
        old = self.kick[q]
        self.kick[q] = os.eventfd(0, os.EFD_NONBLOCK)
        self.send(SET_VRING_KICK, struct.pack("<Q", q), [self.kick[q]])
        if old is not None:
            os.close(old)

    def enable(self, q, on):
        self.send(SET_VRING_ENABLE, struct.pack("<II", q, 1 if on else 0))

    def fill_rx(self, n):
        desc, avail, _ = self.ring(0)
        for _ in range(n):
            i = self.avail_idx[0] % QSZ
            struct.pack_into("<QIHH", self.mem, desc + 16 * i, self.buf(0, i), 2048, 2, 0)
            struct.pack_into("<H", self.mem, avail + 4 + 2 * i, i)
            self.avail_idx[0] = (self.avail_idx[0] + 1) & 0xffff
        struct.pack_into("<H", self.mem, avail + 2, self.avail_idx[0])

    def received(self):
        """Buffers of RX queue 0 the switch has used (frames, or parts of frames)."""
        return struct.unpack_from("<H", self.mem, self.ring(0)[2] + 2)[0]

    def frames(self):
        """The frames the switch wrote to RX queue 0 since the last call, each
        as (its virtio-net header as a dict, the frame), their buffers given
        back. Needs F_MRG_RXBUF for frames over 2 KB."""
        _, _, used = self.ring(0)
        out, idx = [], struct.unpack_from("<H", self.mem, used + 2)[0]
        while self.rx_used != idx:
            def take():
                e = used + 4 + 8 * (self.rx_used % QSZ)
                i, n = struct.unpack_from("<II", self.mem, e)
                self.rx_used = (self.rx_used + 1) & 0xffff
                return bytes(self.mem[self.buf(0, i):self.buf(0, i) + n])
            first = take()
            f = dict(zip(("flags", "gso_type", "hdr_len", "gso_size", "csum_start", "csum_offset", "num_buffers"),
                         struct.unpack_from("<BBHHHHH", first)))
            data, bufs = first[HDR:], 1
            while bufs < max(f["num_buffers"], 1) and self.rx_used != idx:
                data += take()
                bufs += 1
            self.fill_rx(bufs)
            out.append((f, data))
        return out

    def post_tx(self, frame, q=1, kick=None, addr=None, length=None, flags=0, nxt=0, vhdr=None, publish=True):
        """One frame on TX vring q (one descriptor); kicks when the device asks
        for it (kick=None). addr/length/flags/next: a descriptor as a hostile
        driver writes it; vhdr: the virtio-net header's fields (flags,
        gso_type, hdr_len, gso_size, csum_start, csum_offset), zeros if None.
        publish=False: the ring's index is not moved yet (the next post
        moves it past both, so that the device sees them at once)."""
        desc, avail, used = self.ring(q)
        i = self.avail_idx[q] % QSZ
        data = (struct.pack("<BBHHHHH", *vhdr, 0) if vhdr else bytes(HDR)) + frame
        if addr is None and len(data) <= 2048:
            addr = self.buf(q, i)
        elif addr is None:
            if self.jumbo + len(data) > MEM:
                self.jumbo = JUMBO_BUF
            addr, self.jumbo = self.jumbo, (self.jumbo + len(data) + 4095) & ~4095
        if addr + len(data) <= MEM:
            self.mem[addr:addr + len(data)] = data
        struct.pack_into("<QIHH", self.mem, desc + 16 * i, addr,
                         len(data) if length is None else length, flags, nxt if flags & 1 else 0)
        struct.pack_into("<H", self.mem, avail + 4 + 2 * i, i)
        self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xffff
        if not publish:
            return False
        struct.pack_into("<H", self.mem, avail + 2, self.avail_idx[q])
        if kick is None:
            kick = not struct.unpack_from("<H", self.mem, used)[0] & 1     # VRING_USED_F_NO_NOTIFY
        if kick:
            os.eventfd_write(self.kick[q], 1)
        return kick

    def hung_up(self):
        """The switch closed this connection."""
        try:
            self.s.setblocking(False)
            return self.s.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            self.s.setblocking(True)

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.s.close()
        for fd in self.kick + self.call + [self.memfd]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.mem.close()


def attach(scope, sock, timeout=2, **kw):
    """A driver set up on sock; retried while the switch hangs up on it (a
    switch that takes one connection per socket may not yet have seen the
    previous driver go)."""
    end = time.time() + timeout
    while True:
        g = VhostGuest(scope, sock)
        try:
            return g.setup(**kw)
        except (OSError, EOFError):
            g.close()
            if time.time() > end:
                raise
            time.sleep(0.02)
