/* The API protocol: envelopes, one-line framing, and a blocking client call. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "psw_api.h"

json_t *
psw_api_request(const char *op, json_t *args)
{
	return json_pack("{s:i, s:s, s:o}", "api", PSW_API_VERSION, "op", op, "args",
			 args != NULL ? args : json_object());
}

json_t *
psw_api_ok(json_t *result)
{
	return json_pack("{s:i, s:b, s:o}", "api", PSW_API_VERSION, "ok", 1, "result",
			 result != NULL ? result : json_object());
}

json_t *
psw_api_error(const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	json_t *res;
	char *c;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res = json_pack("{s:i, s:b, s:{s:s, s:s}}", "api", PSW_API_VERSION, "ok", 0, "error",
			"code", code, "message", msg);
	if (res != NULL)
		return res;
	/* not UTF-8 (a name cut in the middle of a character at the buffer's end):
	 * the error still goes out, its other bytes as '?' */
	for (c = msg; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	return json_pack("{s:i, s:b, s:{s:s, s:s}}", "api", PSW_API_VERSION, "ok", 0, "error",
			 "code", code, "message", msg);
}

char *
psw_api_encode(const json_t *msg, size_t *len)
{
	char *body = json_dumps(msg, JSON_COMPACT), *line;
	size_t n;

	if (body == NULL)
		return NULL;
	n = strlen(body);
	line = realloc(body, n + 2);
	if (line == NULL) {
		free(body);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

json_t *
psw_api_parse_request(const char *line, size_t len, const char **op, json_t **args, json_t **err)
{
	json_error_t je;
	json_t *req, *v;

	*err = NULL;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (req == NULL) {
		*err = psw_api_error(PSW_API_E_BAD_REQUEST, "request is not JSON: %s (column %d)",
				     je.text, je.column);
		return NULL;
	}
	if (!json_is_object(req)) {
		*err = psw_api_error(PSW_API_E_BAD_REQUEST, "request must be a JSON object");
		goto out_free;
	}
	v = json_object_get(req, "api");
	if (!json_is_integer(v)) {
		*err = psw_api_error(PSW_API_E_BAD_REQUEST, "request has no integer 'api' version");
		goto out_free;
	}
	if (json_integer_value(v) != PSW_API_VERSION) {
		*err = psw_api_error(PSW_API_E_VERSION, "api version %lld not served; this daemon speaks %d",
				     (long long)json_integer_value(v), PSW_API_VERSION);
		goto out_free;
	}
	v = json_object_get(req, "op");
	if (!json_is_string(v)) {
		*err = psw_api_error(PSW_API_E_BAD_REQUEST, "request has no string 'op'");
		goto out_free;
	}
	*op = json_string_value(v);
	v = json_object_get(req, "args");
	if (v == NULL) {
		v = json_object();
		json_object_set_new(req, "args", v);
	}
	if (!json_is_object(v)) {
		*err = psw_api_error(PSW_API_E_BAD_REQUEST, "'args' must be an object");
		goto out_free;
	}
	*args = v;
	return req;

out_free:
	json_decref(req);
	return NULL;
}

int
psw_api_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one '\n'-terminated line; returns malloc'd text without the newline. */
static char *
read_line(int fd, size_t *out_len, int *err)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	*err = 0;
	while (buf != NULL) {
		ssize_t n;
		char *nl;

		if (len + 1 >= cap) {
			char *b;

			if (cap >= PSW_API_MAX_MSG) {
				*err = -EMSGSIZE;
				break;
			}
			b = realloc(buf, cap * 2);
			if (b == NULL)
				break;
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		len += (size_t)n;
		nl = memchr(buf, '\n', len);
		if (nl != NULL) {
			*nl = '\0';
			*out_len = (size_t)(nl - buf);
			return buf;
		}
	}
	if (*err == 0)
		*err = -ENOMEM;
	free(buf);
	return NULL;
}

json_t *
psw_api_call(const char *socket_path, const char *op, json_t *args, char *errbuf, size_t errlen)
{
	json_t *req = psw_api_request(op, args), *resp = NULL;
	json_error_t je;
	char *line = NULL, *reply = NULL;
	size_t len, rlen;
	int fd, rc;

	fd = psw_api_connect(socket_path);
	if (fd < 0) {
		snprintf(errbuf, errlen, "cannot connect to podswitch at %s: %s", socket_path,
			 strerror(-fd));
		goto out;
	}
	line = psw_api_encode(req, &len);
	if (line == NULL || (rc = write_all(fd, line, len)) < 0) {
		snprintf(errbuf, errlen, "cannot send the request to %s", socket_path);
		goto out;
	}
	reply = read_line(fd, &rlen, &rc);
	if (reply == NULL) {
		snprintf(errbuf, errlen, "no answer from podswitch at %s: %s", socket_path,
			 strerror(-rc));
		goto out;
	}
	resp = json_loadb(reply, rlen, 0, &je);
	if (resp == NULL || !json_is_object(resp))
		snprintf(errbuf, errlen, "podswitch sent an answer that is not JSON: %s", je.text);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(reply);
	json_decref(req);
	return resp;
}

json_t *
psw_api_result(json_t *resp, char *errbuf, size_t errlen)
{
	json_t *err;

	if (json_is_true(json_object_get(resp, "ok")))
		return json_object_get(resp, "result");
	err = json_object_get(resp, "error");
	snprintf(errbuf, errlen, "%s", json_string_value(json_object_get(err, "message")) ?: "unknown error");
	return NULL;
}
