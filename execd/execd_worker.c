/*
 * execd_worker.c -- an execd worker: owns one slot for life and serves
 * one request at a time from it.
 *
 * Idle -> SP_EV_ATTACH tells the proxy the slot may take a request; the
 * request's HEADERS in the rx space starts it (sp_chan_accept); the
 * handler runs (execd_request.c); the channel is closed and the request
 * pool cleared before the next ATTACH.  SIGTERM lets the current request
 * finish, then the worker exits; so does MaxRequestsPerWorker.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/prctl.h>

#include <apr_time.h>

#include "execd.h"
#include "execd_log.h"
#include "execd_request.h"
#include "sp_chan.h"

static volatile sig_atomic_t stop_after_request;

static void on_term(int sig)
{
    (void)sig;
    stop_after_request = 1;
}

void execd_worker_main(execd_ctx_t *ctx, unsigned slot)
{
    const execd_conf_t *conf = ctx->conf;
    sp_slot_sh_t *sh = sp_table_slot(ctx->table, slot);
    pid_t master = getppid();
    apr_pool_t *rp;
    long served = 0;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execd_proc_signal(SIGTERM, on_term, 1);
    execd_proc_signal(SIGHUP, SIG_IGN, 1);
    execd_proc_signal(SIGINT, SIG_IGN, 1);
    execd_proc_signal(SIGPIPE, SIG_IGN, 1);
    if (execd_proc_drop_privileges(ctx) != APR_SUCCESS) {
        exit(1);
    }
    /* A worker never accepts: holding the listeners would keep a stopped
     * execd's sockets connectable. */
    {
        int i;
        for (i = 0; i < ctx->listeners->nelts; i++) {
            apr_socket_close(APR_ARRAY_IDX(ctx->listeners, i,
                                           apr_socket_t *));
        }
    }
    apr_pool_create(&rp, ctx->pool);
    apr_pool_tag(rp, "execd_request");

    __atomic_store_n(&sh->owner_pid, (int32_t)getpid(), __ATOMIC_RELEASE);
    sp_slot_post_event(ctx->table, slot, SP_EV_ATTACH);
    while (!stop_after_request) {
        execd_served_t res = { 0 };
        sp_chan_t c;
        apr_status_t rv = sp_chan_accept(&c, ctx->table, slot,
                                         apr_time_from_msec(250), conf->timeout);
        if (rv == APR_TIMEUP) {
            if (getppid() != master) {
                break;  /* the master is gone */
            }
            continue;
        }
        if (rv != APR_SUCCESS) {
            execd_log_error(EXECD_LOG_ERR, "EXD0020", rv, "worker slot %u: "
                            "waiting for a request failed", slot);
            break;
        }
        execd_serve(conf, &c, rp, &res);
        sp_chan_close(&c);
        apr_pool_clear(rp);
        served++;
        if (conf->max_requests_per_worker > 0
            && served >= conf->max_requests_per_worker) {
            execd_log_error(EXECD_LOG_INFO, "EXD0021", 0, "worker slot %u pid "
                            "%ld retires after %ld requests", slot,
                            (long)getpid(), served);
            break;
        }
        sp_slot_post_event(ctx->table, slot, SP_EV_ATTACH);
    }
    exit(0);
}
