/*
 * execd_listen.c -- binds execd's listening sockets (TCP and UNIX).
 */
#include <sys/stat.h>
#include <unistd.h>

#include <apr_network_io.h>
#include <apr_strings.h>

#include "execd.h"
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
