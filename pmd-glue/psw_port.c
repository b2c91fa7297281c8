/*
 * Port creation and removal over ethdev: vdev hot-plug (rte_dev_probe /
 * rte_dev_remove), queue planning, per-socket mempools.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "psw_port.h"

#define MEMPOOL_CACHE 256

struct psw_port psw_ports[PSW_MAX_PORTS];
uint32_t psw_port_events;

static struct psw_port_env port_env;
static struct rte_mempool *mempools[RTE_MAX_NUMA_NODES];
static struct rte_mempool *large_pools[RTE_MAX_NUMA_NODES];

void
psw_port_layer_init(const struct psw_port_env *env)
{
	unsigned i, q;

	port_env = *env;
	psw_vhost_extbuf_max = env->large_mbufs;         /* guests' large frames: as many again */
	for (i = 0; i < PSW_MAX_PORTS; i++)
		for (q = 0; q < PSW_MAX_WORKERS; q++)
			rte_spinlock_init(&psw_ports[i].txq_lock[q]);
}

void
psw_port_layer_set_qsbr(struct rte_rcu_qsbr *qsbr)
{
	port_env.qsbr = qsbr;
}

struct rte_mempool *
psw_port_mempool(int socket)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;

	if (socket < 0 || socket >= RTE_MAX_NUMA_NODES)
		socket = (int)rte_socket_id();
	if (mempools[socket] != NULL)
		return mempools[socket];
	snprintf(name, sizeof(name), "psw_mbuf_s%d", socket);
	mp = rte_pktmbuf_pool_create(name, port_env.mbufs, MEMPOOL_CACHE, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	/* Without hugepages all memory is on one socket: take it from there. */
	if (mp == NULL && rte_errno == ENOMEM)
		mp = rte_pktmbuf_pool_create(name, port_env.mbufs, MEMPOOL_CACHE, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	mempools[socket] = mp;
	return mp;
}

/* 64 KB mbufs for kernel pods' large frames (psw_gso.h), on first use; none when limits.large_mbufs is 0. */
struct rte_mempool *
psw_port_large_mempool(int socket)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;
	unsigned cache;

	if (port_env.large_mbufs == 0)
		return NULL;
	if (socket < 0 || socket >= RTE_MAX_NUMA_NODES)
		socket = (int)rte_socket_id();
	if (large_pools[socket] != NULL)
		return large_pools[socket];
	snprintf(name, sizeof(name), "psw_large_s%d", socket);
	/* (a small pool gets a smaller per-lcore cache: the mempool library refuses one over 2/3 of it) */
	cache = RTE_MIN(MEMPOOL_CACHE / 8u, port_env.large_mbufs * 2u / 3u);
	mp = rte_pktmbuf_pool_create(name, port_env.large_mbufs, cache, 0, UINT16_MAX, socket);
	if (mp == NULL && rte_errno == ENOMEM)
		mp = rte_pktmbuf_pool_create(name, port_env.large_mbufs, cache, 0, UINT16_MAX, SOCKET_ID_ANY);
	__atomic_store_n(&large_pools[socket], mp, __ATOMIC_RELEASE);     /* workers look (psw_port_large_mempool_slot) */
	return mp;
}

struct rte_mempool *const *
psw_port_large_mempool_slot(int socket)
{
	if (socket < 0 || socket >= RTE_MAX_NUMA_NODES)
		socket = (int)rte_socket_id();
	return &large_pools[socket];
}

unsigned
psw_port_mbufs_in_use(void)
{
	unsigned i, n = 0;

	for (i = 0; i < RTE_DIM(mempools); i++)
		if (mempools[i] != NULL)
			n += rte_mempool_in_use_count(mempools[i]);
	return n;
}

unsigned
psw_port_large_mbufs_in_use(void)
{
	unsigned i, n = 0;

	for (i = 0; i < RTE_DIM(large_pools); i++)
		if (large_pools[i] != NULL)
			n += rte_mempool_in_use_count(large_pools[i]);
	return n + psw_vhostport_extbufs();
}

void
psw_port_layer_fini(void)
{
	unsigned i;

	for (i = 0; i < RTE_DIM(mempools); i++) {
		rte_mempool_free(mempools[i]);
		mempools[i] = NULL;
		rte_mempool_free(large_pools[i]);
		large_pools[i] = NULL;
	}
}

/*
 * Ports by name: chains of slot indexes from a bucket array, so that the
 * control plane's lookups (every attachment, every pod of a policy
 * compile) stay constant-time at 1,000 pods. Control thread only.
 */
#define NAME_BUCKETS (2 * PSW_MAX_PORTS)
static int16_t name_head[NAME_BUCKETS];      /* slot + 1; 0: empty */
static int16_t name_next[PSW_MAX_PORTS];     /* slot + 1; 0: end */

/* FNV-1a, a byte at a time: names are short, unaligned, and end at their NUL */
static unsigned
name_bucket(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % NAME_BUCKETS;
}

static void
name_index_add(unsigned slot)
{
	unsigned b = name_bucket(psw_ports[slot].name);

	name_next[slot] = name_head[b];
	name_head[b] = (int16_t)(slot + 1);
}

static void
name_index_del(unsigned slot)
{
	int16_t *link = &name_head[name_bucket(psw_ports[slot].name)];

	while (*link != 0 && *link != (int16_t)(slot + 1))
		link = &name_next[*link - 1];
	if (*link != 0)
		*link = name_next[slot];
	name_next[slot] = 0;
}

int
psw_port_find(const char *name)
{
	int16_t s;

	for (s = name_head[name_bucket(name)]; s != 0; s = name_next[s - 1])
		if (psw_ports[s - 1].in_use && strcmp(psw_ports[s - 1].name, name) == 0)
			return s - 1;
	return -ENOENT;
}

static int
fmt(char *buf, size_t len, const char *f, ...) __rte_format_printf(3, 4);

static int
fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
psw_port_vdev_args(const struct psw_port_conf *c, unsigned index,
		   char *name, size_t name_len, char *args, size_t args_len)
{
	static const char *const drivers[PSW_PORT_KIND_COUNT] = {
		[PSW_PORT_KERNEL] = "net_tap",
		[PSW_PORT_AFPACKET] = "net_af_packet",
		[PSW_PORT_RING] = "net_ring",
		[PSW_PORT_PCAP] = "net_pcap",
		[PSW_PORT_NULL] = "net_null",
	};
	int rc;

	if ((unsigned)c->kind >= PSW_PORT_KIND_COUNT || drivers[c->kind] == NULL)
		return -EINVAL;
	rc = fmt(name, name_len, "%s_psw%u", drivers[c->kind], index);
	if (rc < 0)
		return rc;
	switch (c->kind) {
	case PSW_PORT_KERNEL:
		if (c->ifname[0] == '\0')
			return -EINVAL;
		return fmt(args, args_len, "iface=%s", c->ifname);
	case PSW_PORT_AFPACKET:
		if (c->ifname[0] == '\0')
			return -EINVAL;
		return fmt(args, args_len, "iface=%s,qpairs=1", c->ifname);
	case PSW_PORT_PCAP:
		if (c->rx_pcap[0] == '\0' && c->tx_pcap[0] == '\0')
			return -EINVAL;
		return fmt(args, args_len, "rx_pcap=%s,tx_pcap=%s",
			   c->rx_pcap[0] ? c->rx_pcap : "/dev/null",
			   c->tx_pcap[0] ? c->tx_pcap : "/dev/null");
	case PSW_PORT_NULL:
		return fmt(args, args_len, "size=64,copy=0");
	case PSW_PORT_RING:
		if (args_len == 0)
			return -ENAMETOOLONG;
		args[0] = '\0';         /* made with rte_eth_from_rings, not devargs */
		return 0;
	default:
		return -EINVAL;
	}
}

int
psw_port_plan_queues(const struct psw_port_conf *c, unsigned nb_workers,
		     const struct rte_eth_dev_info *info, struct psw_queue_plan *plan,
		     char *err, size_t err_len)
{
	static const uint64_t want_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP |
					 RTE_ETH_RSS_SCTP;
	unsigned want_rxq;

	memset(plan, 0, sizeof(*plan));
	if (nb_workers == 0 || info->max_rx_queues == 0 || info->max_tx_queues == 0) {
		snprintf(err, err_len, "port '%s': device has no queues", c->name);
		return -EINVAL;
	}
	switch (c->kind) {
	case PSW_PORT_NIC:
		want_rxq = c->nb_rx_queues ? c->nb_rx_queues : nb_workers;
		if (want_rxq > info->max_rx_queues) {
			snprintf(err, err_len,
				 "port '%s': %u RX queues asked, the device has %u; lower rx_queues",
				 c->name, want_rxq, info->max_rx_queues);
			return -EINVAL;
		}
		plan->nb_rxq = (uint16_t)want_rxq;
		plan->nb_txq = (uint16_t)RTE_MIN(nb_workers, (unsigned)info->max_tx_queues);
		if (plan->nb_rxq > 1) {
			if (!c->rss) {
				snprintf(err, err_len,
					 "port '%s': %u RX queues need rss = true", c->name,
					 plan->nb_rxq);
				return -EINVAL;
			}
			plan->rss_hf = want_rss & info->flow_type_rss_offloads;
			if (plan->rss_hf == 0) {
				snprintf(err, err_len,
					 "port '%s': the device cannot spread IP flows (no RSS); set rx_queues = 1",
					 c->name);
				return -EINVAL;
			}
			plan->rss = true;
		}
		plan->rx_offloads = info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
		break;
	default:
		plan->nb_rxq = plan->nb_txq = 1;
		break;
	}
	return 0;
}

/* mkdir -p for the directory part of path. */
static int
make_parent_dirs(const char *path)
{
	char dir[PSW_PATH_MAX];
	struct stat sb;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *c = dir + 1; *c != '\0'; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &sb) < 0)
		return -errno;
	return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

/*
 * A server-side socket (vhost-user server, memif server) needs its directory,
 * and a socket file left by a switch that died must go; one that someone
 * still listens on is another switch's, and is refused.
 */
static int
prepare_server_socket(const struct psw_port_conf *c, char *err, size_t err_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, rc;

	rc = make_parent_dirs(c->socket);
	if (rc < 0) {
		snprintf(err, err_len, "port '%s' (%s): cannot create the directory of socket '%s': %s",
			 c->name, psw_port_kind_name(c->kind), c->socket, strerror(-rc));
		return rc;
	}
	if (stat(c->socket, &sb) < 0)
		return 0;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, err_len, "port '%s' (%s): '%s' exists and is not a socket",
			 c->name, psw_port_kind_name(c->kind), c->socket);
		return -EEXIST;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	/* a listener of another socket type (memif: SOCK_SEQPACKET) is alive too */
	if (rc < 0 && errno == EPROTOTYPE)
		rc = 0;
	close(fd);
	if (rc == 0) {
		snprintf(err, err_len, "port '%s' (%s): socket '%s' is in use by another process",
			 c->name, psw_port_kind_name(c->kind), c->socket);
		return -EADDRINUSE;
	}
	unlink(c->socket);
	return 0;
}

static int
port_attach(struct psw_port *p, unsigned index, char *err, size_t err_len)
{
	const struct psw_port_conf *c = &p->conf;
	char args[512];
	int rc;

	if (rte_eth_dev_count_total() >= RTE_MAX_ETHPORTS) {
		snprintf(err, err_len, "port '%s' (%s): all %d DPDK ethdevs are in use (RTE_MAX_ETHPORTS "
			 "of this DPDK build); kernel (af_packet), vhost-user and memif pods do not need one", c->name,
			 psw_port_kind_name(c->kind), RTE_MAX_ETHPORTS);
		return -ENOSPC;
	}
	if (c->kind == PSW_PORT_NIC) {
		snprintf(p->devname, sizeof(p->devname), "%s", c->pci);
		rc = rte_dev_probe(c->pci);
		if (rc < 0 && rc != -EEXIST) {
			snprintf(err, err_len,
				 "port '%s': cannot probe PCI device %s: %s (is it bound to vfio-pci?)",
				 c->name, c->pci, rte_strerror(-rc));
			return rc;
		}
	} else if (c->kind == PSW_PORT_RING) {
		char rname[RTE_RING_NAMESIZE];
		int i;

		psw_port_vdev_args(c, index, p->devname, sizeof(p->devname), args, sizeof(args));
		for (i = 0; i < 2; i++) {
			snprintf(rname, sizeof(rname), "psw_%s_%s", i ? "tx" : "rx", c->name);
			p->rings[i] = rte_ring_create(rname, 1024, (int)rte_socket_id(),
						      RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (p->rings[i] == NULL) {
				snprintf(err, err_len, "port '%s': cannot create ring %s: %s",
					 c->name, rname, rte_strerror(rte_errno));
				return -rte_errno;
			}
		}
		rc = rte_eth_from_rings(p->devname, &p->rings[0], 1, &p->rings[1], 1,
					(unsigned)rte_socket_id());
		if (rc < 0) {
			snprintf(err, err_len, "port '%s': cannot create ring port: %s",
				 c->name, rte_strerror(rte_errno));
			return -rte_errno;
		}
		p->eth_port = (uint16_t)rc;
		return 0;
	} else {
		char devargs[RTE_DEV_NAME_MAX_LEN + sizeof(args) + 1];


		rc = psw_port_vdev_args(c, index, p->devname, sizeof(p->devname), args, sizeof(args));
		if (rc < 0) {
			snprintf(err, err_len, "port '%s': incomplete settings for a %s port",
				 c->name, psw_port_kind_name(c->kind));
			return rc;
		}
		snprintf(devargs, sizeof(devargs), "%s,%s", p->devname, args);
		rc = rte_dev_probe(devargs);
		if (rc < 0) {
			snprintf(err, err_len, "port '%s': cannot create %s device (%s): %s",
				 c->name, psw_port_kind_name(c->kind), devargs, rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_get_port_by_name(p->devname, &p->eth_port);
	if (rc < 0) {
		snprintf(err, err_len, "port '%s': device %s has no ethdev port", c->name, p->devname);
		return rc;
	}
	return 0;
}

static void
port_detach(struct psw_port *p)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;
	int i;

	if (rte_eth_dev_is_valid_port(p->eth_port)) {
		if (rte_eth_dev_info_get(p->eth_port, &info) == 0)
			dev = info.device;
		rte_eth_dev_stop(p->eth_port);
		rte_eth_dev_close(p->eth_port);
	}
	if (dev != NULL)
		rte_dev_remove(dev);
	else if (p->devname[0] != '\0' && p->kind != PSW_PORT_NIC)
		rte_vdev_uninit(p->devname);
	for (i = 0; i < 2; i++) {
		rte_ring_free(p->rings[i]);
		p->rings[i] = NULL;
	}
}

static int
port_configure(struct psw_port *p, char *err, size_t err_len)
{
	const struct psw_port_conf *c = &p->conf;
	struct rte_eth_conf ec = {0};
	struct rte_eth_dev_info info;
	struct psw_queue_plan plan;
	struct rte_mempool *mp;
	uint16_t nb_rxd = port_env.rx_desc, nb_txd = port_env.tx_desc, q;
	int rc;

	rc = rte_eth_dev_info_get(p->eth_port, &info);
	if (rc < 0) {
		snprintf(err, err_len, "port '%s': cannot read device info: %s", c->name,
			 rte_strerror(-rc));
		return rc;
	}
	rc = psw_port_plan_queues(c, port_env.nb_workers, &info, &plan, err, err_len);
	if (rc < 0)
		return rc;
	if (plan.rss) {
		ec.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		ec.rx_adv_conf.rss_conf.rss_hf = plan.rss_hf;
	}
	ec.rxmode.offloads = plan.rx_offloads;
	ec.txmode.offloads = plan.tx_offloads;
	rc = rte_eth_dev_configure(p->eth_port, plan.nb_rxq, plan.nb_txq, &ec);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->eth_port, &nb_rxd, &nb_txd);
	if (rc < 0) {
		snprintf(err, err_len, "port '%s' (%s): cannot configure %u/%u queues: %s", c->name,
			 psw_port_kind_name(c->kind), plan.nb_rxq, plan.nb_txq, rte_strerror(-rc));
		return rc;
	}
	p->socket = rte_eth_dev_socket_id(p->eth_port);
	mp = psw_port_mempool(p->socket);
	if (mp == NULL) {
		snprintf(err, err_len, "port '%s': no mbuf pool: %s", c->name,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (q = 0; q < plan.nb_rxq; q++) {
		rc = rte_eth_rx_queue_setup(p->eth_port, q, nb_rxd, p->socket, NULL, mp);
		if (rc < 0)
			break;
	}
	for (q = 0; rc >= 0 && q < plan.nb_txq; q++)
		rc = rte_eth_tx_queue_setup(p->eth_port, q, nb_txd, p->socket, NULL);
	if (rc < 0) {
		snprintf(err, err_len, "port '%s': cannot set up queue %u: %s", c->name, q,
			 rte_strerror(-rc));
		return rc;
	}
	p->nb_rxq = plan.nb_rxq;
	p->nb_txq = plan.nb_txq;
	p->txq_shared = plan.nb_txq < port_env.nb_workers;
	if (c->mtu != 0 && (rc = rte_eth_dev_set_mtu(p->eth_port, c->mtu)) < 0 &&
	    rc != -ENOTSUP) {
		snprintf(err, err_len, "port '%s': cannot set MTU %u: %s", c->name, c->mtu,
			 rte_strerror(-rc));
		return rc;
	}
	if (c->has_mac && c->kind != PSW_PORT_KERNEL)
		rte_eth_dev_default_mac_addr_set(p->eth_port, (struct rte_ether_addr *)(uintptr_t)c->mac);
	/* The switch routes: it takes frames for the gateway MAC on any port. */
	rte_eth_promiscuous_enable(p->eth_port);
	rc = rte_eth_dev_start(p->eth_port);
	if (rc < 0) {
		snprintf(err, err_len, "port '%s': cannot start: %s", c->name, rte_strerror(-rc));
		return rc;
	}
	rte_eth_macaddr_get(p->eth_port, &p->mac);
	return 0;
}

/* af_packet: the switch's own socket on the interface; one queue, shared by the workers. */
static int
sock_attach(struct psw_port *p, char *err, size_t err_len)
{
	char ifname[sizeof(p->conf.ifname)];
	struct rte_mempool *large = NULL;

	memcpy(ifname, p->conf.ifname, sizeof(ifname));
	snprintf(p->devname, sizeof(p->devname), "af_packet:%s", ifname);
	p->socket = (int)rte_socket_id();
	p->mp = psw_port_mempool(p->socket);
	if (p->mp == NULL) {
		snprintf(err, err_len, "port '%s': no mbuf pool: %s", p->name, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	/* a pod's kernel may hand over partial checksums and 64 KB frames (psw_gso.h); not an uplink's */
	if (!p->conf.uplink && port_env.large_mbufs > 0) {
		large = psw_port_large_mempool(p->socket);
		if (large == NULL) {
			snprintf(err, err_len, "port '%s': no pool of %u 64 KB mbufs (limits.large_mbufs): %s",
				 p->name, port_env.large_mbufs, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	p->sk = psw_sockport_open(ifname, large, err, err_len);
	if (p->sk == NULL)
		return -EIO;
	p->offloads = p->sk->large != NULL;
	p->nb_rxq = 1;
	p->nb_txq = 1;
	p->txq_shared = port_env.nb_workers > 1;
	memcpy(p->mac.addr_bytes, p->sk->mac, 6);
	return 0;
}

/* vhost-user: the switch's own registration of the pod's socket; queue pairs as configured. */
static int
vhost_attach(struct psw_port *p, unsigned index, char *err, size_t err_len)
{
	const struct psw_port_conf *c = &p->conf;
	int rc;

	snprintf(p->devname, sizeof(p->devname), "vhost-user:%s", c->socket);
	p->socket = (int)rte_socket_id();
	p->mp = psw_port_mempool(p->socket);
	if (p->mp == NULL) {
		snprintf(err, err_len, "port '%s': no mbuf pool: %s", p->name, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	/* a guest may hand over partial checksums and 64 KB frames (psw_gso.h); not as an uplink */
	p->large = NULL;
	p->rx_ol_bad = 0;
	if (!c->uplink && port_env.large_mbufs > 0) {
		p->large = psw_port_large_mempool(p->socket);
		if (p->large == NULL) {
			snprintf(err, err_len, "port '%s': no pool of %u 64 KB mbufs (limits.large_mbufs): %s",
				 p->name, port_env.large_mbufs, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	if (!c->client) {
		rc = prepare_server_socket(c, err, err_len);
		if (rc < 0)
			return rc;
	}
	p->nb_rxq = p->nb_txq = c->queues ? c->queues : 1;
	p->held = NULL;
	if (p->large != NULL) {
		p->held = rte_zmalloc_socket("psw_vhost_held", p->nb_rxq * sizeof(*p->held), RTE_CACHE_LINE_SIZE,
					     p->socket);
		if (p->held == NULL) {
			snprintf(err, err_len, "port '%s': no memory for its %u queues", p->name, p->nb_rxq);
			return -ENOMEM;
		}
	}
	rc = psw_vhostport_open(p, port_env.qsbr, err, err_len);
	if (rc < 0) {
		rte_free(p->held);
		p->held = NULL;
		return rc;
	}
	p->txq_shared = p->nb_txq < port_env.nb_workers;
	if (c->has_mac) {
		memcpy(p->mac.addr_bytes, c->mac, 6);
	} else {
		/* locally administered, from the slot: shown by `ports`, never on the wire */
		const uint8_t mac[6] = { 0x02, 'p', 's', 'w', (uint8_t)(index >> 8), (uint8_t)index };

		memcpy(p->mac.addr_bytes, mac, 6);
	}
	return 0;
}

/* memif: the switch's own master on the socket; one queue, shared by the workers. */
static int
memif_attach(struct psw_port *p, char *err, size_t err_len)
{
	int rc;

	snprintf(p->devname, sizeof(p->devname), "memif:id=%u", p->conf.memif_id);
	p->socket = (int)rte_socket_id();
	p->mp = psw_port_mempool(p->socket);
	if (p->mp == NULL) {
		snprintf(err, err_len, "port '%s': no mbuf pool: %s", p->name, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	if (!psw_memif_socket_listening(p->conf.socket)) {
		rc = prepare_server_socket(&p->conf, err, err_len);
		if (rc < 0)
			return rc;
	}
	p->mf = psw_memifport_create(p->name, p->conf.socket, p->conf.memif_id, err, err_len);
	if (p->mf == NULL)
		return -EIO;
	p->nb_rxq = 1;
	p->nb_txq = 1;
	p->txq_shared = port_env.nb_workers > 1;
	if (p->conf.has_mac)
		memcpy(p->mac.addr_bytes, p->conf.mac, 6);
	return 0;
}

int
psw_port_arm(struct psw_port *p, uint16_t queue)
{
	socklen_t len = sizeof(int);
	int soerr;

	if (p->sk != NULL) {
		/* an error pending on the socket (ENETDOWN: the interface went down,
		 * and up again) reports EPOLLERR until read: it would wake the port
		 * as soon as it is armed, every time */
		(void)getsockopt(p->sk->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (p->sk->efd < 0)
			return p->sk->fd;
		len = sizeof(int);               /* offloads: two sockets, one set (psw_sockport.h) */
		(void)getsockopt(p->sk->large_fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		return p->sk->efd;
	}
	if (p->mf != NULL)                       /* the slave asked to signal; not when a frame waits */
		return psw_memifport_arm(p->mf) ? psw_memifport_fd(p->mf) : -1;
	if (p->kind == PSW_PORT_VHOST)
		return psw_vhostport_arm(p, queue);
	return -1;
}

void
psw_port_disarm(struct psw_port *p, uint16_t queue)
{
	/* a memif port being removed has mf cleared before it is freed */
	struct psw_memifport *mf = __atomic_load_n(&p->mf, __ATOMIC_ACQUIRE);

	if (mf != NULL)
		psw_memifport_disarm(mf);
	else if (p->kind == PSW_PORT_VHOST)
		psw_vhostport_disarm(p, queue);
}

void
psw_port_drops(struct psw_port *p, uint64_t *missed, uint64_t *nombuf)
{
	struct rte_eth_stats es = { 0 };

	if (p->mf != NULL) {
		*missed = p->mf->rx_bad + p->mf->rx_oversize + p->mf->rx_bad_head;
		*nombuf = p->mf->rx_nombuf;
		return;
	}
	if (p->sk != NULL) {
		*missed = psw_sockport_drops(p->sk) + p->sk->rx_toolong + p->sk->rx_gso_bad;
		*nombuf = p->sk->rx_nombuf;
		return;
	}
	if (p->kind == PSW_PORT_VHOST) {
		/* the library drops nothing itself: a full guest ring is the worker's tx_drop */
		*missed = __atomic_load_n(&p->rx_ol_bad, __ATOMIC_RELAXED);
		*nombuf = 0;
		return;
	}
	rte_eth_stats_get(p->eth_port, &es);
	*missed = es.imissed;
	*nombuf = es.rx_nombuf;
}

bool
psw_port_link_up(const struct psw_port *p)
{
	struct rte_eth_link link = { 0 };

	if (p->sk != NULL)
		return psw_sockport_link_up(p->sk);
	if (p->kind == PSW_PORT_VHOST)
		return __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE) >= 0;
	if (p->mf != NULL)
		return psw_memifport_link_up(p->mf);
	rte_eth_link_get_nowait(p->eth_port, &link);
	return link.link_status == RTE_ETH_LINK_UP;
}

int
psw_port_create(const struct psw_port_conf *c, char *err, size_t err_len)
{
	struct psw_port *p;
	unsigned i;
	int rc;

	if (psw_port_find(c->name) >= 0) {
		snprintf(err, err_len, "port '%s' already exists", c->name);
		return -EEXIST;
	}
	for (i = 0; i < PSW_MAX_PORTS && psw_ports[i].in_use; i++)
		;
	if (i == PSW_MAX_PORTS) {
		snprintf(err, err_len, "port '%s': all %d ports are in use", c->name, PSW_MAX_PORTS);
		return -ENOSPC;
	}
	p = &psw_ports[i];
	__atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
	memset(p->name, 0, sizeof(p->name));
	memset(p->devname, 0, sizeof(p->devname));
	p->rings[0] = p->rings[1] = NULL;
	p->vid = -1;
	p->armed_fd = -1;
	p->kick_fd = -1;
	p->mp = NULL;
	p->sk = NULL;
	p->mf = NULL;
	p->eth_port = RTE_MAX_ETHPORTS;
	p->conf = *c;
	p->kind = c->kind;
	snprintf(p->name, sizeof(p->name), "%s", c->name);
	if (c->kind == PSW_PORT_AFPACKET || c->kind == PSW_PORT_VHOST || c->kind == PSW_PORT_MEMIF) {
		if (c->kind == PSW_PORT_VHOST)
			rc = vhost_attach(p, i, err, err_len);
		else if (c->kind == PSW_PORT_MEMIF)
			rc = memif_attach(p, err, err_len);
		else
			rc = sock_attach(p, err, err_len);
		if (rc < 0)
			return rc;
		p->in_use = true;
		name_index_add(i);
		return (int)i;
	}
	rc = port_attach(p, i, err, err_len);
	if (rc == 0)
		rc = port_configure(p, err, err_len);
	if (rc < 0) {
		port_detach(p);
		return rc;
	}
	p->in_use = true;
	name_index_add(i);
	return (int)i;
}

/*
 * Closing a packet socket waits for an RCU grace period in the kernel
 * (packet_release), some 20-30 ms here: 600 kernel pods' sockets closed
 * one after another took the switch over 30 s to stop. psw_port_destroy_all
 * collects them and closes them from several threads at once, whose
 * waits share grace periods.
 */
#define CLOSERS 32
static struct psw_sockport *to_close[PSW_MAX_PORTS];
static unsigned nb_to_close;
static bool collecting;

struct closer {
	unsigned first;
	bool started;
	pthread_t tid;
};

static void *
close_share(void *arg)
{
	const struct closer *c = arg;
	unsigned i;

	for (i = c->first; i < nb_to_close; i += CLOSERS)
		psw_sockport_close(to_close[i]);
	return NULL;
}

void
psw_port_destroy_all(void)
{
	struct closer c[CLOSERS];
	unsigned i, n;

	collecting = true;
	for (i = 0; i < PSW_MAX_PORTS; i++)
		psw_port_destroy((uint16_t)i);
	collecting = false;
	n = RTE_MIN(nb_to_close, (unsigned)CLOSERS);
	for (i = 0; i < n; i++) {
		c[i].first = i;
		c[i].started = pthread_create(&c[i].tid, NULL, close_share, &c[i]) == 0;
		if (!c[i].started)
			close_share(&c[i]);          /* no thread: its share here */
	}
	for (i = 0; i < n; i++)
		if (c[i].started)
			pthread_join(c[i].tid, NULL);
	nb_to_close = 0;
}

void
psw_port_destroy(uint16_t index)
{
	struct psw_port *p;

	if (index >= PSW_MAX_PORTS || !psw_ports[index].in_use)
		return;
	p = &psw_ports[index];
	if (p->sk != NULL) {
		p->offloads = false;
		if (collecting)
			to_close[nb_to_close++] = p->sk;
		else
			psw_sockport_close(p->sk);
		p->sk = NULL;
	} else if (p->mf != NULL) {
		struct psw_memifport *mf = p->mf;

		/* out of a waking worker's reach first: destroy waits for a grace period, then frees */
		__atomic_store_n(&p->mf, NULL, __ATOMIC_RELEASE);
		psw_memifport_destroy(mf);
	} else if (p->kind == PSW_PORT_VHOST) {
		psw_vhostport_close(p);
		psw_vhostport_free_held(p);
		rte_free(p->held);
		p->held = NULL;
		p->offloads = false;
		p->large = NULL;
	} else {
		port_detach(p);
	}
	name_index_del(index);
	p->in_use = false;
}
