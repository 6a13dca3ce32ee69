/*
 * slotproxy_handler.c -- one request through a slot.
 *
 *   claim a slot (the connection's scoreboard index first: O(1); HTTP/2
 *   streams that share it scan for a free one)
 *   -> HEADERS: request line, connection facts, every header in order
 *   -> DATA: the body as Apache's input filters hand it over (dechunked),
 *      while also forwarding any reply that already arrives (full duplex:
 *      a handler that answers as it reads cannot deadlock us)
 *   <- HEADERS: status and reply headers; DATA: the body, flushed to the
 *      client whenever the handler flushed
 *
 * A reset before the reply head becomes an HTTP status (503, 502, 504);
 * after it, the reply is cut visibly (no terminating chunk, connection
 * closed), never silently truncated.
 */
#include "httpd.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "slotproxy.h"
#include "sp_chan.h"
#include "sp_errors.h"
#include "sp_head.h"

APLOG_USE_MODULE(slotproxy);

#define READ_CHUNK (64 * 1024)

typedef struct sp_req_t {
    request_rec               *r;
    const slotproxy_backend_t *backend;
    sp_chan_t                  c;
    apr_bucket_brigade        *out;
    unsigned                   idx;
    int                        head_done;    /* reply head applied */
    int                        reply_done;   /* END of the reply seen */
    int                        output_sent;  /* something passed downstream */
    int                        discard;      /* HEAD, 204, 304: no body */
    apr_status_t               client_rv;    /* the browser failed us */
} sp_req_t;

/* --- translation --------------------------------------------------------- */

int slotproxy_translate(request_rec *r)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(r->server);
    const slotproxy_pass_t *best = NULL;
    apr_size_t best_len = 0;
    int i;

    if (!r->uri || r->uri[0] != '/') {
        return DECLINED;
    }
    for (i = 0; i < c->passes->nelts; i++) {
        const slotproxy_pass_t *ps = &APR_ARRAY_IDX(c->passes, i,
                                                    slotproxy_pass_t);
        apr_size_t len = strlen(ps->prefix);
        if (len > best_len && strncmp(r->uri, ps->prefix, len) == 0) {
            best = ps;
            best_len = len;
        }
    }
    if (!best) {
        return DECLINED;
    }
    r->handler = apr_pstrcat(r->pool, SLOTPROXY_HANDLER_PREFIX, best->backend,
                             NULL);
    r->filename = apr_pstrcat(r->pool, SLOTPROXY_HANDLER_PREFIX, r->uri, NULL);
    apr_table_setn(r->notes, "slotproxy-backend", best->backend);
    return OK;
}

int slotproxy_map_to_storage(request_rec *r)
{
    if (apr_table_get(r->notes, "slotproxy-backend")) {
        return OK;  /* not a file: no <Directory> walk */
    }
    return DECLINED;
}

/* --- request head -------------------------------------------------------- */

static int is_hop_by_hop(const char *name)
{
    static const char *const hop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", NULL
    };
    int i;

    for (i = 0; hop[i]; i++) {
        if (strcasecmp(name, hop[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

typedef struct head_ctx_t {
    sp_head_builder_t *b;
    const char        *connection;  /* tokens named in Connection: */
} head_ctx_t;

static int listed_in_connection(const char *connection, const char *name)
{
    const char *p = connection;
    apr_size_t n = strlen(name);

    while (p && *p) {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        if (strncasecmp(p, name, n) == 0
            && (p[n] == '\0' || p[n] == ',' || p[n] == ' ')) {
            return 1;
        }
        p = strchr(p, ',');
    }
    return 0;
}

static int add_header(void *data, const char *key, const char *val)
{
    head_ctx_t *hc = data;

    if (is_hop_by_hop(key) || listed_in_connection(hc->connection, key)) {
        return 1;
    }
    sp_head_add(hc->b, key, val);
    return 1;
}

static void add_pseudo(sp_head_builder_t *b, const char *name, const char *v)
{
    if (v) {
        sp_head_add(b, name, v);
    }
}

static apr_status_t send_head(sp_req_t *q, int has_body)
{
    request_rec *r = q->r;
    conn_rec *c = r->connection;
    apr_size_t cap;
    apr_status_t rv;
    unsigned char *buf;
    sp_head_builder_t b;
    head_ctx_t hc;
    apr_port_t rport = r->useragent_addr ? r->useragent_addr->port
                                         : c->client_addr->port;

    /* Built in place, in the slot's tx space: no copy. */
    buf = sp_chan_frame_begin(&q->c, sp_chan_max_payload(&q->c), &cap, &rv);
    if (!buf) {
        return rv;
    }
    sp_head_builder_init(&b, buf, cap);
    add_pseudo(&b, SP_H_METHOD, r->method);
    add_pseudo(&b, SP_H_PATH, r->parsed_uri.path ? r->parsed_uri.path
                                                  : r->uri);
    add_pseudo(&b, SP_H_QUERY, r->args);
    add_pseudo(&b, SP_H_PROTOCOL, r->protocol);
    add_pseudo(&b, SP_H_SCHEME, ap_http_scheme(r));
    add_pseudo(&b, SP_H_REMOTE_ADDR, r->useragent_ip);
    add_pseudo(&b, SP_H_REMOTE_PORT, apr_itoa(r->pool, rport));
    add_pseudo(&b, SP_H_SERVER_NAME, ap_get_server_name(r));
    add_pseudo(&b, SP_H_SERVER_PORT, apr_itoa(r->pool,
                                              ap_get_server_port(r)));
    add_pseudo(&b, SP_H_SERVER_ADDR, c->local_ip);
    add_pseudo(&b, SP_H_REMOTE_USER, r->user);
    add_pseudo(&b, SP_H_AUTH_TYPE, r->ap_auth_type);
    add_pseudo(&b, SP_H_REQUEST_ID, r->log_id ? r->log_id
               : apr_psprintf(r->pool, "%" APR_PID_T_FMT "-%ld-%u",
                              sp_pid_self(), c->id, q->c.gen));
    add_pseudo(&b, SP_H_BODY,
               !has_body ? "none"
               : apr_table_get(r->headers_in, "Transfer-Encoding") ? "chunked"
                                                                   : "length");
    hc.b = &b;
    hc.connection = apr_table_get(r->headers_in, "Connection");
    apr_table_do(add_header, &hc, r->headers_in, NULL);
    if (b.overflow) {
        return SP_ETOOLONG;
    }
    return sp_chan_frame_end(&q->c, SP_FT_HEADERS,
                             has_body ? 0 : SP_FF_END_STREAM, b.len);
}

/* --- reply --------------------------------------------------------------- */

static apr_status_t apply_head(sp_req_t *q, const unsigned char *p,
                               apr_size_t len)
{
    request_rec *r = q->r;
    sp_head_reader_t rd;
    const char *name, *value;
    apr_size_t nlen, vlen;
    apr_status_t rv;
    int status = 0;

    sp_head_reader_init(&rd, p, len);
    while ((rv = sp_head_next(&rd, &name, &nlen, &value, &vlen))
           == APR_SUCCESS) {
        if (name[0] == ':') {
            if (strcmp(name, SP_H_STATUS) == 0) {
                status = atoi(value);
            }
            continue;
        }
        if (is_hop_by_hop(name) || strcasecmp(name, "Date") == 0
            || strcasecmp(name, "Server") == 0) {
            continue;
        }
        if (strcasecmp(name, "Content-Type") == 0) {
            ap_set_content_type(r, apr_pstrmemdup(r->pool, value, vlen));
        }
        else if (strcasecmp(name, "Content-Length") == 0) {
            apr_off_t cl;
            if (ap_parse_strict_length(&cl, value)) {
                apr_table_setn(r->headers_out, "Content-Length",
                               apr_pstrmemdup(r->pool, value, vlen));
            }
        }
        else {
            apr_table_addn(r->headers_out, apr_pstrmemdup(r->pool, name, nlen),
                           apr_pstrmemdup(r->pool, value, vlen));
        }
    }
    if (rv != APR_EOF || status < 200 || status > 999) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SPX0101: backend %s sent "
                      "an invalid reply head (status %d)", q->backend->name,
                      status);
        return SP_EPROTO;
    }
    r->status = status;
    q->head_done = 1;
    if (r->header_only || status == HTTP_NO_CONTENT
        || status == HTTP_NOT_MODIFIED) {
        q->discard = 1;
    }
    return APR_SUCCESS;
}

static apr_status_t pass_out(sp_req_t *q, const unsigned char *p,
                             apr_size_t len, int flush, int eos)
{
    request_rec *r = q->r;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_status_t rv;

    if (len && !q->discard) {
        APR_BRIGADE_INSERT_TAIL(q->out, apr_bucket_transient_create(
                                    (const char *)p, len, ba));
    }
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(q->out, apr_bucket_flush_create(ba));
    }
    if (eos) {
        APR_BRIGADE_INSERT_TAIL(q->out, apr_bucket_eos_create(ba));
    }
    if (APR_BRIGADE_EMPTY(q->out)) {
        return APR_SUCCESS;
    }
    q->output_sent = 1;
    rv = ap_pass_brigade(r->output_filters, q->out);
    apr_brigade_cleanup(q->out);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        q->client_rv = rv != APR_SUCCESS ? rv : APR_ECONNABORTED;
        return q->client_rv;
    }
    return APR_SUCCESS;
}

/* Forwards reply frames to the client; with nonblock, only those already
 * in the rx space (APR_EAGAIN when it is empty). */
static apr_status_t read_reply(sp_req_t *q, int nonblock)
{
    while (!q->reply_done) {
        sp_frame_hdr_t h;
        const unsigned char *p;
        int end;
        apr_status_t rv = sp_chan_get(&q->c, &h, &p, nonblock);

        if (rv != APR_SUCCESS) {
            return rv;
        }
        end = (h.flags & SP_FF_END_STREAM) != 0;
        if (h.type == SP_FT_HEADERS && !q->head_done) {
            if ((rv = apply_head(q, p, h.length)) != APR_SUCCESS) {
                return rv;
            }
            if (end) {
                q->reply_done = 1;
                return pass_out(q, NULL, 0, 0, 1);
            }
        }
        else if (h.type == SP_FT_DATA && q->head_done) {
            rv = pass_out(q, p, h.length, (h.flags & SP_FF_FLUSH) != 0, end);
            if (end) {
                q->reply_done = 1;
            }
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, "SPX0102: backend "
                          "%s: unexpected %s frame in the reply",
                          q->backend->name, sp_frame_type_name(h.type));
            return SP_EPROTO;
        }
    }
    return APR_SUCCESS;
}

/* --- request body -------------------------------------------------------- */

static apr_status_t put_body(sp_req_t *q, const char *data, apr_size_t len,
                             uint8_t flags)
{
    /* Not a do-while: its `continue` would skip an empty END frame. */
    for (;;) {
        apr_size_t n;
        apr_status_t rv;

        if (q->reply_done || q->c.tx_ended) {
            return APR_SUCCESS;  /* answered already: the rest is not wanted */
        }
        if (!sp_chan_can_put(&q->c)) {
            uint32_t m = 0;
            rv = sp_chan_wait(&q->c, SP_MARK_TX | SP_MARK_RX, &m);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            if (m & SP_MARK_RX) {
                rv = read_reply(q, 1);
                if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
                    return rv;
                }
            }
            continue;
        }
        n = sp_chan_room(&q->c);
        if (n > len) {
            n = len;
        }
        rv = sp_chan_put(&q->c, SP_FT_DATA, n == len ? flags : 0, data, n);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        data += n;
        len -= n;
        if (len == 0) {
            return APR_SUCCESS;
        }
    }
}

static apr_status_t send_body(sp_req_t *q)
{
    request_rec *r = q->r;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool,
                                                r->connection->bucket_alloc);
    int eos = 0;

    while (!eos && !q->reply_done) {
        apr_bucket *e;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         READ_CHUNK);
        if (rv != APR_SUCCESS) {
            q->client_rv = rv;
            return rv;
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(e)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(e)) {
                continue;
            }
            rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                q->client_rv = rv;
                return rv;
            }
            if (len && (rv = put_body(q, data, len, 0)) != APR_SUCCESS) {
                return rv;
            }
        }
        apr_brigade_cleanup(bb);
    }
    return put_body(q, NULL, 0, SP_FF_END_STREAM);
}

/* --- errors -------------------------------------------------------------- */

static int status_for_reset(sp_req_t *q, uint32_t code, const char **why)
{
    switch (code) {
    case SP_RST_REFUSED:
        *why = "unavailable: no authenticated link (see the proxy's log "
               "lines for the reason)";
        return HTTP_SERVICE_UNAVAILABLE;
    case SP_RST_OVERLOADED:
        *why = "overloaded: every worker is busy and the queue is full";
        apr_table_setn(q->r->err_headers_out, "Retry-After", "1");
        return HTTP_SERVICE_UNAVAILABLE;
    case SP_RST_WORKER:
        *why = "the worker or its handler died mid-request";
        return HTTP_BAD_GATEWAY;
    case SP_RST_TIMEOUT:
        *why = "the handler timed out";
        return HTTP_GATEWAY_TIME_OUT;
    case SP_RST_TOOLARGE:
        *why = "the request is larger than the backend accepts";
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    case SP_RST_NOSERVICE:
        *why = "no Service on the backend matches the path";
        return HTTP_NOT_FOUND;
    case SP_RST_INTERNAL:
        *why = "the link or the proxy child was lost";
        return HTTP_BAD_GATEWAY;
    default:
        *why = apr_psprintf(q->r->pool, "stream reset (%s)",
                            sp_reset_name(code));
        return HTTP_BAD_GATEWAY;
    }
}

/* Turns a failure into a status (before any reply went out) or a visibly
 * cut reply (after). */
static int fail(sp_req_t *q, apr_status_t rv)
{
    request_rec *r = q->r;
    const char *why;
    int status;
    char buf[256];

    if (q->client_rv != APR_SUCCESS) {
        sp_chan_abort(&q->c, SP_RST_CANCEL);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, q->client_rv, r, "SPX0103: "
                      "client went away; stream to backend %s reset (slot %u)",
                      q->backend->name, q->idx);
        return q->output_sent ? OK
               : ap_map_http_request_error(q->client_rv, HTTP_BAD_REQUEST);
    }
    if (rv == SP_EABORTED) {
        status = status_for_reset(q, sp_chan_reset_code(&q->c), &why);
    }
    else if (rv == APR_TIMEUP) {
        sp_chan_abort(&q->c, SP_RST_TIMEOUT);
        status = HTTP_GATEWAY_TIME_OUT;
        why = "no reply within SlotProxyTimeout";
    }
    else if (rv == SP_ETOOLONG && !q->head_done) {
        status = HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
        why = "the request head does not fit in one slot space "
              "frame (half of SlotProxySlotSize)";
    }
    else {
        sp_chan_abort(&q->c, SP_RST_PROTOCOL);
        status = HTTP_BAD_GATEWAY;
        why = apr_psprintf(r->pool, "broken reply: %s",
                           sp_strerror(rv, buf, sizeof(buf)));
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SPX0104: backend %s: %s "
                  "(slot %u, %s)", q->backend->name, why, q->idx,
                  q->head_done ? "reply cut after its head" : "no reply sent");
    if (!q->head_done || !q->output_sent) {
        if (q->head_done) {
            /* The head is applied but not yet sent: undo it. */
            apr_table_clear(r->headers_out);
            r->status = HTTP_OK;
        }
        return status;
    }
    /* Too late for a status: make the cut visible to the client. */
    r->connection->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(q->out, ap_bucket_error_create(
                                HTTP_BAD_GATEWAY, NULL, r->pool,
                                r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(q->out, apr_bucket_eos_create(
                                r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, q->out);
    return OK;
}

/* --- the handler --------------------------------------------------------- */

static const char *backend_name_of(request_rec *r)
{
    const char *note = apr_table_get(r->notes, "slotproxy-backend");

    if (note) {
        return note;
    }
    if (r->handler && strncmp(r->handler, SLOTPROXY_HANDLER_PREFIX,
                              sizeof(SLOTPROXY_HANDLER_PREFIX) - 1) == 0) {
        return r->handler + sizeof(SLOTPROXY_HANDLER_PREFIX) - 1;
    }
    return NULL;
}

int slotproxy_handler(request_rec *r)
{
    slotproxy_global_t *g = slotproxy_global;
    slotproxy_server_conf_t *sc = slotproxy_sconf(r->server);
    const char *name = backend_name_of(r);
    conn_rec *c = r->connection;
    sp_req_t q;
    uint32_t gen;
    int b, status = OK, has_body;
    apr_status_t rv;

    if (!name) {
        return DECLINED;
    }
    b = slotproxy_backend_index(name);
    if (!g || !g->table || b < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SPX0105: %s: no "
                      "SlotProxyBackend named %s", r->handler, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&q, 0, sizeof(q));
    q.r = r;
    q.backend = &APR_ARRAY_IDX(g->backends, b, slotproxy_backend_t);
    q.out = apr_brigade_create(r->pool, c->bucket_alloc);

    rv = sp_slot_claim(g->table, (unsigned)((c->master ? c->master->id
                                                        : c->id)
                                            % g->table->sh->nslots),
                       &q.idx, &gen);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SPX0106: backend %s: no "
                      "free slot among %u", name, g->table->sh->nslots);
        apr_table_setn(r->err_headers_out, "Retry-After", "1");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    sp_table_slot(g->table, q.idx)->backend = (uint32_t)b;
    sp_chan_open(&q.c, g->table, q.idx, gen,
                 sc->timeout >= 0 ? sc->timeout : SLOTPROXY_DEFAULT_TIMEOUT);

    has_body = ap_request_has_body(r);
    rv = send_head(&q, has_body);
    if (rv == APR_SUCCESS && has_body) {
        rv = send_body(&q);
    }
    if (rv == APR_SUCCESS) {
        rv = read_reply(&q, 0);
    }
    if (rv != APR_SUCCESS) {
        status = fail(&q, rv);
    }
    sp_chan_close(&q.c);
    sp_slot_release(g->table, q.idx);
    return status;
}
