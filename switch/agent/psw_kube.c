/* The agent's Kubernetes API client (psw_kube.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "psw_kube.h"
#include "psw_manifest.h"

/* A whole small file, NUL-terminated; NULL with errno. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		errno = EFBIG;
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		errno = EIO;
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		if (len != NULL)
			*len = (size_t)n;
	}
	return buf;
}

/* A token without the white space around it (files often end with a newline). */
static char *
trimmed(char *s)
{
	char *e;

	if (s == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		memmove(s, s + 1, strlen(s));
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static void
kube_init(struct psw_kube *k)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
}

int
psw_kube_in_cluster(struct psw_kube *k, const char *sa_dir, char *err, size_t err_len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char *tok;

	kube_init(k);
	if (host == NULL || port == NULL || host[0] == '\0') {
		snprintf(err, err_len, "not in a cluster: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT "
			 "are not set (give --kubeconfig to run outside one)");
		return -1;
	}
	snprintf(k->server, sizeof(k->server), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	snprintf(k->token_file, sizeof(k->token_file), "%s/token", sa_dir);
	snprintf(k->ca_file, sizeof(k->ca_file), "%s/ca.crt", sa_dir);
	tok = slurp(k->token_file, NULL);
	if (tok == NULL) {
		snprintf(err, err_len, "service account token %s: %s", k->token_file, strerror(errno));
		return -1;
	}
	k->token = tok;
	trimmed(k->token);
	return 0;
}

/* RFC 4648 base64 (the kubeconfig's *-data fields); white space skipped. */
static int
base64_decode(const char *in, struct curl_blob *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), len = 0;
	unsigned acc = 0, bits = 0;
	unsigned char *buf = malloc(n * 3 / 4 + 3);

	if (buf == NULL)
		return -1;
	for (; *in != '\0' && *in != '='; in++) {
		const char *c;

		if (*in == '\n' || *in == '\r' || *in == ' ' || *in == '\t')
			continue;
		c = strchr(alphabet, *in);
		if (c == NULL) {
			free(buf);
			return -1;
		}
		acc = acc << 6 | (unsigned)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[len++] = (unsigned char)(acc >> bits);
		}
	}
	out->data = buf;
	out->len = len;
	out->flags = CURL_BLOB_NOCOPY;
	return 0;
}

/* The entry of list whose "name" is name: its member "field" (a cluster, a user). */
static json_t *
named(json_t *list, const char *name, const char *field)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		if (json_is_string(json_object_get(e, "name")) &&
		    strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
			return json_object_get(e, field);
	return NULL;
}

/* A path in a kubeconfig is relative to the file's directory. */
static void
rel_path(char *out, size_t len, const char *kubeconfig, const char *p)
{
	const char *slash = strrchr(kubeconfig, '/');

	if (p[0] == '/' || slash == NULL)
		snprintf(out, len, "%s", p);
	else
		snprintf(out, len, "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p);
}

int
psw_kube_from_kubeconfig(struct psw_kube *k, const char *path, char *err, size_t err_len)
{
	json_t *docs, *cfg, *ctx, *cluster, *user;
	const char *cur, *server, *s;
	char perr[512];
	int rc = -1;

	kube_init(k);
	docs = psw_manifest_load(path, perr, sizeof(perr));
	if (docs == NULL) {
		snprintf(err, err_len, "kubeconfig %s", perr);
		return -1;
	}
	cfg = json_array_get(docs, 0);
	cur = json_string_value(json_object_get(cfg, "current-context"));
	ctx = cur != NULL ? named(json_object_get(cfg, "contexts"), cur, "context") : NULL;
	if (ctx == NULL) {
		snprintf(err, err_len, "kubeconfig %s: no current-context, or no context named '%s'", path,
			 cur ? cur : "");
		goto out;
	}
	s = json_string_value(json_object_get(ctx, "cluster"));
	cluster = s != NULL ? named(json_object_get(cfg, "clusters"), s, "cluster") : NULL;
	server = json_string_value(json_object_get(cluster, "server"));
	if (server == NULL) {
		snprintf(err, err_len, "kubeconfig %s: context '%s' names no cluster with a server", path, cur);
		goto out;
	}
	snprintf(k->server, sizeof(k->server), "%s", server);
	if (k->server[0] != '\0' && k->server[strlen(k->server) - 1] == '/')
		k->server[strlen(k->server) - 1] = '\0';
	k->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	if ((s = json_string_value(json_object_get(cluster, "certificate-authority"))) != NULL)
		rel_path(k->ca_file, sizeof(k->ca_file), path, s);
	if ((s = json_string_value(json_object_get(cluster, "certificate-authority-data"))) != NULL &&
	    base64_decode(s, &k->ca_blob) < 0) {
		snprintf(err, err_len, "kubeconfig %s: certificate-authority-data is not base64", path);
		goto out;
	}
	s = json_string_value(json_object_get(ctx, "user"));
	user = s != NULL ? named(json_object_get(cfg, "users"), s, "user") : NULL;
	if ((s = json_string_value(json_object_get(user, "token"))) != NULL)
		k->token = strdup(s);
	if ((s = json_string_value(json_object_get(user, "tokenFile"))) != NULL) {
		rel_path(k->token_file, sizeof(k->token_file), path, s);
		k->token = trimmed(slurp(k->token_file, NULL));
		if (k->token == NULL) {
			snprintf(err, err_len, "kubeconfig %s: tokenFile %s: %s", path, k->token_file,
				 strerror(errno));
			goto out;
		}
	}
	if ((s = json_string_value(json_object_get(user, "client-certificate"))) != NULL)
		rel_path(k->cert_file, sizeof(k->cert_file), path, s);
	if ((s = json_string_value(json_object_get(user, "client-key"))) != NULL)
		rel_path(k->key_file, sizeof(k->key_file), path, s);
	if (((s = json_string_value(json_object_get(user, "client-certificate-data"))) != NULL &&
	     base64_decode(s, &k->cert_blob) < 0) ||
	    ((s = json_string_value(json_object_get(user, "client-key-data"))) != NULL &&
	     base64_decode(s, &k->key_blob) < 0)) {
		snprintf(err, err_len, "kubeconfig %s: client-certificate-data or client-key-data is not "
			 "base64", path);
		goto out;
	}
	if (user != NULL && json_object_get(user, "exec") != NULL && k->token == NULL &&
	    k->cert_file[0] == '\0' && k->cert_blob.data == NULL) {
		snprintf(err, err_len, "kubeconfig %s: user '%s' authenticates with an exec plugin, "
			 "which podswitch-agent does not run; give a token or a client certificate", path,
			 json_string_value(json_object_get(ctx, "user")));
		goto out;
	}
	rc = 0;
out:
	json_decref(docs);
	return rc;
}

void
psw_kube_fini(struct psw_kube *k)
{
	free(k->token);
	free(k->ca_blob.data);
	free(k->cert_blob.data);
	free(k->key_blob.data);
	k->token = NULL;
	pthread_mutex_destroy(&k->lock);
}

/* ------------------------------------------------------------- requests */

struct body {
	char *buf;
	size_t len, cap;
	int (*line)(void *, const char *, size_t);
	void *arg;
	int stopped;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *nb;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > (256u << 20) || (nb = realloc(b->buf, cap)) == NULL)
			return 0;                /* ends the transfer: an answer this big is not for us */
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	if (b->line != NULL) {
		char *start = b->buf, *nl;

		/* every complete line now; a partial one waits for the next chunk */
		while ((nl = memchr(start, '\n', b->len - (size_t)(start - b->buf))) != NULL) {
			if (nl > start && b->line(b->arg, start, (size_t)(nl - start)) != 0) {
				b->stopped = 1;
				return 0;
			}
			start = nl + 1;
		}
		b->len -= (size_t)(start - b->buf);
		memmove(b->buf, start, b->len);
		b->buf[b->len] = '\0';
	}
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct psw_kube_resp *r = arg;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		r->retry_after = strtol(data + 12, NULL, 10);
	return n;
}

/* Shutdown ends a watch at once rather than at its timeout. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const struct psw_kube *k = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return k->stop != NULL && *k->stop;
}

/* The token of the moment: its file is read again (a rotated service-account token). */
static void
auth_header(struct psw_kube *k, char *out, size_t len)
{
	char *tok;

	pthread_mutex_lock(&k->lock);
	if (k->token_file[0] != '\0' && (tok = slurp(k->token_file, NULL)) != NULL) {
		free(k->token);
		k->token = trimmed(tok);
	}
	if (k->token != NULL && k->token[0] != '\0')
		snprintf(out, len, "Authorization: Bearer %s", k->token);
	else
		out[0] = '\0';
	pthread_mutex_unlock(&k->lock);
}

static int
perform(struct psw_kube *k, CURL *curl, const char *path, long timeout_s, struct body *b,
	struct psw_kube_resp *resp)
{
	char url[2048], auth[8192];
	struct curl_slist *hdrs = NULL;
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	snprintf(url, sizeof(url), "%s%s", k->server, path);
	auth_header(k, auth, sizeof(auth));
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (auth[0] != '\0')
		hdrs = curl_slist_append(hdrs, auth);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, resp->error);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, k);
	if (k->ca_file[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, k->ca_file);
	if (k->ca_blob.data != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &k->ca_blob);
	if (k->cert_file[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_SSLCERT, k->cert_file);
	if (k->key_file[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_SSLKEY, k->key_file);
	if (k->cert_blob.data != NULL)
		curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &k->cert_blob);
	if (k->key_blob.data != NULL)
		curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &k->key_blob);
	if (k->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_OK || (b->stopped && rc == CURLE_WRITE_ERROR))
		return 0;
	/* a watch that ran its whole time is a normal end */
	if (b->line != NULL && rc == CURLE_OPERATION_TIMEDOUT && resp->status == 200)
		return 0;
	if (resp->error[0] == '\0')
		snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(rc));
	return -1;
}

json_t *
psw_kube_get(struct psw_kube *k, CURL *curl, const char *path, struct psw_kube_resp *resp)
{
	struct body b = { 0 };
	json_t *doc = NULL;

	if (perform(k, curl, path, 60, &b, resp) == 0 && resp->status == 200) {
		doc = json_loadb(b.buf ? b.buf : "", b.len, 0, NULL);
		if (doc == NULL)
			snprintf(resp->error, sizeof(resp->error), "the answer to GET %s is not JSON", path);
	} else if (resp->status != 0 && resp->status != 200) {
		json_t *st = json_loadb(b.buf ? b.buf : "", b.len, 0, NULL);

		snprintf(resp->error, sizeof(resp->error), "GET %s: HTTP %ld%s%s", path, resp->status,
			 json_is_string(json_object_get(st, "message")) ? ": " : "",
			 json_string_value(json_object_get(st, "message")) ?: "");
		json_decref(st);
	}
	free(b.buf);
	return doc;
}

int
psw_kube_stream(struct psw_kube *k, CURL *curl, const char *path, long timeout_s,
		int (*line)(void *arg, const char *text, size_t len), void *arg,
		struct psw_kube_resp *resp)
{
	struct body b = { .line = line, .arg = arg };
	int rc = perform(k, curl, path, timeout_s, &b, resp);

	if (rc == 0 && resp->status != 200) {
		snprintf(resp->error, sizeof(resp->error), "watch %s: HTTP %ld", path, resp->status);
		rc = -1;
	}
	free(b.buf);
	return rc;
}
