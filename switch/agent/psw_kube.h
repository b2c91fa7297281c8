/*
 * The agent's side of the Kubernetes API server: where it is and who we are
 * (in-cluster service account, or a kubeconfig file), and requests over
 * libcurl (a whole answer, or a stream of lines).
 *
 * Thread-safety: a psw_kube is filled once at start and read by every
 * watcher thread; the token is re-read from its file before each request
 * (service-account tokens rotate), under the struct's mutex.
 */
#ifndef PSW_KUBE_H
#define PSW_KUBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#define PSW_KUBE_PATH_MAX 4096

struct psw_kube {
	char server[512];                  /**< "https://host:port", no trailing '/' */
	char token_file[PSW_KUBE_PATH_MAX]; /**< re-read before each request ("" = fixed token) */
	char *token;                       /**< bearer token (NULL: none) */
	char ca_file[PSW_KUBE_PATH_MAX];    /**< CA bundle ("" = the system's, or ca_blob) */
	struct curl_blob ca_blob, cert_blob, key_blob; /**< PEM from *-data fields */
	char cert_file[PSW_KUBE_PATH_MAX], key_file[PSW_KUBE_PATH_MAX];
	bool insecure;                     /**< insecure-skip-tls-verify */
	volatile int *stop;                /**< non-zero: transfers in progress end (shutdown) */
	pthread_mutex_t lock;
};

/**
 * In a pod: KUBERNETES_SERVICE_HOST / _PORT, the token and CA of the
 * service account in sa_dir (/var/run/secrets/kubernetes.io/serviceaccount).
 * @return 0, or -1 with err naming what is missing.
 */
int psw_kube_in_cluster(struct psw_kube *k, const char *sa_dir, char *err, size_t err_len);

/**
 * From a kubeconfig file: its current context's cluster (server,
 * certificate-authority[-data], insecure-skip-tls-verify) and user (token,
 * tokenFile, client-certificate[-data] and client-key[-data]).
 * @return 0, or -1 with err naming the file and what is wrong.
 */
int psw_kube_from_kubeconfig(struct psw_kube *k, const char *path, char *err, size_t err_len);

void psw_kube_fini(struct psw_kube *k);

/** What a request gave. */
struct psw_kube_resp {
	long status;                       /**< HTTP status, 0 when no answer came */
	long retry_after;                  /**< seconds from Retry-After, -1 without */
	char error[CURL_ERROR_SIZE];       /**< transport error (status 0) */
};

/**
 * GET path (with its query) and return the body parsed (NULL when the
 * status is not 200 or the body is not JSON; resp says which).
 */
struct json_t *psw_kube_get(struct psw_kube *k, CURL *curl, const char *path,
			    struct psw_kube_resp *resp);

/**
 * GET a watch: each complete line of the body is passed to line() as soon
 * as it has arrived, whatever the chunks it came in; a non-zero return
 * from line() ends the stream. @return 0 when the stream ended (by the
 * server, the timeout or line()), -1 on a transport error or a status that
 * is not 200 (resp says which).
 */
int psw_kube_stream(struct psw_kube *k, CURL *curl, const char *path, long timeout_s,
		    int (*line)(void *arg, const char *text, size_t len), void *arg,
		    struct psw_kube_resp *resp);

#endif /* PSW_KUBE_H */
