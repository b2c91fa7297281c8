/*
 * healthCheckNodePort: the HTTP answer a cloud load balancer asks every
 * node for, about a LoadBalancer Service with externalTrafficPolicy Local
 * (as kube-proxy serves it): 200 with the count of this node's endpoints,
 * 503 when there is none, so that the load balancer sends only to nodes
 * that have one.
 *
 * The node's addresses are the switch's, not the kernel's: the service
 * stage punts TCP to a health port here, and this file answers it with a
 * TCP exchange of its own that keeps no state: SYN -> SYN-ACK (its
 * sequence number a keyed hash of the connection's addresses and ports),
 * the request -> the whole answer with FIN, the client's FIN -> its ACK.
 * The same over IPv4 and IPv6 (the node's IPv6 addresses serve the
 * Services that have IPv6, psw_services.c); an IPv6 segment is answered
 * only when TCP follows its header directly. Control thread only.
 */
#ifndef PSW_HEALTH_H
#define PSW_HEALTH_H

struct psw_state;
struct rte_mbuf;

/** Answer a punted segment (PSW_PUNT_HEALTH; its cookie: the local endpoints). pkt stays the caller's. */
void psw_health_input(struct psw_state *st, const struct rte_mbuf *pkt);

#endif /* PSW_HEALTH_H */
