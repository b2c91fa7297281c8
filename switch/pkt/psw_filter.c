/* Packet filters: tcpdump expressions compiled by libpcap (psw_filter.h). */
#include <stdio.h>
#include <string.h>

#include "psw_filter.h"

/* linux/filter.h's SKF_AD_OFF: loads from here read the kernel's packet metadata */
#define KERNEL_METADATA_OFF 0xfffff000u

/* Does the program read what only a Linux socket filter has (inbound, outbound, ifindex)? */
static bool
reads_kernel_metadata(const struct bpf_program *prog)
{
	unsigned i;

	for (i = 0; i < prog->bf_len; i++) {
		const struct bpf_insn *in = &prog->bf_insns[i];

		if (BPF_CLASS(in->code) == BPF_LD &&
		    (BPF_MODE(in->code) == BPF_ABS || BPF_MODE(in->code) == BPF_IND) &&
		    in->k >= KERNEL_METADATA_OFF)
			return true;
	}
	return false;
}

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
	} else if (reads_kernel_metadata(&f->prog)) {
		/* libpcap's interpreter finds nothing there: the filter would never match */
		snprintf(err, errlen, "filter '%s': inbound, outbound and ifindex need the Linux kernel's "
			 "packet metadata, which the switch does not have (for the direction: -Q rx|tx)", expr);
		pcap_freecode(&f->prog);
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
