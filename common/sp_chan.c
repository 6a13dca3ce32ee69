/*
 * sp_chan.c -- the owner's two-way frame stream over its slot (sp_chan.h).
 *
 * The owner writes tx frames at tx_pos and publishes each one (tx_head);
 * it reads rx frames from rx_pos and gives a frame's bytes back (rx_tail)
 * when it asks for the next one.  Marks only wake it: before it sleeps it
 * clears the mark it waits for and looks at the positions once more, and
 * the proxy sets the mark after it moved a position, so no news is lost.
 * Everything read from the rx space is checked (sp_space_next) before it
 * is used, since the proxy's memory is no more trusted than a peer's.
 */
#include <string.h>

#include "sp_chan.h"
#include "sp_errors.h"
#include "sp_space.h"

#define LOAD(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* DATA is not cut into pieces smaller than this when more is to come: the
 * writer skips a short end of the space instead. */
#define SP_CHAN_MIN_PIECE 1024

static sp_slot_sh_t *slot_of(const sp_chan_t *c)
{
    return sp_table_slot(c->table, c->idx);
}

static apr_size_t space_of(const sp_chan_t *c)
{
    return c->table->sh->space_size;
}

apr_size_t sp_chan_max_payload(const sp_chan_t *c)
{
    return sp_space_max_frame(space_of(c)) - SP_FRAME_HDR_LEN;
}

void sp_chan_open(sp_chan_t *c, sp_table_t *t, unsigned idx, uint32_t gen,
                  apr_interval_time_t timeout)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);

    memset(c, 0, sizeof(*c));
    c->table = t;
    c->idx = idx;
    c->gen = gen;
    c->timeout = timeout;
    c->tx_pos = c->tx_told = LOAD(&s->tx_head);
    c->rx_pos = c->rx_pub = LOAD(&s->rx_tail);
}

uint32_t sp_chan_reset_code(const sp_chan_t *c)
{
    return c->reset_code;
}

static void mark_aborted(sp_chan_t *c, uint32_t code)
{
    c->aborted = SP_CHAN_BY_PROXY;
    c->reset_code = code;
    c->tx_ended = 1;
    c->rx_ended = 1;
}

/* An abort bit for our generation ends the channel; one for an earlier
 * generation is stale and cleared. */
static int check_abort(sp_chan_t *c, uint32_t marks)
{
    sp_slot_sh_t *s = slot_of(c);

    if (!(marks & SP_MARK_ABORT)) {
        return 0;
    }
    if (LOAD(&s->abort_gen) == c->gen) {
        mark_aborted(c, LOAD(&s->abort_code));
        return 1;
    }
    sp_slot_clear_marks(c->table, c->idx, SP_MARK_ABORT);
    return 0;
}

int sp_chan_aborted(sp_chan_t *c)
{
    if (c->aborted) {
        return 1;
    }
    return check_abort(c, LOAD(&slot_of(c)->marks));
}

/* --- positions ------------------------------------------------------------ */

/* Publishes tx_pos; tells the proxy if `tell`, or if a quarter of the
 * space went out untold (so it starts forwarding while we write on). */
static void tx_publish(sp_chan_t *c, int tell)
{
    sp_slot_sh_t *s = slot_of(c);

    STORE(&s->tx_head, c->tx_pos);
    if (c->tx_pos != c->tx_told
        && (tell || c->tx_pos - c->tx_told >= space_of(c) / 4)) {
        c->tx_told = c->tx_pos;
        sp_slot_post_event(c->table, c->idx, SP_EV_TX);
    }
}

/* Gives back the rx bytes before rx_pos; tells a proxy that waits for
 * them (rx_want) once they reach what it asked for. */
static void rx_consumed(sp_chan_t *c)
{
    sp_slot_sh_t *s = slot_of(c);
    uint64_t want;

    if (c->rx_pub == c->rx_pos) {
        return;
    }
    c->rx_pub = c->rx_pos;
    STORE(&s->rx_tail, c->rx_pos);
    /* Pairs with the proxy's store of rx_want and load of rx_tail: either
     * it sees our tail or we see its want. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    want = LOAD(&s->rx_want);
    if (want != 0 && want != c->rx_told && (int64_t)(c->rx_pos - want) >= 0) {
        c->rx_told = want;
        sp_slot_post_event(c->table, c->idx, SP_EV_RXFREE);
    }
}

static apr_status_t wait_for(sp_chan_t *c, uint32_t want, uint32_t *seen)
{
    for (;;) {
        apr_status_t rv = sp_slot_wait_marks(c->table, c->idx, want,
                                             c->timeout, seen);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (check_abort(c, *seen)) {
            return SP_EABORTED;
        }
        if (*seen & want) {
            return APR_SUCCESS;
        }
    }
}

/* Clears marks we are about to wait for; the caller then looks at the
 * positions again before it sleeps. */
static void unmark(sp_chan_t *c, uint32_t bits)
{
    __atomic_fetch_and(&slot_of(c)->marks, ~bits, __ATOMIC_SEQ_CST);
}

/* --- tx --------------------------------------------------------------------- */

/* Contiguous tx bytes free at tx_pos (at least min), without waiting; 0
 * if not that many now. */
static apr_size_t tx_room_now(sp_chan_t *c, apr_size_t min)
{
    return sp_space_room(sp_slot_tx(c->table, c->idx), space_of(c),
                         &c->tx_pos, LOAD(&slot_of(c)->tx_tail), min);
}

/* About to sleep for tx space: asks the proxy to set SP_MARK_TX once half
 * the space (or min bytes after a pad, if more) is free.  The caller has
 * told the proxy everything, clears the mark and looks once more. */
static void tx_ask(sp_chan_t *c, apr_size_t min)
{
    apr_size_t size = space_of(c), to_end = size - (apr_size_t)(c->tx_pos
                                                                 % size);
    apr_size_t need = min > size / 2 ? min : size / 2;
    uint64_t pos = c->tx_pos + (to_end < min ? to_end : 0);
    uint64_t want = pos + need > size ? pos + need - size : 1;

    STORE(&slot_of(c)->tx_want, want);
    c->tx_asked = 1;
}

static void tx_unask(sp_chan_t *c)
{
    if (c->tx_asked) {
        c->tx_asked = 0;
        STORE(&slot_of(c)->tx_want, 0);
    }
}

/* Waits until min bytes are free in one piece at tx_pos. */
static apr_status_t tx_wait_room(sp_chan_t *c, apr_size_t min,
                                 apr_size_t *room)
{
    for (;;) {
        uint32_t m;
        apr_status_t rv;

        if (c->aborted || check_abort(c, LOAD(&slot_of(c)->marks))) {
            return SP_EABORTED;
        }
        if ((*room = tx_room_now(c, min)) != 0) {
            return APR_SUCCESS;
        }
        tx_publish(c, 1);  /* a pad, and whatever the proxy was not told */
        tx_ask(c, min);
        unmark(c, SP_MARK_TX);  /* a full barrier: then we look again */
        if ((*room = tx_room_now(c, min)) != 0) {
            return APR_SUCCESS;
        }
        if ((rv = wait_for(c, SP_MARK_TX, &m)) != APR_SUCCESS) {
            return rv;
        }
    }
}

static apr_status_t tx_room(sp_chan_t *c, apr_size_t min, apr_size_t *room)
{
    apr_status_t rv = tx_wait_room(c, min, room);

    tx_unask(c);
    return rv;
}

static unsigned char *tx_at(sp_chan_t *c)
{
    return sp_slot_tx(c->table, c->idx) + (apr_size_t)(c->tx_pos
                                                       % space_of(c));
}

/* Writes the header of a frame whose payload is in place at tx_pos and
 * publishes it. */
static void tx_frame_done(sp_chan_t *c, uint8_t type, uint8_t flags,
                          apr_size_t len)
{
    sp_frame_hdr_t h;

    h.length = (uint32_t)len;
    h.type = type;
    h.flags = flags;
    h.stream = c->gen;
    sp_frame_hdr_encode(tx_at(c), &h);
    c->tx_pos += SP_FRAME_HDR_LEN + len;
    if (flags & SP_FF_END_STREAM) {
        c->tx_ended = 1;
    }
    tx_publish(c, (flags & (SP_FF_END_STREAM | SP_FF_FLUSH)) != 0);
}

apr_status_t sp_chan_flush(sp_chan_t *c)
{
    tx_publish(c, 1);
    return APR_SUCCESS;
}

static apr_status_t put_whole(sp_chan_t *c, uint8_t type, uint8_t flags,
                              const void *payload, apr_size_t len)
{
    apr_size_t room;
    apr_status_t rv;

    if (len > sp_chan_max_payload(c)) {
        return SP_ETOOLONG;
    }
    if ((rv = tx_room(c, SP_FRAME_HDR_LEN + len, &room)) != APR_SUCCESS) {
        return rv;
    }
    if (len) {
        memcpy(tx_at(c) + SP_FRAME_HDR_LEN, payload, len);
    }
    tx_frame_done(c, type, flags, len);
    return APR_SUCCESS;
}

static apr_status_t put_data(sp_chan_t *c, uint8_t flags,
                             const unsigned char *p, apr_size_t len)
{
    apr_size_t max = sp_chan_max_payload(c);

    for (;;) {
        apr_size_t room, chunk;
        apr_status_t rv;

        chunk = len < SP_CHAN_MIN_PIECE ? len : SP_CHAN_MIN_PIECE;
        if ((rv = tx_room(c, SP_FRAME_HDR_LEN + chunk, &room))
            != APR_SUCCESS) {
            return rv;
        }
        chunk = room - SP_FRAME_HDR_LEN;
        if (chunk > max) {
            chunk = max;
        }
        if (chunk >= len) {
            if (len) {
                memcpy(tx_at(c) + SP_FRAME_HDR_LEN, p, len);
            }
            tx_frame_done(c, SP_FT_DATA, flags, len);
            return APR_SUCCESS;
        }
        memcpy(tx_at(c) + SP_FRAME_HDR_LEN, p, chunk);
        tx_frame_done(c, SP_FT_DATA, 0, chunk);
        p += chunk;
        len -= chunk;
    }
}

apr_status_t sp_chan_put(sp_chan_t *c, uint8_t type, uint8_t flags,
                         const void *payload, apr_size_t len)
{
    if (c->tx_ended) {
        return c->aborted ? SP_EABORTED : SP_ECLOSED;
    }
    if (type == SP_FT_DATA) {
        return put_data(c, flags, payload, len);
    }
    return put_whole(c, type, flags, payload, len);
}

unsigned char *sp_chan_frame_begin(sp_chan_t *c, apr_size_t need,
                                   apr_size_t *room, apr_status_t *rv)
{
    apr_size_t n, max = sp_chan_max_payload(c);

    if (c->tx_ended) {
        *rv = c->aborted ? SP_EABORTED : SP_ECLOSED;
        return NULL;
    }
    if (need > max) {
        *rv = SP_ETOOLONG;
        return NULL;
    }
    if ((*rv = tx_room(c, SP_FRAME_HDR_LEN + need, &n)) != APR_SUCCESS) {
        return NULL;
    }
    n -= SP_FRAME_HDR_LEN;
    *room = c->tx_begun = n < max ? n : max;
    return tx_at(c) + SP_FRAME_HDR_LEN;
}

apr_status_t sp_chan_frame_end(sp_chan_t *c, uint8_t type, uint8_t flags,
                               apr_size_t len)
{
    if (c->tx_begun == 0 || len > c->tx_begun || c->tx_ended) {
        return SP_ETOOLONG;
    }
    c->tx_begun = 0;
    tx_frame_done(c, type, flags, len);
    return APR_SUCCESS;
}

int sp_chan_can_put(sp_chan_t *c)
{
    return tx_room_now(c, SP_FRAME_HDR_LEN + 1) != 0;
}

apr_size_t sp_chan_room(sp_chan_t *c)
{
    apr_size_t n = tx_room_now(c, SP_FRAME_HDR_LEN + 1);
    apr_size_t max = sp_chan_max_payload(c);

    if (n <= SP_FRAME_HDR_LEN) {
        return 0;
    }
    n -= SP_FRAME_HDR_LEN;
    return n < max ? n : max;
}

/* --- rx --------------------------------------------------------------------- */

/* The next frame after rx_pos, of any generation: 1, 0 if none, -1 if the
 * rx space is corrupt.  rx_pos moves past it (its bytes are given back at
 * the next call). */
static int rx_next(sp_chan_t *c, sp_frame_hdr_t *h,
                   const unsigned char **payload, uint64_t *head)
{
    int r;

    rx_consumed(c);
    *head = LOAD(&slot_of(c)->rx_head);
    r = sp_space_next(sp_slot_rx(c->table, c->idx), space_of(c), &c->rx_pos,
                      *head, h, payload);
    if (r > 0) {
        c->rx_pos += SP_FRAME_HDR_LEN + h->length;
    }
    return r;
}

static int rx_waiting(sp_chan_t *c)
{
    return LOAD(&slot_of(c)->rx_head) != c->rx_pos;
}

apr_status_t sp_chan_get(sp_chan_t *c, sp_frame_hdr_t *h,
                         const unsigned char **payload, int nonblock)
{
    for (;;) {
        apr_status_t rv;
        uint64_t head;
        uint32_t m;
        int r;

        if (c->rx_ended) {
            return c->aborted ? SP_EABORTED : APR_EOF;
        }
        r = rx_next(c, h, payload, &head);
        if (r < 0) {
            sp_chan_abort(c, SP_RST_PROTOCOL);
            return SP_EPROTO;
        }
        if (r > 0) {
            if (h->stream != c->gen) {
                continue;  /* late frame of an earlier generation */
            }
            if (h->type == SP_FT_RESET) {
                mark_aborted(c, h->length >= 4 ? sp_get_u32(*payload)
                                               : SP_RST_PROTOCOL);
                return SP_EABORTED;
            }
            if (h->flags & SP_FF_END_STREAM) {
                c->rx_ended = 1;
            }
            return APR_SUCCESS;
        }
        if (check_abort(c, LOAD(&slot_of(c)->marks))) {
            return SP_EABORTED;
        }
        if (nonblock) {
            return APR_EAGAIN;
        }
        tx_publish(c, 1);
        unmark(c, SP_MARK_RX);
        if (LOAD(&slot_of(c)->rx_head) != head) {
            continue;
        }
        if ((rv = wait_for(c, SP_MARK_RX, &m)) != APR_SUCCESS) {
            return rv;
        }
    }
}

static apr_status_t chan_wait(sp_chan_t *c, uint32_t want, uint32_t *marks)
{
    int again = 0;

    for (;;) {
        apr_status_t rv;

        if ((want & SP_MARK_TX) && sp_chan_can_put(c)) {
            *marks = SP_MARK_TX;
            return APR_SUCCESS;
        }
        if ((want & SP_MARK_RX) && rx_waiting(c)) {
            *marks = SP_MARK_RX;
            return APR_SUCCESS;
        }
        if (c->aborted || check_abort(c, LOAD(&slot_of(c)->marks))) {
            return SP_EABORTED;
        }
        if (!again) {
            tx_publish(c, 1);
            if (want & SP_MARK_TX) {
                tx_ask(c, SP_FRAME_HDR_LEN + 1);
            }
            unmark(c, want);
            again = 1;
            continue;  /* look once more after clearing */
        }
        if ((rv = wait_for(c, want, marks)) != APR_SUCCESS) {
            return rv;
        }
        again = 0;
    }
}

apr_status_t sp_chan_wait(sp_chan_t *c, uint32_t want, uint32_t *marks)
{
    apr_status_t rv = chan_wait(c, want & (SP_MARK_TX | SP_MARK_RX), marks);

    tx_unask(c);
    return rv;
}

/* --- ending ----------------------------------------------------------------- */

void sp_chan_abort(sp_chan_t *c, uint32_t reason)
{
    sp_slot_sh_t *s = slot_of(c);

    c->tx_begun = 0;
    if (!c->aborted) {
        s->owner_abort = reason;
        STORE(&s->owner_abort_gen, c->gen);  /* its frames are dead now */
        sp_slot_post_event(c->table, c->idx, SP_EV_ABORT);
        c->aborted = SP_CHAN_BY_US;
        c->reset_code = reason;
    }
    c->tx_ended = 1;
    c->rx_ended = 1;
}

void sp_chan_close(sp_chan_t *c)
{
    if (!c->tx_ended) {
        sp_chan_abort(c, SP_RST_NO_ERROR);
    }
    tx_publish(c, 1);
    rx_consumed(c);
}

apr_status_t sp_chan_accept(sp_chan_t *c, sp_table_t *t, unsigned idx,
                            apr_interval_time_t wait,
                            apr_interval_time_t timeout)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);

    sp_chan_open(c, t, idx, 0, timeout);
    for (;;) {
        sp_frame_hdr_t h;
        const unsigned char *payload;
        apr_status_t rv;
        uint64_t head;
        uint32_t m;
        int r;

        if (LOAD(&s->marks) & SP_MARK_ABORT) {  /* no request active: stale */
            sp_slot_clear_marks(t, idx, SP_MARK_ABORT);
        }
        r = rx_next(c, &h, &payload, &head);
        if (r < 0) {
            c->rx_pos = head;  /* corrupt: drop it all */
            continue;
        }
        if (r > 0) {
            if (h.type == SP_FT_HEADERS && h.stream == LOAD(&s->generation)) {
                c->gen = h.stream;
                /* sp_chan_get returns the HEADERS again; pads before it
                 * are given back then. */
                c->rx_pos -= SP_FRAME_HDR_LEN + h.length;
                return APR_SUCCESS;
            }
            continue;  /* leftovers of an earlier request */
        }
        unmark(c, SP_MARK_RX);
        if (LOAD(&s->rx_head) != head) {
            continue;
        }
        rv = sp_slot_wait_marks(t, idx, SP_MARK_RX, wait, &m);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}
