/*
 * Per-pod directories (docs/cni.md, "The socket inside the pod"): for a
 * pod with a vhost-user or memif interface, <api.pods_dir>/<namespace>/<pod>/
 * holds each such interface's socket (<ifname>.sock, <ifname>.memif) and
 * interfaces.json, the pod's interfaces as the application needs them
 * (kind, socket, MAC, addresses, gateway, MTU, queues, a DPDK --vdev). The
 * pod mounts the directory (a hostPath volume with subPathExpr) and finds
 * everything there under fixed names.
 *
 * Unix socket paths have 108 bytes: the switch binds and connects through
 * a short link, <api.sockets_dir>/p/<16 hex digits of a hash of
 * namespace/pod> -> the pod's directory, whatever the names' lengths. Two
 * pods whose names hash alike are refused, never share a link.
 *
 * The directory is the pod's to write: the switch writes interfaces.json
 * through a descriptor of the directory, never following a link the pod
 * may have planted, and removes only its own files.
 *
 * Thread-safety: control thread only.
 */
#ifndef PSW_PODDIR_H
#define PSW_PODDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "psw_ctl.h"

/** Does attachment a get a pod directory (pods_dir set, a DPDK kind, Kubernetes names)? */
bool psw_poddir_wanted(const struct psw_state *st, const struct psw_attachment *a);

/**
 * The socket path of attachment a in its pod's directory, through the
 * short link, into a->socket. @return 0, or -1 with err (too long).
 */
int psw_poddir_socket(const struct psw_state *st, struct psw_attachment *a, char *err, size_t len);

/**
 * Make a's pod directory and its link (again, after a restart or if
 * removed), refusing a link another live pod's names hash to.
 * @return 0, or -1 with err.
 */
int psw_poddir_prepare(const struct psw_state *st, const struct psw_attachment *a, char *err, size_t len);

/**
 * Write the interfaces.json of the pod of attachment a from its attached
 * interfaces; with no DPDK interface left (attached, or restored and not
 * yet attached again), remove the file, the link and the directories
 * (those still holding something the pod put there stay). A detached a
 * (going) takes its socket's name with it.
 */
void psw_poddir_publish(const struct psw_state *st, const struct psw_attachment *a);

#endif /* PSW_PODDIR_H */
