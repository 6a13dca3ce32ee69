/*
 * test_proxy.c -- a new proxy taking over a slot table (sp_proxy_takeover):
 * what it abandons and what it must leave to its owner.
 */
#include <string.h>

#include "unit.h"
#include "sp_proxy.h"
#include "sp_ring.h"
#include "sp_table.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)

static sp_secret_t secret;

static sp_table_t *make_table(void)
{
    sp_table_t *t = NULL;

    ck_assert_int_eq(sp_table_create(&t, 4, SP_SPACE_MIN, unit_pool),
                     APR_SUCCESS);
    return t;
}

static sp_proxy_t *make_proxy(sp_table_t *t)
{
    sp_proxy_opts_t opts;
    sp_proxy_hooks_t hooks;
    sp_proxy_t *px = NULL;

    memset(&opts, 0, sizeof(opts));
    memset(&hooks, 0, sizeof(hooks));
    opts.role = SP_ROLE_CLIENT;
    sp_proxy_default_settings(t, &opts.settings);
    ck_assert_int_eq(sp_proxy_create(&px, t, &secret, &opts, &hooks,
                                     unit_pool), APR_SUCCESS);
    return px;
}

/* A thread of a new Apache child may claim its slot before the proxy
 * child of the same generation has run at all: its head is not in the tx
 * space yet, and nothing of it can have gone out. */
START_TEST(a_takeover_leaves_alone_a_request_whose_head_is_not_yet_written)
{
    sp_table_t *t = make_table();
    sp_slot_sh_t *sh;
    unsigned idx;
    uint32_t gen;

    ck_assert_int_eq(sp_slot_claim(t, 1, &idx, &gen), APR_SUCCESS);
    sp_proxy_takeover(make_proxy(t));
    sh = sp_table_slot(t, idx);
    ck_assert_uint_ne(LOAD(&sh->abort_gen), gen);
    ck_assert_uint_eq(LOAD(&sh->marks) & SP_MARK_ABORT, 0);
}
END_TEST

/* The previous proxy had begun to send the head on (fwd_gen): the request
 * may have reached the backend, so it is abandoned, never sent twice. */
START_TEST(a_takeover_abandons_a_request_the_previous_proxy_began_to_send)
{
    sp_table_t *t = make_table();
    sp_slot_sh_t *sh;
    unsigned idx;
    uint32_t gen;

    ck_assert_int_eq(sp_slot_claim(t, 2, &idx, &gen), APR_SUCCESS);
    sh = sp_table_slot(t, idx);
    __atomic_store_n(&sh->fwd_gen, gen, __ATOMIC_RELEASE);
    sp_proxy_takeover(make_proxy(t));
    ck_assert_uint_eq(LOAD(&sh->abort_gen), gen);
    ck_assert_uint_eq(LOAD(&sh->abort_code), SP_RST_INTERNAL);
    ck_assert_uint_ne(LOAD(&sh->marks) & SP_MARK_ABORT, 0);
}
END_TEST

/* Owners of a new table may queue their slots before its first proxy
 * runs, even while it takes over: that proxy must not reset the ring. */
START_TEST(the_first_proxy_of_a_table_keeps_the_slots_already_queued)
{
    sp_table_t *t = make_table();
    unsigned idx;
    uint32_t gen, v;

    ck_assert_int_eq(sp_slot_claim(t, 3, &idx, &gen), APR_SUCCESS);
    ck_assert_int_eq(sp_ring_push(t->ring, idx), 0);
    sp_proxy_takeover(make_proxy(t));
    ck_assert_int_eq(sp_ring_pop(t->ring, &v), 0);
    ck_assert_uint_eq(v, idx);
}
END_TEST

/* A proxy that follows a dead one starts the ring afresh (a dead producer
 * may have claimed a cell it never filled); the slots themselves are
 * looked at one by one. */
START_TEST(a_later_proxy_starts_the_ready_ring_afresh)
{
    sp_table_t *t = make_table();
    uint32_t v;

    sp_proxy_takeover(make_proxy(t));
    ck_assert_int_eq(sp_ring_push(t->ring, 0), 0);
    sp_proxy_takeover(make_proxy(t));
    ck_assert_int_eq(sp_ring_pop(t->ring, &v), -1);
}
END_TEST

/* Free slots have no owner to tell. */
START_TEST(a_takeover_leaves_unclaimed_slots_unmarked)
{
    sp_table_t *t = make_table();
    unsigned i;

    sp_proxy_takeover(make_proxy(t));
    for (i = 0; i < t->sh->nslots; i++) {
        ck_assert_uint_eq(LOAD(&sp_table_slot(t, i)->marks) & SP_MARK_ABORT,
                          0);
    }
}
END_TEST

Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *tc = tcase_create("takeover");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, a_takeover_leaves_alone_a_request_whose_head_is_not_yet_written);
    tcase_add_test(tc, a_takeover_abandons_a_request_the_previous_proxy_began_to_send);
    tcase_add_test(tc, a_takeover_leaves_unclaimed_slots_unmarked);
    tcase_add_test(tc, the_first_proxy_of_a_table_keeps_the_slots_already_queued);
    tcase_add_test(tc, a_later_proxy_starts_the_ready_ring_afresh);
    suite_add_tcase(s, tc);
    return s;
}
