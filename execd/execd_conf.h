/*
 * execd_conf.h -- execd's configuration file.
 *
 * One directive per line, '#' starts a comment, arguments separated by
 * blanks (double quotes group).  Relative paths are taken relative to the
 * directory of the configuration file.  Every error names the file, the
 * line and what is wrong, and execd refuses to start on one.
 */
#ifndef EXECD_CONF_H
#define EXECD_CONF_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_network_io.h>

#include "execd_api.h"
#include "sp_tls.h"

typedef enum { EXECD_SVC_MODULE = 1, EXECD_SVC_CGI = 2 } execd_svc_kind_e;

typedef struct execd_service_t {
    const char      *prefix;      /* URL path prefix, e.g. "/app/cgi/" */
    execd_svc_kind_e kind;
    const char      *target;      /* .so path, CGI directory or CGI file */
    const char      *symbol;      /* handler function (module only) */
    int              target_is_dir; /* CGI: directory of scripts */
    execd_handler_fn fn;          /* resolved by execd_conf_load_modules */
    const char      *file;        /* where it was configured */
    int              line;
} execd_service_t;

typedef struct execd_listen_t {
    const char     *spec;         /* as written: "127.0.0.1:7070", "unix:/p" */
    int             is_unix;
    const char     *path;         /* unix socket path */
    const char     *host;         /* tcp host */
    apr_port_t      port;         /* tcp port */
    int             tls;          /* "Listen ADDR:PORT tls" */
} execd_listen_t;

typedef struct execd_conf_t {
    const char          *file;        /* absolute path of the config file */
    const char          *dir;         /* its directory */
    apr_array_header_t  *listens;     /* execd_listen_t */
    int                  workers;     /* Workers, default 4 */
    const char          *user;        /* User, NULL = do not switch */
    const char          *group;       /* Group, NULL = user's group */
    const char          *secret_file; /* SecretFile (required) */
    apr_size_t           slot_size;   /* SlotSize, default 128k */
    apr_interval_time_t  timeout;     /* Timeout seconds, default 60 */
    int                  queue_size;  /* QueueSize, default 4 x Workers */
    int                  max_requests_per_worker; /* 0 = unlimited */
    apr_off_t            limit_body;  /* LimitRequestBody bytes, 0 = none */
    apr_interval_time_t  drain_timeout; /* DrainTimeout seconds, default 30 */
    int                  batch_sched; /* BatchScheduling: the proxy runs in
                                       * SCHED_BATCH (sp_sched.h), default On */
    apr_array_header_t  *services;    /* execd_service_t */
    const char          *pid_file;    /* PidFile */
    const char          *error_log;   /* ErrorLog, NULL = stderr */
    const char          *access_log;  /* AccessLog, NULL = none */
    int                  log_level;   /* LogLevel: EXECD_LOG_*, default info */
    apr_array_header_t  *allow;       /* Allow: apr_ipsubnet_t *; empty = any
                                       * address (TCP only; UNIX sockets are
                                       * guarded by the file system) */
    sp_tls_conf_t        tls;         /* TLSCertificateFile, TLSKeyFile,
                                       * TLSClientCAFile */
} execd_conf_t;

/* Parses the file.  On failure returns SP_ECONFIG (or the I/O error) and
 * sets *err to "FILE:LINE: what is wrong" (allocated in p). */
apr_status_t execd_conf_load(execd_conf_t **conf, const char *path,
                             apr_pool_t *p, const char **err);

/* Loads every module: service with apr_dso and resolves its symbol;
 * checks every CGI target exists.  Same error convention. */
apr_status_t execd_conf_load_modules(execd_conf_t *conf, apr_pool_t *p,
                                     const char **err);

/* Is a client at sa allowed by the Allow lists?  (1 if no Allow.) */
int execd_conf_allows(const execd_conf_t *conf, apr_sockaddr_t *sa);

/* The service whose prefix is the longest match for path, or NULL.  A
 * prefix ending in '/' matches paths below it; one without matches the
 * path itself and paths continuing with '/'. */
const execd_service_t *execd_conf_find_service(const execd_conf_t *conf,
                                               const char *path);

#endif
