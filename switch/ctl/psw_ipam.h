/*
 * IP address management for pods: one pool per family, carved from the
 * node's pod CIDRs, never handing out the network, broadcast (IPv4), subnet
 * router anycast (IPv6) or gateway address. Pure C, no DPDK; the control
 * thread owns it (single-threaded, so concurrent CNI ADDs, which the API
 * serialises, can never get the same address). Persistence is the state
 * file's job: at start every recorded address is reserved again. Pods'
 * MAC addresses are picked here too (psw_mac_pick), from what the caller
 * says is in use.
 */
#ifndef PSW_IPAM_H
#define PSW_IPAM_H

#include <stdbool.h>
#include <stdint.h>

#include "psw_config.h"

struct psw_ipam;

/** Pools for v4 (required) and v6 (family 0 = none). NULL on ENOMEM / bad prefix. */
struct psw_ipam *psw_ipam_create(const struct psw_prefix *v4, const uint8_t gw4[4],
				 const struct psw_prefix *v6, const uint8_t gw6[16]);
void psw_ipam_destroy(struct psw_ipam *ipam);

/**
 * Take a specific address (a requested IP, or one read back from the state file).
 * @return 0; -EINVAL outside the pool or a reserved address (err says which);
 *         -EEXIST already taken.
 */
int psw_ipam_reserve(struct psw_ipam *ipam, int family, const uint8_t *addr);

/** Take the next free address of a family. 0, or -ENOSPC, -EAFNOSUPPORT (no such pool). */
int psw_ipam_allocate(struct psw_ipam *ipam, int family, uint8_t *addr);

/** Give an address back (no-op if it was not taken). */
void psw_ipam_release(struct psw_ipam *ipam, int family, const uint8_t *addr);

/** True when the address is taken. */
bool psw_ipam_is_taken(const struct psw_ipam *ipam, int family, const uint8_t *addr);

/** Addresses taken / usable in a family's pool. */
uint64_t psw_ipam_used(const struct psw_ipam *ipam, int family);
uint64_t psw_ipam_capacity(const struct psw_ipam *ipam, int family);

/** True when the pool for this family exists. */
bool psw_ipam_has(const struct psw_ipam *ipam, int family);

/** Candidates psw_mac_pick tries at most. */
#define PSW_MAC_TRIES 4096

/**
 * A MAC for a pod. Tried in order: derived (02:50 + the pod's IPv4
 * address, by convention), the same with the second byte counting up
 * (02:51.., as earlier versions picked), then locally administered unicast
 * MACs hashed from seed (the attachment's identity) and the attempt
 * number; at most PSW_MAC_TRIES candidates, so the search always ends.
 * @param in_use  true when a MAC is taken (called once per candidate)
 * @return 0 with mac set, or -ENOSPC when every candidate was taken.
 */
int psw_mac_pick(const uint8_t derived[6], const char *seed,
		 bool (*in_use)(const uint8_t mac[6], void *ctx), void *ctx, uint8_t mac[6]);

#endif /* PSW_IPAM_H */
