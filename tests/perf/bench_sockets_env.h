/*
 * What bench_sockets runs in (bench_sockets_env.c): namespaces psb<pid>-sw
 * (the switch's: host ends "ha", "hb" and idle "pi<N>"), psb<pid>-a and
 * psb<pid>-b (the pods, eth0 each), the generator, child processes, and
 * one cleanup for all of it. Called from the benchmark's one thread (the
 * generator is a child process).
 */
#ifndef BENCH_SOCKETS_ENV_H
#define BENCH_SOCKETS_ENV_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench_sockets.h"

#define BS_IP_A "10.253.0.1"
#define BS_IP_B "10.253.0.2"

/* Namespaces of pod A and pod B. */
extern char bs_ns_a[32], bs_ns_b[32];
/* Set by SIGINT / SIGTERM / SIGHUP: every loop stops, then cleanup. */
extern volatile sig_atomic_t bs_stop_requested;

/*
 * Signals, the cleanup at exit, the generator's shared counter; removes
 * namespaces left by runs that were killed (their process is gone).
 */
void bs_env_init(void);
/* Close ports, stop children, delete the namespaces. Runs at exit; idempotent. */
void bs_env_cleanup(void);
/* Print "bench_sockets: <message>" and exit (the cleanup runs). */
void bs_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* The three namespaces, pods A and B with static neighbours; moves this process into the switch's. */
void bs_topology_create(void);
/* @n more veth pairs pi<i> / pj<i>, both ends in the switch's namespace, up, no traffic. */
void bs_idle_veths_create(unsigned int n);

/* Ports the cleanup closes if the benchmark does not. */
struct bs_port *bs_port_register(struct bs_port *port);
void bs_port_close(struct bs_port *port);

/* Run @argv in namespace @ns pinned to @cpu, output to file @out. */
pid_t bs_spawn_in(const char *ns, int cpu, const char *out, char *const argv[]);
/* Wait up to @ms for @pid, then kill it. @return its wait status. */
int bs_child_reap(pid_t pid, int ms);
/* @pid was reaped by the caller. */
void bs_child_forget(pid_t pid);

/* 64-byte UDP frames A -> B from eth0 of pod A, sendmmsg as fast as it can, on @cpu. */
pid_t bs_generator_start(int cpu);
uint64_t bs_generator_sent(void);
void bs_generator_stop(pid_t pid);

double bs_now(void);
void bs_pin(int cpu);
/* TX (or with @rx, RX) packets of an interface of the current namespace. */
uint64_t bs_dev_packets(const char *ifname, bool rx);
/* CPU time of this process (all threads), seconds. */
double bs_cpu_seconds(void);
/* TIMER + HRTIMER softirqs run so far, all CPUs. */
uint64_t bs_timer_softirqs(void);
/* Busy time of the whole machine (all CPUs), seconds. */
double bs_machine_task_seconds(void);
/* user + system time of process @pid, seconds. */
double bs_pid_cpu_seconds(pid_t pid);
/* Busy and total jiffies of the machine. */
void bs_machine_jiffies(uint64_t *busy, uint64_t *total);

#endif /* BENCH_SOCKETS_ENV_H */
