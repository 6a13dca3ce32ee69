/*
 * fuzz_handshake.c -- libFuzzer target for a link's input path
 * (sp_link_feed): the handshake of either role and, once authenticated,
 * the frames of an open link.
 *
 * The control byte (fuzz_common.h) picks the role, whether the harness
 * first completes a real handshake itself (computing the proofs from the
 * nonces the link drew, so that the input reaches the open-link code),
 * the link's own settings and a chunk size.  The rest is fed to the link
 * as if read from its socket: once whole and once in chunks, and the two
 * runs must end alike.  After each run the link's state is checked
 * against docs/PROTOCOL.md: what it queued is a clean frame sequence
 * (only the handshake frames of its role, PING answers and link WINDOWs
 * with increments that add up to the DATA consumed), the link credit
 * balances, and what is left in the input buffer is an incomplete frame.
 *
 * Each run has its own pool over its own allocator and its own (never
 * connected) TCP socket, all destroyed at the end of the run, so memory
 * left behind is a leak LeakSanitizer reports.  The socket is never
 * written to: nothing calls sp_link_flush.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_network_io.h>
#include <apr_pools.h>

#include <openssl/rand.h>

#include "fuzz_common.h"
#include "sp_errors.h"
#include "sp_head.h"
#include "sp_link.h"

static const sp_secret_t secret = {
    (unsigned char *)FUZZ_SECRET, FUZZ_SECRET_LEN
};

/* Settings the harness advertises as the peer unless the input gives
 * them: max_streams, stream_window, link_window, max_frame. */
static const unsigned char peer_fixed[FUZZ_PEER_SETTINGS_LEN] = {
    0, 0, 0, 100,  0, 1, 0, 0,  0, 16, 0, 0,  0, 0, 64, 0
};

/* The run's RAND_bytes calls, counted from 0 (fuzz_common.h). */
static unsigned rand_seq;

/* Replaces OpenSSL's for this binary only: nonces that depend on the
 * input alone make every finding reproducible.  Nothing else here needs
 * real randomness. */
int RAND_bytes(unsigned char *buf, int num)
{
    if (num > 0) {
        fuzz_nonce(rand_seq++, buf, (apr_size_t)num);
    }
    return 1;
}

typedef struct run_t {
    /* what the two feeds of one input must agree on */
    apr_status_t rv;
    int          state;
    unsigned     frames;        /* given to on_frame */
    uint64_t     data_bytes;    /* DATA payload bytes given to on_frame */
    apr_size_t   out_len;
    uint32_t     out_hash;
    apr_size_t   in_len;
} run_t;

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
           | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint32_t fnv1a(const unsigned char *p, apr_size_t n)
{
    uint32_t h = 2166136261u;

    while (n--) {
        h = (h ^ *p++) * 16777619u;
    }
    return h;
}

/* PROTOCOL.md 2.3, written out again: are these settings in range? */
static int settings_ok(const unsigned char *p, int with_streams)
{
    uint32_t streams = with_streams ? be32(p) : 1;
    const unsigned char *q = with_streams ? p + 4 : p;
    uint32_t sw = be32(q), lw = be32(q + 4), mf = be32(q + 8);

    return streams >= 1 && sw >= 1 && sw <= 0x7fffffffu
           && lw >= 1 && lw <= 0x7fffffffu
           && mf >= SP_FRAME_MIN_MAX && mf <= SP_FRAME_MAX_HARD;
}

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

static apr_status_t on_frame(sp_link_t *l, const sp_frame_hdr_t *h,
                             const unsigned char *payload, void *baton)
{
    run_t *r = baton;
    int fixed = sp_frame_fixed_len(h->type);
    volatile unsigned char sink = 0;
    uint32_t i;

    FUZZ_CHECK(l->state == SP_LINK_OPEN || l->state == SP_LINK_DRAINING);
    FUZZ_CHECK(h->type == SP_FT_HEADERS || h->type == SP_FT_DATA
               || h->type == SP_FT_RESET || h->type == SP_FT_WINDOW
               || h->type == SP_FT_DRAIN);
    FUZZ_CHECK(h->length <= l->mine.max_frame);
    FUZZ_CHECK(fixed < 0 || h->length == (uint32_t)fixed);
    /* The payload must lie in the link's buffer (ASan checks the reads). */
    FUZZ_CHECK(payload >= l->in
               && payload + h->length <= l->in + l->in_len);
    for (i = 0; i < h->length; i++) {
        sink ^= payload[i];
    }
    (void)sink;
    r->frames++;
    if (h->type == SP_FT_HEADERS) {
        (void)sp_head_validate(payload, h->length, NULL);
    }
    else if (h->type == SP_FT_DATA) {
        r->data_bytes += h->length;
        sp_link_consumed(l, h->length);   /* handed on at once */
    }
    return APR_SUCCESS;
}

/* Walks the link's output queue: whole, valid frames, only those a link
 * of this role queues by itself, with the right nonces and proofs. */
static void check_output(const sp_link_t *l, const run_t *r)
{
    const unsigned char *p = l->out + l->out_off;
    const unsigned char *end = l->out + l->out_len;
    unsigned char proof[SP_PROOF_LEN], settings[16];
    unsigned seen[SP_FT_MAX_ + 1] = { 0 };
    uint64_t window_sum = 0;
    int client = l->role == SP_ROLE_CLIENT;

    FUZZ_CHECK(l->out_off <= l->out_len && l->out_len <= l->out_cap);
    while (p < end) {
        sp_frame_hdr_t h;
        const unsigned char *pl = p + SP_FRAME_HDR_LEN;
        int fixed;

        FUZZ_CHECK(end - p >= SP_FRAME_HDR_LEN);
        FUZZ_CHECK(sp_frame_hdr_decode(p, SP_FRAME_MAX_HARD, &h)
                   == APR_SUCCESS);
        FUZZ_CHECK((apr_size_t)(end - pl) >= h.length);
        fixed = sp_frame_fixed_len(h.type);
        FUZZ_CHECK(fixed < 0 || h.length == (uint32_t)fixed);
        seen[h.type]++;
        switch (h.type) {
        case SP_FT_HELLO:
            FUZZ_CHECK(client && p == l->out && sp_get_u16(pl) == 1);
            FUZZ_CHECK(memcmp(pl + 4, l->nonce_c, SP_NONCE_LEN) == 0);
            break;
        case SP_FT_CHALLENGE:
            FUZZ_CHECK(!client && p == l->out && sp_get_u16(pl) == 1);
            FUZZ_CHECK(memcmp(pl + 4, l->nonce_s, SP_NONCE_LEN) == 0);
            break;
        case SP_FT_AUTH:
        case SP_FT_WELCOME:
            FUZZ_CHECK(client == (h.type == SP_FT_AUTH));
            FUZZ_CHECK(seen[client ? SP_FT_HELLO : SP_FT_CHALLENGE] == 1);
            FUZZ_CHECK(sp_auth_proof(&secret, client ? SP_ROLE_CLIENT
                                                     : SP_ROLE_SERVER,
                                     l->nonce_c, l->nonce_s, proof)
                       == APR_SUCCESS);
            FUZZ_CHECK(memcmp(pl, proof, SP_PROOF_LEN) == 0);
            put_settings(settings, &l->mine, !client);
            FUZZ_CHECK(memcmp(pl + SP_PROOF_LEN, settings,
                              client ? 12 : 16) == 0);
            break;
        case SP_FT_PING:
            FUZZ_CHECK(h.flags == SP_FF_ACK);
            break;
        case SP_FT_WINDOW:
            FUZZ_CHECK(h.stream == 0 && be32(pl) > 0);
            window_sum += be32(pl);
            break;
        default:
            FUZZ_CHECK(!"a link queues no stream frame by itself");
        }
        p = pl + h.length;
    }
    FUZZ_CHECK(seen[SP_FT_HELLO] <= 1 && seen[SP_FT_CHALLENGE] <= 1
               && seen[SP_FT_AUTH] <= 1 && seen[SP_FT_WELCOME] <= 1);
    if (client) {
        FUZZ_CHECK(seen[SP_FT_HELLO] == 1);
    }
    /* Link credit returned is exactly the DATA consumed, less the part
     * still being batched. */
    FUZZ_CHECK(window_sum + l->recv_unacked == r->data_bytes);
}

/* After a run: the link's counters and buffers are consistent. */
static void check_link(const sp_link_t *l, const run_t *r)
{
    FUZZ_CHECK(l->in_len <= l->in_cap);
    FUZZ_CHECK(l->send_credit <= 0x7fffffff);
    FUZZ_CHECK(sp_link_usable(l) == (l->state == SP_LINK_OPEN));
    if (l->state >= SP_LINK_OPEN) {
        FUZZ_CHECK(l->peer_set.max_frame >= SP_FRAME_MIN_MAX
                   && l->peer_set.max_frame <= SP_FRAME_MAX_HARD
                   && l->peer_set.link_window >= 1
                   && l->peer_set.stream_window >= 1);
        FUZZ_CHECK(l->role == SP_ROLE_SERVER
                   || l->peer_set.max_streams >= 1);
    }
    else {
        FUZZ_CHECK(r->frames == 0);
    }
    if (r->rv == APR_SUCCESS) {
        FUZZ_CHECK(l->recv_left >= 0);
        FUZZ_CHECK(l->recv_left + (int64_t)l->recv_unacked
                   == (int64_t)l->mine.link_window);
        /* What is left is the start of a frame that has not all come,
         * with room behind it for the rest. */
        FUZZ_CHECK(l->in_off <= l->in_len && l->in_len <= l->in_cap);
        if (l->in_len - l->in_off >= SP_FRAME_HDR_LEN) {
            sp_frame_hdr_t h;
            uint32_t max = l->state < SP_LINK_OPEN ? 64 : l->mine.max_frame;
            FUZZ_CHECK(sp_frame_hdr_decode(l->in + l->in_off, max, &h)
                       == APR_SUCCESS);
            FUZZ_CHECK(SP_FRAME_HDR_LEN + (apr_size_t)h.length
                       > l->in_len - l->in_off);
            FUZZ_CHECK(l->in_off + SP_FRAME_HDR_LEN + (apr_size_t)h.length
                       <= l->in_cap);
        }
    }
    else {
        FUZZ_CHECK(r->rv == SP_EPROTO || r->rv == SP_ETOOLONG
                   || r->rv == SP_EAUTH || r->rv == SP_EVERSION);
        FUZZ_CHECK(l->close_why != NULL);
    }
    check_output(l, r);
}

static apr_status_t feed(sp_link_t *l, const unsigned char *p, size_t n,
                         size_t chunk)
{
    while (n > 0) {
        size_t k = n < chunk ? n : chunk;
        apr_status_t rv = sp_link_feed(l, p, k);
        if (rv != APR_SUCCESS) {
            return rv;         /* the owner would close the link now */
        }
        p += k;
        n -= k;
    }
    return APR_SUCCESS;
}

static apr_status_t feed_frame(sp_link_t *l, uint8_t type,
                               const unsigned char *payload, uint32_t len)
{
    unsigned char buf[SP_FRAME_HDR_LEN + 64];
    sp_frame_hdr_t h = { len, type, 0, 0 };

    sp_frame_hdr_encode(buf, &h);
    memcpy(buf + SP_FRAME_HDR_LEN, payload, len);
    return sp_link_feed(l, buf, SP_FRAME_HDR_LEN + len);
}

/* The harness plays a client that knows the secret.  Returns the status
 * of the AUTH frame (SP_EPROTO when the settings were out of range). */
static apr_status_t authenticate_server(sp_link_t *l,
                                        const unsigned char *peer)
{
    unsigned char hello[36], auth[44];
    int ok = settings_ok(peer + 4, 0);
    apr_status_t rv;

    sp_put_u16(hello, SP_PROTO_VERSION);
    sp_put_u16(hello + 2, 0);
    fuzz_nonce(FUZZ_PEER_NONCE_SEQ, hello + 4, SP_NONCE_LEN);
    FUZZ_CHECK(feed_frame(l, SP_FT_HELLO, hello, sizeof(hello))
               == APR_SUCCESS);
    FUZZ_CHECK(l->state == SP_LINK_AUTH);
    FUZZ_CHECK(memcmp(l->nonce_c, hello + 4, SP_NONCE_LEN) == 0);

    FUZZ_CHECK(sp_auth_proof(&secret, SP_ROLE_CLIENT, l->nonce_c,
                             l->nonce_s, auth) == APR_SUCCESS);
    memcpy(auth + SP_PROOF_LEN, peer + 4, 12);
    rv = feed_frame(l, SP_FT_AUTH, auth, sizeof(auth));
    FUZZ_CHECK(rv == (ok ? APR_SUCCESS : SP_EPROTO));
    FUZZ_CHECK((l->state == SP_LINK_OPEN) == ok);
    if (ok) {
        FUZZ_CHECK(l->peer_set.stream_window == be32(peer + 4)
                   && l->peer_set.link_window == be32(peer + 8)
                   && l->peer_set.max_frame == be32(peer + 12)
                   && l->send_credit == be32(peer + 8));
    }
    return rv;
}

/* The harness plays a server that knows the secret. */
static apr_status_t authenticate_client(sp_link_t *l,
                                        const unsigned char *peer)
{
    unsigned char challenge[36], welcome[48];
    int ok = settings_ok(peer, 1);
    apr_status_t rv;

    sp_put_u16(challenge, SP_PROTO_VERSION);
    sp_put_u16(challenge + 2, 0);
    fuzz_nonce(FUZZ_PEER_NONCE_SEQ, challenge + 4, SP_NONCE_LEN);
    FUZZ_CHECK(feed_frame(l, SP_FT_CHALLENGE, challenge, sizeof(challenge))
               == APR_SUCCESS);
    FUZZ_CHECK(l->state == SP_LINK_AUTH);
    FUZZ_CHECK(memcmp(l->nonce_s, challenge + 4, SP_NONCE_LEN) == 0);

    FUZZ_CHECK(sp_auth_proof(&secret, SP_ROLE_SERVER, l->nonce_c,
                             l->nonce_s, welcome) == APR_SUCCESS);
    memcpy(welcome + SP_PROOF_LEN, peer, 16);
    rv = feed_frame(l, SP_FT_WELCOME, welcome, sizeof(welcome));
    FUZZ_CHECK(rv == (ok ? APR_SUCCESS : SP_EPROTO));
    FUZZ_CHECK((l->state == SP_LINK_OPEN) == ok);
    if (ok) {
        FUZZ_CHECK(l->peer_set.max_streams == be32(peer)
                   && l->peer_set.max_frame == be32(peer + 12));
    }
    return rv;
}

static apr_pool_t *run_pool(void)
{
    apr_allocator_t *a;
    apr_pool_t *p;

    FUZZ_CHECK(apr_allocator_create(&a) == APR_SUCCESS);
    FUZZ_CHECK(apr_pool_create_ex(&p, NULL, NULL, a) == APR_SUCCESS);
    apr_allocator_owner_set(a, p);   /* destroyed with the pool */
    return p;
}

/* One run: a fresh link fed the input in chunks of `chunk` bytes. */
static void run(unsigned char ctl, const unsigned char *peer,
                const unsigned char *in, size_t n, size_t chunk, run_t *r)
{
    unsigned mode = FUZZ_CTL_MODE(ctl);
    sp_role_e role = (mode & 1) ? SP_ROLE_CLIENT : SP_ROLE_SERVER;
    apr_pool_t *p = run_pool();
    apr_socket_t *sock;
    sp_link_t *l;

    memset(r, 0, sizeof(*r));
    rand_seq = 0;
    FUZZ_CHECK(apr_socket_create(&sock, APR_INET, SOCK_STREAM, APR_PROTO_TCP,
                                 p) == APR_SUCCESS);
    FUZZ_CHECK(sp_link_create(&l, sock, role, &secret,
                              &fuzz_mine[FUZZ_CTL_MINE(ctl)], "fuzz",
                              on_frame, r, p) == APR_SUCCESS);
    FUZZ_CHECK(l->state == SP_LINK_HELLO);

    if (mode == FUZZ_MODE_SERVER_OPEN) {
        r->rv = authenticate_server(l, peer);
    }
    else if (mode == FUZZ_MODE_CLIENT_OPEN) {
        r->rv = authenticate_client(l, peer);
    }
    if (r->rv == APR_SUCCESS) {
        r->rv = feed(l, in, n, chunk);
    }
    r->state = l->state;
    r->in_len = l->in_len - l->in_off;  /* unparsed bytes left */
    r->out_len = l->out_len - l->out_off;
    r->out_hash = fnv1a(l->out + l->out_off, r->out_len);
    check_link(l, r);

    sp_link_close(l, r->rv == APR_SUCCESS ? "end of the fuzz input" : NULL);
    FUZZ_CHECK(l->state == SP_LINK_CLOSED && l->close_why != NULL);
    FUZZ_CHECK(!sp_link_usable(l));
    sp_link_close(l, "twice");     /* must be harmless */
    apr_pool_destroy(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS) {
        abort();
    }
    atexit(apr_terminate);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char ctl;
    const unsigned char *peer = peer_fixed;
    run_t whole, chunked;

    if (size < 1) {
        return 0;
    }
    ctl = data[0];
    data++;
    size--;
    if ((ctl & FUZZ_CTL_PEER_SETTINGS) && FUZZ_CTL_MODE(ctl) >= 2) {
        if (size < FUZZ_PEER_SETTINGS_LEN) {
            return 0;
        }
        peer = data;
        data += FUZZ_PEER_SETTINGS_LEN;
        size -= FUZZ_PEER_SETTINGS_LEN;
    }

    run(ctl, peer, data, size, size ? size : 1, &whole);
    run(ctl, peer, data, size, fuzz_chunks[FUZZ_CTL_CHUNK(ctl)], &chunked);
    /* How the bytes were cut must not matter (except for what sits
     * unparsed behind a frame that closed the link). */
    FUZZ_CHECK(whole.rv == chunked.rv && whole.state == chunked.state
               && whole.frames == chunked.frames
               && whole.data_bytes == chunked.data_bytes
               && whole.out_len == chunked.out_len
               && whole.out_hash == chunked.out_hash);
    FUZZ_CHECK(whole.rv != APR_SUCCESS || whole.in_len == chunked.in_len);
    return 0;
}
