/*
 * test_sched.c -- a proxy's scheduling class: into SCHED_BATCH and back,
 * with its nice value kept.
 */
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "sp_sched.h"

START_TEST(sched_batch_puts_the_process_in_sched_batch)
{
    ck_assert_int_eq(sp_sched_batch(1), APR_SUCCESS);
    ck_assert_int_eq(sched_getscheduler(0), SCHED_BATCH);
    ck_assert_int_eq(sp_sched_is_batch(), 1);
    ck_assert_int_eq(sp_sched_batch(0), APR_SUCCESS);
}
END_TEST

START_TEST(sched_batch_off_puts_it_back_in_sched_other)
{
    ck_assert_int_eq(sp_sched_batch(1), APR_SUCCESS);
    ck_assert_int_eq(sp_sched_batch(0), APR_SUCCESS);
    ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER);
    ck_assert_int_eq(sp_sched_is_batch(), 0);
}
END_TEST

/* In a child of its own: a raised nice value cannot be lowered again
 * without privilege, and it must not outlive the test even with CK_FORK=no. */
static int nice_kept(void)
{
    int before;

    if (setpriority(PRIO_PROCESS, 0, 5) != 0) {
        return 1;
    }
    errno = 0;
    before = getpriority(PRIO_PROCESS, 0);
    if (errno != 0 || before != 5) {
        return 2;
    }
    if (sp_sched_batch(1) != APR_SUCCESS
        || getpriority(PRIO_PROCESS, 0) != before) {
        return 3;
    }
    if (sp_sched_batch(0) != APR_SUCCESS
        || getpriority(PRIO_PROCESS, 0) != before) {
        return 4;
    }
    return 0;
}

START_TEST(sched_batch_keeps_the_nice_value)
{
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(nice_kept());
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("sched");

    tcase_add_test(tc, sched_batch_puts_the_process_in_sched_batch);
    tcase_add_test(tc, sched_batch_off_puts_it_back_in_sched_other);
    tcase_add_test(tc, sched_batch_keeps_the_nice_value);
    suite_add_tcase(s, tc);
    return s;
}
