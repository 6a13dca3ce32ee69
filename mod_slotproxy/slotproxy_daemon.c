/*
 * slotproxy_daemon.c -- the proxy child of an Apache instance.
 *
 * post_config (in the parent, as root, once per generation) makes the slot
 * table, reads the shared secret and resolves the backends, then forks the
 * proxy child, as mod_cgid forks its daemon.  The parent watches it with
 * apr_proc_other_child_register: if it dies it is forked again (within
 * the MPM's one-second maintenance tick) and takes the table over, failing
 * the requests it had in flight with 502.
 *
 * The child closes Apache's listeners, drops root like the other children
 * (the drop_privileges hook), connects `links` links to every backend and
 * runs the proxy engine in the client role.  On a graceful restart or stop
 * (SIGUSR1, SIGWINCH, SIGHUP or SIGTERM: prefork signals the whole process
 * group; the pconf cleanup sends SIGTERM) it drains: it keeps carrying the
 * old generation's requests and exits once no child of that generation
 * holds a slot.
 */
#include "httpd.h"
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "apr_strings.h"
#include "apr_signal.h"
#include "apr_thread_proc.h"

#include "ap_listen.h"
#include "ap_mpm.h"
#include "http_core.h"
#include "http_log.h"
#include "mpm_common.h"

#include "slotproxy.h"
#include "sp_errors.h"
#include "sp_proxy.h"
#include "sp_sched.h"

APLOG_USE_MODULE(slotproxy);

#define BACKOFF_MIN  apr_time_from_msec(100)
#define BACKOFF_MAX  apr_time_from_sec(5)
#define DRAIN_MAX    apr_time_from_sec(3600)

slotproxy_global_t *slotproxy_global;

/* --- the child ----------------------------------------------------------- */

typedef struct backend_state_t {
    sp_link_t         **links;       /* [links] open or connecting, or NULL */
    unsigned            rr;
    apr_time_t          next_try;
    apr_interval_time_t backoff;
    apr_time_t          last_logged;
    int                 ever_open;
} backend_state_t;

typedef struct child_t {
    slotproxy_global_t *g;
    sp_proxy_t         *px;
    backend_state_t    *bs;
    apr_pool_t         *pool;
} child_t;

static sp_proxy_t *the_proxy;

static void on_drain_signal(int sig)
{
    (void)sig;
    if (the_proxy) {
        sp_proxy_drain(the_proxy, DRAIN_MAX);
    }
}

static void log_cb(void *baton, int level, const char *tag, apr_status_t rv,
                   const char *msg)
{
    child_t *ch = baton;
    char buf[256];

    if (rv >= SP_ERRSPACE && rv < SP_ERRSPACE + 100) {
        /* Our own codes: httpd would print "APR does not understand". */
        ap_log_error(APLOG_MARK, level, 0, ch->g->s, "%s: %s (%s)", tag, msg,
                     sp_strerror(rv, buf, sizeof(buf)));
        return;
    }
    ap_log_error(APLOG_MARK, level, rv, ch->g->s, "%s: %s", tag, msg);
}

static const slotproxy_backend_t *backend_at(child_t *ch, unsigned b)
{
    return &APR_ARRAY_IDX(ch->g->backends, b, slotproxy_backend_t);
}

static const char *backend_name(unsigned b, void *baton)
{
    child_t *ch = baton;

    return b < (unsigned)ch->g->backends->nelts ? backend_at(ch, b)->name
                                                : "?";
}

static sp_link_t *pick_link(sp_proxy_t *px, unsigned b, void *baton)
{
    child_t *ch = baton;
    backend_state_t *bs;
    int n, i;

    (void)px;
    if (b >= (unsigned)ch->g->backends->nelts) {
        return NULL;
    }
    bs = &ch->bs[b];
    n = backend_at(ch, b)->links;
    for (i = 0; i < n; i++) {
        sp_link_t *l = bs->links[(bs->rr + (unsigned)i) % (unsigned)n];
        if (l && sp_link_usable(l)
            && l->nstreams < l->peer_set.max_streams) {
            bs->rr = (bs->rr + (unsigned)i + 1) % (unsigned)n;
            return l;
        }
    }
    return NULL;
}

static void connect_backend(child_t *ch, unsigned b, int i, apr_time_t now)
{
    const slotproxy_backend_t *be = backend_at(ch, b);
    backend_state_t *bs = &ch->bs[b];
    apr_status_t rv;

    rv = sp_proxy_connect(ch->px, be->addr, b, be->url, be->tls,
                          &bs->links[i]);
    if (rv != APR_SUCCESS) {
        bs->links[i] = NULL;
        if (now - bs->last_logged > apr_time_from_sec(30)) {
            bs->last_logged = now;
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, ch->g->s, "SPX0201: "
                         "backend %s: cannot connect to %s", be->name,
                         be->url);
        }
        bs->next_try = now + bs->backoff;
        bs->backoff = bs->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
                                                   : bs->backoff * 2;
    }
}

static void tick(sp_proxy_t *px, apr_time_t now, void *baton)
{
    child_t *ch = baton;
    int b, i;

    (void)px;
    for (b = 0; b < ch->g->backends->nelts; b++) {
        backend_state_t *bs = &ch->bs[b];
        if (now < bs->next_try) {
            continue;
        }
        for (i = 0; i < backend_at(ch, (unsigned)b)->links; i++) {
            if (!bs->links[i]) {
                connect_backend(ch, (unsigned)b, i, now);
            }
        }
    }
}

static void link_open(sp_proxy_t *px, sp_link_t *l, void *baton)
{
    child_t *ch = baton;
    backend_state_t *bs = &ch->bs[l->backend];

    (void)px;
    bs->backoff = BACKOFF_MIN;
    bs->ever_open = 1;
    bs->last_logged = 0;
}

static void link_draining(sp_proxy_t *px, sp_link_t *l, void *baton)
{
    child_t *ch = baton;
    backend_state_t *bs = &ch->bs[l->backend];
    int i;

    (void)px;
    bs->backoff = BACKOFF_MIN;
    for (i = 0; i < backend_at(ch, l->backend)->links; i++) {
        if (bs->links[i] == l) {
            /* A fresh link replaces it at once: requests that come before
             * it is up wait for it (they see a link being connected). */
            bs->links[i] = NULL;
            connect_backend(ch, l->backend, i, apr_time_now());
        }
    }
}

static void link_closed(sp_proxy_t *px, sp_link_t *l, void *baton)
{
    child_t *ch = baton;
    backend_state_t *bs = &ch->bs[l->backend];
    int i, ours = 0;

    (void)px;
    for (i = 0; i < backend_at(ch, l->backend)->links; i++) {
        if (bs->links[i] == l) {
            bs->links[i] = NULL;
            ours = 1;
        }
    }
    if (!ours) {
        return;  /* a drained link, already replaced */
    }
    bs->next_try = apr_time_now() + bs->backoff;
    bs->backoff = bs->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
                                               : bs->backoff * 2;
}

/* SlotProxyBatchScheduling (sp_sched.h says why On is the default).  A
 * system without SCHED_BATCH runs the child as it is and says so once. */
static void set_sched(slotproxy_global_t *g)
{
    apr_status_t rv;

    if (!g->batch_sched) {
        return;
    }
    rv = sp_sched_batch(1);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, g->s, "SPX0212: proxy "
                     "child cannot run in SCHED_BATCH "
                     "(SlotProxyBatchScheduling); it keeps the default "
                     "class");
    }
}

static void child_main(slotproxy_global_t *g)
{
    sp_proxy_opts_t opts = { 0 };
    sp_proxy_hooks_t hooks = { 0 };
    child_t ch = { 0 };
    apr_status_t rv;
    int b;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    apr_signal(SIGTERM, on_drain_signal);
    apr_signal(SIGHUP, on_drain_signal);
    apr_signal(SIGUSR1, on_drain_signal);
    apr_signal(SIGWINCH, on_drain_signal);
    apr_signal(SIGPIPE, SIG_IGN);
    apr_signal(SIGCHLD, SIG_DFL);
    ap_close_listeners();

    apr_pool_create(&ch.pool, g->pconf);
    apr_pool_tag(ch.pool, "slotproxy_child");
    if (ap_run_drop_privileges(ch.pool, g->s) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, g->s, "SPX0202: proxy child "
                     "could not drop privileges; exiting");
        _exit(1);
    }
    set_sched(g);
    ch.g = g;
    ch.bs = apr_pcalloc(ch.pool, sizeof(backend_state_t)
                                 * (apr_size_t)g->backends->nelts);
    for (b = 0; b < g->backends->nelts; b++) {
        ch.bs[b].links = apr_pcalloc(ch.pool, sizeof(sp_link_t *)
                                     * (apr_size_t)backend_at(&ch, (unsigned)b)->links);
        ch.bs[b].backoff = BACKOFF_MIN;
    }
    opts.role = SP_ROLE_CLIENT;
    sp_proxy_default_settings(g->table, &opts.settings);
    opts.high_water = 1024 * 1024;
    opts.log_level = ap_get_server_module_loglevel(g->s, APLOG_MODULE_INDEX);
    hooks.log = log_cb;
    hooks.pick_link = pick_link;
    hooks.backend_name = backend_name;
    hooks.link_closed = link_closed;
    hooks.link_open = link_open;
    hooks.link_draining = link_draining;
    hooks.tick = tick;
    hooks.baton = &ch;

    rv = sp_proxy_create(&ch.px, g->table, &g->secret, &opts, &hooks, ch.pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, g->s, "SPX0203: proxy child "
                     "cannot set up its poll set; exiting");
        _exit(1);
    }
    the_proxy = ch.px;
    /* Links first: requests the previous proxy never took wait for them. */
    tick(ch.px, apr_time_now(), &ch);
    sp_proxy_takeover(ch.px);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s, "SPX0204: proxy child pid "
                 "%" APR_PID_T_FMT " serving %u slots, %d backends", getpid(),
                 g->table->sh->nslots, g->backends->nelts);
    rv = sp_proxy_run(ch.px);
    ap_log_error(APLOG_MARK, APLOG_INFO, rv, g->s, "SPX0205: proxy child pid "
                 "%" APR_PID_T_FMT " exits", getpid());
    _exit(0);
}

/* --- supervision in the parent ------------------------------------------- */

static apr_status_t start_proxy(slotproxy_global_t *g);

static void proxy_maint(int reason, void *data, apr_wait_t status)
{
    slotproxy_global_t *g = data;
    int mpm_state = AP_MPMQ_STOPPING;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(data);
        g->proxy_pid = 0;
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS
            && mpm_state != AP_MPMQ_STOPPING) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, "SPX0206: proxy child "
                         "died (wait status %d); starting a new one",
                         (int)status);
            start_proxy(g);
        }
        break;
    case APR_OC_REASON_RESTART:
        apr_proc_other_child_unregister(data);
        break;
    case APR_OC_REASON_UNREGISTER:
        /* pconf is being cleared (restart or stop): let it drain. */
        if (g->proxy_pid > 0) {
            kill(g->proxy_pid, SIGTERM);
        }
        break;
    default:
        break;
    }
}

static apr_status_t start_proxy(slotproxy_global_t *g)
{
    apr_proc_t *proc = apr_pcalloc(g->pconf, sizeof(*proc));
    apr_status_t rv = apr_proc_fork(proc, g->pconf);

    if (rv == APR_INCHILD) {
        child_main(g);  /* does not return */
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, g->s, "SPX0207: cannot fork "
                     "the proxy child");
        return rv;
    }
    g->proxy_pid = proc->pid;
    apr_proc_other_child_register(proc, proxy_maint, g, NULL, g->pconf);
    return APR_SUCCESS;
}

static apr_status_t resolve_backends(slotproxy_global_t *g, apr_pool_t *p)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(g->s);
    int i;

    for (i = 0; i < g->backends->nelts; i++) {
        slotproxy_backend_t *b = &APR_ARRAY_IDX(g->backends, i,
                                                slotproxy_backend_t);
        apr_status_t rv;
        if (b->is_unix) {
#if APR_HAVE_SOCKADDR_UN
            rv = apr_sockaddr_info_get(&b->addr, b->path, APR_UNIX, 0, 0, p);
#else
            rv = APR_ENOTIMPL;
#endif
        }
        else {
            rv = apr_sockaddr_info_get(&b->addr, b->host, APR_UNSPEC, b->port,
                                       0, p);
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, g->s,
                         "SPX0208: SlotProxyBackend %s: cannot resolve %s",
                         b->name, b->url);
            return rv;
        }
        if (b->use_tls) {
            sp_tls_conf_t tc = c->tls;
            const char *why = NULL;
            tc.verify_name = b->host;
            rv = sp_tls_create(&b->tls, SP_ROLE_CLIENT, &tc, p, &why);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, g->s,
                             "SPX0211: SlotProxyBackend %s: %s", b->name, why);
                return rv;
            }
        }
    }
    return APR_SUCCESS;
}

static unsigned slots_needed(void)
{
    int daemons = 1, threads = 1;

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
    if (daemons < 1) {
        daemons = 1;
    }
    if (threads < 1) {
        threads = 1;
    }
    return (unsigned)(daemons * threads) + SLOTPROXY_EXTRA_SLOTS;
}

int slotproxy_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(s);
    slotproxy_global_t *g;
    const char *why = NULL;
    apr_status_t rv;
    char buf[256];

    (void)plog;
    (void)ptemp;
    slotproxy_global = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || c->backends->nelts == 0) {
        return OK;
    }
    g = apr_pcalloc(pconf, sizeof(*g));
    g->s = s;
    g->pconf = pconf;
    g->backends = c->backends;
    g->slot_size = c->slot_size ? c->slot_size : SP_SPACE_DEFAULT;
    g->batch_sched = c->batch_sched != 0;

    rv = sp_secret_load(&g->secret, c->secret_file, pconf, &why);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, "SPX0209: "
                     "SlotProxySecretFile %s: %s", c->secret_file,
                     why ? why : sp_strerror(rv, buf, sizeof(buf)));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (resolve_backends(g, pconf) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = sp_table_create(&g->table, slots_needed(), g->slot_size, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s, "SPX0210: "
                     "cannot make the slot table (%u slots of %lu bytes)",
                     slots_needed(), (unsigned long)g->slot_size);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (start_proxy(g) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    slotproxy_global = g;
    return OK;
}
