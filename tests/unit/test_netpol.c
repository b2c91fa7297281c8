/*
 * NetworkPolicy compiler against the API semantics, case by case: objects go
 * through the API validation and defaulting first (invalid ones refused),
 * then are compiled for one selected pod and built into real rte_acl
 * contexts (EAL --no-huge); each case asks the built object for a verdict
 * exactly as the policy stage does (psw_pol_classify).
 */
#define PSW_UT_EAL
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>
#include <rte_eal.h>

#include "psw_ctl.h"
#include "psw_k8s.h"
#include "psw_k8s_validate.h"
#include "psw_netpol.h"
#include "psw_netpol_priv.h"
#include "psw_podif.h"
#include "psw_policy.h"
#include "psw_policy_ctl.h"
#include "psw_port.h"
#include "psw_ut.h"

/*
 * The world of every case: namespaces a {team: x} and b {team: y}, c {};
 * pods a/web (app=web, http=80/TCP, dns=53/UDP), a/db (app=db, http=8080/TCP),
 * a/cli (app=cli), b/cli (app=cli), c/other (app=other), and one IPv6 pod.
 */
static const char *world_pods =
	"[{\"namespace\": \"a\", \"name\": \"web\", \"labels\": {\"app\": \"web\"}, \"ips\": [\"10.0.0.1\"],"
	"  \"pod\": {\"spec\": {\"containers\": [{\"ports\": [{\"name\": \"http\", \"containerPort\": 80},"
	"        {\"name\": \"dns\", \"containerPort\": 53, \"protocol\": \"UDP\"}]}]}}},"
	" {\"namespace\": \"a\", \"name\": \"db\", \"labels\": {\"app\": \"db\"}, \"ips\": [\"10.0.0.2\"],"
	"  \"pod\": {\"spec\": {\"containers\": [{\"ports\": [{\"name\": \"http\", \"containerPort\": 8080}]}]}}},"
	" {\"namespace\": \"a\", \"name\": \"cli\", \"labels\": {\"app\": \"cli\"}, \"ips\": [\"10.0.0.3\"], \"pod\": null},"
	" {\"namespace\": \"b\", \"name\": \"cli\", \"labels\": {\"app\": \"cli\"}, \"ips\": [\"10.0.1.3\"], \"pod\": null},"
	" {\"namespace\": \"c\", \"name\": \"other\", \"labels\": {\"app\": \"other\"}, \"ips\": [\"10.0.2.4\"], \"pod\": null},"
	" {\"namespace\": \"c\", \"name\": \"six\", \"labels\": {\"app\": \"six\"}, \"ips\": [\"fd00::6\"], \"pod\": null}]";
static const char *world_ns =
	"{\"a\": {\"team\": \"x\", \"kubernetes.io/metadata.name\": \"a\"},"
	" \"b\": {\"team\": \"y\", \"kubernetes.io/metadata.name\": \"b\"},"
	" \"c\": {\"kubernetes.io/metadata.name\": \"c\"}}";

static json_t *pods, *nss;

/* The world entry of pod ns/name. */
static json_t *
pod(const char *ns, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(pods, i, p)
		if (strcmp(json_string_value(json_object_get(p, "namespace")), ns) == 0 &&
		    strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
			return p;
	return NULL;
}

/* A NetworkPolicy in namespace a from its spec (YAML-free JSON), validated and defaulted. */
static json_t *
policy(const char *name, const char *spec)
{
	char buf[4096];
	json_t *o;
	char *err;

	snprintf(buf, sizeof(buf), "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
		 "\"metadata\": {\"name\": \"%s\", \"namespace\": \"a\"}, \"spec\": %s}", name, spec);
	o = json_loads(buf, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	err = psw_k8s_validate(o);
	if (err != NULL)
		fprintf(stderr, "unexpected refusal: %s\n", err);
	CU_ASSERT_PTR_NULL(err);
	free(err);
	return o;
}

/* The policy object of pod (ns a) under these policies, as the compiler builds it. */
static struct psw_pol_port *
build(json_t *self, json_t **pols, unsigned nb)
{
	struct psw_pol_rule *rules = NULL;
	unsigned nb_rules = 0, nb_iso[2] = { 0, 0 }, i;
	uint16_t iso0[16], iso1[16];
	const uint16_t *isoc[2] = { iso0, iso1 };
	uint16_t *iso[2] = { iso0, iso1 };
	bool isolated[2] = { false, false };
	struct psw_pol_port *pp;
	json_t *type;
	size_t j;

	for (i = 0; i < nb; i++) {
		json_t *spec = json_object_get(pols[i], "spec");

		if (strcmp(json_string_value(json_object_get(self, "namespace")), "a") != 0 ||
		    !psw_netpol_selects(json_object_get(spec, "podSelector"), json_object_get(self, "labels")))
			continue;
		json_array_foreach(json_object_get(spec, "policyTypes"), j, type) {
			unsigned d = strcmp(json_string_value(type), "Egress") == 0 ? PSW_POL_EGRESS
										     : PSW_POL_INGRESS;

			isolated[d] = true;
			iso[d][nb_iso[d]++] = (uint16_t)i;
			CU_ASSERT_EQUAL(psw_netpol_compile(pols[i], d, i, self, pods, nss, &rules, &nb_rules), 0);
		}
	}
	pp = psw_pol_port_build(isolated, rules, nb_rules, isoc, nb_iso, 0);
	CU_ASSERT_PTR_NOT_NULL(pp);
	free(rules);
	return pp;
}

/*
 * Verdict of a new connection in direction d for the pod whose object is pp,
 * with the peer at addr: -1 not isolated, 0 denied, else 1 + the allowing
 * policy index * 100 + rule index.
 */
static int
verdict(const struct psw_pol_port *pp, unsigned d, const char *peer, uint8_t proto, uint16_t port)
{
	uint8_t addr[16] = { 0 };
	unsigned family = strchr(peer, ':') ? 6 : 4;
	uint32_t res;

	if (!pp->isolated[d])
		return -1;
	CU_ASSERT_EQUAL(inet_pton(family == 4 ? AF_INET : AF_INET6, peer, addr), 1);
	res = psw_pol_classify(pp, d, family, proto, addr, rte_cpu_to_be_16(port));
	if (res == 0)
		return 0;
	return 1 + pp->refs[res - 1].slot * 100 + pp->refs[res - 1].rule;
}

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define IN PSW_POL_INGRESS
#define OUT PSW_POL_EGRESS

/* One policy, one selected pod: the object and the policy freed by the caller. */
static struct psw_pol_port *
one(const char *spec, json_t **pol, const char *self)
{
	*pol = policy("p", spec);
	return build(pod("a", self), pol, 1);
}

static void
done(struct psw_pol_port *pp, json_t *pol)
{
	psw_pol_port_free(pp);
	json_decref(pol);
}

static void
test_invalid_refused(void)
{
	static const char *bad[] = {
		/* an empty peer selects nothing in the API: refused */
		"{\"podSelector\": {}, \"ingress\": [{\"from\": [{}]}]}",
		"{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/8\"},"
		" \"podSelector\": {}}]}]}",
		"{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": \"http\", \"endPort\": 90}]}]}",
		"{\"podSelector\": {}, \"egress\": [{\"ports\": [{\"protocol\": \"ICMP\"}]}]}",
		"{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/24\","
		" \"except\": [\"10.0.1.0/25\"]}}]}]}",
		"{\"ingress\": []}",
		/* a type listed twice (the compiler once overran an array with it) */
		"{\"podSelector\": {}, \"policyTypes\": [\"Ingress\", \"Ingress\"]}",
		"{\"podSelector\": {}, \"policyTypes\": [\"Ingress\", \"Egress\", \"Ingress\"]}",
	};
	unsigned i;

	for (i = 0; i < RTE_DIM(bad); i++) {
		char buf[1024];
		json_t *o;
		char *err;

		snprintf(buf, sizeof(buf), "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": "
			 "\"NetworkPolicy\", \"metadata\": {\"name\": \"p\", \"namespace\": \"a\"}, \"spec\": %s}",
			 bad[i]);
		o = json_loads(buf, 0, NULL);
		err = psw_k8s_validate(o);
		CU_ASSERT_PTR_NOT_NULL(err);
		if (err == NULL)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		free(err);
		json_decref(o);
	}
}

static void
test_not_selected_not_isolated(void)
{
	json_t *pol;
	struct psw_pol_port *pp = one("{\"podSelector\": {\"matchLabels\": {\"app\": \"db\"}}}", &pol, "web");

	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), -1);
	CU_ASSERT_EQUAL(verdict(pp, OUT, "10.0.0.3", TCP, 80), -1);
	done(pp, pol);
}

static void
test_policy_types_defaulting(void)
{
	json_t *pol;
	struct psw_pol_port *pp;

	/* no policyTypes, no egress rules: Ingress only, and no ingress rule = deny all in */
	pp = one("{\"podSelector\": {}}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, OUT, "10.0.0.3", TCP, 80), -1);
	done(pp, pol);
	/* egress rules present: Ingress and Egress */
	pp = one("{\"podSelector\": {}, \"egress\": [{\"ports\": [{\"port\": 53, \"protocol\": \"UDP\"}]}]}",
		 &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", UDP, 53), 0);
	CU_ASSERT_EQUAL(verdict(pp, OUT, "10.0.0.3", UDP, 53), 1);
	CU_ASSERT_EQUAL(verdict(pp, OUT, "10.0.0.3", TCP, 53), 0);
	done(pp, pol);
	/* explicit Egress only: ingress not isolated */
	pp = one("{\"podSelector\": {}, \"policyTypes\": [\"Egress\"]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), -1);
	CU_ASSERT_EQUAL(verdict(pp, OUT, "10.0.0.3", TCP, 80), 0);
	done(pp, pol);
}

static void
test_empty_absent_and_empty_rule(void)
{
	json_t *pol;
	struct psw_pol_port *pp;

	/* ingress: [] denies everything; ingress: [{}] allows everything, any protocol */
	pp = one("{\"podSelector\": {}, \"ingress\": []}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);
	done(pp, pol);
	pp = one("{\"podSelector\": {}, \"ingress\": [{}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "192.0.2.1", UDP, 9), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "fd00::6", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", IPPROTO_ICMP, 0), 1);
	done(pp, pol);
	/* from: [] is everyone, like an absent from */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [], \"ports\": [{\"port\": 80}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "192.0.2.1", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "192.0.2.1", TCP, 81), 0);
	done(pp, pol);
	/* ports: [{}] is every TCP port, no other protocol */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"ports\": [{}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 1), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 65535), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", UDP, 53), 0);
	done(pp, pol);
}

static void
test_pod_and_namespace_selectors(void)
{
	json_t *pol;
	struct psw_pol_port *pp;

	/* podSelector alone: the policy's own namespace only */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"podSelector\": {\"matchLabels\": "
		 "{\"app\": \"cli\"}}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 1);          /* a/cli */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.1.3", TCP, 80), 0);          /* b/cli */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.2", TCP, 80), 0);          /* a/db */
	done(pp, pol);
	/* namespaceSelector {}: every pod of every namespace, not other addresses */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"namespaceSelector\": {}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.1.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.2.4", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "fd00::6", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "192.0.2.1", TCP, 80), 0);
	done(pp, pol);
	/* both in one peer: AND */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"namespaceSelector\": {\"matchLabels\": "
		 "{\"team\": \"y\"}}, \"podSelector\": {\"matchLabels\": {\"app\": \"cli\"}}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.1.3", TCP, 80), 1);          /* b/cli */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);          /* a/cli: wrong namespace */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.2.4", TCP, 80), 0);
	done(pp, pol);
	/* separate peers: OR */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"namespaceSelector\": {\"matchLabels\": "
		 "{\"team\": \"y\"}}}, {\"podSelector\": {\"matchLabels\": {\"app\": \"db\"}}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.1.3", TCP, 80), 1);          /* b/anything */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.2", TCP, 80), 1);          /* a/db */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);          /* a/cli */
	done(pp, pol);
	/* matchExpressions: NotIn, DoesNotExist */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"namespaceSelector\": {\"matchExpressions\": "
		 "[{\"key\": \"team\", \"operator\": \"DoesNotExist\"}]}}, {\"podSelector\": {\"matchExpressions\": "
		 "[{\"key\": \"app\", \"operator\": \"NotIn\", \"values\": [\"cli\", \"web\"]}]}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.2.4", TCP, 80), 1);          /* c has no team */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.2", TCP, 80), 1);          /* a/db */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.1.3", TCP, 80), 0);
	done(pp, pol);
}

static void
test_ip_block_except(void)
{
	json_t *pol;
	struct psw_pol_port *pp;

	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/16\", "
		 "\"except\": [\"10.0.1.0/24\", \"10.0.0.3/32\"]}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.2", TCP, 80), 1);          /* also a pod address */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.1.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.2.4", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.255.255", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.1.0.1", TCP, 80), 0);
	done(pp, pol);
	/* except subtracts within its own peer only: another peer still allows */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/16\", "
		 "\"except\": [\"10.0.0.0/24\"]}}, {\"podSelector\": {\"matchLabels\": {\"app\": \"cli\"}}}]}]}",
		 &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.2", TCP, 80), 0);
	done(pp, pol);
	/* IPv6 block */
	pp = one("{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"fd00::/64\", "
		 "\"except\": [\"fd00::6/128\"]}}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "fd00::7", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "fd00::6", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "fd00:0:0:1::7", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);
	done(pp, pol);
}

/*
 * The subtraction as it was first written (halve the block until no except
 * overlaps a half partly): quadratic, but obviously right, so the reference
 * the interval walk must reproduce prefix for prefix.
 */
static bool
ref_within(const struct psw_prefix *outer, const struct psw_prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       psw_prefix_contains(outer, inner->addr);
}

static void
ref_subtract(const struct psw_prefix *p, const struct psw_prefix *ex, unsigned nb_ex,
	     struct psw_prefix *out, unsigned *nb_out, unsigned max_out)
{
	unsigned max = p->family == 4 ? 32 : 128, i;
	bool partial = false;
	struct psw_prefix h;

	for (i = 0; i < nb_ex; i++) {
		if (ref_within(&ex[i], p))
			return;
		if (ref_within(p, &ex[i]))
			partial = true;
	}
	if (!partial || p->len >= max) {
		if (*nb_out < max_out)
			out[*nb_out] = *p;
		(*nb_out)++;
		return;
	}
	h = *p;
	h.len++;
	ref_subtract(&h, ex, nb_ex, out, nb_out, max_out);
	h.addr[p->len / 8] |= (uint8_t)(0x80 >> (p->len % 8));
	ref_subtract(&h, ex, nb_ex, out, nb_out, max_out);
}

/* A random prefix of length len inside outer (host bits zero). */
static struct psw_prefix
random_inside(const struct psw_prefix *outer, unsigned len)
{
	struct psw_prefix p = *outer;
	unsigned bit;

	p.len = (uint8_t)len;
	for (bit = outer->len; bit < len; bit++)
		if (rand() & 1)
			p.addr[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	return p;
}

static const char *
prefix_str(const struct psw_prefix *p, char *buf, size_t len)
{
	size_t n;

	inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, buf, (socklen_t)len);
	n = strlen(buf);
	snprintf(buf + n, len - n, "/%u", p->len);
	return buf;
}

/*
 * An ingress policy in namespace a allowing the ipBlock cidr less excepts,
 * on TCP ports 80.. (nb_ports of them; 0 = every port), built without YAML.
 */
static json_t *
ip_block_policy(const struct psw_prefix *cidr, const struct psw_prefix *ex, unsigned nb_ex,
		unsigned nb_ports)
{
	json_t *excepts = json_array(), *pol;
	char buf[64];
	unsigned i;

	for (i = 0; i < nb_ex; i++)
		json_array_append_new(excepts, json_string(prefix_str(&ex[i], buf, sizeof(buf))));
	pol = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{}, s:[s], s:[{s:[{s:{s:s, s:o}}]}]}}",
			 "apiVersion", "networking.k8s.io/v1", "kind", "NetworkPolicy",
			 "metadata", "name", "p", "namespace", "a",
			 "spec", "podSelector", "policyTypes", "Ingress", "ingress", "from", "ipBlock",
			 "cidr", prefix_str(cidr, buf, sizeof(buf)), "except", excepts);
	for (i = 0; i < nb_ports; i++) {
		json_t *rule = json_array_get(json_object_get(json_object_get(pol, "spec"), "ingress"), 0);

		if (json_object_get(rule, "ports") == NULL)
			json_object_set_new(rule, "ports", json_array());
		json_array_append_new(json_object_get(rule, "ports"),
				      json_pack("{s:s, s:i}", "protocol", "TCP", "port", 80 + i));
	}
	return pol;
}

/* Random blocks with nested, duplicate and adjacent excepts: the same prefixes as the reference. */
static void
test_ip_block_except_matches_reference(void)
{
	enum { NB_CASES = 400, MAX_EX = 12, MAX_OUT = 4096 };
	static struct psw_prefix want[MAX_OUT];
	unsigned c, mismatches = 0;

	srand(11);
	for (c = 0; c < NB_CASES; c++) {
		unsigned family = c % 2 ? 6 : 4, bits = family == 4 ? 32 : 128;
		struct psw_prefix cidr = { .family = (uint8_t)family }, ex[MAX_EX];
		unsigned nb_ex = (unsigned)rand() % MAX_EX, nb_want = 0, nb_rules = 0, i;
		struct psw_pol_rule *rules = NULL;
		json_t *pol;
		char *err;

		if (family == 4) {
			cidr = random_inside(&(struct psw_prefix){ .family = 4, .len = 8, .addr = { 10 } },
					     8 + (unsigned)rand() % 20);
		} else {
			cidr = random_inside(&(struct psw_prefix){ .family = 6, .len = 16,
						     .addr = { 0xfd, 0x00 } }, 16 + (unsigned)rand() % 96);
		}
		for (i = 0; i < nb_ex; i++) {
			unsigned span = bits - cidr.len;

			ex[i] = i > 0 && rand() % 4 == 0 ? ex[rand() % i]      /* a duplicate */
				: random_inside(&cidr, cidr.len + (unsigned)rand() % (span + 1) % 24);
		}
		ref_subtract(&cidr, ex, nb_ex, want, &nb_want, MAX_OUT);
		pol = ip_block_policy(&cidr, ex, nb_ex, 0);
		err = psw_k8s_validate(pol);
		CU_ASSERT_PTR_NULL(err);
		free(err);
		CU_ASSERT_EQUAL_FATAL(psw_netpol_compile(pol, IN, 0, pod("a", "web"), pods, nss, &rules,
							 &nb_rules), 0);
		if (nb_want > MAX_OUT)
			nb_want = MAX_OUT + 1;           /* cannot be compared: count as a mismatch */
		if (nb_rules != nb_want) {
			mismatches++;
		} else {
			for (i = 0; i < nb_rules; i++)
				if (rules[i].family != family || rules[i].plen != want[i].len ||
				    memcmp(rules[i].addr, want[i].addr, family == 4 ? 4 : 16) != 0)
					break;
			mismatches += i < nb_rules;
		}
		free(rules);
		json_decref(pol);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

static void
addr4_str(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/*
 * 10.0.0.0/8 less every other /len of it, nb_ex of them listed backwards:
 * nb_ex gaps and the tail, and (build_acl) the verdicts of rte_acl right
 * in excepts, in gaps and outside the block. 500,000 excepts once crashed
 * the control thread (an array on its stack); 4,000 took seconds per
 * selected pod (a quadratic split).
 */
static void
many_excepts(unsigned nb_ex, unsigned len, unsigned nb_ports, bool build_acl)
{
	struct psw_prefix cidr = { .family = 4, .len = 8, .addr = { 10 } }, *ex;
	uint32_t block = 1u << (32 - len);
	struct psw_pol_rule *rules = NULL;
	unsigned nb_rules = 0, i;
	json_t *pol;

	CU_ASSERT_FATAL((uint64_t)nb_ex * 2 * block <= 1u << 24);
	ex = calloc(nb_ex, sizeof(*ex));
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	for (i = 0; i < nb_ex; i++) {
		uint32_t a = 0x0a000000u + i * 2 * block;

		ex[nb_ex - 1 - i] = (struct psw_prefix){ .family = 4, .len = (uint8_t)len,
			.addr = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a } };
	}
	pol = ip_block_policy(&cidr, ex, nb_ex, nb_ports);
	free(ex);
	if ((uint64_t)nb_ex * nb_ports > PSW_NETPOL_MAX_RULES) {
		/* more rules than a pod may have: refused, nothing past the cap */
		CU_ASSERT_EQUAL(psw_netpol_compile(pol, IN, 0, pod("a", "web"), pods, nss, &rules,
						   &nb_rules), -E2BIG);
		CU_ASSERT(nb_rules <= PSW_NETPOL_MAX_RULES);
		free(rules);
		json_decref(pol);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(psw_netpol_compile(pol, IN, 0, pod("a", "web"), pods, nss, &rules, &nb_rules),
			      0);
	CU_ASSERT(nb_rules > nb_ex && nb_rules < nb_ex + 32);
	CU_ASSERT_EQUAL(rules[0].plen, len);
	CU_ASSERT_EQUAL(rules[0].addr[3], block & 255);
	if (build_acl) {
		bool isolated[2] = { true, false };
		uint16_t iso = 0;
		const uint16_t *isoc[2] = { &iso, NULL };
		unsigned nb_iso[2] = { 1, 0 };
		struct psw_pol_port *pp = psw_pol_port_build(isolated, rules, nb_rules, isoc, nb_iso, 0);
		char buf[INET_ADDRSTRLEN];

		CU_ASSERT_PTR_NOT_NULL_FATAL(pp);
		for (i = 0; i < nb_ex; i += 997) {
			uint32_t a = 0x0a000000u + i * 2 * block;

			addr4_str(a + block / 2, buf, sizeof(buf));
			CU_ASSERT_EQUAL(verdict(pp, IN, buf, TCP, 80), 0);
			addr4_str(a + block + block / 2, buf, sizeof(buf));
			CU_ASSERT_EQUAL(verdict(pp, IN, buf, TCP, 80), 1);
		}
		CU_ASSERT_EQUAL(verdict(pp, IN, "10.255.255.255", TCP, 80), 1);   /* after the last */
		CU_ASSERT_EQUAL(verdict(pp, IN, "11.0.0.1", TCP, 80), 0);         /* outside */
		CU_ASSERT_EQUAL(verdict(pp, IN, "9.255.255.255", TCP, 80), 0);
		psw_pol_port_free(pp);
	}
	free(rules);
	json_decref(pol);
}

static void
test_ip_block_many_excepts(void)
{
	many_excepts(100000, 26, 0, true);
	many_excepts(500000, 30, 0, false);
	many_excepts(500000, 30, 3, false);
}

static void
test_ports_ranges_and_protocols(void)
{
	json_t *pol;
	struct psw_pol_port *pp;

	pp = one("{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 80, \"endPort\": 81}, "
		 "{\"port\": 53, \"protocol\": \"UDP\"}, {\"protocol\": \"SCTP\"}]}]}", &pol, "web");
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 79), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 81), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 82), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", UDP, 53), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 53), 0);            /* UDP allow never opens TCP */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", UDP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", IPPROTO_SCTP, 9999), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", IPPROTO_ICMP, 0), 0);    /* ports given: no ICMP */
	done(pp, pol);
}

static void
test_named_ports(void)
{
	json_t *pol;
	json_t *pols[1];
	struct psw_pol_port *web, *db, *cli;

	/* ingress: resolved against each selected pod, per protocol */
	pol = policy("p", "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": \"http\"}, "
		      "{\"port\": \"dns\", \"protocol\": \"UDP\"}, {\"port\": \"dns\"}]}]}");
	pols[0] = pol;
	web = build(pod("a", "web"), pols, 1);
	db = build(pod("a", "db"), pols, 1);
	cli = build(pod("a", "cli"), pols, 1);
	CU_ASSERT_EQUAL(verdict(web, IN, "10.0.0.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(web, IN, "10.0.0.3", TCP, 8080), 0);
	CU_ASSERT_EQUAL(verdict(web, IN, "10.0.0.3", UDP, 53), 1);
	CU_ASSERT_EQUAL(verdict(web, IN, "10.0.0.3", TCP, 53), 0);         /* dns is UDP on web */
	CU_ASSERT_EQUAL(verdict(db, IN, "10.0.0.3", TCP, 8080), 1);
	CU_ASSERT_EQUAL(verdict(db, IN, "10.0.0.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(cli, IN, "10.0.0.1", TCP, 80), 0);         /* no such name: nothing */
	psw_pol_port_free(web);
	psw_pol_port_free(db);
	psw_pol_port_free(cli);
	json_decref(pol);
	/* egress: resolved against each destination pod */
	pol = policy("p", "{\"podSelector\": {\"matchLabels\": {\"app\": \"cli\"}}, \"policyTypes\": [\"Egress\"],"
		      " \"egress\": [{\"to\": [{\"podSelector\": {}}], \"ports\": [{\"port\": \"http\"}]},"
		      " {\"to\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/24\"}}], \"ports\": [{\"port\": \"dns\", "
		      "\"protocol\": \"UDP\"}]}]}");
	pols[0] = pol;
	cli = build(pod("a", "cli"), pols, 1);
	CU_ASSERT_EQUAL(verdict(cli, OUT, "10.0.0.1", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(cli, OUT, "10.0.0.1", TCP, 8080), 0);
	CU_ASSERT_EQUAL(verdict(cli, OUT, "10.0.0.2", TCP, 8080), 1);
	CU_ASSERT_EQUAL(verdict(cli, OUT, "10.0.0.2", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(cli, OUT, "10.0.0.1", UDP, 53), 2);        /* rule 1, via the block */
	CU_ASSERT_EQUAL(verdict(cli, OUT, "10.0.0.2", UDP, 53), 0);        /* db has no dns */
	CU_ASSERT_EQUAL(verdict(cli, IN, "10.0.0.1", TCP, 80), -1);
	psw_pol_port_free(cli);
	json_decref(pol);
}

static void
test_union_and_first_rule_named(void)
{
	json_t *pols[2];
	struct psw_pol_port *pp;

	pols[0] = policy("p0", "{\"podSelector\": {\"matchLabels\": {\"app\": \"web\"}}, \"ingress\": "
			 "[{\"ports\": [{\"port\": 80}]}]}");
	pols[1] = policy("p1", "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 443}]}, "
			 "{\"from\": [{\"podSelector\": {\"matchLabels\": {\"app\": \"db\"}}}]}]}");
	pp = build(pod("a", "web"), pols, 2);
	CU_ASSERT_EQUAL(pp->nb_isolating[IN], 2);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 1);          /* p0 rule 0 */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 443), 101);       /* p1 rule 0 */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.2", TCP, 22), 102);        /* p1 rule 1 */
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 22), 0);
	psw_pol_port_free(pp);
	json_decref(pols[0]);
	json_decref(pols[1]);
}

static void
test_digest_follows_inputs(void)
{
	json_t *a, *b;
	struct psw_pol_port *pa, *pb, *pa2;

	a = policy("p", "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 80}]}]}");
	b = policy("p", "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 81}]}]}");
	pa = build(pod("a", "web"), &a, 1);
	pa2 = build(pod("a", "web"), &a, 1);
	pb = build(pod("a", "web"), &b, 1);
	CU_ASSERT_EQUAL(pa->digest, pa2->digest);
	CU_ASSERT_NOT_EQUAL(pa->digest, pb->digest);
	psw_pol_port_free(pa);
	psw_pol_port_free(pa2);
	psw_pol_port_free(pb);
	json_decref(a);
	json_decref(b);
}


/*
 * Peers per network: a pod's entries on a secondary network ("net") stand
 * for its addresses there only, and a pod on one network never gets the
 * other network's addresses as peers (NetworkPolicy: the pods' own "";
 * MultiNetworkPolicy: the attachment's network).
 */
static void
test_peers_per_network(void)
{
	json_t *saved = pods, *net, *self, *pol;
	struct psw_pol_port *pp;

	pods = json_loads("[{\"namespace\": \"a\", \"name\": \"web\", \"labels\": {\"app\": \"web\"},"
			  "  \"ips\": [\"10.0.0.1\"], \"pod\": null, \"net\": \"\"},"
			  " {\"namespace\": \"a\", \"name\": \"web\", \"labels\": {\"app\": \"web\"},"
			  "  \"ips\": [\"10.9.0.1\"], \"pod\": null, \"net\": \"n1\"},"
			  " {\"namespace\": \"a\", \"name\": \"cli\", \"labels\": {\"app\": \"cli\"},"
			  "  \"ips\": [\"10.0.0.3\"], \"pod\": null, \"net\": \"\"},"
			  " {\"namespace\": \"a\", \"name\": \"cli\", \"labels\": {\"app\": \"cli\"},"
			  "  \"ips\": [\"10.9.0.3\"], \"pod\": null, \"net\": \"n1\"},"
			  " {\"namespace\": \"a\", \"name\": \"cli2\", \"labels\": {\"app\": \"cli\"},"
			  "  \"ips\": [\"10.8.0.3\"], \"pod\": null, \"net\": \"n2\"}]", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pods);
	pol = policy("from-cli", "{\"podSelector\": {\"matchLabels\": {\"app\": \"web\"}},"
		     "\"ingress\": [{\"from\": [{\"podSelector\": {\"matchLabels\": {\"app\": \"cli\"}}}]}]}");
	/* web's own network: cli's own address only */
	self = json_array_get(pods, 0);
	pp = build(self, &pol, 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.9.0.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.8.0.3", TCP, 80), 0);
	psw_pol_port_free(pp);
	/* web's attachment on n1: cli's n1 address only */
	net = json_array_get(pods, 1);
	pp = build(net, &pol, 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.9.0.3", TCP, 80), 1);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.0.0.3", TCP, 80), 0);
	CU_ASSERT_EQUAL(verdict(pp, IN, "10.8.0.3", TCP, 80), 0);
	psw_pol_port_free(pp);
	json_decref(pol);
	json_decref(pods);
	pods = saved;
}

/*
 * A MultiNetworkPolicy's policy-for names NetworkAttachmentDefinitions,
 * "name" in its own namespace or "namespace/name"; an attachment's is the
 * one its Pod's network-selection annotation gives for its interface.
 */
static void
test_policy_for_namespaces(void)
{
	json_t *pol = json_loads("{\"kind\": \"MultiNetworkPolicy\", \"metadata\": {\"namespace\": \"a\","
				 " \"annotations\": {\"k8s.v1.cni.cncf.io/policy-for\": \"n1, b/n2\"}}}", 0, NULL);
	json_t *np = json_loads("{\"kind\": \"NetworkPolicy\", \"metadata\": {\"namespace\": \"a\"}}", 0, NULL);
	json_t *pod;
	char net[PSW_PODIF_NET_MAX];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pol);
	CU_ASSERT_TRUE(psw_netpol_applies(pol, "a/n1"));
	CU_ASSERT_FALSE(psw_netpol_applies(pol, "b/n1"));       /* "n1" is a's */
	CU_ASSERT_TRUE(psw_netpol_applies(pol, "b/n2"));
	CU_ASSERT_FALSE(psw_netpol_applies(pol, "a/n2"));
	CU_ASSERT_FALSE(psw_netpol_applies(pol, "a/n"));
	CU_ASSERT_FALSE(psw_netpol_applies(pol, "a/n11"));
	CU_ASSERT_FALSE(psw_netpol_applies(pol, ""));           /* eth0: NetworkPolicy's */
	CU_ASSERT_TRUE(psw_netpol_applies(np, ""));
	CU_ASSERT_FALSE(psw_netpol_applies(np, "a/n1"));
	json_decref(pol);
	json_decref(np);
	/* no Pod object, no annotation: the pod's namespace, the CNI network */
	psw_podif_network(NULL, "a", "net1", "cni-net", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/cni-net");
	/* the text form: by @interface, else net<position> */
	pod = json_loads("{\"metadata\": {\"annotations\": {\"k8s.v1.cni.cncf.io/networks\":"
			 " \" x, other/y@fast0 , z\"}}}", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pod);
	psw_podif_network(pod, "a", "net1", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/x");
	psw_podif_network(pod, "a", "fast0", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "other/y");
	psw_podif_network(pod, "a", "net3", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/z");
	psw_podif_network(pod, "a", "net2", "cni", net, sizeof(net));   /* entry 2 is fast0 */
	CU_ASSERT_STRING_EQUAL(net, "a/cni");
	json_decref(pod);
	/* the JSON form */
	pod = json_loads("{\"metadata\": {\"annotations\": {\"k8s.v1.cni.cncf.io/networks\":"
			 " \"[{\\\"name\\\": \\\"x\\\"}, {\\\"name\\\": \\\"y\\\", \\\"namespace\\\": \\\"o\\\","
			 " \\\"interface\\\": \\\"dp0\\\"}]\"}}}", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pod);
	psw_podif_network(pod, "a", "net1", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/x");
	psw_podif_network(pod, "a", "dp0", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "o/y");
	json_decref(pod);
	/* malformed: the fallback */
	pod = json_loads("{\"metadata\": {\"annotations\": {\"k8s.v1.cni.cncf.io/networks\": \"[{\"}}}", 0, NULL);
	psw_podif_network(pod, "a", "net1", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/cni");
	json_decref(pod);
	pod = json_loads("{\"metadata\": {\"annotations\": {\"k8s.v1.cni.cncf.io/networks\": \"/@net1, @, ,\"}}}",
			 0, NULL);
	psw_podif_network(pod, "a", "net1", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/cni");
	json_decref(pod);
	/* as Multus reads them: each part trimmed, "name@" the default name */
	pod = json_loads("{\"metadata\": {\"annotations\": {\"k8s.v1.cni.cncf.io/networks\":"
			 " \"b / x @ fast0, y@ ,z\\t@\\tnet3\"}}}", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pod);
	psw_podif_network(pod, "a", "fast0", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "b/x");
	psw_podif_network(pod, "a", "net2", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/y");
	psw_podif_network(pod, "a", "net3", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/z");
	json_decref(pod);
	/* JSON: an empty interface is netN, interfaceRequest the old spelling,
	 * JSON whatever comes first (Multus: any '[', '{' or '"') */
	pod = json_loads("{\"metadata\": {\"annotations\": {\"k8s.v1.cni.cncf.io/networks\":"
			 " \"\\r[{\\\"name\\\": \\\"x\\\", \\\"namespace\\\": \\\"b\\\", \\\"interface\\\": \\\"\\\"},"
			 " {\\\"name\\\": \\\"y\\\", \\\"interfaceRequest\\\": \\\"old0\\\"}]\"}}}", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pod);
	psw_podif_network(pod, "a", "net1", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "b/x");
	psw_podif_network(pod, "a", "old0", "cni", net, sizeof(net));
	CU_ASSERT_STRING_EQUAL(net, "a/y");
	json_decref(pod);
	/* a "namespace/name" longer than any NAD's is not cut to another's */
	{
		char ann[1024], long_ns[64], long_name[301];

		memset(long_ns, 'b', sizeof(long_ns) - 1);
		long_ns[sizeof(long_ns) - 1] = '\0';
		memset(long_name, 'x', sizeof(long_name) - 1);
		long_name[sizeof(long_name) - 1] = '\0';
		snprintf(ann, sizeof(ann), "%s/%s1@net1", long_ns, long_name);
		pod = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "k8s.v1.cni.cncf.io/networks", ann);
		CU_ASSERT_PTR_NOT_NULL_FATAL(pod);
		psw_podif_network(pod, "a", "net1", "cni", net, sizeof(net));
		CU_ASSERT_STRING_EQUAL(net, "a/cni");
		json_decref(pod);
	}
}

/*
 * An eth0 attachment after a secondary one without a port (skipped, its
 * slot reused) is on the pod's own network, not the skipped one's NAD.
 */
static void
test_pods_here_eth0_after_skipped(void)
{
	static struct psw_attachment atts[2];
	struct psw_state st = { .atts = atts, .nb_atts = 2 };
	struct psw_port_conf pc = { .name = "here-eth0", .kind = PSW_PORT_RING };
	struct psw_netpol_here *h;
	char err[256];
	unsigned nb;
	int idx;

	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = 1, .rx_desc = 256, .tx_desc = 256,
						    .mbufs = 1024 });
	idx = psw_port_create(&pc, err, sizeof(err));
	CU_ASSERT_FATAL(idx >= 0);
	atts[0] = (struct psw_attachment){ .ifname = "net1", .pod_namespace = "a", .pod_name = "web",
					   .network = "n1", .port_name = "no-such-port", .attached = true };
	atts[1] = (struct psw_attachment){ .ifname = "eth0", .pod_namespace = "a", .pod_name = "web",
					   .network = "pod", .port_name = "here-eth0", .attached = true };
	h = psw_netpol_pods_here(&st, &nb);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(nb, 1);
	CU_ASSERT_STRING_EQUAL(h[0].net, "");
	free(h);
	psw_port_destroy((uint16_t)idx);
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	if (psw_ut_eal("netpol", 1024) == NULL)
		return 1;
	pods = json_loads(world_pods, 0, NULL);
	nss = json_loads(world_ns, 0, NULL);
	if (pods == NULL || nss == NULL)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("NetworkPolicy compiler", NULL, NULL);
	CU_add_test(s, "invalid policies refused", test_invalid_refused);
	CU_add_test(s, "peers per network: NetworkPolicy and MultiNetworkPolicy", test_peers_per_network);
	CU_add_test(s, "policy-for: NetworkAttachmentDefinitions by namespace and name", test_policy_for_namespaces);
	CU_add_test(s, "an eth0 attachment after a skipped secondary: its own network", test_pods_here_eth0_after_skipped);
	CU_add_test(s, "a pod no policy selects is not isolated", test_not_selected_not_isolated);
	CU_add_test(s, "policyTypes defaulting", test_policy_types_defaulting);
	CU_add_test(s, "empty vs absent lists, [{}] rules and ports", test_empty_absent_and_empty_rule);
	CU_add_test(s, "podSelector, namespaceSelector, AND and OR, expressions", test_pod_and_namespace_selectors);
	CU_add_test(s, "ipBlock with except, IPv4 and IPv6", test_ip_block_except);
	CU_add_test(s, "ipBlock except: the reference's prefixes, IPv4 and IPv6",
		    test_ip_block_except_matches_reference);
	CU_add_test(s, "ipBlock with 100,000 and 500,000 excepts", test_ip_block_many_excepts);
	CU_add_test(s, "ports, endPort ranges and protocols", test_ports_ranges_and_protocols);
	CU_add_test(s, "named ports per pod and protocol, ingress and egress", test_named_ports);
	CU_add_test(s, "policies add up; the first allowing rule is named", test_union_and_first_rule_named);
	CU_add_test(s, "digest changes with the rules only", test_digest_follows_inputs);
	failures = (unsigned)psw_ut_run();
	json_decref(pods);
	json_decref(nss);
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
