/*
 * The audit group: where the policy audit log goes, what it records and
 * how much of it (docs/observability.md). Values only; the file itself is
 * opened (and refused when it cannot be) by the switch when it applies
 * the configuration (switch/ctl/psw_audit.c).
 */
#include <errno.h>
#include <string.h>

#include "psw_config.h"
#include "psw_config_priv.h"

int psw_cfg_parse_audit(struct psw_cfg_ctx *ctx, const config_setting_t *g)
{
	static const struct {
		const char *name;
		long long min, max;
	} keys[] = {
		{ "max_bytes", 4096, 1ll << 40 },
		{ "files", 1, 100 },
		{ "rate", 1, 100000 },
		{ "burst", 1, 1000000 },
	};
	struct psw_config *cfg = ctx->cfg;
	long long values[4] = { (long long)cfg->audit.max_bytes, cfg->audit.files, cfg->audit.rate,
				cfg->audit.burst };
	const char *v;
	int rc;

	rc = psw_cfg_opt_str(ctx, g, "audit", "file", 0, sizeof(cfg->audit.file) - 1, &v);
	if (rc < 0)
		return rc;
	if (rc > 0 && v[0] != '\0') {
		size_t len = strlen(v);

		if (v[0] != '/')
			return psw_cfg_fail(ctx, psw_cfg_member(g, "file"),
					    "audit.file '%s' must be an absolute path (start with '/')", v);
		if (v[len - 1] == '/' || strstr(v, "/../") != NULL || strcmp(v + (len >= 3 ? len - 3 : 0), "/..") == 0)
			return psw_cfg_fail(ctx, psw_cfg_member(g, "file"),
					    "audit.file '%s' must name a file (no trailing '/', no '..')", v);
	}
	if (rc > 0)
		psw_cfg_copy(cfg->audit.file, sizeof(cfg->audit.file), v);
	if (psw_cfg_opt_bool(ctx, g, "audit", "all_namespaces", &cfg->audit.all_namespaces) < 0 ||
	    psw_cfg_opt_bool(ctx, g, "audit", "allowed", &cfg->audit.allowed) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++)
		if (psw_cfg_opt_int(ctx, g, "audit", keys[i].name, keys[i].min, keys[i].max, &values[i]) < 0)
			return -EINVAL;
	cfg->audit.max_bytes = (uint64_t)values[0];
	cfg->audit.files = (unsigned)values[1];
	cfg->audit.rate = (unsigned)values[2];
	cfg->audit.burst = (unsigned)values[3];
	return 0;
}
