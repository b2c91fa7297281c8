/*
 * The policy stage's table builder (psw_policy_ctl.c, control thread): a
 * pod's policy object (its rules compiled into rte_acl contexts), the
 * published slot per port, and a classifier for `explain`.
 */
#ifndef PSW_POLICY_CTL_H
#define PSW_POLICY_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "psw_policy.h"

/**
 * Build a pod's policy object: its rules (copied), the isolating slots and
 * rte_acl contexts. NULL + rte_errno (ENOMEM, EINVAL from rte_acl).
 */
struct psw_pol_port *psw_pol_port_build(const bool isolated[2], const struct psw_pol_rule *rules,
					unsigned nb_rules, const uint16_t *isolating[2],
					const unsigned nb_isolating[2], int socket);

/** Free a policy object and its contexts (nobody may use it any more). NULL accepted. */
void psw_pol_port_free(struct psw_pol_port *pp);

/** Digest of a pod's inputs (isolation, rules, slots), to skip unchanged rebuilds. */
uint64_t psw_pol_digest(const bool isolated[2], const struct psw_pol_rule *rules, unsigned nb_rules,
			const uint16_t *isolating[2], const unsigned nb_isolating[2]);

/**
 * Put pp in port's slot (NULL: no policy), freeing the object it replaces
 * after every worker has been quiescent.
 */
void psw_pol_table_set(struct psw_pol_table *pt, unsigned port, struct psw_pol_port *pp);

/**
 * Classify one tuple against a pod's context (control thread or worker).
 * peer and port in network order. @return the matching ref index + 1, or 0.
 */
uint32_t psw_pol_classify(const struct psw_pol_port *pp, unsigned dir, unsigned family, uint8_t proto,
			  const uint8_t *peer, uint16_t port);

#endif /* PSW_POLICY_CTL_H */
