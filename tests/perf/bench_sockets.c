/*
 * Kernel pods through sockets, not ethdevs (issue 14): which socket
 * backend a switch port should use for an ordinary pod. Benchmark only,
 * never a test.
 *
 * Two "pods" (namespaces A and B, each with eth0 in a veth pair) have the
 * host ends of their veths in a third, private namespace, as a switch's
 * node namespace would. A forwarding loop on one core (-f) moves frames
 * between the host ends the way a worker does: receive a burst, copy each
 * frame into a buffer (as a DPDK mbuf is filled), transmit the burst. For
 * each backend (bench_sockets.h):
 *   afp       AF_PACKET, TPACKET_V3 RX ring + TPACKET_V3 TX ring (sendto kick)
 *   afp-mmsg  AF_PACKET, TPACKET_V3 RX ring + sendmmsg of the buffers
 *   afp-v2    AF_PACKET, TPACKET_V2 RX and TX rings: what DPDK's net_af_packet
 *             (today's af_packet ports) does, less the ethdev layer
 *   afp-v2-mmsg  AF_PACKET, TPACKET_V2 RX ring + sendmmsg of the buffers
 *   xdp       AF_XDP through libxdp (native XDP on veth, else generic), copy mode
 * it measures 64-byte UDP frames per second A -> B (a sendmmsg generator
 * in A pinned to the other core, -g), one iperf3 TCP stream A -> B, and
 * ping round trips; then, with -n idle ports on extra veths, what polling
 * them costs: naively in every iteration, or only when epoll says ready.
 * Prints medians and, with -j FILE, one JSON object per figure.
 *
 *   bench_sockets [-r RUNS] [-d SECONDS] [-n IDLE_PORTS] [-b afp,afp-mmsg,afp-v2,afp-v2-mmsg,xdp]
 *                 [-p mpps,tcp,ping,idle] [-T BLOCK_MS] [-g CPU] [-f CPU] [-j FILE]
 *
 * Runs as root. Everything it creates (three namespaces psb<pid>-*, the
 * veths inside them, its child processes) is removed on exit, on SIGINT /
 * SIGTERM, and, for a run that was killed, by the next run.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench_sockets.h"
#include "bench_sockets_env.h"

#define MAX_RUNS 15
#define MAX_IDLE 1000
#define MAX_PORTS (2 + MAX_IDLE)
#define EPOLL_EVERY 16          /* hybrid loop: readiness checked every 16 iterations */
#define IDLE_AFTER_MS 10        /* hybrid loop: a port empty that long goes back to epoll */
#define RETIRE_EVERY 1024       /* hybrid loop: iterations between looks for such ports */
#define WARMUP_S 0.3

/* ------------------------------------------------------------ settings */

static unsigned int nb_runs = 3;
static double run_seconds = 2.0;
static unsigned int nb_idle = 200;
static unsigned int block_timeout_ms = 1;
static int gen_cpu = 0, fwd_cpu = 1;
static const char *backend_list = "afp,afp-mmsg,afp-v2,afp-v2-mmsg,xdp";
static const char *part_list = "mpps,tcp,ping,idle";
static FILE *json;

/* ------------------------------------------------------------ helpers */

static bool
listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}


static double tsc_hz;

static void
calibrate_tsc(void)
{
	double t0 = bs_now();
	uint64_t c0 = __rdtsc();

	usleep(100000);
	tsc_hz = (double)(__rdtsc() - c0) / (bs_now() - t0);
}

/* ------------------------------------------------------------ results */

struct result {
	double values[MAX_RUNS];
	unsigned int nb;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median_of(double *v, unsigned int n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
report(const char *scenario, const char *unit, struct result *r, const char *note)
{
	double med = median_of(r->values, r->nb);

	if (r->nb == 0)
		return;
	printf("%-46s %9.3f %-10s (min %.3f, max %.3f, %u runs) %s\n", scenario, med, unit,
	       r->values[0], r->values[r->nb - 1], r->nb, note);
	if (json != NULL)
		fprintf(json, "{\"scenario\": \"%s\", \"unit\": \"%s\", \"median\": %.4f, "
			"\"min\": %.4f, \"max\": %.4f, \"runs\": %u, \"note\": \"%s\"}\n",
			scenario, unit, med, r->values[0], r->values[r->nb - 1], r->nb, note);
	fflush(stdout);
}

static void
add(struct result *r, double v)
{
	if (r->nb < MAX_RUNS)
		r->values[r->nb++] = v;
}

/* ------------------------------------------------------------ the loop */

enum loop_mode {
	LOOP_BUSY,   /* poll the two pod ports only */
	LOOP_NAIVE,  /* poll every port in every iteration */
	LOOP_EPOLL,  /* poll active ports; the others only when epoll says ready */
};

static const char *const loop_mode_names[] = { "2 ports", "naive", "epoll" };

struct loop_port {
	struct bs_port *port;
	int peer;              /* port index to forward to, -1: drop */
	bool active;
	uint64_t last_rx_tsc;  /* when it last had a frame */
};

struct loop {
	struct loop_port ports[MAX_PORTS];
	unsigned int nb_ports;
	enum loop_mode mode;
	int epfd;
	unsigned int active[MAX_PORTS];
	unsigned int nb_active;
	struct bs_buf *bufs[BS_BURST_MAX];
	/* counted over one loop_run() */
	uint64_t nb_rx, nb_tx, nb_iter, nb_bursts, busy_tsc;
	uint64_t now_tsc;      /* start of the current iteration */
};

static struct loop lp;

static void
loop_init(void)
{
	static struct bs_buf buf_mem[BS_BURST_MAX];

	lp.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp.epfd < 0)
		bs_die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < BS_BURST_MAX; i++)
		lp.bufs[i] = &buf_mem[i];
}

static void
epoll_watch(unsigned int i, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

	epoll_ctl(lp.epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, lp.ports[i].port->fd, &ev);
}

/* Ports: 0 = host end of A, 1 = host end of B, then idle ones. */
static void
loop_set_ports(struct bs_port **ports, unsigned int n, enum loop_mode mode)
{
	for (unsigned int i = 0; i < lp.nb_ports; i++)
		if (lp.mode == LOOP_EPOLL && !lp.ports[i].active)
			epoll_watch(i, false);
	lp.nb_ports = n;
	lp.mode = mode;
	lp.nb_active = 0;
	for (unsigned int i = 0; i < n; i++) {
		lp.ports[i] = (struct loop_port){ .port = ports[i], .peer = i < 2 ? (int)(1 - i) : -1 };
		if (mode == LOOP_EPOLL)
			epoll_watch(i, true);
		else if (mode == LOOP_NAIVE || i < 2)
			lp.active[lp.nb_active++] = i;
		lp.ports[i].active = mode != LOOP_EPOLL;
	}
}

static unsigned int
poll_port(unsigned int i)
{
	struct loop_port *lpp = &lp.ports[i];
	uint16_t nb = lpp->port->ops->rx(lpp->port, lp.bufs, BS_BURST_MAX);

	if (nb == 0)
		return 0;
	lpp->last_rx_tsc = lp.now_tsc;
	lp.nb_rx += nb;
	lp.nb_bursts++;
	if (lpp->peer >= 0) {
		struct bs_port *out = lp.ports[lpp->peer].port;

		lp.nb_tx += out->ops->tx(out, lp.bufs, nb);
	}
	return nb;
}

static void
epoll_check(int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(lp.epfd, evs, 64, timeout_ms);

	for (int k = 0; k < n; k++) {
		unsigned int i = evs[k].data.u32;

		if (lp.ports[i].active)
			continue;
		epoll_watch(i, false);
		lp.ports[i].active = true;
		lp.ports[i].last_rx_tsc = __rdtsc();
		lp.active[lp.nb_active++] = i;
	}
}

/* Ports without a frame for IDLE_AFTER_MS go back to epoll. */
static void
retire_idle_ports(void)
{
	uint64_t idle_tsc = (uint64_t)(tsc_hz * IDLE_AFTER_MS / 1000);

	for (unsigned int k = 0; k < lp.nb_active;) {
		unsigned int i = lp.active[k];

		if (lp.now_tsc - lp.ports[i].last_rx_tsc < idle_tsc) {
			k++;
			continue;
		}
		lp.ports[i].active = false;
		epoll_watch(i, true);
		lp.active[k] = lp.active[--lp.nb_active];
	}
}

/*
 * Forward for @seconds, or until @done(@arg) says so (checked about every
 * millisecond). Counters restart at zero.
 */
static void
loop_run(double seconds, bool (*done)(void *), void *arg)
{
	double end = bs_now() + seconds, next_check = 0;

	lp.nb_rx = lp.nb_tx = lp.nb_iter = lp.nb_bursts = lp.busy_tsc = 0;
	for (;;) {
		uint64_t t0 = lp.now_tsc = __rdtsc();
		unsigned int got = 0;
		bool slept = false;

		for (unsigned int k = 0; k < lp.nb_active; k++)
			got += poll_port(lp.active[k]);
		if (lp.mode == LOOP_EPOLL) {
			if (lp.nb_active == 0) {
				/* all idle: sleep until a port is ready (or the run ends) */
				double left = end - bs_now();

				epoll_check(left > 0.1 ? 100 : (int)(left * 1000) + 1);
				slept = true;
			} else if (lp.nb_iter % EPOLL_EVERY == 0) {
				epoll_check(0);
			}
			if (lp.nb_iter % RETIRE_EVERY == 0)
				retire_idle_ports();
		}
		if (got > 0)
			lp.busy_tsc += __rdtsc() - t0;
		if ((++lp.nb_iter & 63) == 0 || slept) {
			double t = bs_now();

			if (t >= end || bs_stop_requested)
				break;
			if (done != NULL && t >= next_check) {
				if (done(arg))
					break;
				next_check = t + 0.001;
			}
		}
	}
}

static uint64_t
kernel_drops(void)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < 2 && i < lp.nb_ports; i++)
		n += lp.ports[i].port->ops->kernel_drops(lp.ports[i].port);
	return n;
}

/* ------------------------------------------------------------ measurements */

struct mpps_figures {
	double forwarded_mpps, offered_mpps, ns_per_frame, drop_share;
	double burst;            /* frames per non-empty receive */
	double preemptions;      /* involuntary context switches of the loop per second */
	double others;           /* % of one CPU used by processes not of this benchmark */
};

static long
preemptions(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

/* One run of the generator through the loop as it is set up. */
static struct mpps_figures
measure_mpps(void)
{
	struct mpps_figures fig = { 0 };
	uint64_t tx0, sent0, drops;
	pid_t gen = bs_generator_start(gen_cpu);
	double t0, cpu0;
	long csw;

	loop_run(WARMUP_S, NULL, NULL);
	kernel_drops();
	tx0 = bs_dev_packets("hb", false);
	sent0 = bs_generator_sent();
	csw = preemptions();
	cpu0 = bs_machine_task_seconds() - bs_cpu_seconds() - bs_pid_cpu_seconds(gen);
	t0 = bs_now();
	loop_run(run_seconds, NULL, NULL);
	t0 = bs_now() - t0;
	fig.others = (bs_machine_task_seconds() - bs_cpu_seconds() - bs_pid_cpu_seconds(gen) - cpu0)
		     / t0 * 100;
	if (fig.others < 0)
		fig.others = 0;
	fig.preemptions = (preemptions() - csw) / t0;
	fig.burst = lp.nb_bursts ? (double)lp.nb_rx / lp.nb_bursts : 0;
	fig.forwarded_mpps = (bs_dev_packets("hb", false) - tx0) / t0 / 1e6;
	fig.offered_mpps = (bs_generator_sent() - sent0) / t0 / 1e6;
	fig.ns_per_frame = lp.nb_tx ? lp.busy_tsc / tsc_hz * 1e9 / lp.nb_tx : 0;
	drops = kernel_drops();
	fig.drop_share = lp.nb_rx + drops ? (double)drops / (lp.nb_rx + drops) : 0;
	bs_generator_stop(gen);
	loop_run(0.05, NULL, NULL); /* drain */
	return fig;
}

static bool
child_done(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid)
		return false;
	bs_child_forget(pid);
	*(pid_t *)arg = 0;
	return true;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)len + 1);
	if (text != NULL && fread(text, 1, (size_t)len, f) != (size_t)len)
		text[0] = '\0';
	fclose(f);
	return text;
}

/* Run @argv in pod A, forwarding until it ends; @return its output (free it). */
static char *
run_in_a_while_forwarding(char *const argv[], double timeout_s)
{
	char path[] = "/tmp/psb-out-XXXXXX";
	int fd = mkstemp(path);
	pid_t pid;
	char *out;

	if (fd < 0)
		bs_die("mkstemp: %s", strerror(errno));
	close(fd);
	pid = bs_spawn_in(bs_ns_a, gen_cpu, path, argv);
	loop_run(timeout_s, child_done, &pid);
	if (pid != 0) {
		kill(pid, SIGTERM);
		bs_child_reap(pid, 1000);
	}
	out = slurp(path);
	unlink(path);
	return out;
}

/* One iperf3 TCP stream A -> B: @return Gbit/s, 0 if it failed. */
static double
measure_tcp(void)
{
	char secs[16];
	char *const srv_argv[] = { "iperf3", "-s", "-1", NULL };
	char *const cli_argv[] = { "iperf3", "-c", BS_IP_B, "-t", secs, "-J", NULL };
	pid_t srv;
	char *out, *p;
	double gbps = 0;

	snprintf(secs, sizeof(secs), "%.0f", run_seconds < 1 ? 1 : run_seconds);
	srv = bs_spawn_in(bs_ns_b, gen_cpu, "/dev/null", srv_argv);
	loop_run(0.4, NULL, NULL);
	out = run_in_a_while_forwarding(cli_argv, run_seconds + 15);
	loop_run(0.1, child_done, &srv);
	if (srv != 0)
		bs_child_reap(srv, 500);
	if (out != NULL && (p = strstr(out, "\"sum_received\"")) != NULL &&
	    (p = strstr(p, "\"bits_per_second\":")) != NULL)
		gbps = strtod(p + strlen("\"bits_per_second\":"), NULL) / 1e9;
	free(out);
	return gbps;
}

/* 100 pings A -> B, 10 ms apart: @return the median round trip in µs, 0 if none. */
static double
measure_ping(void)
{
	char *const argv[] = { "ping", "-c", "100", "-i", "0.01", "-W", "1", BS_IP_B, NULL };
	double rtts[100];
	unsigned int n = 0;
	char *out = run_in_a_while_forwarding(argv, 10), *p;

	for (p = out; p != NULL && n < 100 && (p = strstr(p, "time=")) != NULL; p += 5)
		rtts[n++] = strtod(p + 5, NULL) * 1000;
	free(out);
	return median_of(rtts, n);
}

/* ------------------------------------------------------------ backends */

struct backend {
	const char *name;
	struct bs_port *ports[2];
	struct result mpps, offered, ns_frame, drops, burst, preempt, others, tcp, ping;
};

static struct bs_port *
open_port(const char *backend, const char *ifname)
{
	char err[256];
	struct bs_port *p;

	if (strcmp(backend, "xdp") == 0)
		p = bs_xdp_open(ifname, err, sizeof(err));
	else
		p = bs_afp_open(ifname, strcmp(backend, "afp") == 0 ? BS_AFP_V3_RING
				: strcmp(backend, "afp-v2") == 0 ? BS_AFP_V2
				: strcmp(backend, "afp-v2-mmsg") == 0 ? BS_AFP_V2_MMSG : BS_AFP_V3_MMSG,
				block_timeout_ms, err, sizeof(err));
	if (p == NULL)
		bs_die("%s", err);
	return bs_port_register(p);
}

static void
open_pod_ports(struct backend *be)
{
	be->ports[0] = open_port(be->name, "ha");
	be->ports[1] = open_port(be->name, "hb");
	loop_set_ports(be->ports, 2, LOOP_BUSY);
}

static void
close_pod_ports(struct backend *be)
{
	loop_set_ports(NULL, 0, LOOP_BUSY);
	for (int i = 0; i < 2; i++)
		if (be->ports[i] != NULL)
			bs_port_close(be->ports[i]);
	be->ports[0] = be->ports[1] = NULL;
}

static void
run_pod_scenarios(struct backend *bes, unsigned int nb_bes)
{
	/* runs alternate between backends so that drift on a shared machine spreads evenly */
	for (unsigned int r = 0; r < nb_runs && !bs_stop_requested; r++)
		for (unsigned int b = 0; b < nb_bes && !bs_stop_requested; b++) {
			struct backend *be = &bes[b];

			open_pod_ports(be);
			if (listed(part_list, "mpps")) {
				struct mpps_figures f = measure_mpps();

				add(&be->mpps, f.forwarded_mpps);
				add(&be->offered, f.offered_mpps);
				add(&be->ns_frame, f.ns_per_frame);
				add(&be->drops, f.drop_share * 100);
				add(&be->burst, f.burst);
				add(&be->preempt, f.preemptions);
				add(&be->others, f.others);
			}
			if (listed(part_list, "tcp"))
				add(&be->tcp, measure_tcp());
			if (listed(part_list, "ping"))
				add(&be->ping, measure_ping());
			if (r == 0)
				printf("   %-12s %s%s\n", be->name, be->ports[0]->mode,
				       strcmp(be->name, "xdp") == 0 ? " (libxdp default program)" : "");
			close_pod_ports(be);
		}
	printf("\n");
	for (unsigned int b = 0; b < nb_bes; b++) {
		struct backend *be = &bes[b];
		char name[96], note[160];

		snprintf(note, sizeof(note), "64 B UDP, generator on CPU %d, loop on CPU %d",
			 gen_cpu, fwd_cpu);
		snprintf(name, sizeof(name), "%s: forwarded A->B", be->name);
		report(name, "Mpps", &be->mpps, note);
		snprintf(name, sizeof(name), "%s: offered by the generator", be->name);
		report(name, "Mpps", &be->offered, "");
		snprintf(name, sizeof(name), "%s: loop time per forwarded frame", be->name);
		report(name, "ns", &be->ns_frame, "busy iterations only, B's receive included");
		snprintf(name, sizeof(name), "%s: dropped by the kernel on RX", be->name);
		report(name, "%", &be->drops, "socket ring full");
		snprintf(name, sizeof(name), "%s: frames per receive burst", be->name);
		report(name, "frames", &be->burst, "");
		snprintf(name, sizeof(name), "%s: loop preempted", be->name);
		report(name, "/s", &be->preempt, "involuntary context switches");
		snprintf(name, sizeof(name), "%s: other processes' CPU", be->name);
		report(name, "%", &be->others, "of one CPU during the Mpps runs: above ~10, disturbed");
		snprintf(name, sizeof(name), "%s: TCP A->B (iperf3)", be->name);
		report(name, "Gbit/s", &be->tcp, "one stream, pods' TX checksum offload off");
		snprintf(name, sizeof(name), "%s: ping A->B median RTT", be->name);
		report(name, "us", &be->ping, "100 pings 10 ms apart");
	}
}

/* ------------------------------------------------------------ idle ports */




struct idle_cost {
	double loop_cpu;        /* % of a core used by the loop */
	double timers;          /* timer softirqs per second, machine */
	double machine_busy;    /* % of all CPUs busy, whoever it is */
};

/* The loop asleep in epoll_wait for 1 s over the ports as set up. */
static struct idle_cost
measure_idle_cost(void)
{
	struct idle_cost c;
	uint64_t b0, t0, b1, t1, n0 = bs_timer_softirqs();
	double cpu0 = bs_cpu_seconds(), w0 = bs_now();

	bs_machine_jiffies(&b0, &t0);
	loop_run(1.0, NULL, NULL);
	bs_machine_jiffies(&b1, &t1);
	w0 = bs_now() - w0;
	c.loop_cpu = (bs_cpu_seconds() - cpu0) / w0 * 100;
	c.timers = (bs_timer_softirqs() - n0) / w0;
	c.machine_busy = t1 > t0 ? (double)(b1 - b0) / (t1 - t0) * 100 : 0;
	return c;
}

static void
run_idle_scenario(const char *backend)
{
	static struct bs_port *ports[MAX_PORTS];
	struct result naive_pass = { 0 }, epoll_pass = { 0 }, idle_cpu = { 0 };
	struct result timers = { 0 }, timers_before = { 0 }, busy = { 0 }, busy_before = { 0 };
	struct result mpps[3] = { { { 0 } } }, others = { 0 };
	unsigned int n = 2 + nb_idle;
	size_t mem = 0;
	char name[96], note[128];
	double t;

	/* the machine before: the loop asleep over the two pod ports only */
	ports[0] = open_port(backend, "ha");
	ports[1] = open_port(backend, "hb");
	loop_set_ports(ports, 2, LOOP_EPOLL);
	{
		struct idle_cost c = measure_idle_cost();

		add(&timers_before, c.timers);
		add(&busy_before, c.machine_busy);
	}
	t = bs_now();
	for (unsigned int i = 0; i < nb_idle && !bs_stop_requested; i++) {
		char ifname[IFNAMSIZ];

		snprintf(ifname, sizeof(ifname), "pi%u", i);
		ports[2 + i] = open_port(backend, ifname);
		mem += ports[2 + i]->mem_bytes;
	}
	printf("   %s: %u idle sockets opened in %.2f s, %.1f MiB of rings/umem per port (%s)\n",
	       backend, nb_idle, bs_now() - t, mem / (double)nb_idle / (1 << 20), ports[2]->mode);
	for (unsigned int r = 0; r < nb_runs && !bs_stop_requested; r++) {
		/* nothing to receive: one pass over every port, naive and by epoll */
		loop_set_ports(ports, n, LOOP_NAIVE);
		loop_run(0.3, NULL, NULL);
		add(&naive_pass, 0.3 / lp.nb_iter * 1e9);
		loop_set_ports(ports, n, LOOP_EPOLL);
		t = bs_now();
		for (int k = 0; k < 20000; k++)
			epoll_check(0);
		add(&epoll_pass, (bs_now() - t) / 20000 * 1e9);
		{
			/* sleeps in epoll_wait: everything idle */
			struct idle_cost c = measure_idle_cost();

			add(&idle_cpu, c.loop_cpu);
			add(&timers, c.timers);
			add(&busy, c.machine_busy);
		}
		/* traffic on the two pod ports, the others idle */
		for (int m = LOOP_BUSY; m <= LOOP_EPOLL && !bs_stop_requested; m++) {
			loop_set_ports(ports, m == LOOP_BUSY ? 2 : n, (enum loop_mode)m);
			struct mpps_figures f = measure_mpps();

			add(&mpps[m], f.forwarded_mpps);
			if (m == LOOP_BUSY)
				add(&others, f.others);
		}
	}
	loop_set_ports(NULL, 0, LOOP_BUSY);
	for (unsigned int i = 0; i < n; i++)
		if (ports[i] != NULL)
			bs_port_close(ports[i]);
	snprintf(note, sizeof(note), "%u idle ports + 2, no traffic", nb_idle);
	snprintf(name, sizeof(name), "%s: one naive pass over %u ports", backend, n);
	report(name, "ns", &naive_pass, note);
	snprintf(name, sizeof(name), "%s: one epoll_wait(0) over %u ports", backend, n);
	report(name, "ns", &epoll_pass, note);
	snprintf(name, sizeof(name), "%s: CPU of an idle loop in epoll_wait", backend);
	report(name, "%", &idle_cpu, "share of one core, woken by readiness");
	snprintf(name, sizeof(name), "%s: timer softirqs, 2 pod ports only", backend);
	report(name, "/s", &timers_before, "whole machine, loop asleep");
	snprintf(name, sizeof(name), "%s: timer softirqs, %u ports", backend, n);
	report(name, "/s", &timers, "whole machine, loop asleep");
	snprintf(name, sizeof(name), "%s: machine busy, 2 pod ports only", backend);
	report(name, "%", &busy_before, "all CPUs, anyone's work, loop asleep");
	snprintf(name, sizeof(name), "%s: machine busy, %u ports", backend, n);
	report(name, "%", &busy, "all CPUs, anyone's work, loop asleep");
	for (int m = LOOP_BUSY; m <= LOOP_EPOLL; m++) {
		snprintf(name, sizeof(name), "%s: forwarded, %s", backend, loop_mode_names[m]);
		snprintf(note, sizeof(note), m == LOOP_BUSY ? "only the 2 pod ports polled"
			 : m == LOOP_NAIVE ? "%u idle ports polled every iteration"
			 : "%u idle ports left to epoll (after 10 ms without a frame), epoll_wait(0) every 16 iterations", nb_idle);
		report(name, "Mpps", &mpps[m], note);
	}
	snprintf(name, sizeof(name), "%s: other processes' CPU", backend);
	report(name, "%", &others, "of one CPU during the '2 ports' runs: above ~10, disturbed");
}

/* ------------------------------------------------------------ main */

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-r runs] [-d seconds] [-n idle_ports] [-b afp,afp-mmsg,afp-v2,afp-v2-mmsg,xdp]\n"
		"       [-p mpps,tcp,ping,idle] [-T block_timeout_ms] [-g gen_cpu] [-f loop_cpu]\n"
		"       [-j results.jsonl]\n", prog);
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "r:d:n:b:p:T:g:f:j:h")) != -1) {
		switch (c) {
		case 'r': nb_runs = (unsigned int)atoi(optarg); break;
		case 'd': run_seconds = atof(optarg); break;
		case 'n': nb_idle = (unsigned int)atoi(optarg); break;
		case 'b': backend_list = optarg; break;
		case 'p': part_list = optarg; break;
		case 'T': block_timeout_ms = (unsigned int)atoi(optarg); break;
		case 'g': gen_cpu = atoi(optarg); break;
		case 'f': fwd_cpu = atoi(optarg); break;
		case 'j':
			json = fopen(optarg, "a");
			if (json == NULL)
				bs_die("cannot append to %s: %s", optarg, strerror(errno));
			break;
		default: usage(argv[0]);
		}
	}
	if (nb_runs < 1 || nb_runs > MAX_RUNS || run_seconds <= 0 || nb_idle > MAX_IDLE)
		usage(argv[0]);
}

/* What one system call costs here: the unit in which socket backends pay. */
static double
syscall_ns(void)
{
	double t = bs_now();

	for (int i = 0; i < 100000; i++)
		syscall(SYS_getppid);
	return (bs_now() - t) / 100000 * 1e9;
}

static void
print_cpu(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "model name", 10) == 0) {
			printf("== bench_sockets on %ld CPUs:%s", sysconf(_SC_NPROCESSORS_ONLN),
			       strchr(line, ':') + 1);
			break;
		}
	if (f != NULL)
		fclose(f);
	printf("   one system call (getppid): %.0f ns\n", syscall_ns());
}

int
main(int argc, char **argv)
{
	static const char *const names[] = { "afp", "afp-mmsg", "afp-v2", "afp-v2-mmsg", "xdp" };
	struct backend bes[5];
	unsigned int nb_bes = 0;
	parse_args(argc, argv);
	if (geteuid() != 0)
		bs_die("run as root (network namespaces, AF_PACKET, XDP)");
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* libxdp: no bpffs needed, one program per interface (no dispatcher) */
	setenv("LIBXDP_SKIP_DISPATCHER", "1", 0);
	bs_env_init();
	print_cpu();
	calibrate_tsc();
	bs_topology_create();
	bs_pin(fwd_cpu);
	loop_init();

	for (unsigned int i = 0; i < 5; i++) {
		if (!listed(backend_list, names[i]))
			continue;
		if (strcmp(names[i], "xdp") == 0 && !bs_xdp_available()) {
			printf("   xdp: skipped, this build has no libxdp/libbpf "
			       "(install libxdp-dev libbpf-dev, reconfigure)\n");
			continue;
		}
		memset(&bes[nb_bes], 0, sizeof(bes[nb_bes]));
		bes[nb_bes].name = names[i];
		nb_bes++;
	}
	printf("== pods A -> B through a forwarding loop (%u runs of %.1f s, medians)\n",
	       nb_runs, run_seconds);
	if (listed(part_list, "mpps") || listed(part_list, "tcp") || listed(part_list, "ping"))
		run_pod_scenarios(bes, nb_bes);
	if (listed(part_list, "idle") && nb_idle > 0 && !bs_stop_requested) {
		printf("== %u idle ports beside the two pods\n", nb_idle);
		bs_idle_veths_create(nb_idle);
		for (unsigned int b = 0; b < nb_bes && !bs_stop_requested; b++)
			if (strstr(bes[b].name, "mmsg") == NULL) /* same RX as their ring twins */
				run_idle_scenario(bes[b].name);
	}
	if (bs_stop_requested)
		fprintf(stderr, "bench_sockets: stopped by signal %d\n", (int)bs_stop_requested);
	if (json != NULL)
		fclose(json);
	bs_env_cleanup();
	return bs_stop_requested ? 1 : 0;
}
