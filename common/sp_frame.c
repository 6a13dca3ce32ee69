/*
 * sp_frame.c -- the frame header codec and the big-endian field helpers.
 *
 * This file owns the rules a 12-byte header must satisfy before anyone
 * looks at its payload: a known type, a zero reserved field, known flags,
 * a length within both the caller's limit and SP_FRAME_MAX_HARD, and, on a
 * link, the stream id each type allows.  It also owns the fixed payload
 * sizes and the names used in logs.  Headers are read and written byte by
 * byte, so host endianness and struct padding never reach the wire.
 */
#include "sp_errors.h"
#include "sp_frame.h"

/* What each type allows in `stream` on a link. */
typedef enum {
    SP_STREAM_ZERO,      /* link-level: stream must be 0 */
    SP_STREAM_NONZERO,   /* stream-level: stream must not be 0 */
    SP_STREAM_ANY        /* WINDOW: 0 = link credit, else stream credit */
} sp_stream_rule_e;

typedef struct sp_frame_type_info_t {
    const char      *name;
    int              fixed_len;   /* -1: variable */
    sp_stream_rule_e stream_rule;
} sp_frame_type_info_t;

/* Indexed by type; index 0 is not a type.  The fixed lengths are the
 * payload layouts in docs/PROTOCOL.md. */
static const sp_frame_type_info_t frame_types[SP_FT_MAX_ + 1] = {
    [SP_FT_HELLO]     = { "HELLO",     36, SP_STREAM_ZERO },
    [SP_FT_CHALLENGE] = { "CHALLENGE", 36, SP_STREAM_ZERO },
    [SP_FT_AUTH]      = { "AUTH",      44, SP_STREAM_ZERO },
    [SP_FT_WELCOME]   = { "WELCOME",   48, SP_STREAM_ZERO },
    [SP_FT_HEADERS]   = { "HEADERS",   -1, SP_STREAM_NONZERO },
    [SP_FT_DATA]      = { "DATA",      -1, SP_STREAM_NONZERO },
    [SP_FT_WINDOW]    = { "WINDOW",     4, SP_STREAM_ANY },
    [SP_FT_RESET]     = { "RESET",      4, SP_STREAM_NONZERO },
    [SP_FT_PING]      = { "PING",       8, SP_STREAM_ZERO },
    [SP_FT_DRAIN]     = { "DRAIN",      4, SP_STREAM_ZERO },
};

static const char *const reset_names[SP_RST_MAX_ + 1] = {
    [SP_RST_NO_ERROR]   = "NO_ERROR",
    [SP_RST_CANCEL]     = "CANCEL",
    [SP_RST_WORKER]     = "WORKER",
    [SP_RST_TIMEOUT]    = "TIMEOUT",
    [SP_RST_OVERLOADED] = "OVERLOADED",
    [SP_RST_REFUSED]    = "REFUSED",
    [SP_RST_PROTOCOL]   = "PROTOCOL",
    [SP_RST_NOSERVICE]  = "NOSERVICE",
    [SP_RST_TOOLARGE]   = "TOOLARGE",
    [SP_RST_INTERNAL]   = "INTERNAL",
};

static const sp_frame_type_info_t *type_info(uint8_t type)
{
    if (type == 0 || type > SP_FT_MAX_) {
        return NULL;
    }
    return &frame_types[type];
}

void sp_put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

void sp_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

uint16_t sp_get_u16(const unsigned char *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

uint32_t sp_get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
           | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void sp_frame_hdr_encode(unsigned char *out, const sp_frame_hdr_t *h)
{
    sp_put_u32(out, h->length);
    out[4] = h->type;
    out[5] = h->flags;
    out[6] = 0;
    out[7] = 0;
    sp_put_u32(out + 8, h->stream);
}

/* Shared by both decoders.  h is filled in even when the header is
 * refused, so that the caller can log what the peer sent. */
static apr_status_t hdr_decode(const unsigned char *in, uint32_t max_len,
                               int check_stream, sp_frame_hdr_t *h)
{
    const sp_frame_type_info_t *ti;

    h->length = sp_get_u32(in);
    h->type   = in[4];
    h->flags  = in[5];
    h->stream = sp_get_u32(in + 8);

    ti = type_info(h->type);
    if (ti == NULL) {
        return SP_EPROTO;
    }
    if (in[6] != 0 || in[7] != 0) {
        return SP_EPROTO;
    }
    if ((h->flags & ~SP_FF_KNOWN) != 0) {
        return SP_EPROTO;
    }
    if (check_stream) {
        if (ti->stream_rule == SP_STREAM_ZERO && h->stream != 0) {
            return SP_EPROTO;
        }
        if (ti->stream_rule == SP_STREAM_NONZERO && h->stream == 0) {
            return SP_EPROTO;
        }
    }
    if (max_len > SP_FRAME_MAX_HARD) {
        max_len = SP_FRAME_MAX_HARD;
    }
    if (h->length > max_len) {
        return SP_ETOOLONG;
    }
    return APR_SUCCESS;
}

apr_status_t sp_frame_hdr_decode(const unsigned char *in, uint32_t max_len,
                                 sp_frame_hdr_t *h)
{
    return hdr_decode(in, max_len, 1, h);
}

apr_status_t sp_frame_hdr_decode_slot(const unsigned char *in,
                                      uint32_t max_len, sp_frame_hdr_t *h)
{
    return hdr_decode(in, max_len, 0, h);
}

int sp_frame_fixed_len(uint8_t type)
{
    const sp_frame_type_info_t *ti = type_info(type);

    return ti ? ti->fixed_len : -1;
}

const char *sp_frame_type_name(uint8_t type)
{
    const sp_frame_type_info_t *ti = type_info(type);

    return ti ? ti->name : "?";
}

const char *sp_reset_name(uint32_t code)
{
    return code <= SP_RST_MAX_ ? reset_names[code] : "?";
}
