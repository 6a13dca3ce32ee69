/*
 * test_io.c -- whole reads and writes: round trips through pipes, short
 * transfers, signals in the middle, and the ways a stream can end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "sp_errors.h"
#include "sp_io.h"

static int fds[2] = { -1, -1 };

static void pipe_setup(void)
{
    ck_assert_int_eq(pipe(fds), 0);
}

static void pipe_teardown(void)
{
    if (fds[0] >= 0) {
        close(fds[0]);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    fds[0] = fds[1] = -1;
}

static void close_end(int end)
{
    close(fds[end]);
    fds[end] = -1;
}

/* Fills buf with a pattern that differs at every offset of a 251-byte
 * cycle, so that a lost or repeated chunk shows. */
static void pattern(unsigned char *buf, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (unsigned char)(i % 251);
    }
}

static int child_status(pid_t pid)
{
    int status = 0;

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

START_TEST(a_small_buffer_goes_through_a_pipe_unchanged)
{
    unsigned char out[100], in[100];

    pattern(out, sizeof(out));
    memset(in, 0, sizeof(in));
    ck_assert_int_eq(sp_write_full(fds[1], out, sizeof(out)), APR_SUCCESS);
    ck_assert_int_eq(sp_read_full(fds[0], in, sizeof(in)), APR_SUCCESS);
    ck_assert_mem_eq(in, out, sizeof(out));
}
END_TEST

/* 1 MiB is far over a pipe's buffer: both sides must loop over short
 * transfers. */
START_TEST(a_buffer_larger_than_the_pipe_goes_through_unchanged)
{
    apr_size_t len = 1024 * 1024;
    unsigned char *out = apr_palloc(unit_pool, len);
    unsigned char *in = apr_pcalloc(unit_pool, len);
    pid_t pid;

    pattern(out, len);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(sp_write_full(fds[1], out, len) == APR_SUCCESS ? 0 : 1);
    }
    close_end(1);
    ck_assert_int_eq(sp_read_full(fds[0], in, len), APR_SUCCESS);
    ck_assert_int_eq(child_status(pid), 0);
    ck_assert(memcmp(in, out, len) == 0);
    /* and nothing more came */
    ck_assert_int_eq(sp_read_full(fds[0], in, 1), APR_EOF);
}
END_TEST

START_TEST(eof_before_the_first_byte_is_apr_eof)
{
    unsigned char in[8];

    close_end(1);
    ck_assert_int_eq(sp_read_full(fds[0], in, sizeof(in)), APR_EOF);
}
END_TEST

START_TEST(eof_part_way_is_sp_eclosed)
{
    unsigned char in[10];

    ck_assert_int_eq(sp_write_full(fds[1], "abc", 3), APR_SUCCESS);
    close_end(1);
    ck_assert_int_eq(sp_read_full(fds[0], in, sizeof(in)), SP_ECLOSED);
}
END_TEST

START_TEST(a_write_to_a_pipe_whose_reader_closed_gives_epipe)
{
    struct sigaction ign, old;
    apr_status_t rv;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ck_assert_int_eq(sigaction(SIGPIPE, &ign, &old), 0);
    close_end(0);
    rv = sp_write_full(fds[1], "abc", 3);
    sigaction(SIGPIPE, &old, NULL);
    ck_assert_msg(APR_STATUS_IS_EPIPE(rv), "got %d", rv);
    ck_assert_int_eq(rv, APR_FROM_OS_ERROR(EPIPE));
}
END_TEST

START_TEST(a_bad_descriptor_gives_its_errno)
{
    unsigned char b[4] = { 0 };

    ck_assert_int_eq(sp_read_full(-1, b, sizeof(b)), APR_FROM_OS_ERROR(EBADF));
    ck_assert_int_eq(sp_write_full(-1, b, sizeof(b)),
                     APR_FROM_OS_ERROR(EBADF));
}
END_TEST

/* --- interrupted calls -------------------------------------------------
 * A SIGALRM handler installed without SA_RESTART makes a blocked read or
 * write fail with EINTR (or return short); the helpers must carry on. */

static volatile sig_atomic_t alarms;
static struct sigaction old_alrm;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void interrupt_every_20ms(void)
{
    struct sigaction sa;
    struct itimerval it = { { 0, 20000 }, { 0, 20000 } };

    alarms = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;                       /* no SA_RESTART */
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old_alrm), 0);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void stop_interrupting(void)
{
    struct itimerval off = { { 0, 0 }, { 0, 0 } };

    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old_alrm, NULL);
}

START_TEST(a_read_interrupted_by_signals_is_resumed)
{
    unsigned char out[64], in[64];
    apr_status_t rv;
    pid_t pid;

    pattern(out, sizeof(out));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        usleep(150000);
        sp_write_full(fds[1], out, 10);
        usleep(150000);
        sp_write_full(fds[1], out + 10, sizeof(out) - 10);
        _exit(0);
    }
    close_end(1);
    memset(in, 0, sizeof(in));
    interrupt_every_20ms();
    rv = sp_read_full(fds[0], in, sizeof(in));
    stop_interrupting();
    ck_assert_int_eq(child_status(pid), 0);
    ck_assert_int_eq(rv, APR_SUCCESS);
    ck_assert_int_gt(alarms, 2);
    ck_assert_mem_eq(in, out, sizeof(out));
}
END_TEST

START_TEST(a_write_interrupted_by_signals_is_resumed)
{
    apr_size_t len = 256 * 1024, filled = 0;
    unsigned char *out = apr_palloc(unit_pool, len);
    unsigned char junk[4096];
    apr_status_t rv;
    ssize_t n;
    pid_t pid;
    int fl;

    /* Fill the pipe so that the write blocks from its first byte. */
    memset(junk, 'j', sizeof(junk));
    fl = fcntl(fds[1], F_GETFL);
    ck_assert_int_eq(fcntl(fds[1], F_SETFL, fl | O_NONBLOCK), 0);
    while ((n = write(fds[1], junk, sizeof(junk))) > 0) {
        filled += (apr_size_t)n;
    }
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(fcntl(fds[1], F_SETFL, fl), 0);
    pattern(out, len);

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Drain slowly, so that signals also land after the writer has
         * moved some bytes (short writes); exit 0 only if every byte
         * came, in order. */
        unsigned char *got = malloc(filled + len);
        apr_size_t i, off, piece;

        close(fds[1]);
        usleep(150000);
        if (got == NULL) {
            _exit(1);
        }
        for (off = 0; off < filled + len; off += piece) {
            piece = filled + len - off < 8192 ? filled + len - off : 8192;
            if (sp_read_full(fds[0], got + off, piece) != APR_SUCCESS) {
                _exit(1);
            }
            usleep(2000);
        }
        for (i = 0; i < filled; i++) {
            if (got[i] != 'j') {
                _exit(2);
            }
        }
        _exit(memcmp(got + filled, out, len) == 0 ? 0 : 3);
    }
    close_end(0);
    interrupt_every_20ms();
    rv = sp_write_full(fds[1], out, len);
    stop_interrupting();
    close_end(1);
    ck_assert_int_eq(rv, APR_SUCCESS);
    ck_assert_int_gt(alarms, 2);
    ck_assert_int_eq(child_status(pid), 0);
}
END_TEST

Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("pipes");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_checked_fixture(tc, pipe_setup, pipe_teardown);
    tcase_add_test(tc, a_small_buffer_goes_through_a_pipe_unchanged);
    tcase_add_test(tc, a_buffer_larger_than_the_pipe_goes_through_unchanged);
    tcase_add_test(tc, eof_before_the_first_byte_is_apr_eof);
    tcase_add_test(tc, eof_part_way_is_sp_eclosed);
    tcase_add_test(tc, a_write_to_a_pipe_whose_reader_closed_gives_epipe);
    tcase_add_test(tc, a_bad_descriptor_gives_its_errno);
    tcase_add_test(tc, a_read_interrupted_by_signals_is_resumed);
    tcase_add_test(tc, a_write_interrupted_by_signals_is_resumed);
    suite_add_tcase(s, tc);
    return s;
}
