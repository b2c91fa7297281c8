/*
 * The embedded default configuration, used when podswitch runs without -c:
 * the schema's defaults written out (see podswitch.conf.example for every
 * key). workers.cores, eal.main_core and node.name are left out on purpose:
 * the parser picks them for the machine it runs on.
 */
#include "psw_config.h"

static const char default_text[] =
	"# podswitch embedded default configuration\n"
	"eal = {\n"
	"  hugepages = false;\n"
	"  memory_mb = 512;\n"
	"  file_prefix = \"podswitch\";\n"
	"  args = [ ];\n"
	"};\n"
	"workers = {\n"
	"  idle_sleep_us = 200;\n"
	"};\n"
	"node = {\n"
	"  pod_cidr = \"10.244.0.0/24\";\n"
	"  gateway = \"10.244.0.1\";\n"
	"  pod_cidr6 = \"fd00:10:244::/64\";\n"
	"  gateway6 = \"fd00:10:244::1\";\n"
	"  service_cidr = \"10.96.0.0/12\";\n"
	"  nodeport_range = \"30000-32767\";\n"
	"  gateway_mac = \"02:50:53:57:00:01\";\n"
	"};\n"
	"api = {\n"
	"  socket = \"/run/podswitch/podswitch.sock\";\n"
	"  sockets_dir = \"/run/podswitch\";\n"
	"  state_dir = \"/var/lib/podswitch\";\n"
	"};\n"
	"limits = {\n"
	"  mbufs = 16384;\n"
	"  pods = 1024;\n"
	"  max_routes = 1024;\n"
	"  conntrack = 262144;\n"
	"  rx_desc = 1024;\n"
	"  tx_desc = 1024;\n"
	"};\n"
	"ports = ( );\n"
	"pods = ( );\n"
	"routes = ( );\n";

const char *psw_config_default_text(void)
{
	return default_text;
}
