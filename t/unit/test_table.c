/*
 * test_table.c -- the slot table: layout header, claiming, reclaiming the
 * slot of a dead owner, events and the doorbell, and the marks as seen by
 * an owner sleeping in another process.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "unit.h"
#include "sp_errors.h"
#include "sp_table.h"

static sp_table_t *make_table(unsigned n)
{
    sp_table_t *t = NULL;

    ck_assert_int_eq(sp_table_create(&t, n, SP_SPACE_MIN, unit_pool),
                     APR_SUCCESS);
    return t;
}

static int wait_child(pid_t pid)
{
    int status = 0;

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static int doorbell_rang(sp_table_t *t)
{
    struct pollfd p = { .fd = t->doorbell, .events = POLLIN };

    return poll(&p, 1, 0) == 1;
}

START_TEST(create_refuses_sizes_out_of_range)
{
    sp_table_t *t;

    ck_assert_int_eq(sp_table_create(&t, 0, SP_SPACE_MIN, unit_pool),
                     APR_EINVAL);
    ck_assert_int_eq(sp_table_create(&t, 4, SP_SPACE_MIN - 1, unit_pool),
                     APR_EINVAL);
    ck_assert_int_eq(sp_table_create(&t, 4, SP_SPACE_MAX + 1, unit_pool),
                     APR_EINVAL);
    ck_assert_int_eq(sp_table_create(&t, SP_SLOTS_MAX + 1, SP_SPACE_MIN,
                                     unit_pool), APR_EINVAL);
}
END_TEST

START_TEST(header_carries_magic_version_sizes_and_creator_pid)
{
    sp_table_t *t = make_table(3);
    const char *why = NULL;

    ck_assert_uint_eq(t->sh->magic, SP_TABLE_MAGIC);
    ck_assert_uint_eq(t->sh->layout_version, SP_TABLE_LAYOUT_VERSION);
    ck_assert_uint_eq(t->sh->nslots, 3);
    ck_assert_uint_eq(t->sh->space_size, SP_SPACE_MIN);
    ck_assert_int_eq(t->sh->creator_pid, getpid());
    ck_assert_uint_ge(t->sh->slot_stride,
                      sizeof(sp_slot_sh_t) + 2 * SP_SPACE_MIN);
    ck_assert_uint_eq(t->sh->slot_stride % SP_CACHE_LINE, 0);
    ck_assert_int_eq(sp_table_check(t->sh, unit_pool, &why), APR_SUCCESS);
    /* The fields that different processes write are on their own lines. */
    ck_assert_uint_eq(sizeof(sp_slot_sh_t), 4 * SP_CACHE_LINE);
}
END_TEST

START_TEST(check_refuses_another_layout_version_and_names_both)
{
    sp_table_t *t = make_table(1);
    sp_table_sh_t copy = *t->sh;
    const char *why = NULL;

    copy.layout_version = SP_TABLE_LAYOUT_VERSION + 6;
    ck_assert_int_eq(sp_table_check(&copy, unit_pool, &why), SP_EVERSION);
    ck_assert_ptr_nonnull(strstr(why, apr_itoa(unit_pool,
                                               SP_TABLE_LAYOUT_VERSION + 6)));
    ck_assert_ptr_nonnull(strstr(why, apr_itoa(unit_pool,
                                               SP_TABLE_LAYOUT_VERSION)));
    copy = *t->sh;
    copy.magic = 0x12345678;
    ck_assert_int_eq(sp_table_check(&copy, unit_pool, &why), SP_EVERSION);
    ck_assert_ptr_nonnull(strstr(why, "magic"));
}
END_TEST

START_TEST(claim_takes_the_hinted_slot_when_free_and_moves_on_when_not)
{
    sp_table_t *t = make_table(4);
    unsigned a, b;
    uint32_t ga, gb;

    ck_assert_int_eq(sp_slot_claim(t, 2, &a, &ga), APR_SUCCESS);
    ck_assert_uint_eq(a, 2);
    ck_assert_int_eq(sp_table_slot(t, 2)->owner_pid, getpid());
    ck_assert_int_eq(sp_slot_claim(t, 2, &b, &gb), APR_SUCCESS);
    ck_assert_uint_ne(b, 2);
}
END_TEST

START_TEST(claim_fails_with_enoslot_when_every_slot_is_taken)
{
    sp_table_t *t = make_table(3);
    unsigned i, idx;
    uint32_t gen;

    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(sp_slot_claim(t, 0, &idx, &gen), APR_SUCCESS);
    }
    ck_assert_int_eq(sp_slot_claim(t, 0, &idx, &gen), SP_ENOSLOT);
    sp_slot_release(t, 1);
    ck_assert_int_eq(sp_slot_claim(t, 0, &idx, &gen), APR_SUCCESS);
    ck_assert_uint_eq(idx, 1);
}
END_TEST

START_TEST(every_claim_starts_a_new_nonzero_generation)
{
    sp_table_t *t = make_table(1);
    unsigned idx;
    uint32_t g1, g2;

    ck_assert_int_eq(sp_slot_claim(t, 0, &idx, &g1), APR_SUCCESS);
    ck_assert_uint_ne(g1, 0);
    sp_slot_release(t, idx);
    ck_assert_int_eq(sp_slot_claim(t, 0, &idx, &g2), APR_SUCCESS);
    ck_assert_uint_eq(g2, g1 + 1);
    /* Wrapping never yields generation 0. */
    sp_slot_release(t, idx);
    sp_table_slot(t, 0)->generation = 0xffffffffu;
    ck_assert_int_eq(sp_slot_claim(t, 0, &idx, &g2), APR_SUCCESS);
    ck_assert_uint_eq(g2, 1);
}
END_TEST

START_TEST(slot_of_a_dead_owner_is_detected_and_reclaimed)
{
    sp_table_t *t = make_table(2);
    unsigned idx;
    uint32_t gen;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned i;
        uint32_t g;
        if (sp_slot_claim(t, 1, &i, &g) != APR_SUCCESS || i != 1) {
            _exit(1);
        }
        sp_slot_clear_marks(t, 1, SP_MARK_TX);  /* dies mid-request: */
        sp_table_slot(t, 1)->tx_head = 100;     /* frames published, */
        sp_slot_post_event(t, 1, SP_EV_TX);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    sp_table_slot(t, 1)->rx_head = 200;         /* and a reply unread */
    sp_table_slot(t, 1)->rx_want = 150;
    ck_assert(sp_slot_owner_dead(t, 1));
    ck_assert(!sp_slot_owner_dead(t, 0));          /* never claimed */
    ck_assert_int_eq(sp_slot_claim(t, 1, &idx, &gen), APR_SUCCESS);
    ck_assert_uint_eq(idx, 0);                     /* 1 is still held */
    ck_assert(!sp_slot_owner_dead(t, 0));          /* we are alive */
    sp_slot_reclaim(t, 1);
    /* Both spaces are empty for the next owner. */
    ck_assert_uint_eq(sp_table_slot(t, 1)->tx_tail, 100);
    ck_assert_uint_eq(sp_table_slot(t, 1)->rx_tail, 200);
    ck_assert_uint_eq(sp_table_slot(t, 1)->rx_want, 0);
    ck_assert_uint_eq(sp_table_slot(t, 1)->marks, SP_MARK_TX);
    ck_assert_uint_eq(sp_table_slot(t, 1)->events, 0);
    ck_assert_int_eq(sp_slot_claim(t, 1, &idx, &gen), APR_SUCCESS);
    ck_assert_uint_eq(idx, 1);
}
END_TEST

START_TEST(an_event_queues_the_slot_once_until_the_proxy_takes_it)
{
    sp_table_t *t = make_table(4);
    unsigned idx;
    uint32_t ev;

    sp_slot_post_event(t, 3, SP_EV_TX);
    sp_slot_post_event(t, 3, SP_EV_RXFREE);
    sp_slot_post_event(t, 1, SP_EV_ABORT);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(idx, 3);
    ck_assert_uint_eq(ev, SP_EV_TX | SP_EV_RXFREE);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(idx, 1);
    ck_assert_uint_eq(ev, SP_EV_ABORT);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
    /* Once taken, the slot can be queued again. */
    sp_slot_post_event(t, 3, SP_EV_TX);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(idx, 3);
}
END_TEST

START_TEST(the_doorbell_rings_only_for_a_sleeping_proxy)
{
    sp_table_t *t = make_table(2);
    unsigned idx;
    uint32_t ev;

    sp_slot_post_event(t, 0, SP_EV_TX);
    ck_assert(!doorbell_rang(t));               /* proxy awake: no syscall */
    /* Something is queued: the proxy must not go to sleep. */
    ck_assert_int_ne(sp_table_proxy_sleep(t), 0);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_int_eq(sp_table_proxy_sleep(t), 0);
    sp_slot_post_event(t, 1, SP_EV_TX);
    ck_assert(doorbell_rang(t));
    sp_table_doorbell_drain(t);
    ck_assert(!doorbell_rang(t));
    sp_table_proxy_wake(t);
}
END_TEST

START_TEST(waiting_for_a_mark_times_out_when_none_comes)
{
    sp_table_t *t = make_table(1);
    apr_time_t start = apr_time_now();
    uint32_t seen = 0;

    sp_slot_clear_marks(t, 0, SP_MARK_TX);
    ck_assert_int_eq(sp_slot_wait_marks(t, 0, SP_MARK_RX | SP_MARK_TX,
                                        apr_time_from_msec(50), &seen),
                     APR_TIMEUP);
    ck_assert_int_ge(apr_time_now() - start, apr_time_from_msec(50));
    ck_assert_uint_eq(t->sh->nslots, 1);
    /* The sleep bit is not left behind. */
    ck_assert_uint_eq(sp_table_slot(t, 0)->marks & SP_MARK_SLEEP, 0);
}
END_TEST

/* Child: sleeps on the slot's marks; exits with what it saw. */
static int sleep_on_marks(sp_table_t *t, uint32_t want)
{
    uint32_t seen = 0;
    apr_status_t rv = sp_slot_wait_marks(t, 0, want, apr_time_from_sec(10),
                                         &seen);

    if (rv != APR_SUCCESS) {
        return 90;
    }
    return (int)(seen & (SP_MARK_RX | SP_MARK_TX | SP_MARK_ABORT));
}

START_TEST(a_mark_set_by_one_process_wakes_an_owner_asleep_in_another)
{
    sp_table_t *t = make_table(1);
    pid_t pid;
    int i;

    sp_slot_clear_marks(t, 0, SP_MARK_TX);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(sleep_on_marks(t, SP_MARK_RX));
    }
    /* Wait until the child is really asleep on the futex word. */
    for (i = 0; i < 2000 && !(__atomic_load_n(&sp_table_slot(t, 0)->marks,
                                              __ATOMIC_ACQUIRE)
                              & SP_MARK_SLEEP); i++) {
        usleep(1000);
    }
    ck_assert(sp_table_slot(t, 0)->marks & SP_MARK_SLEEP);
    sp_slot_set_marks(t, 0, SP_MARK_RX);
    ck_assert_int_eq(wait_child(pid), SP_MARK_RX);
}
END_TEST

START_TEST(an_abort_mark_wakes_an_owner_waiting_for_the_tx_space)
{
    sp_table_t *t = make_table(1);
    pid_t pid;

    sp_slot_clear_marks(t, 0, SP_MARK_TX);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(sleep_on_marks(t, SP_MARK_TX));
    }
    usleep(20000);
    sp_slot_set_marks(t, 0, SP_MARK_ABORT);
    ck_assert_int_eq(wait_child(pid), SP_MARK_ABORT);
}
END_TEST

START_TEST(our_pid_is_remembered_and_right_again_after_fork)
{
    pid_t parent = getpid(), pid;

    ck_assert_int_eq(sp_pid_self(), parent);
    ck_assert_int_eq(sp_pid_self(), parent);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(sp_pid_self() == getpid() && getpid() != parent ? 0 : 1);
    }
    ck_assert_int_eq(wait_child(pid), 0);
}
END_TEST

START_TEST(a_slot_already_queued_does_not_ring_again)
{
    sp_table_t *t = make_table(2);
    unsigned idx;
    uint32_t ev;

    ck_assert_int_eq(sp_table_proxy_sleep(t), 0);
    sp_slot_post_event(t, 1, SP_EV_TX);
    ck_assert(doorbell_rang(t));
    sp_table_doorbell_drain(t);
    sp_slot_post_event(t, 1, SP_EV_ABORT);  /* coalesces: rung already */
    ck_assert(!doorbell_rang(t));
    sp_table_proxy_wake(t);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(idx, 1);
    ck_assert_uint_eq(ev, SP_EV_TX | SP_EV_ABORT);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
}
END_TEST

Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("table");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_refuses_sizes_out_of_range);
    tcase_add_test(tc, header_carries_magic_version_sizes_and_creator_pid);
    tcase_add_test(tc, check_refuses_another_layout_version_and_names_both);
    tcase_add_test(tc, claim_takes_the_hinted_slot_when_free_and_moves_on_when_not);
    tcase_add_test(tc, claim_fails_with_enoslot_when_every_slot_is_taken);
    tcase_add_test(tc, every_claim_starts_a_new_nonzero_generation);
    tcase_add_test(tc, slot_of_a_dead_owner_is_detected_and_reclaimed);
    tcase_add_test(tc, an_event_queues_the_slot_once_until_the_proxy_takes_it);
    tcase_add_test(tc, the_doorbell_rings_only_for_a_sleeping_proxy);
    tcase_add_test(tc, a_slot_already_queued_does_not_ring_again);
    tcase_add_test(tc, our_pid_is_remembered_and_right_again_after_fork);
    tcase_add_test(tc, waiting_for_a_mark_times_out_when_none_comes);
    tcase_add_test(tc, a_mark_set_by_one_process_wakes_an_owner_asleep_in_another);
    tcase_add_test(tc, an_abort_mark_wakes_an_owner_waiting_for_the_tx_space);
    suite_add_tcase(s, tc);
    return s;
}
