/*
 * slotproxy_conf.c -- the directives of mod_slotproxy.
 *
 *   SlotProxyBackend NAME tcp://HOST:PORT | unix:/PATH [links=N]
 *   SlotProxyPass /prefix NAME
 *   SlotProxySecretFile PATH
 *   SlotProxySlotSize 128k
 *   SlotProxyTimeout SECONDS
 *   SlotProxyBatchScheduling On|Off
 *
 * Backends, the secret, the slot size and the proxy child's scheduling
 * belong to the whole instance (one proxy child, one slot table) and are
 * taken from the main server; passes and the timeout may differ per
 * virtual host.
 */
#include "httpd.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include "http_log.h"
#include "http_core.h"
#include "http_main.h"

#include "slotproxy.h"
#include "sp_errors.h"

APLOG_USE_MODULE(slotproxy);

slotproxy_server_conf_t *slotproxy_sconf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &slotproxy_module);
}

void *slotproxy_create_server_conf(apr_pool_t *p, server_rec *s)
{
    slotproxy_server_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->backends = apr_array_make(p, 4, sizeof(slotproxy_backend_t));
    c->passes = apr_array_make(p, 4, sizeof(slotproxy_pass_t));
    c->timeout = -1;
    c->batch_sched = -1;
    return c;
}

void *slotproxy_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    slotproxy_server_conf_t *base = basev, *add = addv;
    slotproxy_server_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->backends = base->backends;  /* instance-wide */
    c->passes = apr_array_append(p, add->passes, base->passes);
    c->secret_file = base->secret_file;
    c->slot_size = base->slot_size;
    c->tls = base->tls;
    c->batch_sched = base->batch_sched;
    c->timeout = add->timeout >= 0 ? add->timeout : base->timeout;
    return c;
}

static const char *parse_backend_url(apr_pool_t *p, slotproxy_backend_t *b)
{
    const char *u = b->url;

    if (strncmp(u, "unix:", 5) == 0) {
        b->is_unix = 1;
        b->path = u + 5;
        if (*b->path != '/') {
            return "the unix socket path must be absolute (unix:/run/...)";
        }
        return NULL;
    }
    if (strncmp(u, "tcp://", 6) == 0 || strncmp(u, "tls://", 6) == 0) {
        char *host = NULL, *scope = NULL;
        apr_port_t port = 0;
        b->use_tls = u[1] == 'l';
        if (apr_parse_addr_port(&host, &scope, &port, u + 6, p)
            != APR_SUCCESS || !host || port == 0) {
            return "expected tcp://HOST:PORT or tls://HOST:PORT";
        }
        b->host = host;
        b->port = port;
        return NULL;
    }
    return "the address must start with tcp://, tls:// or unix:";
}

const char *slotproxy_cmd_backend(cmd_parms *cmd, void *dc, int argc,
                                  char *const argv[])
{
    slotproxy_server_conf_t *c = slotproxy_sconf(cmd->server);
    slotproxy_backend_t *b;
    const char *why;
    int i;

    (void)dc;
    if (cmd->server->is_virtual) {
        return "SlotProxyBackend belongs in the main server configuration "
               "(one proxy serves the whole instance)";
    }
    if (argc < 2) {
        return "SlotProxyBackend needs a name and an address";
    }
    for (i = 0; i < c->backends->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(c->backends, i, slotproxy_backend_t).name,
                    argv[0])) {
            return apr_psprintf(cmd->pool, "SlotProxyBackend %s is defined "
                                "twice", argv[0]);
        }
    }
    b = apr_array_push(c->backends);
    memset(b, 0, sizeof(*b));
    b->name = argv[0];
    b->url = argv[1];
    b->links = 1;
    if ((why = parse_backend_url(cmd->pool, b)) != NULL) {
        return apr_psprintf(cmd->pool, "SlotProxyBackend %s %s: %s",
                            argv[0], argv[1], why);
    }
    for (i = 2; i < argc; i++) {
        if (strncasecmp(argv[i], "links=", 6) == 0) {
            char *end;
            long n = strtol(argv[i] + 6, &end, 10);
            if (*end || n < 1 || n > 64) {
                return apr_psprintf(cmd->pool, "SlotProxyBackend %s: links "
                                    "must be 1..64, not '%s'", argv[0],
                                    argv[i] + 6);
            }
            b->links = (int)n;
        }
        else {
            return apr_psprintf(cmd->pool, "SlotProxyBackend %s: unknown "
                                "option '%s' (known: links=N)", argv[0],
                                argv[i]);
        }
    }
    return NULL;
}

const char *slotproxy_cmd_pass(cmd_parms *cmd, void *dc, const char *prefix,
                               const char *backend)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(cmd->server);
    slotproxy_pass_t *ps;

    (void)dc;
    if (*prefix != '/') {
        return apr_psprintf(cmd->pool, "SlotProxyPass: the prefix '%s' must "
                            "start with /", prefix);
    }
    ps = apr_array_push(c->passes);
    ps->prefix = prefix;
    ps->backend = backend;
    return NULL;
}

const char *slotproxy_cmd_secret(cmd_parms *cmd, void *dc, const char *arg)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(cmd->server);

    (void)dc;
    if (cmd->server->is_virtual) {
        return "SlotProxySecretFile belongs in the main server configuration";
    }
    c->secret_file = ap_server_root_relative(cmd->pool, arg);
    if (!c->secret_file) {
        return apr_psprintf(cmd->pool, "SlotProxySecretFile: bad path '%s'",
                            arg);
    }
    return NULL;
}

const char *slotproxy_cmd_slot_size(cmd_parms *cmd, void *dc, const char *arg)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(cmd->server);
    apr_off_t n;

    (void)dc;
    if (cmd->server->is_virtual) {
        return "SlotProxySlotSize belongs in the main server configuration";
    }
    if (ap_parse_strict_length(&n, arg) && *arg) {
        /* plain number of bytes */
    }
    else {
        char *end;
        n = (apr_off_t)apr_strtoi64(arg, &end, 10);
        if (end == arg || n <= 0 || end[0] == '\0' || end[1] != '\0'
            || !strchr("kKmM", end[0])) {
            return apr_psprintf(cmd->pool, "SlotProxySlotSize: '%s' is not a "
                                "size (e.g. 65536, 64k or 1m)", arg);
        }
        n *= (end[0] == 'k' || end[0] == 'K') ? 1024 : 1024 * 1024;
    }
    if (n < (apr_off_t)SP_SPACE_MIN || n > (apr_off_t)SP_SPACE_MAX) {
        return apr_psprintf(cmd->pool, "SlotProxySlotSize: %s is out of "
                            "range (%uk to %um)", arg, SP_SPACE_MIN / 1024,
                            SP_SPACE_MAX / (1024 * 1024));
    }
    c->slot_size = (apr_size_t)n;
    return NULL;
}

const char *slotproxy_cmd_batch_sched(cmd_parms *cmd, void *dc, int on)
{
    (void)dc;
    if (cmd->server->is_virtual) {
        return "SlotProxyBatchScheduling belongs in the main server "
               "configuration";
    }
    slotproxy_sconf(cmd->server)->batch_sched = on;
    return NULL;
}

const char *slotproxy_cmd_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(cmd->server);
    char *end;
    long n = strtol(arg, &end, 10);

    (void)dc;
    if (end == arg || *end || n < 1 || n > 86400) {
        return apr_psprintf(cmd->pool, "SlotProxyTimeout: '%s' is not a "
                            "number of seconds (1..86400)", arg);
    }
    c->timeout = apr_time_from_sec(n);
    return NULL;
}

/* SlotProxyTLSCAFile, SlotProxyTLSCertificateFile, SlotProxyTLSKeyFile:
 * cmd->info says which. */
const char *slotproxy_cmd_tls_file(cmd_parms *cmd, void *dc, const char *arg)
{
    slotproxy_server_conf_t *c = slotproxy_sconf(cmd->server);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *which = cmd->info;

    (void)dc;
    if (cmd->server->is_virtual) {
        return apr_psprintf(cmd->pool, "%s belongs in the main server "
                            "configuration", cmd->cmd->name);
    }
    if (!path) {
        return apr_psprintf(cmd->pool, "%s: bad path '%s'", cmd->cmd->name,
                            arg);
    }
    if (*which == 'a') {
        c->tls.ca_file = path;
    }
    else if (*which == 'c') {
        c->tls.cert_file = path;
    }
    else {
        c->tls.key_file = path;
    }
    return NULL;
}

int slotproxy_backend_index(const char *name)
{
    server_rec *s = ap_server_conf;
    slotproxy_server_conf_t *c;
    int i;

    if (!s) {
        return -1;
    }
    c = slotproxy_sconf(s);
    for (i = 0; i < c->backends->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(c->backends, i, slotproxy_backend_t).name,
                   name) == 0) {
            return i;
        }
    }
    return -1;
}

/* Refuses to start on a pass to an unknown backend or an unusable secret. */
int slotproxy_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    slotproxy_server_conf_t *main_c = slotproxy_sconf(s);
    server_rec *vs;

    (void)pconf;
    (void)plog;
    for (vs = s; vs; vs = vs->next) {
        slotproxy_server_conf_t *c = slotproxy_sconf(vs);
        int i;
        for (i = 0; i < c->passes->nelts; i++) {
            slotproxy_pass_t *ps = &APR_ARRAY_IDX(c->passes, i,
                                                  slotproxy_pass_t);
            if (slotproxy_backend_index(ps->backend) < 0) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                             "SPX0001: SlotProxyPass %s %s: no "
                             "SlotProxyBackend named %s", ps->prefix,
                             ps->backend, ps->backend);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    if (main_c->backends->nelts > 0) {
        sp_secret_t secret;
        const char *why = NULL;
        apr_status_t rv;
        char buf[256];
        if (!main_c->secret_file) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "SPX0002: SlotProxyBackend is set but "
                         "SlotProxySecretFile is not: links need the shared "
                         "secret");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        rv = sp_secret_load(&secret, main_c->secret_file, ptemp, &why);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "SPX0003: SlotProxySecretFile %s: %s",
                         main_c->secret_file,
                         why ? why : sp_strerror(rv, buf, sizeof(buf)));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}
