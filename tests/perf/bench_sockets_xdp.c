/*
 * AF_XDP port of bench_sockets, through libxdp: libxdp loads its default
 * program (redirect to the socket bound on the receiving queue) and the
 * socket binds in copy mode. Built only when libxdp and libbpf are found;
 * otherwise bs_xdp_available() says no and the benchmark skips AF_XDP.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_sockets.h"

#ifndef BS_HAVE_XDP

bool
bs_xdp_available(void)
{
	return false;
}

struct bs_port *
bs_xdp_open(const char *ifname, char *err, size_t err_len)
{
	snprintf(err, err_len, "AF_XDP: this build has no libxdp/libbpf (install libxdp-dev libbpf-dev and reconfigure)");
	return NULL;
}

#else

#include <linux/if_link.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

/* 1024 frames of 2 KiB: half for RX (fill ring), half for TX. */
#define NB_FRAMES 1024
#define NB_RX_FRAMES (NB_FRAMES / 2)
#define RING_SIZE 512

struct xdp_port {
	struct bs_port port;
	uint8_t *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	uint64_t drops_seen;
	uint32_t nb_free;                 /* TX frames not in flight */
	uint64_t free_frames[NB_FRAMES - NB_RX_FRAMES];
};

bool
bs_xdp_available(void)
{
	return true;
}

/* libbpf and libxdp: warnings only, less the notes every program load prints */
static int
print_warnings(const char *fmt, va_list ap)
{
	if (strstr(fmt, "skipping unrecognized") != NULL || strstr(fmt, "No bpffs") != NULL)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int
print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? print_warnings(fmt, ap) : 0;
}

static int
print_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return level == LIBXDP_WARN ? print_warnings(fmt, ap) : 0;
}

static uint16_t
xdp_rx(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct xdp_port *xp = (struct xdp_port *)port;
	uint32_t idx_rx = 0, idx_fill = 0, nb;

	nb = xsk_ring_cons__peek(&xp->rx, n, &idx_rx);
	if (nb == 0)
		return 0;
	/* as many fill slots as frames: the reservation cannot fail */
	while (xsk_ring_prod__reserve(&xp->fill, nb, &idx_fill) != nb)
		;
	for (uint32_t i = 0; i < nb; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&xp->rx, idx_rx + i);
		uint32_t len = d->len;

		if (len > sizeof(bufs[i]->data))
			len = sizeof(bufs[i]->data);
		memcpy(bufs[i]->data, xsk_umem__get_data(xp->area, d->addr), len);
		bufs[i]->len = len;
		*xsk_ring_prod__fill_addr(&xp->fill, idx_fill + i) =
			d->addr & ~(uint64_t)(BS_FRAME_SIZE - 1);
	}
	xsk_ring_cons__release(&xp->rx, nb);
	xsk_ring_prod__submit(&xp->fill, nb);
	if (xsk_ring_prod__needs_wakeup(&xp->fill))
		recvfrom(port->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	return (uint16_t)nb;
}

static void
reclaim_completions(struct xdp_port *xp)
{
	uint32_t idx = 0, nb;

	nb = xsk_ring_cons__peek(&xp->comp, RING_SIZE, &idx);
	for (uint32_t i = 0; i < nb; i++)
		xp->free_frames[xp->nb_free++] = *xsk_ring_cons__comp_addr(&xp->comp, idx + i);
	xsk_ring_cons__release(&xp->comp, nb);
}

static uint16_t
xdp_tx(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct xdp_port *xp = (struct xdp_port *)port;
	uint32_t idx = 0, nb = n;

	reclaim_completions(xp);
	if (nb > xp->nb_free)
		nb = xp->nb_free;
	if (nb > 0 && xsk_ring_prod__reserve(&xp->tx, nb, &idx) != nb)
		nb = 0;
	for (uint32_t i = 0; i < nb; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&xp->tx, idx + i);
		uint64_t addr = xp->free_frames[--xp->nb_free];

		memcpy(xsk_umem__get_data(xp->area, addr), bufs[i]->data, bufs[i]->len);
		d->addr = addr;
		d->len = bufs[i]->len;
	}
	port->nb_tx_full += n - nb;
	if (nb == 0)
		return 0;
	xsk_ring_prod__submit(&xp->tx, nb);
	/* copy mode: the kernel sends only inside this syscall */
	if (xsk_ring_prod__needs_wakeup(&xp->tx)) {
		port->nb_kicks++;
		if (sendto(port->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0)
			port->nb_kick_errors++;
	}
	return (uint16_t)nb;
}

static uint64_t
xdp_kernel_drops(struct bs_port *port)
{
	struct xdp_port *xp = (struct xdp_port *)port;
	struct xdp_statistics st;
	socklen_t len = sizeof(st);
	uint64_t total, delta;

	if (getsockopt(port->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
		return 0;
	total = st.rx_dropped + st.rx_ring_full;
	delta = total - xp->drops_seen;
	xp->drops_seen = total;
	return delta;
}

static void
xdp_close(struct bs_port *port)
{
	struct xdp_port *xp = (struct xdp_port *)port;

	if (xp == NULL)
		return;
	if (xp->xsk != NULL)
		xsk_socket__delete(xp->xsk);
	if (xp->umem != NULL)
		xsk_umem__delete(xp->umem);
	if (xp->area != NULL)
		munmap(xp->area, (size_t)NB_FRAMES * BS_FRAME_SIZE);
	free(xp);
}

static const struct bs_port_ops xdp_ops = {
	.rx = xdp_rx, .tx = xdp_tx, .kernel_drops = xdp_kernel_drops, .close = xdp_close,
};

static int
fill_rx_frames(struct xdp_port *xp)
{
	uint32_t idx = 0;

	if (xsk_ring_prod__reserve(&xp->fill, NB_RX_FRAMES, &idx) != NB_RX_FRAMES)
		return -ENOSPC;
	for (uint32_t i = 0; i < NB_RX_FRAMES; i++)
		*xsk_ring_prod__fill_addr(&xp->fill, idx + i) = (uint64_t)i * BS_FRAME_SIZE;
	xsk_ring_prod__submit(&xp->fill, NB_RX_FRAMES);
	for (uint32_t i = NB_RX_FRAMES; i < NB_FRAMES; i++)
		xp->free_frames[xp->nb_free++] = (uint64_t)i * BS_FRAME_SIZE;
	return 0;
}

struct bs_port *
bs_xdp_open(const char *ifname, char *err, size_t err_len)
{
	struct xsk_umem_config ucfg = {
		.fill_size = RING_SIZE, .comp_size = RING_SIZE,
		.frame_size = BS_FRAME_SIZE, .frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = RING_SIZE, .tx_size = RING_SIZE,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	size_t area_len = (size_t)NB_FRAMES * BS_FRAME_SIZE;
	struct xdp_port *xp;
	int rc;

	libbpf_set_print(print_libbpf);
	libxdp_set_print(print_libxdp);
	xp = calloc(1, sizeof(*xp));
	if (xp == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	xp->port.ops = &xdp_ops;
	xp->port.mem_bytes = area_len;
	xp->area = mmap(NULL, area_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (xp->area == MAP_FAILED) {
		xp->area = NULL;
		rc = -errno;
		goto fail;
	}
	rc = xsk_umem__create(&xp->umem, xp->area, area_len, &xp->fill, &xp->comp, &ucfg);
	if (rc < 0)
		goto fail;
	/* native (driver) XDP first; veth has it, other drivers may not */
	scfg.xdp_flags = XDP_FLAGS_DRV_MODE;
	xp->port.mode = "native XDP, copy mode";
	rc = xsk_socket__create(&xp->xsk, ifname, 0, xp->umem, &xp->rx, &xp->tx, &scfg);
	if (rc < 0) {
		scfg.xdp_flags = XDP_FLAGS_SKB_MODE;
		xp->port.mode = "generic (SKB) XDP, copy mode";
		rc = xsk_socket__create(&xp->xsk, ifname, 0, xp->umem, &xp->rx, &xp->tx, &scfg);
	}
	if (rc < 0) {
		xp->xsk = NULL;
		goto fail;
	}
	xp->port.fd = xsk_socket__fd(xp->xsk);
	rc = fill_rx_frames(xp);
	if (rc < 0)
		goto fail;
	return &xp->port;
fail:
	snprintf(err, err_len, "AF_XDP on %s: %s", ifname, strerror(-rc));
	xdp_close(&xp->port);
	return NULL;
}

#endif /* BS_HAVE_XDP */
