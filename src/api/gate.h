/*
 * gate: what a peer may hold of a listener before it has sent a request,
 * and the log of refused tokens.
 *
 * A connection is "waiting" from the moment it is accepted (or its previous
 * request was answered) until its request's headers are in; over TCP that
 * includes the TLS handshake. Waiting connections cost a descriptor and
 * prove nothing, so the gate bounds them three ways:
 *   - a deadline: a connection still waiting deadline_ms after it began is
 *     cut, however it trickles (libmicrohttpd's own timeout is per read, so
 *     a byte every few seconds kept a connection forever);
 *   - per peer (an IP address, or a uid on the unix socket): past per_peer
 *     waiting connections, its oldest that has sent nothing for
 *     GATE_SILENT_GRACE_MS (over TCP the kernel counts what arrived; a
 *     unix socket counts as silent) is cut;
 *   - in all: past total waiting connections, the oldest is cut.
 * Cutting the oldest silent one rather than refusing the newest is what
 * keeps a real client served during a flood from its own address: its
 * connection is new and sends its TLS hello or its headers at once. A cut
 * is shutdown(2) on the socket; libmicrohttpd sees the end of the stream
 * and closes the connection itself, so the descriptor is never closed
 * under it.
 *
 * Refused tokens are logged in full once per interval; the rest are counted
 * by address and summed up in one line at the end of the interval.
 */
#pragma once

#include <microhttpd.h>
#include <stdint.h>

struct gate;

/* name ("https", "unix") prefixes log lines. Caller frees with gate_free. */
struct gate *gate_new(const char *name, unsigned per_peer, unsigned total, int deadline_ms);
void gate_free(struct gate *g);   /* NULL safe; after the daemon has stopped */

/* For MHD_OPTION_NOTIFY_CONNECTION with the gate as its closure. */
void gate_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code);
/* A request's headers are in: its connection no longer waits. */
void gate_request_started(struct gate *g, struct MHD_Connection *c);
/* A request was answered: its connection waits for the next one. */
void gate_request_done(struct gate *g, struct MHD_Connection *c);

/* The peer of c as the gate names it ("192.0.2.7", "[2001:db8::7]", "uid 1000") into out. */
void gate_peer_name(struct MHD_Connection *c, char *out, size_t n);

/* A request refused for its token: logged now if it is the first of this
 * interval, else counted for the summary by address and by why (a static
 * string, as api_token_check gives it). */
void gate_auth_failed(struct gate *g, struct MHD_Connection *c, const char *method, const char *url,
		      const char *why);

/* Cuts waiting connections past their deadline and writes the refused-token
 * summary when its interval is over. Run about every GATE_TICK_MS. */
void gate_tick(struct gate *g, int64_t now_ms);
#define GATE_TICK_MS 250
#define GATE_SILENT_GRACE_MS 200
#define GATE_AUTH_LOG_INTERVAL_MS 10000

/* What the gate did, for tests and the log at stop. */
struct gate_stats {
	uint64_t cut_deadline, cut_peer, cut_total;
	unsigned waiting;
};
void gate_stats(struct gate *g, struct gate_stats *out);
