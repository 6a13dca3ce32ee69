/*
 * execd.h -- what execd's processes share: the context the master builds
 * before it forks the proxy and the workers.
 *
 *   master --fork--> proxy   (accepts links, dispatches to worker slots)
 *          --fork--> worker 0..N-1 (one slot each, runs handlers)
 *
 * The master keeps root (to re-open logs and bind on reload); the proxy
 * and the workers switch to User/Group before they touch a request.
 */
#ifndef EXECD_H
#define EXECD_H

#include <sys/types.h>
#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "execd_conf.h"
#include "sp_auth.h"
#include "sp_table.h"

typedef struct execd_ctx_t {
    apr_pool_t         *pool;
    execd_conf_t       *conf;
    sp_secret_t         secret;
    sp_table_t         *table;
    apr_array_header_t *listeners;   /* apr_socket_t *, one per
                                      * conf->listens entry */
    apr_array_header_t *stale;       /* during a reload: sockets the master
                                      * still holds for the old generation
                                      * only; a child closes them at start */
    sp_tls_t           *tls;         /* for "Listen ... tls", or NULL */
    int                 foreground;
    int                 switch_user; /* running as root with User set */
    uid_t               uid;
    gid_t               gid;
} execd_ctx_t;

/* execd_listen.c: binds every Listen (unix sockets get mode 0666: the
 * shared secret is the access control).  Errors name the address. */
apr_status_t execd_listen_all(execd_ctx_t *ctx, const char **err);
void         execd_listen_unlink(execd_ctx_t *ctx);

/* Reload: the listening sockets of a new configuration.  An address the
 * running configuration listens on keeps its socket (no connection is
 * refused meanwhile); the others are bound now. */
typedef struct execd_relisten_t {
    apr_array_header_t *listeners;   /* apr_socket_t *, per conf->listens */
    apr_array_header_t *fresh;       /* those bound now */
    apr_array_header_t *fresh_ls;    /* their Listen lines
                                      * (const execd_listen_t *) */
    apr_array_header_t *dropped;     /* running ones not kept */
    apr_array_header_t *dropped_ls;  /* their Listen lines */
} execd_relisten_t;

/* Binds what conf adds to ctx->conf's listeners; rl's lists live in p
 * (the new generation's pool).  On failure (address in use, ...) nothing
 * new stays bound and *err names the address. */
apr_status_t execd_listen_prepare(execd_ctx_t *ctx, const execd_conf_t *conf,
                                  execd_relisten_t *rl, apr_pool_t *p,
                                  const char **err);
/* The new generation did not start: closes what prepare bound. */
void execd_listen_abandon(execd_relisten_t *rl);
/* It started: closes the master's copies of the dropped listeners (the
 * old proxy closes its own when it drains), removes their UNIX socket
 * files, and logs what was added (EXD0050) and dropped (EXD0051). */
void execd_listen_commit(execd_relisten_t *rl);
/* In a new child: closes ctx->stale. */
void execd_listen_close_stale(execd_ctx_t *ctx);

/* execd_proc.c: user lookup, privilege drop, daemonizing, pid file. */
apr_status_t execd_proc_resolve_user(execd_ctx_t *ctx, const char **err);
apr_status_t execd_proc_drop_privileges(execd_ctx_t *ctx);
/* keep_stderr: no ErrorLog is configured, stderr is the log. */
apr_status_t execd_proc_daemonize(int keep_stderr);
apr_status_t execd_proc_write_pidfile(execd_ctx_t *ctx);
void         execd_proc_remove_pidfile(execd_ctx_t *ctx);
/* sigaction(sig, fn); restart: SA_RESTART (else a signal cuts a sleep). */
void         execd_proc_signal(int sig, void (*fn)(int), int restart);

/* execd_proxy.c / execd_worker.c: bodies of the child processes; they
 * never return. */
void execd_proxy_main(execd_ctx_t *ctx) __attribute__((noreturn));
void execd_worker_main(execd_ctx_t *ctx, unsigned slot)
    __attribute__((noreturn));

/* execd_master.c: forks the children and supervises them until stopped.
 * Returns the exit code for main(). */
int execd_master_run(execd_ctx_t *ctx);

#endif
