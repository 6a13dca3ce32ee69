/*
 * slotproxy.h -- what the parts of mod_slotproxy share.
 *
 *   slotproxy_conf.c     directives, per-server configuration
 *   slotproxy_handler.c  one request: its slot, head and body out, reply in
 *   slotproxy_daemon.c   the proxy child: started, watched and restarted
 *                        by the Apache parent; carries every slot's
 *                        streams over the links to the backends
 *   mod_slotproxy.c      the directive table, hooks and module record
 *
 * Log tags: SPX0001-SPX0999 in this module; SPnnnn come from common/.
 */
#ifndef SLOTPROXY_H
#define SLOTPROXY_H

#include "httpd.h"
#include "http_config.h"

#include "sp_auth.h"
#include "sp_table.h"
#include "sp_tls.h"

extern module AP_MODULE_DECLARE_DATA slotproxy_module;

#define SLOTPROXY_HANDLER_PREFIX "slotproxy:"
#define SLOTPROXY_DEFAULT_TIMEOUT apr_time_from_sec(60)
#define SLOTPROXY_EXTRA_SLOTS 64   /* for requests that share a thread (h2) */

typedef struct slotproxy_backend_t {
    const char     *name;
    const char     *url;        /* as configured */
    int             is_unix;
    const char     *host;
    apr_port_t      port;
    const char     *path;       /* unix socket */
    int             links;      /* persistent links to keep open */
    apr_sockaddr_t *addr;       /* resolved at post_config */
    int             use_tls;    /* tls://HOST:PORT */
    sp_tls_t       *tls;        /* made at post_config */
} slotproxy_backend_t;

typedef struct slotproxy_pass_t {
    const char *prefix;
    const char *backend;
} slotproxy_pass_t;

typedef struct slotproxy_server_conf_t {
    apr_array_header_t *backends;     /* slotproxy_backend_t (main server) */
    apr_array_header_t *passes;       /* slotproxy_pass_t */
    const char         *secret_file;
    apr_size_t          slot_size;    /* 0 = unset */
    apr_interval_time_t timeout;      /* -1 = unset */
    sp_tls_conf_t       tls;          /* for tls:// backends */
    int                 batch_sched;  /* SlotProxyBatchScheduling, -1 unset */
} slotproxy_server_conf_t;

/* The generation's shared state, made by post_config in the parent. */
typedef struct slotproxy_global_t {
    sp_table_t         *table;
    sp_secret_t         secret;
    apr_array_header_t *backends;     /* of the main server */
    apr_size_t          slot_size;
    int                 batch_sched;  /* the proxy child runs SCHED_BATCH */
    pid_t               proxy_pid;
    server_rec         *s;
    apr_pool_t         *pconf;
} slotproxy_global_t;

extern slotproxy_global_t *slotproxy_global;

/* slotproxy_conf.c */
void *slotproxy_create_server_conf(apr_pool_t *p, server_rec *s);
void *slotproxy_merge_server_conf(apr_pool_t *p, void *base, void *add);
const char *slotproxy_cmd_backend(cmd_parms *cmd, void *dc, int argc,
                                  char *const argv[]);
const char *slotproxy_cmd_pass(cmd_parms *cmd, void *dc, const char *prefix,
                               const char *backend);
const char *slotproxy_cmd_secret(cmd_parms *cmd, void *dc, const char *arg);
const char *slotproxy_cmd_slot_size(cmd_parms *cmd, void *dc,
                                    const char *arg);
const char *slotproxy_cmd_timeout(cmd_parms *cmd, void *dc, const char *arg);
const char *slotproxy_cmd_batch_sched(cmd_parms *cmd, void *dc, int on);
const char *slotproxy_cmd_tls_file(cmd_parms *cmd, void *dc, const char *arg);
int slotproxy_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s);
/* Index of the named backend in the main server's list, or -1. */
int slotproxy_backend_index(const char *name);
slotproxy_server_conf_t *slotproxy_sconf(server_rec *s);

/* slotproxy_handler.c */
int slotproxy_translate(request_rec *r);
int slotproxy_map_to_storage(request_rec *r);
int slotproxy_handler(request_rec *r);

/* slotproxy_daemon.c */
int slotproxy_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s);

#endif
