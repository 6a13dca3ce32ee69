/*
 * sp_proxy.c -- the proxy engine (see sp_proxy.h).
 *
 * Streams.  A stream is one request on one link.  The engine keeps, per
 * stream, the credit it may still send, the credit the peer may still
 * send, and `pend`: frames received for the slot that wait for its rx
 * space (bounded by the credit we granted, so by the window, never by the
 * body size).  A slot's tx frames are forwarded one by one and their
 * space given back to the owner at once; when credit or link output room
 * runs out the rest stays in the tx space and the stream waits on its
 * link's blocked list until a WINDOW or a drained socket resumes it.
 *
 * Lifetimes.  Client side, a stream ends when its END went out and the
 * peer's END was copied into the slot, or on a reset either way.  Server
 * side, a stream ends when the worker's END went out (the rest of an
 * unread request body is refused with RESET NO_ERROR), or on a reset; the
 * worker slot becomes idle again only when the worker says so
 * (SP_EV_ATTACH), so a slow handler is never handed a second request.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <apr_hash.h>
#include <apr_poll.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "sp_errors.h"
#include "sp_proxy.h"
#include "sp_space.h"

#define LOAD(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define TICK_INTERVAL   apr_time_from_msec(100)
#define SWEEP_INTERVAL  apr_time_from_sec(1)

typedef struct sp_stream_t sp_stream_t;
typedef struct link_ctx_t link_ctx_t;

struct sp_stream_t {
    link_ctx_t    *lc;
    uint32_t       id;
    int            slot;          /* -1: not attached */
    uint32_t       gen;
    int64_t        send_credit;   /* DATA bytes we may send */
    int64_t        recv_left;     /* DATA bytes the peer may send */
    uint32_t       recv_unacked;  /* delivered, credit not yet returned */
    uint64_t       rx_acked;      /* the owner's rx_tail when credit last
                                   * went back */
    unsigned char *replay;        /* client: copy of a body-less request's
                                   * head, to resend if REFUSED unstarted */
    uint32_t       replay_len;
    unsigned char *pend;          /* slot-format frames [pend_off, pend_len) */
    apr_size_t     pend_off, pend_len, pend_cap;
    unsigned       head_sent:1, head_seen:1, local_end:1, remote_end:1,
                   delivered_end:1, send_closed:1, blocked:1, queued:1;
    sp_stream_t   *qnext, *qprev; /* server queue */
    sp_stream_t   *bnext, *bprev; /* link's blocked list */
};

struct link_ctx_t {
    sp_proxy_t    *px;
    sp_link_t     *link;
    apr_pool_t    *pool;
    apr_hash_t    *streams;       /* id -> sp_stream_t */
    sp_stream_t   *blocked;
    link_ctx_t    *next, *prev;
    apr_pollfd_t   pfd;
    int            registered;
    int            connecting;
    int            was_open;
    int            listener;      /* this entry is a listening socket */
    sp_tls_t      *tls;           /* listener: TLS for accepted links */
    int            zombie;        /* closed, kept for streams whose whole
                                   * reply came and awaits delivery */
};

typedef struct slot_st_t {
    sp_stream_t   *stream;
    uint64_t       tx_pos;        /* next tx frame to forward (tx_tail once
                                   * published) */
    apr_size_t     tx_sub;        /* bytes of that DATA frame already sent */
    uint64_t       rx_pos;        /* where our next rx frame goes (rx_head
                                   * once published) */
    int            inext, iprev;  /* idle list (server) */
    int            pnext, pprev;  /* parked list (client) */
    apr_time_t     park_until;
    apr_time_t     progress;      /* server: last sign of life of the worker */
    unsigned char *replay;        /* client: a refused head waiting for a link */
    uint32_t       replay_len;
    uint32_t       replay_gen;
    int            replays;       /* resends of this request so far */
    apr_time_t     dead_since;    /* server: worker died, its frames still out */
    uint32_t       wake;          /* marks to set before we sleep */
    int            wnext;         /* list of slots with wake bits */
    unsigned       idle:1, attach_pending:1, pumping:1, parked:1,
                   dead_pending:1;
    /* DATA payloads a link writes straight from the tx space: until they
     * are written, tx_tail stays at ref_tail (the end of the last frame
     * written whole), not tx_pos.  All on one link, so they complete in
     * order. */
    unsigned       refs;
    uint64_t       ref_tail;
    sp_link_t     *ref_link;
} slot_st_t;

struct sp_proxy_t {
    apr_pool_t        *pool;
    sp_table_t        *t;
    const sp_secret_t *secret;
    sp_proxy_opts_t    o;
    sp_proxy_hooks_t   h;
    apr_pollset_t     *ps;
    apr_pollfd_t       bell;
    slot_st_t         *slots;
    link_ctx_t        *links;
    sp_stream_t       *q_head, *q_tail;
    unsigned           q_len;
    apr_array_header_t *listeners;    /* link_ctx_t * of listening sockets */
    int                idle_head;     /* -1 none */
    int                park_head;     /* client: slots waiting for a link */
    int                wake_head;     /* slots whose owner we wake before
                                       * we sleep (-1 none) */
    unsigned           active;
    volatile sig_atomic_t stop_req;
    volatile sig_atomic_t drain_req;
    int                draining;
    apr_interval_time_t drain_timeout;
    apr_time_t         drain_deadline;
    apr_time_t         last_tick, last_sweep;
    char               namebuf[256];  /* link_name() */
};

static void stream_free(sp_proxy_t *px, sp_stream_t *s);
static void pump_tx(sp_proxy_t *px, unsigned idx);
static void link_lost(sp_proxy_t *px, link_ctx_t *lc);
static void try_replay(sp_proxy_t *px, unsigned idx);
static void link_ctx_unlink(sp_proxy_t *px, link_ctx_t *lc);
static void slot_dead(sp_proxy_t *px, unsigned idx);

/* --- logging ------------------------------------------------------------- */

static void plog(sp_proxy_t *px, int level, const char *tag, apr_status_t rv,
                 const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void plog(sp_proxy_t *px, int level, const char *tag, apr_status_t rv,
                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!px->h.log || level > px->o.log_level) {
        return;  /* not even formatted: some of these are per request */
    }
    va_start(ap, fmt);
    apr_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    px->h.log(px->h.baton, level, tag, rv, msg);
}

/* For log lines: into a buffer of the proxy's, never into the link's
 * long-lived pool (a log line per request would grow it forever).  One
 * line uses it at most once. */
static const char *link_name(sp_proxy_t *px, sp_link_t *l)
{
    if (px->o.role == SP_ROLE_CLIENT && px->h.backend_name) {
        apr_snprintf(px->namebuf, sizeof(px->namebuf), "backend %s (%s)",
                     px->h.backend_name(l->backend, px->h.baton), l->peer);
    }
    else {
        apr_snprintf(px->namebuf, sizeof(px->namebuf), "peer %s", l->peer);
    }
    return px->namebuf;
}

/* --- setup --------------------------------------------------------------- */

void sp_proxy_default_settings(const sp_table_t *t, sp_link_settings_t *s)
{
    uint32_t space = t->sh->space_size;

    s->max_streams = 4096;
    s->max_frame = (uint32_t)(sp_space_max_frame(space) - SP_FRAME_HDR_LEN);
    s->stream_window = SP_PROXY_WINDOW_SPACES * space;
    s->link_window = 0x40000000u;
}

apr_status_t sp_proxy_create(sp_proxy_t **pxp, sp_table_t *t,
                             const sp_secret_t *secret,
                             const sp_proxy_opts_t *opts,
                             const sp_proxy_hooks_t *hooks, apr_pool_t *p)
{
    sp_proxy_t *px = apr_pcalloc(p, sizeof(*px));
    apr_status_t rv;
    unsigned i;

    px->pool = p;
    px->t = t;
    px->secret = secret;
    px->o = *opts;
    px->h = *hooks;
    px->idle_head = -1;
    px->park_head = -1;
    px->wake_head = -1;
    if (px->o.high_water == 0) {
        px->o.high_water = 1024 * 1024;
    }
    if (px->o.log_level == 0) {
        px->o.log_level = 7;
    }
    if (px->o.handshake_timeout == 0) {
        px->o.handshake_timeout = apr_time_from_sec(10);
    }
    px->listeners = apr_array_make(p, 4, sizeof(link_ctx_t *));
    px->slots = apr_pcalloc(p, sizeof(slot_st_t) * t->sh->nslots);
    for (i = 0; i < t->sh->nslots; i++) {
        sp_slot_sh_t *sh = sp_table_slot(t, i);
        px->slots[i].inext = px->slots[i].iprev = -1;
        px->slots[i].pnext = px->slots[i].pprev = -1;
        /* A new proxy carries on where its predecessor stopped. */
        px->slots[i].tx_pos = LOAD(&sh->tx_tail);
        px->slots[i].rx_pos = LOAD(&sh->rx_head);
    }
    rv = apr_pollset_create_ex(&px->ps, 1024, p, APR_POLLSET_NOCOPY,
                               APR_POLLSET_EPOLL);
    if (rv != APR_SUCCESS) {
        rv = apr_pollset_create(&px->ps, 1024, p, APR_POLLSET_NOCOPY);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    px->bell.desc_type = APR_POLL_FILE;
    px->bell.reqevents = APR_POLLIN;
    apr_os_file_put(&px->bell.desc.f, &t->doorbell, APR_FOPEN_READ, p);
    px->bell.client_data = NULL;
    rv = apr_pollset_add(px->ps, &px->bell);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *pxp = px;
    return APR_SUCCESS;
}

unsigned sp_proxy_active(const sp_proxy_t *px)
{
    return px->active;
}

void sp_proxy_stop(sp_proxy_t *px)
{
    uint64_t one = 1;

    px->stop_req = 1;
    if (write(px->t->doorbell, &one, sizeof(one)) < 0) {
        /* nothing safe to do in a signal handler */
    }
}

void sp_proxy_drain(sp_proxy_t *px, apr_interval_time_t timeout)
{
    uint64_t one = 1;

    px->drain_timeout = timeout;
    px->drain_req = 1;
    if (write(px->t->doorbell, &one, sizeof(one)) < 0) {
        /* as above */
    }
}

/* --- poll registration --------------------------------------------------- */

static void link_register(sp_proxy_t *px, link_ctx_t *lc)
{
    apr_int16_t want = APR_POLLIN;

    if (lc->link->state == SP_LINK_CLOSED) {
        return;
    }
    if (lc->connecting || lc->link->want_write) {
        want |= APR_POLLOUT;
    }
    if (lc->registered && lc->pfd.reqevents == want) {
        return;
    }
    if (lc->registered) {
        apr_pollset_remove(px->ps, &lc->pfd);
    }
    lc->pfd.desc_type = APR_POLL_SOCKET;
    lc->pfd.desc.s = lc->link->sock;
    lc->pfd.reqevents = want;
    lc->pfd.client_data = lc;
    lc->registered = apr_pollset_add(px->ps, &lc->pfd) == APR_SUCCESS;
}

/* --- streams ------------------------------------------------------------- */

static sp_stream_t *stream_get(link_ctx_t *lc, uint32_t id)
{
    return apr_hash_get(lc->streams, &id, sizeof(id));
}

static sp_stream_t *stream_new(sp_proxy_t *px, link_ctx_t *lc, uint32_t id)
{
    sp_stream_t *s = calloc(1, sizeof(*s));

    if (!s) {
        return NULL;
    }
    s->lc = lc;
    s->id = id;
    s->slot = -1;
    s->send_credit = lc->link->peer_set.stream_window;
    s->recv_left = lc->link->mine.stream_window;
    apr_hash_set(lc->streams, &s->id, sizeof(s->id), s);
    lc->link->nstreams++;
    px->active++;
    return s;
}

static apr_status_t pend_append(sp_stream_t *s, uint8_t type, uint8_t flags,
                                const unsigned char *payload, uint32_t len)
{
    sp_frame_hdr_t h;
    apr_size_t need = SP_FRAME_HDR_LEN + len;

    if (s->pend_off > 0 && s->pend_off == s->pend_len) {
        s->pend_off = s->pend_len = 0;
    }
    if (s->pend_len + need > s->pend_cap) {
        apr_size_t cap = s->pend_cap ? s->pend_cap : 4096;
        unsigned char *grown;
        if (s->pend_off > 0) {
            memmove(s->pend, s->pend + s->pend_off, s->pend_len - s->pend_off);
            s->pend_len -= s->pend_off;
            s->pend_off = 0;
        }
        while (cap < s->pend_len + need) {
            cap *= 2;
        }
        if (cap != s->pend_cap) {
            grown = realloc(s->pend, cap);
            if (!grown) {
                return APR_ENOMEM;
            }
            s->pend = grown;
            s->pend_cap = cap;
        }
    }
    h.length = len;
    h.type = type;
    h.flags = flags;
    h.stream = 0;  /* the generation is stamped when copied into the slot */
    sp_frame_hdr_encode(s->pend + s->pend_len, &h);
    if (len) {
        memcpy(s->pend + s->pend_len + SP_FRAME_HDR_LEN, payload, len);
    }
    s->pend_len += need;
    return APR_SUCCESS;
}

static void block_stream(sp_stream_t *s)
{
    if (s->blocked) {
        return;
    }
    s->blocked = 1;
    s->bprev = NULL;
    s->bnext = s->lc->blocked;
    if (s->bnext) {
        s->bnext->bprev = s;
    }
    s->lc->blocked = s;
}

static void unblock_stream(sp_stream_t *s)
{
    if (!s->blocked) {
        return;
    }
    if (s->bprev) {
        s->bprev->bnext = s->bnext;
    }
    else {
        s->lc->blocked = s->bnext;
    }
    if (s->bnext) {
        s->bnext->bprev = s->bprev;
    }
    s->blocked = 0;
    s->bnext = s->bprev = NULL;
}

static void dequeue_stream(sp_proxy_t *px, sp_stream_t *s)
{
    if (!s->queued) {
        return;
    }
    if (s->qprev) {
        s->qprev->qnext = s->qnext;
    }
    else {
        px->q_head = s->qnext;
    }
    if (s->qnext) {
        s->qnext->qprev = s->qprev;
    }
    else {
        px->q_tail = s->qprev;
    }
    s->queued = 0;
    s->qnext = s->qprev = NULL;
    px->q_len--;
}

/* --- the slot's spaces ------------------------------------------------- */

/* Has the owner published tx frames we have not forwarded? */
static int tx_pending(sp_proxy_t *px, unsigned idx)
{
    return px->slots[idx].tx_pos
           != LOAD(&sp_table_slot(px->t, idx)->tx_head);
}

/* Has the owner frames of ours in its rx space it has not read? */
static int rx_unread(sp_proxy_t *px, unsigned idx)
{
    return px->slots[idx].rx_pos
           != LOAD(&sp_table_slot(px->t, idx)->rx_tail);
}

/* Marks for the owner of slot idx, set (and the owner woken, if it
 * sleeps) once this round of work is done: an owner that reads or writes
 * a stream of frames is woken once per round, not once per frame. */
static void wake_later(sp_proxy_t *px, unsigned idx, uint32_t bits)
{
    slot_st_t *ss = &px->slots[idx];

    if (!ss->wake) {
        ss->wnext = px->wake_head;
        px->wake_head = (int)idx;
    }
    ss->wake |= bits;
}

static void wake_owners(sp_proxy_t *px)
{
    while (px->wake_head >= 0) {
        unsigned idx = (unsigned)px->wake_head;
        slot_st_t *ss = &px->slots[idx];
        uint32_t bits = ss->wake;
        px->wake_head = ss->wnext;
        ss->wake = 0;
        sp_slot_set_marks(px->t, idx, bits);
    }
}

/* Gives the tx bytes before tx_pos back to the owner, and wakes it if it
 * waits for them (tx_want). */
static void tx_consumed(sp_proxy_t *px, unsigned idx)
{
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    slot_st_t *ss = &px->slots[idx];
    uint64_t pos = ss->refs ? ss->ref_tail : ss->tx_pos, want;

    STORE(&sh->tx_tail, pos);
    /* Pairs with the owner's store of tx_want and its look at tx_tail. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    want = LOAD(&sh->tx_want);
    if (want != 0 && (int64_t)(pos - want) >= 0) {
        wake_later(px, idx, SP_MARK_TX);
    }
}

/* A link wrote (or dropped) a payload it took from slot idx's tx space;
 * end: the end of its frame if it was the frame's last piece, else 0. */
static void tx_ref_done(sp_link_t *l, int slot, uint64_t end, void *baton)
{
    link_ctx_t *lc = baton;
    sp_proxy_t *px = lc->px;
    slot_st_t *ss = &px->slots[slot];

    if (ss->refs == 0) {
        return;
    }
    ss->refs--;
    if (end && (int64_t)(end - ss->ref_tail) > 0) {
        ss->ref_tail = end;
    }
    tx_consumed(px, (unsigned)slot);
}

/* Slot idx's spaces are about to be emptied for another owner: a link
 * still to write payloads from them keeps copies instead. */
static void tx_refs_detach(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    if (ss->refs && sp_link_own_refs(ss->ref_link, (int)idx) != APR_SUCCESS) {
        sp_link_close(ss->ref_link, "out of memory");
    }
    ss->refs = 0;
}

/* Drops every tx frame the owner published (its owner is gone). */
static void tx_drop(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    ss->tx_pos = LOAD(&sp_table_slot(px->t, idx)->tx_head);
    ss->tx_sub = 0;
    tx_consumed(px, idx);
    sp_slot_set_marks(px->t, idx, SP_MARK_TX);
}

/* Where a frame of `need` bytes goes in slot idx's rx space, or NULL if
 * the owner has not read enough yet.  May skip the end of the space. */
static unsigned char *rx_place(sp_proxy_t *px, unsigned idx, apr_size_t need)
{
    slot_st_t *ss = &px->slots[idx];
    unsigned char *base = sp_slot_rx(px->t, idx);
    apr_size_t size = px->t->sh->space_size;

    if (!sp_space_room(base, size, &ss->rx_pos,
                       LOAD(&sp_table_slot(px->t, idx)->rx_tail), need)) {
        return NULL;
    }
    return base + (apr_size_t)(ss->rx_pos % size);
}

/* Publishes the rx frames placed so far (an owner at work sees them at
 * once) and wakes the owner before we sleep. */
static void rx_publish(sp_proxy_t *px, unsigned idx)
{
    STORE(&sp_table_slot(px->t, idx)->rx_head, px->slots[idx].rx_pos);
    wake_later(px, idx, SP_MARK_RX);
}

/* Is a tx frame of generation gen alive?  Frames of an earlier request,
 * or of one the owner or we abandoned, are dropped. */
static int tx_gen_alive(sp_proxy_t *px, unsigned idx, uint32_t gen)
{
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);

    return gen == LOAD(&sh->generation) && gen != LOAD(&sh->owner_abort_gen)
           && gen != LOAD(&sh->abort_gen);
}

/* Tells the owner of slot idx that its generation gen is abandoned. */
static void abort_owner(sp_proxy_t *px, unsigned idx, uint32_t gen,
                        uint32_t code)
{
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);

    __atomic_store_n(&sh->abort_code, code, __ATOMIC_RELEASE);
    __atomic_store_n(&sh->abort_gen, gen, __ATOMIC_RELEASE);
    sp_slot_set_marks(px->t, idx, SP_MARK_ABORT);
}

static void idle_remove(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    if (!ss->idle) {
        return;
    }
    if (ss->iprev >= 0) {
        px->slots[ss->iprev].inext = ss->inext;
    }
    else {
        px->idle_head = ss->inext;
    }
    if (ss->inext >= 0) {
        px->slots[ss->inext].iprev = ss->iprev;
    }
    ss->idle = 0;
    ss->inext = ss->iprev = -1;
}

static void attach_server(sp_proxy_t *px, sp_stream_t *s, unsigned idx);

/* Server: a worker slot is free for a new request. */
static void worker_ready(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    ss->attach_pending = 0;
    if (px->q_head) {
        sp_stream_t *s = px->q_head;
        dequeue_stream(px, s);
        attach_server(px, s, idx);
        return;
    }
    if (!ss->idle) {
        ss->idle = 1;
        ss->iprev = -1;
        ss->inext = px->idle_head;
        if (px->idle_head >= 0) {
            px->slots[px->idle_head].iprev = (int)idx;
        }
        px->idle_head = (int)idx;
    }
}

static void stream_free(sp_proxy_t *px, sp_stream_t *s)
{
    link_ctx_t *lc = s->lc;

    unblock_stream(s);
    dequeue_stream(px, s);
    apr_hash_set(lc->streams, &s->id, sizeof(s->id), NULL);
    lc->link->nstreams--;
    px->active--;
    if (s->slot >= 0) {
        unsigned idx = (unsigned)s->slot;
        slot_st_t *ss = &px->slots[idx];
        ss->stream = NULL;
        s->slot = -1;
        if (!ss->pumping && tx_pending(px, idx)) {
            pump_tx(px, idx);  /* drops what is left of its frames */
        }
        if (px->o.role == SP_ROLE_SERVER && ss->attach_pending
            && !tx_pending(px, idx)) {
            worker_ready(px, idx);
        }
    }
    free(s->replay);
    free(s->pend);
    free(s);
    if (lc->zombie && lc->link->nstreams == 0) {
        link_ctx_unlink(px, lc);
        apr_pool_destroy(lc->pool);
    }
}

/* Abandons a stream: RESET to the peer (unless it is finished or code is
 * 0xffffffff), abort to the slot owner (if attached and to_owner), free. */
static void stream_reset(sp_proxy_t *px, sp_stream_t *s, uint32_t code,
                         int to_peer, int to_owner)
{
    sp_link_t *l = s->lc->link;

    if (to_peer && l->state != SP_LINK_CLOSED
        && !(s->local_end && s->remote_end)) {
        sp_link_queue_u32(l, SP_FT_RESET, s->id, code);
    }
    if (to_owner && s->slot >= 0) {
        abort_owner(px, (unsigned)s->slot, s->gen, code);
    }
    stream_free(px, s);
}

/* Credit for DATA goes back as the owner reads it, not as it is placed:
 * the peer never has more than a window (SP_PROXY_WINDOW_SPACES spaces)
 * in flight, so at most that waits in pend.  Some does wait there when
 * the owner is behind: a space cannot hold a space of payload plus frame
 * headers and the pad at its wrap (docs/PERFORMANCE.md measures how
 * often, and what a smaller window costs).  Returned a quarter window at
 * a time, or all of it once the owner has read everything (a slow
 * trickle is not held back). */
static void credit_back(sp_proxy_t *px, sp_stream_t *s)
{
    slot_st_t *ss = &px->slots[s->slot];
    sp_link_t *l = s->lc->link;
    uint64_t tail = LOAD(&sp_table_slot(px->t, (unsigned)s->slot)->rx_tail);
    uint32_t n = s->recv_unacked;

    if (n == 0 || s->remote_end || l->state == SP_LINK_CLOSED) {
        return;
    }
    if (tail != ss->rx_pos) {
        /* Read bytes include headers and pads: never more than delivered.
         * Once a quarter window is read (what rx_watch asked the owner
         * for), whatever it covers goes back, so the next ask is new. */
        int64_t read = (int64_t)(tail - s->rx_acked);
        if (read < (int64_t)(l->mine.stream_window / 4)) {
            return;
        }
        if (read < (int64_t)n) {
            n = (uint32_t)read;
        }
    }
    sp_link_queue_u32(l, SP_FT_WINDOW, s->id, n);
    s->recv_left += n;
    s->recv_unacked -= n;
    s->rx_acked = tail;
}

/* Asks the owner for SP_EV_RXFREE once it has read what we wait for: half
 * a space behind us when frames wait in pend (then any frame fits), a
 * quarter window more when credit is owed.  Returns non-zero if it
 * already has (look again now). */
static int rx_watch(sp_proxy_t *px, sp_stream_t *s)
{
    unsigned idx = (unsigned)s->slot;
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    uint64_t pos = px->slots[idx].rx_pos, want = 0;

    if (s->pend_off != s->pend_len) {
        uint64_t half = sp_space_max_frame(px->t->sh->space_size);
        want = pos > half ? pos - half : 1;
    }
    if (s->recv_unacked && !s->remote_end) {
        uint64_t w = s->rx_acked + s->lc->link->mine.stream_window / 4;
        if (w > pos) {
            w = pos;
        }
        if (want == 0 || w < want) {
            want = w;
        }
    }
    if (LOAD(&sh->rx_want) != want) {
        STORE(&sh->rx_want, want);
    }
    if (want == 0) {
        return 0;
    }
    /* Pairs with the owner's store of rx_tail and load of rx_want. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return (int64_t)(LOAD(&sh->rx_tail) - want) >= 0;
}

/* Moves a stream's rx on: pending frames into the slot's rx space while
 * they fit, credit back for what the owner read, and a request to be told
 * when it has read enough for more.  data and end: what the caller placed
 * itself (deliver_direct).  May free the stream. */
static void rx_flow(sp_proxy_t *px, sp_stream_t *s, uint32_t data, int end)
{
    unsigned idx = (unsigned)s->slot;
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    int looks;

    s->recv_unacked += data;
    for (looks = 0;; looks++) {
        while (s->pend_off < s->pend_len) {
            const unsigned char *f = s->pend + s->pend_off;
            uint32_t len = sp_get_u32(f);
            apr_size_t flen = SP_FRAME_HDR_LEN + len;
            unsigned char *rx = rx_place(px, idx, flen);
            if (!rx) {
                break;
            }
            memcpy(rx, f, flen);
            sp_put_u32(rx + 8, s->gen);
            if (f[4] == SP_FT_DATA) {
                data += len;
                s->recv_unacked += len;
            }
            if ((f[5] & SP_FF_END_STREAM) || f[4] == SP_FT_RESET) {
                end = 1;
            }
            ss->rx_pos += flen;
            s->pend_off += flen;
        }
        if (ss->rx_pos != LOAD(&sh->rx_head)) {
            rx_publish(px, idx);  /* also a pad rx_place skipped */
        }
        credit_back(px, s);
        /* A few looks at most: a broken owner's rx_tail must not keep us
         * here. */
        if (!rx_watch(px, s) || looks == 3) {
            break;
        }
    }
    if (data) {
        sp_link_consumed(s->lc->link, data);
    }
    if (px->o.role == SP_ROLE_SERVER) {
        ss->progress = apr_time_now();  /* for the hung-worker check */
    }
    if (end) {
        s->delivered_end = 1;
        if (px->o.role == SP_ROLE_CLIENT && s->local_end) {
            stream_free(px, s);
        }
    }
}

/* A frame from the link goes straight into the slot's rx space when there
 * is room and nothing waits before it: one copy less than through pend.
 * Returns 1 if it did. */
static int deliver_direct(sp_proxy_t *px, sp_stream_t *s, uint8_t type,
                          uint8_t flags, const unsigned char *p, uint32_t len)
{
    unsigned char *rx;
    sp_frame_hdr_t h;
    uint64_t before;

    if (s->slot < 0 || s->pend_off != s->pend_len) {
        return 0;
    }
    before = px->slots[s->slot].rx_pos;
    rx = rx_place(px, (unsigned)s->slot, SP_FRAME_HDR_LEN + (apr_size_t)len);
    if (!rx) {
        if (px->slots[s->slot].rx_pos != before) {
            rx_publish(px, (unsigned)s->slot);  /* the owner reads the pad */
        }
        return 0;
    }
    h.length = len;
    h.type = type;
    h.flags = flags;
    h.stream = s->gen;
    sp_frame_hdr_encode(rx, &h);
    memcpy(rx + SP_FRAME_HDR_LEN, p, len);
    px->slots[s->slot].rx_pos += SP_FRAME_HDR_LEN + len;
    rx_flow(px, s, type == SP_FT_DATA ? len : 0,
            (flags & SP_FF_END_STREAM) != 0);
    return 1;
}

/* The owner read some of its rx space, or the stream was just attached:
 * moves its rx on. */
static void deliver(sp_proxy_t *px, sp_stream_t *s)
{
    if (s->slot >= 0) {
        rx_flow(px, s, 0, 0);
    }
}

/* Our side sent END: the stream may be done. */
static void local_end(sp_proxy_t *px, sp_stream_t *s)
{
    s->local_end = 1;
    if (px->o.role == SP_ROLE_SERVER) {
        if (!s->remote_end && s->lc->link->state != SP_LINK_CLOSED) {
            /* The handler answered without reading all of the body. */
            sp_link_queue_u32(s->lc->link, SP_FT_RESET, s->id,
                              SP_RST_NO_ERROR);
        }
        stream_free(px, s);
    }
    else if (s->delivered_end) {
        stream_free(px, s);
    }
}

/* --- slot -> link -------------------------------------------------------- */

static void attach_server(sp_proxy_t *px, sp_stream_t *s, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    idle_remove(px, idx);
    s->slot = (int)idx;
    s->rx_acked = ss->rx_pos;
    s->gen = sp_slot_next_gen(px->t, idx);
    ss->stream = s;
    deliver(px, s);
}

/* Client: is a link to backend b being connected or authenticated? */
static int backend_connecting(sp_proxy_t *px, unsigned b)
{
    link_ctx_t *lc;

    for (lc = px->links; lc; lc = lc->next) {
        if (!lc->listener && lc->link->backend == b
            && lc->link->state < SP_LINK_OPEN) {
            return 1;
        }
    }
    return 0;
}

static void park(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    if (ss->parked) {
        return;
    }
    ss->parked = 1;
    if (ss->park_until == 0) {  /* first wait of this request */
        ss->park_until = apr_time_now() + px->o.handshake_timeout;
    }
    ss->pprev = -1;
    ss->pnext = px->park_head;
    if (px->park_head >= 0) {
        px->slots[px->park_head].pprev = (int)idx;
    }
    px->park_head = (int)idx;
}

static void unpark(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];

    if (!ss->parked) {
        return;
    }
    if (ss->pprev >= 0) {
        px->slots[ss->pprev].pnext = ss->pnext;
    }
    else {
        px->park_head = ss->pnext;
    }
    if (ss->pnext >= 0) {
        px->slots[ss->pnext].pprev = ss->pprev;
    }
    ss->parked = 0;
    ss->pnext = ss->pprev = -1;
}

/* A link opened or failed, or time passed: parked requests try again (and
 * fail with REFUSED once no link is coming or they waited too long). */
static void retry_parked(sp_proxy_t *px, apr_time_t now)
{
    int idx = px->park_head;

    while (idx >= 0) {
        int next = px->slots[idx].pnext;
        slot_st_t *ss = &px->slots[idx];
        sp_slot_sh_t *sh = sp_table_slot(px->t, (unsigned)idx);
        unpark(px, (unsigned)idx);
        if (now > ss->park_until) {
            abort_owner(px, (unsigned)idx, ss->replay ? ss->replay_gen
                                                      : sh->generation,
                        SP_RST_REFUSED);
            free(ss->replay);
            ss->replay = NULL;
            ss->park_until = 0;
            pump_tx(px, (unsigned)idx);  /* drops the refused frames */
        }
        else if (ss->replay) {
            try_replay(px, (unsigned)idx);
        }
        else {
            pump_tx(px, (unsigned)idx);
        }
        idx = next;
    }
}

/* Client: a new stream for request gen of slot idx, on a usable link of
 * its backend.  NULL with *parked: no link yet but one is being set up,
 * the slot waits for it; NULL otherwise: the owner has been told why. */
static sp_stream_t *open_client_stream(sp_proxy_t *px, unsigned idx,
                                       uint32_t gen, int *parked)
{
    unsigned backend = sp_table_slot(px->t, idx)->backend;
    sp_link_t *l = px->h.pick_link ? px->h.pick_link(px, backend, px->h.baton)
                                   : NULL;
    sp_stream_t *s;

    *parked = 0;
    if (!l) {
        if (backend_connecting(px, backend)) {
            park(px, idx);  /* its link is on the way: wait for it */
            *parked = 1;
            return NULL;
        }
        abort_owner(px, idx, gen, SP_RST_REFUSED);
        return NULL;
    }
    s = stream_new(px, l->owner_data, l->next_stream);
    if (!s) {
        abort_owner(px, idx, gen, SP_RST_INTERNAL);
        return NULL;
    }
    l->next_stream += 2;
    s->slot = (int)idx;
    s->rx_acked = px->slots[idx].rx_pos;
    s->gen = gen;
    px->slots[idx].stream = s;
    px->slots[idx].park_until = 0;
    return s;
}

/* Client: sends again, on a usable link, a body-less request that a
 * draining server refused before starting it.  The owner never knows. */
static void try_replay(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    sp_link_t *l;
    sp_stream_t *s;
    int parked;

    if (!__atomic_load_n(&sh->claim, __ATOMIC_ACQUIRE)
        || sh->generation != ss->replay_gen || ss->stream) {
        free(ss->replay);  /* the owner has moved on */
        ss->replay = NULL;
        return;
    }
    s = open_client_stream(px, idx, ss->replay_gen, &parked);
    if (!s) {
        if (!parked) {  /* the owner was told: nothing to resend */
            free(ss->replay);
            ss->replay = NULL;
        }
        return;
    }
    l = s->lc->link;
    sp_link_queue(l, SP_FT_HEADERS, SP_FF_END_STREAM, s->id, ss->replay,
                  ss->replay_len);
    s->head_sent = 1;
    s->local_end = 1;
    s->replay = ss->replay;  /* kept in case this link refuses it too */
    s->replay_len = ss->replay_len;
    ss->replay = NULL;
    plog(px, 7, "SP0119", 0, "slot %u: refused request resent as stream %u "
         "on %s", idx, s->id, link_name(px, l));
}

enum { FWD_DONE, FWD_BLOCKED };

static int forward_data(sp_proxy_t *px, unsigned idx, sp_stream_t *s,
                        const sp_frame_hdr_t *h, const unsigned char *p)
{
    slot_st_t *ss = &px->slots[idx];
    sp_link_t *l = s->lc->link;
    apr_size_t left = h->length - ss->tx_sub;

    if (h->length == 0) {
        sp_link_queue(l, SP_FT_DATA, h->flags, s->id, NULL, 0);
        return FWD_DONE;
    }
    while (left > 0) {
        int64_t n = (int64_t)left;
        int last;
        if (sp_link_pending(l) >= px->o.high_water) {
            block_stream(s);
            return FWD_BLOCKED;
        }
        if (n > (int64_t)l->peer_set.max_frame) {
            n = l->peer_set.max_frame;
        }
        if (n > s->send_credit) {
            n = s->send_credit;
        }
        if (n > l->send_credit) {
            n = l->send_credit;
        }
        if (n <= 0) {
            /* Out of the stream's own credit, it waits for its WINDOW
             * (on_window pumps it) and stays off the link's blocked list:
             * there it would end resume_blocked's walk and keep the
             * streams behind it waiting although they have credit. */
            if (s->send_credit > 0) {
                block_stream(s);  /* the link's credit: resume_blocked */
            }
            return FWD_BLOCKED;
        }
        last = (apr_size_t)n == left;
        if (ss->refs == 0 || ss->ref_link == l) {
            /* Written from the tx space itself: no copy. */
            uint64_t end = last ? ss->tx_pos + SP_FRAME_HDR_LEN + h->length
                                : 0;
            if (sp_link_queue_ref(l, SP_FT_DATA, last ? h->flags : 0, s->id,
                                  p + ss->tx_sub, (apr_size_t)n, (int)idx,
                                  end) == 1 && ss->refs++ == 0) {
                ss->ref_link = l;
                ss->ref_tail = ss->tx_pos;  /* all before it is done */
            }
        }
        else {
            sp_link_queue(l, SP_FT_DATA, last ? h->flags : 0, s->id,
                          p + ss->tx_sub, (apr_size_t)n);
        }
        s->send_credit -= n;
        l->send_credit -= n;
        ss->tx_sub += (apr_size_t)n;
        left -= (apr_size_t)n;
    }
    return FWD_DONE;
}

static int forward_frame(sp_proxy_t *px, unsigned idx, const sp_frame_hdr_t *h,
                         const unsigned char *p)
{
    slot_st_t *ss = &px->slots[idx];
    sp_stream_t *s = ss->stream;
    sp_link_t *l;
    int parked;

    if (!tx_gen_alive(px, idx, h->stream)) {
        return FWD_DONE;  /* a dead request's frame */
    }
    if (px->o.role == SP_ROLE_CLIENT && h->type == SP_FT_HEADERS
        && (!s || s->gen != h->stream)) {
        if (s) {  /* the owner moved on without telling us */
            stream_reset(px, s, SP_RST_CANCEL, 1, 0);
        }
        s = open_client_stream(px, idx, h->stream, &parked);
        if (parked) {
            return FWD_BLOCKED;
        }
    }
    if (!s || s->gen != h->stream || s->local_end) {
        return FWD_DONE;  /* stale frame of an abandoned generation */
    }
    l = s->lc->link;
    switch (h->type) {
    case SP_FT_HEADERS:
        if (s->head_sent) {
            return FWD_DONE;
        }
        if (h->length > l->peer_set.max_frame) {
            plog(px, 4, "SP0101", 0, "slot %u: head of %u bytes is larger "
                 "than %s accepts (%u)", idx, h->length, link_name(px, l),
                 l->peer_set.max_frame);
            stream_reset(px, s, SP_RST_TOOLARGE, 0, 1);
            return FWD_DONE;
        }
        /* Before it can go out: a proxy taking over after us must know. */
        STORE(&sp_table_slot(px->t, idx)->fwd_gen, h->stream);
        sp_link_queue(l, SP_FT_HEADERS, h->flags & SP_FF_END_STREAM, s->id,
                      p, h->length);
        s->head_sent = 1;
        ss->replays = 0;
        if (px->o.role == SP_ROLE_CLIENT && (h->flags & SP_FF_END_STREAM)
            && (s->replay = malloc(h->length ? h->length : 1)) != NULL) {
            memcpy(s->replay, p, h->length);
            s->replay_len = h->length;
        }
        break;
    case SP_FT_DATA:
        if (!s->head_sent) {
            return FWD_DONE;
        }
        if (!s->send_closed && forward_data(px, idx, s, h, p) == FWD_BLOCKED) {
            return FWD_BLOCKED;
        }
        break;
    default:
        return FWD_DONE;  /* owners send only HEADERS and DATA */
    }
    if (h->flags & SP_FF_END_STREAM) {
        local_end(px, s);
    }
    return FWD_DONE;
}

/* Forwards the tx frames slot idx published, as far as credit allows,
 * and gives their bytes back to the owner. */
static void pump_tx(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    const unsigned char *base = sp_slot_tx(px->t, idx);
    apr_size_t size = px->t->sh->space_size;
    uint64_t head = LOAD(&sh->tx_head), start = ss->tx_pos;
    int blocked = 0;

    if (ss->pumping) {
        return;
    }
    ss->pumping = 1;
    for (;;) {
        sp_frame_hdr_t h;
        const unsigned char *p;
        int r = sp_space_next(base, size, &ss->tx_pos, head, &h, &p);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            plog(px, 3, "SP0103", 0, "slot %u (pid %d): corrupt tx space "
                 "at position %" APR_UINT64_T_FMT " (published up to %"
                 APR_UINT64_T_FMT "): frames dropped", idx,
                 (int)sh->owner_pid, ss->tx_pos, head);
            if (ss->stream) {
                stream_reset(px, ss->stream, SP_RST_PROTOCOL, 1, 1);
            }
            ss->tx_pos = head;
            ss->tx_sub = 0;
            break;
        }
        if (forward_frame(px, idx, &h, p) == FWD_BLOCKED) {
            blocked = 1;
            break;
        }
        ss->tx_pos += SP_FRAME_HDR_LEN + h.length;
        ss->tx_sub = 0;
    }
    ss->pumping = 0;
    if (ss->tx_pos != start) {
        tx_consumed(px, idx);
    }
    if (blocked) {
        return;
    }
    if (ss->dead_pending) {
        slot_dead(px, idx);  /* the dead worker's last frames are out */
        return;
    }
    if (px->o.role == SP_ROLE_SERVER && ss->attach_pending && !ss->stream) {
        worker_ready(px, idx);
    }
}

static void resume_blocked(sp_proxy_t *px, link_ctx_t *lc)
{
    while (lc->blocked && sp_link_pending(lc->link) < px->o.high_water) {
        sp_stream_t *s = lc->blocked;
        unblock_stream(s);
        if (s->slot >= 0) {
            pump_tx(px, (unsigned)s->slot);
        }
        if (s == lc->blocked) {
            break;  /* blocked again: no progress possible now */
        }
    }
}

/* --- slot events --------------------------------------------------------- */

static void slot_dead(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);

    if (tx_pending(px, idx) && ss->stream && !ss->dead_pending) {
        /* Its last frames are still its reply (a worker retiring after
         * MaxRequestsPerWorker has written all of it): forward it first,
         * then handle the death (pump_tx comes back here). */
        ss->dead_pending = 1;
        ss->dead_since = apr_time_now();
        return;
    }
    ss->dead_pending = 0;
    if (ss->stream) {
        plog(px, 3, "SP0104", 0, "slot %u: worker pid %d died serving "
             "stream %u of %s", idx, (int)sh->owner_pid, ss->stream->id,
             link_name(px, ss->stream->lc->link));
        stream_reset(px, ss->stream, SP_RST_WORKER, 1, 0);
    }
    idle_remove(px, idx);
    ss->attach_pending = 0;
    /* The owner is gone: its spaces are emptied for the next one. */
    tx_refs_detach(px, idx);
    sp_slot_empty(px->t, idx);
    ss->tx_pos = LOAD(&sh->tx_tail);
    ss->tx_sub = 0;
    /* Tells the supervisor the slot is clean for a new worker. */
    __atomic_store_n(&sh->owner_pid, 0, __ATOMIC_RELEASE);
}

static void slot_abort(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    uint32_t code = __atomic_load_n(&sh->owner_abort, __ATOMIC_ACQUIRE);

    if (code > SP_RST_MAX_) {
        code = SP_RST_INTERNAL;
    }
    if (ss->stream) {
        plog(px, code == SP_RST_NO_ERROR ? 7 : 6, "SP0105", 0,
             "slot %u (pid %d) abandoned stream %u: %s", idx,
             (int)sh->owner_pid, ss->stream->id, sp_reset_name(code));
        stream_reset(px, ss->stream, code, 1, 0);
    }
    unpark(px, idx);
    pump_tx(px, idx);  /* drops its frames (and goes on with a next
                        * request's, if the owner started one) */
}

static void slot_attach(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    pid_t pid = __atomic_load_n(&sh->owner_pid, __ATOMIC_ACQUIRE);

    /* No liveness check: a worker posts ATTACH itself, and its death
     * comes as SP_EV_DEAD (handled before ATTACH when both are pending). */
    if (px->o.role != SP_ROLE_SERVER || pid <= 0) {
        return;
    }
    if (ss->stream && tx_pending(px, idx)) {
        ss->attach_pending = 1;  /* its last frames are still going out */
        return;
    }
    if (ss->stream) {
        stream_reset(px, ss->stream, SP_RST_WORKER, 1, 0);
    }
    if (px->draining) {
        return;
    }
    worker_ready(px, idx);
}

static void handle_slot(sp_proxy_t *px, unsigned idx, uint32_t ev)
{
    slot_st_t *ss = &px->slots[idx];

    if (px->o.role == SP_ROLE_SERVER && (ev & (SP_EV_TX | SP_EV_RXFREE))) {
        ss->progress = apr_time_now();  /* for the hung-worker check */
    }

    /* An abort concerns the generation the proxy knows, so it comes before
     * frames that may start the owner's next one.  A dead worker's last
     * frames are still its reply: forwarded before its death is handled. */
    if (ev & SP_EV_ABORT) {
        slot_abort(px, idx);
    }
    if (ev & SP_EV_TX) {
        pump_tx(px, idx);
    }
    if (ev & SP_EV_RXFREE) {
        if (ss->stream) {
            deliver(px, ss->stream);
        }
    }
    if (ev & SP_EV_DEAD) {
        slot_dead(px, idx);
    }
    if (ev & SP_EV_ATTACH) {
        slot_attach(px, idx);
    }
}

static void process_ready(sp_proxy_t *px)
{
    unsigned idx;
    uint32_t ev;

    while (sp_table_next_ready(px->t, &idx, &ev) == APR_SUCCESS) {
        if (ev) {
            handle_slot(px, idx, ev);
        }
    }
}

/* Server: does the worker of slot idx owe us progress?  Not while we hold
 * its output (the client reads slowly) nor while it waits for body bytes
 * that have not come (the client writes slowly). */
static int worker_owes_progress(sp_proxy_t *px, unsigned idx)
{
    slot_st_t *ss = &px->slots[idx];
    sp_stream_t *s = ss->stream;

    if (!s || tx_pending(px, idx)) {
        return 0;
    }
    return rx_unread(px, idx)
           || (s->remote_end && s->pend_off == s->pend_len);
}

static void check_hung_worker(sp_proxy_t *px, unsigned idx, apr_time_t now)
{
    slot_st_t *ss = &px->slots[idx];
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    pid_t pid = __atomic_load_n(&sh->owner_pid, __ATOMIC_ACQUIRE);

    if (!px->o.worker_timeout || !worker_owes_progress(px, idx)
        || now - ss->progress < px->o.worker_timeout) {
        return;
    }
    plog(px, 3, "SP0118", 0, "slot %u: worker pid %d made no progress for "
         "%ld s on stream %u of %s: stream reset (TIMEOUT), worker killed",
         idx, (int)pid, (long)apr_time_sec(now - ss->progress),
         ss->stream->id, link_name(px, ss->stream->lc->link));
    stream_reset(px, ss->stream, SP_RST_TIMEOUT, 1, 1);
    if (pid > 0) {
        kill(pid, SIGKILL);
    }
}

/* Once a second: events whose ring entry was lost, (client side) slots
 * whose owner died without a word, (server side) hung workers. */
static void sweep(sp_proxy_t *px)
{
    unsigned i, n = px->t->sh->nslots;
    apr_time_t now = apr_time_now();

    for (i = 0; i < n; i++) {
        sp_slot_sh_t *sh = sp_table_slot(px->t, i);
        uint32_t ev = __atomic_load_n(&sh->events, __ATOMIC_ACQUIRE);
        if (ev) {
            handle_slot(px, i, __atomic_exchange_n(&sh->events, 0,
                                                   __ATOMIC_ACQ_REL));
        }
        if (px->o.role == SP_ROLE_SERVER) {
            slot_st_t *ss = &px->slots[i];
            check_hung_worker(px, i, now);
            if (ss->dead_pending && px->o.worker_timeout
                && now - ss->dead_since > px->o.worker_timeout) {
                slot_dead(px, i);  /* its client reads no more: give up */
            }
        }
        if (px->o.role == SP_ROLE_CLIENT && sp_slot_owner_dead(px->t, i)) {
            slot_st_t *ss = &px->slots[i];
            plog(px, 4, "SP0106", 0, "slot %u: owner pid %d died mid-request;"
                 " slot reclaimed", i, (int)sh->owner_pid);
            if (ss->stream) {
                stream_reset(px, ss->stream, SP_RST_CANCEL, 1, 0);
            }
            unpark(px, i);
            tx_refs_detach(px, i);
            sp_slot_reclaim(px->t, i);  /* empties both spaces */
            ss->tx_pos = LOAD(&sh->tx_tail);
            ss->tx_sub = 0;
        }
    }
}

/* Did the previous proxy never take this slot's request?  True when the
 * first live frame it left in the tx space is the HEADERS of the owner's
 * current generation and it never began to send that head on (fwd_gen):
 * nothing of the request can have gone out, so the new proxy may send
 * it.  Also true when the owner has claimed the slot but not yet written
 * its head (no live frame, its generation never sent on): a thread of a
 * new Apache child may claim a slot of a new table before the proxy child
 * made for that table has run at all.  Its owner queues the slot once it
 * writes the head. */
static int untouched_request(sp_proxy_t *px, unsigned idx)
{
    sp_slot_sh_t *sh = sp_table_slot(px->t, idx);
    uint64_t pos = px->slots[idx].tx_pos, head = LOAD(&sh->tx_head);

    for (;;) {
        sp_frame_hdr_t h;
        const unsigned char *p;
        int r = sp_space_next(sp_slot_tx(px->t, idx), px->t->sh->space_size,
                              &pos, head, &h, &p);
        if (r < 0) {
            return 0;  /* corrupt: abandon it */
        }
        if (r == 0) {
            uint32_t gen = LOAD(&sh->generation);
            return tx_gen_alive(px, idx, gen) && gen != LOAD(&sh->fwd_gen);
        }
        if (tx_gen_alive(px, idx, h.stream)) {
            return h.type == SP_FT_HEADERS
                   && h.stream != LOAD(&sh->fwd_gen);
        }
        pos += SP_FRAME_HDR_LEN + h.length;
    }
}

void sp_proxy_takeover(sp_proxy_t *px)
{
    sp_table_sh_t *th = px->t->sh;
    unsigned i, kept = 0, lost = 0;

    /* A predecessor may have left the ready ring with a cell that a dead
     * producer claimed and never filled: start it afresh.  The first proxy
     * of a table must not: owners may be pushing to it this very moment
     * (the slots below are looked at one by one either way). */
    if (__atomic_add_fetch(&th->proxy_epoch, 1, __ATOMIC_ACQ_REL) > 1) {
        sp_ring_init(px->t->ring, th->nslots);
    }
    th->proxy_pid = (int32_t)getpid();
    for (i = 0; i < th->nslots; i++) {
        sp_slot_sh_t *sh = sp_table_slot(px->t, i);
        __atomic_store_n(&sh->events, 0, __ATOMIC_RELEASE);
        if (LOAD(&sh->claim) && untouched_request(px, i)) {
            kept++;
            pump_tx(px, i);  /* waits for a link, if need be */
            continue;
        }
        tx_drop(px, i);
        if (LOAD(&sh->claim)) {
            lost++;
            abort_owner(px, i, sh->generation, SP_RST_INTERNAL);
        }
    }
    if (kept || lost) {
        plog(px, 6, "SP0120", 0, "took over from the previous proxy: %u "
             "request(s) it never began are sent now, %u in flight are "
             "abandoned", kept, lost);
    }
}

/* --- link -> slot -------------------------------------------------------- */

static apr_status_t new_server_stream(sp_proxy_t *px, link_ctx_t *lc,
                                      const sp_frame_hdr_t *h,
                                      const unsigned char *p)
{
    sp_link_t *l = lc->link;
    sp_stream_t *s;

    if (h->stream % 2 == 0 || h->stream <= l->last_stream) {
        l->close_why = apr_psprintf(l->pool, "stream id %u does not increase "
                                    "(last %u) or is even", h->stream,
                                    l->last_stream);
        return SP_EPROTO;
    }
    l->last_stream = h->stream;
    if (px->draining && (!l->drain_sent || l->drain_acked)) {
        /* Sent after the client knew we drain: it may go elsewhere. */
        return sp_link_queue_u32(l, SP_FT_RESET, h->stream, SP_RST_REFUSED);
    }
    if (l->nstreams >= l->mine.max_streams) {
        return sp_link_queue_u32(l, SP_FT_RESET, h->stream, SP_RST_REFUSED);
    }
    if (px->idle_head < 0 && px->q_len >= px->o.queue_max) {
        plog(px, 4, "SP0107", 0, "all workers busy and %u requests queued: "
             "stream %u of %s refused as overloaded", px->q_len, h->stream,
             link_name(px, l));
        return sp_link_queue_u32(l, SP_FT_RESET, h->stream,
                                 SP_RST_OVERLOADED);
    }
    s = stream_new(px, lc, h->stream);
    if (!s || pend_append(s, SP_FT_HEADERS, h->flags, p, h->length)) {
        return APR_ENOMEM;
    }
    s->head_seen = 1;
    if (h->flags & SP_FF_END_STREAM) {
        s->remote_end = 1;
    }
    if (px->idle_head >= 0) {
        attach_server(px, s, (unsigned)px->idle_head);
    }
    else {
        s->queued = 1;
        s->qprev = px->q_tail;
        if (px->q_tail) {
            px->q_tail->qnext = s;
        }
        else {
            px->q_head = s;
        }
        px->q_tail = s;
        px->q_len++;
    }
    return APR_SUCCESS;
}

static apr_status_t on_data(sp_proxy_t *px, link_ctx_t *lc, sp_stream_t *s,
                            const sp_frame_hdr_t *h, const unsigned char *p)
{
    sp_link_t *l = lc->link;

    if (!s) {
        /* Ids above any opened one name no stream at all: a broken peer.
         * Below, it is late data of a stream we reset. */
        if (px->o.role == SP_ROLE_SERVER ? h->stream > l->last_stream
                                         : h->stream >= l->next_stream) {
            l->close_why = apr_psprintf(l->pool, "DATA on stream %u, which "
                                        "was never opened", h->stream);
            return SP_EPROTO;
        }
        sp_link_consumed(l, h->length);
        return APR_SUCCESS;
    }
    if (s->remote_end || !s->head_seen) {
        l->close_why = apr_psprintf(l->pool, "DATA on stream %u before its "
                                    "head or after its end", s->id);
        return SP_EPROTO;
    }
    s->recv_left -= h->length;
    if (s->recv_left < 0) {
        l->close_why = apr_psprintf(l->pool, "peer sent past the credit of "
                                    "stream %u", s->id);
        return SP_EPROTO;
    }
    if (h->flags & SP_FF_END_STREAM) {
        s->remote_end = 1;
    }
    if (deliver_direct(px, s, SP_FT_DATA, h->flags, p, h->length)) {
        return APR_SUCCESS;
    }
    if (pend_append(s, SP_FT_DATA, h->flags, p, h->length) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    deliver(px, s);
    return APR_SUCCESS;
}

static apr_status_t on_reset(sp_proxy_t *px, sp_stream_t *s, uint32_t code)
{
    if (!s) {
        return APR_SUCCESS;
    }
    if (code > SP_RST_MAX_) {
        code = SP_RST_PROTOCOL;
    }
    if (code == SP_RST_NO_ERROR && px->o.role == SP_ROLE_CLIENT) {
        /* The backend answered and wants no more of the body. */
        s->send_closed = 1;
        unblock_stream(s);
        if (s->slot >= 0) {
            pump_tx(px, (unsigned)s->slot);
        }
        return APR_SUCCESS;
    }
    if (px->o.role == SP_ROLE_CLIENT && s->delivered_end) {
        stream_free(px, s);
        return APR_SUCCESS;
    }
    if (px->o.role == SP_ROLE_CLIENT && code == SP_RST_REFUSED && s->replay
        && !s->head_seen && s->slot >= 0 && px->slots[s->slot].replays < 3) {
        unsigned idx = (unsigned)s->slot;
        slot_st_t *ss = &px->slots[idx];
        ss->replays++;
        ss->replay = s->replay;
        ss->replay_len = s->replay_len;
        ss->replay_gen = s->gen;
        s->replay = NULL;
        stream_free(px, s);
        try_replay(px, idx);
        return APR_SUCCESS;
    }
    plog(px, code == SP_RST_CANCEL || code == SP_RST_NO_ERROR ? 7 : 6,
         "SP0108", 0, "stream %u reset by %s: %s", s->id,
         link_name(px, s->lc->link), sp_reset_name(code));
    if (px->o.role == SP_ROLE_CLIENT && s->slot >= 0
        && (s->pend_off < s->pend_len || rx_unread(px, (unsigned)s->slot))) {
        /* Reply bytes that came before the reset go to the browser first:
         * the reset follows them in-band, so the cut shows after them. */
        unsigned char p[4];
        sp_put_u32(p, code);
        s->remote_end = 1;
        s->send_closed = 1;
        if (pend_append(s, SP_FT_RESET, 0, p, 4) == APR_SUCCESS) {
            deliver(px, s);
            return APR_SUCCESS;
        }
    }
    s->remote_end = 1;
    s->local_end = 1;  /* nothing more goes out either */
    stream_reset(px, s, code, 0, 1);
    return APR_SUCCESS;
}

static apr_status_t on_window(sp_proxy_t *px, link_ctx_t *lc, sp_stream_t *s,
                              const sp_frame_hdr_t *h, uint32_t inc)
{
    if (h->stream == 0) {  /* link credit: the link has counted it */
        resume_blocked(px, lc);
        return APR_SUCCESS;
    }
    if (!s) {
        return APR_SUCCESS;
    }
    if (inc == 0 || s->send_credit + inc > 0x7fffffff) {
        lc->link->close_why = apr_psprintf(lc->link->pool, "WINDOW increment "
                                           "%u out of range on stream %u",
                                           inc, s->id);
        return SP_EPROTO;
    }
    s->send_credit += inc;
    /* A stream on the blocked list waits for the link (resume_blocked). */
    if (!s->blocked && s->slot >= 0) {
        pump_tx(px, (unsigned)s->slot);
    }
    return APR_SUCCESS;
}

static apr_status_t on_frame(sp_link_t *l, const sp_frame_hdr_t *h,
                             const unsigned char *p, void *baton)
{
    link_ctx_t *lc = baton;
    sp_proxy_t *px = lc->px;
    sp_stream_t *s = h->stream ? stream_get(lc, h->stream) : NULL;

    switch (h->type) {
    case SP_FT_HEADERS:
        if (px->o.role == SP_ROLE_SERVER) {
            if (s) {
                l->close_why = apr_psprintf(l->pool, "second HEADERS on "
                                            "stream %u", h->stream);
                return SP_EPROTO;
            }
            return new_server_stream(px, lc, h, p);
        }
        if (!s) {
            return APR_SUCCESS;  /* reply to a stream we abandoned */
        }
        if (s->head_seen) {
            l->close_why = apr_psprintf(l->pool, "second HEADERS on stream "
                                        "%u", h->stream);
            return SP_EPROTO;
        }
        s->head_seen = 1;
        if (h->flags & SP_FF_END_STREAM) {
            s->remote_end = 1;
        }
        if (deliver_direct(px, s, SP_FT_HEADERS, h->flags, p, h->length)) {
            return APR_SUCCESS;
        }
        if (pend_append(s, SP_FT_HEADERS, h->flags, p, h->length)) {
            return APR_ENOMEM;
        }
        deliver(px, s);
        return APR_SUCCESS;
    case SP_FT_DATA:
        return on_data(px, lc, s, h, p);
    case SP_FT_RESET:
        return on_reset(px, s, sp_get_u32(p));
    case SP_FT_WINDOW:
        return on_window(px, lc, s, h, sp_get_u32(p));
    case SP_FT_DRAIN:
        plog(px, 6, "SP0109", 0, "%s is draining: no new requests on this "
             "link (%u streams finish on it)", link_name(px, l), l->nstreams);
        if (px->o.role == SP_ROLE_CLIENT) {
            /* Answer: no stream after the last one we opened.  The server
             * serves the ones that crossed its DRAIN on the wire. */
            sp_link_queue_u32(l, SP_FT_DRAIN, 0, l->next_stream - 2);
            if (px->h.link_draining) {
                px->h.link_draining(px, l, px->h.baton);
            }
        }
        return APR_SUCCESS;
    default:
        return APR_SUCCESS;
    }
}

/* --- links --------------------------------------------------------------- */

static link_ctx_t *link_ctx_new(sp_proxy_t *px, apr_pool_t *lp)
{
    link_ctx_t *lc = apr_pcalloc(lp, sizeof(*lc));

    lc->px = px;
    lc->pool = lp;
    lc->streams = apr_hash_make(lp);
    lc->next = px->links;
    if (px->links) {
        px->links->prev = lc;
    }
    px->links = lc;
    return lc;
}

static void link_ctx_unlink(sp_proxy_t *px, link_ctx_t *lc)
{
    if (lc->prev) {
        lc->prev->next = lc->next;
    }
    else {
        px->links = lc->next;
    }
    if (lc->next) {
        lc->next->prev = lc->prev;
    }
}

static void set_nodelay(apr_socket_t *s)
{
    apr_socket_opt_set(s, APR_TCP_NODELAY, 1);
}

static const char *addr_text(apr_socket_t *s, apr_pool_t *p)
{
    apr_sockaddr_t *sa = NULL;
    char *ip = NULL;

    if (apr_socket_addr_get(&sa, APR_REMOTE, s) != APR_SUCCESS || !sa) {
        return "unknown";
    }
#if APR_HAVE_SOCKADDR_UN
    if (sa->family == APR_UNIX) {
        return "unix";
    }
#endif
    if (apr_sockaddr_ip_get(&ip, sa) != APR_SUCCESS) {
        return "unknown";
    }
    return apr_psprintf(p, "%s:%u", ip, (unsigned)sa->port);
}

static void accept_links(sp_proxy_t *px, link_ctx_t *lst)
{
    for (;;) {
        apr_pool_t *lp;
        apr_socket_t *cs;
        link_ctx_t *lc;
        sp_link_t *l;
        apr_sockaddr_t *sa = NULL;
        apr_status_t rv;

        apr_pool_create(&lp, px->pool);
        apr_pool_tag(lp, "sp_link");
        rv = apr_socket_accept(&cs, lst->pfd.desc.s, lp);
        if (rv != APR_SUCCESS) {
            apr_pool_destroy(lp);
            if (!APR_STATUS_IS_EAGAIN(rv) && !APR_STATUS_IS_EINTR(rv)) {
                plog(px, 3, "SP0110", rv, "accept() on a listener failed");
            }
            return;
        }
        apr_socket_addr_get(&sa, APR_REMOTE, cs);
        if (px->h.accept_ok && sa && !px->h.accept_ok(px, sa, px->h.baton)) {
            plog(px, 4, "SP0111", 0, "connection from %s refused: address "
                 "not allowed", addr_text(cs, lp));
            apr_socket_close(cs);
            apr_pool_destroy(lp);
            continue;
        }
        set_nodelay(cs);
        lc = link_ctx_new(px, lp);
        rv = sp_link_create(&l, cs, SP_ROLE_SERVER, px->secret,
                            &px->o.settings, addr_text(cs, lp), on_frame, lc,
                            lp);
        if (rv != APR_SUCCESS) {
            link_ctx_unlink(px, lc);
            apr_socket_close(cs);
            apr_pool_destroy(lp);
            continue;
        }
        l->owner_data = lc;
        l->ref_done = tx_ref_done;
        lc->link = l;
        if (lst->tls && sp_link_start_tls(l, lst->tls) != APR_SUCCESS) {
            link_lost(px, lc);
            continue;
        }
        plog(px, 7, "SP0112", 0, "link from %s accepted%s", l->peer,
             lst->tls ? " (TLS)" : "");
        link_register(px, lc);
    }
}

apr_status_t sp_proxy_add_listener(sp_proxy_t *px, apr_socket_t *s,
                                   sp_tls_t *tls)
{
    link_ctx_t *lc = apr_pcalloc(px->pool, sizeof(*lc));

    apr_socket_opt_set(s, APR_SO_NONBLOCK, 1);
    apr_socket_timeout_set(s, 0);
    lc->px = px;
    lc->listener = 1;
    lc->pool = px->pool;
    lc->pfd.desc_type = APR_POLL_SOCKET;
    lc->pfd.desc.s = s;
    lc->pfd.reqevents = APR_POLLIN;
    lc->pfd.client_data = lc;
    lc->tls = tls;
    APR_ARRAY_PUSH(px->listeners, link_ctx_t *) = lc;
    return apr_pollset_add(px->ps, &lc->pfd);
}

apr_status_t sp_proxy_connect(sp_proxy_t *px, apr_sockaddr_t *sa,
                              unsigned backend, const char *name,
                              sp_tls_t *tls, sp_link_t **lp_out)
{
    apr_pool_t *lp;
    apr_socket_t *s;
    link_ctx_t *lc;
    sp_link_t *l;
    apr_status_t rv;

    apr_pool_create(&lp, px->pool);
    apr_pool_tag(lp, "sp_link");
    rv = apr_socket_create(&s, sa->family, SOCK_STREAM, 0, lp);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(lp);
        return rv;
    }
    apr_socket_opt_set(s, APR_SO_NONBLOCK, 1);
    apr_socket_timeout_set(s, 0);
#if APR_HAVE_SOCKADDR_UN
    if (sa->family != APR_UNIX)
#endif
        set_nodelay(s);
    rv = apr_socket_connect(s, sa);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EINPROGRESS(rv)) {
        apr_socket_close(s);
        apr_pool_destroy(lp);
        return rv;
    }
    lc = link_ctx_new(px, lp);
    rv = sp_link_create(&l, s, SP_ROLE_CLIENT, px->secret, &px->o.settings,
                        apr_pstrdup(lp, name), on_frame, lc, lp);
    if (rv != APR_SUCCESS) {
        link_ctx_unlink(px, lc);
        apr_socket_close(s);
        apr_pool_destroy(lp);
        return rv;
    }
    l->owner_data = lc;
    l->ref_done = tx_ref_done;
    l->backend = backend;
    lc->link = l;
    lc->connecting = 1;
    if (tls && (rv = sp_link_start_tls(l, tls)) != APR_SUCCESS) {
        link_ctx_unlink(px, lc);
        apr_socket_close(s);
        apr_pool_destroy(lp);
        return rv;
    }
    link_register(px, lc);
    *lp_out = l;
    return APR_SUCCESS;
}

/* The link is gone: every stream on it fails and its owner learns why,
 * except (client side) a stream whose whole reply has come: it is still
 * delivered, and the link's memory is kept until the last such is done. */
static void link_lost(sp_proxy_t *px, link_ctx_t *lc)
{
    sp_link_t *l = lc->link;
    apr_hash_index_t *hi;
    apr_array_header_t *doomed;
    int i, kept = 0;

    if (lc->registered) {
        apr_pollset_remove(px->ps, &lc->pfd);
        lc->registered = 0;
    }
    if (l->state != SP_LINK_CLOSED) {
        sp_link_close(l, NULL);
    }
    doomed = apr_array_make(lc->pool, 16, sizeof(sp_stream_t *));
    for (hi = apr_hash_first(lc->pool, lc->streams); hi;
         hi = apr_hash_next(hi)) {
        sp_stream_t *s = apr_hash_this_val(hi);
        if (px->o.role == SP_ROLE_CLIENT && s->remote_end && s->slot >= 0) {
            s->send_closed = 1;  /* the rest of its body has nowhere to go */
            unblock_stream(s);
            kept++;
            continue;
        }
        APR_ARRAY_PUSH(doomed, sp_stream_t *) = s;
    }
    if (kept) {
        lc->zombie = 1;
    }
    for (i = 0; i < doomed->nelts; i++) {
        stream_reset(px, APR_ARRAY_IDX(doomed, i, sp_stream_t *),
                     px->o.role == SP_ROLE_CLIENT ? SP_RST_INTERNAL
                                                  : SP_RST_CANCEL, 0, 1);
    }
    if (px->h.link_closed) {
        px->h.link_closed(px, l, px->h.baton);
    }
    if (!kept) {
        link_ctx_unlink(px, lc);
        apr_pool_destroy(lc->pool);
    }
}

static void link_failed(sp_proxy_t *px, link_ctx_t *lc, apr_status_t rv)
{
    sp_link_t *l = lc->link;
    int level = rv == SP_ECLOSED ? 6 : 3;

    if (rv == SP_EAUTH || rv == SP_EPROTO || rv == SP_ETOOLONG
        || rv == SP_EVERSION) {
        level = 3;
    }
    if (!lc->was_open && rv == SP_ECLOSED && !lc->connecting) {
        level = 3;
        l->close_why = "the peer closed the connection during the handshake "
                       "(a different shared secret, settings it refuses, or "
                       "not execd: its log says which)";
    }
    plog(px, level, "SP0113", rv == SP_ECLOSED ? 0 : rv,
         "link %s %s closed: %s", lc->was_open ? "with" : "to/from",
         link_name(px, l), l->close_why ? l->close_why : "no reason given");
    link_lost(px, lc);
    retry_parked(px, apr_time_now());
}

static void finish_connect(sp_proxy_t *px, link_ctx_t *lc)
{
    apr_os_sock_t fd;
    int err = 0;
    socklen_t len = sizeof(err);

    apr_os_sock_get(&fd, lc->link->sock);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        lc->link->close_why = apr_psprintf(lc->link->pool, "connect failed: "
                                           "%s", strerror(err));
        link_failed(px, lc, APR_FROM_OS_ERROR(err));
        return;
    }
    lc->connecting = 0;
}

static void link_io(sp_proxy_t *px, link_ctx_t *lc, apr_int16_t rev)
{
    sp_link_t *l = lc->link;
    apr_status_t rv = APR_SUCCESS;

    if (lc->connecting) {
        if (!(rev & (APR_POLLOUT | APR_POLLERR | APR_POLLHUP))) {
            return;
        }
        finish_connect(px, lc);
        return;  /* link_failed freed lc, or the flush below happens later */
    }
    if (rev & (APR_POLLIN | APR_POLLHUP | APR_POLLERR)) {
        rv = sp_link_on_readable(l);
    }
    if (rv == APR_SUCCESS && (rev & APR_POLLOUT)) {
        rv = sp_link_flush(l);
    }
    if (rv != APR_SUCCESS) {
        link_failed(px, lc, rv);
        return;
    }
    if (!lc->was_open && l->state >= SP_LINK_OPEN) {
        lc->was_open = 1;
        plog(px, 6, "SP0114", 0, "link %s authenticated",
             link_name(px, l));
        if (px->h.link_open) {
            px->h.link_open(px, l, px->h.baton);
        }
        retry_parked(px, apr_time_now());
    }
}

/* Writes what lc has queued, unless it waits for POLLOUT (then the write
 * happens when that comes: trying before would only fail once per round). */
static apr_status_t flush_now(link_ctx_t *lc)
{
    if (sp_link_pending(lc->link) > 0 && !lc->link->want_write) {
        return sp_link_flush(lc->link);
    }
    return APR_SUCCESS;
}

/* Writes what every link has queued; resumes slots that waited for room. */
static void flush_links(sp_proxy_t *px)
{
    link_ctx_t *lc = px->links, *next;
    apr_status_t rv;

    for (; lc; lc = next) {
        next = lc->next;
        if (lc->connecting || lc->link->state == SP_LINK_CLOSED) {
            continue;
        }
        if (lc->link->state == SP_LINK_DRAINING && lc->link->nstreams == 0
            && sp_link_pending(lc->link) == 0) {
            lc->link->close_why = "drained";
            plog(px, 6, "SP0117", 0, "%s: drained link closed",
                 link_name(px, lc->link));
            link_lost(px, lc);
            continue;
        }
        if ((rv = flush_now(lc)) != APR_SUCCESS) {
            link_failed(px, lc, rv);
            continue;
        }
        if (lc->blocked && sp_link_pending(lc->link) < px->o.high_water) {
            resume_blocked(px, lc);
            if ((rv = flush_now(lc)) != APR_SUCCESS) {
                link_failed(px, lc, rv);
                continue;
            }
        }
        link_register(px, lc);
    }
}

static void check_handshakes(sp_proxy_t *px, apr_time_t now)
{
    link_ctx_t *lc = px->links, *next;

    for (; lc; lc = next) {
        next = lc->next;
        if (lc->link->state < SP_LINK_OPEN
            && now - lc->link->opened > px->o.handshake_timeout) {
            lc->link->close_why = "handshake not finished in time";
            link_failed(px, lc, SP_EPROTO);
        }
    }
}

/* --- drain and the loop -------------------------------------------------- */

static void start_drain(sp_proxy_t *px)
{
    link_ctx_t *lc;

    px->draining = 1;
    {   /* stop accepting: a newer proxy (reload) or nobody takes them */
        int i;
        for (i = 0; i < px->listeners->nelts; i++) {
            link_ctx_t *lst = APR_ARRAY_IDX(px->listeners, i, link_ctx_t *);
            apr_pollset_remove(px->ps, &lst->pfd);
            /* Our copy only: on a reload the new generation keeps it. */
            apr_socket_close(lst->pfd.desc.s);
        }
    }
    px->drain_deadline = apr_time_now() + (px->drain_timeout > 0
                                           ? px->drain_timeout
                                           : apr_time_from_sec(30));
    for (lc = px->links; lc; lc = lc->next) {
        if (px->o.role == SP_ROLE_SERVER && lc->link->state >= SP_LINK_OPEN
            && lc->link->state != SP_LINK_CLOSED) {
            sp_link_queue_u32(lc->link, SP_FT_DRAIN, 0, lc->link->last_stream);
            lc->link->drain_sent = 1;
        }
    }
    plog(px, 5, "SP0115", 0, "draining: %u streams in flight", px->active);
}

static int clients_left(sp_proxy_t *px)
{
    unsigned i;

    for (i = 0; i < px->t->sh->nslots; i++) {
        sp_slot_sh_t *sh = sp_table_slot(px->t, i);
        if (__atomic_load_n(&sh->claim, __ATOMIC_ACQUIRE)
            && sp_pid_alive(sh->owner_pid)) {
            return 1;
        }
    }
    return 0;
}

static int output_left(sp_proxy_t *px)
{
    link_ctx_t *lc;

    for (lc = px->links; lc; lc = lc->next) {
        if (!lc->connecting && lc->link->state != SP_LINK_CLOSED
            && sp_link_pending(lc->link) > 0) {
            return 1;
        }
    }
    return 0;
}

/* Server: has every open link answered our DRAIN?  Until then a stream
 * may still be on its way. */
static int drain_unanswered(sp_proxy_t *px)
{
    link_ctx_t *lc;

    if (px->o.role != SP_ROLE_SERVER) {
        return 0;
    }
    for (lc = px->links; lc; lc = lc->next) {
        if (!lc->listener && lc->link->state >= SP_LINK_OPEN
            && lc->link->state != SP_LINK_CLOSED && !lc->link->drain_acked) {
            return 1;
        }
    }
    return 0;
}

static int drain_done(sp_proxy_t *px, apr_time_t now)
{
    if (now >= px->drain_deadline) {
        plog(px, 4, "SP0116", 0, "drain timeout: %u streams still in flight "
             "are cut", px->active);
        return 1;
    }
    if (px->active > 0 || output_left(px) || drain_unanswered(px)) {
        return 0;  /* a reply not yet written is not finished */
    }
    return px->o.role == SP_ROLE_SERVER || !clients_left(px);
}

static void on_tick(sp_proxy_t *px, apr_time_t now)
{
    px->last_tick = now;
    check_handshakes(px, now);
    if (px->park_head >= 0) {
        retry_parked(px, now);
    }
    if (now - px->last_sweep >= SWEEP_INTERVAL) {
        px->last_sweep = now;
        sweep(px);
    }
    if (px->h.tick) {
        px->h.tick(px, now, px->h.baton);
    }
}

static void poll_once(sp_proxy_t *px, apr_interval_time_t timeout)
{
    const apr_pollfd_t *fds;
    apr_int32_t n = 0, i;
    apr_status_t rv;

    rv = apr_pollset_poll(px->ps, timeout, &n, &fds);
    sp_table_proxy_wake(px->t);
    if (rv != APR_SUCCESS) {
        return;  /* EINTR or timeout */
    }
    for (i = 0; i < n; i++) {
        link_ctx_t *lc = fds[i].client_data;
        if (!lc) {
            sp_table_doorbell_drain(px->t);
        }
        else if (lc->listener) {
            if (!px->draining) {
                accept_links(px, lc);
            }
        }
        else {
            link_io(px, lc, fds[i].rtnevents);
        }
        /* Slots first: a burst of link input frees credit for them. */
        process_ready(px);
    }
}

/* Before a drained proxy exits: half-close every link and read what the
 * peer still sends until it closes (at most 2 s).  Closing a socket with
 * unread input makes the kernel send RST, which can destroy the end of a
 * reply the peer has not read yet. */
static void linger_links(sp_proxy_t *px)
{
    apr_time_t until = apr_time_now() + apr_time_from_sec(2);
    link_ctx_t *lc;
    char junk[16384];

    for (lc = px->links; lc; lc = lc->next) {
        if (!lc->connecting && lc->link->state != SP_LINK_CLOSED) {
            apr_socket_shutdown(lc->link->sock, APR_SHUTDOWN_WRITE);
        }
    }
    while (apr_time_now() < until) {
        int open = 0;
        for (lc = px->links; lc; lc = lc->next) {
            apr_size_t n = sizeof(junk);
            apr_status_t rv;
            if (lc->connecting || lc->link->state == SP_LINK_CLOSED) {
                continue;
            }
            rv = apr_socket_recv(lc->link->sock, junk, &n);
            if (APR_STATUS_IS_EAGAIN(rv) || (rv == APR_SUCCESS && n > 0)) {
                open = 1;
            }
            else {
                sp_link_close(lc->link, "drained");
            }
        }
        if (!open) {
            return;
        }
        apr_sleep(apr_time_from_msec(5));
    }
}

apr_status_t sp_proxy_run(sp_proxy_t *px)
{
    for (;;) {
        apr_time_t now;

        if (px->stop_req) {
            wake_owners(px);
            return APR_SUCCESS;
        }
        if (px->drain_req && !px->draining) {
            start_drain(px);
        }
        process_ready(px);
        flush_links(px);
        now = apr_time_now();
        if (now - px->last_tick >= TICK_INTERVAL) {
            on_tick(px, now);
            flush_links(px);
        }
        wake_owners(px);  /* after the link output: it is on its way */
        if (px->draining && drain_done(px, now)) {
            linger_links(px);
            wake_owners(px);
            return APR_SUCCESS;
        }
        if (sp_table_proxy_sleep(px->t)) {
            continue;  /* something came in meanwhile */
        }
        poll_once(px, TICK_INTERVAL);
    }
}
