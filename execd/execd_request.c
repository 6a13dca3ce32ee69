/*
 * execd_request.c -- one request in an execd worker: execd_api.h over the
 * worker's slot channel.
 *
 * Owns the execd_request: the request head (copied out of the rx space,
 * whose frames are only valid until the next sp_chan_get), the body
 * reader, the reply head under construction and the state of the reply
 * stream.  execd_serve() reads the head, picks the Service, runs its
 * handler and then completes the reply or abandons it, so that a reply is
 * either whole (END_STREAM) or visibly broken (RESET), never silently cut.
 *
 * Channel failures are folded into one state, `aborted`: SP_EABORTED
 * means the proxy already gave the stream up; APR_TIMEUP means we give it
 * up (SP_RST_TIMEOUT); either way every later API call fails and the
 * handler is expected to return EXECD_ABORTED.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "sp_errors.h"
#include "sp_frame.h"
#include "sp_head.h"
#include "execd_cgi.h"
#include "execd_log.h"
#include "execd_request.h"

#define PRINTF_STACK 8192   /* execd_printf formats this much without malloc */

typedef struct reply_field_t {
    const char *name;
    const char *value;
} reply_field_t;

struct execd_request {
    apr_pool_t            *pool;
    const execd_conf_t    *conf;
    sp_chan_t             *chan;
    const execd_service_t *svc;
    apr_time_t             start;
    /* request head, a private copy: rx frames die at the next get */
    const unsigned char   *head;
    apr_size_t             head_len;
    const char            *method, *path, *query, *protocol;
    const char            *remote_addr, *remote_user, *request_id;
    /* request body */
    int                    body_ended;   /* END_STREAM seen */
    apr_off_t              body_read;    /* against LimitRequestBody */
    const unsigned char   *pend;         /* unread rest of the last DATA */
    apr_size_t             pend_len;     /* frame; valid until next get */
    int                    too_large;    /* body passed LimitRequestBody */
    /* reply */
    int                    status;
    apr_array_header_t    *fields;       /* reply_field_t */
    int                    head_sent;
    int                    ended;        /* END_STREAM sent */
    int                    aborted;      /* stream abandoned, either side */
    apr_off_t              bytes_out;
};

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return status < 500 ? "Client Error" : "Server Error";
    }
}

static int status_has_body(int status)
{
    return !(status == 204 || status == 304 || status < 200);
}

/* --- stream state -------------------------------------------------------- */

static void abandon(execd_request *r, uint32_t reason)
{
    if (!r->aborted) {
        r->aborted = 1;
        sp_chan_abort(r->chan, reason);
    }
}

/* A channel call failed: the stream is over for us, whoever ended it. */
static void chan_failed(execd_request *r, apr_status_t rv, const char *what)
{
    if (r->aborted) {
        return;
    }
    if (rv == SP_EABORTED) {
        r->aborted = 1;
        execd_log_error(EXECD_LOG_INFO, "EXD1100", 0, "request %s %s: %s: "
                        "stream abandoned by the proxy (%s)", r->request_id,
                        r->path, what,
                        sp_reset_name(sp_chan_reset_code(r->chan)));
    }
    else if (rv == APR_TIMEUP) {
        execd_log_error(EXECD_LOG_ERR, "EXD1101", 0, "request %s %s: %s: no "
                        "progress in %" APR_TIME_T_FMT " s, abandoning it",
                        r->request_id, r->path, what,
                        apr_time_sec(r->chan->timeout));
        abandon(r, SP_RST_TIMEOUT);
    }
    else {
        execd_log_error(EXECD_LOG_ERR, "EXD1102", rv, "request %s %s: %s",
                        r->request_id, r->path, what);
        abandon(r, rv == SP_EPROTO ? SP_RST_PROTOCOL : SP_RST_INTERNAL);
    }
}

/* --- reading ------------------------------------------------------------- */

/* Takes the next DATA frame as the pending body bytes. */
static apr_status_t next_data(execd_request *r, int nonblock)
{
    const unsigned char *payload;
    sp_frame_hdr_t h;
    apr_status_t rv;

    rv = sp_chan_get(r->chan, &h, &payload, nonblock);
    if (rv == APR_EAGAIN && nonblock) {
        return rv;
    }
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "reading the request body");
        return rv;
    }
    if (h.type != SP_FT_DATA) {
        execd_log_error(EXECD_LOG_ERR, "EXD1103", 0, "request %s %s: %s "
                        "frame inside the request body", r->request_id,
                        r->path, sp_frame_type_name(h.type));
        abandon(r, SP_RST_PROTOCOL);
        return SP_EPROTO;
    }
    r->body_read += h.length;
    if (r->conf->limit_body > 0 && r->body_read > r->conf->limit_body) {
        execd_log_error(EXECD_LOG_INFO, "EXD1104", 0, "request %s %s: body "
                        "passed LimitRequestBody %" APR_OFF_T_FMT,
                        r->request_id, r->path, r->conf->limit_body);
        r->too_large = 1;
        return SP_ETOOLONG;
    }
    r->body_ended = (h.flags & SP_FF_END_STREAM) != 0;
    r->pend = payload;
    r->pend_len = h.length;
    return APR_SUCCESS;
}

static ssize_t body_read(execd_request *r, void *buf, size_t len,
                         int nonblock)
{
    apr_status_t rv;
    size_t n;

    if (r->aborted || r->too_large) {
        return -1;
    }
    while (r->pend_len == 0) {
        if (r->body_ended) {
            return 0;
        }
        rv = next_data(r, nonblock);
        if (rv == APR_EAGAIN) {
            return -2;
        }
        if (rv != APR_SUCCESS) {
            return -1;
        }
    }
    n = len < r->pend_len ? len : r->pend_len;
    memcpy(buf, r->pend, n);
    r->pend += n;
    r->pend_len -= n;
    return (ssize_t)n;
}

ssize_t execd_read(execd_request *r, void *buf, size_t len)
{
    return len == 0 ? 0 : body_read(r, buf, len, 0);
}

ssize_t execd_read_nb(execd_request *r, void *buf, size_t len)
{
    return len == 0 ? 0 : body_read(r, buf, len, 1);
}

/* --- the reply head ------------------------------------------------------ */

static int valid_name(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && strchr(extra, *s) == NULL) {
            return 0;
        }
    }
    return 1;
}

static int valid_value(const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n') {
            return 0;
        }
    }
    return 1;
}

/* Removes the fields named `name` (or, with `prefix`, starting with it). */
static void drop_fields(execd_request *r, const char *name, int prefix)
{
    reply_field_t *f = (reply_field_t *)r->fields->elts;
    apr_size_t nlen = strlen(name);
    int i, j, match;

    for (i = j = 0; i < r->fields->nelts; i++) {
        match = prefix ? strncasecmp(f[i].name, name, nlen) == 0
                       : strcasecmp(f[i].name, name) == 0;
        if (!match) {
            f[j++] = f[i];
        }
    }
    r->fields->nelts = j;
}

static const char *find_field(execd_request *r, const char *name)
{
    reply_field_t *f = (reply_field_t *)r->fields->elts;
    int i;

    for (i = 0; i < r->fields->nelts; i++) {
        if (strcasecmp(f[i].name, name) == 0) {
            return f[i].value;
        }
    }
    return NULL;
}

static apr_size_t head_size(execd_request *r, const char *status)
{
    reply_field_t *f = (reply_field_t *)r->fields->elts;
    apr_size_t n = 6 + sizeof(SP_H_STATUS) + strlen(status) + 1;
    int i;

    for (i = 0; i < r->fields->nelts; i++) {
        n += 6 + strlen(f[i].name) + 1 + strlen(f[i].value) + 1;
    }
    return n;
}

static apr_status_t send_text_reply(execd_request *r, int status);

/* The head does not fit one frame: the client gets a 500 instead. */
static apr_status_t head_too_large(execd_request *r, apr_size_t need,
                                   apr_size_t cap)
{
    apr_status_t rv;

    execd_log_error(EXECD_LOG_ERR, "EXD1105", 0, "request %s %s: reply head "
                    "of %" APR_SIZE_T_FMT " bytes (%d fields) does not fit "
                    "one slot frame (%" APR_SIZE_T_FMT " bytes), sending 500",
                    r->request_id, r->path, need, r->fields->nelts, cap);
    r->fields->nelts = 0;
    rv = send_text_reply(r, 500);
    return rv == APR_SUCCESS ? SP_ETOOLONG : rv;
}

/* Sends the HEADERS frame (with END_STREAM if flags say so). */
static apr_status_t send_head(execd_request *r, uint8_t flags)
{
    reply_field_t *f = (reply_field_t *)r->fields->elts;
    apr_size_t cap = sp_chan_max_payload(r->chan);
    char status[16];
    sp_head_builder_t b;
    apr_status_t rv;
    apr_size_t need;
    int i;

    snprintf(status, sizeof(status), "%d", r->status);
    need = head_size(r, status);
    if (need > cap) {
        return head_too_large(r, need, cap);
    }
    sp_head_builder_init(&b, apr_palloc(r->pool, need), need);
    rv = sp_head_add(&b, SP_H_STATUS, status);
    for (i = 0; rv == APR_SUCCESS && i < r->fields->nelts; i++) {
        rv = sp_head_add(&b, f[i].name, f[i].value);
    }
    if (rv != APR_SUCCESS) {
        return head_too_large(r, need, cap);
    }
    r->head_sent = 1;
    rv = sp_chan_put(r->chan, SP_FT_HEADERS, flags, b.buf, b.len);
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "sending the reply head");
        return rv;
    }
    if (flags & SP_FF_END_STREAM) {
        r->ended = 1;
    }
    return APR_SUCCESS;
}

/* A complete plain-text reply ("404 Not Found\n"), keeping the fields the
 * handler set except those about the body it no longer sends. */
static apr_status_t send_text_reply(execd_request *r, int status)
{
    char body[64];
    apr_status_t rv;
    int n;

    drop_fields(r, "Content-", 1);
    drop_fields(r, "Transfer-Encoding", 0);
    drop_fields(r, "ETag", 0);
    drop_fields(r, "Last-Modified", 0);
    r->status = status;
    if (!status_has_body(status)) {
        return send_head(r, SP_FF_END_STREAM);
    }
    n = snprintf(body, sizeof(body), "%d %s\n", status, reason_phrase(status));
    execd_set_header(r, "Content-Type", "text/plain; charset=utf-8");
    execd_set_header(r, "Content-Length", apr_itoa(r->pool, n));
    rv = send_head(r, 0);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = sp_chan_put(r->chan, SP_FT_DATA, SP_FF_END_STREAM, body, n);
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "sending an error reply");
        return rv;
    }
    r->ended = 1;
    r->bytes_out = n;
    return APR_SUCCESS;
}

int execd_set_status(execd_request *r, int status)
{
    if (r->head_sent || status < 200 || status > 599) {
        return -1;
    }
    r->status = status;
    return 0;
}

int execd_add_header(execd_request *r, const char *name, const char *value)
{
    reply_field_t *f;

    if (r->head_sent || name == NULL || value == NULL || !valid_name(name)
        || !valid_value(value)) {
        return -1;
    }
    f = apr_array_push(r->fields);
    f->name = apr_pstrdup(r->pool, name);
    f->value = apr_pstrdup(r->pool, value);
    return 0;
}

int execd_set_header(execd_request *r, const char *name, const char *value)
{
    if (r->head_sent || name == NULL || value == NULL || !valid_name(name)
        || !valid_value(value)) {
        return -1;
    }
    drop_fields(r, name, 0);
    return execd_add_header(r, name, value);
}

/* --- writing ------------------------------------------------------------- */

static int can_send(execd_request *r)
{
    return !(r->aborted || r->too_large || r->ended);
}

int execd_write(execd_request *r, const void *buf, size_t len)
{
    apr_status_t rv;

    if (!can_send(r)) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    if (!r->head_sent && send_head(r, 0) != APR_SUCCESS) {
        return -1;
    }
    if (!status_has_body(r->status)) {
        return 0;    /* a 204 or 304 has no body, whatever the handler says */
    }
    rv = sp_chan_put(r->chan, SP_FT_DATA, 0, buf, len);
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "sending the reply body");
        return -1;
    }
    r->bytes_out += len;
    return 0;
}

int execd_puts(execd_request *r, const char *s)
{
    return execd_write(r, s, strlen(s));
}

int execd_printf(execd_request *r, const char *fmt, ...)
{
    char small[PRINTF_STACK];
    char *big;
    va_list ap, ap2;
    int n, rc;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n < sizeof(small)) {
        va_end(ap2);
        return n < 0 ? -1 : execd_write(r, small, n);
    }
    big = malloc((size_t)n + 1);
    if (big == NULL) {
        va_end(ap2);
        return -1;
    }
    vsnprintf(big, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    rc = execd_write(r, big, n);
    free(big);
    return rc;
}

int execd_flush(execd_request *r)
{
    apr_status_t rv;

    if (!can_send(r)) {
        return -1;
    }
    if (!r->head_sent && send_head(r, 0) != APR_SUCCESS) {
        return -1;
    }
    rv = sp_chan_put(r->chan, SP_FT_DATA, SP_FF_FLUSH, NULL, 0);
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "flushing the reply");
        return -1;
    }
    return 0;
}

/* --- request facts ------------------------------------------------------- */

const char *execd_method(execd_request *r)      { return r->method; }
const char *execd_path(execd_request *r)        { return r->path; }
const char *execd_query(execd_request *r)       { return r->query; }
const char *execd_protocol(execd_request *r)    { return r->protocol; }
const char *execd_remote_addr(execd_request *r) { return r->remote_addr; }
const char *execd_remote_user(execd_request *r) { return r->remote_user; }
const char *execd_request_id(execd_request *r)  { return r->request_id; }

const char *execd_service_prefix(execd_request *r)
{
    return r->svc ? r->svc->prefix : "";
}

const char *execd_header(execd_request *r, const char *name)
{
    return sp_head_get(r->head, r->head_len, name);
}

int execd_header_each(execd_request *r,
                      int (*fn)(void *baton, const char *name,
                                const char *value),
                      void *baton)
{
    sp_head_reader_t rd;
    const char *name, *value;
    apr_size_t nlen, vlen;
    int rc;

    sp_head_reader_init(&rd, r->head, r->head_len);
    while (sp_head_next(&rd, &name, &nlen, &value, &vlen) == APR_SUCCESS) {
        rc = fn(baton, name, value);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int execd_aborted(execd_request *r)
{
    if (r->aborted || r->too_large) {
        return 1;
    }
    if (!r->ended && sp_chan_aborted(r->chan)) {
        r->aborted = 1;
        execd_log_error(EXECD_LOG_INFO, "EXD1106", 0, "request %s %s: "
                        "abandoned by the proxy (%s)", r->request_id,
                        r->path, sp_reset_name(sp_chan_reset_code(r->chan)));
        return 1;
    }
    return 0;
}

int execd_check_abort(execd_request *r)
{
    return execd_aborted(r);
}

void execd_request_abort(execd_request *r, uint32_t reason)
{
    abandon(r, reason);
}

int execd_request_head_sent(execd_request *r)
{
    return r->head_sent;
}

void *execd_alloc(execd_request *r, size_t len)
{
    return apr_palloc(r->pool, len);
}

void *execd_pool(execd_request *r)
{
    return r->pool;
}

void execd_log(execd_request *r, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    execd_log_error(EXECD_LOG_NOTICE, "EXD1107", 0, "request %s %s (service "
                    "%s): %s", r->request_id, r->path,
                    execd_service_prefix(r), msg);
}

const execd_service_t *execd_request_service(execd_request *r)
{
    return r->svc;
}

apr_interval_time_t execd_request_timeout(execd_request *r)
{
    return r->conf->timeout;
}

sp_chan_t *execd_request_chan(execd_request *r)
{
    return r->chan;
}

/* --- serving ------------------------------------------------------------- */

static void take_pseudo(execd_request *r, const char *name, const char *val)
{
    if (strcmp(name, SP_H_METHOD) == 0)           r->method = val;
    else if (strcmp(name, SP_H_PATH) == 0)        r->path = val;
    else if (strcmp(name, SP_H_QUERY) == 0)       r->query = val;
    else if (strcmp(name, SP_H_PROTOCOL) == 0)    r->protocol = val;
    else if (strcmp(name, SP_H_REMOTE_ADDR) == 0) r->remote_addr = val;
    else if (strcmp(name, SP_H_REMOTE_USER) == 0) r->remote_user = val;
    else if (strcmp(name, SP_H_REQUEST_ID) == 0)  r->request_id = val;
}

/* Copies the head out of the rx space and picks out the pseudo fields.
 * Returns 0, an HTTP status to answer with, or -1 if the stream is gone. */
static int read_head(execd_request *r)
{
    const unsigned char *payload;
    const char *name, *value;
    apr_size_t nlen, vlen;
    sp_head_reader_t rd;
    sp_frame_hdr_t h;
    apr_status_t rv;

    rv = sp_chan_get(r->chan, &h, &payload, 0);
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "reading the request head");
        return -1;
    }
    if (h.type != SP_FT_HEADERS
        || sp_head_validate(payload, h.length, NULL) != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_ERR, "EXD1108", 0, "slot %u gen %u: "
                        "request began with a malformed %s frame of %u "
                        "bytes", r->chan->idx, (unsigned)r->chan->gen,
                        sp_frame_type_name(h.type), (unsigned)h.length);
        abandon(r, SP_RST_PROTOCOL);
        return -1;
    }
    r->head = apr_pmemdup(r->pool, payload, h.length);
    r->head_len = h.length;
    r->body_ended = (h.flags & SP_FF_END_STREAM) != 0;
    sp_head_reader_init(&rd, r->head, r->head_len);
    while (sp_head_next(&rd, &name, &nlen, &value, &vlen) == APR_SUCCESS
           && name[0] == ':') {
        take_pseudo(r, name, value);
    }
    if (*r->method == '\0' || r->path[0] != '/') {
        execd_log_error(EXECD_LOG_ERR, "EXD1109", 0, "request %s: head "
                        "without :method or with a bad :path '%s'",
                        r->request_id, r->path);
        return 400;
    }
    return 0;
}

/* Checks the declared body length against LimitRequestBody. */
static int check_length(execd_request *r)
{
    const char *cl = execd_header(r, "Content-Length");
    apr_off_t len;
    char *end;

    if (cl == NULL) {
        return 0;
    }
    if (!apr_isdigit(*cl) || apr_strtoff(&len, cl, &end, 10) != APR_SUCCESS
        || *end != '\0') {
        execd_log_error(EXECD_LOG_INFO, "EXD1110", 0, "request %s %s: bad "
                        "Content-Length '%.40s'", r->request_id, r->path, cl);
        return 400;
    }
    if (r->conf->limit_body > 0 && len > r->conf->limit_body) {
        execd_log_error(EXECD_LOG_INFO, "EXD1111", 0, "request %s %s: "
                        "Content-Length %" APR_OFF_T_FMT " is over "
                        "LimitRequestBody %" APR_OFF_T_FMT, r->request_id,
                        r->path, len, r->conf->limit_body);
        r->too_large = 1;
        return 413;
    }
    return 0;
}

static int run_handler(execd_request *r)
{
    if (r->svc->kind == EXECD_SVC_CGI) {
        return execd_cgi_handler(r);
    }
    if (r->svc->fn == NULL) {
        execd_log_error(EXECD_LOG_ERR, "EXD1112", 0, "request %s %s: "
                        "service %s (%s:%d): handler %s is not loaded",
                        r->request_id, r->path, r->svc->prefix, r->svc->file,
                        r->svc->line, r->svc->symbol);
        return 500;
    }
    return r->svc->fn(r);
}

/* A Content-Length the handler set must match what it wrote: otherwise
 * the reply is broken, and the client must see that. */
static int length_mismatch(execd_request *r)
{
    const char *cl = find_field(r, "Content-Length");

    if (cl == NULL || !status_has_body(r->status)
        || strcmp(r->method, "HEAD") == 0
        || apr_atoi64(cl) == r->bytes_out) {
        return 0;
    }
    execd_log_error(EXECD_LOG_ERR, "EXD1113", 0, "request %s %s: handler "
                    "%s wrote %" APR_OFF_T_FMT " body bytes but set "
                    "Content-Length %s, abandoning the reply", r->request_id,
                    r->path, execd_service_prefix(r), r->bytes_out, cl);
    abandon(r, SP_RST_WORKER);
    return 1;
}

static void complete(execd_request *r)
{
    apr_status_t rv;

    if (length_mismatch(r)) {
        return;
    }
    if (!r->head_sent) {
        send_head(r, SP_FF_END_STREAM);
        return;
    }
    rv = sp_chan_put(r->chan, SP_FT_DATA, SP_FF_END_STREAM, NULL, 0);
    if (rv != APR_SUCCESS) {
        chan_failed(r, rv, "ending the reply");
        return;
    }
    r->ended = 1;
}

/* Turns the handler's return value into the end of the stream. */
static void finish(execd_request *r, int ret)
{
    if (r->ended || r->aborted) {
        return;
    }
    if (r->too_large) {
        if (!r->head_sent) {
            send_text_reply(r, 413);
        }
        else {
            abandon(r, SP_RST_TOOLARGE);
        }
        return;
    }
    if (ret == 0) {
        complete(r);
        return;
    }
    if (ret >= 400 && ret <= 599 && !r->head_sent) {
        send_text_reply(r, ret);
        return;
    }
    execd_log_error(EXECD_LOG_ERR, "EXD1114", 0, "request %s %s: handler "
                    "of service %s returned %d after %" APR_OFF_T_FMT
                    " body bytes, abandoning the reply", r->request_id,
                    r->path, execd_service_prefix(r), ret, r->bytes_out);
    if (ret != EXECD_ABORTED && !r->head_sent) {
        send_text_reply(r, 500);
        return;
    }
    abandon(r, SP_RST_WORKER);
}

static void log_access(execd_request *r)
{
    execd_log_access(r->remote_addr, r->remote_user, r->start, r->method,
                     r->path, r->query, r->protocol,
                     r->head_sent ? r->status : 0, r->bytes_out,
                     execd_header(r, "Referer"),
                     execd_header(r, "User-Agent"));
}

static void request_init(execd_request *r, const execd_conf_t *conf,
                         sp_chan_t *c, apr_pool_t *p)
{
    memset(r, 0, sizeof(*r));
    r->pool = p;
    r->conf = conf;
    r->chan = c;
    r->start = apr_time_now();
    r->head = (const unsigned char *)"";
    r->method = r->path = r->query = r->protocol = r->remote_addr = "";
    r->request_id = "-";
    r->status = 200;
    r->fields = apr_array_make(p, 8, sizeof(reply_field_t));
}

/* Everything between the head and the end of the reply. */
static int dispatch(execd_request *r)
{
    int rc = read_head(r);

    if (rc != 0) {
        return rc;
    }
    r->svc = execd_conf_find_service(r->conf, r->path);
    if (r->svc == NULL) {
        execd_log_error(EXECD_LOG_INFO, "EXD1115", 0, "request %s: no "
                        "Service for %s", r->request_id, r->path);
        return 404;
    }
    rc = check_length(r);
    return rc != 0 ? rc : run_handler(r);
}

void execd_serve(const execd_conf_t *conf, sp_chan_t *c, apr_pool_t *p,
                 execd_served_t *result)
{
    execd_request *r = apr_palloc(p, sizeof(*r));
    int rc;

    request_init(r, conf, c, p);
    rc = dispatch(r);
    finish(r, rc);
    if (r->head_len > 0) {
        log_access(r);
    }
    result->status = r->head_sent ? r->status : 0;
    result->bytes_out = r->bytes_out;
    result->aborted = r->aborted;
    sp_chan_close(c);
}

/* --- query parameters ----------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes [p, p + len) (%XX, '+') into a new string of the request's. */
static char *query_decode(execd_request *r, const char *p, size_t len)
{
    char *out = execd_alloc(r, len + 1), *o = out;
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] == '+') {
            *o++ = ' ';
        }
        else if (p[i] == '%' && i + 2 < len
                 && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            *o++ = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
            i += 2;
        }
        else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

const char *execd_query_param(execd_request *r, const char *name)
{
    const char *q = execd_query(r);
    size_t nlen = strlen(name);

    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len >= nlen && strncmp(q, name, nlen) == 0
            && (len == nlen || q[nlen] == '=')) {
            return len == nlen ? "" : query_decode(r, q + nlen + 1,
                                                   len - nlen - 1);
        }
        if (!amp) {
            break;
        }
        q = amp + 1;
    }
    return NULL;
}

int execd_query_copy(execd_request *r, const char *name, char *buf,
                     size_t size)
{
    const char *v = execd_query_param(r, name);

    if (!v || size == 0) {
        return 0;
    }
    apr_cpystrn(buf, v, size);
    return 1;
}

long execd_query_long(execd_request *r, const char *name, long min, long max,
                      long dflt)
{
    const char *v = execd_query_param(r, name);
    char *end;
    long n;

    if (!v) {
        return dflt;
    }
    n = strtol(v, &end, 10);
    return (*v >= '0' && *v <= '9' && *end == '\0' && n >= min && n <= max)
           ? n : -1;
}
