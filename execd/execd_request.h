/*
 * execd_request.h -- one request in an execd worker: the implementation
 * side of execd_api.h over the worker's slot channel.
 */
#ifndef EXECD_REQUEST_H
#define EXECD_REQUEST_H

#include <apr.h>
#include <apr_pools.h>

#include "execd_api.h"
#include "execd_conf.h"
#include "sp_chan.h"

typedef struct execd_served_t {
    int        status;      /* status sent (0 if nothing was sent) */
    apr_off_t  bytes_out;   /* body bytes sent */
    int        aborted;     /* stream was abandoned */
} execd_served_t;

/* Serves the request on channel c, whose first frame (the HEADERS that
 * began it) has not been read yet: reads the head, finds the Service,
 * runs its handler (module or CGI), completes or abandons the reply,
 * writes the access log line.  Allocates from p (a per-request pool the
 * caller clears).  Never returns before the channel is done with. */
void execd_serve(const execd_conf_t *conf, sp_chan_t *c, apr_pool_t *p,
                 execd_served_t *result);

/* For the CGI runner: the matched service and the path below its prefix. */
const execd_service_t *execd_request_service(execd_request *r);
/* The request timeout configured (microseconds). */
apr_interval_time_t execd_request_timeout(execd_request *r);
/* The worker's channel, to wait on aborts (used by the CGI runner). */
sp_chan_t *execd_request_chan(execd_request *r);

/* --- for the CGI runner, which pumps the body and the reply itself ---- */

/* execd_read without waiting: the count, 0 at the end of the body, -1 as
 * execd_read (client gone, timeout, body over LimitRequestBody), or -2 if
 * no body bytes are there right now. */
ssize_t execd_read_nb(execd_request *r, void *buf, size_t len);

/* Non-zero if the request is abandoned (client gone, proxy gave up, body
 * over the limit).  Looks at the channel without waiting. */
int execd_check_abort(execd_request *r);

/* Abandons the stream with `reason` (sp_reset_e), unless it already is:
 * the browser sees a broken reply, and later writes fail. */
void execd_request_abort(execd_request *r, uint32_t reason);

/* Non-zero once the reply head has gone out (too late for an error
 * reply). */
int execd_request_head_sent(execd_request *r);

#endif
