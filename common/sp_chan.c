/*
 * sp_chan.c -- the owner's two-way frame stream over its slot (sp_chan.h).
 *
 * The tx space is held ("have_tx") from the moment the owner takes the
 * SP_MARK_TX bit until it hands the fill to the proxy with SP_EV_TX; the
 * rx space from taking SP_MARK_RX until SP_EV_RXFREE.  Frames are written
 * and parsed with the same codec as the link; a length read from the rx
 * space is checked against the fill before it is used, since the proxy's
 * memory is no more trusted than a peer's.
 */
#include <string.h>

#include "sp_chan.h"
#include "sp_errors.h"

static sp_slot_sh_t *slot_of(sp_chan_t *c)
{
    return sp_table_slot(c->table, c->idx);
}

static apr_size_t space_of(sp_chan_t *c)
{
    return c->table->sh->space_size;
}

void sp_chan_open(sp_chan_t *c, sp_table_t *t, unsigned idx, uint32_t gen,
                  apr_interval_time_t timeout)
{
    memset(c, 0, sizeof(*c));
    c->table = t;
    c->idx = idx;
    c->gen = gen;
    c->timeout = timeout;
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
    if (__atomic_load_n(&s->abort_gen, __ATOMIC_ACQUIRE) == c->gen) {
        mark_aborted(c, __atomic_load_n(&s->abort_code, __ATOMIC_ACQUIRE));
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
    return check_abort(c, __atomic_load_n(&slot_of(c)->marks,
                                          __ATOMIC_ACQUIRE));
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

static apr_status_t take_tx(sp_chan_t *c)
{
    uint32_t m;
    apr_status_t rv;

    if (c->have_tx) {
        return APR_SUCCESS;
    }
    for (;;) {
        m = __atomic_load_n(&slot_of(c)->marks, __ATOMIC_ACQUIRE);
        if (check_abort(c, m)) {
            return SP_EABORTED;
        }
        if (m & SP_MARK_TX) {
            sp_slot_clear_marks(c->table, c->idx, SP_MARK_TX);
            c->have_tx = 1;
            c->tx_used = 0;
            return APR_SUCCESS;
        }
        rv = wait_for(c, SP_MARK_TX, &m);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

apr_status_t sp_chan_flush(sp_chan_t *c)
{
    if (!c->have_tx || c->tx_used == 0) {
        return APR_SUCCESS;
    }
    slot_of(c)->tx_len = (uint32_t)c->tx_used;
    c->have_tx = 0;
    c->tx_used = 0;
    sp_slot_post_event(c->table, c->idx, SP_EV_TX);
    return APR_SUCCESS;
}

static void put_frame(sp_chan_t *c, uint8_t type, uint8_t flags,
                      const void *payload, apr_size_t len)
{
    unsigned char *at = sp_slot_tx(c->table, c->idx) + c->tx_used;
    sp_frame_hdr_t h;

    h.length = (uint32_t)len;
    h.type = type;
    h.flags = flags;
    h.stream = c->gen;
    sp_frame_hdr_encode(at, &h);
    if (len) {
        memcpy(at + SP_FRAME_HDR_LEN, payload, len);
    }
    c->tx_used += SP_FRAME_HDR_LEN + len;
}

static apr_status_t put_whole(sp_chan_t *c, uint8_t type, uint8_t flags,
                              const void *payload, apr_size_t len)
{
    apr_size_t need = SP_FRAME_HDR_LEN + len;
    apr_status_t rv;

    if (need > space_of(c)) {
        return SP_ETOOLONG;
    }
    if ((rv = take_tx(c)) != APR_SUCCESS) {
        return rv;
    }
    if (c->tx_used + need > space_of(c)) {
        sp_chan_flush(c);
        if ((rv = take_tx(c)) != APR_SUCCESS) {
            return rv;
        }
    }
    put_frame(c, type, flags, payload, len);
    return APR_SUCCESS;
}

static apr_status_t put_data(sp_chan_t *c, uint8_t flags,
                             const unsigned char *p, apr_size_t len)
{
    apr_status_t rv;

    do {
        apr_size_t avail, chunk;

        if ((rv = take_tx(c)) != APR_SUCCESS) {
            return rv;
        }
        avail = space_of(c) - c->tx_used;
        if (avail <= SP_FRAME_HDR_LEN && (len > 0 || avail < SP_FRAME_HDR_LEN)) {
            sp_chan_flush(c);
            continue;
        }
        chunk = avail - SP_FRAME_HDR_LEN;
        if (chunk >= len) {
            put_frame(c, SP_FT_DATA, flags, p, len);
            return APR_SUCCESS;
        }
        put_frame(c, SP_FT_DATA, 0, p, chunk);
        p += chunk;
        len -= chunk;
        sp_chan_flush(c);
    } while (1);
}

/* After a frame went into the fill: END closes our side; END, FLUSH or a
 * full space hand the fill over. */
static apr_status_t frame_added(sp_chan_t *c, uint8_t flags)
{
    if (flags & SP_FF_END_STREAM) {
        c->tx_ended = 1;
    }
    if ((flags & (SP_FF_END_STREAM | SP_FF_FLUSH))
        || space_of(c) - c->tx_used <= SP_FRAME_HDR_LEN) {
        sp_chan_flush(c);
    }
    return APR_SUCCESS;
}

apr_status_t sp_chan_put(sp_chan_t *c, uint8_t type, uint8_t flags,
                         const void *payload, apr_size_t len)
{
    apr_status_t rv;

    if (c->tx_ended) {
        return c->aborted ? SP_EABORTED : SP_ECLOSED;
    }
    if (type == SP_FT_DATA) {
        rv = put_data(c, flags, payload, len);
    }
    else {
        rv = put_whole(c, type, flags, payload, len);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return frame_added(c, flags);
}

unsigned char *sp_chan_frame_begin(sp_chan_t *c, apr_size_t need,
                                   apr_size_t *room, apr_status_t *rv)
{
    if (c->tx_ended) {
        *rv = c->aborted ? SP_EABORTED : SP_ECLOSED;
        return NULL;
    }
    if ((*rv = take_tx(c)) != APR_SUCCESS) {
        return NULL;
    }
    if (c->tx_used > 0
        && space_of(c) - c->tx_used < SP_FRAME_HDR_LEN + need) {
        sp_chan_flush(c);
        if ((*rv = take_tx(c)) != APR_SUCCESS) {
            return NULL;
        }
    }
    *room = space_of(c) - c->tx_used - SP_FRAME_HDR_LEN;
    return sp_slot_tx(c->table, c->idx) + c->tx_used + SP_FRAME_HDR_LEN;
}

apr_status_t sp_chan_frame_end(sp_chan_t *c, uint8_t type, uint8_t flags,
                               apr_size_t len)
{
    unsigned char *at = sp_slot_tx(c->table, c->idx) + c->tx_used;
    sp_frame_hdr_t h;

    if (!c->have_tx || c->tx_used + SP_FRAME_HDR_LEN + len > space_of(c)) {
        return SP_ETOOLONG;
    }
    h.length = (uint32_t)len;
    h.type = type;
    h.flags = flags;
    h.stream = c->gen;
    sp_frame_hdr_encode(at, &h);
    c->tx_used += SP_FRAME_HDR_LEN + len;
    return frame_added(c, flags);
}

static void release_rx(sp_chan_t *c)
{
    if (c->have_rx) {
        c->have_rx = 0;
        sp_slot_post_event(c->table, c->idx, SP_EV_RXFREE);
    }
}

/* Takes a fill if one is marked: 1 if taken, 0 if none. */
static int take_rx(sp_chan_t *c, uint32_t marks)
{
    uint32_t len;

    if (!(marks & SP_MARK_RX)) {
        return 0;
    }
    sp_slot_clear_marks(c->table, c->idx, SP_MARK_RX);
    len = __atomic_load_n(&slot_of(c)->rx_len, __ATOMIC_ACQUIRE);
    c->have_rx = 1;
    c->rx_off = 0;
    c->rx_len = len > space_of(c) ? 0 : len;  /* a bad length: empty fill */
    return 1;
}

/* Next frame from the held fill: APR_SUCCESS, APR_EOF when the fill is
 * used up, SP_EPROTO if it is corrupt. */
static apr_status_t next_in_fill(sp_chan_t *c, sp_frame_hdr_t *h,
                                 const unsigned char **payload)
{
    const unsigned char *base = sp_slot_rx(c->table, c->idx);
    apr_size_t left = c->rx_len - c->rx_off;

    if (left == 0) {
        return APR_EOF;
    }
    if (left < SP_FRAME_HDR_LEN
        || sp_frame_hdr_decode_slot(base + c->rx_off,
                                    (uint32_t)(left - SP_FRAME_HDR_LEN), h)
           != APR_SUCCESS) {
        c->rx_off = c->rx_len;
        return SP_EPROTO;
    }
    *payload = base + c->rx_off + SP_FRAME_HDR_LEN;
    c->rx_off += SP_FRAME_HDR_LEN + h->length;
    return APR_SUCCESS;
}

apr_status_t sp_chan_get(sp_chan_t *c, sp_frame_hdr_t *h,
                         const unsigned char **payload, int nonblock)
{
    apr_status_t rv;
    uint32_t m;

    for (;;) {
        if (c->rx_ended) {
            return c->aborted ? SP_EABORTED : APR_EOF;
        }
        if (c->have_rx) {
            rv = next_in_fill(c, h, payload);
            if (rv == SP_EPROTO) {
                sp_chan_abort(c, SP_RST_PROTOCOL);
                return SP_EPROTO;
            }
            if (rv == APR_SUCCESS) {
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
            release_rx(c);
        }
        m = __atomic_load_n(&slot_of(c)->marks, __ATOMIC_ACQUIRE);
        if (check_abort(c, m)) {
            return SP_EABORTED;
        }
        if (take_rx(c, m)) {
            continue;
        }
        if (nonblock) {
            return APR_EAGAIN;
        }
        rv = wait_for(c, SP_MARK_RX, &m);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

apr_status_t sp_chan_wait(sp_chan_t *c, uint32_t want, uint32_t *marks)
{
    if ((want & SP_MARK_TX) && c->have_tx) {
        *marks = SP_MARK_TX;
        return APR_SUCCESS;
    }
    if ((want & SP_MARK_RX) && c->have_rx && c->rx_off < c->rx_len) {
        *marks = SP_MARK_RX;
        return APR_SUCCESS;
    }
    return wait_for(c, want, marks);
}

int sp_chan_can_put(sp_chan_t *c)
{
    return c->have_tx
           || (__atomic_load_n(&slot_of(c)->marks, __ATOMIC_ACQUIRE)
               & SP_MARK_TX);
}

apr_size_t sp_chan_room(sp_chan_t *c)
{
    apr_size_t used = c->have_tx ? c->tx_used : 0;

    if (space_of(c) - used <= SP_FRAME_HDR_LEN) {
        return 0;
    }
    return space_of(c) - used - SP_FRAME_HDR_LEN;
}

void sp_chan_abort(sp_chan_t *c, uint32_t reason)
{
    sp_slot_sh_t *s = slot_of(c);

    if (c->have_tx) {
        /* Give back the space we hold: the proxy will not see this fill. */
        c->have_tx = 0;
        c->tx_used = 0;
        sp_slot_set_marks(c->table, c->idx, SP_MARK_TX);
    }
    if (!c->aborted) {
        s->owner_abort = reason;
        sp_slot_post_event(c->table, c->idx, SP_EV_ABORT);
        c->aborted = SP_CHAN_BY_US;
        c->reset_code = reason;
    }
    c->tx_ended = 1;
    c->rx_ended = 1;
}

void sp_chan_close(sp_chan_t *c)
{
    int finished = c->rx_ended && !c->aborted;

    if (!c->tx_ended) {
        sp_chan_abort(c, SP_RST_NO_ERROR);
    }
    else if (c->have_tx) {
        if (c->tx_used) {
            sp_chan_flush(c);
        }
        else {
            c->have_tx = 0;
            sp_slot_set_marks(c->table, c->idx, SP_MARK_TX);
        }
    }
    if (finished && c->have_rx) {
        /* Nothing more comes for this request: the proxy needs to know the
         * space is free only before this slot's next reply, and the next
         * request rings anyway.  Saves a wake-up per request. */
        c->have_rx = 0;
        sp_slot_post_event_quiet(c->table, c->idx, SP_EV_RXFREE);
        return;
    }
    release_rx(c);
}

apr_status_t sp_chan_accept(sp_chan_t *c, sp_table_t *t, unsigned idx,
                            apr_interval_time_t wait,
                            apr_interval_time_t timeout)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    sp_frame_hdr_t h;
    apr_status_t rv;
    uint32_t m;

    sp_chan_open(c, t, idx, 0, timeout);
    for (;;) {
        m = __atomic_load_n(&s->marks, __ATOMIC_ACQUIRE);
        if (m & SP_MARK_ABORT) {  /* no request is active: stale */
            sp_slot_clear_marks(t, idx, SP_MARK_ABORT);
        }
        if (take_rx(c, m)) {
            const unsigned char *payload;
            rv = next_in_fill(c, &h, &payload);
            if (rv == APR_SUCCESS && h.type == SP_FT_HEADERS) {
                c->gen = h.stream;
                c->rx_off = 0;  /* sp_chan_get returns the HEADERS again */
                return APR_SUCCESS;
            }
            release_rx(c);  /* leftovers of an earlier request */
            continue;
        }
        rv = sp_slot_wait_marks(t, idx, SP_MARK_RX, wait, &m);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}
