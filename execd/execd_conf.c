/*
 * execd_conf.c -- parses execd.conf into an execd_conf_t.
 *
 * Owns the directive table, the tokenizer (blanks separate arguments,
 * double quotes group them, '#' at the start of a word starts a comment)
 * and the checks on every value.  Parsing never touches the outside world
 * beyond reading the file and looking up User/Group names; loading the
 * handler modules and checking CGI targets is a separate step
 * (execd_conf_load_modules), so that a configuration can be checked
 * before privileges are dropped or workers exist.
 *
 * Every error is "FILE:LINE: what is wrong" with FILE as the caller gave
 * it, and execd refuses to start on the first one.
 */
#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <apr_dso.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "sp_errors.h"
#include "sp_table.h"
#include "execd_conf.h"
#include "execd_log.h"

#define CONF_FILE_MAX   (1024 * 1024)  /* a config file larger is a mistake */
#define CONF_ARGS_MAX   8              /* words on one line, directive too */
#define WORKERS_MAX     4096
#define SECONDS_MAX     86400
#define QUEUE_MAX       (1024 * 1024)

typedef struct parse_t {
    execd_conf_t *conf;
    apr_pool_t   *p;
    const char   *fname;      /* as given by the caller, for messages */
    int           line;
    int          *seen;       /* per directive: line it was first set on */
    int           queue_set;
} parse_t;

/* A directive handler: NULL on success or what is wrong (no prefix). */
typedef const char *(*directive_fn)(parse_t *ps, int argc, char **argv);

typedef struct directive_t {
    const char  *name;
    int          min_args;    /* arguments after the name */
    int          max_args;
    int          repeatable;
    directive_fn fn;
} directive_t;

/* --- values ------------------------------------------------------------ */

/* A decimal integer in [min, max] with an optional k/m/g multiplier when
 * `suffixes` is set: 0 on success, -1 otherwise. */
static int parse_num(const char *s, apr_int64_t min, apr_int64_t max,
                     int suffixes, apr_int64_t *out)
{
    apr_int64_t v = 0, mult = 1;
    const char *q = s;

    if (!apr_isdigit(*q)) {
        return -1;
    }
    for (; apr_isdigit(*q); q++) {
        if (v > (APR_INT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (*q - '0');
    }
    if (*q && suffixes && q[1] == '\0') {
        switch (apr_tolower(*q)) {
        case 'k': mult = 1024; break;
        case 'm': mult = 1024 * 1024; break;
        case 'g': mult = 1024 * 1024 * 1024; break;
        default:  return -1;
        }
        q++;
    }
    if (*q || v > APR_INT64_MAX / mult) {
        return -1;
    }
    v *= mult;
    if (v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *num_error(parse_t *ps, const char *what, const char *val,
                             apr_int64_t min, apr_int64_t max)
{
    return apr_psprintf(ps->p, "%s: '%s' is not a number from %" APR_INT64_T_FMT
                        " to %" APR_INT64_T_FMT, what, val, min, max);
}

static const char *set_int(parse_t *ps, const char *what, const char *val,
                           apr_int64_t min, apr_int64_t max, int *out)
{
    apr_int64_t v;

    if (parse_num(val, min, max, 0, &v) != 0) {
        return num_error(ps, what, val, min, max);
    }
    *out = (int)v;
    return NULL;
}

static const char *set_seconds(parse_t *ps, const char *what, const char *val,
                               apr_int64_t min, apr_interval_time_t *out)
{
    apr_int64_t v;

    if (parse_num(val, min, SECONDS_MAX, 0, &v) != 0) {
        return num_error(ps, what, val, min, SECONDS_MAX);
    }
    *out = apr_time_from_sec(v);
    return NULL;
}

/* A path relative to the configuration file's directory. */
static const char *resolve(parse_t *ps, const char *path, const char **out)
{
    char *merged;
    apr_status_t rv;

    if (*path == '\0') {
        return "empty path";
    }
    rv = apr_filepath_merge(&merged, ps->conf->dir, path, 0, ps->p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(ps->p, "bad path '%s'", path);
    }
    *out = merged;
    return NULL;
}

static int is_identifier(const char *s)
{
    if (!(apr_isalpha(*s) || *s == '_')) {
        return 0;
    }
    for (s++; *s; s++) {
        if (!(apr_isalnum(*s) || *s == '_')) {
            return 0;
        }
    }
    return 1;
}

/* --- directives -------------------------------------------------------- */

static const char *parse_listen_tcp(parse_t *ps, execd_listen_t *l,
                                    const char *spec)
{
    const char *colon, *host_end = NULL, *host = spec;
    apr_int64_t port;

    if (*spec == '[') {
        host_end = strchr(spec, ']');
        if (host_end == NULL || host_end[1] != ':' || host_end == spec + 1) {
            return apr_psprintf(ps->p, "Listen: bad address '%s' "
                                "(expected [v6addr]:port)", spec);
        }
        host = spec + 1;
        colon = host_end + 1;
    }
    else {
        colon = strrchr(spec, ':');
        if (colon == NULL || colon == spec || memchr(spec, ':',
                                                     colon - spec)) {
            return apr_psprintf(ps->p, "Listen: bad address '%s' (expected "
                                "host:port, [v6addr]:port or unix:/path)",
                                spec);
        }
        host_end = colon;
    }
    if (parse_num(colon + 1, 1, 65535, 0, &port) != 0) {
        return apr_psprintf(ps->p, "Listen: bad port in '%s' (1 to 65535)",
                            spec);
    }
    l->host = apr_pstrmemdup(ps->p, host, host_end - host);
    if (strcmp(l->host, "*") == 0) {
        l->host = NULL;    /* every address */
    }
    l->port = (apr_port_t)port;
    return NULL;
}

static const char *parse_listen_unix(parse_t *ps, execd_listen_t *l,
                                     const char *path)
{
    struct sockaddr_un sun;
    const char *msg;

    msg = resolve(ps, path, &l->path);
    if (msg != NULL) {
        return apr_pstrcat(ps->p, "Listen: ", msg, NULL);
    }
    if (strlen(l->path) >= sizeof(sun.sun_path)) {
        return apr_psprintf(ps->p, "Listen: socket path '%s' is longer than "
                            "%d bytes", l->path, (int)sizeof(sun.sun_path) - 1);
    }
    l->is_unix = 1;
    return NULL;
}

static const char *d_listen(parse_t *ps, int argc, char **argv)
{
    execd_listen_t *l, *o;
    const char *msg, *spec = argv[1];
    int i;

    l = apr_pcalloc(ps->p, sizeof(*l));
    l->spec = apr_pstrdup(ps->p, spec);
    if (argc > 2) {
        if (strcasecmp(argv[2], "tls") != 0) {
            return apr_psprintf(ps->p, "Listen: unknown option '%s' (the "
                                "only one is 'tls')", argv[2]);
        }
        if (strncasecmp(spec, "unix:", 5) == 0) {
            return "Listen: TLS is for TCP listeners (a UNIX socket is "
                   "protected by the file system)";
        }
        l->tls = 1;
    }
    if (strncasecmp(spec, "unix:", 5) == 0) {
        msg = parse_listen_unix(ps, l, spec + 5);
    }
    else {
        msg = parse_listen_tcp(ps, l, spec);
    }
    if (msg != NULL) {
        return msg;
    }
    for (i = 0; i < ps->conf->listens->nelts; i++) {
        o = &APR_ARRAY_IDX(ps->conf->listens, i, execd_listen_t);
        if (strcmp(o->spec, l->spec) == 0) {
            return apr_psprintf(ps->p, "Listen: '%s' is given twice", spec);
        }
    }
    APR_ARRAY_PUSH(ps->conf->listens, execd_listen_t) = *l;
    return NULL;
}

static const char *d_workers(parse_t *ps, int argc, char **argv)
{
    return set_int(ps, "Workers", argv[1], 1, WORKERS_MAX,
                   &ps->conf->workers);
}

static const char *d_user(parse_t *ps, int argc, char **argv)
{
    if (getpwnam(argv[1]) == NULL) {
        return apr_psprintf(ps->p, "User: no such user '%s'", argv[1]);
    }
    ps->conf->user = apr_pstrdup(ps->p, argv[1]);
    return NULL;
}

static const char *d_group(parse_t *ps, int argc, char **argv)
{
    if (getgrnam(argv[1]) == NULL) {
        return apr_psprintf(ps->p, "Group: no such group '%s'", argv[1]);
    }
    ps->conf->group = apr_pstrdup(ps->p, argv[1]);
    return NULL;
}

static const char *d_secret_file(parse_t *ps, int argc, char **argv)
{
    const char *msg = resolve(ps, argv[1], &ps->conf->secret_file);

    return msg ? apr_pstrcat(ps->p, "SecretFile: ", msg, NULL) : NULL;
}

static const char *d_slot_size(parse_t *ps, int argc, char **argv)
{
    apr_int64_t v;

    if (parse_num(argv[1], SP_SPACE_MIN, SP_SPACE_MAX, 1, &v) != 0) {
        return apr_psprintf(ps->p, "SlotSize: '%s' is not a size from %uk to "
                            "%um (bytes, or with a k or m suffix)", argv[1],
                            SP_SPACE_MIN / 1024, SP_SPACE_MAX / (1024 * 1024));
    }
    ps->conf->slot_size = (apr_size_t)v;
    return NULL;
}

static const char *d_timeout(parse_t *ps, int argc, char **argv)
{
    return set_seconds(ps, "Timeout", argv[1], 1, &ps->conf->timeout);
}

static const char *d_queue_size(parse_t *ps, int argc, char **argv)
{
    ps->queue_set = 1;
    return set_int(ps, "QueueSize", argv[1], 0, QUEUE_MAX,
                   &ps->conf->queue_size);
}

static const char *d_max_requests(parse_t *ps, int argc, char **argv)
{
    return set_int(ps, "MaxRequestsPerWorker", argv[1], 0, APR_INT32_MAX,
                   &ps->conf->max_requests_per_worker);
}

static const char *d_limit_body(parse_t *ps, int argc, char **argv)
{
    apr_int64_t v;

    if (parse_num(argv[1], 0, APR_INT64_MAX, 1, &v) != 0) {
        return apr_psprintf(ps->p, "LimitRequestBody: '%s' is not a size "
                            "(bytes, or with a k, m or g suffix; 0 = no "
                            "limit)", argv[1]);
    }
    ps->conf->limit_body = (apr_off_t)v;
    return NULL;
}

static const char *d_drain_timeout(parse_t *ps, int argc, char **argv)
{
    return set_seconds(ps, "DrainTimeout", argv[1], 0,
                       &ps->conf->drain_timeout);
}

static const char *d_batch_sched(parse_t *ps, int argc, char **argv)
{
    if (strcasecmp(argv[1], "on") == 0) {
        ps->conf->batch_sched = 1;
    }
    else if (strcasecmp(argv[1], "off") == 0) {
        ps->conf->batch_sched = 0;
    }
    else {
        return apr_psprintf(ps->p, "BatchScheduling: '%s' is neither On "
                            "nor Off", argv[1]);
    }
    return NULL;
}

static const char *check_prefix(parse_t *ps, const char *prefix)
{
    const char *seg;

    if (prefix[0] != '/') {
        return apr_psprintf(ps->p, "Service: prefix '%s' must start with "
                            "'/'", prefix);
    }
    if (strpbrk(prefix, "?#%") != NULL) {
        return apr_psprintf(ps->p, "Service: prefix '%s' must not contain "
                            "'?', '#' or '%%'", prefix);
    }
    for (seg = prefix; (seg = strstr(seg, "/.")) != NULL; seg++) {
        if (seg[2] == '\0' || seg[2] == '/'
            || (seg[2] == '.' && (seg[3] == '\0' || seg[3] == '/'))) {
            return apr_psprintf(ps->p, "Service: prefix '%s' must not "
                                "contain '.' or '..' segments", prefix);
        }
    }
    return NULL;
}

static const char *check_duplicate(parse_t *ps, const char *prefix)
{
    execd_service_t *o;
    int i;

    for (i = 0; i < ps->conf->services->nelts; i++) {
        o = &APR_ARRAY_IDX(ps->conf->services, i, execd_service_t);
        if (strcmp(o->prefix, prefix) == 0) {
            return apr_psprintf(ps->p, "Service: prefix '%s' is already "
                                "configured at line %d", prefix, o->line);
        }
    }
    return NULL;
}

/* Module: "module:PATH SYMBOL"; CGI: "cgi:PATH". */
static const char *parse_target(parse_t *ps, execd_service_t *s, int argc,
                                char **argv)
{
    const char *t = argv[2], *path, *msg;
    apr_finfo_t fi;

    if (strncasecmp(t, "module:", 7) == 0) {
        if (argc != 4) {
            return "Service: a module: target needs a handler symbol "
                   "(Service PREFIX module:PATH SYMBOL)";
        }
        if (!is_identifier(argv[3])) {
            return apr_psprintf(ps->p, "Service: handler symbol '%s' is not "
                                "a C function name", argv[3]);
        }
        s->kind = EXECD_SVC_MODULE;
        s->symbol = apr_pstrdup(ps->p, argv[3]);
        path = t + 7;
    }
    else if (strncasecmp(t, "cgi:", 4) == 0) {
        if (argc != 3) {
            return "Service: a cgi: target takes no symbol "
                   "(Service PREFIX cgi:PATH)";
        }
        s->kind = EXECD_SVC_CGI;
        path = t + 4;
    }
    else {
        return apr_psprintf(ps->p, "Service: target '%s' must be "
                            "module:PATH or cgi:PATH", t);
    }
    msg = resolve(ps, path, &s->target);
    if (msg != NULL) {
        return apr_pstrcat(ps->p, "Service: ", msg, NULL);
    }
    /* best guess now; execd_conf_load_modules checks it for real */
    if (s->kind == EXECD_SVC_CGI) {
        s->target_is_dir = path[strlen(path) - 1] == '/'
            || (apr_stat(&fi, s->target, APR_FINFO_TYPE, ps->p) == APR_SUCCESS
                && fi.filetype == APR_DIR);
    }
    return NULL;
}

static const char *d_service(parse_t *ps, int argc, char **argv)
{
    execd_service_t *s;
    const char *msg;

    msg = check_prefix(ps, argv[1]);
    if (msg == NULL) {
        msg = check_duplicate(ps, argv[1]);
    }
    if (msg != NULL) {
        return msg;
    }
    s = apr_pcalloc(ps->p, sizeof(*s));
    s->prefix = apr_pstrdup(ps->p, argv[1]);
    s->file = ps->fname;
    s->line = ps->line;
    msg = parse_target(ps, s, argc, argv);
    if (msg != NULL) {
        return msg;
    }
    APR_ARRAY_PUSH(ps->conf->services, execd_service_t) = *s;
    return NULL;
}

static const char *d_pid_file(parse_t *ps, int argc, char **argv)
{
    const char *msg = resolve(ps, argv[1], &ps->conf->pid_file);

    return msg ? apr_pstrcat(ps->p, "PidFile: ", msg, NULL) : NULL;
}

static const char *d_error_log(parse_t *ps, int argc, char **argv)
{
    const char *msg = resolve(ps, argv[1], &ps->conf->error_log);

    return msg ? apr_pstrcat(ps->p, "ErrorLog: ", msg, NULL) : NULL;
}

static const char *d_access_log(parse_t *ps, int argc, char **argv)
{
    const char *msg = resolve(ps, argv[1], &ps->conf->access_log);

    return msg ? apr_pstrcat(ps->p, "AccessLog: ", msg, NULL) : NULL;
}

static const char *d_allow(parse_t *ps, int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        apr_ipsubnet_t *sub;
        char *ip = apr_pstrdup(ps->p, argv[i]);
        char *bits = strchr(ip, '/');
        if (bits) {
            *bits++ = '\0';
        }
        if (apr_ipsubnet_create(&sub, ip, bits, ps->p) != APR_SUCCESS) {
            return apr_psprintf(ps->p, "Allow: '%s' is not an address or a "
                                "network (192.0.2.1, 10.0.0.0/8, ::1)",
                                argv[i]);
        }
        APR_ARRAY_PUSH(ps->conf->allow, apr_ipsubnet_t *) = sub;
    }
    return NULL;
}

static const char *d_tls_file(parse_t *ps, const char *what,
                              const char *arg, const char **out)
{
    const char *msg = resolve(ps, arg, out);

    return msg ? apr_pstrcat(ps->p, what, ": ", msg, NULL) : NULL;
}

static const char *d_tls_cert(parse_t *ps, int argc, char **argv)
{
    return d_tls_file(ps, "TLSCertificateFile", argv[1],
                      &ps->conf->tls.cert_file);
}

static const char *d_tls_key(parse_t *ps, int argc, char **argv)
{
    return d_tls_file(ps, "TLSKeyFile", argv[1], &ps->conf->tls.key_file);
}

static const char *d_tls_ca(parse_t *ps, int argc, char **argv)
{
    return d_tls_file(ps, "TLSClientCAFile", argv[1],
                      &ps->conf->tls.ca_file);
}

static const char *d_log_level(parse_t *ps, int argc, char **argv)
{
    int level = execd_log_level_parse(argv[1]);

    if (level < 0) {
        return apr_psprintf(ps->p, "LogLevel: unknown level '%s' (emerg, "
                            "alert, crit, error, warn, notice, info or "
                            "debug)", argv[1]);
    }
    ps->conf->log_level = level;
    return NULL;
}

static const directive_t directives[] = {
    { "Listen",               1, 2, 1, d_listen },
    { "Allow",                1, 64, 1, d_allow },
    { "TLSCertificateFile",   1, 1, 0, d_tls_cert },
    { "TLSKeyFile",           1, 1, 0, d_tls_key },
    { "TLSClientCAFile",      1, 1, 0, d_tls_ca },
    { "Workers",              1, 1, 0, d_workers },
    { "User",                 1, 1, 0, d_user },
    { "Group",                1, 1, 0, d_group },
    { "SecretFile",           1, 1, 0, d_secret_file },
    { "SlotSize",             1, 1, 0, d_slot_size },
    { "Timeout",              1, 1, 0, d_timeout },
    { "QueueSize",            1, 1, 0, d_queue_size },
    { "MaxRequestsPerWorker", 1, 1, 0, d_max_requests },
    { "LimitRequestBody",     1, 1, 0, d_limit_body },
    { "DrainTimeout",         1, 1, 0, d_drain_timeout },
    { "BatchScheduling",      1, 1, 0, d_batch_sched },
    { "Service",              2, 3, 1, d_service },
    { "PidFile",              1, 1, 0, d_pid_file },
    { "ErrorLog",             1, 1, 0, d_error_log },
    { "AccessLog",            1, 1, 0, d_access_log },
    { "LogLevel",             1, 1, 0, d_log_level },
};
#define N_DIRECTIVES (int)(sizeof(directives) / sizeof(directives[0]))

/* --- the file ---------------------------------------------------------- */

/* Splits one line (modified in place) into words.  NULL or what is
 * wrong. */
static const char *tokenize(char *s, int *argc, char **argv)
{
    char *out;

    *argc = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r') {
            s++;
        }
        if (*s == '\0' || *s == '#') {
            return NULL;
        }
        if (*argc == CONF_ARGS_MAX) {
            return "too many arguments";
        }
        argv[(*argc)++] = out = s;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) {
                    s++;
                }
                *out++ = *s;
            }
            if (*s != '"') {
                return "unterminated double quote";
            }
            s++;
            if (*s && *s != ' ' && *s != '\t' && *s != '\r') {
                return "a closing double quote must end the word";
            }
        }
        else {
            while (*s && *s != ' ' && *s != '\t' && *s != '\r') {
                *out++ = *s++;
            }
        }
        if (*s) {
            s++;
        }
        *out = '\0';
    }
}

static const char *run_directive(parse_t *ps, int argc, char **argv)
{
    const directive_t *d;
    int i;

    for (i = 0; i < N_DIRECTIVES; i++) {
        if (strcasecmp(argv[0], directives[i].name) == 0) {
            break;
        }
    }
    if (i == N_DIRECTIVES) {
        return apr_psprintf(ps->p, "unknown directive '%s'", argv[0]);
    }
    d = &directives[i];
    if (argc - 1 < d->min_args || argc - 1 > d->max_args) {
        if (d->max_args > d->min_args) {
            return apr_psprintf(ps->p, "%s takes %d or %d arguments, not %d",
                                d->name, d->min_args, d->max_args, argc - 1);
        }
        return apr_psprintf(ps->p, "%s takes %d argument%s, not %d", d->name,
                            d->min_args, d->min_args == 1 ? "" : "s",
                            argc - 1);
    }
    if (!d->repeatable && ps->seen[i]) {
        return apr_psprintf(ps->p, "%s is already set at line %d", d->name,
                            ps->seen[i]);
    }
    ps->seen[i] = ps->line;
    return d->fn(ps, argc, argv);
}

static apr_status_t read_file(const char *path, apr_pool_t *p, char **text,
                              const char **err)
{
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    apr_size_t got;
    apr_status_t rv;
    char ebuf[128];

    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    }
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s:0: cannot read: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
        goto cleanup;
    }
    if (fi.size > CONF_FILE_MAX) {
        *err = apr_psprintf(p, "%s:0: larger than %d bytes", path,
                            CONF_FILE_MAX);
        rv = SP_ECONFIG;
        goto cleanup;
    }
    *text = apr_palloc(p, (apr_size_t)fi.size + 1);
    rv = apr_file_read_full(f, *text, (apr_size_t)fi.size, &got);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "%s:0: cannot read: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
        goto cleanup;
    }
    (*text)[got] = '\0';
    rv = strlen(*text) == got ? APR_SUCCESS : SP_ECONFIG;
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s:0: contains a NUL byte", path);
    }
cleanup:
    if (f != NULL) {
        apr_file_close(f);
    }
    return rv;
}

static const char *parse_text(parse_t *ps, char *text)
{
    char *argv[CONF_ARGS_MAX];
    char *next;
    const char *msg;
    int argc;

    for (; text != NULL; text = next) {
        next = strchr(text, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        else if (*text == '\0') {
            break;
        }
        ps->line++;
        msg = tokenize(text, &argc, argv);
        if (msg == NULL && argc > 0) {
            msg = run_directive(ps, argc, argv);
        }
        if (msg != NULL) {
            return msg;
        }
    }
    return NULL;
}

static const char *check_required(parse_t *ps)
{
    if (ps->conf->listens->nelts == 0) {
        return "no Listen directive (at least one is required)";
    }
    if (ps->conf->secret_file == NULL) {
        return "no SecretFile directive (it is required)";
    }
    {
        int i, tls = 0;
        for (i = 0; i < ps->conf->listens->nelts; i++) {
            tls |= APR_ARRAY_IDX(ps->conf->listens, i, execd_listen_t).tls;
        }
        if (tls && (!ps->conf->tls.cert_file || !ps->conf->tls.key_file)) {
            return "a 'Listen ... tls' needs TLSCertificateFile and "
                   "TLSKeyFile";
        }
    }
    if (!ps->queue_set) {
        /* A burst larger than the pool waits rather than failing. */
        ps->conf->queue_size = ps->conf->workers * 64 > QUEUE_MAX
                               ? QUEUE_MAX : ps->conf->workers * 64;
    }
    return NULL;
}

static execd_conf_t *conf_defaults(apr_pool_t *p)
{
    execd_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->listens = apr_array_make(p, 2, sizeof(execd_listen_t));
    c->allow = apr_array_make(p, 2, sizeof(apr_ipsubnet_t *));
    c->services = apr_array_make(p, 8, sizeof(execd_service_t));
    c->workers = 4;
    c->slot_size = SP_SPACE_DEFAULT;
    c->timeout = apr_time_from_sec(60);
    c->drain_timeout = apr_time_from_sec(30);
    c->batch_sched = 1;
    c->log_level = EXECD_LOG_INFO;
    return c;
}

static apr_status_t set_location(execd_conf_t *c, const char *path,
                                 apr_pool_t *p, const char **err)
{
    char *abs, *slash;
    apr_status_t rv;

    rv = apr_filepath_merge(&abs, NULL, path, APR_FILEPATH_NOTRELATIVE, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s:0: cannot make an absolute path", path);
        return SP_ECONFIG;
    }
    c->file = abs;
    slash = strrchr(abs, '/');
    c->dir = slash == abs ? "/" : apr_pstrmemdup(p, abs, slash - abs);
    return APR_SUCCESS;
}

apr_status_t execd_conf_load(execd_conf_t **conf, const char *path,
                             apr_pool_t *p, const char **err)
{
    parse_t ps;
    char *text = NULL;
    const char *msg;
    apr_status_t rv;

    memset(&ps, 0, sizeof(ps));
    ps.conf = conf_defaults(p);
    ps.p = p;
    ps.fname = path;
    ps.seen = apr_pcalloc(p, sizeof(int) * N_DIRECTIVES);
    rv = set_location(ps.conf, path, p, err);
    if (rv == APR_SUCCESS) {
        rv = read_file(path, p, &text, err);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    msg = parse_text(&ps, text);
    if (msg == NULL) {
        msg = check_required(&ps);
    }
    if (msg != NULL) {
        *err = apr_psprintf(p, "%s:%d: %s", path, ps.line, msg);
        return SP_ECONFIG;
    }
    *conf = ps.conf;
    return APR_SUCCESS;
}

/* --- after parsing ----------------------------------------------------- */

static apr_status_t load_module(execd_service_t *s, apr_pool_t *p,
                                const char **err)
{
    apr_dso_handle_t *h = NULL;
    apr_dso_handle_sym_t sym;
    apr_status_t rv;
    char ebuf[512];

    rv = apr_dso_load(&h, s->target, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s:%d: cannot load module %s: %s", s->file,
                            s->line, s->target,
                            h ? apr_dso_error(h, ebuf, sizeof(ebuf))
                              : apr_strerror(rv, ebuf, sizeof(ebuf)));
        return SP_ECONFIG;
    }
    rv = apr_dso_sym(&sym, h, s->symbol);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s:%d: no symbol %s in module %s: %s",
                            s->file, s->line, s->symbol, s->target,
                            apr_dso_error(h, ebuf, sizeof(ebuf)));
        return SP_ECONFIG;
    }
    s->fn = (execd_handler_fn)sym;
    return APR_SUCCESS;
}

static apr_status_t check_cgi(execd_service_t *s, apr_pool_t *p,
                              const char **err)
{
    apr_finfo_t fi;
    apr_status_t rv;
    char ebuf[128];

    rv = apr_stat(&fi, s->target, APR_FINFO_TYPE | APR_FINFO_PROT, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s:%d: CGI target %s: %s", s->file, s->line,
                            s->target, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return SP_ECONFIG;
    }
    if (fi.filetype == APR_DIR) {
        s->target_is_dir = 1;
        return APR_SUCCESS;
    }
    s->target_is_dir = 0;
    if (fi.filetype != APR_REG) {
        *err = apr_psprintf(p, "%s:%d: CGI target %s is neither a directory "
                            "nor a regular file", s->file, s->line, s->target);
        return SP_ECONFIG;
    }
    if (!(fi.protection & (APR_UEXECUTE | APR_GEXECUTE | APR_WEXECUTE))) {
        *err = apr_psprintf(p, "%s:%d: CGI script %s is not executable",
                            s->file, s->line, s->target);
        return SP_ECONFIG;
    }
    return APR_SUCCESS;
}

apr_status_t execd_conf_load_modules(execd_conf_t *conf, apr_pool_t *p,
                                     const char **err)
{
    execd_service_t *s;
    apr_status_t rv;
    int i;

    for (i = 0; i < conf->services->nelts; i++) {
        s = &APR_ARRAY_IDX(conf->services, i, execd_service_t);
        rv = s->kind == EXECD_SVC_MODULE ? load_module(s, p, err)
                                         : check_cgi(s, p, err);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

int execd_conf_allows(const execd_conf_t *conf, apr_sockaddr_t *sa)
{
    int i;

    if (conf->allow->nelts == 0) {
        return 1;
    }
#if APR_HAVE_SOCKADDR_UN
    if (sa->family == APR_UNIX) {
        return 1;
    }
#endif
    for (i = 0; i < conf->allow->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(conf->allow, i, apr_ipsubnet_t *),
                              sa)) {
            return 1;
        }
    }
    return 0;
}

const execd_service_t *execd_conf_find_service(const execd_conf_t *conf,
                                               const char *path)
{
    const execd_service_t *s, *best = NULL;
    apr_size_t plen, best_len = 0;
    int i;

    for (i = 0; i < conf->services->nelts; i++) {
        s = &APR_ARRAY_IDX(conf->services, i, execd_service_t);
        plen = strlen(s->prefix);
        if (plen <= best_len || strncmp(path, s->prefix, plen) != 0) {
            continue;
        }
        if (s->prefix[plen - 1] != '/' && path[plen] != '\0'
            && path[plen] != '/') {
            continue;
        }
        best = s;
        best_len = plen;
    }
    return best;
}
