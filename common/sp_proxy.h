/*
 * sp_proxy.h -- the proxy engine: moves frames between a host's slot table
 * and its links.  The same engine runs in mod_slotproxy's proxy child
 * (client role: streams start in slots and go out on a backend's link)
 * and in execd's proxy process (server role: streams arrive on links and
 * are handed to idle worker slots, or queued, or refused as overloaded).
 *
 * One thread, one epoll set: the table's doorbell, the links, the
 * listeners.  The engine never blocks on a slot or a socket; a slot whose
 * frames cannot go out (no credit, link output past its high-water mark)
 * keeps its tx space, which is the back pressure on its owner.
 */
#ifndef SP_PROXY_H
#define SP_PROXY_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_network_io.h>
#include <apr_pools.h>

#include "sp_auth.h"
#include "sp_link.h"
#include "sp_table.h"

typedef struct sp_proxy_t sp_proxy_t;

/* A stream's receive window, in slot spaces.  Credit goes back as the
 * owner reads, so one space keeps the peer's frames in the space itself
 * rather than in the proxy's memory. */
#define SP_PROXY_WINDOW_SPACES 1

/* level: 3 error, 4 warning, 5 notice, 6 info, 7 debug (syslog/APLOG). */
typedef void sp_proxy_log_fn(void *baton, int level, const char *tag,
                             apr_status_t rv, const char *msg);

typedef struct sp_proxy_hooks_t {
    sp_proxy_log_fn *log;
    /* client: an open link for backend b, or NULL: the request then fails
     * with SP_RST_REFUSED (503). */
    sp_link_t *(*pick_link)(sp_proxy_t *px, unsigned backend, void *baton);
    /* client: the name of backend b, for log lines. */
    const char *(*backend_name)(unsigned backend, void *baton);
    /* a link closed (the client reconnects). */
    void (*link_closed)(sp_proxy_t *px, sp_link_t *l, void *baton);
    /* client: the server sent DRAIN on l: forget it for new requests (it
     * closes by itself once its streams are done) and open another. */
    void (*link_draining)(sp_proxy_t *px, sp_link_t *l, void *baton);
    /* a link finished its handshake. */
    void (*link_open)(sp_proxy_t *px, sp_link_t *l, void *baton);
    /* called about every 100 ms and after each wake-up burst. */
    void (*tick)(sp_proxy_t *px, apr_time_t now, void *baton);
    /* server: accept a connection from sa?  NULL = everyone. */
    int (*accept_ok)(sp_proxy_t *px, apr_sockaddr_t *sa, void *baton);
    void *baton;
} sp_proxy_hooks_t;

typedef struct sp_proxy_opts_t {
    sp_role_e           role;
    sp_link_settings_t  settings;      /* what our links advertise */
    unsigned            queue_max;     /* server: streams waiting for a worker */
    apr_size_t          high_water;    /* link output bytes before slots wait */
    apr_interval_time_t handshake_timeout;
    /* server: a worker that owes progress (it has input waiting, or the
     * whole request) and makes none for this long is hung: its stream is
     * reset with TIMEOUT and the worker killed (SIGKILL; its supervisor
     * replaces it).  0 = never. */
    apr_interval_time_t worker_timeout;
    int                 log_level;     /* lines above it are not even
                                        * formatted (0 = all) */
} sp_proxy_opts_t;

/* Settings derived from a table: max_frame = half a space - frame header
 * (the longest frame a slot space carries, sp_space.h), stream window =
 * SP_PROXY_WINDOW_SPACES spaces (what a stream may have in flight; the
 * credit goes back a quarter window at a time, as the owner reads). */
void sp_proxy_default_settings(const sp_table_t *t, sp_link_settings_t *s);

apr_status_t sp_proxy_create(sp_proxy_t **px, sp_table_t *t,
                             const sp_secret_t *secret,
                             const sp_proxy_opts_t *opts,
                             const sp_proxy_hooks_t *hooks, apr_pool_t *p);

/* Server: accept links on a listening socket; over TLS if tls. */
apr_status_t sp_proxy_add_listener(sp_proxy_t *px, apr_socket_t *s,
                                   sp_tls_t *tls);

/* Client: starts a non-blocking connect to sa for backend b; *l is the
 * link (not usable until open).  Errors of the connect itself come back
 * through link_closed with close_why set. */
apr_status_t sp_proxy_connect(sp_proxy_t *px, apr_sockaddr_t *sa,
                              unsigned backend, const char *name,
                              sp_tls_t *tls, sp_link_t **l);

/* Client, at start: a new proxy takes over the table (bumps the epoch and
 * aborts every claimed slot, since the previous proxy's streams are gone). */
void sp_proxy_takeover(sp_proxy_t *px);

/* Runs until sp_proxy_stop, or until a drain is complete.  Returns
 * APR_SUCCESS or the error that made it give up (pollset failure). */
apr_status_t sp_proxy_run(sp_proxy_t *px);

/* Async-signal-safe: asks the loop to return (stop) or to drain (no new
 * streams; return when none is left or the drain timeout passed). */
void sp_proxy_stop(sp_proxy_t *px);
void sp_proxy_drain(sp_proxy_t *px, apr_interval_time_t timeout);

/* Streams in flight (attached, queued or waiting for a link). */
unsigned sp_proxy_active(const sp_proxy_t *px);

#endif
