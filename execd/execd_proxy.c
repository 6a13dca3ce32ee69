/*
 * execd_proxy.c -- execd's proxy process: accepts links from front ends,
 * authenticates them, and runs the proxy engine (common/sp_proxy.c) in the
 * server role over the workers' slot table.
 *
 * SIGTERM drains (no new requests, DRAIN to every link, exit when the
 * requests in flight are done or DrainTimeout passed); SIGINT stops now.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "execd.h"
#include "execd_log.h"
#include "sp_proxy.h"
#include "sp_sched.h"

static sp_proxy_t *the_proxy;
static apr_interval_time_t the_drain_timeout;

static void on_term(int sig)
{
    (void)sig;
    if (the_proxy) {
        sp_proxy_drain(the_proxy, the_drain_timeout);
    }
}

static void on_int(int sig)
{
    (void)sig;
    if (the_proxy) {
        sp_proxy_stop(the_proxy);
    }
}

static void log_cb(void *baton, int level, const char *tag, apr_status_t rv,
                   const char *msg)
{
    (void)baton;
    execd_log_error(level, tag, rv, "%s", msg);
}

static int allow_cb(sp_proxy_t *px, apr_sockaddr_t *sa, void *baton)
{
    execd_ctx_t *ctx = baton;

    (void)px;
    return execd_conf_allows(ctx->conf, sa);
}

void execd_proxy_main(execd_ctx_t *ctx)
{
    sp_proxy_opts_t opts = { 0 };
    sp_proxy_hooks_t hooks = { 0 };
    apr_status_t rv;
    int i;

    prctl(PR_SET_PDEATHSIG, SIGINT);
    execd_proc_signal(SIGTERM, on_term, 1);
    execd_proc_signal(SIGINT, on_int, 1);
    execd_proc_signal(SIGHUP, SIG_IGN, 1);
    execd_proc_signal(SIGPIPE, SIG_IGN, 1);
    if (execd_proc_drop_privileges(ctx) != APR_SUCCESS) {
        exit(1);
    }
    if (ctx->conf->batch_sched
        && (rv = sp_sched_batch(1)) != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_WARN, "EXD0014", rv, "proxy: cannot run "
                        "in SCHED_BATCH (BatchScheduling); it keeps the "
                        "default class");
    }
    opts.role = SP_ROLE_SERVER;
    sp_proxy_default_settings(ctx->table, &opts.settings);
    opts.queue_max = (unsigned)ctx->conf->queue_size;
    opts.high_water = 1024 * 1024;
    opts.worker_timeout = ctx->conf->timeout;
    opts.log_level = ctx->conf->log_level;
    hooks.log = log_cb;
    hooks.accept_ok = allow_cb;
    hooks.baton = ctx;
    the_drain_timeout = ctx->conf->drain_timeout;

    rv = sp_proxy_create(&the_proxy, ctx->table, &ctx->secret, &opts, &hooks,
                         ctx->pool);
    if (rv != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_CRIT, "EXD0010", rv, "proxy: cannot set up "
                        "its poll set");
        exit(1);
    }
    for (i = 0; i < ctx->listeners->nelts; i++) {
        const execd_listen_t *ls = &APR_ARRAY_IDX(ctx->conf->listens, i,
                                                  execd_listen_t);
        rv = sp_proxy_add_listener(the_proxy,
                                   APR_ARRAY_IDX(ctx->listeners, i,
                                                 apr_socket_t *),
                                   ls->tls ? ctx->tls : NULL);
        if (rv != APR_SUCCESS) {
            execd_log_error(EXECD_LOG_CRIT, "EXD0011", rv, "proxy: cannot "
                            "poll listener %d", i);
            exit(1);
        }
    }
    execd_log_error(EXECD_LOG_INFO, "EXD0012", 0, "proxy pid %ld serving %u "
                    "worker slots", (long)getpid(), ctx->table->sh->nslots);
    rv = sp_proxy_run(the_proxy);
    execd_log_error(EXECD_LOG_INFO, "EXD0013", rv, "proxy pid %ld exits",
                    (long)getpid());
    exit(rv == APR_SUCCESS ? 0 : 1);
}
