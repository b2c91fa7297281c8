/*
 * Services and EndpointSlices compiled into the service stage's table
 * (psw_services.c, control thread).
 */
#ifndef PSW_SERVICES_H
#define PSW_SERVICES_H

#include <stddef.h>

#include <jansson.h>

struct psw_state;

/**
 * Compile the Services of scope (["ns/name", "ns/ *" ...], or NULL for all)
 * from the stored objects and the attached pods into the Service table.
 * @return 0, or a negative errno with err filled (nothing changed).
 */
int psw_services_sync(struct psw_state *st, json_t *scope, char *err, size_t err_len);

/** Forget every compiled Service (at exit). */
void psw_services_clear(void);
#endif /* PSW_SERVICES_H */
