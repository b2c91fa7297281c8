/* pcapng blocks (psw_pcapng.h), in host byte order as the format allows. */
#include <errno.h>
#include <string.h>

#include "psw_pcapng.h"

#define BT_SHB 0x0a0d0d0au
#define BT_IDB 0x00000001u
#define BT_ISB 0x00000005u
#define BT_EPB 0x00000006u
#define LINKTYPE_ETHERNET 1

struct block {
	uint8_t *buf;
	size_t len, cap;
	uint8_t small[512];
};

static void
put(struct block *b, const void *p, size_t n)
{
	if (n == 0 || b->len + n > b->cap)
		return;                          /* too long: sized by the caller, never */
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void
put32(struct block *b, uint32_t v)
{
	put(b, &v, 4);
}

static void
pad4(struct block *b)
{
	static const uint8_t zero[4];

	put(b, zero, (4 - b->len % 4) % 4);
}

static void
option(struct block *b, uint16_t code, const void *val, uint16_t len)
{
	put(b, &code, 2);
	put(b, &len, 2);
	put(b, val, len);
	pad4(b);
}

static void
option_ts(struct block *b, uint16_t code, uint64_t ns)
{
	uint32_t v[2] = { (uint32_t)(ns >> 32), (uint32_t)ns };

	option(b, code, v, 8);
}

static void
begin(struct block *b, uint32_t type, uint8_t *big, size_t cap)
{
	b->buf = big != NULL ? big : b->small;
	b->cap = big != NULL ? cap : sizeof(b->small);
	b->len = 0;
	put32(b, type);
	put32(b, 0);                             /* total length, at the end */
}

static int
finish(struct block *b, FILE *f)
{
	uint32_t total;

	option(b, 0, NULL, 0);                   /* opt_endofopt */
	total = (uint32_t)b->len + 4;
	memcpy(b->buf + 4, &total, 4);
	put32(b, total);
	if (b->len != total) {
		errno = EOVERFLOW;
		return -1;
	}
	return fwrite(b->buf, 1, b->len, f) == b->len ? 0 : -1;
}

static uint16_t
text_len(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return (uint16_t)(n < max ? n : max);
}

int
psw_pcapng_section(FILE *f, const char *application)
{
	struct block b;
	uint32_t magic = 0x1a2b3c4d;
	uint16_t version[2] = { 1, 0 };
	int64_t unknown = -1;

	begin(&b, BT_SHB, NULL, 0);
	put32(&b, magic);
	put(&b, version, 4);
	put(&b, &unknown, 8);
	option(&b, 4, application, text_len(application, 200));   /* shb_userappl */
	return finish(&b, f);
}

int
psw_pcapng_interface(FILE *f, const char *name, const char *description, uint32_t snaplen)
{
	struct block b;
	uint16_t linktype = LINKTYPE_ETHERNET, reserved = 0;
	uint8_t tsresol = 9;                     /* nanoseconds */

	begin(&b, BT_IDB, NULL, 0);
	put(&b, &linktype, 2);
	put(&b, &reserved, 2);
	put32(&b, snaplen);
	option(&b, 2, name, text_len(name, 128));                /* if_name */
	if (description != NULL && description[0] != '\0')
		option(&b, 3, description, text_len(description, 200));   /* if_description */
	option(&b, 9, &tsresol, 1);                               /* if_tsresol */
	return finish(&b, f);
}

int
psw_pcapng_packet(FILE *f, uint32_t ifid, uint64_t ts_ns, bool inbound,
		  const uint8_t *data, uint32_t caplen, uint32_t wirelen)
{
	static uint8_t buf[65536 + 64];
	uint32_t flags = inbound ? 1 : 2;        /* epb_flags bits 0-1: inbound, outbound */
	struct block b;

	if (caplen > 65536) {
		errno = EINVAL;
		return -1;
	}
	begin(&b, BT_EPB, buf, sizeof(buf));
	put32(&b, ifid);
	put32(&b, (uint32_t)(ts_ns >> 32));
	put32(&b, (uint32_t)ts_ns);
	put32(&b, caplen);
	put32(&b, wirelen);
	put(&b, data, caplen);
	pad4(&b);
	option(&b, 2, &flags, 4);
	return finish(&b, f);
}

int
psw_pcapng_stats(FILE *f, uint32_t ifid, uint64_t start_ns, uint64_t end_ns,
		 uint64_t accepted, uint64_t dropped, uint64_t delivered)
{
	struct block b;

	begin(&b, BT_ISB, NULL, 0);
	put32(&b, ifid);
	put32(&b, (uint32_t)(end_ns >> 32));
	put32(&b, (uint32_t)end_ns);
	option_ts(&b, 2, start_ns);                               /* isb_starttime */
	option_ts(&b, 3, end_ns);                                 /* isb_endtime */
	option(&b, 6, &accepted, 8);                              /* isb_filteraccept */
	option(&b, 7, &dropped, 8);                               /* isb_osdrop: the switch's capture */
	option(&b, 8, &delivered, 8);                             /* isb_usrdeliv */
	return finish(&b, f);
}
