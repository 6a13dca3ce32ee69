/*
 * sp_head.h -- the head block: the payload of a HEADERS frame.
 *
 * A head is an ordered list of (name, value) fields; repeated names are
 * kept in order (several Set-Cookie).  Each field is encoded as
 *
 *   uint16 name_len | uint32 value_len | name bytes | NUL | value bytes | NUL
 *
 * (lengths big endian, not counting the NULs), so a reader can hand out
 * pointers into the block as C strings without copying.  Names starting
 * with ':' are pseudo fields (below) and come before the ordinary headers.
 */
#ifndef SP_HEAD_H
#define SP_HEAD_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

/* Request pseudo fields, sent by mod_slotproxy. */
#define SP_H_METHOD      ":method"       /* GET */
#define SP_H_PATH        ":path"         /* /app/x, not unescaped, no query */
#define SP_H_QUERY       ":query"        /* a=1&b=2 (absent if none) */
#define SP_H_PROTOCOL    ":protocol"     /* HTTP/1.1 */
#define SP_H_SCHEME      ":scheme"       /* http or https */
#define SP_H_REMOTE_ADDR ":remote-addr"
#define SP_H_REMOTE_PORT ":remote-port"
#define SP_H_SERVER_NAME ":server-name"
#define SP_H_SERVER_PORT ":server-port"
#define SP_H_SERVER_ADDR ":server-addr"
#define SP_H_REMOTE_USER ":remote-user"  /* absent if not authenticated */
#define SP_H_AUTH_TYPE   ":auth-type"
#define SP_H_REQUEST_ID  ":request-id"   /* the front end's id for logs */
#define SP_H_BODY        ":body"         /* "none", "length" or "chunked" */
/* Response pseudo field, sent by execd. */
#define SP_H_STATUS      ":status"       /* "200" */

#define SP_HEAD_MAX_NAME  0xffffu

/* Builder over a caller-provided buffer: it never allocates. */
typedef struct sp_head_builder_t {
    unsigned char *buf;
    apr_size_t     cap;
    apr_size_t     len;
    int            overflow;  /* set once a field did not fit; sticky */
} sp_head_builder_t;

void sp_head_builder_init(sp_head_builder_t *b, unsigned char *buf,
                          apr_size_t cap);
/* Appends a field: APR_SUCCESS, or SP_ETOOLONG if it does not fit (the
 * builder is then marked overflowed and later adds fail too), or
 * APR_EINVAL for an empty name, a name longer than SP_HEAD_MAX_NAME, or a
 * name or value containing NUL, CR or LF. */
apr_status_t sp_head_add(sp_head_builder_t *b, const char *name,
                         const char *value);
apr_status_t sp_head_addn(sp_head_builder_t *b, const char *name,
                          apr_size_t nlen, const char *value,
                          apr_size_t vlen);

/* Reader over a received block.  The block is not modified. */
typedef struct sp_head_reader_t {
    const unsigned char *p;
    const unsigned char *end;
} sp_head_reader_t;

void sp_head_reader_init(sp_head_reader_t *r, const void *buf,
                         apr_size_t len);
/* Next field: APR_SUCCESS with name/value pointing into the block
 * (NUL-terminated), APR_EOF at the clean end, SP_EPROTO if the block is
 * malformed (truncated field, missing NUL, NUL/CR/LF inside, empty name). */
apr_status_t sp_head_next(sp_head_reader_t *r, const char **name,
                          apr_size_t *nlen, const char **value,
                          apr_size_t *vlen);

/* Checks a whole block: APR_SUCCESS or SP_EPROTO; *count gets the number
 * of fields if not NULL. */
apr_status_t sp_head_validate(const void *buf, apr_size_t len,
                              apr_size_t *count);

/* First value of name (case-insensitive) or NULL. */
const char *sp_head_get(const void *buf, apr_size_t len, const char *name);

#endif
