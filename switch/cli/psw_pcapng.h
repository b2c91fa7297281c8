/*
 * The pcapng file format (draft-ietf-opsawg-pcapng), as much of it as a
 * capture of one switch port needs: a section header, an interface
 * description with the port's name, enhanced packet blocks with the
 * direction in epb_flags, and an interface statistics block with the
 * drops. libpcap 1.10 writes only pcap, and DPDK 22.11's rte_pcapng
 * describes ethdevs only (podswitch's pod ports are not), hence this.
 * Timestamps in nanoseconds (if_tsresol 9). Every function returns 0, or
 * -1 with errno when the stream refused the block.
 */
#ifndef PSW_PCAPNG_H
#define PSW_PCAPNG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

int psw_pcapng_section(FILE *f, const char *application);
int psw_pcapng_interface(FILE *f, const char *name, const char *description, uint32_t snaplen);
int psw_pcapng_packet(FILE *f, uint32_t ifid, uint64_t ts_ns, bool inbound,
		      const uint8_t *data, uint32_t caplen, uint32_t wirelen);
int psw_pcapng_stats(FILE *f, uint32_t ifid, uint64_t start_ns, uint64_t end_ns,
		     uint64_t accepted, uint64_t dropped, uint64_t delivered);

#endif /* PSW_PCAPNG_H */
