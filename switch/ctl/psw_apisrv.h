/*
 * The API server: a Unix stream socket (root-only, or a configured group),
 * one JSON request per line, answered in order (psw_api.h). Non-blocking;
 * driven by the control thread's epoll loop. A client that sends garbage,
 * a message over PSW_API_MAX_MSG, or disconnects mid-request affects only
 * itself. Control thread only.
 */
#ifndef PSW_APISRV_H
#define PSW_APISRV_H

#include <stddef.h>

#include <jansson.h>

struct psw_state;
struct psw_apisrv;

/**
 * Listen on path (its directory is created; a stale socket is replaced; one
 * another process serves is refused). NULL with err filled on failure.
 */
struct psw_apisrv *psw_apisrv_create(const char *path, const char *group, int epfd,
				     struct psw_state *st, char *err, size_t err_len);
/** Close every connection and remove the socket file. NULL accepted. */
void psw_apisrv_destroy(struct psw_apisrv *srv);

#endif /* PSW_APISRV_H */
