/*
 * execd_master.c -- the supervisor: forks the proxy and the workers of a
 * generation, reaps them, replaces a worker that died, and on SIGHUP
 * replaces the whole generation without failing a request.
 *
 * A worker's death is reported to the proxy as SP_EV_DEAD on its slot;
 * the proxy resets the stream it was serving (the browser gets 502), puts
 * the slot back in order and clears owner_pid; only then is a new worker
 * forked into the slot, so the two never share it.  If the proxy dies,
 * every link is gone anyway: the master stops the workers and starts the
 * generation afresh on a new table.
 *
 * Reload (SIGHUP): the configuration is read again; if it is good a new
 * generation (table, proxy, workers) starts on its listeners (an address
 * both configurations name keeps its socket; execd_listen.c) and the
 * old proxy is told to drain: it stops accepting, sends DRAIN on its
 * links, finishes what it has and exits; then its workers are retired.
 * Front ends open a new link on DRAIN, which the new proxy accepts.  A
 * configuration with an error is logged and the old generation goes on.
 *
 * The master is the child subreaper of everything below it: a process a
 * CGI program left running in the background, once that program exits,
 * becomes the master's child, and the master reaps it when it ends, so
 * no zombie is left behind even where PID 1 does not reap (a container
 * whose first process is a shell or execd's own wrapper).  Stopping
 * waits only for the proxy and the workers, not for those.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "execd.h"
#include "execd_log.h"
#include "sp_errors.h"

#define RESPAWN_MIN_LIFE  apr_time_from_sec(1)
#define STOP_GRACE        apr_time_from_sec(5)
#define MAX_OLD_GENS      8

typedef struct worker_t {
    pid_t      pid;            /* 0: none */
    apr_time_t started;
    apr_time_t not_before;     /* respawn throttle after a quick death */
    int        awaiting_clean; /* DEAD posted, waiting for the proxy */
} worker_t;

typedef struct gen_t {
    apr_pool_t   *pool;        /* the table and the workers array */
    execd_conf_t *conf;
    sp_table_t   *table;
    pid_t         proxy;
    worker_t     *ws;
    unsigned      n;
    int           number;      /* 1, 2, ... for the log */
    apr_time_t    retire_by;   /* old generation: SIGKILL after this */
    int           workers_told;/* old generation: SIGTERM sent to workers */
} gen_t;

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
    (void)sig;  /* only interrupts the nap */
}

static void nap(apr_interval_time_t t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)apr_time_sec(t);
    ts.tv_nsec = (long)apr_time_usec(t) * 1000;
    nanosleep(&ts, NULL);
}

/* The children read the generation's settings from ctx. */
static void point_ctx_at(execd_ctx_t *ctx, gen_t *g)
{
    ctx->conf = g->conf;
    ctx->table = g->table;
}

static pid_t spawn_proxy(execd_ctx_t *ctx, gen_t *g)
{
    pid_t pid;

    point_ctx_at(ctx, g);
    pid = fork();
    if (pid == 0) {
        signal(SIGCHLD, SIG_DFL);
        execd_listen_close_stale(ctx);
        execd_proxy_main(ctx);
    }
    if (pid < 0) {
        execd_log_error(EXECD_LOG_CRIT, "EXD0030", APR_FROM_OS_ERROR(errno),
                        "cannot fork the proxy");
    }
    return pid;
}

static void spawn_worker(execd_ctx_t *ctx, gen_t *g, unsigned slot)
{
    worker_t *w = &g->ws[slot];
    pid_t pid;

    point_ctx_at(ctx, g);
    pid = fork();
    if (pid == 0) {
        signal(SIGCHLD, SIG_DFL);
        execd_listen_close_stale(ctx);
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

/* Makes a generation: its table and the bookkeeping of its workers. */
static apr_status_t gen_create(gen_t **gp, execd_ctx_t *ctx,
                               execd_conf_t *conf, apr_pool_t *pool,
                               int number)
{
    gen_t *g = apr_pcalloc(pool, sizeof(*g));
    apr_status_t rv;

    g->pool = pool;
    g->conf = conf;
    g->n = (unsigned)conf->workers;
    g->number = number;
    g->ws = apr_pcalloc(pool, sizeof(worker_t) * g->n);
    rv = sp_table_create(&g->table, g->n, conf->slot_size, pool);
    if (rv != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_CRIT, "EXD0037", rv, "cannot make the slot "
                        "table (%u slots of %lu bytes)", g->n,
                        (unsigned long)conf->slot_size);
        return rv;
    }
    g->proxy = spawn_proxy(ctx, g);
    if (g->proxy < 0) {
        return APR_EGENERAL;
    }
    *gp = g;
    return APR_SUCCESS;
}

static int gen_alive(const gen_t *g)
{
    unsigned i;

    if (g->proxy > 0) {
        return 1;
    }
    for (i = 0; i < g->n; i++) {
        if (g->ws[i].pid > 0) {
            return 1;
        }
    }
    return 0;
}

static void gen_signal_workers(gen_t *g, int sig)
{
    unsigned i;

    for (i = 0; i < g->n; i++) {
        if (g->ws[i].pid > 0) {
            kill(g->ws[i].pid, sig);
        }
    }
}

static void worker_died(gen_t *g, unsigned slot, int status, int quiet)
{
    worker_t *w = &g->ws[slot];
    sp_slot_sh_t *sh = sp_table_slot(g->table, slot);
    apr_time_t now = apr_time_now();
    char why[128];

    describe_exit(status, why, sizeof(why));
    if (!quiet) {
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        execd_log_error(clean ? EXECD_LOG_INFO : EXECD_LOG_ERR,
                        clean ? "EXD0032" : "EXD0033", 0,
                        "worker slot %u pid %ld %s; replacing it", slot,
                        (long)w->pid, why);
    }
    if (now - w->started < RESPAWN_MIN_LIFE
        && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        w->not_before = now + RESPAWN_MIN_LIFE;  /* crash loop: slow down */
    }
    /* Non-zero until the proxy has cleaned the slot. */
    __atomic_store_n(&sh->owner_pid, (int32_t)w->pid, __ATOMIC_RELEASE);
    sp_slot_post_event(g->table, slot, SP_EV_DEAD);
    w->pid = 0;
    w->awaiting_clean = 1;
}

static void respawn_workers(execd_ctx_t *ctx, gen_t *g)
{
    apr_time_t now = apr_time_now();
    unsigned i;

    for (i = 0; i < g->n; i++) {
        worker_t *w = &g->ws[i];
        if (w->pid != 0 || now < w->not_before) {
            continue;
        }
        if (w->awaiting_clean
            && __atomic_load_n(&sp_table_slot(g->table, i)->owner_pid,
                               __ATOMIC_ACQUIRE) != 0) {
            continue;  /* the proxy has not released the slot yet */
        }
        spawn_worker(ctx, g, i);
    }
}

/* Which generation, and which of its children, is pid?  Returns the slot
 * for a worker, -1 for the proxy, -2 if unknown. */
static int find_child(gen_t *cur, gen_t **old, int nold, pid_t pid,
                      gen_t **which)
{
    int k;

    for (k = -1; k < nold; k++) {
        gen_t *g = k < 0 ? cur : old[k];
        unsigned i;
        if (!g) {
            continue;
        }
        if (g->proxy == pid) {
            *which = g;
            return -1;
        }
        for (i = 0; i < g->n; i++) {
            if (g->ws[i].pid == pid) {
                *which = g;
                return (int)i;
            }
        }
    }
    return -2;
}

typedef struct master_t {
    execd_ctx_t *ctx;
    gen_t       *cur;
    gen_t       *old[MAX_OLD_GENS];
    int          nold;
    int          next_number;
    int          stopping;
} master_t;

/* Reaps every child that exited.  Returns 1 if the current proxy died. */
static int reap(master_t *m)
{
    int status, cur_proxy_died = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        gen_t *g = NULL;
        int what = find_child(m->cur, m->old, m->nold, pid, &g);
        char why[128];

        if (what == -2) {
            continue;  /* a CGI grandchild's leftover, or already forgotten */
        }
        if (what == -1) {
            g->proxy = 0;
            if (g == m->cur && !m->stopping) {
                describe_exit(status, why, sizeof(why));
                execd_log_error(EXECD_LOG_CRIT, "EXD0034", 0, "proxy pid %ld "
                                "%s", (long)pid, why);
                cur_proxy_died = 1;
            }
            else if (g != m->cur) {  /* drained: retire its workers */
                gen_signal_workers(g, SIGTERM);
                g->workers_told = 1;
            }
            continue;
        }
        if (g == m->cur && !m->stopping) {
            worker_died(g, (unsigned)what, status, 0);
        }
        else {
            g->ws[what].pid = 0;
        }
    }
    return cur_proxy_died;
}

static void forget_finished_gens(master_t *m)
{
    apr_time_t now = apr_time_now();
    int k = 0;

    while (k < m->nold) {
        gen_t *g = m->old[k];
        if (gen_alive(g) && now > g->retire_by) {
            execd_log_error(EXECD_LOG_WARN, "EXD0042", 0, "generation %d did "
                            "not finish draining in time: killing it",
                            g->number);
            if (g->proxy > 0) {
                kill(g->proxy, SIGKILL);
            }
            gen_signal_workers(g, SIGKILL);
            g->retire_by = now + STOP_GRACE;
        }
        if (!gen_alive(g)) {
            execd_log_error(EXECD_LOG_INFO, "EXD0043", 0, "generation %d "
                            "retired", g->number);
            apr_pool_destroy(g->pool);
            m->old[k] = m->old[--m->nold];
            continue;
        }
        k++;
    }
}

static void retire(master_t *m, gen_t *g)
{
    g->retire_by = apr_time_now() + g->conf->drain_timeout + STOP_GRACE;
    if (g->proxy > 0) {
        kill(g->proxy, SIGTERM);
    }
    else {
        gen_signal_workers(g, SIGTERM);
        g->workers_told = 1;
    }
    m->old[m->nold++] = g;
}

/* SIGHUP: a new generation from the configuration file as it is now. */
static void reload(master_t *m)
{
    execd_ctx_t *ctx = m->ctx;
    execd_conf_t *conf;
    apr_pool_t *pool;
    sp_secret_t secret;
    const char *err = NULL;
    gen_t *g;
    apr_status_t rv;
    execd_relisten_t rl;
    apr_array_header_t *was;
    sp_tls_t *tls = NULL, *was_tls = ctx->tls;
    sp_secret_t was_secret = ctx->secret;

    if (m->nold >= MAX_OLD_GENS) {
        execd_log_error(EXECD_LOG_ERR, "EXD0044", 0, "reload refused: %d "
                        "generations are still draining", m->nold);
        return;
    }
    apr_pool_create(&pool, ctx->pool);
    apr_pool_tag(pool, "execd_generation");
    if ((rv = execd_conf_load(&conf, m->cur->conf->file, pool, &err)) != 0
        || (rv = execd_conf_load_modules(conf, pool, &err)) != 0
        || (rv = sp_secret_load(&secret, conf->secret_file, pool, &err))
           != 0) {
        char buf[256];
        execd_log_error(EXECD_LOG_ERR, "EXD0045", 0, "reload refused, the "
                        "running configuration stays: %s",
                        err ? err : sp_strerror(rv, buf, sizeof(buf)));
        apr_pool_destroy(pool);
        return;
    }
    if (conf->tls.cert_file
        && sp_tls_create(&tls, SP_ROLE_SERVER, &conf->tls, pool, &err)
           != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_ERR, "EXD0048", 0, "reload refused, the "
                        "running configuration stays: %s", err);
        apr_pool_destroy(pool);
        return;
    }
    /* Last of the checks: it binds new addresses. */
    rv = execd_listen_prepare(ctx, conf, &rl, pool, &err);
    if (rv != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_ERR, "EXD0045", 0, "reload refused, the "
                        "running configuration stays: %s", err);
        apr_pool_destroy(pool);
        return;
    }
    /* The new generation's secret and TLS live in its pool: the running
     * ones come back if it does not start. */
    ctx->secret = secret;
    ctx->tls = tls;
    execd_log_open(ctx->foreground ? NULL : conf->error_log,
                   conf->access_log, conf->log_level, ctx->pool);
    /* The new proxy gets the new listeners; the master keeps the dropped
     * ones open (the old proxy still accepts on them) until it has forked,
     * and the new proxy closes its copies of them. */
    was = ctx->listeners;
    ctx->listeners = rl.listeners;
    ctx->stale = rl.dropped;
    if (gen_create(&g, ctx, conf, pool, m->next_number++) != APR_SUCCESS) {
        ctx->listeners = was;
        ctx->stale = NULL;
        ctx->secret = was_secret;
        ctx->tls = was_tls;
        execd_listen_abandon(&rl);
        apr_pool_destroy(pool);
        point_ctx_at(ctx, m->cur);
        return;
    }
    ctx->stale = NULL;
    execd_listen_commit(&rl);
    retire(m, m->cur);
    m->cur = g;
    execd_log_error(EXECD_LOG_NOTICE, "EXD0047", 0, "reloaded: generation %d "
                    "(%u workers) serves, generation %d drains", g->number,
                    g->n, m->old[m->nold - 1]->number);
}

static void wait_all_gone(master_t *m, apr_time_t until)
{
    int k;

    while (apr_time_now() < until) {
        int alive = gen_alive(m->cur);
        reap(m);
        for (k = 0; k < m->nold; k++) {
            alive |= gen_alive(m->old[k]);
            if (m->old[k]->proxy == 0 && !m->old[k]->workers_told) {
                gen_signal_workers(m->old[k], SIGTERM);
                m->old[k]->workers_told = 1;
            }
        }
        if (m->cur->proxy == 0 && !m->cur->workers_told) {
            gen_signal_workers(m->cur, SIGTERM);
            m->cur->workers_told = 1;
        }
        if (!alive) {
            return;
        }
        nap(apr_time_from_msec(20));
    }
}

static void wait_for(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

static void kill_everything(master_t *m)
{
    int k;

    for (k = -1; k < m->nold; k++) {
        gen_t *g = k < 0 ? m->cur : m->old[k];
        if (g->proxy > 0) {
            kill(g->proxy, SIGKILL);
        }
        gen_signal_workers(g, SIGKILL);
    }
    /* Only those: a subreaper may also have processes that CGI programs
     * left running, which may run for long. */
    for (k = -1; k < m->nold; k++) {
        gen_t *g = k < 0 ? m->cur : m->old[k];
        unsigned i;
        if (g->proxy > 0) {
            wait_for(g->proxy);
            g->proxy = 0;
        }
        for (i = 0; i < g->n; i++) {
            if (g->ws[i].pid > 0) {
                wait_for(g->ws[i].pid);
                g->ws[i].pid = 0;
            }
        }
    }
}

/* Graceful stop: every proxy drains, then the workers finish and go. */
static void graceful_stop(master_t *m)
{
    apr_time_t until = apr_time_now() + m->ctx->conf->drain_timeout
                       + STOP_GRACE;
    int k;

    m->stopping = 1;
    /* New connections are refused at once (front ends answer 503) rather
     * than left in a backlog that nobody will accept. */
    for (k = 0; k < m->ctx->listeners->nelts; k++) {
        apr_socket_close(APR_ARRAY_IDX(m->ctx->listeners, k,
                                       apr_socket_t *));
    }
    execd_listen_unlink(m->ctx);
    execd_log_error(EXECD_LOG_NOTICE, "EXD0035", 0, "stopping: draining "
                    "requests in flight (up to %ld s)",
                    (long)apr_time_sec(m->ctx->conf->drain_timeout));
    for (k = -1; k < m->nold; k++) {
        gen_t *g = k < 0 ? m->cur : m->old[k];
        if (g->proxy > 0) {
            kill(g->proxy, got_int ? SIGINT : SIGTERM);
        }
    }
    wait_all_gone(m, until);
    kill_everything(m);
}

static apr_status_t restart_current(master_t *m)
{
    execd_ctx_t *ctx = m->ctx;
    gen_t *old = m->cur, *g;
    apr_pool_t *pool;

    gen_signal_workers(old, SIGKILL);
    while (gen_alive(old)) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        gen_t *which = NULL;
        int what;
        if (pid < 0) {
            break;
        }
        what = find_child(old, NULL, 0, pid, &which);
        if (what >= 0) {
            old->ws[what].pid = 0;
        }
    }
    apr_pool_create(&pool, ctx->pool);
    apr_pool_tag(pool, "execd_generation");
    if (gen_create(&g, ctx, old->conf, pool, m->next_number++)
        != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    /* The configuration lives in the old pool: keep that pool. */
    m->cur = g;
    return APR_SUCCESS;
}

int execd_master_run(execd_ctx_t *ctx)
{
    master_t m;
    apr_pool_t *pool;

    memset(&m, 0, sizeof(m));
    m.ctx = ctx;
    m.next_number = 1;
    execd_proc_signal(SIGTERM, on_signal, 0);
    execd_proc_signal(SIGINT, on_signal, 0);
    execd_proc_signal(SIGHUP, on_signal, 0);
    execd_proc_signal(SIGCHLD, on_chld, 0);
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        execd_log_error(EXECD_LOG_WARN, "EXD0049", APR_FROM_OS_ERROR(errno),
                        "cannot become the subreaper of the processes CGI "
                        "programs leave behind: PID 1 will have to reap "
                        "them");
    }

    apr_pool_create(&pool, ctx->pool);
    apr_pool_tag(pool, "execd_generation");
    if (gen_create(&m.cur, ctx, ctx->conf, pool, m.next_number++)
        != APR_SUCCESS) {
        return 1;
    }
    execd_log_error(EXECD_LOG_NOTICE, "EXD0038", 0, "execd pid %ld started: "
                    "%u workers, slot size %lu", (long)getpid(), m.cur->n,
                    (unsigned long)ctx->conf->slot_size);
    for (;;) {
        if (got_term || got_int) {
            graceful_stop(&m);
            break;
        }
        if (got_hup) {
            got_hup = 0;
            reload(&m);
        }
        if (reap(&m)) {
            execd_log_error(EXECD_LOG_CRIT, "EXD0040", 0, "restarting the "
                            "proxy and every worker");
            if (restart_current(&m) != APR_SUCCESS) {
                kill_everything(&m);
                break;
            }
        }
        respawn_workers(ctx, m.cur);
        forget_finished_gens(&m);
        nap(apr_time_from_msec(100));
    }
    execd_proc_remove_pidfile(ctx);
    execd_listen_unlink(ctx);
    execd_log_error(EXECD_LOG_NOTICE, "EXD0041", 0, "execd pid %ld stopped",
                    (long)getpid());
    return 0;
}
