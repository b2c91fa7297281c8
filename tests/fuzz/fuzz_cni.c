/*
 * libFuzzer target: what the CNI plugin reads before it acts
 * (switch/cni/podswitch-cni.c, psw_cni_parse): the network configuration
 * on stdin and the CNI_* environment, including CNI_ARGS.
 *
 * Input: environment lines "NAME=value\n" up to an empty line, then the
 * configuration. Only CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
 * CNI_ARGS and CNI_PATH are taken (each reset before every input); an
 * input without CNI_COMMAND is run as ADD. Nothing is executed: no socket,
 * no netlink, no IPAM plugin.
 *
 * Checked besides ASan/UBSan: a request accepted for ADD/DEL/CHECK has a
 * default interface kind, a pod namespace and name, and CNI_ARGS values
 * within their buffers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psw_cni.h"
#include "psw_fuzz.h"

static const char *const env_names[] = {
	"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The plugin prints its error objects on stdout; libFuzzer reports on stderr. */
	if (freopen("/dev/null", "w", stdout) == NULL)
		exit(1);
	return 0;
}

/* Set the environment from the lines before the first empty one; returns where the configuration starts. */
static char *
take_environment(char *text)
{
	char *line = text;
	unsigned i;

	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
	while (*line != '\0' && *line != '\n') {
		char *end = strchr(line, '\n'), *eq;

		if (end != NULL)
			*end = '\0';
		eq = strchr(line, '=');
		if (eq != NULL) {
			*eq = '\0';
			for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
				if (strcmp(line, env_names[i]) == 0)
					setenv(line, eq + 1, 1);
		}
		if (end == NULL)
			return line + strlen(line);
		line = end + 1;
	}
	return *line == '\n' ? line + 1 : line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = psw_fuzz_text(data, size);
	struct cni c;

	if (text == NULL)
		return 0;
	memset(&c, 0, sizeof(c));
	c.stdin_text = take_environment(text);
	c.command = getenv("CNI_COMMAND");
	if (c.command == NULL || c.command[0] == '\0')
		c.command = "ADD";
	if (psw_cni_parse(&c) == 0 && strcmp(c.command, "STATUS") != 0 && strcmp(c.command, "GC") != 0) {
		/* the request's own kind may be absent (the switch then asks the Pod
		 * object, docs/cni.md); the default never is */
		if (c.default_interface == NULL || c.pod_namespace == NULL || c.pod_name == NULL ||
		    strnlen(c.ips_arg, sizeof(c.ips_arg)) == sizeof(c.ips_arg) ||
		    strnlen(c.mac_arg, sizeof(c.mac_arg)) == sizeof(c.mac_arg) ||
		    strnlen(c.k8s_name, sizeof(c.k8s_name)) == sizeof(c.k8s_name))
			abort();
	}
	json_decref(c.conf);
	free(text);
	return 0;
}
