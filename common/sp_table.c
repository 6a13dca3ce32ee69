/*
 * sp_table.c -- the slot table in shared memory (see sp_table.h for the
 * layout drawing and the rule for every shared field).
 *
 * Marks are futex words: the owner sleeps on its slot's `marks` word with
 * FUTEX_WAIT (shared, not private: the word is in a mapping shared by
 * several processes) and a timeout; the proxy sets bits and calls
 * FUTEX_WAKE only when the owner said it sleeps (SP_MARK_SLEEP), so a
 * handoff to a running owner costs no system call.  The proxy never
 * sleeps on a slot: owners queue their slot on the ready ring and write
 * the eventfd doorbell only when the proxy said it sleeps.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "sp_errors.h"
#include "sp_table.h"

#define SP_SPIN_ROUNDS 200

#define LOAD(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)

_Static_assert(sizeof(sp_slot_sh_t) == 4 * SP_CACHE_LINE,
               "slot control is four cache lines, one per writer role");

static apr_size_t align_up(apr_size_t n, apr_size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

static apr_status_t doorbell_cleanup(void *data)
{
    sp_table_t *t = data;

    if (t->doorbell >= 0) {
        close(t->doorbell);
        t->doorbell = -1;
    }
    return APR_SUCCESS;
}

apr_status_t sp_table_create(sp_table_t **tp, unsigned nslots,
                             apr_size_t space_size, apr_pool_t *p)
{
    sp_table_t *t;
    apr_size_t ring_bytes, slots_off, stride, total;
    apr_status_t rv;
    unsigned i;

    if (nslots == 0 || nslots > SP_SLOTS_MAX
        || space_size < SP_SPACE_MIN || space_size > SP_SPACE_MAX) {
        return APR_EINVAL;
    }
    ring_bytes = sp_ring_bytes(nslots);
    slots_off = align_up(SP_TABLE_HDR_SIZE + ring_bytes, 4096);
    stride = align_up(sizeof(sp_slot_sh_t) + 2 * space_size, SP_CACHE_LINE);
    total = slots_off + (apr_size_t)nslots * stride;

    t = apr_pcalloc(p, sizeof(*t));
    t->pool = p;
    t->doorbell = -1;
    rv = apr_shm_create(&t->shm, total, NULL, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    t->sh = apr_shm_baseaddr_get(t->shm);
    memset(t->sh, 0, slots_off);
    t->ring = (sp_ring_sh_t *)((char *)t->sh + SP_TABLE_HDR_SIZE);
    t->slots = (char *)t->sh + slots_off;

    t->doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->doorbell < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        apr_shm_destroy(t->shm);
        return rv;
    }
    apr_pool_cleanup_register(p, t, doorbell_cleanup, apr_pool_cleanup_null);

    t->sh->magic = SP_TABLE_MAGIC;
    t->sh->header_size = SP_TABLE_HDR_SIZE;
    t->sh->nslots = nslots;
    t->sh->space_size = (uint32_t)space_size;
    t->sh->slot_stride = (uint32_t)stride;
    t->sh->slots_offset = slots_off;
    t->sh->creator_pid = (int32_t)getpid();
    sp_ring_init(t->ring, nslots);
    t->sh->ring_size = t->ring->size;
    for (i = 0; i < nslots; i++) {
        sp_slot_sh_t *s = sp_table_slot(t, i);
        memset(s, 0, sizeof(*s));
        s->marks = SP_MARK_TX;
    }
    /* Published last: a reader that sees the version sees the rest. */
    STORE(&t->sh->layout_version, SP_TABLE_LAYOUT_VERSION);
    *tp = t;
    return APR_SUCCESS;
}

apr_status_t sp_table_check(const sp_table_sh_t *sh, apr_pool_t *p,
                            const char **why)
{
    uint32_t v = LOAD(&sh->layout_version);

    if (sh->magic != SP_TABLE_MAGIC) {
        *why = apr_psprintf(p, "slot table magic is 0x%08x, expected 0x%08x",
                            sh->magic, SP_TABLE_MAGIC);
        return SP_EVERSION;
    }
    if (v != SP_TABLE_LAYOUT_VERSION) {
        *why = apr_psprintf(p, "slot table layout version is %u, this build "
                            "reads version %u", v, SP_TABLE_LAYOUT_VERSION);
        return SP_EVERSION;
    }
    return APR_SUCCESS;
}

sp_slot_sh_t *sp_table_slot(const sp_table_t *t, unsigned idx)
{
    return (sp_slot_sh_t *)(t->slots + (apr_size_t)idx * t->sh->slot_stride);
}

unsigned char *sp_slot_tx(const sp_table_t *t, unsigned idx)
{
    return (unsigned char *)sp_table_slot(t, idx) + sizeof(sp_slot_sh_t);
}

unsigned char *sp_slot_rx(const sp_table_t *t, unsigned idx)
{
    return sp_slot_tx(t, idx) + t->sh->space_size;
}

/* --- our pid --------------------------------------------------------------- */

/* getpid() is a system call on every request otherwise; the cache is
 * forgotten in a forked child. */
static pid_t cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_forget(void)
{
    cached_pid = 0;
}

static void pid_init(void)
{
    pthread_atfork(NULL, NULL, pid_forget);
}

pid_t sp_pid_self(void)
{
    pid_t pid;

    pthread_once(&pid_once, pid_init);
    pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        pid = getpid();
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

/* --- claiming ------------------------------------------------------------ */

static int try_claim(sp_table_t *t, unsigned idx, uint32_t *gen)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    uint32_t expect = 0;

    if (LOAD(&s->claim) != 0
        || !__atomic_compare_exchange_n(&s->claim, &expect, 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        return 0;
    }
    s->owner_pid = (int32_t)sp_pid_self();
    s->owner_epoch = LOAD(&t->sh->proxy_epoch);
    s->owner_abort = 0;
    *gen = __atomic_add_fetch(&s->generation, 1, __ATOMIC_ACQ_REL);
    if (*gen == 0) {  /* 0 never names a live generation */
        *gen = __atomic_add_fetch(&s->generation, 1, __ATOMIC_ACQ_REL);
    }
    /* A stale abort for an earlier generation must not hit this one. */
    __atomic_fetch_and(&s->marks, ~SP_MARK_ABORT, __ATOMIC_ACQ_REL);
    return 1;
}

apr_status_t sp_slot_claim(sp_table_t *t, unsigned hint, unsigned *idx,
                           uint32_t *gen)
{
    unsigned n = t->sh->nslots, i;

    if (hint < n && try_claim(t, hint, gen)) {
        *idx = hint;
        return APR_SUCCESS;
    }
    for (i = 1; i <= n; i++) {
        unsigned cand = (hint + i) % n;
        if (try_claim(t, cand, gen)) {
            *idx = cand;
            return APR_SUCCESS;
        }
    }
    return SP_ENOSLOT;
}

uint32_t sp_slot_next_gen(sp_table_t *t, unsigned idx)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    uint32_t gen = __atomic_add_fetch(&s->generation, 1, __ATOMIC_ACQ_REL);

    if (gen == 0) {
        gen = __atomic_add_fetch(&s->generation, 1, __ATOMIC_ACQ_REL);
    }
    return gen;
}

void sp_slot_release(sp_table_t *t, unsigned idx)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);

    s->owner_pid = 0;
    STORE(&s->claim, 0);
}

int sp_slot_owner_dead(sp_table_t *t, unsigned idx)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    pid_t pid = __atomic_load_n(&s->owner_pid, __ATOMIC_ACQUIRE);

    return LOAD(&s->claim) && pid > 0 && !sp_pid_alive(pid);
}

void sp_slot_empty(sp_table_t *t, unsigned idx)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);

    /* The owner is gone: nobody else writes its positions now. */
    STORE(&s->tx_tail, LOAD(&s->tx_head));
    STORE(&s->rx_tail, LOAD(&s->rx_head));
    STORE(&s->rx_want, 0);
    STORE(&s->tx_want, 0);
    STORE(&s->marks, SP_MARK_TX);
}

void sp_slot_reclaim(sp_table_t *t, unsigned idx)
{
    sp_slot_empty(t, idx);
    STORE(&sp_table_slot(t, idx)->events, 0);
    sp_slot_release(t, idx);
}

/* --- signalling ---------------------------------------------------------- */

static int queue_event(sp_table_t *t, unsigned idx, uint32_t ev)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    uint32_t old = __atomic_fetch_or(&s->events, ev, __ATOMIC_ACQ_REL);

    if (old != 0) {
        return 0;  /* already queued; the proxy takes all bits at once */
    }
    /* Cannot fill: each slot is queued at most once.  If it ever did, the
     * proxy's periodic sweep still finds the bits. */
    (void)sp_ring_push(t->ring, idx);
    return 1;
}

void sp_slot_post_event(sp_table_t *t, unsigned idx, uint32_t ev)
{
    if (!queue_event(t, idx, ev)) {
        return;  /* queued already: whoever queued it rang if needed */
    }
    /* Pairs with the store in sp_table_proxy_sleep: either we see the
     * proxy asleep, or it sees our cell before it sleeps. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&t->sh->proxy_sleeping, __ATOMIC_RELAXED)) {
        uint64_t one = 1;
        ssize_t n;
        do {
            n = write(t->doorbell, &one, sizeof(one));
        } while (n < 0 && errno == EINTR);
    }
}

apr_status_t sp_table_next_ready(sp_table_t *t, unsigned *idx,
                                 uint32_t *events)
{
    uint32_t v;

    if (sp_ring_pop(t->ring, &v) != 0) {
        return APR_EAGAIN;
    }
    if (v >= t->sh->nslots) {
        *idx = 0;
        *events = 0;  /* cannot happen; never index with it */
        return APR_SUCCESS;
    }
    *idx = v;
    *events = __atomic_exchange_n(&sp_table_slot(t, v)->events, 0,
                                  __ATOMIC_ACQ_REL);
    return APR_SUCCESS;
}

int sp_table_proxy_sleep(sp_table_t *t)
{
    sp_ring_sh_t *r = t->ring;
    uint64_t pos;

    __atomic_store_n(&t->sh->proxy_sleeping, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    if (__atomic_load_n(&r->cells[pos & r->mask].seq, __ATOMIC_ACQUIRE)
        == pos + 1) {
        __atomic_store_n(&t->sh->proxy_sleeping, 0, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

void sp_table_proxy_wake(sp_table_t *t)
{
    __atomic_store_n(&t->sh->proxy_sleeping, 0, __ATOMIC_RELAXED);
}

void sp_table_doorbell_drain(sp_table_t *t)
{
    uint64_t v;
    ssize_t n;

    do {
        n = read(t->doorbell, &v, sizeof(v));
    } while (n < 0 && errno == EINTR);
}

static long futex(uint32_t *uaddr, int op, uint32_t val,
                  const struct timespec *ts)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

void sp_slot_set_marks(sp_table_t *t, unsigned idx, uint32_t bits)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    uint32_t old = __atomic_fetch_or(&s->marks, bits, __ATOMIC_ACQ_REL);

    if (old & SP_MARK_SLEEP) {
        futex(&s->marks, FUTEX_WAKE, INT_MAX, NULL);
    }
}

void sp_slot_clear_marks(sp_table_t *t, unsigned idx, uint32_t bits)
{
    __atomic_fetch_and(&sp_table_slot(t, idx)->marks, ~bits,
                       __ATOMIC_ACQ_REL);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

apr_status_t sp_slot_wait_marks(sp_table_t *t, unsigned idx, uint32_t want,
                                apr_interval_time_t timeout, uint32_t *seen)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    apr_time_t deadline = timeout < 0 ? 0 : apr_time_now() + timeout;
    uint32_t v;
    int i;

    want |= SP_MARK_ABORT;
    /* Spin only where the wait is short: for the tx space of an awake
     * proxy (it is forwarding our frames).  A reply or a new request takes
     * a round trip through the other host: spinning for it would only
     * take the CPU from the processes that have to produce it. */
    for (i = 0; (want & SP_MARK_TX) && i < SP_SPIN_ROUNDS
                && !__atomic_load_n(&t->sh->proxy_sleeping, __ATOMIC_RELAXED);
         i++) {
        v = LOAD(&s->marks);
        if (v & want) {
            *seen = v;
            return APR_SUCCESS;
        }
        cpu_relax();
    }
    for (;;) {
        struct timespec ts, *tsp = NULL;

        v = LOAD(&s->marks);
        if (v & want) {
            if (v & SP_MARK_SLEEP) {
                __atomic_fetch_and(&s->marks, ~SP_MARK_SLEEP,
                                   __ATOMIC_ACQ_REL);
            }
            *seen = v & ~SP_MARK_SLEEP;
            return APR_SUCCESS;
        }
        if (timeout >= 0) {
            apr_time_t left = deadline - apr_time_now();
            if (left <= 0) {
                __atomic_fetch_and(&s->marks, ~SP_MARK_SLEEP,
                                   __ATOMIC_ACQ_REL);
                return APR_TIMEUP;
            }
            ts.tv_sec = (time_t)apr_time_sec(left);
            ts.tv_nsec = (long)apr_time_usec(left) * 1000;
            tsp = &ts;
        }
        if (!(v & SP_MARK_SLEEP)
            && !__atomic_compare_exchange_n(&s->marks, &v, v | SP_MARK_SLEEP,
                                            0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
            continue;  /* changed under us: look again */
        }
        futex(&s->marks, FUTEX_WAIT, v | SP_MARK_SLEEP, tsp);
    }
}

int sp_pid_alive(pid_t pid)
{
    if (pid <= 0) {
        return 0;
    }
    return kill(pid, 0) == 0 || errno == EPERM;
}
