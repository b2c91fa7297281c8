/*
 * The switch's own answers (psw_answer.c): every builder rewrites the
 * packet that asked, in place, into its answer — from the gateway's MAC to
 * the asker's, out the port it came in on (verdict TX) — or, for errors,
 * says it cannot. Callers decide whether to answer at all and take a token
 * of the answer rate limit first (psw_punt_allow, psw_stage.h).
 *
 * Called by workers only, through the stages.
 */
#ifndef PSW_ANSWER_H
#define PSW_ANSWER_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "psw_pkt.h"
#include "psw_tables.h"

/** Turn a frame around: destination = its source, source = the gateway. */
void psw_answer_eth(struct rte_ether_hdr *eth, const struct psw_tables *t, uint16_t port);

/** An ARP request (checked by the caller) becomes the reply: the asked address is the gateway's MAC. */
void psw_answer_arp(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m);

/**
 * A neighbour solicitation for target becomes the advertisement (the
 * gateway's MAC, router/solicited/override). @return 0, or -1 when the
 * frame cannot be grown to the 32-byte answer (caller drops).
 */
int psw_answer_nd(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
		  const uint8_t *target);

/** An ICMP echo request to the gateway or a node address becomes the reply from it. */
void psw_answer_echo4(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m);

/** An ICMPv6 echo request to the gateway becomes the reply from it. */
void psw_answer_echo6(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m);

/**
 * Rewrite pkt into an ICMP (type4/code4) or ICMPv6 (type6/code6) error from
 * the gateway to its source, quoting it. Never answers an ICMP error or a
 * non-first fragment. @return 0, or -1 (caller drops).
 */
int psw_icmp_error(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
		   uint8_t type4, uint8_t code4, uint8_t type6, uint8_t code6);

/**
 * psw_icmp_error with "fragmentation needed" (IPv4, DF set) or "packet too
 * big" (IPv6), telling the sender mtu: the packet is longer than the path.
 */
int psw_icmp_too_big(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m, uint16_t mtu);

/** psw_icmp_error with time exceeded (TTL / hop limit). */
int psw_icmp_time_exceeded(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m);

/**
 * Rewrite a TCP packet into the RST|ACK that refuses it, from the address
 * it was sent to. @return 0, or -1 (a RST is never answered; multi-segment
 * or IPv6 with extension headers: caller drops).
 */
int psw_answer_tcp_rst(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m);

#endif /* PSW_ANSWER_H */
