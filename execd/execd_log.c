/*
 * execd_log.c -- execd's error log and access log.
 *
 * Owns the two log descriptors of this process and the line formats.
 * Every line is assembled in a bounded buffer on the stack and written
 * with one write(2) on an O_APPEND descriptor, so that the master, the
 * proxy and every worker can share one file without interleaving partial
 * lines.  Messages are cleaned of control characters (a peer-supplied
 * string can never start a forged line), and an overlong line is cut,
 * never split.
 *
 * The descriptors live as long as the process, not as long as a pool:
 * logging must keep working while pools are torn down.  Reopening (after
 * a reload) moves the new file onto the old descriptor number, so a
 * descriptor already handed to a CGI program stays meaningful.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "sp_errors.h"
#include "execd_log.h"

#define LOG_LINE_MAX  8192   /* one error log line, newline included */
#define ACC_LINE_MAX  16384  /* one access log line */

static int log_err_fd = STDERR_FILENO;
static int log_acc_fd = -1;
static int log_level  = EXECD_LOG_INFO;

static const char *const level_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

/* A bounded line under construction: appends past the end are dropped. */
typedef struct line_t {
    char       *buf;
    apr_size_t  len;
    apr_size_t  cap;   /* room kept for the trailing newline */
} line_t;

static void line_add(line_t *l, const char *s, apr_size_t n)
{
    if (n > l->cap - l->len) {
        n = l->cap - l->len;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_addf(line_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line_addf(line_t *l, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(l->buf + l->len, l->cap - l->len + 1, fmt, ap);
    va_end(ap);
    if (n > 0) {
        l->len += (apr_size_t)n > l->cap - l->len ? l->cap - l->len
                                                  : (apr_size_t)n;
    }
}

/* Appends s with control characters (and, if quoted, '"' and '\\')
 * escaped, so one log line stays one line and fields stay parseable. */
static void line_add_clean(line_t *l, const char *s, int quoted)
{
    char esc[8];

    for (; *s && l->len < l->cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", ch);
            line_add(l, esc, 4);
        }
        else if (quoted && (ch == '"' || ch == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)ch;
            line_add(l, esc, 2);
        }
        else {
            l->buf[l->len++] = (char)ch;
        }
    }
}

static void line_write(int fd, line_t *l)
{
    ssize_t n;

    l->buf[l->len++] = '\n';
    do {
        n = write(fd, l->buf, l->len);
    } while (n < 0 && errno == EINTR);
}

static apr_status_t open_append(const char *path, int *fd)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    return *fd < 0 ? APR_FROM_OS_ERROR(errno) : APR_SUCCESS;
}

/* Puts newfd in place of *slot, keeping *slot's number when it is one of
 * ours (not stdin/stdout/stderr and not unset). */
static void install_fd(int *slot, int newfd)
{
    if (*slot > STDERR_FILENO && *slot != newfd) {
        if (dup3(newfd, *slot, O_CLOEXEC) >= 0) {
            close(newfd);
            return;
        }
        close(*slot);
    }
    *slot = newfd;
}

apr_status_t execd_log_open(const char *error_log, const char *access_log,
                            int level, apr_pool_t *p)
{
    apr_status_t rv;
    int fd;

    if (level >= EXECD_LOG_EMERG && level <= EXECD_LOG_DEBUG) {
        log_level = level;
    }
    if (error_log == NULL) {
        if (log_err_fd > STDERR_FILENO) {
            close(log_err_fd);
        }
        log_err_fd = STDERR_FILENO;
    }
    else {
        rv = open_append(error_log, &fd);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        install_fd(&log_err_fd, fd);
    }
    if (access_log == NULL) {
        if (log_acc_fd >= 0) {
            close(log_acc_fd);
        }
        log_acc_fd = -1;
        return APR_SUCCESS;
    }
    rv = open_append(access_log, &fd);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    install_fd(&log_acc_fd, fd);
    return APR_SUCCESS;
}

int execd_log_level(void)
{
    return log_level;
}

int execd_log_level_parse(const char *name)
{
    int i;

    if (name == NULL) {
        return -1;
    }
    for (i = EXECD_LOG_EMERG; i <= EXECD_LOG_DEBUG; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(name, "err") == 0) {
        return EXECD_LOG_ERR;
    }
    if (strcasecmp(name, "warning") == 0) {
        return EXECD_LOG_WARN;
    }
    return -1;
}

int execd_log_error_fd(void)
{
    return log_err_fd;
}

/* "[Tue Nov 24 01:02:03.123456 2026] " in local time. */
static void add_error_time(line_t *l)
{
    apr_time_exp_t xt;

    apr_time_exp_lt(&xt, apr_time_now());
    line_addf(l, "[%s %s %02d %02d:%02d:%02d.%06d %d] ",
              apr_day_snames[xt.tm_wday], apr_month_snames[xt.tm_mon],
              xt.tm_mday, xt.tm_hour, xt.tm_min, xt.tm_sec, xt.tm_usec,
              xt.tm_year + 1900);
}

void execd_log_error(int level, const char *tag, apr_status_t rv,
                     const char *fmt, ...)
{
    char out[LOG_LINE_MAX];
    char msg[LOG_LINE_MAX];
    char why[256];
    line_t l = { out, 0, sizeof(out) - 1 };
    va_list ap;

    if (level > log_level) {
        return;
    }
    if (level < EXECD_LOG_EMERG) {
        level = EXECD_LOG_EMERG;
    }
    add_error_time(&l);
    line_addf(&l, "[%s] [pid %ld] %s: ", level_names[level], (long)getpid(),
              tag ? tag : "EXD----");
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    line_add_clean(&l, msg, 0);
    if (rv != APR_SUCCESS) {
        line_add(&l, ": ", 2);
        line_add_clean(&l, sp_strerror(rv, why, sizeof(why)), 0);
    }
    line_write(log_err_fd, &l);
}

/* "[24/Nov/2026:01:02:03 +0100]" in local time, as httpd's %t. */
static void add_access_time(line_t *l, apr_time_t when)
{
    apr_time_exp_t xt;
    long off;
    char sign;

    apr_time_exp_lt(&xt, when);
    off = xt.tm_gmtoff / 60;
    sign = off < 0 ? '-' : '+';
    if (off < 0) {
        off = -off;
    }
    line_addf(l, "[%02d/%s/%d:%02d:%02d:%02d %c%02ld%02ld]", xt.tm_mday,
              apr_month_snames[xt.tm_mon], xt.tm_year + 1900, xt.tm_hour,
              xt.tm_min, xt.tm_sec, sign, off / 60, off % 60);
}

/* A quoted field, "-" when absent. */
static void add_quoted(line_t *l, const char *s)
{
    line_add(l, " \"", 2);
    line_add_clean(l, s && *s ? s : "-", 1);
    line_add(l, "\"", 1);
}

void execd_log_access(const char *remote_addr, const char *remote_user,
                      apr_time_t when, const char *method, const char *path,
                      const char *query, const char *protocol, int status,
                      apr_off_t bytes, const char *referer,
                      const char *user_agent)
{
    char out[ACC_LINE_MAX];
    line_t l = { out, 0, sizeof(out) - 1 };

    if (log_acc_fd < 0) {
        return;
    }
    line_add_clean(&l, remote_addr && *remote_addr ? remote_addr : "-", 1);
    line_add(&l, " - ", 3);
    line_add_clean(&l, remote_user && *remote_user ? remote_user : "-", 1);
    line_add(&l, " ", 1);
    add_access_time(&l, when);
    line_add(&l, " \"", 2);
    line_add_clean(&l, method ? method : "-", 1);
    line_add(&l, " ", 1);
    line_add_clean(&l, path ? path : "-", 1);
    if (query && *query) {
        line_add(&l, "?", 1);
        line_add_clean(&l, query, 1);
    }
    line_add(&l, " ", 1);
    line_add_clean(&l, protocol && *protocol ? protocol : "-", 1);
    line_addf(&l, "\" %d ", status);
    if (bytes > 0) {
        line_addf(&l, "%" APR_OFF_T_FMT, bytes);
    }
    else {
        line_add(&l, "-", 1);
    }
    add_quoted(&l, referer);
    add_quoted(&l, user_agent);
    line_write(log_acc_fd, &l);
}
