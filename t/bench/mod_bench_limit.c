/*
 * mod_bench_limit.c -- the benchmark's "limit" variant: the reply is made
 * inside Apache, by the cheapest handler that serves the same bytes as the
 * execd example handlers.  It is the upper bound for any gateway, and the
 * origin server behind the "http" variant.
 *
 *     LoadModule bench_limit_module .../build/bench/mod_bench_limit.so
 *     <Location />
 *         SetHandler bench-limit
 *     </Location>
 *
 *   GET  /hello        "hello, world\n", text/plain, Content-Length 13
 *   GET  /gen?bytes=N  N bytes, byte i = (i * 31 + 7) & 0xff, with
 *                      Content-Length (as execd/handlers/gen.c)
 *   POST /echo         the request body back, with the request's
 *                      Content-Type (as execd/handlers/echo.c: streamed,
 *                      no Content-Length set by the handler)
 *
 * The generated body is sent as immortal buckets pointing at one 64 KiB
 * copy of the pattern, made once per process: no per-request copy, which
 * is what an upper bound should be.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_buckets.h"
#include "apr_strings.h"

#define BENCH_CHUNK   (64 * 1024)         /* a multiple of the 256-byte period */
#define BENCH_GEN_MAX (64LL * 1024 * 1024 * 1024)

module AP_MODULE_DECLARE_DATA bench_limit_module;

static char pattern[BENCH_CHUNK];

static const char hello_text[] = "hello, world\n";

static int serve_hello(request_rec *r)
{
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, sizeof(hello_text) - 1);
    if (r->header_only) {
        return OK;
    }
    return ap_rwrite(hello_text, sizeof(hello_text) - 1, r) < 0 ? AP_FILTER_ERROR
                                                               : OK;
}

/* The value of ?bytes=, or -1 if absent or out of range. */
static apr_off_t wanted_bytes(const request_rec *r)
{
    const char *q = r->args, *v;
    char *end;
    apr_int64_t n;

    while (q && *q) {
        if (strncmp(q, "bytes=", 6) == 0) {
            v = q + 6;
            if (*v < '0' || *v > '9') {
                return -1;
            }
            n = apr_strtoi64(v, &end, 10);
            if ((*end != '\0' && *end != '&') || n < 0 || n > BENCH_GEN_MAX) {
                return -1;
            }
            return (apr_off_t)n;
        }
        q = strchr(q, '&');
        q = q ? q + 1 : NULL;
    }
    return -1;
}

static int serve_gen(request_rec *r)
{
    apr_off_t total = wanted_bytes(r), left;
    apr_bucket_brigade *bb;
    apr_bucket *b;
    apr_size_t n;
    apr_status_t rv;
    int queued = 0;

    if (total < 0) {
        return HTTP_BAD_REQUEST;
    }
    ap_set_content_type(r, "application/octet-stream");
    ap_set_content_length(r, total);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    for (left = total; left > 0; left -= (apr_off_t)n) {
        n = left < BENCH_CHUNK ? (apr_size_t)left : BENCH_CHUNK;
        b = apr_bucket_immortal_create(pattern, n, bb->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, b);
        /* 1 MiB per pass at most, so memory stays flat for any size; the
         * last chunk goes out with the EOS. */
        if (++queued == 16 && left > (apr_off_t)n) {
            if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS) {
                return AP_FILTER_ERROR;
            }
            apr_brigade_cleanup(bb);
            queued = 0;
        }
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    return rv == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}

/* Moves what the input filters give straight to the output filters, so
 * that the body is never copied by this module. */
static int serve_echo(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_bucket_brigade *bb;
    apr_bucket *b;
    apr_status_t rv;
    int seen_eos = 0;

    ap_set_content_type(r, ct ? apr_pstrdup(r->pool, ct)
                              : "application/octet-stream");
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, BENCH_CHUNK);
        if (rv != APR_SUCCESS) {
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
        }
        if (seen_eos) {
            apr_bucket_delete(b);  /* the EOS goes out after the handler */
        }
        if (!APR_BRIGADE_EMPTY(bb)
            && ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS) {
            return AP_FILTER_ERROR;
        }
        apr_brigade_cleanup(bb);
    }
    return OK;
}

static int bench_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, "bench-limit") != 0) {
        return DECLINED;
    }
    if (strcmp(r->uri, "/hello") == 0) {
        return r->method_number == M_GET ? serve_hello(r) : HTTP_METHOD_NOT_ALLOWED;
    }
    if (strcmp(r->uri, "/gen") == 0) {
        return r->method_number == M_GET ? serve_gen(r) : HTTP_METHOD_NOT_ALLOWED;
    }
    if (strcmp(r->uri, "/echo") == 0) {
        return r->method_number == M_POST ? serve_echo(r) : HTTP_METHOD_NOT_ALLOWED;
    }
    return HTTP_NOT_FOUND;
}

static void bench_child_init(apr_pool_t *p, server_rec *s)
{
    size_t i;

    for (i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (char)((i * 31 + 7) & 0xff);
    }
}

static void bench_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(bench_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(bench_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(bench_limit) = {
    STANDARD20_MODULE_STUFF,
    NULL,                   /* per-directory config creator */
    NULL,                   /* dir config merger */
    NULL,                   /* server config creator */
    NULL,                   /* server config merger */
    NULL,                   /* command table */
    bench_register_hooks,   /* hook registration */
    AP_MODULE_FLAG_NONE     /* flags */
};
