/*
 * main.c -- runs every unit suite of common/ in one Check runner.
 *
 * APR is initialised once here; each test gets its own pool from the
 * fixture.  The exit status is non-zero if any test failed, so that make
 * and CI see it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>

#include "unit.h"

apr_pool_t *unit_pool;

void unit_pool_setup(void)
{
    ck_assert_int_eq(apr_pool_create(&unit_pool, NULL), APR_SUCCESS);
    apr_pool_tag(unit_pool, "unit-test");
}

void unit_pool_teardown(void)
{
    apr_pool_destroy(unit_pool);
    unit_pool = NULL;
}

/* Every suite, in the order they run.  Add new ones here (and declare
 * them in unit.h). */
static Suite *(*const suites[])(void) = {
    frame_suite,
    head_suite,
    auth_suite,
    io_suite,
    ring_suite,
    space_suite,
    table_suite,
    chan_suite,
    link_suite,
    sched_suite,
    proxy_suite,
};

int main(void)
{
    SRunner *sr;
    apr_size_t i;
    int failed;

    if (apr_initialize() != APR_SUCCESS) {
        fprintf(stderr, "unit: apr_initialize failed\n");
        return EXIT_FAILURE;
    }
    atexit(apr_terminate);

    sr = srunner_create(NULL);
    for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        srunner_add_suite(sr, suites[i]());
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
