/*
 * sp_link.c -- link framing, handshake, link credit (see sp_link.h).
 *
 * Input is read into a buffer that holds one frame: the header is
 * checked (type, flags, stream rule, length against our max_frame) before
 * any payload is read, so a peer cannot make us allocate or wait for more
 * than max_frame bytes.  Until the handshake completes only handshake
 * frames are accepted, and the first frame is small and fixed-size.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <apr_strings.h>

#include "sp_errors.h"
#include "sp_link.h"

#define OUT_INITIAL   (64 * 1024)
/* Reads take up to this much (or one longest frame, if more): several
 * frames per system call, and only the last, partial one is moved to the
 * front of the buffer afterwards. */
#define IN_MIN        (256 * 1024)
#define IN_READ_MIN   (16 * 1024)

static void refs_drop(sp_link_t *l, int tell);

static apr_status_t link_cleanup(void *data)
{
    sp_link_t *l = data;

    refs_drop(l, 0);
    free(l->refs);
    free(l->in);
    free(l->out);
    l->in = l->out = NULL;
    l->refs = NULL;
    return APR_SUCCESS;
}

static apr_status_t fail(sp_link_t *l, apr_status_t rv, const char *why)
{
    if (!l->close_why) {
        l->close_why = apr_pstrdup(l->pool, why);
    }
    return rv;
}

static apr_status_t queue_hello(sp_link_t *l)
{
    unsigned char p[36];
    apr_status_t rv = sp_auth_nonce(l->nonce_c);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    sp_put_u16(p, SP_PROTO_VERSION);
    sp_put_u16(p + 2, 0);
    memcpy(p + 4, l->nonce_c, SP_NONCE_LEN);
    return sp_link_queue(l, SP_FT_HELLO, 0, 0, p, sizeof(p));
}

apr_status_t sp_link_create(sp_link_t **lp, apr_socket_t *sock, sp_role_e role,
                            const sp_secret_t *secret,
                            const sp_link_settings_t *mine,
                            const char *peer, sp_link_frame_fn *on_frame,
                            void *baton, apr_pool_t *p)
{
    sp_link_t *l = apr_pcalloc(p, sizeof(*l));

    l->pool = p;
    l->sock = sock;
    l->role = role;
    l->state = SP_LINK_HELLO;
    l->peer = peer;
    l->secret = secret;
    l->on_frame = on_frame;
    l->baton = baton;
    l->mine = *mine;
    l->opened = apr_time_now();
    l->next_stream = 1;
    l->recv_left = mine->link_window;
    l->in_cap = SP_FRAME_HDR_LEN + mine->max_frame;
    if (l->in_cap < IN_MIN) {
        l->in_cap = IN_MIN;
    }
    l->in = malloc(l->in_cap);
    l->out_cap = OUT_INITIAL;
    l->out = malloc(l->out_cap);
    apr_pool_cleanup_register(p, l, link_cleanup, apr_pool_cleanup_null);
    if (!l->in || !l->out) {
        return APR_ENOMEM;
    }
    apr_socket_opt_set(sock, APR_SO_NONBLOCK, 1);
    apr_socket_timeout_set(sock, 0);
    *lp = l;
    return role == SP_ROLE_CLIENT ? queue_hello(l) : APR_SUCCESS;
}

apr_status_t sp_link_start_tls(sp_link_t *l, sp_tls_t *tls)
{
    return sp_tls_conn_create(&l->tls, tls, l->sock, l->pool);
}

static apr_status_t link_send(sp_link_t *l, const char *buf, apr_size_t *n)
{
    apr_status_t rv;

    if (!l->tls) {
        return apr_socket_send(l->sock, buf, n);
    }
    rv = sp_tls_send(l->tls, buf, n);
    if (rv == SP_EPROTO) {
        l->close_why = apr_pstrdup(l->pool, sp_tls_error(l->tls));
    }
    return rv;
}

static apr_status_t link_recv(sp_link_t *l, char *buf, apr_size_t *n)
{
    apr_status_t rv;

    if (!l->tls) {
        return apr_socket_recv(l->sock, buf, n);
    }
    rv = sp_tls_recv(l->tls, buf, n);
    if (rv == SP_EPROTO) {
        l->close_why = apr_pstrdup(l->pool, sp_tls_error(l->tls));
    }
    else if (APR_STATUS_IS_EAGAIN(rv) && sp_tls_wants_write(l->tls)) {
        l->want_write = 1;
    }
    return rv;
}

/* --- output -------------------------------------------------------------- */

/* Moves the unwritten output to the front of the buffer (borrowed pieces
 * keep their place: none lies before out_off, it would have been
 * written). */
static void out_compact(sp_link_t *l)
{
    unsigned i;

    if (l->out_off == 0) {
        return;
    }
    memmove(l->out, l->out + l->out_off, l->out_len - l->out_off);
    for (i = l->ref_first; i < l->nrefs; i++) {
        l->refs[i].at -= l->out_off;
    }
    l->out_len -= l->out_off;
    l->out_off = 0;
}

static apr_status_t out_reserve(sp_link_t *l, apr_size_t n)
{
    unsigned char *grown;
    apr_size_t cap;

    if (l->out_off > 0 && l->out_off == l->out_len) {
        out_compact(l);  /* nothing to move */
    }
    if (l->out_len + n <= l->out_cap) {
        return APR_SUCCESS;
    }
    if (l->out_off > 0) {  /* compact before growing */
        out_compact(l);
        if (l->out_len + n <= l->out_cap) {
            return APR_SUCCESS;
        }
    }
    cap = l->out_cap;
    while (cap < l->out_len + n) {
        cap *= 2;
    }
    grown = realloc(l->out, cap);
    if (!grown) {
        return APR_ENOMEM;
    }
    l->out = grown;
    l->out_cap = cap;
    return APR_SUCCESS;
}

apr_status_t sp_link_queue(sp_link_t *l, uint8_t type, uint8_t flags,
                           uint32_t stream, const void *payload,
                           apr_size_t len)
{
    sp_frame_hdr_t h;
    apr_status_t rv = out_reserve(l, SP_FRAME_HDR_LEN + len);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    h.length = (uint32_t)len;
    h.type = type;
    h.flags = flags;
    h.stream = stream;
    sp_frame_hdr_encode(l->out + l->out_len, &h);
    if (len) {
        memcpy(l->out + l->out_len + SP_FRAME_HDR_LEN, payload, len);
    }
    l->out_len += SP_FRAME_HDR_LEN + len;
    return APR_SUCCESS;
}

apr_status_t sp_link_queue_u32(sp_link_t *l, uint8_t type, uint32_t stream,
                               uint32_t value)
{
    unsigned char p[4];

    sp_put_u32(p, value);
    return sp_link_queue(l, type, 0, stream, p, 4);
}

int sp_link_queue_ref(sp_link_t *l, uint8_t type, uint8_t flags,
                      uint32_t stream, const void *p, apr_size_t len,
                      int slot, uint64_t end)
{
    sp_link_ref_t *r;

    if (l->tls || len < SP_LINK_REF_MIN) {
        return sp_link_queue(l, type, flags, stream, p, len) == APR_SUCCESS
               ? 0 : -1;
    }
    if (l->nrefs == l->ref_cap) {
        if (l->ref_first > 0) {
            memmove(l->refs, l->refs + l->ref_first,
                    (l->nrefs - l->ref_first) * sizeof(*r));
            l->nrefs -= l->ref_first;
            l->ref_first = 0;
        }
        if (l->nrefs == l->ref_cap) {
            unsigned cap = l->ref_cap ? 2 * l->ref_cap : 64;
            sp_link_ref_t *grown = realloc(l->refs, cap * sizeof(*r));
            if (!grown) {
                return -1;
            }
            l->refs = grown;
            l->ref_cap = cap;
        }
    }
    /* The header is ours; the payload follows it from p. */
    if (sp_link_queue(l, type, flags, stream, NULL, 0) != APR_SUCCESS) {
        return -1;
    }
    sp_put_u32(l->out + l->out_len - SP_FRAME_HDR_LEN, (uint32_t)len);
    r = &l->refs[l->nrefs++];
    r->at = l->out_len;
    r->p = p;
    r->len = len;
    r->own = NULL;
    r->slot = slot;
    r->end = end;
    l->ref_bytes += len;
    return 1;
}

apr_status_t sp_link_own_refs(sp_link_t *l, int slot)
{
    unsigned i;

    for (i = l->ref_first; i < l->nrefs; i++) {
        sp_link_ref_t *r = &l->refs[i];
        if (r->slot == slot && !r->own) {
            if (!(r->own = malloc(r->len))) {
                return APR_ENOMEM;
            }
            memcpy(r->own, r->p, r->len);
            r->p = r->own;
            r->slot = -1;
        }
    }
    return APR_SUCCESS;
}

/* The first borrowed piece is written (or dropped): its owner may reuse
 * the memory. */
static void ref_pop(sp_link_t *l, int tell)
{
    sp_link_ref_t r = l->refs[l->ref_first++];

    l->ref_bytes -= r.len;
    if (l->ref_first == l->nrefs) {
        l->ref_first = l->nrefs = 0;
    }
    free(r.own);
    if (tell && r.slot >= 0 && l->ref_done) {
        l->ref_done(l, r.slot, r.end, l->baton);
    }
}

static void refs_drop(sp_link_t *l, int tell)
{
    while (l->ref_first < l->nrefs) {
        ref_pop(l, tell);
    }
}

/* n bytes of output were written: the buffer's and the borrowed pieces',
 * in their order. */
static void out_advance(sp_link_t *l, apr_size_t n)
{
    while (n > 0) {
        sp_link_ref_t *r = l->ref_first < l->nrefs ? &l->refs[l->ref_first]
                                                   : NULL;
        apr_size_t k;
        if (!r || l->out_off < r->at) {
            k = (r ? r->at : l->out_len) - l->out_off;
            k = k < n ? k : n;
            l->out_off += k;
        }
        else {
            k = r->len < n ? r->len : n;
            r->p += k;
            r->len -= k;
            l->ref_bytes -= k;
            if (r->len == 0) {
                ref_pop(l, 1);
            }
        }
        n -= k;
    }
}

#define FLUSH_IOV 64

/* Writes what it can of the buffer and the borrowed pieces between its
 * parts, with one writev; *n: bytes written. */
static apr_status_t send_vec(sp_link_t *l, apr_size_t *n)
{
    struct iovec v[FLUSH_IOV];
    apr_size_t pos = l->out_off;
    apr_int32_t nv = 0;
    unsigned i;

    for (i = l->ref_first; i < l->nrefs && nv + 2 <= FLUSH_IOV; i++) {
        sp_link_ref_t *r = &l->refs[i];
        if (r->at > pos) {
            v[nv].iov_base = l->out + pos;
            v[nv++].iov_len = r->at - pos;
            pos = r->at;
        }
        v[nv].iov_base = (void *)r->p;
        v[nv++].iov_len = r->len;
    }
    if (i == l->nrefs && pos < l->out_len && nv < FLUSH_IOV) {
        v[nv].iov_base = l->out + pos;
        v[nv++].iov_len = l->out_len - pos;
    }
    *n = 0;
    return apr_socket_sendv(l->sock, v, nv, n);
}

apr_size_t sp_link_pending(const sp_link_t *l)
{
    return l->out_len - l->out_off + l->ref_bytes;
}

apr_status_t sp_link_flush(sp_link_t *l)
{
    while (sp_link_pending(l) > 0) {
        apr_size_t n = l->out_len - l->out_off;
        apr_status_t rv;
        if (l->ref_first < l->nrefs) {  /* never on TLS */
            rv = send_vec(l, &n);
            out_advance(l, n);
        }
        else {
            rv = link_send(l, (char *)l->out + l->out_off, &n);
            l->out_off += n;
        }
        if (APR_STATUS_IS_EAGAIN(rv)) {
            /* TLS may want to read first: then POLLIN (always on) and the
             * next flush retry it; asking for POLLOUT would spin. */
            l->want_write = !l->tls || sp_tls_wants_write(l->tls);
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            return fail(l, rv, "write to the peer failed");
        }
    }
    l->out_off = l->out_len = 0;
    l->want_write = 0;
    return APR_SUCCESS;
}

void sp_link_consumed(sp_link_t *l, apr_size_t n)
{
    l->recv_unacked += n;
    if (l->state >= SP_LINK_CLOSED) {
        return;
    }
    /* Batch: return credit once a quarter of the window is used. */
    if (l->recv_unacked >= l->mine.link_window / 4) {
        sp_link_queue_u32(l, SP_FT_WINDOW, 0, (uint32_t)l->recv_unacked);
        l->recv_left += (int64_t)l->recv_unacked;
        l->recv_unacked = 0;
    }
}

void sp_link_close(sp_link_t *l, const char *why)
{
    if (l->state == SP_LINK_CLOSED) {
        return;
    }
    if (why && !l->close_why) {
        l->close_why = apr_pstrdup(l->pool, why);
    }
    l->state = SP_LINK_CLOSED;
    apr_socket_close(l->sock);
    refs_drop(l, 1);  /* never written: their owners may reuse them */
}

int sp_link_usable(const sp_link_t *l)
{
    return l->state == SP_LINK_OPEN;
}

/* --- handshake ----------------------------------------------------------- */

static void put_settings(unsigned char *p, const sp_link_settings_t *s,
                         int with_streams)
{
    if (with_streams) {
        sp_put_u32(p, s->max_streams);
        p += 4;
    }
    sp_put_u32(p, s->stream_window);
    sp_put_u32(p + 4, s->link_window);
    sp_put_u32(p + 8, s->max_frame);
}

static apr_status_t get_settings(sp_link_t *l, const unsigned char *p,
                                 int with_streams)
{
    sp_link_settings_t *s = &l->peer_set;

    s->max_streams = with_streams ? sp_get_u32(p) : 0;
    if (with_streams) {
        p += 4;
    }
    s->stream_window = sp_get_u32(p);
    s->link_window = sp_get_u32(p + 4);
    s->max_frame = sp_get_u32(p + 8);
    if (s->max_frame < SP_FRAME_MIN_MAX || s->max_frame > SP_FRAME_MAX_HARD
        || s->stream_window == 0 || s->link_window == 0
        || s->stream_window > 0x7fffffffu || s->link_window > 0x7fffffffu
        || (with_streams && s->max_streams == 0)) {
        return fail(l, SP_EPROTO, "peer settings out of range");
    }
    l->send_credit = s->link_window;
    return APR_SUCCESS;
}

/* HELLO and CHALLENGE open with the sender's protocol version. */
static apr_status_t version_mismatch(sp_link_t *l, const unsigned char *p)
{
    return fail(l, SP_EVERSION, apr_psprintf(l->pool, "peer speaks protocol "
                "version %u, we speak %u", sp_get_u16(p), SP_PROTO_VERSION));
}

static apr_status_t on_hello(sp_link_t *l, const unsigned char *p)
{
    unsigned char out[36];
    apr_status_t rv;

    if (sp_get_u16(p) != SP_PROTO_VERSION) {
        return version_mismatch(l, p);
    }
    memcpy(l->nonce_c, p + 4, SP_NONCE_LEN);
    if ((rv = sp_auth_nonce(l->nonce_s)) != APR_SUCCESS) {
        return fail(l, rv, "no random bytes for the challenge");
    }
    sp_put_u16(out, SP_PROTO_VERSION);
    sp_put_u16(out + 2, 0);
    memcpy(out + 4, l->nonce_s, SP_NONCE_LEN);
    l->state = SP_LINK_AUTH;
    return sp_link_queue(l, SP_FT_CHALLENGE, 0, 0, out, sizeof(out));
}

static apr_status_t on_challenge(sp_link_t *l, const unsigned char *p)
{
    unsigned char out[44];
    apr_status_t rv;

    if (sp_get_u16(p) != SP_PROTO_VERSION) {
        return version_mismatch(l, p);
    }
    memcpy(l->nonce_s, p + 4, SP_NONCE_LEN);
    rv = sp_auth_proof(l->secret, SP_ROLE_CLIENT, l->nonce_c, l->nonce_s, out);
    if (rv != APR_SUCCESS) {
        return fail(l, rv, "cannot compute the proof");
    }
    put_settings(out + SP_PROOF_LEN, &l->mine, 0);
    l->state = SP_LINK_AUTH;
    return sp_link_queue(l, SP_FT_AUTH, 0, 0, out, sizeof(out));
}

static apr_status_t on_auth(sp_link_t *l, const unsigned char *p)
{
    unsigned char out[48];
    apr_status_t rv;

    if (sp_auth_check(l->secret, SP_ROLE_CLIENT, l->nonce_c, l->nonce_s, p)
        != APR_SUCCESS) {
        return fail(l, SP_EAUTH, "peer does not know the shared secret");
    }
    if ((rv = get_settings(l, p + SP_PROOF_LEN, 0)) != APR_SUCCESS) {
        return rv;
    }
    rv = sp_auth_proof(l->secret, SP_ROLE_SERVER, l->nonce_c, l->nonce_s, out);
    if (rv != APR_SUCCESS) {
        return fail(l, rv, "cannot compute the proof");
    }
    put_settings(out + SP_PROOF_LEN, &l->mine, 1);
    l->state = SP_LINK_OPEN;
    return sp_link_queue(l, SP_FT_WELCOME, 0, 0, out, sizeof(out));
}

static apr_status_t on_welcome(sp_link_t *l, const unsigned char *p)
{
    if (sp_auth_check(l->secret, SP_ROLE_SERVER, l->nonce_c, l->nonce_s, p)
        != APR_SUCCESS) {
        return fail(l, SP_EAUTH, "server does not know the shared secret");
    }
    if (get_settings(l, p + SP_PROOF_LEN, 1) != APR_SUCCESS) {
        return SP_EPROTO;
    }
    l->state = SP_LINK_OPEN;
    return APR_SUCCESS;
}

/* Which handshake frame each role expects in each state. */
static apr_status_t on_handshake(sp_link_t *l, const sp_frame_hdr_t *h,
                                 const unsigned char *p)
{
    uint8_t want;

    if (l->role == SP_ROLE_SERVER) {
        want = l->state == SP_LINK_HELLO ? SP_FT_HELLO : SP_FT_AUTH;
    }
    else {
        want = l->state == SP_LINK_HELLO ? SP_FT_CHALLENGE : SP_FT_WELCOME;
    }
    if (h->type != want) {
        return fail(l, SP_EPROTO, apr_psprintf(l->pool,
                    "%s frame during the handshake, expected %s",
                    sp_frame_type_name(h->type), sp_frame_type_name(want)));
    }
    switch (want) {
    case SP_FT_HELLO:     return on_hello(l, p);
    case SP_FT_CHALLENGE: return on_challenge(l, p);
    case SP_FT_AUTH:      return on_auth(l, p);
    default:              return on_welcome(l, p);
    }
}

/* --- input --------------------------------------------------------------- */

static apr_status_t on_link_frame(sp_link_t *l, const sp_frame_hdr_t *h,
                                  const unsigned char *p)
{
    int fixed = sp_frame_fixed_len(h->type);

    if (fixed >= 0 && h->length != (uint32_t)fixed) {
        return fail(l, SP_EPROTO, apr_psprintf(l->pool,
                    "%s frame of %u bytes, expected %d",
                    sp_frame_type_name(h->type), h->length, fixed));
    }
    if (l->state < SP_LINK_OPEN) {
        return on_handshake(l, h, p);
    }
    switch (h->type) {
    case SP_FT_HELLO: case SP_FT_CHALLENGE: case SP_FT_AUTH: case SP_FT_WELCOME:
        return fail(l, SP_EPROTO, "handshake frame on an open link");
    case SP_FT_PING:
        if (h->flags & SP_FF_ACK) {
            return APR_SUCCESS;
        }
        return sp_link_queue(l, SP_FT_PING, SP_FF_ACK, 0, p, 8);
    case SP_FT_WINDOW:
        if (h->stream == 0) {
            uint32_t inc = sp_get_u32(p);
            if (inc == 0 || l->send_credit + inc > 0x7fffffff) {
                return fail(l, SP_EPROTO, "link WINDOW increment out of range");
            }
            l->send_credit += inc;
        }
        break;
    case SP_FT_DATA:
        l->recv_left -= h->length;
        if (l->recv_left < 0) {
            return fail(l, SP_EPROTO, "peer sent past the link credit");
        }
        break;
    case SP_FT_DRAIN:
        if (l->role == SP_ROLE_SERVER) {
            /* The client's answer to our DRAIN: it opens no stream after
             * the one it names.  Unasked, it is a broken peer. */
            if (!l->drain_sent) {
                return fail(l, SP_EPROTO, "DRAIN from a client that was not "
                            "asked to drain");
            }
            l->drain_acked = 1;
            l->drain_last = sp_get_u32(p);
            break;
        }
        l->state = SP_LINK_DRAINING;
        l->drain_last = sp_get_u32(p);
        break;
    default:
        break;
    }
    return l->on_frame(l, h, p, l->baton);
}

/* Dispatches every whole frame in the input buffer. */
static apr_status_t parse_input(sp_link_t *l)
{
    apr_size_t off = l->in_off;
    apr_status_t rv = APR_SUCCESS;

    while (l->in_len - off >= SP_FRAME_HDR_LEN && l->state != SP_LINK_CLOSED) {
        sp_frame_hdr_t h;
        uint32_t max = l->state < SP_LINK_OPEN ? 64 : l->mine.max_frame;

        rv = sp_frame_hdr_decode(l->in + off, max, &h);
        if (rv != APR_SUCCESS) {
            char sample[3 * SP_FRAME_HDR_LEN + 1];
            int i;
            for (i = 0; i < SP_FRAME_HDR_LEN; i++) {
                apr_snprintf(sample + 3 * i, 4, "%02x ", l->in[off + i]);
            }
            sample[3 * SP_FRAME_HDR_LEN - 1] = '\0';
            return fail(l, rv, apr_psprintf(l->pool,
                        "bad frame header [%s]: %s", sample,
                        rv == SP_ETOOLONG ? "length past the limit"
                                          : "malformed"));
        }
        if (l->in_len - off < SP_FRAME_HDR_LEN + h.length) {
            break;
        }
        rv = on_link_frame(l, &h, l->in + off + SP_FRAME_HDR_LEN);
        off += SP_FRAME_HDR_LEN + h.length;
        if (rv != APR_SUCCESS) {
            break;
        }
    }
    if (off == l->in_len) {
        l->in_off = l->in_len = 0;
    }
    else if (l->in_cap - l->in_len < SP_FRAME_HDR_LEN + l->mine.max_frame) {
        /* Too little room left behind it for the rest of a frame: move
         * the partial frame to the front (once per several frames, not
         * once per read). */
        memmove(l->in, l->in + off, l->in_len - off);
        l->in_len -= off;
        l->in_off = 0;
    }
    else {
        l->in_off = off;
    }
    return rv;
}

apr_status_t sp_link_feed(sp_link_t *l, const void *buf, apr_size_t len)
{
    const unsigned char *p = buf;

    while (len > 0 && l->state != SP_LINK_CLOSED) {
        apr_size_t n = l->in_cap - l->in_len;
        apr_status_t rv;
        if (n > len) {
            n = len;
        }
        memcpy(l->in + l->in_len, p, n);
        l->in_len += n;
        p += n;
        len -= n;
        if ((rv = parse_input(l)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_status_t sp_link_on_readable(sp_link_t *l)
{
    int rounds;

    for (rounds = 0; (rounds < 16 || (l->tls && sp_tls_pending(l->tls)))
                     && l->state != SP_LINK_CLOSED; rounds++) {
        apr_size_t room = l->in_cap - l->in_len, n = room;
        apr_status_t rv = link_recv(l, (char *)l->in + l->in_len, &n);
        l->in_len += n;
        if (n > 0) {
            apr_status_t prv = parse_input(l);
            if (prv != APR_SUCCESS) {
                return prv;
            }
        }
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return APR_SUCCESS;
        }
        if (rv == APR_SUCCESS && n > 0 && n < room && !l->tls) {
            /* A short read emptied the socket: asking again would only
             * return EAGAIN.  The poll set is level-triggered, so bytes
             * that come later wake the loop again. */
            return APR_SUCCESS;
        }
        if (rv == APR_EOF || (rv == APR_SUCCESS && n == 0)) {
            return fail(l, SP_ECLOSED, "peer closed the connection");
        }
        if (rv != APR_SUCCESS) {
            return fail(l, rv, "read from the peer failed");
        }
    }
    return APR_SUCCESS;
}
