/*
 * sp_frame.h -- the frame: the unit of the link protocol and of slot spaces.
 *
 * Every frame is a 12-byte header followed by `length` payload bytes:
 *
 *    0               1               2               3
 *   +---------------+---------------+---------------+---------------+
 *   |                     length (uint32, big endian)               |
 *   +---------------+---------------+---------------+---------------+
 *   |     type      |     flags     |       reserved (zero)         |
 *   +---------------+---------------+---------------+---------------+
 *   |                     stream (uint32, big endian)               |
 *   +---------------+---------------+---------------+---------------+
 *
 * On a link, `stream` is the stream id (0 = the link itself).  Inside a
 * slot space the same header is used and `stream` carries the slot
 * generation, so that a late frame for an earlier owner is recognised and
 * dropped.  The header is encoded field by field, never by copying a struct.
 * See docs/PROTOCOL.md for the payload of each type.
 */
#ifndef SP_FRAME_H
#define SP_FRAME_H

#include <stdint.h>
#include <apr.h>
#include <apr_errno.h>

#define SP_PROTO_VERSION     1
#define SP_FRAME_HDR_LEN     12
/* No receiver ever accepts a payload longer than this, whatever it was
 * told; the negotiated max_frame is at most this. */
#define SP_FRAME_MAX_HARD    (16u * 1024 * 1024)
/* The smallest max_frame a peer may announce: what a frame in the
 * smallest slot space (8 KiB, frames up to half of it) holds after its
 * header. */
#define SP_FRAME_MIN_MAX     (4096u - SP_FRAME_HDR_LEN)

typedef enum {
    SP_FT_HELLO     = 1,  /* c->s: version, client nonce */
    SP_FT_CHALLENGE = 2,  /* s->c: version, server nonce */
    SP_FT_AUTH      = 3,  /* c->s: client proof, client settings */
    SP_FT_WELCOME   = 4,  /* s->c: server proof, server settings */
    SP_FT_HEADERS   = 5,  /* request or response head (sp_head block) */
    SP_FT_DATA      = 6,  /* body bytes */
    SP_FT_WINDOW    = 7,  /* credit: uint32 increment; stream 0 = link */
    SP_FT_RESET     = 8,  /* stream abandoned: uint32 reason (sp_reset_e) */
    SP_FT_PING      = 9,  /* 8 opaque bytes; answered with SP_FF_ACK */
    SP_FT_DRAIN     = 10, /* uint32 last stream id that will be served */
    SP_FT_MAX_      = 10
} sp_frame_type_e;

#define SP_FF_END_STREAM 0x01 /* HEADERS/DATA: last frame of this side */
#define SP_FF_ACK        0x02 /* PING: this is the answer */
#define SP_FF_FLUSH      0x04 /* DATA: the producer flushed; pass it on now */
#define SP_FF_KNOWN      0x07

typedef enum {
    SP_RST_NO_ERROR   = 0, /* sender is done: stop sending, keep what came */
    SP_RST_CANCEL     = 1, /* client went away */
    SP_RST_WORKER     = 2, /* the worker or handler died mid-request */
    SP_RST_TIMEOUT    = 3, /* no progress within the timeout */
    SP_RST_OVERLOADED = 4, /* no worker free and the queue is full */
    SP_RST_REFUSED    = 5, /* draining: not started, safe to retry */
    SP_RST_PROTOCOL   = 6, /* malformed frames on this stream */
    SP_RST_NOSERVICE  = 7, /* no Service matches the path */
    SP_RST_TOOLARGE   = 8, /* head or body over a configured limit */
    SP_RST_INTERNAL   = 9, /* proxy lost the stream (restart, bug) */
    SP_RST_MAX_       = 9
} sp_reset_e;

typedef struct sp_frame_hdr_t {
    uint32_t length;
    uint8_t  type;
    uint8_t  flags;
    uint32_t stream;
} sp_frame_hdr_t;

/* Writes the 12-byte wire form of h into out. */
void sp_frame_hdr_encode(unsigned char *out, const sp_frame_hdr_t *h);

/* Parses 12 bytes into h and checks them: APR_SUCCESS, or SP_ETOOLONG if
 * length > max_len, or SP_EPROTO for an unknown type, a reserved field
 * that is not zero, unknown flags, or a stream id not allowed for the
 * type (link-level types need 0, stream types need non-zero).  max_len is
 * capped at SP_FRAME_MAX_HARD.  The slot variant (stream = generation)
 * accepts any stream value: use sp_frame_hdr_decode_slot. */
apr_status_t sp_frame_hdr_decode(const unsigned char *in, uint32_t max_len,
                                 sp_frame_hdr_t *h);
apr_status_t sp_frame_hdr_decode_slot(const unsigned char *in,
                                      uint32_t max_len, sp_frame_hdr_t *h);

/* Expected payload length of fixed-size types, or -1 if variable. */
int sp_frame_fixed_len(uint8_t type);

/* Big-endian field helpers. */
void     sp_put_u16(unsigned char *p, uint16_t v);
void     sp_put_u32(unsigned char *p, uint32_t v);
uint16_t sp_get_u16(const unsigned char *p);
uint32_t sp_get_u32(const unsigned char *p);

const char *sp_frame_type_name(uint8_t type); /* "DATA", ... or "?" */
const char *sp_reset_name(uint32_t code);     /* "CANCEL", ... or "?" */

#endif
