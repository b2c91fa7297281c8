/*
 * The control state: the data every file of ctl/ works on, and nothing
 * else (no functions). The desired state (the running configuration, the
 * CNI attachments, the Kubernetes objects), the compilers' own memory (the
 * policy slots, the Service owners) and what the control thread keeps of
 * the dataplane (ports' RX queue owners, the persistent tables, the
 * workers). One instance, owned by main.c; control thread only.
 *
 * Who does what with it, bottom up (a file includes only those above it):
 *   psw_change.h     what one change touched and how to undo its store
 *   psw_k8s.c        validates and stores Kubernetes objects
 *   psw_netpol.c, psw_services.c, psw_fwd.c
 *                    the compilers: desired state -> a plan, published later
 *   psw_pipeline.c   compile -> publish -> reclaim, in one order
 *   psw_state.c      the sources: reload, CNI attach / detach; counters
 *   psw_state_file.c, psw_apiops.c, psw_apisrv.c
 *                    persistence and the API
 */
#ifndef PSW_CTL_H
#define PSW_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "psw_config.h"
#include "psw_lcore.h"
#include "psw_podif.h"
#include "psw_tables.h"

/**
 * The Kubernetes objects in the desired state: data of the control state
 * (struct psw_state.k8s), not of a file.
 */
struct psw_k8s_store {
	json_t *objects;         /**< "Kind/ns/name" -> object (NULL until the first apply) */
	json_t *slices;          /**< "ns/service" -> { "EndpointSlice/ns/name" -> slice } */
};

/** A pod attached at run time through the API (the CNI plugin). */
struct psw_attachment {
	char container_id[128];
	char ifname[PSW_IFNAME_MAX];           /**< CNI_IFNAME inside the pod */
	char netns[256];
	char pod_namespace[PSW_NAME_MAX];
	char pod_name[254];                    /**< Kubernetes names go up to 253 */
	char network[PSW_NAME_MAX];            /**< the CNI network (conflist name) */
	char nad[PSW_PODIF_NET_MAX];           /**< a secondary interface's NetworkAttachmentDefinition,
						*   "namespace/name", as its Pod said at ADD (psw_podif_network);
						*   "" for eth0, or from a state file of before */
	enum psw_port_kind kind;               /**< af_packet (kernel pods), vhost-user, memif */
	char host_ifname[PSW_IFNAME_MAX];      /**< af_packet: the veth's host end */
	char socket[PSW_PATH_MAX];             /**< vhost-user / memif */
	char port_name[PSW_NAME_MAX];
	uint8_t mac[6];
	bool has_ip4, has_ip6;
	uint8_t ip4[4], ip6[16];
	bool ipam_external;                    /**< addresses from an IPAM plugin, not our pools */
	bool attached;                         /**< its port exists */
	uint64_t created;                      /**< CLOCK_REALTIME seconds */
};

struct psw_ipam;
struct psw_ct;
struct psw_netpol_store;
struct psw_neigh_table;
struct psw_audit;

struct psw_state {
	struct psw_config cfg;                 /**< running configuration (owned) */
	bool has_cfg;
	struct psw_ipam *ipam;                 /**< pod address pools */
	struct psw_ct *ct;                     /**< connection table (not versioned) */
	struct psw_svc_table *svcs;            /**< the Services (persistent, updated in place) */
	struct psw_pol_table *pol;             /**< NetworkPolicy per port (persistent, updated in place) */
	struct psw_k8s_store k8s;              /**< the Kubernetes objects */
	struct psw_netpol_store *np;           /**< the policy compiler's slots and caches */
	json_t *svc_owners;                    /**< Service "ns/name" -> [its table keys] */
	json_t *svc_slots;                     /**< Service "ns/name" -> its counters' slot (psw_stage.h) */
	struct psw_attachment *atts;           /**< CNI attachments */
	unsigned nb_atts, cap_atts;
	char state_file[300];                  /**< where attachments are saved ("" = nowhere) */
	char objects_file[300];                /**< where Kubernetes objects are saved ("" = nowhere) */
	json_t *agent;                         /**< podswitch-agent's last report (NULL: none) */
	time_t agent_at;                       /**< when it came */
	int journal_fd;                        /**< <state_file>.journal, open for appends; valid if journal_open */
	bool journal_open;
	unsigned journal_len;                  /**< records in it since the last full save */
	unsigned nb_workers;
	/* worker polling (port, queue); fixed for the life of the port */
	uint8_t rxq_owner[PSW_MAX_PORTS][PSW_MAX_WORKERS];
	unsigned worker_load[PSW_MAX_WORKERS];
	struct psw_lcore *lcores[PSW_MAX_WORKERS];
	struct psw_neigh_table *neigh;         /**< next hops' MACs (psw_neigh.h) */
	struct psw_pipeline_stats {            /**< psw_pipeline_commit(): how long changes take */
		uint64_t ok, failed;
		uint64_t ns_sum;               /**< compile + publish + reclaim, all changes */
		uint64_t last_ns, max_ns;
		int64_t last_at;               /**< CLOCK_REALTIME seconds of the last one in force (ok) */
	} pipe;
	struct psw_audit *audit;               /**< the policy audit log (psw_audit.h); NULL until configured */
};

#endif /* PSW_CTL_H */
