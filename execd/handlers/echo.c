/*
 * echo.c -- streams the request body back as the reply body.
 *
 *     Service /echo module:.../echo.so echo_handler
 *
 * The reply carries the request's Content-Type (application/octet-stream
 * if it had none) and is copied 64 KiB at a time, so any body size runs
 * in constant memory.  With ?id=X the reply carries "X-Request-Id: X",
 * and a request without a body gets "id=X\n": tests use it to prove that
 * each reply reached the request that asked for it.
 */
#include <string.h>

#include "execd_api.h"

#define ECHO_CHUNK (64 * 1024)
#define ID_MAX     200

int echo_handler(execd_request *r);

/* The raw value of `name` in the query string, copied into buf (cut to
 * size - 1 bytes); 0 if the parameter is absent. */
static int copy_body(execd_request *r, char *buf, ssize_t n)
{
    while (n > 0) {
        if (execd_write(r, buf, (size_t)n) < 0) {
            return EXECD_ABORTED;
        }
        n = execd_read(r, buf, ECHO_CHUNK);
    }
    return n < 0 ? EXECD_ABORTED : 0;
}

int echo_handler(execd_request *r)
{
    const char *ct = execd_header(r, "Content-Type");
    char id[ID_MAX + 1];
    int has_id = execd_query_copy(r, "id", id, sizeof(id));
    char *buf = execd_alloc(r, ECHO_CHUNK);
    ssize_t n;

    if (has_id) {
        execd_add_header(r, "X-Request-Id", id);
    }
    n = execd_read(r, buf, ECHO_CHUNK);
    if (n < 0) {
        return EXECD_ABORTED;
    }
    if (n == 0 && has_id) {
        execd_set_header(r, "Content-Type", "text/plain");
        return execd_printf(r, "id=%s\n", id) < 0 ? EXECD_ABORTED : 0;
    }
    execd_set_header(r, "Content-Type", ct ? ct : "application/octet-stream");
    return copy_body(r, buf, n);
}
