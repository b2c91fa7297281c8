/*
 * udp_flood: 64-byte frames (18 bytes of UDP payload) to one address and
 * port, as fast as sendmmsg() sends them, for a number of seconds; prints
 * how many it sent. The offered load of bench_kernel.py's 64-byte
 * scenario, run inside the sending pod's namespace.
 *
 *   udp_flood ADDRESS PORT SECONDS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BURST 64

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static char payload[18];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct mmsghdr msgs[BURST];
	struct iovec iov = { .iov_base = payload, .iov_len = sizeof(payload) };
	unsigned long long sent = 0;
	double end;
	int fd, i;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "usage: %s ADDRESS PORT SECONDS\n", argv[0]);
		return 2;
	}
	dst.sin_port = htons((unsigned short)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("udp_flood: socket");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BURST; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = now() + atof(argv[3]);
	while (now() < end) {
		int n = sendmmsg(fd, msgs, BURST, 0);

		if (n > 0)
			sent += (unsigned long long)n;
	}
	printf("%llu\n", sent);
	return 0;
}
