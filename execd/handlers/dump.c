/*
 * dump.c -- replies with everything the handler received, as text/plain.
 *
 *     Service /dump module:.../dump.so dump_handler
 *
 * One "name: value" line per field, in the order they came (pseudo
 * fields first, then the headers, repeats repeated), then "body-bytes: N"
 * and "body-sha256: HEX" for the body, which is hashed as it streams.
 * ?status=NNN sets the reply status (a 204 or 304 gets no body);
 * ?cookies=N adds N Set-Cookie fields c1=1 ... cN=N, to test repeated
 * reply headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "execd_api.h"

#define DUMP_CHUNK  (64 * 1024)
#define COOKIES_MAX 1000

int dump_handler(execd_request *r);

/* Reads the whole body into a SHA-256; the byte count, or -1. */
static long long hash_body(execd_request *r, char hex[65])
{
    unsigned char md[32];
    char *buf = execd_alloc(r, DUMP_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    long long total = 0;
    ssize_t n;
    int i;

    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        return -1;
    }
    while ((n = execd_read(r, buf, DUMP_CHUNK)) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        total += n;
    }
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    hex[64] = '\0';
    return n < 0 ? -1 : total;
}

static int print_field(void *baton, const char *name, const char *value)
{
    return execd_printf(baton, "%s: %s\n", name, value) < 0;
}

static int set_reply_head(execd_request *r, long status, long cookies)
{
    char v[48];
    long i;

    if (status < 0 || cookies < 0) {
        return 400;
    }
    execd_set_status(r, (int)status);
    for (i = 1; i <= cookies; i++) {
        snprintf(v, sizeof(v), "c%ld=%ld", i, i);
        execd_add_header(r, "Set-Cookie", v);
    }
    return 0;
}

int dump_handler(execd_request *r)
{
    long status = execd_query_long(r, "status", 200, 599, 200);
    long cookies = execd_query_long(r, "cookies", 0, COOKIES_MAX, 0);
    long long bytes;
    char hex[65];
    int rc;

    rc = set_reply_head(r, status, cookies);
    if (rc != 0) {
        return rc;
    }
    bytes = hash_body(r, hex);
    if (bytes < 0) {
        return EXECD_ABORTED;
    }
    if (status == 204 || status == 304) {
        return 0;    /* no body may follow these */
    }
    execd_set_header(r, "Content-Type", "text/plain; charset=utf-8");
    if (execd_header_each(r, print_field, r) != 0
        || execd_printf(r, "body-bytes: %lld\nbody-sha256: %s\n", bytes,
                        hex) < 0) {
        return EXECD_ABORTED;
    }
    return 0;
}
