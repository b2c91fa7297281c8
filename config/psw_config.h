/*
 * The startup configuration: a libconfig file (or the embedded default)
 * parsed and validated into one plain struct before anything else starts.
 * Pure C, no DPDK: the daemon, the tests and `--check` share this code.
 *
 * Thread-safety: none needed; the control thread alone loads configurations.
 */
#ifndef PSW_CONFIG_H
#define PSW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSW_NAME_MAX       64
#define PSW_PATH_MAX       108   /* sun_path of a Unix socket */
#define PSW_IFNAME_MAX     16    /* IFNAMSIZ */
#define PSW_MAX_WORKERS    16
#define PSW_MAX_CFG_PORTS  64    /* static ports; ethdev kinds stop at RTE_MAX_ETHPORTS (32) */
#define PSW_MAX_EAL_ARGS   16
#define PSW_ERR_MAX        512

/** An IPv4 or IPv6 prefix; IPv4 addresses use addr[0..3], network order. */
struct psw_prefix {
	uint8_t family;          /**< 4 or 6; 0 when not set */
	uint8_t len;             /**< prefix length */
	uint8_t addr[16];        /**< host bits are zero */
};

enum psw_port_kind {
	PSW_PORT_NIC,            /**< PCI device: SR-IOV VF or PF */
	PSW_PORT_VHOST,          /**< vhost-user; the switch is the backend */
	PSW_PORT_MEMIF,          /**< memif; the switch is the server */
	PSW_PORT_KERNEL,         /**< tap interface for an ordinary pod */
	PSW_PORT_AFPACKET,       /**< af_packet on the host end of a veth pair */
	PSW_PORT_RING,           /**< net_ring loopback pair, for tests */
	PSW_PORT_PCAP,           /**< pcap files in / out, for tests */
	PSW_PORT_NULL,           /**< net_null, for benchmarks */
	PSW_PORT_KIND_COUNT
};

/** One port (`ports` list entry). Fields not used by a kind stay zero. */
struct psw_port_conf {
	char name[PSW_NAME_MAX];
	enum psw_port_kind kind;
	int line;                          /**< line in the file, for messages */
	/* nic */
	char pci[32];                      /**< "0000:03:00.0" */
	uint16_t nb_rx_queues;             /**< 0 = one per worker */
	bool rss;                          /**< spread flows over rx queues */
	/* vhost, memif */
	char socket[PSW_PATH_MAX];
	bool client;                       /**< vhost: switch connects (reconnects) */
	uint16_t queues;                   /**< vhost queue pairs, default 1 */
	uint32_t memif_id;
	/* kernel (tap), afpacket */
	char ifname[PSW_IFNAME_MAX];
	/* pcap */
	char rx_pcap[256];
	char tx_pcap[256];
	/* every kind */
	bool has_mac;
	uint8_t mac[6];                    /**< the port's own MAC (tap: the interface's) */
	uint16_t mtu;                      /**< 0 = default 1500 */
	bool node;                         /**< the node's own stack: its node-addressed traffic is the node's */
	bool uplink;                       /**< the node's link to other nodes and the world (nic, af_packet, kernel) */
};

/** A pod declared statically (`pods` list entry); the CNI path adds more at run time. */
struct psw_pod_conf {
	char name[PSW_NAME_MAX];
	char namespace_[PSW_NAME_MAX];     /**< default "default" */
	char port[PSW_NAME_MAX];           /**< name of a port in `ports` */
	int line;
	uint8_t mac[6];                    /**< required: the pod's MAC */
	bool has_ip4;
	uint8_t ip4[4];
	bool has_ip6;
	uint8_t ip6[16];
};

/**
 * A static route (`routes` list entry): prefix -> a next hop, given by its
 * MAC on a port, or by its address (`via`), resolved by ARP on that port or,
 * with no port, on every uplink.
 */
struct psw_route_conf {
	struct psw_prefix prefix;
	char port[PSW_NAME_MAX];           /**< "" with via: every uplink */
	uint8_t mac[6];                    /**< next hop's MAC on that port (no via) */
	uint8_t via_family;                /**< 4 or 6 when the next hop is an address; 0: mac */
	uint8_t via[16];
	int line;
};

/*
 * The daemon's log (switch/ctl/psw_log.h): levels and subsystems, named
 * once for the configuration (log.level, log.subsystems) and the lines.
 */
#define PSW_LOG_LEVELS(_) \
	_(ERR, "error") _(WARN, "warning") _(INFO, "info") _(DEBUG, "debug")
#define PSW_LOG_SUBSYSTEMS(_) \
	_(MAIN, "main") _(CONFIG, "config") _(API, "api") _(STATE, "state") _(PORT, "port") \
	_(VHOST, "vhost") _(METRICS, "metrics") _(CAPTURE, "capture") _(DPDK, "dpdk")

enum psw_log_level {
#define _(sym, name) PSW_LOG_##sym,
	PSW_LOG_LEVELS(_)
#undef _
	PSW_LOG_LEVEL_COUNT
};

enum psw_log_subsys {
#define _(sym, name) PSW_LOGS_##sym,
	PSW_LOG_SUBSYSTEMS(_)
#undef _
	PSW_LOGS_COUNT
};

enum psw_encap {
	PSW_ENCAP_NONE,                    /**< native routing: the underlay routes pod CIDRs */
	PSW_ENCAP_VXLAN,                   /**< VXLAN (RFC 7348) between node addresses */
	PSW_ENCAP_GENEVE,                  /**< Geneve (RFC 8926) between node addresses */
};

struct psw_config {
	char source[256];                  /**< file name, or "<default>" */

	struct {
		bool hugepages;                /**< false: --no-huge */
		unsigned memory_mb;            /**< -m */
		char file_prefix[PSW_NAME_MAX];
		int main_core;                 /**< CPU of the control thread */
		unsigned nb_args;
		char args[PSW_MAX_EAL_ARGS][128]; /**< extra EAL arguments */
	} eal;

	struct {
		unsigned nb;                   /**< number of worker lcores */
		int cores[PSW_MAX_WORKERS];    /**< CPU of each worker; may repeat */
		unsigned idle_sleep_us;        /**< max back-off sleep when idle; 0 = busy poll */
	} workers;

	struct psw_node_conf {
		char name[PSW_NAME_MAX];
		struct psw_prefix pod_cidr;    /**< IPv4 */
		uint8_t gateway[4];
		struct psw_prefix pod_cidr6;   /**< family 0 when IPv6 is off */
		uint8_t gateway6[16];
		struct psw_prefix service_cidr;
		struct psw_prefix service_cidr6; /**< IPv6 ClusterIPs; family 0: not given */
		uint16_t nodeport_min;
		uint16_t nodeport_max;
		uint8_t gateway_mac[6];        /**< MAC pods see for their gateway */
		unsigned nb_addresses;         /**< the node's own IPv4 addresses on its uplinks */
		uint8_t addresses[4][4];       /**< IPv4, network order: NodePorts are served here */
		uint8_t address_len[4];        /**< their subnets on the uplinks: 32 when not given */
		unsigned nb_addresses6;        /**< ... and IPv6 ones */
		uint8_t addresses6[4][16];
		uint8_t address6_len[4];
		/** the addresses are this node's Node object's InternalIPs
		 *  (status.addresses), one of each family: filled in while
		 *  running (psw_fwd_node_addresses), none until it is known */
		bool addresses_from_node;
	} node;

	struct {
		struct psw_prefix pod_cidr;    /**< the whole cluster's IPv4 pods; family 0: not set */
		struct psw_prefix pod_cidr6;   /**< ... IPv6 pods; family 0: not set */
		enum psw_encap encap;          /**< how pods reach other nodes' pods */
		uint16_t vxlan_port;           /**< VXLAN's UDP destination port, default 4789 */
		uint16_t geneve_port;          /**< Geneve's UDP destination port, default 6081 */
		uint32_t vni;                  /**< the overlay's (VXLAN or Geneve) network identifier, default 1 */
		unsigned nb_no_masquerade;     /**< destinations (IPv4, IPv6) pods reach with their own address */
		struct psw_prefix no_masquerade[16];
	} cluster;

	struct {
		char socket[PSW_PATH_MAX];
		char group[PSW_NAME_MAX];      /**< "" = root only; else this group may connect */
		char sockets_dir[PSW_PATH_MAX - 32]; /**< vhost-user / memif sockets of CNI pods */
		char pods_dir[256];            /**< per-pod directories (docs/cni.md); "" = none */
		char state_dir[256];           /**< attachments and IP allocations, kept across restarts */
	} api;

	struct {
		char listen[80];               /**< "ADDRESS:PORT" of /metrics; "" = none */
	} metrics;

	/** The policy audit log (docs/observability.md); reloadable. */
	struct {
		char file[PSW_PATH_MAX * 2];   /**< absolute path; "" = no audit log */
		bool all_namespaces;           /**< every namespace audited, as if annotated */
		bool allowed;                  /**< ... allowed new connections too, not only denials */
		uint64_t max_bytes;            /**< rotate past this size */
		unsigned files;                /**< rotated files kept: file.1 .. file.N */
		unsigned rate;                 /**< lines a second per pod */
		unsigned burst;                /**< lines at once per pod */
	} audit;

	struct {
		uint8_t level;                 /**< enum psw_log_level: what is written (default info) */
		uint8_t subsystem[PSW_LOGS_COUNT]; /**< a subsystem's own level; PSW_LOG_LEVEL_COUNT: log.level */
		bool json;                     /**< one JSON object a line, else "podswitch: text" */
		unsigned rate;                 /**< lines a call site may write in 10 s, then counted (0: no limit) */
	} log;

	struct {
		unsigned mbufs;                /**< mbufs per NUMA socket */
		unsigned large_mbufs;          /**< 64 KB mbufs per NUMA socket for pods' offloads; 0: none */
		unsigned max_pods;
		unsigned max_routes;
		unsigned conntrack;            /**< connections tracked at most */
		unsigned conntrack_per_port;   /**< of which one port's may hold; 0 = no limit */
		uint16_t rx_desc;
		uint16_t tx_desc;
	} limits;

	unsigned nb_ports;
	struct psw_port_conf ports[PSW_MAX_CFG_PORTS];
	unsigned nb_pods;
	struct psw_pod_conf *pods;         /**< malloc'd, nb_pods entries */
	unsigned nb_routes;
	struct psw_route_conf *routes;     /**< malloc'd, nb_routes entries */
};

/** Text of the embedded default configuration. */
const char *psw_config_default_text(void);

/**
 * Parse and validate a configuration.
 *
 * @param text    libconfig text; NULL means the embedded default
 * @param source  name used in messages ("<default>", a file name)
 * @param cfg     filled on success; left zeroed (nothing to free) on failure
 * @param err     on failure: "SOURCE:LINE: what is wrong" (or "SOURCE: ..." when
 *                the problem has no line)
 * @return 0, or -EINVAL on a bad configuration, -ENOMEM
 */
int psw_config_parse(const char *text, const char *source, struct psw_config *cfg,
		     char *err, size_t errlen);

/** Read FILE and psw_config_parse() it; -ENOENT etc. when unreadable (err says so). */
int psw_config_load_file(const char *path, struct psw_config *cfg, char *err, size_t errlen);

/** Release what psw_config_parse() allocated. Accepts NULL and zeroed configs. */
void psw_config_free(struct psw_config *cfg);

/** Kind name as written in the file ("nic", "vhost-user", ...), or NULL. */
const char *psw_port_kind_name(enum psw_port_kind kind);

/* Small parsers shared with the rest of the switch (no DPDK). 0 or -EINVAL. */
int psw_parse_prefix(const char *s, struct psw_prefix *p);
int psw_parse_ip(const char *s, uint8_t *family, uint8_t addr[16]);
int psw_parse_mac(const char *s, uint8_t mac[6]);
/** The smallest MTU of the uplink ports (1500 without any). */
unsigned psw_config_uplink_mtu(const struct psw_config *cfg);
/** The MTU pods get: the uplinks', less the VXLAN overhead when pods' traffic is encapsulated. */
unsigned psw_config_pod_mtu(const struct psw_config *cfg);
/** True when addr is one of the node's addresses in cfg (gateways excluded). */
bool psw_config_node_addr(const struct psw_config *cfg, uint8_t family, const uint8_t *addr);
/** Clear p's host bits (the bits past p->len). */
void psw_prefix_mask(struct psw_prefix *p);
/** True when addr (of p->family) lies in prefix p. */
bool psw_prefix_contains(const struct psw_prefix *p, const uint8_t *addr);
/** True when the two prefixes (same family) share any address. */
bool psw_prefix_overlap(const struct psw_prefix *a, const struct psw_prefix *b);

struct sockaddr_storage;
/** "1.2.3.4:PORT" or "[v6]:PORT" (PORT 1..65535) into ss. 0 or -EINVAL. */
int psw_parse_listen(const char *s, struct sockaddr_storage *ss);
/** "10.0.0.0/8" / "fd00::/64" into buf; returns buf. */
char *psw_prefix_str(const struct psw_prefix *p, char *buf, size_t len);

#endif /* PSW_CONFIG_H */
