/*
 * sp_head.c -- the head block: building it into a fixed buffer and reading
 * it back in place.
 *
 * A field on the wire is
 *
 *   uint16 name_len | uint32 value_len | name | NUL | value | NUL
 *
 * The builder never allocates and never leaves a half-written field: it
 * checks the room for the whole field first, and once a field did not fit
 * it refuses every later one, so a truncated head is never sent as if it
 * were whole.  The reader treats the block as hostile: every length is
 * checked against the bytes that remain before it is used, and a field is
 * handed out only if its name and value are clean C strings (terminated
 * where the lengths say, with no NUL, CR or LF inside) -- CR and LF would
 * let a peer smuggle extra header lines into CGI environments and
 * responses.
 */
#include <string.h>

#include <apr_cstr.h>

#include "sp_errors.h"
#include "sp_frame.h"
#include "sp_head.h"

#define FIELD_PREFIX_LEN 6   /* uint16 name_len + uint32 value_len */

/* Non-zero if s[0..len) holds a NUL, CR or LF. */
static int has_bad_byte(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n') {
            return 1;
        }
    }
    return 0;
}

void sp_head_builder_init(sp_head_builder_t *b, unsigned char *buf,
                          apr_size_t cap)
{
    b->buf = buf;
    b->cap = buf ? cap : 0;
    b->len = 0;
    b->overflow = 0;
}

apr_status_t sp_head_addn(sp_head_builder_t *b, const char *name,
                          apr_size_t nlen, const char *value,
                          apr_size_t vlen)
{
    apr_size_t room;
    unsigned char *p;

    if (b->overflow) {
        return SP_ETOOLONG;
    }
    if (name == NULL || nlen == 0 || nlen > SP_HEAD_MAX_NAME
        || (value == NULL && vlen != 0)) {
        return APR_EINVAL;
    }
    if (has_bad_byte(name, nlen) || has_bad_byte(value, vlen)) {
        return APR_EINVAL;
    }
    /* Compare by subtraction so that no sum can wrap around; the second
     * test is vlen + 1 > what is left after the name. */
    room = b->cap - b->len;
    if (vlen > UINT32_MAX || room < FIELD_PREFIX_LEN + nlen + 1
        || vlen >= room - (FIELD_PREFIX_LEN + nlen + 1)) {
        b->overflow = 1;
        return SP_ETOOLONG;
    }

    p = b->buf + b->len;
    sp_put_u16(p, (uint16_t)nlen);
    sp_put_u32(p + 2, (uint32_t)vlen);
    p += FIELD_PREFIX_LEN;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = '\0';
    if (vlen) {
        memcpy(p, value, vlen);
    }
    p += vlen;
    *p++ = '\0';
    b->len = (apr_size_t)(p - b->buf);
    return APR_SUCCESS;
}

apr_status_t sp_head_add(sp_head_builder_t *b, const char *name,
                         const char *value)
{
    if (name == NULL || value == NULL) {
        return b->overflow ? SP_ETOOLONG : APR_EINVAL;
    }
    return sp_head_addn(b, name, strlen(name), value, strlen(value));
}

void sp_head_reader_init(sp_head_reader_t *r, const void *buf,
                         apr_size_t len)
{
    r->p = buf;
    r->end = buf ? r->p + len : r->p;
}

/* On error the reader does not move: asking again gives the same answer. */
apr_status_t sp_head_next(sp_head_reader_t *r, const char **name,
                          apr_size_t *nlen, const char **value,
                          apr_size_t *vlen)
{
    apr_size_t left = (apr_size_t)(r->end - r->p);
    apr_size_t n;
    uint32_t v;
    const char *np, *vp;

    if (left == 0) {
        return APR_EOF;
    }
    if (left < FIELD_PREFIX_LEN) {
        return SP_EPROTO;
    }
    n = sp_get_u16(r->p);
    v = sp_get_u32(r->p + 2);
    left -= FIELD_PREFIX_LEN;
    if (n == 0 || n + 1 > left) {
        return SP_EPROTO;
    }
    left -= n + 1;
    if (v >= left) {             /* v + 1 > left, without wrapping */
        return SP_EPROTO;
    }
    np = (const char *)r->p + FIELD_PREFIX_LEN;
    vp = np + n + 1;
    if (np[n] != '\0' || vp[v] != '\0'
        || has_bad_byte(np, n) || has_bad_byte(vp, v)) {
        return SP_EPROTO;
    }

    r->p = (const unsigned char *)vp + v + 1;
    *name = np;
    *value = vp;
    if (nlen) {
        *nlen = n;
    }
    if (vlen) {
        *vlen = v;
    }
    return APR_SUCCESS;
}

apr_status_t sp_head_validate(const void *buf, apr_size_t len,
                              apr_size_t *count)
{
    sp_head_reader_t r;
    const char *name, *value;
    apr_size_t n = 0;
    apr_status_t rv;

    sp_head_reader_init(&r, buf, len);
    while ((rv = sp_head_next(&r, &name, NULL, &value, NULL))
           == APR_SUCCESS) {
        n++;
    }
    if (rv != APR_EOF) {
        return rv;
    }
    if (count) {
        *count = n;
    }
    return APR_SUCCESS;
}

/* A malformed block gives NULL even if the name occurs before the damage:
 * a lookup never returns anything from a block sp_head_validate refuses. */
const char *sp_head_get(const void *buf, apr_size_t len, const char *name)
{
    sp_head_reader_t r;
    const char *fname, *fvalue, *found = NULL;
    apr_status_t rv;

    if (name == NULL) {
        return NULL;
    }
    sp_head_reader_init(&r, buf, len);
    while ((rv = sp_head_next(&r, &fname, NULL, &fvalue, NULL))
           == APR_SUCCESS) {
        if (found == NULL && apr_cstr_casecmp(fname, name) == 0) {
            found = fvalue;
        }
    }
    return rv == APR_EOF ? found : NULL;
}
