/*
 * The attachments on disk (psw_state_file.c, control thread): a whole file
 * (attachments.json) and a journal of the changes since it was written
 * (attachments.json.journal, one fdatasync'd line a change), read back and
 * folded together at start.
 */
#ifndef PSW_STATE_FILE_H
#define PSW_STATE_FILE_H

#include <stdbool.h>
#include <stddef.h>

struct psw_state;
struct psw_attachment;

/**
 * Write the attachments to the state file atomically: a temporary file,
 * fsync, rename, fsync of the directory (so the rename survives a crash).
 * 0 or -errno.
 */
int psw_state_save(struct psw_state *st);

/**
 * Record one attachment's change (a, as it is now; removed: it is gone) by
 * appending a line to <state_file>.journal and fdatasync'ing it: constant
 * cost whatever the number of pods. The journal is folded into the state
 * file (psw_state_save) once it holds as many records as there are
 * attachments (at least 64), and at every start. Falls back to a full
 * save when the journal cannot be written. 0 or -errno.
 */
int psw_state_log(struct psw_state *st, const struct psw_attachment *a, bool removed);

/**
 * Read the state file at start: reserve every recorded address, release
 * what the CNI plugin recorded as deleted (psw_state_take_releases), and
 * re-create the ports of the other recorded attachments (vhost-user / memif pods reconnect,
 * af_packet veths that survived are taken again). Records whose addresses
 * no longer fit the pools, whose kernel interface is gone, or whose port
 * cannot be re-created, are dropped (logged).
 *
 * A state file that exists but cannot be read, is not JSON, or holds a
 * malformed record is refused: starting without the records would let the
 * pools hand out the addresses of pods still running. The file is left as
 * it is; err says which file and what is wrong.
 * @return 0, or -errno with err filled (the switch must not start).
 */
int psw_state_load(struct psw_state *st, char *err, size_t err_len);

/**
 * The CNI DELs the switch missed: the plugin, finding the switch
 * unreachable, removes the pod's interface and records the release in
 * <state_dir>/released/ (docs/cni.md). Each record's attachment (unless it
 * was made after the record) is removed: addresses back to the pools, its
 * port (if attached) destroyed after a grace period. Records are deleted
 * once taken. At start, every second, and on GC.
 * @return how many attachments were released.
 */
unsigned psw_state_take_releases(struct psw_state *st);

#endif /* PSW_STATE_FILE_H */
