/*
 * The attachments on disk (psw_state_file.c, control thread): saved after
 * every change, read back at start.
 */
#ifndef PSW_STATE_FILE_H
#define PSW_STATE_FILE_H

struct psw_state;

#include <stddef.h>

/**
 * Write the attachments to the state file atomically: a temporary file,
 * fsync, rename, fsync of the directory (so the rename survives a crash).
 * 0 or -errno.
 */
int psw_state_save(const struct psw_state *st);

/**
 * Read the state file at start: reserve every recorded address and re-create
 * the ports of recorded attachments (vhost-user / memif pods reconnect,
 * af_packet veths that survived are taken again). Records whose addresses
 * no longer fit the pools, or whose port cannot be re-created, are dropped
 * (logged to stderr).
 *
 * A state file that exists but cannot be read, is not JSON, or holds a
 * malformed record is refused: starting without the records would let the
 * pools hand out the addresses of pods still running. The file is left as
 * it is; err says which file and what is wrong.
 * @return 0, or -errno with err filled (the switch must not start).
 */
int psw_state_load(struct psw_state *st, char *err, size_t err_len);

#endif /* PSW_STATE_FILE_H */
