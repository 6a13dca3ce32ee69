/*
 * hello.c -- the smallest execd handler: "hello, world\n" as text/plain.
 *
 *     Service /hello module:/usr/local/lib/execd/hello.so hello_handler
 *
 * It is the reference for the handler API and the request the benchmarks
 * use to measure the cost of the path itself (13 bytes, Content-Length
 * known, nothing read).
 */
#include "execd_api.h"

int hello_handler(execd_request *r);

int hello_handler(execd_request *r)
{
    execd_set_header(r, "Content-Type", "text/plain");
    execd_set_header(r, "Content-Length", "13");
    return execd_puts(r, "hello, world\n") < 0 ? EXECD_ABORTED : 0;
}
