/*
 * execd_proc.c -- process chores: the User/Group to switch to, dropping
 * root, going to the background, the pid file.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#include "execd.h"
#include "execd_log.h"

apr_status_t execd_proc_resolve_user(execd_ctx_t *ctx, const char **err)
{
    const execd_conf_t *c = ctx->conf;
    struct passwd *pw;
    struct group *gr;

    ctx->switch_user = 0;
    if (geteuid() != 0 || !c->user) {
        return APR_SUCCESS;  /* not root: run as whoever started us */
    }
    pw = getpwnam(c->user);
    if (!pw) {
        *err = apr_psprintf(ctx->pool, "User %s: no such user", c->user);
        return APR_EINVAL;
    }
    ctx->uid = pw->pw_uid;
    ctx->gid = pw->pw_gid;
    if (c->group) {
        gr = getgrnam(c->group);
        if (!gr) {
            *err = apr_psprintf(ctx->pool, "Group %s: no such group",
                                c->group);
            return APR_EINVAL;
        }
        ctx->gid = gr->gr_gid;
    }
    ctx->switch_user = 1;
    return APR_SUCCESS;
}

apr_status_t execd_proc_drop_privileges(execd_ctx_t *ctx)
{
    if (!ctx->switch_user) {
        return APR_SUCCESS;
    }
    if (setgroups(0, NULL) != 0 || setgid(ctx->gid) != 0
        || setuid(ctx->uid) != 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        execd_log_error(EXECD_LOG_CRIT, "EXD0001", rv, "cannot switch to "
                        "user %s (uid %ld, gid %ld)", ctx->conf->user,
                        (long)ctx->uid, (long)ctx->gid);
        return rv;
    }
    return APR_SUCCESS;
}

apr_status_t execd_proc_daemonize(int keep_stderr)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    if (pid > 0) {
        _exit(0);
    }
    setsid();
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        if (!keep_stderr) {  /* or $(execd -f ...) would wait forever */
            dup2(fd, 2);
        }
        if (fd > 2) {
            close(fd);
        }
    }
    return APR_SUCCESS;
}

apr_status_t execd_proc_write_pidfile(execd_ctx_t *ctx)
{
    const char *path = ctx->conf->pid_file;
    char buf[32];
    int fd, n;

    if (!path) {
        return APR_SUCCESS;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        close(fd);
        return rv;
    }
    close(fd);
    return APR_SUCCESS;
}

void execd_proc_remove_pidfile(execd_ctx_t *ctx)
{
    if (ctx->conf->pid_file) {
        unlink(ctx->conf->pid_file);
    }
}

void execd_proc_signal(int sig, void (*fn)(int), int restart)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(sig, &sa, NULL);
}
