/*
 * crash.c -- handlers that misbehave on purpose, for the failure tests.
 *
 *     Service /crash module:.../crash.so crash_handler
 *     Service /sleep module:.../crash.so sleep_handler
 *
 * crash_handler calls abort(): the worker dies mid-request and the
 * browser must get a 502 (or, with ?after_head=1, after "partial" was
 * flushed, a visibly broken reply).  sleep_handler sleeps ?s=N seconds
 * (default 3600) before it answers "slept\n": it holds a worker for the
 * timeout (504) and overload (503) tests, and stops early when the
 * request is abandoned.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "execd_api.h"

#define SLEEP_MAX (7L * 24 * 3600)

int crash_handler(execd_request *r);
int sleep_handler(execd_request *r);

int crash_handler(execd_request *r)
{
    char v[8];

    if (execd_query_copy(r, "after_head", v, sizeof(v))
        && strcmp(v, "1") == 0) {
        execd_set_header(r, "Content-Type", "text/plain");
        execd_puts(r, "partial");
        execd_flush(r);
    }
    abort();
}

int sleep_handler(execd_request *r)
{
    struct timespec tenth = { 0, 100 * 1000000L };
    char v[32], *end;
    long s = 3600, i;

    if (execd_query_copy(r, "s", v, sizeof(v))) {
        s = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || s < 0 || s > SLEEP_MAX) {
            return 400;
        }
    }
    for (i = 0; i < s * 10; i++) {
        if (execd_aborted(r)) {
            return EXECD_ABORTED;
        }
        nanosleep(&tenth, NULL);
    }
    execd_set_header(r, "Content-Type", "text/plain");
    return execd_puts(r, "slept\n") < 0 ? EXECD_ABORTED : 0;
}
