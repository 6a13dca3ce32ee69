/*
 * sp_link.h -- one link: an authenticated, framed, flow-controlled
 * connection between a front-end proxy (client) and execd's proxy
 * (server), carrying many streams.
 *
 * The link owns its socket (non-blocking), an input buffer that holds at
 * most one frame, and an output queue: its own buffer, plus payloads it
 * writes straight from their owner's memory (a slot's tx space) and hands
 * back (ref_done) once written.  It runs the handshake itself
 * (sp_auth.h), answers PING, keeps link-level credit, and hands every
 * stream frame to the owner's callback.  It never blocks.
 */
#ifndef SP_LINK_H
#define SP_LINK_H

#include <stdint.h>
#include <apr.h>
#include <apr_errno.h>
#include <apr_network_io.h>
#include <apr_pools.h>

#include "sp_auth.h"
#include "sp_frame.h"
#include "sp_tls.h"

typedef enum {
    SP_LINK_HELLO,      /* client: HELLO sent; server: waiting for HELLO */
    SP_LINK_AUTH,       /* client: AUTH sent; server: CHALLENGE sent */
    SP_LINK_OPEN,       /* authenticated both ways */
    SP_LINK_DRAINING,   /* DRAIN received: no new streams */
    SP_LINK_CLOSED
} sp_link_state_e;

typedef struct sp_link_settings_t {
    uint32_t max_streams;     /* server: concurrent streams it accepts */
    uint32_t stream_window;   /* initial credit per stream (receiver) */
    uint32_t link_window;     /* initial credit for the whole link */
    uint32_t max_frame;       /* longest payload the receiver accepts */
} sp_link_settings_t;

typedef struct sp_link_t sp_link_t;

/* A piece of queued output that stays in its owner's memory (a slot's tx
 * space) until it is written: it follows out byte `at`.  slot and end are
 * the owner's, handed back by ref_done once the piece is written or the
 * link is closed; slot -1: a private copy (own), nobody to tell. */
typedef struct sp_link_ref_t {
    apr_size_t           at;
    const unsigned char *p;
    apr_size_t           len;     /* bytes not written yet */
    unsigned char       *own;     /* malloc'd copy, freed when written */
    int                  slot;
    uint64_t             end;
} sp_link_ref_t;

/* Payloads shorter than this are copied: a copy of a few KiB costs less
 * than the bookkeeping of a borrowed piece. */
#define SP_LINK_REF_MIN 4096

/* Called for HEADERS, DATA, RESET, WINDOW (stream and link: the link has
 * already counted a link WINDOW) and DRAIN frames after the handshake.  payload is valid during the call only.  A non-success
 * return closes the link with that reason. */
typedef apr_status_t sp_link_frame_fn(sp_link_t *l, const sp_frame_hdr_t *h,
                                      const unsigned char *payload,
                                      void *baton);

struct sp_link_t {
    apr_pool_t        *pool;
    apr_socket_t      *sock;
    sp_role_e          role;
    sp_link_state_e    state;
    const char        *peer;        /* "127.0.0.1:41234" or "unix" for logs */
    const sp_secret_t *secret;
    sp_link_frame_fn  *on_frame;
    void              *baton;
    void              *owner_data;  /* for the proxy's own bookkeeping */
    unsigned           backend;     /* client: which backend this serves */
    apr_time_t         opened;      /* for the handshake timeout */
    const char        *close_why;   /* reason of the close, for the log */

    unsigned char      nonce_c[SP_NONCE_LEN];
    unsigned char      nonce_s[SP_NONCE_LEN];

    sp_link_settings_t mine;        /* what we advertised */
    sp_link_settings_t peer_set;    /* what the peer advertised */

    int64_t            send_credit;  /* link-level DATA bytes we may send */
    int64_t            recv_left;    /* link-level DATA bytes peer may send */
    uint64_t           recv_unacked; /* consumed, not yet returned */

    uint32_t           next_stream;  /* client: next id to open (odd) */
    uint32_t           last_stream;  /* server: highest id seen */
    uint32_t           drain_last;   /* DRAIN: last id that will be served */
    int                drain_sent;   /* server: we sent DRAIN */
    int                drain_acked;  /* server: the client answered it */
    unsigned           nstreams;     /* open streams (kept by the proxy) */

    unsigned char     *in;           /* received: [in_off, in_len) unparsed */
    apr_size_t         in_len;
    apr_size_t         in_off;       /* first byte not parsed yet */
    apr_size_t         in_cap;

    unsigned char     *out;          /* queued bytes [out_off, out_len) */
    apr_size_t         out_off;
    apr_size_t         out_len;
    apr_size_t         out_cap;

    sp_link_ref_t     *refs;         /* borrowed pieces [ref_first,
                                      * nrefs), in output order */
    unsigned           ref_first, nrefs, ref_cap;
    apr_size_t         ref_bytes;    /* their bytes not written yet */
    /* A borrowed piece is written (or dropped with the link). */
    void             (*ref_done)(sp_link_t *l, int slot, uint64_t end,
                                 void *baton);

    sp_tls_conn_t     *tls;          /* NULL: plain socket */
    int                want_write;   /* output could not all be written */
    int                in_pollset;
};

/* Makes a link over a connected socket and, for a client, queues HELLO.
 * The socket is set non-blocking.  mine: our settings. */
apr_status_t sp_link_create(sp_link_t **l, apr_socket_t *sock, sp_role_e role,
                            const sp_secret_t *secret,
                            const sp_link_settings_t *mine,
                            const char *peer, sp_link_frame_fn *on_frame,
                            void *baton, apr_pool_t *p);

/* Runs the link over TLS from now on (call right after sp_link_create,
 * before any I/O). */
apr_status_t sp_link_start_tls(sp_link_t *l, sp_tls_t *tls);

/* Reads what the socket has and dispatches whole frames.  APR_SUCCESS
 * while the link lives; SP_ECLOSED when the peer closed; SP_EPROTO,
 * SP_ETOOLONG, SP_EAUTH, SP_EVERSION on a broken peer (close_why says
 * what, for the log); or a socket error.  The caller closes the link on
 * any non-success. */
apr_status_t sp_link_on_readable(sp_link_t *l);

/* Parses bytes as if they had been read from the socket (what
 * sp_link_on_readable does with what it reads; also the fuzzing entry).
 * Same returns as sp_link_on_readable, except SP_ECLOSED. */
apr_status_t sp_link_feed(sp_link_t *l, const void *buf, apr_size_t len);

/* Writes queued output.  APR_SUCCESS (want_write tells whether some is
 * left) or a socket error. */
apr_status_t sp_link_flush(sp_link_t *l);

/* Queues a frame.  APR_SUCCESS or APR_ENOMEM. */
apr_status_t sp_link_queue(sp_link_t *l, uint8_t type, uint8_t flags,
                           uint32_t stream, const void *payload,
                           apr_size_t len);
apr_status_t sp_link_queue_u32(sp_link_t *l, uint8_t type, uint32_t stream,
                               uint32_t value);

/* Queues a frame whose payload is written straight from p, which must
 * stay unchanged until ref_done(l, slot, end) says it is written (or the
 * link closed).  Returns 1 if so; 0 if the payload was copied instead
 * (TLS, or shorter than SP_LINK_REF_MIN): p is free at once; -1 on
 * APR_ENOMEM. */
int sp_link_queue_ref(sp_link_t *l, uint8_t type, uint8_t flags,
                      uint32_t stream, const void *p, apr_size_t len,
                      int slot, uint64_t end);

/* The borrowed pieces of slot `slot` are copied into the link's own
 * memory: the slot's space may be reused at once.  Their ref_done never
 * comes. */
apr_status_t sp_link_own_refs(sp_link_t *l, int slot);

/* Bytes queued and not yet written. */
apr_size_t sp_link_pending(const sp_link_t *l);

/* The owner consumed n DATA bytes received on this link: returns link
 * credit to the peer (batched). */
void sp_link_consumed(sp_link_t *l, apr_size_t n);

/* Marks the link closed and closes the socket. */
void sp_link_close(sp_link_t *l, const char *why);

/* Is the link open for new streams? */
int sp_link_usable(const sp_link_t *l);

#endif
