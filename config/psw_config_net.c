/*
 * Address helpers of the configuration: IP addresses, prefixes and MACs as
 * text, and prefix arithmetic. Shared with the rest of the switch; no DPDK.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "psw_config.h"
#include "psw_config_priv.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int psw_parse_ip(const char *s, uint8_t *family, uint8_t addr[16])
{
	uint8_t buf[16] = { 0 };

	if (s == NULL || family == NULL || addr == NULL)
		return -EINVAL;
	if (strchr(s, ':') == NULL) {
		if (inet_pton(AF_INET, s, buf) != 1)
			return -EINVAL;
		*family = 4;
	} else {
		if (inet_pton(AF_INET6, s, buf) != 1)
			return -EINVAL;
		*family = 6;
	}
	memcpy(addr, buf, sizeof(buf));
	return 0;
}

/* "ADDRESS/LENGTH" into p without looking at the host bits. */
int psw_cfg_parse_prefix_raw(const char *s, struct psw_prefix *p)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash, *digits;
	unsigned len = 0;
	size_t n;

	if (s == NULL || p == NULL)
		return -EINVAL;
	slash = strrchr(s, '/');
	if (slash == NULL || slash == s)
		return -EINVAL;
	n = (size_t)(slash - s);
	if (n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';

	digits = slash + 1;
	n = strlen(digits);
	if (n == 0 || n > 3 || (n > 1 && digits[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (digits[i] < '0' || digits[i] > '9')
			return -EINVAL;
		len = len * 10 + (unsigned)(digits[i] - '0');
	}

	memset(p, 0, sizeof(*p));
	if (psw_parse_ip(addr, &p->family, p->addr) < 0 ||
	    len > (p->family == 4 ? 32u : 128u)) {
		memset(p, 0, sizeof(*p));
		return -EINVAL;
	}
	p->len = (uint8_t)len;
	return 0;
}

/* Clear the host bits of p; true when some were set. */
bool psw_cfg_prefix_clear_host(struct psw_prefix *p)
{
	unsigned nb_bytes = p->family == 4 ? 4 : 16;
	bool was_set = false;

	for (unsigned i = 0; i < nb_bytes; i++) {
		unsigned first_bit = i * 8;
		uint8_t keep;

		if (first_bit + 8 <= p->len)
			continue;
		keep = first_bit >= p->len ? 0 : (uint8_t)(0xff << (8 - (p->len - first_bit)));
		if (p->addr[i] & (uint8_t)~keep)
			was_set = true;
		p->addr[i] &= keep;
	}
	return was_set;
}

bool psw_cfg_host_bits_all(const struct psw_prefix *p, const uint8_t *addr, bool ones)
{
	unsigned nb_bits = p->family == 4 ? 32 : 128;

	for (unsigned bit = p->len; bit < nb_bits; bit++) {
		bool set = (addr[bit / 8] >> (7 - bit % 8)) & 1;

		if (set != ones)
			return false;
	}
	return true;
}

int psw_parse_prefix(const char *s, struct psw_prefix *p)
{
	struct psw_prefix tmp;

	if (p == NULL || psw_cfg_parse_prefix_raw(s, &tmp) < 0)
		return -EINVAL;
	if (psw_cfg_prefix_clear_host(&tmp))
		return -EINVAL;
	*p = tmp;
	return 0;
}

int psw_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t tmp[6];

	if (s == NULL || mac == NULL || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[i * 3]);
		int lo = hex_digit(s[i * 3 + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (i < 5 && s[i * 3 + 2] != ':')
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, tmp, sizeof(tmp));
	return 0;
}

void psw_prefix_mask(struct psw_prefix *p)
{
	unsigned i, bits = p->family == 4 ? 32 : 128;

	for (i = p->len; i < bits; i++)
		p->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

bool psw_prefix_contains(const struct psw_prefix *p, const uint8_t *addr)
{
	unsigned full, rest;

	if (p == NULL || addr == NULL || (p->family != 4 && p->family != 6))
		return false;
	full = p->len / 8u;
	rest = p->len % 8u;
	if (memcmp(p->addr, addr, full) != 0)
		return false;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((p->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

bool psw_prefix_overlap(const struct psw_prefix *a, const struct psw_prefix *b)
{
	if (a == NULL || b == NULL || a->family != b->family)
		return false;
	/* Two prefixes overlap exactly when the shorter one holds the other. */
	if (a->len <= b->len)
		return psw_prefix_contains(a, b->addr);
	return psw_prefix_contains(b, a->addr);
}

int psw_parse_listen(const char *s, struct sockaddr_storage *ss)
{
	const char *colon = s != NULL ? strrchr(s, ':') : NULL;
	size_t hlen = colon != NULL ? (size_t)(colon - s) : 0;
	char host[INET6_ADDRSTRLEN + 2], *end;
	long port;

	if (colon == NULL || colon[1] < '0' || colon[1] > '9' || hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (hlen < 3 || s[hlen - 1] != ']')
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)hlen - 2, s + 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)hlen, s);
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1 ? 0 : -EINVAL;
}

char *psw_prefix_str(const struct psw_prefix *p, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (buf == NULL || len == 0)
		return buf;
	buf[0] = '\0';
	if (p == NULL || (p->family != 4 && p->family != 6))
		return buf;
	if (inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, addr, sizeof(addr)) == NULL)
		return buf;
	snprintf(buf, len, "%s/%u", addr, (unsigned)p->len);
	return buf;
}

/* Text of an address of the given family (4 or 6) into buf. */
const char *psw_cfg_ip_str(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}
