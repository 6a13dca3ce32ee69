/*
 * sp_table.h -- the slot table: one shared-memory region per host side.
 *
 * Layout (anonymous shared mapping made by apr_shm, inherited over fork):
 *
 *   +--------------------------------------------+  offset 0
 *   | sp_table_sh_t: magic, layout version,      |
 *   | sizes, creator pid | proxy pid, epoch,     |
 *   | proxy_sleeping (own cache lines)           |
 *   +--------------------------------------------+  SP_TABLE_HDR_SIZE
 *   | sp_ring_sh_t: ready ring of slot numbers   |
 *   | (one cell per slot, power of two)          |
 *   +--------------------------------------------+  slots_offset
 *   | slot 0: sp_slot_sh_t control (4 lines)     |
 *   |         tx space [space_size]              |
 *   |         rx space [space_size]              |
 *   +--------------------------------------------+  + slot_stride
 *   | slot 1 ...                                 |
 *
 * Roles: a slot's *owner* (an Apache child or thread, an execd worker)
 * writes frames into its tx space and reads frames from its rx space; the
 * *proxy* of that host does the opposite and never blocks on a slot.
 *
 * Each space is a ring of frames (sp_space.h): the writer publishes its
 * position (head), the reader its own (tail), so the owner can write its
 * next frames while the proxy forwards the earlier ones, and the other
 * way round.
 *
 * Locking rules (who writes what; everything else is read-only after
 * sp_table_create):
 *   claim            CAS by a claimer (0 -> 1); store 0 by the owner on
 *                    release or by the proxy on reclaim of a dead owner.
 *   owner_pid, generation, owner_abort, owner_abort_gen
 *                    written by the owner while it holds the claim; read
 *                    by the proxy after it sees an event (release/acquire
 *                    through `events`).
 *   tx space         bytes [tx_tail, tx_head) are the proxy's to read,
 *                    the rest the owner's to write.  tx_head is stored
 *                    (release) by the owner, tx_tail by the proxy.
 *   rx space         bytes [rx_tail, rx_head) are the owner's to read,
 *                    the rest the proxy's to write.  rx_head is stored by
 *                    the proxy, rx_tail by the owner.
 *   rx_want          proxy: "tell me (SP_EV_RXFREE) once rx_tail reaches
 *                    this": set when its next frame does not fit.
 *   tx_want          owner: "wake me (SP_MARK_TX) once tx_tail reaches
 *                    this": set before it sleeps for tx space, so that
 *                    it wakes once for half a space, not per frame.
 *   abort_gen, abort_code
 *                    written by the proxy before it sets SP_MARK_ABORT.
 *   fwd_gen          written by the proxy before it sends a head on, so
 *                    that its successor never sends one twice.
 *   marks            atomic bits, set by the proxy, cleared by the owner
 *                    (the futex word the owner sleeps on).  They are
 *                    hints to wake up: the positions are the truth.
 *   events           atomic bits, set by the owner (or a supervisor),
 *                    taken (exchanged to 0) by the proxy.
 *
 * A dead owner's positions are reset by the proxy (sp_slot_reclaim); a
 * new proxy carries on from the positions its predecessor left.
 */
#ifndef SP_TABLE_H
#define SP_TABLE_H

#include <stdint.h>
#include <sys/types.h>
#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_shm.h>

#include "sp_ring.h"

#define SP_TABLE_MAGIC          0x53505442u  /* "SPTB" */
#define SP_TABLE_LAYOUT_VERSION 2u
#define SP_CACHE_LINE           64
#define SP_TABLE_HDR_SIZE       256
#define SP_SPACE_MIN            (8u * 1024)
#define SP_SPACE_MAX            (16u * 1024 * 1024)
#define SP_SPACE_DEFAULT        (128u * 1024)
#define SP_SLOTS_MAX            65536u

/* marks: the owner's futex word */
#define SP_MARK_TX     0x01u  /* the proxy freed tx space */
#define SP_MARK_RX     0x02u  /* the proxy published rx frames */
#define SP_MARK_ABORT  0x04u  /* the proxy abandoned abort_gen */
#define SP_MARK_SLEEP  0x80u  /* owner is (about to be) asleep on the word */

/* events: owner -> proxy */
#define SP_EV_TX       0x01u  /* the owner published tx frames */
#define SP_EV_RXFREE   0x02u  /* rx_tail reached rx_want */
#define SP_EV_ABORT    0x04u  /* owner abandoned its current generation */
#define SP_EV_ATTACH   0x08u  /* a new owner (execd worker) is ready */
#define SP_EV_DEAD     0x10u  /* supervisor: the owner process died */

typedef struct sp_table_sh_t {
    /* written once by the creator, before any other process exists */
    uint32_t magic;
    uint32_t layout_version;       /* published last */
    uint32_t header_size;
    uint32_t nslots;
    uint32_t space_size;
    uint32_t slot_stride;
    uint64_t slots_offset;
    int32_t  creator_pid;
    uint32_t ring_size;
    char     pad0[SP_CACHE_LINE - 48];
    /* written by the proxy */
    int32_t  proxy_pid;
    uint32_t proxy_epoch;          /* bumped by each new proxy */
    char     pad1[SP_CACHE_LINE - 8];
    /* written by the proxy, read by every owner before ringing */
    uint32_t proxy_sleeping;
    char     pad2[SP_CACHE_LINE - 4];
} sp_table_sh_t;

typedef struct sp_slot_sh_t {
    /* line 0: owner-written */
    uint32_t claim;          /* 0 free, 1 claimed */
    int32_t  owner_pid;      /* to reclaim a slot whose owner died */
    uint32_t generation;     /* bumped per request: stamps slot frames */
    uint32_t owner_abort;    /* sp_reset_e reason with SP_EV_ABORT */
    uint32_t owner_epoch;    /* proxy_epoch the request started under */
    uint32_t backend;        /* Apache side: index of the backend to use */
    uint32_t owner_abort_gen; /* generation the owner abandoned */
    uint32_t pad0a;
    uint64_t tx_head;        /* end of the frames the owner published */
    uint64_t rx_tail;        /* end of the frames the owner consumed */
    uint64_t tx_want;        /* 0, or the tx_tail that earns SP_MARK_TX */
    char     pad0[SP_CACHE_LINE - 56];
    /* line 1: proxy-written */
    uint64_t tx_tail;        /* end of the frames the proxy consumed */
    uint64_t rx_head;        /* end of the frames the proxy published */
    uint64_t rx_want;        /* 0, or the rx_tail that earns SP_EV_RXFREE */
    uint32_t abort_gen;      /* generation the proxy abandoned */
    uint32_t abort_code;     /* sp_reset_e */
    uint32_t served;         /* requests completed in this slot (stats) */
    uint32_t fwd_gen;        /* generation whose head the proxy sent on */
    char     pad1[SP_CACHE_LINE - 40];
    /* line 2: the futex word, set by proxy, cleared by owner */
    uint32_t marks;
    char     pad2[SP_CACHE_LINE - 4];
    /* line 3: events, set by owner, taken by proxy */
    uint32_t events;
    char     pad3[SP_CACHE_LINE - 4];
} sp_slot_sh_t;

/* The per-process handle. */
typedef struct sp_table_t {
    sp_table_sh_t *sh;
    sp_ring_sh_t  *ring;
    char          *slots;
    apr_shm_t     *shm;
    int            doorbell;   /* eventfd, inherited over fork */
    apr_pool_t    *pool;
} sp_table_t;

/* Creates a table of nslots slots with space_size bytes per direction, in
 * anonymous shared memory allocated from pool p (released by p's cleanup
 * in this process; children that inherited it keep their mapping), and
 * its doorbell.  APR_EINVAL for sizes out of range. */
apr_status_t sp_table_create(sp_table_t **t, unsigned nslots,
                             apr_size_t space_size, apr_pool_t *p);

/* Checks a mapped header against this build: APR_SUCCESS, or SP_EVERSION
 * with *why (allocated in p) naming both versions. */
apr_status_t sp_table_check(const sp_table_sh_t *sh, apr_pool_t *p,
                            const char **why);

sp_slot_sh_t  *sp_table_slot(const sp_table_t *t, unsigned idx);
unsigned char *sp_slot_tx(const sp_table_t *t, unsigned idx);
unsigned char *sp_slot_rx(const sp_table_t *t, unsigned idx);

/* --- claiming (owner side) --------------------------------------------- */

/* Claims a free slot, trying `hint` first (the scoreboard index: O(1) in
 * the normal case), then scanning.  Sets owner_pid and bumps the
 * generation; clears a stale SP_MARK_ABORT.  *idx and *gen get the slot
 * and its new generation.  SP_ENOSLOT if none is free.  A slot whose owner
 * died stays claimed until the proxy reclaims it (sp_slot_reclaim), since
 * only the proxy knows which stream to reset. */
apr_status_t sp_slot_claim(sp_table_t *t, unsigned hint, unsigned *idx,
                           uint32_t *gen);

/* Starts a new generation on a slot the caller already owns (execd
 * workers keep their slot for life): the proxy does this for them. */
uint32_t sp_slot_next_gen(sp_table_t *t, unsigned idx);

/* Releases a claimed slot. */
void sp_slot_release(sp_table_t *t, unsigned idx);

/* Is slot idx claimed by a process that no longer exists? */
int sp_slot_owner_dead(sp_table_t *t, unsigned idx);

/* Proxy, for an owner that is gone: empties both spaces (every
 * published frame counts as read), clears both wants, and leaves only
 * SP_MARK_TX in the marks. */
void sp_slot_empty(sp_table_t *t, unsigned idx);

/* Proxy: puts a slot whose owner died back in order (sp_slot_empty, no
 * pending events) and releases the claim. */
void sp_slot_reclaim(sp_table_t *t, unsigned idx);

/* --- signalling ---------------------------------------------------------- */

/* Owner (or supervisor) -> proxy: sets event bits; queues the slot on the
 * ready ring if it was not queued, and then rings the doorbell if the
 * proxy is asleep (a slot already queued was rung for by its queuer). */
void sp_slot_post_event(sp_table_t *t, unsigned idx, uint32_t ev);

/* Proxy: takes the next ready slot and its events (0 / APR_EAGAIN when the
 * ring is empty). */
apr_status_t sp_table_next_ready(sp_table_t *t, unsigned *idx,
                                 uint32_t *events);

/* Proxy: about to sleep / woke up.  sp_table_proxy_sleep returns non-zero
 * if the ring is not empty (then do not sleep). */
int  sp_table_proxy_sleep(sp_table_t *t);
void sp_table_proxy_wake(sp_table_t *t);
/* Proxy: read and discard the doorbell's counter. */
void sp_table_doorbell_drain(sp_table_t *t);

/* Proxy -> owner: sets mark bits and wakes the owner if asleep. */
void sp_slot_set_marks(sp_table_t *t, unsigned idx, uint32_t bits);

/* Owner: waits until any of `want` marks is set (or SP_MARK_ABORT), spins
 * briefly first, then sleeps; at most `timeout` (microseconds, < 0 =
 * forever).  Returns the marks seen in *seen.  APR_TIMEUP on timeout. */
apr_status_t sp_slot_wait_marks(sp_table_t *t, unsigned idx, uint32_t want,
                                apr_interval_time_t timeout, uint32_t *seen);
/* Owner: clears mark bits. */
void sp_slot_clear_marks(sp_table_t *t, unsigned idx, uint32_t bits);

/* getpid(), without a system call after the first in each process. */
pid_t sp_pid_self(void);

/* Is process pid alive?  (kill(pid, 0), EPERM counts as alive.) */
int sp_pid_alive(pid_t pid);

#endif
