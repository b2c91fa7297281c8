/*
 * What bench_sockets runs in: three network namespaces (the switch's and
 * two pods'), veths, a UDP generator in pod A, child processes in the
 * pods, and the cleanup that removes all of it on any exit; counters read
 * from /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_sockets.h"
#include "bench_sockets_env.h"

#define MAX_CHILDREN 8
#define MAX_OPEN_PORTS 1100
#define GEN_BURST 64

static const uint8_t mac_a[ETH_ALEN] = { 0x02, 0x50, 0x53, 0x42, 0x00, 0x0a };
static const uint8_t mac_b[ETH_ALEN] = { 0x02, 0x50, 0x53, 0x42, 0x00, 0x0b };
/* The generator's frames are for no one in B: B counts them, then drops them at once. */
static const uint8_t mac_sink[ETH_ALEN] = { 0x02, 0x50, 0x53, 0x42, 0x00, 0xff };

/* ------------------------------------------------------------ bs_env_cleanup */

static char ns_sw[32];
char bs_ns_a[32], bs_ns_b[32];
static bool ns_made[3];
static int orig_netns = -1;
static pid_t children[MAX_CHILDREN];
static struct bs_port *open_ports[MAX_OPEN_PORTS];
volatile sig_atomic_t bs_stop_requested;

static void
on_signal(int sig)
{
	bs_stop_requested = sig;
}

static void
child_add(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
}

void
bs_child_forget(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Wait up to @ms for @pid; kill it if it is still there. @return its status. */
int
bs_child_reap(pid_t pid, int ms)
{
	int status = -1;

	for (int t = 0; t < ms; t += 5) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			goto out;
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
out:
	bs_child_forget(pid);
	return status;
}

void
bs_port_close(struct bs_port *p)
{
	for (int i = 0; i < MAX_OPEN_PORTS; i++)
		if (open_ports[i] == p)
			open_ports[i] = NULL;
	p->ops->close(p);
}

struct bs_port *
bs_port_register(struct bs_port *p)
{
	for (int i = 0; p != NULL && i < MAX_OPEN_PORTS; i++)
		if (open_ports[i] == NULL) {
			open_ports[i] = p;
			break;
		}
	return p;
}

static void
netns_delete(const char *name)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", name);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_sockets: could not delete namespace %s\n", name);
}

void
bs_env_cleanup(void)
{
	static bool done;
	const char *names[3] = { ns_sw, bs_ns_a, bs_ns_b };

	if (done)
		return;
	done = true;
	for (int i = 0; i < MAX_OPEN_PORTS; i++)
		if (open_ports[i] != NULL)
			bs_port_close(open_ports[i]);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			kill(children[i], SIGTERM);
			bs_child_reap(children[i], 1000);
		}
	if (orig_netns >= 0 && setns(orig_netns, CLONE_NEWNET) < 0)
		perror("bench_sockets: setns back to the original namespace");
	/* deleting the namespaces deletes every veth of the benchmark */
	for (int i = 0; i < 3; i++)
		if (ns_made[i])
			netns_delete(names[i]);
}

void
bs_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_sockets: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1); /* bs_env_cleanup() runs at exit */
}

/* Namespaces psb<pid>-* of runs whose process is gone (killed with SIGKILL). */
static void
remove_stale_namespaces(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int pid;

		if (sscanf(e->d_name, "psb%d-", &pid) == 1 && pid > 0 &&
		    kill(pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "bench_sockets: removing namespace %s of a run that was killed\n",
				e->d_name);
			netns_delete(e->d_name);
		}
	}
	closedir(d);
}

/* ------------------------------------------------------------ helpers */

static void __attribute__((format(printf, 1, 2)))
sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		bs_die("command failed: %s", cmd);
}

double
bs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}


void
bs_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		bs_die("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

static void
enter_netns(const char *name)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		bs_die("cannot enter namespace %s: %s", name, strerror(errno));
	close(fd);
}

/* Start @argv in namespace @ns on @cpu, output to @out. */
pid_t
bs_spawn_in(const char *ns, int cpu, const char *out, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		bs_die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		enter_netns(ns);
		bs_pin(cpu);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	child_add(pid);
	return pid;
}


/* tx packets of a device of the current namespace (/proc/net/dev), or rx with @rx. */
uint64_t
bs_dev_packets(const char *ifname, bool rx)
{
	FILE *f = fopen("/proc/net/dev", "r");
	char line[512];
	uint64_t v[10] = { 0 };

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');
		char *name = line;

		if (colon == NULL)
			continue;
		*colon = '\0';
		while (*name == ' ')
			name++;
		if (strcmp(name, ifname) != 0)
			continue;
		sscanf(colon + 1, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		       " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
		       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
		break;
	}
	fclose(f);
	return rx ? v[1] : v[9];
}

/* ------------------------------------------------------------ topology */

static void
make_pod(const char *ns, const char *host_if, const uint8_t *mac, const char *ip,
	 const uint8_t *peer_mac, const char *peer_ip)
{
	sh("ip link add %s type veth peer name eth0 netns %s", host_if, ns);
	sh("ip link set %s up", host_if);
	sh("ip -n %s link set lo up", ns);
	sh("ip -n %s link set eth0 address %02x:%02x:%02x:%02x:%02x:%02x up", ns,
	   mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	sh("ip -n %s addr add %s/24 dev eth0", ns, ip);
	sh("ip -n %s neigh replace %s lladdr %02x:%02x:%02x:%02x:%02x:%02x dev eth0 nud permanent",
	   ns, peer_ip, peer_mac[0], peer_mac[1], peer_mac[2], peer_mac[3], peer_mac[4],
	   peer_mac[5]);
	/* as the CNI plugin does: complete checksums, so no TSO either */
	sh("nsenter --net=/run/netns/%s ethtool -K eth0 tx off >/dev/null", ns);
}

void
bs_topology_create(void)
{
	const char *names[3];

	snprintf(ns_sw, sizeof(ns_sw), "psb%d-sw", (int)getpid());
	snprintf(bs_ns_a, sizeof(bs_ns_a), "psb%d-a", (int)getpid());
	snprintf(bs_ns_b, sizeof(bs_ns_b), "psb%d-b", (int)getpid());
	names[0] = ns_sw;
	names[1] = bs_ns_a;
	names[2] = bs_ns_b;
	for (int i = 0; i < 3; i++) {
		sh("ip netns add %s", names[i]);
		ns_made[i] = true;
		/* no IPv6: no router solicitations or MLD reports on "idle" ports */
		sh("nsenter --net=/run/netns/%s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
		   "net.ipv6.conf.default.disable_ipv6=1", names[i]);
	}
	/* the benchmark itself lives in the switch's namespace from here on */
	enter_netns(ns_sw);
	make_pod(bs_ns_a, "ha", mac_a, BS_IP_A, mac_b, BS_IP_B);
	make_pod(bs_ns_b, "hb", mac_b, BS_IP_B, mac_a, BS_IP_A);
}

void
bs_idle_veths_create(unsigned int n)
{
	char path[] = "/tmp/psb-idle-XXXXXX", cmd[96];
	int fd = mkstemp(path), rc;
	FILE *f;

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		bs_die("cannot write %s: %s", path, strerror(errno));
	for (unsigned int i = 0; i < n; i++)
		fprintf(f, "link add pi%u type veth peer name pj%u\nlink set pi%u up\nlink set pj%u up\n",
			i, i, i, i);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "ip -batch %s", path);
	rc = system(cmd);
	unlink(path);
	if (rc != 0)
		bs_die("creating %u idle veth pairs failed", n);
}

/* ------------------------------------------------------------ generator */

struct gen_shared {
	uint64_t sent;
	int stop;
};
static struct gen_shared *gen_shm;

static uint16_t
ip_checksum(const void *data, size_t len)
{
	const uint16_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *p++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* 60 bytes on the socket: 64 on the wire with the FCS. */
static size_t
build_udp_frame(uint8_t *f)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	size_t len = 60;

	memset(f, 0, len);
	memcpy(eth->h_dest, mac_sink, ETH_ALEN);
	memcpy(eth->h_source, mac_a, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(len - sizeof(*eth)));
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	inet_pton(AF_INET, BS_IP_A, &ip->saddr);
	inet_pton(AF_INET, BS_IP_B, &ip->daddr);
	ip->check = ip_checksum(ip, sizeof(*ip));
	udp->source = htons(10000);
	udp->dest = htons(9);
	udp->len = htons((uint16_t)(len - sizeof(*eth) - sizeof(*ip)));
	return len;
}

static void __attribute__((noreturn))
generator_main(int cpu)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP) };
	struct mmsghdr msgs[GEN_BURST];
	struct iovec iov;
	uint8_t frame[64];
	int fd, one = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	enter_netns(bs_ns_a);
	bs_pin(cpu);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	sll.sll_ifindex = (int)if_nametoindex("eth0");
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0) {
		perror("bench_sockets generator");
		_exit(1);
	}
	iov.iov_base = frame;
	iov.iov_len = build_udp_frame(frame);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < GEN_BURST; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!__atomic_load_n(&gen_shm->stop, __ATOMIC_RELAXED)) {
		int n = sendmmsg(fd, msgs, GEN_BURST, 0);

		if (n > 0)
			__atomic_add_fetch(&gen_shm->sent, (uint64_t)n, __ATOMIC_RELAXED);
	}
	_exit(0);
}

pid_t
bs_generator_start(int cpu)
{
	pid_t pid;

	gen_shm->sent = 0;
	gen_shm->stop = 0;
	pid = fork();
	if (pid < 0)
		bs_die("fork: %s", strerror(errno));
	if (pid == 0)
		generator_main(cpu);
	child_add(pid);
	return pid;
}

uint64_t
bs_generator_sent(void)
{
	return __atomic_load_n(&gen_shm->sent, __ATOMIC_RELAXED);
}

void
bs_generator_stop(pid_t pid)
{
	__atomic_store_n(&gen_shm->stop, 1, __ATOMIC_RELAXED);
	bs_child_reap(pid, 2000);
}

/* ------------------------------------------------------------ /proc */

double
bs_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}


/* Timer softirqs (TIMER + HRTIMER) the kernel has run, all CPUs. */
uint64_t
bs_timer_softirqs(void)
{
	FILE *f = fopen("/proc/softirqs", "r");
	char line[1024];
	uint64_t n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *end;

		while (*p == ' ')
			p++;
		if (strncmp(p, "TIMER:", 6) != 0 && strncmp(p, "HRTIMER:", 8) != 0)
			continue;
		p = strchr(p, ':') + 1;
		for (uint64_t v = strtoull(p, &end, 10); end != p; v = strtoull(p, &end, 10)) {
			n += v;
			p = end;
		}
	}
	if (f != NULL)
		fclose(f);
	return n;
}


/* Busy and total jiffies of the machine (/proc/stat). */
void
bs_machine_jiffies(uint64_t *busy, uint64_t *total)
{
	FILE *f = fopen("/proc/stat", "r");
	uint64_t v[8] = { 0 };

	if (f != NULL) {
		if (fscanf(f, "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %" SCNu64, &v[0], &v[1], &v[2], &v[3], &v[4],
			   &v[5], &v[6], &v[7]) != 8)
			memset(v, 0, sizeof(v));
		fclose(f);
	}
	*total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	*busy = *total - v[3] - v[4];
}

/* ------------------------------------------------------------ start */

void
bs_env_init(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	gen_shm = mmap(NULL, sizeof(*gen_shm), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (gen_shm == MAP_FAILED)
		bs_die("mmap: %s", strerror(errno));
	orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	atexit(bs_env_cleanup);
	remove_stale_namespaces();
}

/*
 * Time the machine's CPUs were busy, seconds: user, nice, system, irq and
 * softirq (a task's own time includes the ticks of softirqs run in its
 * context here: no IRQ time accounting).
 */
double
bs_machine_task_seconds(void)
{
	uint64_t busy, total;

	bs_machine_jiffies(&busy, &total);
	return (double)busy / sysconf(_SC_CLK_TCK);
}

/* user + system time of process @pid, seconds; 0 if it is gone. */
double
bs_pid_cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &utime, &stime) != 2)
		utime = stime = 0;
	fclose(f);
	return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}
