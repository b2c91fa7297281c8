/*
 * parse: the first stage. Reads each frame once and fills its psw_meta
 * (L2/L3/L4 offsets, addresses, ports, flags); later stages never re-parse.
 *
 * Reads:  the frame (first segment), mbuf ol_flags (RX checksum status).
 * Writes: meta (all fields but in_port, which the worker sets); verdict DROP
 *         with a reason for frames whose headers are broken.
 * Called by workers only.
 */
#ifndef PSW_PARSE_H
#define PSW_PARSE_H

#include "psw_stage.h"
#include "psw_pkt.h"
#include "psw_tables.h"

void psw_parse_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

/** Parse one frame into m (m->in_port is kept). Exposed for tests and trace. */
void psw_parse_one(struct rte_mbuf *pkt, struct psw_meta *m);

#endif /* PSW_PARSE_H */
