/*
 * stream.c -- writes lines one at a time, flushing each, to show that a
 * reply reaches the browser while the handler is still running.
 *
 *     Service /stream module:.../stream.so stream_handler
 *
 * ?lines=N (default 5) lines "line 1\n" ... "line N\n", ?interval_ms=M
 * (default 200) between them.  ?gate=NAME ([A-Za-z0-9_-]{1,64}) holds the
 * rest of the reply after the first line until /tmp/execd-gate-NAME
 * exists (at most 30 s): a test reads the first line, then creates the
 * file, which proves the line was not held back until the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "execd_api.h"

#define LINES_MAX     1000000
#define INTERVAL_MAX  60000
#define GATE_NAME_MAX 64
#define GATE_WAIT_MS  30000
#define NAP_MS        20

int stream_handler(execd_request *r);

/* The gate name, checked so that it can only name a file in /tmp. */
static int gate_name(execd_request *r, char *name, size_t size)
{
    char v[GATE_NAME_MAX + 2];
    size_t i, n;

    if (!execd_query_copy(r, "gate", v, sizeof(v))) {
        return 0;
    }
    n = strlen(v);
    if (n == 0 || n > GATE_NAME_MAX) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z')
              || (v[i] >= '0' && v[i] <= '9') || v[i] == '_'
              || v[i] == '-')) {
            return -1;
        }
    }
    snprintf(name, size, "/tmp/execd-gate-%s", v);
    return 1;
}

static void nap(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Sleeps ms, waking to see whether the client is still there. */
static int pause_for(execd_request *r, long ms)
{
    while (ms > 0) {
        if (execd_aborted(r)) {
            return -1;
        }
        nap(ms < NAP_MS ? ms : NAP_MS);
        ms -= NAP_MS;
    }
    return execd_aborted(r) ? -1 : 0;
}

static int wait_gate(execd_request *r, const char *path)
{
    long waited;

    for (waited = 0; access(path, F_OK) != 0; waited += NAP_MS) {
        if (waited >= GATE_WAIT_MS) {
            execd_log(r, "gate %s did not open in %d s, going on", path,
                      GATE_WAIT_MS / 1000);
            return 0;
        }
        if (pause_for(r, NAP_MS) != 0) {
            return -1;
        }
    }
    return 0;
}

int stream_handler(execd_request *r)
{
    long lines = execd_query_long(r, "lines", 0, LINES_MAX, 5);
    long interval = execd_query_long(r, "interval_ms", 0, INTERVAL_MAX, 200);
    char gate[GATE_NAME_MAX + 32];
    int has_gate = gate_name(r, gate, sizeof(gate));
    long i;

    if (lines < 0 || interval < 0 || has_gate < 0) {
        return 400;
    }
    execd_set_header(r, "Content-Type", "text/plain; charset=utf-8");
    execd_set_header(r, "Cache-Control", "no-cache");
    for (i = 1; i <= lines; i++) {
        if (execd_printf(r, "line %ld\n", i) < 0 || execd_flush(r) < 0) {
            return EXECD_ABORTED;
        }
        if (i == lines) {
            break;
        }
        if ((i == 1 && has_gate ? wait_gate(r, gate)
                                : pause_for(r, interval)) != 0) {
            return EXECD_ABORTED;
        }
    }
    return 0;
}
