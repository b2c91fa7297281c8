/* Packet filters: tcpdump expressions compiled by libpcap (psw_filter.h). */
#include <stdio.h>
#include <string.h>

#include "psw_filter.h"

int
psw_filter_compile(struct psw_filter *f, const char *expr, uint32_t snaplen,
		   char *err, size_t errlen)
{
	pcap_t *p;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	if (expr == NULL || expr[0] == '\0')
		return 0;
	if (strlen(expr) >= sizeof(f->expr)) {
		snprintf(err, errlen, "filter longer than %zu characters", sizeof(f->expr) - 1);
		return -1;
	}
	p = pcap_open_dead(DLT_EN10MB, (int)snaplen);
	if (p == NULL) {
		snprintf(err, errlen, "libpcap could not be set up");
		return -1;
	}
	if (pcap_compile(p, &f->prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "filter '%s': %s", expr, pcap_geterr(p));
		memset(&f->prog, 0, sizeof(f->prog));
		rc = -1;
	} else {
		snprintf(f->expr, sizeof(f->expr), "%s", expr);
	}
	pcap_close(p);
	return rc;
}

void
psw_filter_free(struct psw_filter *f)
{
	if (f->prog.bf_insns != NULL)
		pcap_freecode(&f->prog);
	memset(f, 0, sizeof(*f));
}
