/* The control thread's epoll loop: sources (fd, handler, context) in or out of the set. */
#include <errno.h>
#include <stddef.h>
#include <sys/epoll.h>

#include "psw_ctl_loop.h"

int
psw_ctl_watch(int epfd, struct psw_event_src *src, uint32_t events, int mod)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(epfd, mod ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

void
psw_ctl_unwatch(int epfd, struct psw_event_src *src)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, src->fd, NULL);
}
