/* Netlink (libmnl) and ethtool helpers for the CNI plugin. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>

#include "psw_nl.h"

/* Send one request and wait for its acknowledgement (or run cb over a dump). */
static int
talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	unsigned portid;
	uint32_t seq = (uint32_t)time(NULL);
	int rc = 0;
	ssize_t n;

	if (nl == NULL)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (rc <= MNL_CB_STOP)
			break;
	}
	if (n < 0)
		rc = -1;                         /* a receive error is a failure, not success */
	rc = rc < 0 ? -errno : 0;
out:
	mnl_socket_close(nl);
	return rc;
}

static struct nlmsghdr *
request(char *buf, uint16_t type, uint16_t flags, void *hdr, size_t hdr_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	void *h;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	h = mnl_nlmsg_put_extra_header(nlh, hdr_len);
	memcpy(h, hdr, hdr_len);
	return nlh;
}

int
psw_nl_veth_create(const char *host, const char *peer, int netns_fd, const uint8_t mac[6],
		   unsigned mtu, unsigned gso_max)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC }, pifi = { .ifi_family = AF_UNSPEC };
	struct nlmsghdr *nlh = request(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
				       &ifi, sizeof(ifi));
	struct nlattr *linkinfo, *data, *peer_attr;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
	if (mtu != 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer_attr = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(pifi)), &pifi, sizeof(pifi));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	if (mtu != 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (gso_max != 0)
		mnl_attr_put_u32(nlh, IFLA_GSO_MAX_SIZE, gso_max);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	mnl_attr_nest_end(nlh, peer_attr);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return talk(nlh, NULL, NULL);
}

int
psw_nl_link_del(const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlmsghdr *nlh = request(buf, RTM_DELLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	int rc;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	rc = talk(nlh, NULL, NULL);
	return rc == -ENODEV ? 0 : rc;
}

int
psw_nl_link_up(const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct nlmsghdr *nlh = request(buf, RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi));

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return talk(nlh, NULL, NULL);
}

struct link_info {
	int ifindex;
	int link;                        /* IFLA_LINK: a veth's peer's index, or 0 */
	uint8_t mac[6];
	bool up;
};

static int
link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *li = data;
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct nlattr *a;

	li->ifindex = ifi->ifi_index;
	li->up = (ifi->ifi_flags & IFF_UP) != 0;
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
		if (mnl_attr_get_type(a) == IFLA_ADDRESS && mnl_attr_get_payload_len(a) == 6)
			memcpy(li->mac, mnl_attr_get_payload(a), 6);
		else if (mnl_attr_get_type(a) == IFLA_LINK && mnl_attr_get_payload_len(a) == 4)
			li->link = (int)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

/* The link called name, into li; -ENODEV when absent. */
static int
link_query(const char *name, struct link_info *li)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	/* the ACK after the reply ends the receive loop */
	struct nlmsghdr *nlh = request(buf, RTM_GETLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	int rc;

	memset(li, 0, sizeof(*li));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	rc = talk(nlh, link_cb, li);
	if (rc < 0)
		return rc;
	return li->ifindex == 0 ? -ENODEV : 0;
}

int
psw_nl_link_get(const char *name, int *ifindex, uint8_t mac[6], bool *up)
{
	struct link_info li;
	int rc = link_query(name, &li);

	if (rc < 0)
		return rc;
	if (ifindex != NULL)
		*ifindex = li.ifindex;
	if (mac != NULL)
		memcpy(mac, li.mac, 6);
	if (up != NULL)
		*up = li.up;
	return 0;
}

int
psw_nl_link_peer(const char *name)
{
	struct link_info li;
	int rc = link_query(name, &li);

	return rc < 0 ? rc : li.link;
}

int
psw_nl_addr_add(int ifindex, const struct psw_nl_addr *a)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifaddrmsg ifa = { .ifa_family = (uint8_t)a->family, .ifa_prefixlen = a->plen,
				 .ifa_index = (uint32_t)ifindex, .ifa_scope = RT_SCOPE_UNIVERSE };
	struct nlmsghdr *nlh = request(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
				       &ifa, sizeof(ifa));
	size_t len = a->family == AF_INET ? 4 : 16;

	if (a->family == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	mnl_attr_put(nlh, IFA_LOCAL, len, a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, a->addr);
	return talk(nlh, NULL, NULL);
}

int
psw_nl_route_add(int ifindex, int family, const uint8_t *dst, unsigned plen, const uint8_t *gw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rtmsg rtm = { .rtm_family = (uint8_t)family, .rtm_table = RT_TABLE_MAIN,
			     .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE,
			     .rtm_type = RTN_UNICAST, .rtm_dst_len = (uint8_t)plen };
	struct nlmsghdr *nlh = request(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
				       &rtm, sizeof(rtm));

	if (plen > 0)
		mnl_attr_put(nlh, RTA_DST, family == AF_INET ? 4 : 16, dst);
	mnl_attr_put(nlh, RTA_GATEWAY, family == AF_INET ? 4 : 16, gw);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return talk(nlh, NULL, NULL);
}

struct addr_dump {
	int ifindex;
	struct psw_nl_addr *out;
	int max, n;
};

static int
addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_dump *d = data;
	struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct nlattr *a;

	if ((int)ifa->ifa_index != d->ifindex || d->n >= d->max)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		size_t len = ifa->ifa_family == AF_INET ? 4 : 16;

		if (mnl_attr_get_type(a) != IFA_ADDRESS || mnl_attr_get_payload_len(a) != len)
			continue;
		d->out[d->n].family = ifa->ifa_family;
		d->out[d->n].plen = ifa->ifa_prefixlen;
		memcpy(d->out[d->n].addr, mnl_attr_get_payload(a), len);
		d->n++;
	}
	return MNL_CB_OK;
}

int
psw_nl_addr_list(int ifindex, struct psw_nl_addr *out, int max)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	struct nlmsghdr *nlh = request(buf, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
	struct addr_dump d = { .ifindex = ifindex, .out = out, .max = max };
	int rc = talk(nlh, addr_cb, &d);

	return rc < 0 ? rc : d.n;
}

struct route_dump {
	int ifindex, family;
	unsigned plen;
	const uint8_t *dst, *gw;
	bool other_gw;                   /* match a gateway that is not gw (and only one with a gateway) */
	bool found;
};

static int
route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_dump *d = data;
	struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct nlattr *a;
	size_t alen = d->family == AF_INET ? 4 : 16;
	bool gw_ok = d->gw == NULL, oif_ok = d->ifindex == 0, dst_ok = d->plen == 0;

	if (rtm->rtm_family != d->family || rtm->rtm_dst_len != d->plen || rtm->rtm_table != RT_TABLE_MAIN)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(a) == RTA_GATEWAY && d->gw != NULL)
			gw_ok = (mnl_attr_get_payload_len(a) == alen &&
				 memcmp(mnl_attr_get_payload(a), d->gw, alen) == 0) != d->other_gw;
		if (mnl_attr_get_type(a) == RTA_OIF && d->ifindex != 0)
			oif_ok = (int)mnl_attr_get_u32(a) == d->ifindex;
		if (mnl_attr_get_type(a) == RTA_DST && d->plen != 0)
			dst_ok = mnl_attr_get_payload_len(a) == alen && memcmp(mnl_attr_get_payload(a), d->dst, alen) == 0;
	}
	d->found |= gw_ok && oif_ok && dst_ok;
	return MNL_CB_OK;
}

int
psw_nl_has_route(int ifindex, int family, const uint8_t *dst, unsigned plen, const uint8_t *gw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rtmsg rtm = { .rtm_family = (uint8_t)family };
	struct nlmsghdr *nlh = request(buf, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	struct route_dump d = { .ifindex = ifindex, .family = family, .plen = plen, .dst = dst, .gw = gw };
	int rc = talk(nlh, route_cb, &d);

	return rc < 0 ? rc : d.found;
}

int
psw_nl_has_route_via_other(int family, const uint8_t *dst, unsigned plen, const uint8_t *gw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rtmsg rtm = { .rtm_family = (uint8_t)family };
	struct nlmsghdr *nlh = request(buf, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	struct route_dump d = { .family = family, .plen = plen, .dst = dst, .gw = gw, .other_gw = true };
	int rc = talk(nlh, route_cb, &d);

	return rc < 0 ? rc : d.found;
}

int
psw_nl_enter_netns(const char *path)
{
	int old = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd;

	if (old < 0)
		return -errno;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		close(old);
		return -e;
	}
	close(fd);
	return old;
}

int
psw_nl_leave_netns(int old_fd)
{
	int rc = setns(old_fd, CLONE_NEWNET) < 0 ? -errno : 0;

	close(old_fd);
	return rc;
}

int
psw_nl_tx_csum_off(const char *name)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&ev;
	rc = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int
psw_nl_features_off(const char *name, const char *const *features)
{
	struct ethtool_sset_info *info = NULL;
	struct ethtool_gstrings *strs = NULL;
	struct ethtool_sfeatures *sf = NULL;
	struct ifreq ifr;
	unsigned n, i, k, words;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/* the names of the features, whose places are their bits */
	info = calloc(1, sizeof(*info) + sizeof(uint32_t));
	if (info == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	info->cmd = ETHTOOL_GSSET_INFO;
	info->sset_mask = 1ULL << ETH_SS_FEATURES;
	ifr.ifr_data = (void *)info;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0 || !(info->sset_mask & (1ULL << ETH_SS_FEATURES))) {
		rc = -errno ?: -EOPNOTSUPP;
		goto out;
	}
	n = info->data[0];
	words = (n + 31) / 32;
	strs = calloc(1, sizeof(*strs) + (size_t)n * ETH_GSTRING_LEN);
	sf = calloc(1, sizeof(*sf) + words * sizeof(sf->features[0]));
	if (strs == NULL || sf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	strs->cmd = ETHTOOL_GSTRINGS;
	strs->string_set = ETH_SS_FEATURES;
	strs->len = n;
	ifr.ifr_data = (void *)strs;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		rc = -errno;
		goto out;
	}
	sf->cmd = ETHTOOL_SFEATURES;
	sf->size = words;
	for (k = 0; features[k] != NULL; k++)
		for (i = 0; i < n; i++)
			if (strncmp((const char *)strs->data + (size_t)i * ETH_GSTRING_LEN, features[k],
				    ETH_GSTRING_LEN) == 0) {
				sf->features[i / 32].valid |= 1u << (i % 32);   /* requested: off */
				break;
			}
	ifr.ifr_data = (void *)sf;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		rc = -errno;
out:
	free(info);
	free(strs);
	free(sf);
	close(fd);
	return rc;
}

int
psw_nl_disable_ipv6(const char *name)
{
	char path[128];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (write(fd, "1", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}
