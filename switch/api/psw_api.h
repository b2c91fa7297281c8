/*
 * The podswitch API protocol, shared by the daemon, podswitchctl and the CNI
 * plugin (the only code they share). A Unix stream socket carries JSON
 * messages, one per line (compact JSON never contains a newline).
 *
 * Request:  {"api": 1, "op": "<operation>", "args": {...}}
 * Response: {"api": 1, "ok": true,  "result": {...}}
 *       or  {"api": 1, "ok": false, "error": {"code": "<code>", "message": "<text>"}}
 *
 * Operations and their arguments are listed in docs/api.md. A message longer
 * than PSW_API_MAX_MSG bytes is refused ("too_large") and the connection
 * closed. No DPDK here.
 */
#ifndef PSW_API_H
#define PSW_API_H

#include <stddef.h>

#include <jansson.h>

#define PSW_API_VERSION 1
#define PSW_API_MAX_MSG (16u << 20)
#define PSW_API_DEFAULT_SOCKET "/run/podswitch/podswitch.sock"

/* Error codes carried in error.code. */
#define PSW_API_E_BAD_REQUEST  "bad_request"   /* not JSON, wrong envelope */
#define PSW_API_E_TOO_LARGE    "too_large"
#define PSW_API_E_UNKNOWN_OP   "unknown_op"
#define PSW_API_E_INVALID      "invalid"       /* arguments or objects invalid */
#define PSW_API_E_NOT_FOUND    "not_found"
#define PSW_API_E_EXISTS       "exists"
#define PSW_API_E_NO_RESOURCES "no_resources"  /* no free IP, port, ... */
#define PSW_API_E_INTERNAL     "internal"
#define PSW_API_E_VERSION      "version"       /* api version not served */
#define PSW_API_E_RETRY        "retry"         /* not yet: the same request may succeed later */

/** Build a request envelope; steals args (may be NULL). */
json_t *psw_api_request(const char *op, json_t *args);
/** Build a success response; steals result (may be NULL = {}). */
json_t *psw_api_ok(json_t *result);
/** Build an error response. */
json_t *psw_api_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Serialise msg as one line (compact, '\n'-terminated). Caller frees. NULL on error. */
char *psw_api_encode(const json_t *msg, size_t *len);

/**
 * Parse one line (without its '\n') into a request.
 * @param op    set to the op string (owned by *req)
 * @param args  set to the args object (owned by *req; {} when absent)
 * @return the request object to json_decref, or NULL with *err a response
 *         describing the problem (caller sends and frees it).
 */
json_t *psw_api_parse_request(const char *line, size_t len, const char **op, json_t **args,
			      json_t **err);

/** Connect to the daemon's socket. fd or -errno. */
int psw_api_connect(const char *path);

/**
 * Send a request and wait for its response (client side).
 * @return the response (caller frees), or NULL with errbuf filled in
 *         (connection refused, daemon closed the connection, bad reply).
 */
json_t *psw_api_call(const char *socket_path, const char *op, json_t *args, char *errbuf,
		     size_t errlen);

/** From a response: its result (borrowed) if ok, else NULL and the error text in errbuf. */
json_t *psw_api_result(json_t *resp, char *errbuf, size_t errlen);

#endif /* PSW_API_H */
