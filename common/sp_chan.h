/*
 * sp_chan.h -- the owner's view of its slot: a two-way stream of frames.
 *
 * An Apache request writes its head and body into the tx space and reads
 * the reply from the rx space; an execd worker does the mirror image.
 * Both spaces are frame rings (sp_space.h): every frame is published as
 * soon as it is written, so the proxy forwards the first part of a body
 * while the owner writes the next, and the owner passes on one reply
 * frame while the proxy places the following ones.  The proxy is told
 * (SP_EV_TX) when a frame ends the stream or asks for a flush, when a
 * quarter of the space was published since the last word, and before the
 * owner waits for anything.  DATA longer than a frame is split.  Frames in
 * the spaces are stamped with the slot generation; frames of another
 * generation are dropped.
 *
 * Every wait is bounded by the channel timeout (APR_TIMEUP).  If the
 * proxy abandons the stream (reset from the peer, proxy restart) the
 * calls return SP_EABORTED and sp_chan_reset_code() says why.
 */
#ifndef SP_CHAN_H
#define SP_CHAN_H

#include <stdint.h>
#include <apr.h>
#include <apr_errno.h>

#include "sp_frame.h"
#include "sp_table.h"

#define SP_CHAN_BY_PROXY 1  /* the proxy or the peer gave up: no word back */
#define SP_CHAN_BY_US    2  /* we gave up and told the proxy */

typedef struct sp_chan_t {
    sp_table_t   *table;
    unsigned      idx;
    uint32_t      gen;
    apr_interval_time_t timeout;   /* per wait, microseconds */
    /* tx */
    uint64_t      tx_pos;          /* where our next frame goes (= tx_head
                                    * between calls) */
    uint64_t      tx_told;         /* tx_head at our last SP_EV_TX */
    apr_size_t    tx_begun;        /* frame_begin: room given, 0 if none */
    int           tx_asked;        /* we set tx_want */
    /* rx */
    uint64_t      rx_pos;          /* after the frame returned last */
    uint64_t      rx_pub;          /* rx_tail as we last stored it */
    uint64_t      rx_told;         /* rx_want we answered last */
    /* state */
    int           tx_ended;        /* END_STREAM or reset sent */
    int           rx_ended;        /* END_STREAM or reset received */
    uint32_t      reset_code;      /* why the stream was abandoned */
    int           aborted;         /* 0, SP_CHAN_BY_PROXY or SP_CHAN_BY_US */
} sp_chan_t;

/* Starts a channel on slot idx for generation gen (from sp_slot_claim or,
 * for an execd worker, from the HEADERS frame that began the request). */
void sp_chan_open(sp_chan_t *c, sp_table_t *t, unsigned idx, uint32_t gen,
                  apr_interval_time_t timeout);

/* The longest payload of one frame in this channel's spaces (a head must
 * fit in it). */
apr_size_t sp_chan_max_payload(const sp_chan_t *c);

/* Appends one frame.  HEADERS must fit in one frame (SP_ETOOLONG if not);
 * DATA of any length is split.  flags as in sp_frame.h.  Waits for tx
 * space when needed.  SP_FF_FLUSH or SP_FF_END_STREAM tell the proxy at
 * once. */
apr_status_t sp_chan_put(sp_chan_t *c, uint8_t type, uint8_t flags,
                         const void *payload, apr_size_t len);

/* Builds a frame in place: sp_chan_frame_begin waits until `need` payload
 * bytes (at most sp_chan_max_payload) are free in one piece and returns
 * where the payload of the next frame goes, with *room (>= need, <=
 * sp_chan_max_payload) bytes there; sp_chan_frame_end writes the header
 * for `len` payload bytes and publishes it like sp_chan_put.  Saves a copy
 * for heads built field by field.  NULL from begin: the wait failed or
 * need is too long (status in *rv). */
unsigned char *sp_chan_frame_begin(sp_chan_t *c, apr_size_t need,
                                   apr_size_t *room, apr_status_t *rv);
apr_status_t sp_chan_frame_end(sp_chan_t *c, uint8_t type, uint8_t flags,
                               apr_size_t len);

/* Tells the proxy about frames published since the last word, if any. */
apr_status_t sp_chan_flush(sp_chan_t *c);

/* Next frame for this generation.  *payload points into the rx space and
 * stays valid until the next sp_chan_get/sp_chan_close (which give its
 * bytes back to the proxy).  A RESET frame
 * from the peer is returned as SP_EABORTED.  If nonblock is set and no
 * frame is there, APR_EAGAIN. */
apr_status_t sp_chan_get(sp_chan_t *c, sp_frame_hdr_t *h,
                         const unsigned char **payload, int nonblock);

/* Waits until tx space is free (SP_MARK_TX) or a reply frame is there
 * (SP_MARK_RX); *marks gets which.  Lets a full-duplex owner send its
 * body while it also forwards the reply. */
apr_status_t sp_chan_wait(sp_chan_t *c, uint32_t want, uint32_t *marks);

/* Can a DATA sp_chan_put of at least one byte proceed without waiting? */
int sp_chan_can_put(sp_chan_t *c);

/* With sp_chan_can_put true: DATA payload bytes that fit at once, so a
 * put of at most that many does not wait. */
apr_size_t sp_chan_room(sp_chan_t *c);

/* Abandons the stream: tells the proxy (SP_EV_ABORT with reason). */
void sp_chan_abort(sp_chan_t *c, uint32_t reason);

/* Ends use of the channel: gives back the rx frame still held and tells
 * the proxy about tx frames it was not told of. */
void sp_chan_close(sp_chan_t *c);

uint32_t sp_chan_reset_code(const sp_chan_t *c);

/* Non-zero if the proxy has abandoned this channel's generation (checked
 * without waiting); sets the reset code. */
int sp_chan_aborted(sp_chan_t *c);

/* execd workers: waits up to `timeout` for the next request on the
 * worker's own slot and opens c on its generation; the HEADERS frame is
 * then the first sp_chan_get.  APR_TIMEUP if none came. */
apr_status_t sp_chan_accept(sp_chan_t *c, sp_table_t *t, unsigned idx,
                            apr_interval_time_t wait,
                            apr_interval_time_t timeout);

#endif
