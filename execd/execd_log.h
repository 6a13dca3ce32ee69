/*
 * execd_log.h -- execd's error log and access log.
 *
 * Error log lines look like httpd's:
 *   [Tue Nov 24 01:02:03.123456 2026] [error] [pid 1234] EXD0042: what happened: reason
 * Each call site has its own tag EXDnnnn, never reused.  Lines are written
 * with a single write(2) on an O_APPEND descriptor so that processes do not
 * interleave partial lines.
 */
#ifndef EXECD_LOG_H
#define EXECD_LOG_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

typedef enum {
    EXECD_LOG_EMERG = 0, EXECD_LOG_ALERT, EXECD_LOG_CRIT, EXECD_LOG_ERR,
    EXECD_LOG_WARN, EXECD_LOG_NOTICE, EXECD_LOG_INFO, EXECD_LOG_DEBUG
} execd_log_level_e;

/* Opens the logs (NULL error_log = stderr).  Can be called again after a
 * reload to reopen.  APR errors are returned. */
apr_status_t execd_log_open(const char *error_log, const char *access_log,
                            int level, apr_pool_t *p);

int  execd_log_level(void);
/* Parses "debug", "info", ... : the level or -1. */
int  execd_log_level_parse(const char *name);

/* Logs a line if level is enabled.  tag is "EXDnnnn"; rv != APR_SUCCESS
 * appends ": " and its description (sp_strerror). */
void execd_log_error(int level, const char *tag, apr_status_t rv,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One access log line in combined format:
 * addr - user [time] "METHOD path?query PROTO" status bytes "referer" "ua" */
void execd_log_access(const char *remote_addr, const char *remote_user,
                      apr_time_t when, const char *method, const char *path,
                      const char *query, const char *protocol, int status,
                      apr_off_t bytes, const char *referer,
                      const char *user_agent);

/* The descriptor of the error log, to hand to CGI programs as stderr. */
int execd_log_error_fd(void);

#endif
