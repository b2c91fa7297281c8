/*
 * podswitch daemon: load and validate the configuration, start DPDK with
 * arguments derived from it, create ports, publish the first tables, launch
 * the workers, then run the control thread: an epoll loop over signals and
 * a reclaim timer (never a busy poll).
 *
 *   SIGTERM, SIGINT  stop cleanly, print counters
 *   SIGUSR1          print counters
 *   SIGHUP           re-read the configuration file and apply the difference
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <numa.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "psw_apisrv.h"
#include "psw_capture_ctl.h"
#include "psw_metrics.h"
#include "psw_audit.h"
#include "psw_telemetry.h"
#include "psw_build.h"
#include "psw_ct_ctl.h"
#include "psw_ctl_loop.h"
#include "psw_ipam.h"
#include "psw_k8s.h"
#include "psw_log.h"
#include "psw_neigh.h"
#include "psw_config.h"
#include "psw_ct.h"
#include "psw_service.h"
#include "psw_port.h"
#include "psw_policy.h"
#include "psw_service_ctl.h"
#include "psw_state.h"
#include "psw_objects_file.h"
#include "psw_state_file.h"
#include "psw_tables.h"
#include "psw_trace_ctl.h"
#include "psw_worker.h"

#define EXIT_BAD_CONFIG 2
#define MAX_EAL_ARGV 64
#define RECLAIM_INTERVAL_MS 100
#define PSW_MAX_SERVICE_PORTS (1u << 17)   /* Service addresses x ports */

struct eal_argv {
	int argc;
	char *argv[MAX_EAL_ARGV];
	char store[MAX_EAL_ARGV][256];
};

static void
eal_add(struct eal_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
eal_add(struct eal_argv *a, const char *fmt, ...)
{
	va_list ap;

	if (a->argc >= MAX_EAL_ARGV - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(a->store[a->argc], sizeof(a->store[0]), fmt, ap);
	va_end(ap);
	a->argv[a->argc] = a->store[a->argc];
	a->argc++;
}

/* EAL lcore 0 is the control thread on eal.main_core; workers are lcores 1..N. */
static void
build_eal_args(const struct psw_config *cfg, struct eal_argv *a)
{
	char lcores[256];
	size_t off;
	unsigned i;
	bool has_nic = false;

	eal_add(a, "podswitch");
	if (!cfg->eal.hugepages) {
		eal_add(a, "--no-huge");
	}
	eal_add(a, "-m");
	eal_add(a, "%u", cfg->eal.memory_mb);
	eal_add(a, "--file-prefix=%s", cfg->eal.file_prefix);
	off = (size_t)snprintf(lcores, sizeof(lcores), "0@%d", cfg->eal.main_core);
	for (i = 0; i < cfg->workers.nb && off < sizeof(lcores); i++)
		off += (size_t)snprintf(lcores + off, sizeof(lcores) - off, ",%u@%d", i + 1,
					cfg->workers.cores[i]);
	eal_add(a, "--lcores=%s", lcores);
	eal_add(a, "--main-lcore=0");
	for (i = 0; i < cfg->nb_ports; i++) {
		if (cfg->ports[i].kind != PSW_PORT_NIC)
			continue;
		eal_add(a, "-a");
		eal_add(a, "%s", cfg->ports[i].pci);
		has_nic = true;
	}
	if (!has_nic)
		eal_add(a, "--no-pci");
	eal_add(a, "--log-level=*:notice");
	for (i = 0; i < cfg->eal.nb_args; i++)
		eal_add(a, "%s", cfg->eal.args[i]);
	a->argv[a->argc] = NULL;
}

/* EAL leaves its runtime directory (config, fbarray files) behind: remove it. */
static void
remove_runtime_dir(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX + 256];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: podswitch [-c FILE] [--check] [--version] [--help]\n"
		"  -c, --config FILE  startup configuration (libconfig); default: embedded\n"
		"      --check        validate the configuration and exit (0 ok, 2 bad)\n"
		"  -V, --version      print the version and exit\n"
		"Signals: TERM/INT stop, USR1 print counters, HUP reload the configuration.\n");
}

/* A worker's ring to or from the control thread: one producer, one consumer. */
static struct rte_ring *
psw_worker_ring(const char *what, unsigned w, int node)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "%s%u", what, w);
	return rte_ring_create(name, 1024, node < 0 ? SOCKET_ID_ANY : node,
			       RING_F_SP_ENQ | RING_F_SC_DEQ);
}

/* A worker's audit ring (psw_policy.h): fixed-size records, one producer, one consumer. */
static struct rte_ring *
psw_audit_ring(unsigned w, int node)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "psw_audit%u", w);
	return rte_ring_create_elem(name, sizeof(struct psw_audit_rec), PSW_AUDIT_RING_SIZE,
				    node < 0 ? SOCKET_ID_ANY : node, RING_F_SP_ENQ | RING_F_SC_DEQ);
}

static int
create_lcores(struct psw_state *st, const struct psw_config *cfg)
{
	unsigned w;

	st->nb_workers = cfg->workers.nb;
	for (w = 0; w < st->nb_workers; w++) {
		int node = numa_available() >= 0 ? numa_node_of_cpu(cfg->workers.cores[w]) : 0;
		struct psw_lcore *lc;

		/* One mbuf pool per NUMA socket that has a worker. */
		if (psw_port_mempool(node < 0 ? 0 : node) == NULL)
			return -ENOMEM;
		lc = rte_zmalloc_socket("psw_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE,
					node < 0 ? SOCKET_ID_ANY : node);
		if (lc == NULL)
			lc = rte_zmalloc("psw_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE);
		if (lc == NULL)
			return -ENOMEM;
		psw_lcore_init(lc);
		lc->worker = w;
		lc->idle_sleep_us = cfg->workers.idle_sleep_us;
		lc->sc.pol = rte_zmalloc_socket("psw_pol_counts", PSW_POL_MAX_SLOTS * sizeof(*lc->sc.pol),
						RTE_CACHE_LINE_SIZE, node < 0 ? SOCKET_ID_ANY : node);
		lc->sc.svc = rte_zmalloc_socket("psw_svc_counts", PSW_SVC_MAX_SLOTS * sizeof(*lc->sc.svc),
						RTE_CACHE_LINE_SIZE, node < 0 ? SOCKET_ID_ANY : node);
		if (lc->sc.pol == NULL || lc->sc.svc == NULL)
			return -ENOMEM;
		lc->punt = psw_worker_ring("psw_punt", w, node);
		lc->inject = psw_worker_ring("psw_inject", w, node);
		if (lc->punt == NULL || lc->inject == NULL)
			return -ENOMEM;
		lc->sc.audit = psw_audit_ring(w, node);
		if (lc->sc.audit == NULL)
			return -ENOMEM;
		lc->sc.mp = psw_port_mempool(node < 0 ? 0 : node);   /* a large frame's segments (psw_gso.h) */
		lc->sc.large_mp = psw_port_large_mempool_slot(node < 0 ? 0 : node);
		st->lcores[w] = lc;
	}
	return 0;
}

static int
launch_workers(struct psw_state *st)
{
	unsigned lcore, w = 0;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (w >= st->nb_workers)
			break;
		if (rte_eal_remote_launch(psw_worker_main, st->lcores[w], lcore) != 0)
			return -EBUSY;
		w++;
	}
	return w == st->nb_workers ? 0 : -ENODEV;
}

static void
stop_workers(struct psw_state *st)
{
	unsigned w;

	for (w = 0; w < st->nb_workers; w++)
		__atomic_store_n(&st->lcores[w]->stop, true, __ATOMIC_RELEASE);
	rte_eal_mp_wait_lcore();
}

static void
reload(struct psw_state *st, const char *path)
{
	struct psw_config cfg;
	char err[PSW_ERR_MAX];
	int rc;

	if (path == NULL) {
		PSW_LOG(WARN, CONFIG, "SIGHUP ignored: running on the embedded default, no file to re-read");
		return;
	}
	if (psw_config_load_file(path, &cfg, err, sizeof(err)) < 0) {
		PSW_LOG(ERR, CONFIG, "reload refused, running configuration kept: %s", err);
		return;
	}
	rc = psw_state_apply(st, &cfg, err, sizeof(err));
	psw_log_configure(&st->cfg);             /* in force even when a changed port failed to come back */
	if (rc < 0) {
		PSW_LOG(ERR, CONFIG, "reload failed: %s", err);
		psw_config_free(&cfg);
		return;
	}
	PSW_LOG(INFO, CONFIG, "reloaded %s (tables version %" PRIu64 ")", path, psw_tables_current->version);
}

struct control {
	struct psw_state *st;
	const char *path;
	int epfd;
	bool stop;
	unsigned ticks;
	struct psw_event_src signals, timer, punts, metrics_src, telemetry;
	struct psw_metrics *metrics;             /**< the /metrics endpoint, or NULL */
};

static void
timer_event(struct psw_event_src *src, uint32_t events)
{
	uint64_t ticks;

	struct control *ctl = src->ctx;

	if (read(src->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	psw_tables_reclaim();
	psw_vhostport_reap();                   /* vhost-user kick fds replaced since the last tick */
	psw_state_neigh_poll(ctl->st, true);    /* ask, retry, age; punts a wake-up missed */
	psw_audit_drain(ctl->st);               /* the policy audit log's lines */
	/* a full pass over the connection table every 5 s */
	if (ctl->st->ct != NULL)
		psw_ct_expire(ctl->st->ct, ctl->st->ct->size / 50 + 1, false);
	psw_trace_tick(ctl->st);                /* records of a trace; one past its timeout disarmed */
	/* CNI DELs recorded while the switch could not be reached (during a restart) */
	if (++ctl->ticks % (1000 / RECLAIM_INTERVAL_MS) == 0) {
		psw_state_take_releases(ctl->st);
		psw_metrics_run(ctl->metrics);   /* its listen socket back in use after the connection limit */
		psw_capture_tick();
	}
}

/* A DPDK telemetry command waits for its answer. */
static void
telemetry_event(struct psw_event_src *src, uint32_t events)
{
	psw_telemetry_serve();
}

/* A scrape (or a connection) on the /metrics endpoint. */
static void
metrics_event(struct psw_event_src *src, uint32_t events)
{
	struct control *ctl = src->ctx;

	psw_metrics_run(ctl->metrics);
}

/* A worker punted to an empty ring: packets for the neighbour table. */
static void
punt_event(struct psw_event_src *src, uint32_t events)
{
	struct control *ctl = src->ctx;
	uint64_t n;

	if (read(src->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	psw_state_neigh_poll(ctl->st, false);
}

static void
signal_event(struct psw_event_src *src, uint32_t events)
{
	struct control *ctl = src->ctx;
	struct signalfd_siginfo si;

	if (read(src->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1)
		psw_state_print_stats(ctl->st, stdout);
	else if (si.ssi_signo == SIGHUP)
		reload(ctl->st, ctl->path);
	else
		ctl->stop = true;
}

/* The control thread's event loop; returns on SIGTERM / SIGINT. */
static int
control_loop(struct control *ctl, const sigset_t *sigs)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = RECLAIM_INTERVAL_MS * 1000000L },
		.it_value = { .tv_nsec = RECLAIM_INTERVAL_MS * 1000000L },
	};

	ctl->signals = (struct psw_event_src){ .fd = signalfd(-1, sigs, SFD_CLOEXEC),
					       .fn = signal_event, .ctx = ctl };
	ctl->timer = (struct psw_event_src){ .fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC),
					     .fn = timer_event, .ctx = ctl };
	ctl->punts = (struct psw_event_src){ .fd = psw_punt_efd, .fn = punt_event, .ctx = ctl };
	if (ctl->signals.fd < 0 || ctl->timer.fd < 0 ||
	    timerfd_settime(ctl->timer.fd, 0, &its, NULL) < 0 ||
	    psw_ctl_watch(ctl->epfd, &ctl->signals, EPOLLIN, 0) < 0 ||
	    psw_ctl_watch(ctl->epfd, &ctl->timer, EPOLLIN, 0) < 0 ||
	    psw_ctl_watch(ctl->epfd, &ctl->punts, EPOLLIN, 0) < 0)
		return -errno;
	while (!ctl->stop) {
		struct epoll_event evs[16];
		int timeout = psw_metrics_timeout(ctl->metrics);
		int n = epoll_wait(ctl->epfd, evs, 16, timeout), i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (i = 0; i < n; i++) {
			struct psw_event_src *src = evs[i].data.ptr;

			src->fn(src, evs[i].events);
		}
		/* libmicrohttpd asked to run by then, readable fd or not (work left over, a deadline) */
		if (timeout >= 0)
			psw_metrics_run(ctl->metrics);
	}
	close(ctl->timer.fd);
	close(ctl->signals.fd);
	return 0;
}

/* The /metrics endpoint when metrics.listen is set; it fails the start like the API socket. */
static int
start_metrics(struct control *ctl)
{
	char err[PSW_ERR_MAX];

	if (ctl->st->cfg.metrics.listen[0] == '\0')
		return 0;
	ctl->metrics = psw_metrics_start(ctl->st, ctl->st->cfg.metrics.listen, err, sizeof(err));
	if (ctl->metrics == NULL) {
		PSW_LOG(ERR, METRICS, "%s", err);
		return -1;
	}
	ctl->metrics_src = (struct psw_event_src){ .fd = psw_metrics_fd(ctl->metrics), .fn = metrics_event,
						   .ctx = ctl };
	if (psw_ctl_watch(ctl->epfd, &ctl->metrics_src, EPOLLIN, 0) < 0) {
		PSW_LOG(ERR, METRICS, "metrics: cannot watch its socket: %s", strerror(errno));
		psw_metrics_stop(ctl->metrics);
		ctl->metrics = NULL;
		return -1;
	}
	PSW_LOG(INFO, METRICS, "metrics on http://%s/metrics", ctl->st->cfg.metrics.listen);
	return 0;
}

/* Pod address pools and the state file of CNI attachments. */
static int
init_cni_state(struct psw_state *st, char *err, size_t err_len)
{
	const struct psw_config *c = &st->cfg;

	st->ipam = psw_ipam_create(&c->node.pod_cidr, c->node.gateway, &c->node.pod_cidr6,
				   c->node.gateway6);
	if (st->ipam == NULL) {
		snprintf(err, err_len, "out of memory for IP pools");
		return -ENOMEM;
	}
	if (mkdir(c->api.state_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, err_len, "api.state_dir '%s': %s", c->api.state_dir, strerror(errno));
		return -errno;
	}
	snprintf(st->state_file, sizeof(st->state_file), "%s/attachments.json", c->api.state_dir);
	snprintf(st->objects_file, sizeof(st->objects_file), "%s/objects.json", c->api.state_dir);
	return psw_state_load(st, err, err_len);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct psw_state st = { 0 };
	struct control ctl = { 0 };
	struct psw_apisrv *api = NULL;
	struct psw_config cfg;
	struct eal_argv eal = { 0 };
	char err[PSW_ERR_MAX], runtime_dir[PATH_MAX];
	const char *path = NULL;
	bool check = false;
	sigset_t sigs;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'V':
			printf("podswitch %s\n", PSW_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_BAD_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podswitch: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_BAD_CONFIG;
	}
	rc = path != NULL ? psw_config_load_file(path, &cfg, err, sizeof(err))
			  : psw_config_parse(NULL, "<default>", &cfg, err, sizeof(err));
	if (rc < 0) {
		PSW_LOG(ERR, CONFIG, "%s", err);
		return EXIT_BAD_CONFIG;
	}
	psw_log_configure(&cfg);
	if (check) {
		printf("%s: configuration ok\n", cfg.source);
		psw_config_free(&cfg);
		return 0;
	}

	/* Workers inherit this mask: signals reach the control thread's signalfd only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	build_eal_args(&cfg, &eal);
	psw_log_take_dpdk();                     /* from EAL's first line on */
	if (rte_eal_init(eal.argc, eal.argv) < 0) {
		PSW_LOG(ERR, DPDK, "DPDK initialisation failed: %s", rte_strerror(rte_errno));
		psw_config_free(&cfg);
		return 1;
	}
	psw_port_layer_init(&(struct psw_port_env){
		.nb_workers = cfg.workers.nb,
		.rx_desc = cfg.limits.rx_desc,
		.tx_desc = cfg.limits.tx_desc,
		.mbufs = cfg.limits.mbufs,
		.large_mbufs = cfg.limits.large_mbufs,
	});
	/* rte_exit's messages go through DPDK's log, which says "podswitch: " */
	if (psw_tables_init(cfg.workers.nb) < 0 || create_lcores(&st, &cfg) < 0 ||
	    psw_trace_ctl_init(cfg.workers.nb) < 0)
		rte_exit(1, "out of memory at start-up\n");
	psw_port_layer_set_qsbr(psw_tables_qsbr());
	/* memif ports' control channels are served by the control loop, from the first port on */
	ctl.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctl.epfd < 0)
		rte_exit(1, "no epoll set for the control loop: %s\n", strerror(errno));
	psw_memif_layer_init(ctl.epfd, psw_tables_qsbr());
	st.ct = psw_ct_create(cfg.limits.conntrack, (int)rte_socket_id(), psw_tables_qsbr());
	if (st.ct != NULL)
		psw_ct_set_zone_max(st.ct, cfg.limits.conntrack_per_port);
	if (st.ct == NULL)
		rte_exit(1, "no memory for %u connections (limits.conntrack)\n",
			 cfg.limits.conntrack);
	st.svcs = psw_svc_table_create(PSW_MAX_SERVICE_PORTS, (int)rte_socket_id());
	if (st.svcs == NULL)
		rte_exit(1, "no memory for the Service table\n");
	st.pol = calloc(1, sizeof(*st.pol));
	if (st.pol == NULL)
		rte_exit(1, "no memory for the policy table\n");
	st.neigh = psw_neigh_create();
	if (st.neigh == NULL)
		rte_exit(1, "no memory for the neighbour table\n");
	psw_punt_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (psw_punt_efd < 0)
		rte_exit(1, "no eventfd for the workers' punts: %s\n", strerror(errno));
	if (psw_state_apply(&st, &cfg, err, sizeof(err)) < 0) {
		PSW_LOG(ERR, CONFIG, "%s", err);
		psw_state_fini(&st);
		psw_config_free(&cfg);
		rte_eal_cleanup();
		return 1;
	}
	if (init_cni_state(&st, err, sizeof(err)) < 0) {
		PSW_LOG(ERR, STATE, "%s", err);
		psw_state_fini(&st);
		rte_eal_cleanup();
		return 1;
	}
	/* the desired state of the last run, in force before the API opens */
	rc = psw_objects_restore(&st, err, sizeof(err));
	if (rc != 0)
		PSW_LOG(INFO, STATE, "%s", err);
	if (launch_workers(&st) < 0)
		rte_exit(1, "cannot launch %u workers\n", st.nb_workers);
	PSW_LOG(INFO, MAIN, "version %s running: %u worker(s), %s, tables version %" PRIu64,
		PSW_VERSION, st.nb_workers, st.cfg.source, psw_tables_current->version);

	ctl.st = &st;
	ctl.path = path;
	api = psw_apisrv_create(st.cfg.api.socket, st.cfg.api.group, ctl.epfd, &st, err, sizeof(err));
	if (api == NULL) {
		PSW_LOG(ERR, API, "%s", err);
		rc = -1;
	} else {
		PSW_LOG(INFO, API, "API on %s", st.cfg.api.socket);
		rc = start_metrics(&ctl);
		ctl.telemetry = (struct psw_event_src){ .fd = psw_telemetry_init(&st), .fn = telemetry_event,
							.ctx = &ctl };
		if (ctl.telemetry.fd < 0 || psw_ctl_watch(ctl.epfd, &ctl.telemetry, EPOLLIN, 0) < 0)
			PSW_LOG(WARN, METRICS, "DPDK telemetry commands not registered");
		if (rc == 0)
			rc = control_loop(&ctl, &sigs);
		psw_telemetry_fini();
	}
	if (ctl.metrics != NULL)
		psw_ctl_unwatch(ctl.epfd, &ctl.metrics_src);
	psw_metrics_stop(ctl.metrics);
	psw_apisrv_destroy(api);
	stop_workers(&st);
	psw_trace_ctl_fini();
	psw_state_print_stats(&st, stdout);
	psw_state_fini(&st);
	close(ctl.epfd);                         /* after the ports: memif listeners leave it */
	psw_tables_fini();
	psw_port_layer_fini();
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	remove_runtime_dir(runtime_dir);
	PSW_LOG(INFO, MAIN, "stopped");
	return rc < 0 ? 1 : 0;
}
