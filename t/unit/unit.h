/*
 * unit.h -- the unit test binary: one Check suite per unit of common/.
 *
 * Each test_<unit>.c defines one <unit>_suite(); main.c lists them all in
 * one table.  Tests go through the public headers only.  The pool fixture
 * below gives every test a fresh APR pool (apr_initialize() has already
 * run in main), destroyed after the test.
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <apr_pools.h>

/* The current test's pool, valid between unit_pool_setup and
 * unit_pool_teardown (use them with tcase_add_checked_fixture). */
extern apr_pool_t *unit_pool;
void unit_pool_setup(void);
void unit_pool_teardown(void);

/* Number of cases in a table, for tcase_add_loop_test. */
#define UNIT_NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* --- suites: one line per test_<unit>.c, and one entry in main.c's
 *     table ------------------------------------------------------------ */
Suite *frame_suite(void);
Suite *head_suite(void);
Suite *auth_suite(void);
Suite *io_suite(void);
Suite *ring_suite(void);
Suite *space_suite(void);
Suite *table_suite(void);
Suite *chan_suite(void);
Suite *link_suite(void);
Suite *sched_suite(void);
Suite *proxy_suite(void);

#endif
