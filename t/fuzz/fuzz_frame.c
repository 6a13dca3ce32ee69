/*
 * fuzz_frame.c -- libFuzzer target for the two decoders that read what a
 * peer sends before anything else does: the frame header
 * (sp_frame_hdr_decode, sp_frame_hdr_decode_slot) and the head block
 * (sp_head_reader, sp_head_validate, sp_head_get).
 *
 * The input is read as a sequence of frames, as a link reads it.  Every
 * 12-byte header is decoded with several limits, some taken from the
 * input, and the answer is compared with the rules of docs/PROTOCOL.md
 * 1.1-1.3 written out again here; an accepted header must re-encode to
 * the same 12 bytes.  Every payload (and the whole input) is read as a
 * head block from a buffer of exactly its size, so that ASan sees any
 * read past the end; the reader must hand out only pointers inside the
 * block, agree with validate on the count, and a valid block must rebuild
 * byte for byte through the builder.
 *
 * The input is also read as a slot space (sp_space_next), the way a proxy
 * reads what a broken owner wrote: the first 8 bytes give the published
 * head relative to the reader, the rest is the space.  Every frame handed
 * out must lie inside the space, and the reader must stop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "sp_errors.h"
#include "sp_frame.h"
#include "sp_head.h"
#include "sp_space.h"

/* What each type allows in `stream` on a link, from PROTOCOL.md 1.2:
 * 0 = must be 0, 1 = must not be 0, 2 = either. */
static const struct {
    int fixed_len;
    int stream_rule;
} spec[SP_FT_MAX_ + 1] = {
    [SP_FT_HELLO]     = { 36, 0 },
    [SP_FT_CHALLENGE] = { 36, 0 },
    [SP_FT_AUTH]      = { 44, 0 },
    [SP_FT_WELCOME]   = { 48, 0 },
    [SP_FT_HEADERS]   = { -1, 1 },
    [SP_FT_DATA]      = { -1, 1 },
    [SP_FT_WINDOW]    = { 4, 2 },
    [SP_FT_RESET]     = { 4, 1 },
    [SP_FT_PING]      = { 8, 0 },
    [SP_FT_DRAIN]     = { 4, 0 },
};

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
           | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* The status the spec gives for these 12 bytes under max_len. */
static apr_status_t expected_status(const unsigned char *in, uint32_t max_len,
                                    int link)
{
    uint32_t length = be32(in), stream = be32(in + 8);
    uint8_t type = in[4], flags = in[5];

    if (type == 0 || type > SP_FT_MAX_ || in[6] != 0 || in[7] != 0
        || (flags & ~SP_FF_KNOWN) != 0) {
        return SP_EPROTO;
    }
    if (link && ((spec[type].stream_rule == 0 && stream != 0)
                 || (spec[type].stream_rule == 1 && stream == 0))) {
        return SP_EPROTO;
    }
    if (max_len > SP_FRAME_MAX_HARD) {
        max_len = SP_FRAME_MAX_HARD;
    }
    return length > max_len ? SP_ETOOLONG : APR_SUCCESS;
}

static void check_decoded(const unsigned char *in, uint32_t max_len,
                          int link)
{
    sp_frame_hdr_t h;
    unsigned char again[SP_FRAME_HDR_LEN];
    apr_status_t rv;

    memset(&h, 0xee, sizeof(h));
    rv = link ? sp_frame_hdr_decode(in, max_len, &h)
              : sp_frame_hdr_decode_slot(in, max_len, &h);
    FUZZ_CHECK(rv == expected_status(in, max_len, link));
    /* Filled in even when refused, for the log. */
    FUZZ_CHECK(h.length == be32(in) && h.type == in[4] && h.flags == in[5]
               && h.stream == be32(in + 8));
    if (rv == APR_SUCCESS) {
        sp_frame_hdr_encode(again, &h);
        FUZZ_CHECK(memcmp(again, in, SP_FRAME_HDR_LEN) == 0);
        FUZZ_CHECK(h.length <= max_len && h.length <= SP_FRAME_MAX_HARD);
        FUZZ_CHECK(sp_frame_fixed_len(h.type) == spec[h.type].fixed_len);
        FUZZ_CHECK(strcmp(sp_frame_type_name(h.type), "?") != 0);
    }
}

/* Both decoders under a few limits: fixed edges, the header's own length
 * and its neighbours, and limits read from the input. */
static void check_header(const unsigned char *in, const unsigned char *data,
                         size_t size)
{
    uint32_t len = be32(in);
    uint32_t limits[12];
    size_t n = 0, i;

    limits[n++] = 0;
    limits[n++] = 64;
    limits[n++] = SP_FRAME_MIN_MAX;
    limits[n++] = SP_FRAME_MAX_HARD;
    limits[n++] = SP_FRAME_MAX_HARD + 1;
    limits[n++] = UINT32_MAX;
    limits[n++] = len;
    limits[n++] = len - 1;      /* wraps to UINT32_MAX for 0: also a case */
    limits[n++] = len + 1;
    if (size >= 4) {
        limits[n++] = be32(data + size - 4);
    }
    if (size >= 16) {
        limits[n++] = be32(data + 12);
    }
    for (i = 0; i < n; i++) {
        check_decoded(in, limits[i], 1);
        check_decoded(in, limits[i], 0);
    }
    FUZZ_CHECK(sp_frame_type_name(in[4]) != NULL);
    FUZZ_CHECK(sp_reset_name(be32(in + 8)) != NULL);
    FUZZ_CHECK((be32(in + 8) <= SP_RST_MAX_)
               == (strcmp(sp_reset_name(be32(in + 8)), "?") != 0));
}

/* The first field named `name` (ASCII case-insensitive), found by a walk
 * of our own over fields already checked. */
static const char *first_match(const char *const *names,
                               const char *const *values, size_t n,
                               const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcasecmp(names[i], name) == 0) {
            return values[i];
        }
    }
    return NULL;
}

static int clean(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n') {
            return 0;
        }
    }
    return s[len] == '\0';
}

/* A valid block must rebuild byte for byte into a buffer of its exact
 * size, and must not fit in one byte less. */
static void check_rebuild(const unsigned char *buf, apr_size_t len)
{
    unsigned char *out = malloc(len ? len : 1);
    sp_head_builder_t b;
    sp_head_reader_t r;
    const char *name, *value;
    apr_size_t nlen, vlen;
    int pass;

    FUZZ_CHECK(out != NULL);
    for (pass = 0; pass < 2; pass++) {
        apr_size_t cap = pass == 0 ? len : len - 1;
        apr_status_t last = APR_SUCCESS;
        if (pass == 1 && len == 0) {
            break;
        }
        sp_head_builder_init(&b, out, cap);
        sp_head_reader_init(&r, buf, len);
        while (sp_head_next(&r, &name, &nlen, &value, &vlen) == APR_SUCCESS) {
            apr_status_t rv = sp_head_addn(&b, name, nlen, value, vlen);
            if (pass == 0) {
                FUZZ_CHECK(rv == APR_SUCCESS);
            }
            else {
                /* Once a field did not fit, every later one fails. */
                FUZZ_CHECK(last == APR_SUCCESS || rv == SP_ETOOLONG);
                FUZZ_CHECK(rv == APR_SUCCESS || rv == SP_ETOOLONG);
                last = rv;
            }
        }
        if (pass == 0) {
            FUZZ_CHECK(b.len == len && !b.overflow);
            FUZZ_CHECK(len == 0 || memcmp(out, buf, len) == 0);
        }
        else {
            FUZZ_CHECK(b.overflow && last == SP_ETOOLONG && b.len < len);
        }
    }
    free(out);
}

/* Reads buf[0, len) as a head block.  buf must end exactly at len (an
 * allocation of that size) so that ASan catches a read past it. */
static void check_head(const unsigned char *buf, apr_size_t len)
{
    enum { MAX_KEPT = 64 };
    const char *names[MAX_KEPT], *values[MAX_KEPT];
    sp_head_reader_t r;
    const unsigned char *before;
    const char *name, *value;
    apr_size_t nlen, vlen, n = 0, counted = 0;
    apr_status_t rv, vrv;

    sp_head_reader_init(&r, buf, len);
    for (;;) {
        before = r.p;
        rv = sp_head_next(&r, &name, &nlen, &value, &vlen);
        if (rv != APR_SUCCESS) {
            break;
        }
        FUZZ_CHECK((const unsigned char *)name > before
                   && (const unsigned char *)value > (const unsigned char *)name
                   && (const unsigned char *)value + vlen < buf + len
                   && r.p > before && r.p <= buf + len);
        FUZZ_CHECK(nlen > 0 && nlen <= SP_HEAD_MAX_NAME);
        FUZZ_CHECK(clean(name, nlen) && clean(value, vlen));
        FUZZ_CHECK(r.p == (const unsigned char *)value + vlen + 1);
        if (n < MAX_KEPT) {
            names[n] = name;
            values[n] = value;
        }
        n++;
    }
    FUZZ_CHECK(rv == APR_EOF || rv == SP_EPROTO);
    if (rv == APR_EOF) {
        FUZZ_CHECK(r.p == buf + len);
    }
    else {
        /* On error the reader stays put and says the same again. */
        FUZZ_CHECK(r.p == before);
        FUZZ_CHECK(sp_head_next(&r, &name, &nlen, &value, &vlen) == rv);
        FUZZ_CHECK(r.p == before);
    }

    vrv = sp_head_validate(buf, len, &counted);
    FUZZ_CHECK(vrv == (rv == APR_EOF ? APR_SUCCESS : SP_EPROTO));
    FUZZ_CHECK(sp_head_validate(buf, len, NULL) == vrv);
    if (vrv == APR_SUCCESS) {
        FUZZ_CHECK(counted == n);
        if (n > 0 && n <= MAX_KEPT) {
            FUZZ_CHECK(sp_head_get(buf, len, names[0]) == values[0]);
            FUZZ_CHECK(sp_head_get(buf, len, names[n - 1])
                       == first_match(names, values, n, names[n - 1]));
        }
        if (n <= MAX_KEPT) {
            FUZZ_CHECK(sp_head_get(buf, len, SP_H_STATUS)
                       == first_match(names, values, n, SP_H_STATUS));
        }
        check_rebuild(buf, len);
    }
    else {
        /* Nothing is looked up in a block validate refuses. */
        if (n > 0 && n <= MAX_KEPT) {
            FUZZ_CHECK(sp_head_get(buf, len, names[0]) == NULL);
        }
        FUZZ_CHECK(sp_head_get(buf, len, SP_H_METHOD) == NULL);
    }
}

/* check_head over a private copy of exactly len bytes. */
static void check_head_copy(const unsigned char *p, apr_size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);

    FUZZ_CHECK(copy != NULL);
    if (len) {
        memcpy(copy, p, len);
    }
    check_head(copy, len);
    free(copy);
}

/* The input as a slot space a reader walks (see the top). */
static void check_space(const unsigned char *data, size_t size)
{
    const unsigned char *base = data + 8;
    apr_size_t space = size - 8;
    uint64_t start, pos, head;
    int steps;

    if (size < 8 + 16) {
        return;
    }
    /* Start the reader anywhere in a lap; the head where the input says. */
    start = (uint64_t)be32(data) * space + be32(data) % space;
    head = start + ((uint64_t)be32(data + 4) % (2 * (uint64_t)space + 1));
    pos = start;
    for (steps = 0; steps <= (int)space; steps++) {
        sp_frame_hdr_t h;
        const unsigned char *p;
        uint64_t before = pos;
        int r = sp_space_next(base, space, &pos, head, &h, &p);
        if (r <= 0) {
            FUZZ_CHECK(r == 0 || r == -1);
            FUZZ_CHECK(r != 0 || pos == head);
            return;
        }
        FUZZ_CHECK(pos >= before && pos - start <= head - start);
        FUZZ_CHECK(p >= base + SP_FRAME_HDR_LEN && p + h.length <= base + space);
        FUZZ_CHECK(pos + SP_FRAME_HDR_LEN + h.length <= head);
        FUZZ_CHECK(p == base + pos % space + SP_FRAME_HDR_LEN);
        pos += SP_FRAME_HDR_LEN + h.length;
    }
    FUZZ_CHECK(!"the reader did not stop");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    check_space(data, size);

    /* The input itself, as if it were one HEADERS payload (data ends
     * exactly at size). */
    check_head(data, size);

    while (size - off >= SP_FRAME_HDR_LEN) {
        const unsigned char *in = data + off;
        size_t avail = size - off - SP_FRAME_HDR_LEN;
        uint32_t len = be32(in);

        check_header(in, data, size);
        /* The payload, or what came of it. */
        check_head_copy(in + SP_FRAME_HDR_LEN, len <= avail ? len : avail);
        if (len > avail) {
            break;
        }
        off += SP_FRAME_HDR_LEN + len;
    }
    return 0;
}
