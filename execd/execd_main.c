/*
 * execd_main.c -- command line and start-up of execd.
 *
 *   execd -f FILE   run with that configuration (default
 *                   /etc/execd/execd.conf), in the background
 *   execd -F        stay in the foreground, log to stderr
 *   execd -t        check the configuration (and modules) and exit
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_getopt.h>

#include "execd.h"
#include "execd_log.h"
#include "sp_errors.h"

#define DEFAULT_CONF "/etc/execd/execd.conf"

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-f config] [-F] [-t]\n"
            "  -f FILE  configuration file (default " DEFAULT_CONF ")\n"
            "  -F       stay in the foreground and log to stderr\n"
            "  -t       check the configuration and exit\n", argv0);
    return 2;
}

static int die(const char *what, apr_status_t rv)
{
    char buf[256];

    if (rv != APR_SUCCESS && rv != SP_ECONFIG) {
        fprintf(stderr, "execd: %s: %s\n", what, sp_strerror(rv, buf,
                                                            sizeof(buf)));
    }
    else {
        fprintf(stderr, "execd: %s\n", what);
    }
    return 1;
}

int main(int argc, const char *const *argv)
{
    const char *conf_path = DEFAULT_CONF, *err = NULL, *optarg;
    int test_only = 0, foreground = 0;
    execd_ctx_t ctx = { 0 };
    apr_getopt_t *opt;
    apr_status_t rv;
    char ch;

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    apr_pool_create(&ctx.pool, NULL);
    apr_pool_tag(ctx.pool, "execd");

    apr_getopt_init(&opt, ctx.pool, argc, argv);
    while ((rv = apr_getopt(opt, "f:Fth", &ch, &optarg)) == APR_SUCCESS) {
        switch (ch) {
        case 'f': conf_path = optarg; break;
        case 'F': foreground = 1; break;
        case 't': test_only = 1; break;
        default:  return usage(argv[0]);
        }
    }
    if (rv != APR_EOF || opt->ind != argc) {
        return usage(argv[0]);
    }
    ctx.foreground = foreground;

    if ((rv = execd_conf_load(&ctx.conf, conf_path, ctx.pool, &err)) != 0
        || (rv = execd_conf_load_modules(ctx.conf, ctx.pool, &err)) != 0) {
        return die(err ? err : conf_path, rv);
    }
    if ((rv = execd_proc_resolve_user(&ctx, &err)) != APR_SUCCESS) {
        return die(err, rv);
    }
    if ((rv = sp_secret_load(&ctx.secret, ctx.conf->secret_file, ctx.pool,
                             &err)) != APR_SUCCESS) {
        return die(err ? err : ctx.conf->secret_file, rv);
    }
    if (ctx.conf->tls.cert_file
        && (rv = sp_tls_create(&ctx.tls, SP_ROLE_SERVER, &ctx.conf->tls,
                               ctx.pool, &err)) != APR_SUCCESS) {
        return die(err, rv);
    }
    if (test_only) {
        printf("Syntax OK\n");
        return 0;
    }
    rv = execd_log_open(foreground ? NULL : ctx.conf->error_log,
                        ctx.conf->access_log, ctx.conf->log_level, ctx.pool);
    if (rv != APR_SUCCESS) {
        return die("cannot open the logs", rv);
    }
    if ((rv = execd_listen_all(&ctx, &err)) != APR_SUCCESS) {
        return die(err, rv);
    }
    if (!foreground && (rv = execd_proc_daemonize(ctx.conf->error_log == NULL))
                           != APR_SUCCESS) {
        return die("cannot go to the background", rv);
    }
    if ((rv = execd_proc_write_pidfile(&ctx)) != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_ERR, "EXD0002", rv, "cannot write the pid "
                        "file %s", ctx.conf->pid_file);
        return 1;
    }
    return execd_master_run(&ctx);
}
