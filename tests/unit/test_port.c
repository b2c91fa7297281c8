/*
 * Port layer without devices: vdev arguments for every kind, and the queue,
 * RSS and offload plan for NICs (the part of the NIC path that runs without
 * hardware). No EAL needed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "psw_port.h"
#include "psw_ut.h"

static struct psw_port_conf
port(enum psw_port_kind kind, const char *name)
{
	struct psw_port_conf c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	snprintf(c.name, sizeof(c.name), "%s", name);
	return c;
}

static void
test_vdev_args_bad(void)
{
	struct psw_port_conf c = port(PSW_PORT_NIC, "nic");
	char name[64], args[256], tiny[4];

	/* a NIC is not a vdev */
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), -EINVAL);
	/* kinds with a required field missing */
	c = port(PSW_PORT_KERNEL, "k");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), -EINVAL);
	c = port(PSW_PORT_PCAP, "p");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), -EINVAL);
	c.kind = PSW_PORT_KIND_COUNT;
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), -EINVAL);
	/* vhost-user and memif ports are not vdevs (the switch serves the socket itself) */
	c = port(PSW_PORT_VHOST, "v");
	snprintf(c.socket, sizeof(c.socket), "/run/podswitch/v.sock");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), -EINVAL);
	c = port(PSW_PORT_MEMIF, "m");
	snprintf(c.socket, sizeof(c.socket), "/run/podswitch/m.memif");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), -EINVAL);
	/* buffers too small */
	c = port(PSW_PORT_KERNEL, "k");
	snprintf(c.ifname, sizeof(c.ifname), "tap-k");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, tiny, sizeof(tiny), args, sizeof(args)), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), tiny, sizeof(tiny)), -ENAMETOOLONG);
}

static void
test_vdev_args_kinds(void)
{
	struct psw_port_conf c;
	char name[64], args[256];

	c = port(PSW_PORT_KERNEL, "k");
	snprintf(c.ifname, sizeof(c.ifname), "tap-k");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 0, name, sizeof(name), args, sizeof(args)), 0);
	CU_ASSERT_STRING_EQUAL(name, "net_tap_psw0");
	CU_ASSERT_STRING_EQUAL(args, "iface=tap-k");

	c = port(PSW_PORT_AFPACKET, "a");
	snprintf(c.ifname, sizeof(c.ifname), "veth-a");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 1, name, sizeof(name), args, sizeof(args)), 0);
	CU_ASSERT_STRING_EQUAL(name, "net_af_packet_psw1");
	CU_ASSERT_STRING_EQUAL(args, "iface=veth-a,qpairs=1");

	c = port(PSW_PORT_PCAP, "p");
	snprintf(c.rx_pcap, sizeof(c.rx_pcap), "/tmp/in.pcap");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 2, name, sizeof(name), args, sizeof(args)), 0);
	CU_ASSERT_STRING_EQUAL(args, "rx_pcap=/tmp/in.pcap,tx_pcap=/dev/null");

	c = port(PSW_PORT_NULL, "n");
	CU_ASSERT_EQUAL(psw_port_vdev_args(&c, 5, name, sizeof(name), args, sizeof(args)), 0);
	CU_ASSERT_STRING_EQUAL(name, "net_null_psw5");
}

static struct rte_eth_dev_info
nic_info(uint16_t rxq, uint16_t txq, uint64_t rss)
{
	struct rte_eth_dev_info info;

	memset(&info, 0, sizeof(info));
	info.max_rx_queues = rxq;
	info.max_tx_queues = txq;
	info.flow_type_rss_offloads = rss;
	info.rx_offload_capa = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_LRO;
	return info;
}

static void
test_plan_bad(void)
{
	struct psw_port_conf c = port(PSW_PORT_NIC, "up");
	struct rte_eth_dev_info info = nic_info(4, 4, RTE_ETH_RSS_IP);
	struct psw_queue_plan plan;
	char err[256] = "";

	/* more RX queues than the device has */
	c.nb_rx_queues = 8;
	c.rss = true;
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 2, &info, &plan, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "8 RX queues asked, the device has 4"));
	/* several queues without RSS configured */
	c.nb_rx_queues = 2;
	c.rss = false;
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 2, &info, &plan, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "rss = true"));
	/* several queues on a device that cannot hash IP flows */
	c.rss = true;
	info = nic_info(4, 4, RTE_ETH_RSS_L2_PAYLOAD);
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 2, &info, &plan, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no RSS"));
	/* no queues at all, no workers */
	info = nic_info(0, 0, 0);
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 2, &info, &plan, err, sizeof(err)), -EINVAL);
	info = nic_info(4, 4, RTE_ETH_RSS_IP);
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 0, &info, &plan, err, sizeof(err)), -EINVAL);
}

static void
test_plan_nic(void)
{
	struct psw_port_conf c = port(PSW_PORT_NIC, "up");
	struct rte_eth_dev_info info = nic_info(16, 16, RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP |
						RTE_ETH_RSS_UDP | RTE_ETH_RSS_L2_PAYLOAD);
	struct psw_queue_plan plan;
	char err[256];

	/* default: one RX queue per worker, RSS over IP/TCP/UDP, a TX queue each */
	c.rss = true;
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 4, &info, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.nb_rxq, 4);
	CU_ASSERT_EQUAL(plan.nb_txq, 4);
	CU_ASSERT(plan.rss);
	CU_ASSERT_EQUAL(plan.rss_hf, RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
	CU_ASSERT_EQUAL(plan.rx_offloads, RTE_ETH_RX_OFFLOAD_IPV4_CKSUM);
	/* explicit queue count; fewer TX queues than workers: shared */
	c.nb_rx_queues = 2;
	info = nic_info(16, 2, RTE_ETH_RSS_IP);
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 4, &info, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.nb_rxq, 2);
	CU_ASSERT_EQUAL(plan.nb_txq, 2);
	/* one queue: no RSS needed, none asked */
	c.nb_rx_queues = 1;
	c.rss = false;
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 1, &info, &plan, err, sizeof(err)), 0);
	CU_ASSERT(!plan.rss);
	CU_ASSERT_EQUAL(plan.nb_rxq, 1);
	/* a device without RX checksum offload gets none requested */
	info.rx_offload_capa = 0;
	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 1, &info, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.rx_offloads, 0);
}

static void
test_plan_virtual(void)
{
	struct psw_port_conf c = port(PSW_PORT_MEMIF, "m");
	struct rte_eth_dev_info info = nic_info(8, 8, 0);
	struct psw_queue_plan plan;
	char err[256];

	CU_ASSERT_EQUAL(psw_port_plan_queues(&c, 4, &info, &plan, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plan.nb_rxq, 1);
	CU_ASSERT_EQUAL(plan.nb_txq, 1);
	CU_ASSERT(!plan.rss);
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	CU_initialize_registry();
	s = CU_add_suite("port", NULL, NULL);
	CU_add_test(s, "vdev args: bad kinds, missing fields, short buffers", test_vdev_args_bad);
	CU_add_test(s, "vdev args: every kind", test_vdev_args_kinds);
	CU_add_test(s, "queue plan: impossible requests refused", test_plan_bad);
	CU_add_test(s, "queue plan: NIC queues, RSS, offloads", test_plan_nic);
	CU_add_test(s, "queue plan: single-queue virtual ports", test_plan_virtual);
	failures = (unsigned)psw_ut_run();
	return failures ? 1 : 0;
}
