/*
 * Files the control thread keeps in the state directory: written whole and
 * atomically, so a crash leaves the old file or the new one, never half of
 * either.
 */
#ifndef PSW_FILE_H
#define PSW_FILE_H

#include <stddef.h>

/** write(2) until len bytes are written (EINTR retried). 0 or -errno. */
int psw_file_write_all(int fd, const void *buf, size_t len);

/** fsync the directory holding path (a rename or a new file is durable only then). 0 or -errno. */
int psw_file_sync_dir(const char *path);

/**
 * Replace path with text: "<path>.tmp" written and fsync'd, renamed over
 * path, the directory fsync'd (so the rename survives a crash). 0 or -errno.
 */
int psw_file_replace(const char *path, const char *text, size_t len);

/** mkdir -p dir (mode 0755 for those made; existing ones are left as they are). 0 or -errno. */
int psw_file_mkdirs(const char *dir);

#endif /* PSW_FILE_H */
