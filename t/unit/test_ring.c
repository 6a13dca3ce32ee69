/*
 * test_ring.c -- the ready ring: order, bounds, and many producers in
 * different processes pushing at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_shm.h>

#include "unit.h"
#include "sp_ring.h"

static sp_ring_sh_t *make_ring(uint32_t cells)
{
    apr_shm_t *shm;

    ck_assert_int_eq(apr_shm_create(&shm, sp_ring_bytes(cells), NULL,
                                    unit_pool), APR_SUCCESS);
    sp_ring_init(apr_shm_baseaddr_get(shm), cells);
    return apr_shm_baseaddr_get(shm);
}

START_TEST(ring_hands_values_back_in_push_order)
{
    sp_ring_sh_t *r = make_ring(8);
    uint32_t v, i;

    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(sp_ring_push(r, 100 + i), 0);
    }
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(sp_ring_pop(r, &v), 0);
        ck_assert_uint_eq(v, 100 + i);
    }
    ck_assert_int_eq(sp_ring_pop(r, &v), -1);
}
END_TEST

START_TEST(ring_is_full_after_size_pushes_and_reusable_after_draining)
{
    sp_ring_sh_t *r = make_ring(5);  /* rounds up to 8 */
    uint32_t v, i, round;

    ck_assert_uint_eq(r->size, 8);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 8; i++) {
            ck_assert_int_eq(sp_ring_push(r, i), 0);
        }
        ck_assert_int_eq(sp_ring_push(r, 99), -1);
        for (i = 0; i < 8; i++) {
            ck_assert_int_eq(sp_ring_pop(r, &v), 0);
            ck_assert_uint_eq(v, i);
        }
        ck_assert_int_eq(sp_ring_pop(r, &v), -1);
    }
}
END_TEST

#define PRODUCERS 4
#define PER_PRODUCER 5000

START_TEST(ring_loses_nothing_when_four_processes_push_at_once)
{
    sp_ring_sh_t *r = make_ring(64);
    unsigned char *seen = calloc(PRODUCERS * PER_PRODUCER, 1);
    pid_t pids[PRODUCERS];
    unsigned got = 0;
    int i;

    for (i = 0; i < PRODUCERS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            uint32_t k;
            for (k = 0; k < PER_PRODUCER; k++) {
                while (sp_ring_push(r, (uint32_t)i * PER_PRODUCER + k) != 0) {
                    /* full: the consumer is behind */
                }
            }
            _exit(0);
        }
    }
    while (got < PRODUCERS * PER_PRODUCER) {
        uint32_t v;
        if (sp_ring_pop(r, &v) == 0) {
            ck_assert_uint_lt(v, PRODUCERS * PER_PRODUCER);
            ck_assert_int_eq(seen[v], 0);
            seen[v] = 1;
            got++;
        }
    }
    for (i = 0; i < PRODUCERS; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    free(seen);
}
END_TEST

Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ring_hands_values_back_in_push_order);
    tcase_add_test(tc, ring_is_full_after_size_pushes_and_reusable_after_draining);
    tcase_add_test(tc, ring_loses_nothing_when_four_processes_push_at_once);
    suite_add_tcase(s, tc);
    return s;
}
