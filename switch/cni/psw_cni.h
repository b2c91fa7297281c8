/*
 * The CNI plugin's request: the command, the network configuration read
 * from stdin and the CNI_* environment, checked before the plugin acts.
 * Split from podswitch-cni.c so that the checks can be fuzzed
 * (tests/fuzz/fuzz_cni.c) without running a command.
 */
#ifndef PSW_CNI_H
#define PSW_CNI_H

#include <jansson.h>

/* the switch's api.state_dir by default; "stateDir" in the configuration */
#define PSW_CNI_DEFAULT_STATE_DIR "/var/lib/podswitch"

/*
 * A kernel pod's gso_max_size when the switch takes offloads: its largest
 * frame, Ethernet, a tag and the af_packet ring's headers fit a 64 KB ring
 * slot and a 64 KB mbuf (psw_sockport.h).
 */
#define PSW_POD_GSO_MAX 61440

struct cni {
	const char *command, *container_id, *netns, *ifname, *path;
	const char *pod_namespace, *pod_name;
	const char *socket;
	const char *state_dir;            /* where DEL records a release the switch missed */
	const char *interface;            /* the request's own kind (kernel, vhost-user, memif), or NULL */
	const char *default_interface;    /* the configuration's, else kernel: when neither it nor the Pod chooses */
	unsigned wait_pod_ms;             /* waitForPod: how long ADD waits for the Pod object */
	const char *cni_version;
	const char *network;              /* the configuration's name */
	char ips_arg[256];                /* IP= from CNI_ARGS */
	char mac_arg[32];                 /* MAC= from CNI_ARGS */
	char iface_arg[32];               /* PODSWITCH_INTERFACE= */
	char k8s_ns[64], k8s_name[256];
	json_t *conf;
	char *stdin_text;
};

/**
 * Parse c->stdin_text (the network configuration) and, unless c->command is
 * STATUS or GC, the CNI_* environment (getenv) into c. c->command must be
 * set. Strings in c point into c->conf or the environment; the caller
 * releases c->conf (json_decref), also after a failure.
 * @return 0 when the command may run, else 1 after printing the
 *         specification's error object on stdout (the plugin's exit status).
 */
int psw_cni_parse(struct cni *c);

#endif /* PSW_CNI_H */
