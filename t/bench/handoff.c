/*
 * handoff.c -- micro-benchmark of the slot handoff alone, beside the raw
 * mechanisms it is built from, all measured in one run between two
 * processes (parent and a forked child) bouncing a 64-byte message.
 *
 *     handoff [ROUND_TRIPS]          (default 200000 per case)
 *
 * Cases, each timed by the parent for every round trip:
 *
 *   slot, busy proxy   one request's worth of the owner's slot API against
 *                      a stand-in proxy that busy-polls the ready ring.
 *                      Owner (parent), per round trip:
 *                        sp_slot_claim(slot 0) -> sp_chan_open ->
 *                        sp_chan_put(DATA, 64 B, END_STREAM)  [copy into
 *                        the tx space, publish tx_head, SP_EV_TX, slot
 *                        onto the ready ring, doorbell only if the proxy
 *                        sleeps] -> sp_chan_get  [sp_slot_wait_marks:
 *                        futex sleep] -> check the 64 bytes ->
 *                        sp_chan_close [rx_tail] -> sp_slot_release.
 *                      Proxy (child): sp_table_next_ready in a busy loop;
 *                        on SP_EV_TX reads the tx frame, copies the 64
 *                        bytes into an rx frame (DATA, END_STREAM, the
 *                        owner's generation), publishes both positions and
 *                        sp_slot_set_marks(TX | RX), which wakes the owner
 *                        with FUTEX_WAKE only if it went to sleep.
 *                      No link, no socket, no execd: the two hops an Apache
 *                      request makes to its proxy and back, nothing more.
 *   slot, sleeping     the same, but the proxy waits as sp_proxy_run does
 *   proxy              when the ring is empty: sp_table_proxy_sleep, then
 *                      poll() on the doorbell (eventfd), sp_table_proxy_wake,
 *                      sp_table_doorbell_drain.  This is what an idle or
 *                      lightly loaded proxy costs per request.
 *   shm spin           the floor: a 64-byte buffer and a sequence word in
 *                      shared memory, both sides busy-polling.
 *   sem_t              raw process-shared semaphores (two sem_t in shared
 *                      memory): copy 64 bytes, sem_post, sem_wait.
 *   unix socket        socketpair(AF_UNIX, SOCK_STREAM): write 64 bytes,
 *                      read 64 bytes back, on each side.
 *
 * Each case runs in 5 chunks, interleaved with the other cases (case 1..5,
 * then again), so that what else the machine does hits all alike; each
 * chunk is a fresh pair of processes and starts with 1000 unrecorded
 * round trips.  Printed: mean, p50 and p99 nanoseconds per round trip
 * (each timed with CLOCK_MONOTONIC by the parent) and each case's mean and
 * p50 over the sem_t ping-pong's.  Where the scheduler puts the two processes (one
 * core or two) changes every sleep/wake figure several times over, so
 * compare cases of one run, not runs.
 */
#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "sp_chan.h"
#include "sp_space.h"
#include "sp_errors.h"
#include "sp_frame.h"
#include "sp_table.h"

#define MSG_LEN   64
#define SPACE     SP_SPACE_DEFAULT
#define TIMEOUT   apr_time_from_sec(10)

typedef int bench_fn(long n, uint64_t *out, void *arg);

typedef struct bench_case_t {
    const char *name;
    bench_fn   *run;
    void       *arg;
    uint64_t   *samples;    /* CHUNKS x per-chunk samples, in ns */
    long        count;
    int         ok;
    double      mean, p50, p99;
} bench_case_t;

#define WARM 1000           /* unrecorded round trips before each chunk */
#define CHUNKS 5            /* each case runs in this many interleaved chunks */

static apr_pool_t *pool;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Records round trip i (the first WARM are not recorded). */
static void record(uint64_t *out, long i, uint64_t t0)
{
    if (i >= WARM) {
        out[i - WARM] = now_ns() - t0;
    }
}

static void *shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);

    if (p == MAP_FAILED) {
        perror("handoff: mmap");
        exit(1);
    }
    memset(p, 0, n);
    return p;
}

static void fill_msg(unsigned char *m, long i)
{
    int k;

    for (k = 0; k < MSG_LEN; k++) {
        m[k] = (unsigned char)(i + k);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void summarise(bench_case_t *c)
{
    double sum = 0;
    long i;

    for (i = 0; i < c->count; i++) {
        sum += (double)c->samples[i];
    }
    qsort(c->samples, (size_t)c->count, sizeof(*c->samples), cmp_u64);
    c->mean = sum / (double)c->count;
    c->p50 = (double)c->samples[c->count / 2];
    c->p99 = (double)c->samples[(c->count * 99) / 100];
}

static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* --- slot handoff ----------------------------------------------------------- */

typedef struct slot_ctl_t {
    volatile uint32_t stop;
} slot_ctl_t;

/* Stand-in proxy: answers each tx frame with an rx frame carrying the same
 * DATA payload back, stamped with the owner's generation, and gives the tx
 * bytes back. */
static int proxy_answer(sp_table_t *t, unsigned idx)
{
    sp_slot_sh_t *s = sp_table_slot(t, idx);
    uint64_t tpos = s->tx_tail, rpos = s->rx_head;
    uint64_t head = __atomic_load_n(&s->tx_head, __ATOMIC_ACQUIRE);
    const unsigned char *p;
    sp_frame_hdr_t h;
    int r;

    while ((r = sp_space_next(sp_slot_tx(t, idx), SPACE, &tpos, head, &h, &p))
           == 1) {
        unsigned char *rx;
        if (h.type != SP_FT_DATA || h.length != MSG_LEN
            || !sp_space_room(sp_slot_rx(t, idx), SPACE, &rpos,
                              __atomic_load_n(&s->rx_tail, __ATOMIC_ACQUIRE),
                              SP_FRAME_HDR_LEN + h.length)) {
            return -1;
        }
        rx = sp_slot_rx(t, idx) + rpos % SPACE;
        h.flags = SP_FF_END_STREAM;
        sp_frame_hdr_encode(rx, &h);
        memcpy(rx + SP_FRAME_HDR_LEN, p, h.length);
        rpos += SP_FRAME_HDR_LEN + h.length;
        tpos += SP_FRAME_HDR_LEN + h.length;
    }
    if (r < 0) {
        return -1;
    }
    __atomic_store_n(&s->tx_tail, tpos, __ATOMIC_RELEASE);
    __atomic_store_n(&s->rx_head, rpos, __ATOMIC_RELEASE);
    sp_slot_set_marks(t, idx, SP_MARK_TX | SP_MARK_RX);
    return 0;
}

static int proxy_take_all(sp_table_t *t)
{
    unsigned idx;
    uint32_t ev;

    while (sp_table_next_ready(t, &idx, &ev) == APR_SUCCESS) {
        if ((ev & SP_EV_TX) && proxy_answer(t, idx) != 0) {
            fprintf(stderr, "handoff: proxy: bad tx fill in slot %u\n", idx);
            return -1;
        }
    }
    return 0;
}

static void proxy_main(sp_table_t *t, slot_ctl_t *ctl, int sleeping)
{
    struct pollfd pfd;

    pfd.fd = t->doorbell;
    pfd.events = POLLIN;
    for (;;) {
        if (proxy_take_all(t) != 0) {
            _exit(1);
        }
        if (__atomic_load_n(&ctl->stop, __ATOMIC_ACQUIRE)) {
            _exit(0);
        }
        if (!sleeping || sp_table_proxy_sleep(t)) {
            continue;
        }
        poll(&pfd, 1, 100);
        sp_table_proxy_wake(t);
        sp_table_doorbell_drain(t);
    }
}

/* One request's round trip on the owner side; 0 if the reply was ours. */
static int owner_round_trip(sp_table_t *t, const unsigned char *msg)
{
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;
    unsigned idx;
    uint32_t gen;
    int rc = -1;

    if (sp_slot_claim(t, 0, &idx, &gen) != APR_SUCCESS) {
        return -1;
    }
    sp_chan_open(&c, t, idx, gen, TIMEOUT);
    if (sp_chan_put(&c, SP_FT_DATA, SP_FF_END_STREAM, msg, MSG_LEN)
        == APR_SUCCESS
        && sp_chan_get(&c, &h, &p, 0) == APR_SUCCESS
        && h.type == SP_FT_DATA && h.length == MSG_LEN
        && memcmp(p, msg, MSG_LEN) == 0) {
        rc = 0;
    }
    sp_chan_close(&c);
    sp_slot_release(t, idx);
    return rc;
}

/* arg: non-NULL for the sleeping proxy. */
static int bench_slot(long n, uint64_t *out, void *arg)
{
    unsigned char msg[MSG_LEN];
    slot_ctl_t *ctl;
    apr_pool_t *p;
    sp_table_t *t;
    pid_t pid;
    long i;
    int rc = 0;

    if (apr_pool_create(&p, pool) != APR_SUCCESS
        || sp_table_create(&t, 1, SPACE, p) != APR_SUCCESS) {
        fprintf(stderr, "handoff: sp_table_create failed\n");
        return -1;
    }
    ctl = shared_alloc(sizeof(*ctl));
    if ((pid = fork()) < 0) {
        perror("handoff: fork");
        return -1;
    }
    if (pid == 0) {
        proxy_main(t, ctl, arg != NULL);
    }
    for (i = 0; i < WARM + n; i++) {
        uint64_t t0;
        fill_msg(msg, i);
        t0 = now_ns();
        if (owner_round_trip(t, msg) != 0) {
            fprintf(stderr, "handoff: slot: round trip %ld failed\n", i);
            rc = -1;
            break;
        }
        record(out, i, t0);
    }
    __atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
    sp_slot_post_event(t, 0, SP_EV_ABORT);  /* rings a sleeping proxy */
    if (reap(pid) != 0) {
        rc = -1;
    }
    munmap(ctl, sizeof(*ctl));
    apr_pool_destroy(p);
    return rc;
}

/* --- shared-memory spin ------------------------------------------------------ */

typedef struct spin_sh_t {
    volatile uint64_t ping;            /* round number, written by parent */
    char pad0[56];
    volatile uint64_t pong;            /* round number, written by child */
    char pad1[56];
    unsigned char req[MSG_LEN];
    unsigned char rep[MSG_LEN];
} spin_sh_t;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int bench_spin(long n, uint64_t *out, void *arg)
{
    spin_sh_t *sh = shared_alloc(sizeof(*sh));
    unsigned char msg[MSG_LEN];
    uint64_t k;
    pid_t pid;
    long i;
    int rc = 0;

    if ((pid = fork()) < 0) {
        perror("handoff: fork");
        return -1;
    }
    if (pid == 0) {
        for (k = 1; k <= (uint64_t)(WARM + n); k++) {
            while (__atomic_load_n(&sh->ping, __ATOMIC_ACQUIRE) != k) {
                cpu_relax();
            }
            memcpy(sh->rep, sh->req, MSG_LEN);
            __atomic_store_n(&sh->pong, k, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    for (i = 0; i < WARM + n; i++) {
        uint64_t t0;
        fill_msg(msg, i);
        t0 = now_ns();
        memcpy(sh->req, msg, MSG_LEN);
        __atomic_store_n(&sh->ping, (uint64_t)i + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&sh->pong, __ATOMIC_ACQUIRE) != (uint64_t)i + 1) {
            cpu_relax();
        }
        if (memcmp(sh->rep, msg, MSG_LEN) != 0) {
            rc = -1;
        }
        record(out, i, t0);
    }
    if (reap(pid) != 0) {
        rc = -1;
    }
    munmap(sh, sizeof(*sh));
    return rc;
}

/* --- sem_t ------------------------------------------------------------------- */

typedef struct sem_sh_t {
    sem_t to_child;
    sem_t to_parent;
    unsigned char req[MSG_LEN];
    unsigned char rep[MSG_LEN];
} sem_sh_t;

static int sem_wait_intr(sem_t *s)
{
    while (sem_wait(s) != 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

static int bench_sem(long n, uint64_t *out, void *arg)
{
    sem_sh_t *sh = shared_alloc(sizeof(*sh));
    unsigned char msg[MSG_LEN];
    pid_t pid;
    long i;
    int rc = 0;

    if (sem_init(&sh->to_child, 1, 0) != 0
        || sem_init(&sh->to_parent, 1, 0) != 0) {
        perror("handoff: sem_init");
        return -1;
    }
    if ((pid = fork()) < 0) {
        perror("handoff: fork");
        return -1;
    }
    if (pid == 0) {
        for (i = 0; i < WARM + n; i++) {
            if (sem_wait_intr(&sh->to_child) != 0) {
                _exit(1);
            }
            memcpy(sh->rep, sh->req, MSG_LEN);
            sem_post(&sh->to_parent);
        }
        _exit(0);
    }
    for (i = 0; i < WARM + n; i++) {
        uint64_t t0;
        fill_msg(msg, i);
        t0 = now_ns();
        memcpy(sh->req, msg, MSG_LEN);
        sem_post(&sh->to_child);
        if (sem_wait_intr(&sh->to_parent) != 0) {
            rc = -1;
            break;
        }
        if (memcmp(sh->rep, msg, MSG_LEN) != 0) {
            rc = -1;
        }
        record(out, i, t0);
    }
    if (reap(pid) != 0) {
        rc = -1;
    }
    sem_destroy(&sh->to_child);
    sem_destroy(&sh->to_parent);
    munmap(sh, sizeof(*sh));
    return rc;
}

/* --- UNIX socket ------------------------------------------------------------- */

static int full_io(int fd, unsigned char *buf, size_t n, int writing)
{
    size_t done = 0;
    ssize_t k;

    while (done < n) {
        k = writing ? write(fd, buf + done, n - done)
                    : read(fd, buf + done, n - done);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        done += (size_t)k;
    }
    return 0;
}

static int bench_unix(long n, uint64_t *out, void *arg)
{
    unsigned char msg[MSG_LEN], back[MSG_LEN];
    int sv[2], rc = 0;
    pid_t pid;
    long i;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("handoff: socketpair");
        return -1;
    }
    if ((pid = fork()) < 0) {
        perror("handoff: fork");
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        for (i = 0; i < WARM + n; i++) {
            if (full_io(sv[1], back, MSG_LEN, 0) != 0
                || full_io(sv[1], back, MSG_LEN, 1) != 0) {
                _exit(1);
            }
        }
        _exit(0);
    }
    close(sv[1]);
    for (i = 0; i < WARM + n; i++) {
        uint64_t t0;
        fill_msg(msg, i);
        t0 = now_ns();
        if (full_io(sv[0], msg, MSG_LEN, 1) != 0
            || full_io(sv[0], back, MSG_LEN, 0) != 0) {
            rc = -1;
            break;
        }
        if (memcmp(back, msg, MSG_LEN) != 0) {
            rc = -1;
        }
        record(out, i, t0);
    }
    close(sv[0]);
    if (reap(pid) != 0) {
        rc = -1;
    }
    return rc;
}

/* --- main -------------------------------------------------------------------- */

static void print_row(const bench_case_t *c, const bench_case_t *sem)
{
    if (!c->ok) {
        printf("| %-22s | %10s | %10s | %10s | %8s | %8s |\n", c->name,
               "FAILED", "-", "-", "-", "-");
        return;
    }
    printf("| %-22s | %10.0f | %10.0f | %10.0f | ", c->name, c->mean, c->p50,
           c->p99);
    if (sem->ok) {
        printf("%7.2fx | %7.2fx |\n", c->mean / sem->mean, c->p50 / sem->p50);
    }
    else {
        printf("%8s | %8s |\n", "-", "-");
    }
}

int main(int argc, char **argv)
{
    static int sleeping = 1;
    bench_case_t cases[] = {
        { "slot, busy proxy", bench_slot, NULL, NULL, 0, 1, 0, 0, 0 },
        { "slot, sleeping proxy", bench_slot, &sleeping, NULL, 0, 1, 0, 0, 0 },
        { "shm spin (floor)", bench_spin, NULL, NULL, 0, 1, 0, 0, 0 },
        { "sem_t ping-pong", bench_sem, NULL, NULL, 0, 1, 0, 0, 0 },
        { "unix socket ping-pong", bench_unix, NULL, NULL, 0, 1, 0, 0, 0 },
    };
    const size_t ncases = sizeof(cases) / sizeof(cases[0]);
    bench_case_t *sem = &cases[3];
    long total = 200000, per;
    size_t i;
    int round, failed = 0;

    if (argc > 1 && (total = atol(argv[1])) < 1000) {
        fprintf(stderr, "usage: handoff [ROUND_TRIPS >= 1000]\n");
        return 2;
    }
    per = total / CHUNKS;
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, "handoff: cannot initialise APR\n");
        return 1;
    }
    for (i = 0; i < ncases; i++) {
        cases[i].samples = calloc((size_t)(per * CHUNKS), sizeof(uint64_t));
        if (!cases[i].samples) {
            fprintf(stderr, "handoff: out of memory\n");
            return 1;
        }
    }
    /* Interleaved, so that whatever else the machine does hits all alike. */
    for (round = 0; round < CHUNKS; round++) {
        for (i = 0; i < ncases; i++) {
            bench_case_t *c = &cases[i];
            if (c->ok && c->run(per, c->samples + c->count, c->arg) == 0) {
                c->count += per;
            }
            else {
                c->ok = 0;
            }
        }
    }
    printf("64-byte round trips between two processes, %ld per case in %d "
           "interleaved chunks (ns per round trip)\n\n", per * CHUNKS, CHUNKS);
    printf("| %-22s | %10s | %10s | %10s | %8s | %8s |\n", "case", "mean ns",
           "p50 ns", "p99 ns", "mean/sem", "p50/sem");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------", "-----------:",
           "-----------:", "-----------:", "---------:", "---------:");
    for (i = 0; i < ncases; i++) {
        if (cases[i].ok) {
            summarise(&cases[i]);
        }
    }
    for (i = 0; i < ncases; i++) {
        print_row(&cases[i], sem);
        failed |= !cases[i].ok;
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
