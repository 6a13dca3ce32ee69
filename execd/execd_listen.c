/*
 * execd_listen.c -- binds execd's listening sockets (TCP and UNIX), at
 * start and when a reload changes the Listen lines.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_network_io.h>
#include <apr_strings.h>

#include "execd.h"
#include "execd_log.h"
#include "sp_errors.h"

static apr_status_t listen_one(execd_ctx_t *ctx, const execd_listen_t *ls,
                               apr_socket_t **out, const char **err)
{
    apr_pool_t *p = ctx->pool;
    apr_sockaddr_t *sa;
    apr_socket_t *s = NULL;
    apr_status_t rv;
    char ebuf[256];

    if (ls->is_unix) {
#if APR_HAVE_SOCKADDR_UN
        rv = apr_sockaddr_info_get(&sa, ls->path, APR_UNIX, 0, 0, p);
        if (rv == APR_SUCCESS) {
            unlink(ls->path);  /* a stale socket of an earlier run */
        }
#else
        rv = APR_ENOTIMPL;
#endif
    }
    else {
        rv = apr_sockaddr_info_get(&sa, ls->host, APR_UNSPEC, ls->port, 0, p);
    }
    if (rv != APR_SUCCESS) {
        goto cleanup;
    }
    rv = apr_socket_create(&s, sa->family, SOCK_STREAM, 0, p);
    if (rv != APR_SUCCESS) {
        goto cleanup;
    }
    if (!ls->is_unix) {
        apr_socket_opt_set(s, APR_SO_REUSEADDR, 1);
    }
    if ((rv = apr_socket_bind(s, sa)) != APR_SUCCESS
        || (rv = apr_socket_listen(s, 511)) != APR_SUCCESS) {
        goto cleanup;
    }
    if (ls->is_unix) {
        chmod(ls->path, 0666);
    }
    *out = s;
    return APR_SUCCESS;

cleanup:
    if (s) {
        apr_socket_close(s);
    }
    *err = apr_psprintf(p, "cannot listen on %s: %s", ls->spec,
                        sp_strerror(rv, ebuf, sizeof(ebuf)));
    return rv;
}

apr_status_t execd_listen_all(execd_ctx_t *ctx, const char **err)
{
    int i;

    ctx->listeners = apr_array_make(ctx->pool, ctx->conf->listens->nelts,
                                    sizeof(apr_socket_t *));
    for (i = 0; i < ctx->conf->listens->nelts; i++) {
        const execd_listen_t *ls =
            &APR_ARRAY_IDX(ctx->conf->listens, i, execd_listen_t);
        apr_socket_t *s;
        apr_status_t rv = listen_one(ctx, ls, &s, err);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(ctx->listeners, apr_socket_t *) = s;
    }
    return APR_SUCCESS;
}

void execd_listen_unlink(execd_ctx_t *ctx)
{
    int i;

    for (i = 0; i < ctx->conf->listens->nelts; i++) {
        const execd_listen_t *ls =
            &APR_ARRAY_IDX(ctx->conf->listens, i, execd_listen_t);
        if (ls->is_unix) {
            unlink(ls->path);
        }
    }
}

/* Do a and b name the same address (whatever the spelling of a path)? */
static int same_address(const execd_listen_t *a, const execd_listen_t *b)
{
    if (a->is_unix != b->is_unix) {
        return 0;
    }
    if (a->is_unix) {
        return strcmp(a->path, b->path) == 0;
    }
    return a->port == b->port
           && (a->host == b->host
               || (a->host && b->host && strcmp(a->host, b->host) == 0));
}

apr_status_t execd_listen_prepare(execd_ctx_t *ctx, const execd_conf_t *conf,
                                  execd_relisten_t *rl, apr_pool_t *p,
                                  const char **err)
{
    const apr_array_header_t *was = ctx->conf->listens;
    int i, j, n = conf->listens->nelts;
    char *kept = apr_pcalloc(p, (apr_size_t)was->nelts + 1);

    /* The lists in p (the new generation's pool: nothing accumulates over
     * reloads); a new socket in ctx->pool, as it may outlive it. */
    rl->listeners = apr_array_make(p, n, sizeof(apr_socket_t *));
    rl->fresh = apr_array_make(p, 1, sizeof(apr_socket_t *));
    rl->fresh_ls = apr_array_make(p, 1, sizeof(execd_listen_t *));
    rl->dropped = apr_array_make(p, 1, sizeof(apr_socket_t *));
    rl->dropped_ls = apr_array_make(p, 1, sizeof(execd_listen_t *));
    for (i = 0; i < n; i++) {
        const execd_listen_t *ls = &APR_ARRAY_IDX(conf->listens, i,
                                                  execd_listen_t);
        apr_socket_t *s = NULL;
        for (j = 0; j < was->nelts && !s; j++) {
            if (!kept[j]
                && same_address(ls, &APR_ARRAY_IDX(was, j, execd_listen_t))) {
                kept[j] = 1;
                s = APR_ARRAY_IDX(ctx->listeners, j, apr_socket_t *);
            }
        }
        if (!s) {
            apr_status_t rv = listen_one(ctx, ls, &s, err);
            if (rv != APR_SUCCESS) {
                execd_listen_abandon(rl);
                return rv;
            }
            APR_ARRAY_PUSH(rl->fresh, apr_socket_t *) = s;
            APR_ARRAY_PUSH(rl->fresh_ls, const execd_listen_t *) = ls;
        }
        APR_ARRAY_PUSH(rl->listeners, apr_socket_t *) = s;
    }
    for (j = 0; j < was->nelts; j++) {
        if (!kept[j]) {
            APR_ARRAY_PUSH(rl->dropped, apr_socket_t *) =
                APR_ARRAY_IDX(ctx->listeners, j, apr_socket_t *);
            APR_ARRAY_PUSH(rl->dropped_ls, const execd_listen_t *) =
                &APR_ARRAY_IDX(was, j, execd_listen_t);
        }
    }
    return APR_SUCCESS;
}

void execd_listen_abandon(execd_relisten_t *rl)
{
    int i;

    for (i = 0; i < rl->fresh->nelts; i++) {
        apr_socket_close(APR_ARRAY_IDX(rl->fresh, i, apr_socket_t *));
    }
    rl->fresh->nelts = 0;
}

void execd_listen_commit(execd_relisten_t *rl)
{
    int i;

    for (i = 0; i < rl->fresh_ls->nelts; i++) {
        execd_log_error(EXECD_LOG_NOTICE, "EXD0050", 0, "reload: listening "
                        "on %s from now on", APR_ARRAY_IDX(rl->fresh_ls, i,
                        const execd_listen_t *)->spec);
    }
    for (i = 0; i < rl->dropped->nelts; i++) {
        const execd_listen_t *ls =
            APR_ARRAY_IDX(rl->dropped_ls, i, const execd_listen_t *);
        apr_socket_close(APR_ARRAY_IDX(rl->dropped, i, apr_socket_t *));
        if (ls->is_unix) {
            unlink(ls->path);
        }
        execd_log_error(EXECD_LOG_NOTICE, "EXD0051", 0, "reload: no longer "
                        "listening on %s (the draining generation stops "
                        "accepting there)", ls->spec);
    }
}

void execd_listen_close_stale(execd_ctx_t *ctx)
{
    int i;

    for (i = 0; ctx->stale && i < ctx->stale->nelts; i++) {
        apr_socket_close(APR_ARRAY_IDX(ctx->stale, i, apr_socket_t *));
    }
}
