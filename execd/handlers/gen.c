/*
 * gen.c -- generates a reply body of a requested size from a fixed
 * pattern: byte i is (i * 31 + 7) & 0xff.
 *
 *     Service /gen module:.../gen.so gen_handler
 *
 * ?bytes=N (required, up to 64 GiB).  Content-Length is set and the body
 * goes out 64 KiB at a time, so the largest download costs no more
 * memory than the smallest; a client checks the bytes without having to
 * store them (the pattern repeats every 256 bytes).  The 64 KiB of
 * pattern are made once per worker process, as the bench's limit module
 * and FastCGI app make theirs, so that `make bench` compares the gateways
 * and not the handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "execd_api.h"

#define GEN_CHUNK (64 * 1024)   /* a multiple of the 256-byte period */
#define GEN_MAX   (64ULL * 1024 * 1024 * 1024)

int gen_handler(execd_request *r);

/* Workers are single-threaded processes: filled on the first request. */
static unsigned char pattern[GEN_CHUNK];
static int pattern_made;

static void make_pattern(void)
{
    size_t i;

    for (i = 0; i < GEN_CHUNK; i++) {
        pattern[i] = (unsigned char)((i * 31 + 7) & 0xff);
    }
    pattern_made = 1;
}

/* The requested size, or -1 if absent or out of range. */
static long long wanted_bytes(execd_request *r)
{
    char v[32], *end;
    unsigned long long n;

    if (!execd_query_copy(r, "bytes", v, sizeof(v))
        || v[0] < '0' || v[0] > '9') {
        return -1;
    }
    n = strtoull(v, &end, 10);
    return (*end == '\0' && n <= GEN_MAX) ? (long long)n : -1;
}

int gen_handler(execd_request *r)
{
    long long total = wanted_bytes(r), left;
    char cl[32];
    size_t n;

    if (total < 0) {
        return 400;
    }
    if (!pattern_made) {
        make_pattern();
    }
    snprintf(cl, sizeof(cl), "%lld", total);
    execd_set_header(r, "Content-Type", "application/octet-stream");
    execd_set_header(r, "Content-Length", cl);
    for (left = total; left > 0; left -= (long long)n) {
        n = left < GEN_CHUNK ? (size_t)left : GEN_CHUNK;
        if (execd_write(r, pattern, n) < 0) {
            return EXECD_ABORTED;
        }
    }
    return 0;
}
