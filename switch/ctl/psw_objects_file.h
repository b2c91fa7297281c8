/*
 * The Kubernetes objects on disk (control thread): <state_dir>/objects.json,
 * the whole desired state of every kind applied (from `podswitchctl apply`
 * or an agent), rewritten atomically after each apply or delete that
 * changed it, and applied again at start before the API socket opens, so
 * Services and NetworkPolicies are in force for the pods that reattach
 * before anyone re-applies them.
 *
 * Format: {"format": "podswitch-objects", "version": 1, "objects": [...]},
 * the objects as the switch stored them (defaulted, ClusterIPs allocated),
 * Namespaces first, then Pods, Services, EndpointSlices, NetworkPolicies.
 */
#ifndef PSW_OBJECTS_FILE_H
#define PSW_OBJECTS_FILE_H

#include <stddef.h>

struct psw_state;

#define PSW_OBJECTS_FORMAT "podswitch-objects"
#define PSW_OBJECTS_VERSION 1

/** Write every stored object to st->objects_file ("" = nowhere). 0 or -errno (logged). */
int psw_objects_save(struct psw_state *st);

/**
 * At start: apply the objects of st->objects_file, all of them or none.
 * A missing file is an empty state (0, msg empty). A file that cannot be
 * read, is not JSON, is not ours, was written by a newer podswitch or holds
 * an object the switch refuses is set aside as "<file>.refused" (so the
 * next save does not overwrite it) and nothing is applied: the switch
 * starts empty rather than half-loaded.
 * @return the number of objects restored, or -errno with msg saying which
 *         file, what is wrong and where it was moved.
 */
int psw_objects_restore(struct psw_state *st, char *msg, size_t msg_len);

#endif /* PSW_OBJECTS_FILE_H */
