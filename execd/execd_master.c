/*
 * execd_master.c -- the supervisor: forks the proxy and the workers,
 * reaps them, and replaces a worker that died.
 *
 * A worker's death is reported to the proxy as SP_EV_DEAD on its slot;
 * the proxy resets the stream it was serving (the browser gets 502), puts
 * the slot back in order and clears owner_pid; only then is a new worker
 * forked into the slot, so the two never share it.  If the proxy dies,
 * every link is gone anyway: the master stops the workers and starts
 * proxy and workers afresh on a new table.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <apr_time.h>

#include "execd.h"
#include "execd_log.h"

#define RESPAWN_MIN_LIFE  apr_time_from_sec(1)
#define STOP_GRACE        apr_time_from_sec(5)

typedef struct worker_t {
    pid_t      pid;            /* 0: none */
    apr_time_t started;
    apr_time_t not_before;     /* respawn throttle after a quick death */
    int        awaiting_clean; /* DEAD posted, waiting for the proxy */
} worker_t;

static volatile sig_atomic_t got_term, got_hup, got_int;

static void on_signal(int sig)
{
    if (sig == SIGTERM) {
        got_term = 1;
    }
    else if (sig == SIGINT) {
        got_int = 1;
    }
    else if (sig == SIGHUP) {
        got_hup = 1;
    }
}

static void on_chld(int sig)
{
    (void)sig;  /* only interrupts the sleep */
}

static void install(int sig, void (*fn)(int))
{
    struct sigaction sa;

    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  /* no SA_RESTART: signals cut the nap short */
    sigaction(sig, &sa, NULL);
}

static void child_defaults(void)
{
    signal(SIGCHLD, SIG_DFL);
}

static pid_t spawn_proxy(execd_ctx_t *ctx)
{
    pid_t pid = fork();

    if (pid == 0) {
        child_defaults();
        execd_proxy_main(ctx);
    }
    if (pid < 0) {
        execd_log_error(EXECD_LOG_CRIT, "EXD0030", APR_FROM_OS_ERROR(errno),
                        "cannot fork the proxy");
    }
    return pid;
}

static void spawn_worker(execd_ctx_t *ctx, worker_t *w, unsigned slot)
{
    pid_t pid = fork();

    if (pid == 0) {
        child_defaults();
        execd_worker_main(ctx, slot);
    }
    if (pid < 0) {
        execd_log_error(EXECD_LOG_ERR, "EXD0031", APR_FROM_OS_ERROR(errno),
                        "cannot fork a worker for slot %u", slot);
        w->not_before = apr_time_now() + apr_time_from_sec(1);
        return;
    }
    w->pid = pid;
    w->started = apr_time_now();
    w->awaiting_clean = 0;
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    }
    else {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    }
}

static void worker_died(execd_ctx_t *ctx, worker_t *w, unsigned slot,
                        int status, int stopping)
{
    sp_slot_sh_t *sh = sp_table_slot(ctx->table, slot);
    apr_time_t now = apr_time_now();
    char why[128];

    describe_exit(status, why, sizeof(why));
    if (!stopping) {
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        execd_log_error(clean ? EXECD_LOG_INFO : EXECD_LOG_ERR,
                        clean ? "EXD0032" : "EXD0033", 0,
                        "worker slot %u pid %ld %s; replacing it", slot,
                        (long)w->pid, why);
    }
    if (now - w->started < RESPAWN_MIN_LIFE) {
        w->not_before = now + RESPAWN_MIN_LIFE;
    }
    /* Non-zero until the proxy has cleaned the slot. */
    __atomic_store_n(&sh->owner_pid, (int32_t)w->pid, __ATOMIC_RELEASE);
    sp_slot_post_event(ctx->table, slot, SP_EV_DEAD);
    w->pid = 0;
    w->awaiting_clean = 1;
}

static void respawn_workers(execd_ctx_t *ctx, worker_t *ws)
{
    unsigned i, n = ctx->table->sh->nslots;
    apr_time_t now = apr_time_now();

    for (i = 0; i < n; i++) {
        worker_t *w = &ws[i];
        if (w->pid != 0 || now < w->not_before) {
            continue;
        }
        if (w->awaiting_clean
            && __atomic_load_n(&sp_table_slot(ctx->table, i)->owner_pid,
                               __ATOMIC_ACQUIRE) != 0) {
            continue;  /* the proxy has not released the slot yet */
        }
        spawn_worker(ctx, w, i);
    }
}

static void nap(apr_interval_time_t t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)apr_time_sec(t);
    ts.tv_nsec = (long)apr_time_usec(t) * 1000;
    nanosleep(&ts, NULL);
}

static void kill_workers(worker_t *ws, unsigned n, int sig)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if (ws[i].pid > 0) {
            kill(ws[i].pid, sig);
        }
    }
}

static worker_t *find_worker(worker_t *ws, unsigned n, pid_t pid,
                             unsigned *slot)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if (ws[i].pid == pid) {
            *slot = i;
            return &ws[i];
        }
    }
    return NULL;
}

/* Reaps every child that exited.  Returns 1 if the proxy was among them. */
static int reap(execd_ctx_t *ctx, worker_t *ws, pid_t *proxy, int stopping)
{
    unsigned n = ctx->table->sh->nslots, slot;
    int status, proxy_died = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        worker_t *w;
        if (pid == *proxy) {
            char why[128];
            describe_exit(status, why, sizeof(why));
            if (!stopping) {
                execd_log_error(EXECD_LOG_CRIT, "EXD0034", 0, "proxy pid %ld "
                                "%s", (long)pid, why);
            }
            *proxy = 0;
            proxy_died = 1;
        }
        else if ((w = find_worker(ws, n, pid, &slot)) != NULL) {
            worker_died(ctx, w, slot, status, stopping);
        }
    }
    return proxy_died;
}

static int count_workers(worker_t *ws, unsigned n)
{
    unsigned i;
    int c = 0;

    for (i = 0; i < n; i++) {
        c += ws[i].pid > 0;
    }
    return c;
}

/* Stop every worker: TERM (finish the request), then KILL after a grace. */
static void stop_workers(execd_ctx_t *ctx, worker_t *ws, int sig)
{
    unsigned n = ctx->table->sh->nslots;
    apr_time_t until = apr_time_now() + STOP_GRACE;
    pid_t none = -1;

    kill_workers(ws, n, sig);
    while (count_workers(ws, n) > 0 && apr_time_now() < until) {
        reap(ctx, ws, &none, 1);
        nap(apr_time_from_msec(20));
    }
    kill_workers(ws, n, SIGKILL);
    while (count_workers(ws, n) > 0) {
        unsigned slot;
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        worker_t *w;
        if (pid < 0) {
            break;
        }
        if ((w = find_worker(ws, n, pid, &slot)) != NULL) {
            w->pid = 0;
        }
    }
}

/* Graceful stop: the proxy drains, then the workers finish and go. */
static void graceful_stop(execd_ctx_t *ctx, worker_t *ws, pid_t proxy)
{
    apr_time_t until = apr_time_now() + ctx->conf->drain_timeout + STOP_GRACE;

    execd_log_error(EXECD_LOG_NOTICE, "EXD0035", 0, "stopping: draining "
                    "requests in flight (up to %ld s)",
                    (long)apr_time_sec(ctx->conf->drain_timeout));
    if (proxy > 0) {
        kill(proxy, got_int ? SIGINT : SIGTERM);
    }
    while (proxy > 0 && apr_time_now() < until) {
        reap(ctx, ws, &proxy, 1);
        if (got_int && proxy > 0) {
            kill(proxy, SIGINT);
        }
        nap(apr_time_from_msec(20));
    }
    if (proxy > 0) {
        kill(proxy, SIGKILL);
        waitpid(proxy, NULL, 0);
    }
    stop_workers(ctx, ws, SIGTERM);
}

static apr_status_t restart_all(execd_ctx_t *ctx, worker_t *ws, pid_t *proxy)
{
    unsigned n = ctx->table->sh->nslots;
    apr_status_t rv;

    stop_workers(ctx, ws, SIGKILL);
    rv = sp_table_create(&ctx->table, n, ctx->conf->slot_size, ctx->pool);
    if (rv != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_CRIT, "EXD0036", rv, "cannot make a new "
                        "slot table");
        return rv;
    }
    memset(ws, 0, sizeof(*ws) * n);
    *proxy = spawn_proxy(ctx);
    return *proxy > 0 ? APR_SUCCESS : APR_EGENERAL;
}

int execd_master_run(execd_ctx_t *ctx)
{
    unsigned n = (unsigned)ctx->conf->workers;
    worker_t *ws;
    pid_t proxy;
    apr_status_t rv;

    rv = sp_table_create(&ctx->table, n, ctx->conf->slot_size, ctx->pool);
    if (rv != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_CRIT, "EXD0037", rv, "cannot make the slot "
                        "table (%u slots of %lu bytes)", n,
                        (unsigned long)ctx->conf->slot_size);
        return 1;
    }
    ws = apr_pcalloc(ctx->pool, sizeof(*ws) * n);
    install(SIGTERM, on_signal);
    install(SIGINT, on_signal);
    install(SIGHUP, on_signal);
    install(SIGCHLD, on_chld);
    signal(SIGPIPE, SIG_IGN);

    proxy = spawn_proxy(ctx);
    if (proxy < 0) {
        return 1;
    }
    execd_log_error(EXECD_LOG_NOTICE, "EXD0038", 0, "execd pid %ld started: "
                    "%u workers, slot size %lu", (long)getpid(), n,
                    (unsigned long)ctx->conf->slot_size);
    for (;;) {
        if (got_term || got_int) {
            graceful_stop(ctx, ws, proxy);
            break;
        }
        if (got_hup) {
            got_hup = 0;
            execd_log_error(EXECD_LOG_NOTICE, "EXD0039", 0, "SIGHUP: "
                            "re-opening the logs");
            execd_log_open(ctx->foreground ? NULL : ctx->conf->error_log,
                           ctx->conf->access_log, ctx->conf->log_level,
                           ctx->pool);
        }
        if (reap(ctx, ws, &proxy, 0)) {
            execd_log_error(EXECD_LOG_CRIT, "EXD0040", 0, "restarting the "
                            "proxy and every worker");
            if (restart_all(ctx, ws, &proxy) != APR_SUCCESS) {
                break;
            }
        }
        respawn_workers(ctx, ws);
        nap(apr_time_from_msec(100));
    }
    execd_proc_remove_pidfile(ctx);
    execd_listen_unlink(ctx);
    execd_log_error(EXECD_LOG_NOTICE, "EXD0041", 0, "execd pid %ld stopped",
                    (long)getpid());
    return 0;
}
