/*
 * The pipeline: one change to the desired state, whatever its source (API
 * apply and delete, CNI attach and detach, a configuration reload; later a
 * watcher), reaches the dataplane through it:
 *
 *   validate -> store -> compile -> publish -> reclaim
 *
 * The source validates its input and stores it in the control state
 * (struct psw_state), saying in a struct psw_change what it touched and how
 * to put the store back. psw_pipeline_commit() then compiles, aside, what the
 * change touches (NetworkPolicy per port, Services, the forwarding
 * snapshot); if any compiler fails, nothing is published, the store is put
 * back and the error is returned. Otherwise it publishes in one order:
 *
 *   policy -> forward -> services    (a pod's guard before its path)
 *
 * where policy means the ports that get a (new) object; ports that lose
 * theirs lose it last, after a grace period. A change that takes a pod
 * away (withdraw) runs it backwards, services -> forward, then a grace
 * period, then policy: no worker can reach a pod whose policy is not in
 * force. Reclaim waits for every worker to be quiescent and destroys the
 * ports the change let go.
 *
 * Publication does not fail: the compilers check what could refuse (the
 * Service table's room) while compiling. Should it fail anyway, nothing
 * after the failing step is published, the store is put back and the
 * change's compilers run again and publish, in the other direction for a
 * pod that came or went, so that the tables say what the store says.
 * Control thread only.
 */
#ifndef PSW_PIPELINE_H
#define PSW_PIPELINE_H

#include <stddef.h>

struct psw_state;
struct psw_change;

/**
 * Compile, publish and reclaim what ch touches, from the stored state.
 * @return 0, or a negative errno with err filled: the store has been put
 *         back (ch->undo) and the published state is the one before.
 */
int psw_pipeline_commit(struct psw_state *st, struct psw_change *ch, char *err, size_t err_len);

#endif /* PSW_PIPELINE_H */
