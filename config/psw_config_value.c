/*
 * Typed access to libconfig settings for the configuration parser: each
 * accessor checks type, range and form, and words its own refusal with the
 * key path ("ports[2].socket") and the line (see psw_config_priv.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "psw_config_priv.h"

int psw_cfg_fail(struct psw_cfg_ctx *ctx, const config_setting_t *at, const char *fmt, ...)
{
	char msg[PSW_ERR_MAX];
	const char *file = ctx->source;
	unsigned line = 0;
	va_list ap;

	if (ctx->failed)
		return -EINVAL;
	ctx->failed = true;
	if (ctx->err == NULL || ctx->errlen == 0)
		return -EINVAL;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL) {
		line = config_setting_source_line(at);
		if (config_setting_source_file(at) != NULL)
			file = config_setting_source_file(at);   /* an @include'd file */
	}
	if (line != 0)
		snprintf(ctx->err, ctx->errlen, "%s:%u: %s", file, line, msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s: %s", file, msg);
	return -EINVAL;
}

void psw_cfg_path(char *buf, size_t len, const char *parent, const char *name)
{
	if (parent == NULL || parent[0] == '\0')
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s.%s", parent, name);
}

void psw_cfg_path_index(char *buf, size_t len, const char *parent, unsigned index)
{
	snprintf(buf, len, "%s[%u]", parent, index);
}

void psw_cfg_copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

const config_setting_t *psw_cfg_member(const config_setting_t *grp, const char *name)
{
	if (grp == NULL || !config_setting_is_group(grp))
		return NULL;
	return config_setting_get_member(grp, name);
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:  return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:  return "an integer";
	case CONFIG_TYPE_FLOAT:  return "a floating-point number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL:   return "a boolean";
	case CONFIG_TYPE_ARRAY:  return "an array";
	case CONFIG_TYPE_LIST:   return "a list";
	default:                 return "nothing";
	}
}

int psw_cfg_check_keys(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *path,
		       const char *const *known)
{
	int nb = config_setting_length(grp);

	if (!config_setting_is_group(grp))
		return psw_cfg_fail(ctx, grp, "%s must be a group, written %s = { ... }, not %s",
				    path, path, type_name(grp));
	for (int i = 0; i < nb; i++) {
		const config_setting_t *member = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(member);
		char list[256] = "";
		size_t used = 0;
		unsigned k;

		for (k = 0; known[k] != NULL; k++)
			if (strcmp(known[k], name) == 0)
				break;
		if (known[k] != NULL)
			continue;
		for (k = 0; known[k] != NULL && used < sizeof(list); k++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 k ? ", " : "", known[k]);
		if (path[0] == '\0')
			return psw_cfg_fail(ctx, member, "unknown group '%s'; the known groups are: %s",
					    name, list);
		return psw_cfg_fail(ctx, member, "unknown key %s.%s; the keys of %s are: %s",
				    path, name, path, list);
	}
	return 0;
}

int psw_cfg_int(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		long long min, long long max, long long *out)
{
	long long v;

	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return psw_cfg_fail(ctx, s, "%s must be an integer, not %s", path, type_name(s));
	if (v < min || v > max)
		return psw_cfg_fail(ctx, s, "%s %lld is out of range; it must be %lld..%lld",
				    path, v, min, max);
	*out = v;
	return 0;
}

int psw_cfg_str(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		size_t min_len, size_t max_len, const char **out)
{
	const char *v;
	size_t len;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return psw_cfg_fail(ctx, s, "%s must be a string, not %s", path, type_name(s));
	v = config_setting_get_string(s);
	len = strlen(v);
	if (len < min_len && len == 0)
		return psw_cfg_fail(ctx, s, "%s must not be empty", path);
	if (len < min_len || len > max_len)
		return psw_cfg_fail(ctx, s, "%s is %zu characters long; it must be %zu..%zu",
				    path, len, min_len, max_len);
	*out = v;
	return 0;
}

int psw_cfg_opt_int(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, long long min, long long max, long long *out)
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	char path[PSW_CFG_PATH_MAX];

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	return psw_cfg_int(ctx, s, path, min, max, out) < 0 ? -EINVAL : 1;
}

int psw_cfg_opt_bool(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		     const char *name, bool *out)
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	char path[PSW_CFG_PATH_MAX];

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return psw_cfg_fail(ctx, s, "%s must be a boolean (true or false), not %s",
				    path, type_name(s));
	*out = config_setting_get_bool(s) != 0;
	return 1;
}

int psw_cfg_opt_str(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, size_t min_len, size_t max_len, const char **out)
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	char path[PSW_CFG_PATH_MAX];

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	return psw_cfg_str(ctx, s, path, min_len, max_len, out) < 0 ? -EINVAL : 1;
}

int psw_cfg_opt_mac(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, uint8_t mac[6])
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	static const uint8_t zero[6];
	char path[PSW_CFG_PATH_MAX];
	const char *v;
	uint8_t tmp[6];

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	if (psw_cfg_str(ctx, s, path, 0, PSW_CFG_TEXT_MAX, &v) < 0)
		return -EINVAL;
	if (psw_parse_mac(v, tmp) < 0)
		return psw_cfg_fail(ctx, s, "%s '%s' is not a MAC address; write six hex bytes "
				    "separated by colons, e.g. 02:00:00:00:00:01", path, v);
	if (memcmp(tmp, zero, sizeof(zero)) == 0)
		return psw_cfg_fail(ctx, s, "%s must not be the all-zero MAC address", path);
	if (tmp[0] & 0x01)
		return psw_cfg_fail(ctx, s, "%s '%s' is a multicast MAC address; use a unicast one "
				    "(even first byte, e.g. 02:...)", path, v);
	memcpy(mac, tmp, sizeof(tmp));
	return 1;
}

int psw_cfg_opt_socket(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		       const char *name, const char **out)
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	char path[PSW_CFG_PATH_MAX];
	const char *v;

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	if (psw_cfg_str(ctx, s, path, 1, 4096, &v) < 0)
		return -EINVAL;
	if (v[0] != '/')
		return psw_cfg_fail(ctx, s, "%s '%s' must be an absolute path (start with '/')",
				    path, v);
	if (strlen(v) >= PSW_PATH_MAX)
		return psw_cfg_fail(ctx, s, "%s is %zu bytes long; a Unix socket path must be "
				    "shorter than %d bytes", path, strlen(v), PSW_PATH_MAX);
	*out = v;
	return 1;
}

int psw_cfg_opt_prefix(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		       const char *name, uint8_t family, unsigned min_len, unsigned max_len,
		       bool allow_empty, struct psw_prefix *out)
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	char path[PSW_CFG_PATH_MAX], fixed[64];
	struct psw_prefix p;
	const char *v;

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	if (psw_cfg_str(ctx, s, path, 0, PSW_CFG_TEXT_MAX, &v) < 0)
		return -EINVAL;
	if (v[0] == '\0' && allow_empty) {
		memset(out, 0, sizeof(*out));
		return 1;
	}
	if (psw_cfg_parse_prefix_raw(v, &p) < 0)
		return psw_cfg_fail(ctx, s, "%s '%s' is not a valid prefix; write ADDRESS/LENGTH, "
				    "e.g. %s", path, v, family == 6 ? "fd00:10:244::/64" : "10.244.0.0/24");
	if (family != 0 && p.family != family)
		return psw_cfg_fail(ctx, s, "%s '%s' is not an IPv%u prefix", path, v, family);
	if (p.len < min_len || p.len > max_len)
		return psw_cfg_fail(ctx, s, "%s '%s' has length %u; it must be %u..%u",
				    path, v, p.len, min_len, max_len);
	if (psw_cfg_prefix_clear_host(&p))
		return psw_cfg_fail(ctx, s, "%s '%s' has host bits set; did you mean '%s'?",
				    path, v, psw_prefix_str(&p, fixed, sizeof(fixed)));
	*out = p;
	return 1;
}

int psw_cfg_opt_ip(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		   const char *name, uint8_t family, uint8_t addr[16])
{
	const config_setting_t *s = psw_cfg_member(grp, name);
	char path[PSW_CFG_PATH_MAX];
	uint8_t got;
	const char *v;

	if (s == NULL)
		return 0;
	psw_cfg_path(path, sizeof(path), gpath, name);
	if (psw_cfg_str(ctx, s, path, 0, PSW_CFG_TEXT_MAX, &v) < 0)
		return -EINVAL;
	if (psw_parse_ip(v, &got, addr) < 0)
		return psw_cfg_fail(ctx, s, "%s '%s' is not a valid IP address", path, v);
	if (got != family)
		return psw_cfg_fail(ctx, s, "%s '%s' is not an IPv%u address", path, v, family);
	return 1;
}

int psw_cfg_require(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *name, const char *hint)
{
	if (psw_cfg_member(grp, name) != NULL)
		return 0;
	return psw_cfg_fail(ctx, grp, "%s.%s is required%s%s", gpath, name,
			    hint ? "; " : "", hint ? hint : "");
}
