/*
 * The netlink work of the CNI plugin, with libmnl: veth pairs across
 * namespaces, MAC, addresses, routes, and reading them back for CHECK.
 * Each call opens its own netlink socket in the calling thread's current
 * network namespace; psw_nl_enter_netns() moves the thread.
 */
#ifndef PSW_NL_H
#define PSW_NL_H

#include <stdbool.h>
#include <stdint.h>

struct psw_nl_addr {
	int family;             /* AF_INET, AF_INET6 */
	uint8_t addr[16];
	uint8_t plen;
};

/**
 * Create host <-> peer veth; the peer goes straight into netns_fd with the
 * given name and MAC; mtu and the peer's gso_max_size when not 0.
 */
int psw_nl_veth_create(const char *host, const char *peer, int netns_fd, const uint8_t mac[6],
		       unsigned mtu, unsigned gso_max);
/** Delete a link by name; 0 also when it does not exist. */
int psw_nl_link_del(const char *name);
/** Bring a link up. */
int psw_nl_link_up(const char *name);
/** ifindex and MAC of a link; -ENODEV when absent. */
int psw_nl_link_get(const char *name, int *ifindex, uint8_t mac[6], bool *up);
/** The index of the peer of veth name (IFLA_LINK, in the peer's namespace), 0 without one, or -errno. */
int psw_nl_link_peer(const char *name);
/** Add an address (IPv6 without duplicate address detection). */
int psw_nl_addr_add(int ifindex, const struct psw_nl_addr *a);
/** Add (or replace) a route to dst/plen (plen 0: the default route) via gw on ifindex. */
int psw_nl_route_add(int ifindex, int family, const uint8_t *dst, unsigned plen, const uint8_t *gw);
/** The addresses on ifindex (up to max). Returns how many, or -errno. */
int psw_nl_addr_list(int ifindex, struct psw_nl_addr *out, int max);
/**
 * True when the main table has a route of this family to dst/plen (plen 0:
 * the default route) via gw on ifindex; ifindex 0 or gw NULL: any.
 */
int psw_nl_has_route(int ifindex, int family, const uint8_t *dst, unsigned plen, const uint8_t *gw);
/** True when the main table routes dst/plen through a gateway other than gw (a connected route does not count). */
int psw_nl_has_route_via_other(int family, const uint8_t *dst, unsigned plen, const uint8_t *gw);

/** Move this thread into the namespace at path; returns the fd of the one it left (or -errno). */
int psw_nl_enter_netns(const char *path);
/** Go back to the namespace fd returned above (and close it). */
int psw_nl_leave_netns(int old_fd);

/** Turn TX checksum offload off on a link of the current namespace (ethtool). */
int psw_nl_tx_csum_off(const char *name);
/**
 * Turn the named features (ethtool's names, "tx-gre-segmentation") off on
 * a link of the current namespace; names it does not have are skipped.
 */
int psw_nl_features_off(const char *name, const char *const *features);
/** Write "1" to /proc/sys/net/ipv6/conf/NAME/disable_ipv6 (no-op without IPv6). */
int psw_nl_disable_ipv6(const char *name);

#endif /* PSW_NL_H */
