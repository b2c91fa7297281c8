/*
 * The API's operations (psw_apiops.c, control thread): one answer per
 * request, the operations of docs/api.md.
 */
#ifndef PSW_APIOPS_H
#define PSW_APIOPS_H

#include <jansson.h>

struct psw_state;

/** Record the daemon's start (for status.uptime_seconds). */
void psw_api_started(void);

/** Answer one request (the operations of docs/api.md). Returns a response. */
json_t *psw_api_dispatch(struct psw_state *st, const char *op, json_t *args);

#endif /* PSW_APIOPS_H */
