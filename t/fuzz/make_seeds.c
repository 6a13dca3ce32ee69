/*
 * make_seeds.c -- writes the seed corpus of the fuzz targets:
 * DIR/frame/<name> and DIR/handshake/<name>.
 *
 *   t/fuzz/run.sh --seeds       (builds this and rewrites t/fuzz/corpus)
 *
 * Frame seeds are frames of every type (alone and in sequence) and
 * headers and head blocks broken in each way PROTOCOL.md names.
 * Handshake seeds start with the control byte of fuzz_common.h; the
 * complete handshakes in the raw modes carry right proofs because the
 * nonces of a run are fuzz_nonce(0), fuzz_nonce(1), ...
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <apr_general.h>

#include "fuzz_common.h"
#include "sp_auth.h"
#include "sp_frame.h"
#include "sp_head.h"

typedef struct buf_t {
    unsigned char b[32768];
    size_t        n;
} buf_t;

static const char *outdir;

static const sp_secret_t secret = {
    (unsigned char *)FUZZ_SECRET, FUZZ_SECRET_LEN
};

static void put(buf_t *b, const void *p, size_t n)
{
    if (b->n + n > sizeof(b->b)) {
        fprintf(stderr, "make_seeds: seed too large\n");
        exit(1);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put_u8(buf_t *b, unsigned v)
{
    unsigned char c = (unsigned char)v;

    put(b, &c, 1);
}

/* A header with every field as given, reserved included. */
static void raw_hdr(buf_t *b, uint32_t len, unsigned type, unsigned flags,
                    unsigned reserved, uint32_t stream)
{
    unsigned char h[SP_FRAME_HDR_LEN];

    sp_put_u32(h, len);
    h[4] = (unsigned char)type;
    h[5] = (unsigned char)flags;
    sp_put_u16(h + 6, (uint16_t)reserved);
    sp_put_u32(h + 8, stream);
    put(b, h, sizeof(h));
}

static void frame(buf_t *b, unsigned type, unsigned flags, uint32_t stream,
                  const void *payload, size_t len)
{
    sp_frame_hdr_t h = { (uint32_t)len, (uint8_t)type, (uint8_t)flags,
                         stream };
    unsigned char hdr[SP_FRAME_HDR_LEN];

    sp_frame_hdr_encode(hdr, &h);
    put(b, hdr, sizeof(hdr));
    put(b, payload, len);
}

static void frame_u32(buf_t *b, unsigned type, uint32_t stream, uint32_t v)
{
    unsigned char p[4];

    sp_put_u32(p, v);
    frame(b, type, 0, stream, p, 4);
}

static void save(const char *sub, const char *name, const buf_t *b)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, sub);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
    f = fopen(path, "wb");
    if (!f || fwrite(b->b, 1, b->n, f) != b->n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* --- payloads ------------------------------------------------------------ */

static void hello_payload(unsigned char *p, unsigned version, unsigned seq)
{
    sp_put_u16(p, (uint16_t)version);
    sp_put_u16(p + 2, 0);
    fuzz_nonce(seq, p + 4, SP_NONCE_LEN);
}

/* AUTH (client) or WELCOME (server) with the right proof for these
 * nonces and the given settings. */
static size_t proof_payload(unsigned char *p, sp_role_e role,
                            unsigned seq_c, unsigned seq_s,
                            const sp_link_settings_t *s)
{
    unsigned char nc[SP_NONCE_LEN], ns[SP_NONCE_LEN];
    unsigned char *q = p + SP_PROOF_LEN;

    fuzz_nonce(seq_c, nc, SP_NONCE_LEN);
    fuzz_nonce(seq_s, ns, SP_NONCE_LEN);
    if (sp_auth_proof(&secret, role, nc, ns, p) != APR_SUCCESS) {
        fprintf(stderr, "make_seeds: sp_auth_proof failed\n");
        exit(1);
    }
    if (role == SP_ROLE_SERVER) {
        sp_put_u32(q, s->max_streams);
        q += 4;
    }
    sp_put_u32(q, s->stream_window);
    sp_put_u32(q + 4, s->link_window);
    sp_put_u32(q + 8, s->max_frame);
    return (size_t)(q + 12 - p);
}

static size_t request_head(unsigned char *p, size_t cap)
{
    sp_head_builder_t b;

    sp_head_builder_init(&b, p, cap);
    sp_head_add(&b, SP_H_METHOD, "POST");
    sp_head_add(&b, SP_H_PATH, "/app/x");
    sp_head_add(&b, SP_H_QUERY, "a=1&b=2");
    sp_head_add(&b, SP_H_PROTOCOL, "HTTP/1.1");
    sp_head_add(&b, SP_H_SCHEME, "https");
    sp_head_add(&b, SP_H_REMOTE_ADDR, "192.0.2.7");
    sp_head_add(&b, SP_H_BODY, "length");
    sp_head_add(&b, "Host", "www.example.org");
    sp_head_add(&b, "Content-Length", "5");
    sp_head_add(&b, "X-Empty", "");
    return b.len;
}

static size_t response_head(unsigned char *p, size_t cap)
{
    sp_head_builder_t b;

    sp_head_builder_init(&b, p, cap);
    sp_head_add(&b, SP_H_STATUS, "200");
    sp_head_add(&b, "Content-Type", "text/plain");
    sp_head_add(&b, "Set-Cookie", "a=1");
    sp_head_add(&b, "set-cookie", "b=2");
    return b.len;
}

/* One field written by hand: lengths as given, bytes as given. */
static void raw_field(buf_t *b, unsigned nlen, uint32_t vlen,
                      const char *name, size_t name_bytes,
                      const char *value, size_t value_bytes)
{
    unsigned char pre[6];

    sp_put_u16(pre, (uint16_t)nlen);
    sp_put_u32(pre + 2, vlen);
    put(b, pre, 6);
    put(b, name, name_bytes);
    put(b, value, value_bytes);
}

/* --- frame seeds --------------------------------------------------------- */

static void frame_seeds(void)
{
    unsigned char p[512];
    buf_t b, blk;
    size_t n;

#define SEED(name, ...) \
    do { b.n = 0; __VA_ARGS__; save("frame", name, &b); } while (0)
    hello_payload(p, 1, 0);
    SEED("hello", frame(&b, SP_FT_HELLO, 0, 0, p, 36));
    SEED("challenge", frame(&b, SP_FT_CHALLENGE, 0, 0, p, 36));
    n = proof_payload(p, SP_ROLE_CLIENT, 0, 1, &fuzz_mine[0]);
    SEED("auth", frame(&b, SP_FT_AUTH, 0, 0, p, n));
    n = proof_payload(p, SP_ROLE_SERVER, 0, 1, &fuzz_mine[0]);
    SEED("welcome", frame(&b, SP_FT_WELCOME, 0, 0, p, n));
    n = request_head(p, sizeof(p));
    SEED("headers_request", frame(&b, SP_FT_HEADERS, 0, 1, p, n));
    n = response_head(p, sizeof(p));
    SEED("headers_response",
         frame(&b, SP_FT_HEADERS, SP_FF_END_STREAM, 1, p, n));
    SEED("data", frame(&b, SP_FT_DATA, SP_FF_FLUSH, 3, "hello", 5));
    SEED("data_end_empty", frame(&b, SP_FT_DATA, SP_FF_END_STREAM, 3, "", 0));
    SEED("window_link", frame_u32(&b, SP_FT_WINDOW, 0, 65536));
    SEED("window_stream", frame_u32(&b, SP_FT_WINDOW, 5, 1));
    SEED("reset", frame_u32(&b, SP_FT_RESET, 7, SP_RST_OVERLOADED));
    SEED("ping", frame(&b, SP_FT_PING, 0, 0, "12345678", 8));
    SEED("ping_ack", frame(&b, SP_FT_PING, SP_FF_ACK, 0, "12345678", 8));
    SEED("drain", frame_u32(&b, SP_FT_DRAIN, 0, 9));
    n = request_head(p, sizeof(p));
    SEED("request_sequence", {
        frame(&b, SP_FT_HEADERS, 0, 1, p, n);
        frame(&b, SP_FT_DATA, 0, 1, "he", 2);
        frame(&b, SP_FT_DATA, SP_FF_END_STREAM | SP_FF_FLUSH, 1, "llo", 3);
        frame_u32(&b, SP_FT_WINDOW, 1, 5);
        frame_u32(&b, SP_FT_RESET, 1, SP_RST_NO_ERROR);
    });

    /* headers the decoder refuses */
    SEED("bad_type_0", raw_hdr(&b, 0, 0, 0, 0, 1));
    SEED("bad_type_11", raw_hdr(&b, 0, SP_FT_MAX_ + 1, 0, 0, 1));
    SEED("bad_reserved", raw_hdr(&b, 4, SP_FT_WINDOW, 0, 1, 0));
    SEED("bad_flags", raw_hdr(&b, 0, SP_FT_DATA, 0x08, 0, 1));
    SEED("bad_stream_hello", raw_hdr(&b, 36, SP_FT_HELLO, 0, 0, 1));
    SEED("bad_stream_data", raw_hdr(&b, 0, SP_FT_DATA, 0, 0, 0));
    SEED("too_long", raw_hdr(&b, SP_FRAME_MAX_HARD + 1, SP_FT_DATA, 0, 0, 1));
    SEED("length_max", raw_hdr(&b, UINT32_MAX, SP_FT_HEADERS, 0, 0, 1));

    /* head blocks the reader refuses, each in a HEADERS frame */
#define BAD_HEAD(name, ...)                                               \
    do {                                                                  \
        blk.n = 0;                                                        \
        __VA_ARGS__;                                                      \
        SEED(name, frame(&b, SP_FT_HEADERS, 0, 1, blk.b, blk.n));         \
    } while (0)
    BAD_HEAD("head_value_cr", raw_field(&blk, 1, 3, "a\0", 2, "x\ry\0", 4));
    BAD_HEAD("head_name_lf", raw_field(&blk, 2, 0, "a\nb\0", 3, "\0", 1));
    BAD_HEAD("head_empty_name", raw_field(&blk, 0, 1, "\0", 1, "x\0", 2));
    BAD_HEAD("head_missing_nul", raw_field(&blk, 1, 1, "ab", 2, "x\0", 2));
    BAD_HEAD("head_value_past_end",
             raw_field(&blk, 1, 0xffffffffu, "a\0", 2, "x\0", 2));
    BAD_HEAD("head_cut_prefix", put(&blk, "\0\1\0\0", 4));
    BAD_HEAD("head_nul_inside", raw_field(&blk, 3, 0, "a\0b\0", 4, "\0", 1));
    BAD_HEAD("head_good_then_cut", {
        raw_field(&blk, 4, 3, "Host\0", 5, "abc\0", 4);
        raw_field(&blk, 1, 5, "b\0", 2, "xy", 2);
    });
#undef BAD_HEAD
#undef SEED
}

/* --- handshake seeds ----------------------------------------------------- */

/* Frames a link sees after the handshake: what a client sends to execd
 * (to_server) or what execd answers. */
static void open_frames(buf_t *b, int to_server)
{
    unsigned char p[512];
    size_t n = to_server ? request_head(p, sizeof(p))
                         : response_head(p, sizeof(p));

    frame(b, SP_FT_HEADERS, 0, 1, p, n);
    frame(b, SP_FT_DATA, SP_FF_FLUSH, 1, "hello", 5);
    frame(b, SP_FT_DATA, SP_FF_END_STREAM, 1, "", 0);
    frame_u32(b, SP_FT_WINDOW, 1, 5);
    frame_u32(b, SP_FT_WINDOW, 0, 4096);
    frame(b, SP_FT_PING, 0, 0, "pingpong", 8);
    frame(b, SP_FT_PING, SP_FF_ACK, 0, "pingpong", 8);
    frame(b, SP_FT_HEADERS, SP_FF_END_STREAM, 3, p, n);
    frame_u32(b, SP_FT_RESET, 3, SP_RST_CANCEL);
    frame_u32(b, SP_FT_DRAIN, 0, 3);
}

static void handshake_seeds(void)
{
    static const unsigned char zeros[65];
    unsigned char p[64];
    unsigned char peer[FUZZ_PEER_SETTINGS_LEN];
    sp_link_settings_t bad = fuzz_mine[0];
    buf_t b;
    size_t n;
    int i;

#define SEED(name, ctl, ...)                                             \
    do {                                                                 \
        b.n = 0;                                                         \
        put_u8(&b, ctl);                                                 \
        __VA_ARGS__;                                                     \
        save("handshake", name, &b);                                     \
    } while (0)
    /* server link, raw: the input is the client */
    hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
    SEED("srv_hello", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 0),
         frame(&b, SP_FT_HELLO, 0, 0, p, 36));
    SEED("srv_full_handshake", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 1, 4), {
        hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_HELLO, 0, 0, p, 36);
        /* the server link's first nonce is Ns = fuzz_nonce(0) */
        n = proof_payload(p, SP_ROLE_CLIENT, FUZZ_PEER_NONCE_SEQ, 0,
                          &fuzz_mine[1]);
        frame(&b, SP_FT_AUTH, 0, 0, p, n);
        open_frames(&b, 1);
    });
    SEED("srv_bad_proof", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 1), {
        hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_HELLO, 0, 0, p, 36);
        n = proof_payload(p, SP_ROLE_CLIENT, FUZZ_PEER_NONCE_SEQ, 1,
                          &fuzz_mine[1]);
        frame(&b, SP_FT_AUTH, 0, 0, p, n);
    });
    SEED("srv_bad_version", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 2), {
        hello_payload(p, 2, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_HELLO, 0, 0, p, 36);
    });
    SEED("srv_auth_first", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 3), {
        n = proof_payload(p, SP_ROLE_CLIENT, 0, 0, &fuzz_mine[0]);
        frame(&b, SP_FT_AUTH, 0, 0, p, n);
    });
    SEED("srv_hello_short", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 5), {
        hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_HELLO, 0, 0, p, 35);
    });
    SEED("srv_hello_too_long", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 6),
         raw_hdr(&b, 65, SP_FT_HELLO, 0, 0, 0));
    SEED("srv_http_request", FUZZ_CTL(FUZZ_MODE_SERVER_RAW, 0, 7),
         put(&b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));

    /* client link, raw: the input is the server */
    hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
    SEED("cli_challenge", FUZZ_CTL(FUZZ_MODE_CLIENT_RAW, 0, 0),
         frame(&b, SP_FT_CHALLENGE, 0, 0, p, 36));
    SEED("cli_full_handshake", FUZZ_CTL(FUZZ_MODE_CLIENT_RAW, 1, 3), {
        hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_CHALLENGE, 0, 0, p, 36);
        /* the client link's first nonce is Nc = fuzz_nonce(0) */
        n = proof_payload(p, SP_ROLE_SERVER, 0, FUZZ_PEER_NONCE_SEQ,
                          &fuzz_mine[0]);
        frame(&b, SP_FT_WELCOME, 0, 0, p, n);
        open_frames(&b, 0);
    });
    SEED("cli_bad_settings", FUZZ_CTL(FUZZ_MODE_CLIENT_RAW, 0, 1), {
        hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_CHALLENGE, 0, 0, p, 36);
        bad.max_frame = 100;
        n = proof_payload(p, SP_ROLE_SERVER, 0, FUZZ_PEER_NONCE_SEQ, &bad);
        frame(&b, SP_FT_WELCOME, 0, 0, p, n);
    });
    SEED("cli_hello_from_server", FUZZ_CTL(FUZZ_MODE_CLIENT_RAW, 0, 2), {
        hello_payload(p, 1, FUZZ_PEER_NONCE_SEQ);
        frame(&b, SP_FT_HELLO, 0, 0, p, 36);
    });

    /* the harness authenticates; the input is the open link */
    SEED("srv_open_streams", FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 0, 1),
         open_frames(&b, 1));
    SEED("srv_open_small_credit", FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 2, 4), {
        for (i = 0; i < 6; i++) {
            frame(&b, SP_FT_DATA, 0, 1, "0123456789abcdef", 16);
        }
        /* credit is returned every 16 bytes: 64 fit, 65 do not */
        frame(&b, SP_FT_DATA, 0, 1, zeros, 64);
        frame(&b, SP_FT_DATA, 0, 1, zeros, 65);
    });
    /* a frame that fills the link's input buffer exactly, then more */
    SEED("srv_open_full_frame", FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 0, 7), {
        static const unsigned char big[16384];
        frame(&b, SP_FT_DATA, 0, 1, big, fuzz_mine[0].max_frame);
        frame(&b, SP_FT_DATA, SP_FF_END_STREAM, 1, "tail", 4);
    });
    SEED("srv_open_window_overflow", FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 0, 2), {
        frame_u32(&b, SP_FT_WINDOW, 0, 0x7fffffffu);
    });
    SEED("srv_open_too_long", FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 0, 5),
         raw_hdr(&b, fuzz_mine[0].max_frame + 1, SP_FT_DATA, 0, 0, 1));
    SEED("srv_open_handshake_again", FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 3, 6), {
        hello_payload(p, 1, 7);
        frame(&b, SP_FT_HELLO, 0, 0, p, 36);
    });
    SEED("cli_open_streams", FUZZ_CTL(FUZZ_MODE_CLIENT_OPEN, 1, 7),
         open_frames(&b, 0));

    /* ... with the peer's settings from the input */
    sp_put_u32(peer, 16);
    sp_put_u32(peer + 4, 65536);
    sp_put_u32(peer + 8, 1u << 20);
    sp_put_u32(peer + 12, 16384);
    SEED("srv_open_input_settings",
         FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 0, 0) | FUZZ_CTL_PEER_SETTINGS, {
             put(&b, peer, sizeof(peer));
             open_frames(&b, 1);
         });
    SEED("cli_open_input_settings",
         FUZZ_CTL(FUZZ_MODE_CLIENT_OPEN, 0, 2) | FUZZ_CTL_PEER_SETTINGS, {
             put(&b, peer, sizeof(peer));
             open_frames(&b, 0);
         });
    sp_put_u32(peer, 0);                     /* max_streams 0: refused */
    SEED("cli_open_zero_streams",
         FUZZ_CTL(FUZZ_MODE_CLIENT_OPEN, 0, 3) | FUZZ_CTL_PEER_SETTINGS,
         put(&b, peer, sizeof(peer)));
    sp_put_u32(peer + 12, SP_FRAME_MAX_HARD + 1);
    SEED("srv_open_max_frame_too_big",
         FUZZ_CTL(FUZZ_MODE_SERVER_OPEN, 0, 4) | FUZZ_CTL_PEER_SETTINGS,
         put(&b, peer, sizeof(peer)));
#undef SEED
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    apr_initialize();
    frame_seeds();
    handshake_seeds();
    apr_terminate();
    return 0;
}
