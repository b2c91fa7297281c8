/*
 * libFuzzer target: API requests as the daemon's socket server hands them
 * on: the codec (switch/api/psw_api.c) parses one line, then the request
 * is dispatched (switch/ctl/psw_apiops.c) on a real control state built
 * as main() builds it from the embedded default configuration (EAL
 * --no-huge, no workers, no ports, no state file).
 *
 * cni.attach is left out: it creates a port (an af_packet socket on a host
 * interface, or a vhost-user / memif socket). Everything else runs: apply
 * and delete of Kubernetes objects (validation, Service and policy
 * compilation, publication), get, explain, status, stats, and cni.add,
 * cni.check, cni.del, cni.gc on attachments that never get a port. After
 * each input every stored object is deleted and every attachment
 * collected through the same operations, so each input starts from an
 * empty store; the Service table and the attachments must then be empty.
 * An input holds up to 8 requests, one per line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "psw_api.h"
#include "psw_apiops.h"
#include "psw_apisrv.h"
#include "psw_ct_ctl.h"
#include "psw_fuzz.h"
#include "psw_fuzz_eal.h"
#include "psw_k8s.h"
#include "psw_ipam.h"
#include "psw_policy.h"
#include "psw_port.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_state.h"

#define MAX_LINES 8

static struct psw_state st;
static bool verbose;                /* PSW_FUZZ_VERBOSE set: print every response */

static const char *const refused_ops[] = { "cni.attach" };

static int
state_init(void)
{
	struct psw_config cfg;
	char err[512];
	unsigned w;

	if (psw_config_parse(NULL, "<default>", &cfg, err, sizeof(err)) < 0)
		return -1;
	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = cfg.workers.nb,
		.rx_desc = cfg.limits.rx_desc, .tx_desc = cfg.limits.tx_desc, .mbufs = 4096 });
	if (psw_tables_init(cfg.workers.nb) < 0)
		return -1;
	psw_port_layer_set_qsbr(psw_tables_qsbr());
	st.nb_workers = cfg.workers.nb;
	for (w = 0; w < st.nb_workers; w++) {
		st.lcores[w] = rte_zmalloc("psw_lcore", sizeof(struct psw_lcore), RTE_CACHE_LINE_SIZE);
		if (st.lcores[w] != NULL)
			psw_lcore_init(st.lcores[w]);
		if (st.lcores[w] == NULL)
			return -1;
		st.lcores[w]->worker = w;
		st.lcores[w]->sc.pol = rte_zmalloc("psw_pol_counts", PSW_POL_MAX_SLOTS * sizeof(*st.lcores[w]->sc.pol),
						RTE_CACHE_LINE_SIZE);
		if (st.lcores[w]->sc.pol == NULL)
			return -1;
	}
	st.ct = psw_ct_create(4096, SOCKET_ID_ANY, psw_tables_qsbr());
	st.svcs = psw_svc_table_create(4096, SOCKET_ID_ANY);
	st.pol = calloc(1, sizeof(*st.pol));
	if (st.ct == NULL || st.svcs == NULL || st.pol == NULL)
		return -1;
	if (psw_state_apply(&st, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_api: %s\n", err);
		return -1;
	}
	st.ipam = psw_ipam_create(&st.cfg.node.pod_cidr, st.cfg.node.gateway, &st.cfg.node.pod_cidr6,
				  st.cfg.node.gateway6);
	st.state_file[0] = '\0';            /* never written */
	psw_api_started();
	return st.ipam == NULL ? -1 : 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	verbose = getenv("PSW_FUZZ_VERBOSE") != NULL;
	psw_fuzz_eal_init((*argv)[0], "api");
	if (state_init() < 0) {
		fprintf(stderr, "fuzz_api: set-up failed\n");
		exit(1);
	}
	return 0;
}

static void
check_response(json_t *resp)
{
	size_t len;
	char *line;

	if (!json_is_object(resp) || !json_is_boolean(json_object_get(resp, "ok")))
		abort();                    /* every request gets a response envelope */
	line = psw_api_encode(resp, &len);
	if (line == NULL || len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1) != NULL)
		abort();                    /* one line on the wire */
	free(line);
}

static void
call(const char *op, json_t *args)
{
	json_t *resp = psw_api_dispatch(&st, op, args);

	check_response(resp);
	if (verbose) {
		char *text = json_dumps(resp, JSON_COMPACT);

		fprintf(stderr, "%s -> %.300s\n", op, text);
		free(text);
	}
	json_decref(resp);
	json_decref(args);
}

/* Delete every stored object and attachment through the API, as a client would. */
static void
delete_everything(void)
{
	json_t *objs = psw_k8s_objects(&st), *list = json_array(), *o;
	const char *key;

	json_object_foreach(objs, key, o)
		json_array_append_new(list, json_deep_copy(o));
	if (json_array_size(list) > 0)
		call("delete", json_pack("{s:o}", "objects", list));
	else
		json_decref(list);
	if (st.nb_atts > 0)
		call("cni.gc", json_pack("{s:[]}", "valid"));
	if (json_object_size(psw_k8s_objects(&st)) != 0 || st.svcs->nb_ports != 0 || st.nb_atts != 0)
		abort();                    /* deleting everything must leave nothing behind */
	psw_tables_reclaim();
}

/* One request line, as the server hands it on. */
static void
request(const char *line, size_t len)
{
	const char *op = NULL;
	json_t *args = NULL, *err = NULL, *req;
	unsigned i;

	req = psw_api_parse_request(line, len, &op, &args, &err);
	if (req == NULL) {
		check_response(err);
		json_decref(err);
		return;
	}
	for (i = 0; i < RTE_DIM(refused_ops); i++)
		if (strcmp(op, refused_ops[i]) == 0)
			goto out;
	json_incref(args);
	call(op, args);
out:
	json_decref(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	unsigned n;

	/* Up to MAX_LINES requests, one per line, as a client sends them on one connection. */
	for (n = 0; n < MAX_LINES && off < size; n++) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (data + off)) : size - off;
		uint8_t *line = psw_fuzz_copy(data + off, len);

		if (line == NULL)
			break;
		request((const char *)line, len);
		free(line);
		off += len + 1;
	}
	delete_everything();
	return 0;
}
