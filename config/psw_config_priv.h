/*
 * Internal to config/: the parsing context and the typed accessors that
 * psw_config.c (scalar sections) and psw_config_ports.c (ports, pods, routes)
 * share. Every accessor reports its problem through psw_cfg_fail(), which
 * keeps the first message, and returns -EINVAL.
 */
#ifndef PSW_CONFIG_PRIV_H
#define PSW_CONFIG_PRIV_H

#include <sched.h>
#include <libconfig.h>

#include "psw_config.h"

/** Longest free-form text read before its form is checked (addresses, ranges). */
#define PSW_CFG_TEXT_MAX 4096

/** Longest key path in a message, e.g. "ports[31].rx_pcap". */
#define PSW_CFG_PATH_MAX 64

struct psw_cfg_ctx {
	const char *source;            /**< name of the text in messages */
	char *err;                     /**< first message goes here */
	size_t errlen;
	bool failed;
	struct psw_config *cfg;        /**< being built */
	cpu_set_t cpus;                /**< CPUs this process may run on */
	unsigned nb_cpus;
};

/** Record "SOURCE:LINE: message" (line of `at`, none when NULL); returns -EINVAL. */
int psw_cfg_fail(struct psw_cfg_ctx *ctx, const config_setting_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** "parent.name" into buf (just "name" when parent is empty). */
void psw_cfg_path(char *buf, size_t len, const char *parent, const char *name);
/** "parent[index]" into buf. */
void psw_cfg_path_index(char *buf, size_t len, const char *parent, unsigned index);

/** Member `name` of group grp; NULL when absent or when grp is NULL. */
const config_setting_t *psw_cfg_member(const config_setting_t *grp, const char *name);

/** Copy src (already length-checked) into a buffer of size len. */
void psw_cfg_copy(char *dst, size_t len, const char *src);

/** Refuse members of group `grp` (at `path`) that are not in the NULL-ended `known`. */
int psw_cfg_check_keys(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *path,
		       const char *const *known);

/* Typed values. The plain forms read setting s (named `path` in messages). */
int psw_cfg_int(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		long long min, long long max, long long *out);
int psw_cfg_str(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		size_t min_len, size_t max_len, const char **out);

/*
 * Optional members of group grp (at gpath; grp may be NULL, an absent group):
 * 1 when present and valid (out set), 0 when absent (out untouched), -EINVAL
 * when present and wrong.
 */
int psw_cfg_opt_int(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, long long min, long long max, long long *out);
int psw_cfg_opt_bool(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		     const char *name, bool *out);
int psw_cfg_opt_str(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, size_t min_len, size_t max_len, const char **out);
/** A unicast, non-zero MAC. */
int psw_cfg_opt_mac(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, uint8_t mac[6]);
/** An absolute path shorter than PSW_PATH_MAX (a Unix socket). */
int psw_cfg_opt_socket(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		       const char *name, const char **out);
/**
 * A prefix of `family` (0: either) with length min_len..max_len and no host
 * bits; "" is accepted, as family 0, when allow_empty.
 */
int psw_cfg_opt_prefix(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		       const char *name, uint8_t family, unsigned min_len, unsigned max_len,
		       bool allow_empty, struct psw_prefix *out);
/** An address of `family` (4 or 6) into addr (16 bytes; IPv4 uses the first 4). */
int psw_cfg_opt_ip(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		   const char *name, uint8_t family, uint8_t addr[16]);
/** Refuse an absent required member: "PATH.name is required". */
int psw_cfg_require(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, const char *hint);

/** Ports, pods and routes (psw_config_ports.c); the node section is already parsed. */
int psw_cfg_parse_ports(struct psw_cfg_ctx *ctx, const config_setting_t *list);
int psw_cfg_parse_pods(struct psw_cfg_ctx *ctx, const config_setting_t *list);
int psw_cfg_parse_routes(struct psw_cfg_ctx *ctx, const config_setting_t *list);
/** Uplinks need a node address; routes via an address with no port need an uplink. */
int psw_cfg_check_uplinks(struct psw_cfg_ctx *ctx, const config_setting_t *ports,
			  const config_setting_t *routes);

/** The audit group (psw_config_audit.c); grp may be NULL (defaults kept). */
int psw_cfg_parse_audit(struct psw_cfg_ctx *ctx, const config_setting_t *grp);

/* psw_config_net.c */
int psw_cfg_parse_prefix_raw(const char *s, struct psw_prefix *p);
bool psw_cfg_prefix_clear_host(struct psw_prefix *p);
/** True when every host bit of addr under prefix p is one (ones) or zero (!ones). */
bool psw_cfg_host_bits_all(const struct psw_prefix *p, const uint8_t *addr, bool ones);
const char *psw_cfg_ip_str(uint8_t family, const uint8_t *addr, char *buf, size_t len);

#endif /* PSW_CONFIG_PRIV_H */
