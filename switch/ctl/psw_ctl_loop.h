/*
 * The control thread's event loop: one epoll set; every source (signals,
 * timers, the API socket and its clients) registers a callback.
 * Control thread only.
 */
#ifndef PSW_CTL_LOOP_H
#define PSW_CTL_LOOP_H

#include <stdint.h>

struct psw_event_src;
typedef void (*psw_event_fn)(struct psw_event_src *src, uint32_t events);

struct psw_event_src {
	int fd;
	psw_event_fn fn;
	void *ctx;
};

/** Add or change (mod != 0) a source in the epoll set. 0 or -errno. */
int psw_ctl_watch(int epfd, struct psw_event_src *src, uint32_t events, int mod);
/** Remove a source (before closing its fd). */
void psw_ctl_unwatch(int epfd, struct psw_event_src *src);

#endif /* PSW_CTL_LOOP_H */
