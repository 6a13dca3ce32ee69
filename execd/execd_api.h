/*
 * execd_api.h -- the API for C handlers run by execd.
 *
 * A handler is a function in a shared object, named in execd.conf:
 *
 *     Service /app/hello  module:/usr/local/lib/execd/hello.so  hello_handler
 *
 * execd calls it once per request in a worker process:
 *
 *     int hello_handler(execd_request *r)
 *     {
 *         execd_set_header(r, "Content-Type", "text/plain");
 *         return execd_puts(r, "hello, world\n") < 0 ? EXECD_ABORTED : 0;
 *     }
 *
 * The request body is read as a stream (execd_read), the reply is written
 * as a stream (execd_write, execd_flush).  The status and headers are sent
 * with the first body byte, the first flush or the return, whichever comes
 * first; after that they can no longer change.  Everything a handler
 * allocates with execd_pool(r) is freed after the request.
 *
 * Return 0 when the reply is complete.  Return an HTTP status (400-599) to
 * have execd send a plain error reply instead, if nothing was sent yet.
 * Return EXECD_ABORTED once a call has failed (the client went away or the
 * request timed out): execd then abandons the stream.
 *
 * Handlers must be reentrant only with themselves: a worker runs one
 * request at a time.  They must not call exit() or install signal
 * handlers for SIGTERM/SIGHUP/SIGALRM.
 */
#ifndef EXECD_API_H
#define EXECD_API_H

#include <stddef.h>
#include <sys/types.h>

#define EXECD_API_VERSION 1
#define EXECD_ABORTED (-1)

typedef struct execd_request execd_request;
typedef int (*execd_handler_fn)(execd_request *r);

/* Request line and connection facts.  Never NULL (empty string if none),
 * except execd_remote_user which is NULL when not authenticated. */
const char *execd_method(execd_request *r);       /* "GET" */
const char *execd_path(execd_request *r);         /* "/app/hello" */
const char *execd_query(execd_request *r);        /* "a=1" or "" */
const char *execd_protocol(execd_request *r);     /* "HTTP/1.1" */
const char *execd_remote_addr(execd_request *r);
const char *execd_remote_user(execd_request *r);
const char *execd_request_id(execd_request *r);
/* The Service prefix that matched ("/app/hello"). */
const char *execd_service_prefix(execd_request *r);

/* Query parameters.  execd_query_param: the first value of `name`, with
 * %XX and '+' decoded, or NULL if the query has none (memory of the
 * request).  execd_query_copy: the same into buf (cut to size - 1 bytes);
 * 1 if present, 0 if not.  execd_query_long: a non-negative integer
 * parameter in [min, max]; dflt if absent, -1 if not such a number. */
const char *execd_query_param(execd_request *r, const char *name);
int execd_query_copy(execd_request *r, const char *name, char *buf,
                     size_t size);
long execd_query_long(execd_request *r, const char *name, long min, long max,
                      long dflt);

/* Any request field: an HTTP header by name, case-insensitive ("Host"),
 * or a pseudo field (":server-name", ":remote-port", ":scheme", ...).
 * The first value, or NULL. */
const char *execd_header(execd_request *r, const char *name);

/* Calls fn for every field in order (pseudo fields first, then headers,
 * repeated ones as often as they came).  Stops early if fn returns
 * non-zero, and returns that value. */
int execd_header_each(execd_request *r,
                      int (*fn)(void *baton, const char *name,
                                const char *value),
                      void *baton);

/* Reads up to len body bytes.  Returns the count, 0 at the end of the
 * body, or -1 if the client went away or the request timed out. */
ssize_t execd_read(execd_request *r, void *buf, size_t len);

/* Reply head: allowed until the head has been sent. -1 if too late. */
int execd_set_status(execd_request *r, int status);
/* Adds a header (several with one name are kept: Set-Cookie). */
int execd_add_header(execd_request *r, const char *name, const char *value);
/* Replaces every header of that name. */
int execd_set_header(execd_request *r, const char *name, const char *value);

/* Writes body bytes.  0 on success, -1 if the client went away or the
 * request timed out (stop and return EXECD_ABORTED). */
int execd_write(execd_request *r, const void *buf, size_t len);
int execd_puts(execd_request *r, const char *s);
int execd_printf(execd_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sends what was written so far to the client now. */
int execd_flush(execd_request *r);

/* Non-zero once the client has gone away or the request was abandoned. */
int execd_aborted(execd_request *r);

/* Memory freed after the request. */
void *execd_alloc(execd_request *r, size_t len);
/* The request pool, for handlers that use APR (an apr_pool_t *). */
void *execd_pool(execd_request *r);

/* Writes a line to execd's error log, tagged with the request id. */
void execd_log(execd_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
