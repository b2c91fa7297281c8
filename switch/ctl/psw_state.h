/*
 * The switch's desired state and how it becomes dataplane tables.
 * The state is a validated configuration (static ports, pods, routes; later
 * also API objects). psw_state_apply() takes a whole new configuration,
 * computes the difference with the running one, creates the ports that are
 * new, builds only the tables whose inputs changed, publishes a snapshot,
 * and removes the ports that went away after a grace period. Workers never
 * pause. On any error nothing changes.
 *
 * Thread-safety: control thread only.
 */
#ifndef PSW_STATE_H
#define PSW_STATE_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "psw_config.h"
#include "psw_k8s.h"
#include "psw_lcore.h"
#include "psw_tables.h"

/** A pod attached at run time through the API (the CNI plugin). */
struct psw_attachment {
	char container_id[128];
	char ifname[PSW_IFNAME_MAX];           /**< CNI_IFNAME inside the pod */
	char netns[256];
	char pod_namespace[PSW_NAME_MAX];
	char pod_name[254];                    /**< Kubernetes names go up to 253 */
	char network[PSW_NAME_MAX];            /**< the CNI network (conflist name) */
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

struct psw_state {
	struct psw_config cfg;                 /**< running configuration (owned) */
	bool has_cfg;
	struct psw_ipam *ipam;                 /**< pod address pools */
	struct psw_ct *ct;                     /**< connection table (not versioned) */
	struct psw_svc_table *svcs;            /**< the Services (persistent, updated in place) */
	struct psw_pol_table *pol;             /**< NetworkPolicy per port (persistent, updated in place) */
	struct psw_k8s_store k8s;              /**< the Kubernetes objects */
	struct psw_attachment *atts;           /**< CNI attachments */
	unsigned nb_atts, cap_atts;
	char state_file[300];                  /**< where attachments are saved ("" = nowhere) */
	unsigned nb_workers;
	/* worker polling (port, queue); fixed for the life of the port */
	uint8_t rxq_owner[PSW_MAX_PORTS][PSW_MAX_WORKERS];
	unsigned worker_load[PSW_MAX_WORKERS];
	struct psw_lcore *lcores[PSW_MAX_WORKERS];
};

/**
 * Move the switch to cfg. On success st owns cfg's allocations (the caller's
 * struct is zeroed); on failure cfg is untouched, the running state is
 * unchanged and err says what is wrong.
 * @return 0 or a negative errno.
 */
int psw_state_apply(struct psw_state *st, struct psw_config *cfg, char *err, size_t err_len);

/** Rebuild the tables from the current desired state and publish them. */
int psw_state_republish(struct psw_state *st, char *err, size_t err_len);

/** Index of the attachment (container_id, ifname), or -1. */
int psw_state_find_attachment(const struct psw_state *st, const char *container_id,
			      const char *ifname);

/**
 * Add an attachment record (not yet attached: no port). Copies att.
 * @return its index, or -ENOMEM.
 */
int psw_state_add_attachment(struct psw_state *st, const struct psw_attachment *att);

/**
 * Create the port of attachment i and publish tables with the pod in them.
 * @return 0, or a negative errno with err filled (the record stays, detached).
 */
int psw_state_attach(struct psw_state *st, unsigned i, char *err, size_t err_len);

/**
 * Remove attachment i: publish tables without it, wait for a grace period,
 * destroy its port, give its addresses back to IPAM, drop the record.
 * @return 0, or a negative errno (tables could not be built: nothing changed).
 */
int psw_state_remove_attachment(struct psw_state *st, unsigned i, char *err, size_t err_len);

/**
 * Recompile the Services a change touches from the stored objects and the
 * attached pods, and update their entries in place (workers see each
 * entry's new version at once); forget UDP connections to backends that
 * went away. scope: ["ns/name", "ns/ *" ...], or NULL for every Service.
 * @return 0, or a negative errno with err filled; on a conflict (two
 *         Services, one address and port) nothing has changed.
 */
int psw_state_update_services(struct psw_state *st, json_t *scope, char *err, size_t err_len);


/** Remove every port and release the configuration (workers stopped). */
void psw_state_fini(struct psw_state *st);

/** All counters as JSON (ports, workers, drops, events). New reference. */
json_t *psw_state_stats_json(const struct psw_state *st);

/** Print all counters (ports, drops, events, workers) as "key value" lines. */
void psw_state_print_stats(const struct psw_state *st, FILE *out);

/** Port's counters summed over the workers (racy reads: a snapshot). */
void psw_state_port_counters(const struct psw_state *st, unsigned port,
			     struct psw_port_counters *c);

/** Drop-reason and event counters summed over the workers. */
void psw_state_sum_counters(const struct psw_state *st, uint64_t drops[PSW_DROP_COUNT],
			    uint64_t events[PSW_EV_COUNT]);

#include "psw_services.h"
#include "psw_state_file.h"

#endif /* PSW_STATE_H */
