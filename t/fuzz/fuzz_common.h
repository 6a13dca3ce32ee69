/*
 * fuzz_common.h -- what the fuzz targets and the seed generator agree on:
 * the check macro, the shared secret, the layout of the handshake
 * target's control byte, the link settings it can pick, and the nonces a
 * run draws.
 *
 * fuzz_handshake replaces OpenSSL's RAND_bytes with fuzz_nonce(), counted
 * from 0 at the start of every run, so that one input always gives the
 * same nonces: a crash file then reproduces, and make_seeds can write
 * seeds whose proofs are right (the first nonce a link draws is
 * fuzz_nonce(0): Ns for a server, Nc for a client).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <apr.h>

#include "sp_link.h"

/* A failed invariant is a finding: say which, and abort so that libFuzzer
 * saves the input. */
#define FUZZ_CHECK(cond)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond,  \
                    __FILE__, __LINE__);                                   \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* 36 bytes: above SP_SECRET_MIN, as a deployed secret would be. */
#define FUZZ_SECRET     "fuzz-shared-secret-0123456789abcdef!"
#define FUZZ_SECRET_LEN (sizeof(FUZZ_SECRET) - 1)

/* fuzz_handshake input: one control byte, then (if FUZZ_CTL_PEER_SETTINGS
 * and the mode completes the handshake itself) FUZZ_PEER_SETTINGS_LEN
 * bytes of peer settings, then the bytes fed to the link.
 *
 *   bits 0-1  mode (below)
 *   bit  2    the harness's AUTH/WELCOME carry settings from the input
 *             (WELCOME: all 16 bytes; AUTH: the last 12) instead of
 *             fixed, valid ones
 *   bits 3-4  which of fuzz_mine[] the link under test advertises
 *   bits 5-7  chunk size of the second, chunked feed (fuzz_chunks[])
 */
#define FUZZ_MODE_SERVER_RAW   0  /* server link; input is the client */
#define FUZZ_MODE_CLIENT_RAW   1  /* client link; input is the server */
#define FUZZ_MODE_SERVER_OPEN  2  /* harness authenticates, then input */
#define FUZZ_MODE_CLIENT_OPEN  3
#define FUZZ_CTL_MODE(c)       ((c) & 3u)
#define FUZZ_CTL_PEER_SETTINGS 0x04u
#define FUZZ_CTL_MINE(c)       (((c) >> 3) & 3u)
#define FUZZ_CTL_CHUNK(c)      (((c) >> 5) & 7u)
#define FUZZ_CTL(mode, mine, chunk) \
    ((unsigned char)((mode) | ((mine) << 3) | ((chunk) << 5)))
#define FUZZ_PEER_SETTINGS_LEN 16

/* Settings of the link under test: max_streams, stream_window,
 * link_window, max_frame.  0 is what sp_proxy_default_settings gives for
 * a 16 KiB slot space; 2 has a link window small enough for a short input
 * to exhaust it and to make the link return credit often. */
static const sp_link_settings_t fuzz_mine[4] = {
    { 4096, 4 * 16396, 0x40000000u, 16384 },
    { 64, 65536, 1u << 20, 16384 },
    { 1, 1, 64, 16384 },
    { 8, 1u << 20, 1u << 16, 65536 },
};

/* Bytes per sp_link_feed call in the chunked feed. */
static const unsigned fuzz_chunks[8] = { 1, 2, 3, 5, 11, 12, 13, 37 };

/* The nonce the harness sends as the peer in the _OPEN modes. */
#define FUZZ_PEER_NONCE_SEQ 1000u

/* The seq-th nonce of a run (any length; mixing, not randomness). */
static inline void fuzz_nonce(unsigned seq, unsigned char *out,
                              apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        out[i] = (unsigned char)(0xa5u ^ (seq * 71u + (unsigned)i * 29u));
    }
}

#endif
