/*
 * Which kind of interface (kernel, vhost-user, memif) a pod's attachment
 * gets (docs/cni.md, "Choosing the interface per pod"). The first of:
 *
 *   1. the CNI request's own choice: CNI_ARGS PODSWITCH_INTERFACE, or
 *      args.cni.interface in the network configuration (Multus puts a
 *      pod's per-attachment cni-args there);
 *   2. the Pod object's annotation podswitch.io/interfaces, a JSON array
 *      of {"name": IFNAME, "kind": KIND}, the entry for CNI_IFNAME;
 *   3. the network configuration's "interface", else kernel.
 *
 * The Pod object is the one the switch holds (apply, or the agent). A pod
 * can be attached before it arrives: the plugin may then ask to wait
 * (waitForPod), and the switch answers "retry" until it is there. A
 * malformed annotation fails the pod's ADD with the reason (the Pod
 * object itself is accepted: its labels still count for policy).
 *
 * Thread-safety: control thread only.
 */
#ifndef PSW_PODIF_H
#define PSW_PODIF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define PSW_PODIF_ANNOTATION "podswitch.io/interfaces"

/**
 * The kind the annotation of a Pod object asks for its interface ifname.
 * @return 1 with *kind set ("kernel", "vhost-user" or "memif", static), 0
 *         when it names none (no annotation, or no entry for ifname), or -1
 *         when the annotation is malformed, with the reason in msg.
 */
int psw_podif_from_pod(const json_t *pod, const char *ifname, const char **kind, char *msg, size_t len);

#define PSW_PODIF_NETWORKS "k8s.v1.cni.cncf.io/networks"
/** Room for a NetworkAttachmentDefinition's "namespace/name". */
#define PSW_PODIF_NET_MAX 320

/**
 * The NetworkAttachmentDefinition ("namespace/name") behind a pod's
 * secondary interface ifname, as Multus' network-selection annotation
 * (PSW_PODIF_NETWORKS, a JSON array of {"name", "namespace", "interface"}
 * or the text "[namespace/]name[@interface], ...") on its Pod object names
 * it: the entry whose interface is ifname, or one without an interface at
 * position N (from 1) for "netN", Multus' default names. Its namespace is
 * the pod's unless the entry says. Without a Pod object, an annotation or
 * such an entry: the pod's namespace and the CNI network's name (cni_net).
 * out: at least PSW_PODIF_NET_MAX bytes.
 */
void psw_podif_network(const json_t *pod, const char *pod_ns, const char *ifname, const char *cni_net,
		       char *out, size_t len);

#endif /* PSW_PODIF_H */
