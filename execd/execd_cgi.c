/*
 * execd_cgi.c -- runs a CGI/1.1 program (RFC 3875) as a handler.
 *
 * Owns one CGI run inside a worker: mapping the URL below the Service
 * prefix to a script (never outside the configured directory), the
 * meta-variables, the child process in its own process group, and the
 * pump between the request body, the child's pipes and the reply.
 *
 * The worker is single-threaded, and the slot channel cannot be polled
 * together with the pipes, so the pump alternates: a non-blocking look at
 * the request body (execd_read_nb), then poll() on the pipes with a short
 * timeout while body bytes are awaited and a longer one otherwise.  Body
 * in and reply out therefore both make progress, and a script that
 * answers before reading all of its input does not deadlock.
 *
 * Every run ends with the child reaped: a normal exit, or SIGTERM to the
 * process group and SIGKILL two seconds later when the client went away,
 * nothing happened for Timeout seconds, or the output was not CGI.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "sp_frame.h"
#include "sp_head.h"
#include "execd_cgi.h"
#include "execd_log.h"
#include "execd_request.h"

#define CGI_HEAD_MAX     (64 * 1024)  /* header block from the script */
#define CGI_IO_CHUNK     (64 * 1024)  /* pipe reads and writes */
#define CGI_IDLE_MAX_MS  16           /* poll backoff while awaiting body */
#define CGI_TICK_MS      100          /* poll when not awaiting body */
#define CGI_TERM_GRACE   apr_time_from_sec(2)
#define CGI_PATH_ENV     "PATH=/usr/local/bin:/usr/bin:/bin"

typedef struct cgi_script_t {
    const char *filename;     /* the program */
    const char *dir;          /* its directory: the child's cwd */
    const char *script_name;  /* SCRIPT_NAME: URL path of the script */
    const char *path_info;    /* PATH_INFO, decoded ("" if none) */
} cgi_script_t;

typedef struct cgi_field_t {
    const char *name;
    const char *value;
} cgi_field_t;

/* What the script's header block said. */
typedef struct cgi_head_t {
    int                 status;    /* 0 if no Status field */
    int                 has_location;
    apr_array_header_t *fields;    /* cgi_field_t to pass on */
} cgi_head_t;

typedef struct cgi_run_t {
    execd_request      *r;
    apr_pool_t         *p;
    const cgi_script_t *s;
    pid_t               pid;
    int                 reaped;
    int                 wstatus;
    int                 killed;      /* we sent SIGTERM */
    int                 in_fd;       /* child's stdin, -1 once closed */
    int                 out_fd;      /* child's stdout, -1 at EOF */
    char               *inbuf;       /* body bytes not yet in the pipe */
    apr_size_t          in_off, in_len;
    int                 body_done;   /* all body read, or dropped */
    char               *obuf;        /* header block, then body chunks */
    apr_size_t          olen;
    int                 head_done;
    int                 idle_ms;
    apr_interval_time_t timeout;
    apr_time_t          deadline;    /* moved on by every progress */
} cgi_run_t;

/* --- the script ---------------------------------------------------------- */

static int hexval(int c)
{
    return apr_isdigit(c) ? c - '0' : apr_tolower(c) - 'a' + 10;
}

/* %-decodes s.  NULL with *status 400 for a bad escape, 404 for an
 * encoded '/' or NUL (as httpd's AllowEncodedSlashes Off). */
static char *url_decode(apr_pool_t *p, const char *s, int *status)
{
    char *out = apr_palloc(p, strlen(s) + 1), *o = out;
    int c;

    for (; *s; s++) {
        if (*s != '%') {
            *o++ = *s;
            continue;
        }
        if (!apr_isxdigit(s[1]) || !apr_isxdigit(s[2])) {
            *status = 400;
            return NULL;
        }
        c = hexval(s[1]) * 16 + hexval(s[2]);
        if (c == '/' || c == 0) {
            *status = 404;
            return NULL;
        }
        *o++ = (char)c;
        s += 2;
    }
    *o = '\0';
    return out;
}

static int has_dotdot(const char *path)
{
    const char *q = path;

    for (; (q = strstr(q, "..")) != NULL; q++) {
        if ((q == path || q[-1] == '/') && (q[2] == '\0' || q[2] == '/')) {
            return 1;
        }
    }
    return 0;
}

/* The service prefix without a trailing '/'. */
static const char *prefix_base(apr_pool_t *p, const char *prefix)
{
    apr_size_t n = strlen(prefix);

    return prefix[n - 1] == '/' ? apr_pstrmemdup(p, prefix, n - 1) : prefix;
}

/* Splits the decoded rest of the path into script and PATH_INFO. */
static int map_in_dir(execd_request *r, const execd_service_t *svc,
                      const char *rest, cgi_script_t *s)
{
    apr_pool_t *p = execd_pool(r);
    const char *slash, *name;

    while (*rest == '/') {
        rest++;
    }
    slash = strchr(rest, '/');
    name = slash ? apr_pstrmemdup(p, rest, slash - rest) : rest;
    if (*name == '\0' || *name == '.') {
        execd_log_error(EXECD_LOG_INFO, "EXD1217", 0, "request %s %s: no "
                        "CGI script named (empty or hidden name '%s')",
                        execd_request_id(r), execd_path(r), name);
        return 404;
    }
    s->script_name = apr_pstrcat(p, prefix_base(p, svc->prefix), "/", name,
                                 NULL);
    s->path_info = slash ? slash : "";
    s->filename = apr_pstrcat(p, svc->target, "/", name, NULL);
    s->dir = svc->target;
    return 0;
}

static int map_file(execd_request *r, const execd_service_t *svc,
                    const char *rest, cgi_script_t *s)
{
    apr_pool_t *p = execd_pool(r);
    const char *slash = strrchr(svc->target, '/');

    s->script_name = prefix_base(p, svc->prefix);
    if (strcmp(s->script_name, "/") == 0) {
        s->script_name = "";
    }
    s->path_info = (*rest && *rest != '/') ? apr_pstrcat(p, "/", rest, NULL)
                                           : rest;
    s->filename = svc->target;
    s->dir = slash == svc->target ? "/"
           : apr_pstrmemdup(p, svc->target, slash - svc->target);
    return 0;
}

/* The program must be a regular, executable file. */
static int check_program(execd_request *r, const cgi_script_t *s)
{
    struct stat st;
    const char *why = NULL;
    int status = 0;

    if (stat(s->filename, &st) != 0) {
        why = "does not exist";
        status = 404;
    }
    else if (!S_ISREG(st.st_mode)) {
        why = "is not a regular file";
        status = 403;
    }
    else if (access(s->filename, X_OK) != 0) {
        why = "is not executable";
        status = 403;
    }
    if (why != NULL) {
        execd_log_error(EXECD_LOG_INFO, "EXD1200", 0, "request %s %s: CGI "
                        "script %s %s", execd_request_id(r), execd_path(r),
                        s->filename, why);
    }
    return status;
}

/* Finds the program for the request.  0, or the HTTP status to answer. */
static int resolve_script(execd_request *r, cgi_script_t *s)
{
    const execd_service_t *svc = execd_request_service(r);
    const char *path = execd_path(r), *rest;
    int rc = 404;

    rest = url_decode(execd_pool(r), path + strlen(svc->prefix), &rc);
    if (rest == NULL || has_dotdot(rest) || has_dotdot(path)) {
        execd_log_error(EXECD_LOG_INFO, "EXD1201", 0, "request %s: refusing "
                        "CGI path %s (bad escape, encoded '/' or '..')",
                        execd_request_id(r), path);
        return rc;
    }
    rc = svc->target_is_dir ? map_in_dir(r, svc, rest, s)
                            : map_file(r, svc, rest, s);
    return rc != 0 ? rc : check_program(r, s);
}

/* --- the environment ----------------------------------------------------- */

typedef struct env_baton_t {
    apr_table_t *t;
    apr_pool_t  *p;
} env_baton_t;

/* "Accept-Language" -> "HTTP_ACCEPT_LANGUAGE"; NULL for names that make
 * no safe variable (anything but letters, digits and '-'). */
static char *http_var_name(apr_pool_t *p, const char *name)
{
    char *v = apr_pstrcat(p, "HTTP_", name, NULL), *q;

    for (q = v + 5; *q; q++) {
        if (*q == '-') {
            *q = '_';
        }
        else if (apr_isalnum(*q)) {
            *q = apr_toupper(*q);
        }
        else {
            return NULL;
        }
    }
    return v;
}

static int add_http_var(void *baton, const char *name, const char *value)
{
    env_baton_t *b = baton;
    const char *prev;
    char *var;

    if (name[0] == ':') {
        return 0;
    }
    var = http_var_name(b->p, name);
    if (var == NULL || strcmp(var, "HTTP_PROXY") == 0
        || strcmp(var, "HTTP_CONTENT_TYPE") == 0
        || strcmp(var, "HTTP_CONTENT_LENGTH") == 0) {
        return 0;    /* httpoxy; the CONTENT_* ones are set unprefixed */
    }
    prev = apr_table_get(b->t, var);
    if (prev == NULL) {
        apr_table_setn(b->t, var, value);
    }
    else {
        /* repeated headers are one list; cookies are joined the way a
         * browser sends them */
        apr_table_setn(b->t, var, apr_pstrcat(b->p, prev,
                       strcmp(var, "HTTP_COOKIE") == 0 ? "; " : ", ",
                       value, NULL));
    }
    return 0;
}

static void set_opt(apr_table_t *t, const char *var, const char *value)
{
    if (value != NULL) {
        apr_table_setn(t, var, value);
    }
}

static void add_request_vars(execd_request *r, apr_table_t *t)
{
    apr_pool_t *p = execd_pool(r);
    const char *q = execd_query(r), *scheme = execd_header(r, ":scheme");

    apr_table_setn(t, "GATEWAY_INTERFACE", "CGI/1.1");
    apr_table_setn(t, "SERVER_SOFTWARE", "execd/0.1");
    apr_table_setn(t, "SERVER_PROTOCOL", execd_protocol(r));
    set_opt(t, "SERVER_NAME", execd_header(r, SP_H_SERVER_NAME));
    set_opt(t, "SERVER_PORT", execd_header(r, SP_H_SERVER_PORT));
    set_opt(t, "SERVER_ADDR", execd_header(r, SP_H_SERVER_ADDR));
    apr_table_setn(t, "REQUEST_METHOD", execd_method(r));
    apr_table_setn(t, "REQUEST_URI", *q ? apr_pstrcat(p, execd_path(r), "?",
                                                      q, NULL)
                                        : execd_path(r));
    apr_table_setn(t, "QUERY_STRING", q);
    apr_table_setn(t, "REMOTE_ADDR", execd_remote_addr(r));
    apr_table_setn(t, "REMOTE_HOST", execd_remote_addr(r));
    set_opt(t, "REMOTE_PORT", execd_header(r, SP_H_REMOTE_PORT));
    set_opt(t, "REMOTE_USER", execd_remote_user(r));
    set_opt(t, "AUTH_TYPE", execd_header(r, SP_H_AUTH_TYPE));
    set_opt(t, "CONTENT_TYPE", execd_header(r, "Content-Type"));
    set_opt(t, "CONTENT_LENGTH", execd_header(r, "Content-Length"));
    set_opt(t, "REQUEST_SCHEME", scheme);
    if (scheme != NULL && strcasecmp(scheme, "https") == 0) {
        apr_table_setn(t, "HTTPS", "on");
    }
    apr_table_setn(t, "REQUEST_ID", execd_request_id(r));
}

/* The child's environment: "NAME=value" strings, NULL-terminated. */
static char **build_env(execd_request *r, const cgi_script_t *s)
{
    apr_pool_t *p = execd_pool(r);
    env_baton_t b = { apr_table_make(p, 48), p };
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    char **env;
    int i;

    execd_header_each(r, add_http_var, &b);
    add_request_vars(r, b.t);
    apr_table_setn(b.t, "SCRIPT_NAME", s->script_name);
    apr_table_setn(b.t, "SCRIPT_FILENAME", s->filename);
    if (*s->path_info) {
        apr_table_setn(b.t, "PATH_INFO", s->path_info);
    }
    arr = apr_table_elts(b.t);
    e = (const apr_table_entry_t *)arr->elts;
    env = apr_palloc(p, sizeof(char *) * (arr->nelts + 2));
    for (i = 0; i < arr->nelts; i++) {
        env[i] = apr_pstrcat(p, e[i].key, "=", e[i].val, NULL);
    }
    env[i++] = CGI_PATH_ENV;
    env[i] = NULL;
    return env;
}

/* --- the child ----------------------------------------------------------- */

/* In the child, after fork: fds 0-2, a clean signal state, exec.  Never
 * returns. */
static void child_exec(const cgi_script_t *s, int in_r, int out_w,
                       char **env)
{
    char *argv[2] = { (char *)s->filename, NULL };
    int err = execd_log_error_fd(), sig;
    sigset_t none;

    setpgid(0, 0);
    for (sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL);   /* ignored signals survive exec otherwise */
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* move everything above 2 first so the dup2s cannot clobber */
    in_r = fcntl(in_r, F_DUPFD, 3);
    out_w = fcntl(out_w, F_DUPFD, 3);
    err = fcntl(err, F_DUPFD, 3);
    if (in_r < 0 || out_w < 0 || err < 0 || dup2(in_r, 0) < 0
        || dup2(out_w, 1) < 0 || dup2(err, 2) < 0) {
        _exit(127);
    }
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (sig = 3; sig < 65536; sig++) {
            fcntl(sig, F_SETFD, FD_CLOEXEC);
        }
    }
    if (chdir(s->dir) != 0) {
        execd_log_error(EXECD_LOG_ERR, "EXD1202", APR_FROM_OS_ERROR(errno),
                        "CGI pid %ld: chdir(%s) for %s", (long)getpid(),
                        s->dir, s->filename);
        _exit(127);
    }
    execve(s->filename, argv, env);
    execd_log_error(EXECD_LOG_ERR, "EXD1203", APR_FROM_OS_ERROR(errno),
                    "CGI pid %ld: execve(%s)", (long)getpid(), s->filename);
    _exit(127);
}

static apr_status_t spawn(cgi_run_t *cr, char **env)
{
    int inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
    apr_status_t rv = APR_SUCCESS;

    if (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
        rv = APR_FROM_OS_ERROR(errno);
        goto cleanup;
    }
    cr->pid = fork();
    if (cr->pid < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        goto cleanup;
    }
    if (cr->pid == 0) {
        child_exec(cr->s, inp[0], outp[1], env);
    }
    setpgid(cr->pid, cr->pid);    /* also here: no race with kill(-pid) */
    cr->in_fd = inp[1];
    cr->out_fd = outp[0];
    inp[1] = outp[0] = -1;
    fcntl(cr->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(cr->out_fd, F_SETFL, O_NONBLOCK);
cleanup:
    if (inp[0] >= 0) close(inp[0]);
    if (inp[1] >= 0) close(inp[1]);
    if (outp[0] >= 0) close(outp[0]);
    if (outp[1] >= 0) close(outp[1]);
    return rv;
}

/* Waits for the child to exit until `until`: 1 if it was reaped. */
static int wait_exit(cgi_run_t *cr, apr_time_t until)
{
    apr_interval_time_t nap = 1000;
    pid_t got;

    while (!cr->reaped) {
        got = waitpid(cr->pid, &cr->wstatus, WNOHANG);
        if (got == cr->pid || (got < 0 && errno == ECHILD)) {
            cr->reaped = 1;   /* ECHILD: someone else reaped it */
            break;
        }
        if (got < 0 && errno != EINTR) {
            break;
        }
        if (apr_time_now() >= until) {
            return 0;
        }
        apr_sleep(nap);
        nap = nap < 50000 ? nap * 2 : nap;
    }
    return cr->reaped;
}

/* SIGTERM to the process group, SIGKILL after the grace time, reaped. */
static void terminate(cgi_run_t *cr)
{
    if (cr->pid <= 0 || cr->reaped) {
        return;
    }
    cr->killed = 1;
    kill(-cr->pid, SIGTERM);
    kill(cr->pid, SIGTERM);
    if (wait_exit(cr, apr_time_now() + CGI_TERM_GRACE)) {
        return;
    }
    execd_log_error(EXECD_LOG_WARN, "EXD1204", 0, "request %s: CGI %s pid "
                    "%ld ignored SIGTERM for 2 s, sending SIGKILL",
                    execd_request_id(cr->r), cr->s->filename, (long)cr->pid);
    kill(-cr->pid, SIGKILL);
    kill(cr->pid, SIGKILL);
    while (waitpid(cr->pid, &cr->wstatus, 0) < 0 && errno == EINTR) {
    }
    cr->reaped = 1;
}

/* --- the header block ---------------------------------------------------- */

/* Offset of the blank line that ends the header block in buf (scanning
 * from `from`), with *body set to the first body byte; -1 if none yet. */
static apr_ssize_t find_blank_line(const char *buf, apr_size_t len,
                                   apr_size_t from, apr_size_t *body)
{
    apr_size_t i;

    for (i = from; i < len; i++) {
        if (i > 0 && buf[i - 1] != '\n') {
            continue;
        }
        if (buf[i] == '\n') {
            *body = i + 1;
            return (apr_ssize_t)i;
        }
        if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
            *body = i + 2;
            return (apr_ssize_t)i;
        }
    }
    return -1;
}

static int is_token(const char *s, apr_size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (!apr_isalnum(s[i]) && (s[i] == '\0' || !strchr(extra, s[i]))) {
            return 0;
        }
    }
    return n > 0;
}

/* "404 Not Found" -> 404; 0 if it is not a status this can send. */
static int parse_status(const char *v)
{
    int st;

    if (!apr_isdigit(v[0]) || !apr_isdigit(v[1]) || !apr_isdigit(v[2])
        || (v[3] != '\0' && v[3] != ' ' && v[3] != '\t')) {
        return 0;
    }
    st = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    return st >= 200 && st <= 599 ? st : 0;
}

/* One "Name: value" line (no line end).  NULL or what is wrong. */
static const char *parse_field(apr_pool_t *p, const char *line,
                               apr_size_t n, cgi_head_t *h)
{
    const char *colon = memchr(line, ':', n), *v, *end = line + n;
    cgi_field_t *f;
    apr_size_t i;

    if (colon == NULL || !is_token(line, colon - line)) {
        return "a line is not 'Name: value'";
    }
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    for (i = 0; v + i < end; i++) {
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t') {
            return "a field value holds a control character";
        }
    }
    f = apr_array_push(h->fields);
    f->name = apr_pstrmemdup(p, line, colon - line);
    f->value = apr_pstrmemdup(p, v, end - v);
    return NULL;
}

/* Picks Status and Location out of the fields and drops the hop-by-hop
 * ones.  NULL or what is wrong. */
static const char *sort_fields(cgi_head_t *h)
{
    cgi_field_t *f = (cgi_field_t *)h->fields->elts;
    int i, j;

    for (i = j = 0; i < h->fields->nelts; i++) {
        if (strcasecmp(f[i].name, "Status") == 0) {
            h->status = parse_status(f[i].value);
            if (h->status == 0) {
                return "bad Status field";
            }
            continue;
        }
        if (strcasecmp(f[i].name, "Connection") == 0
            || strcasecmp(f[i].name, "Keep-Alive") == 0
            || strcasecmp(f[i].name, "Transfer-Encoding") == 0) {
            continue;
        }
        if (strcasecmp(f[i].name, "Location") == 0) {
            h->has_location = 1;
        }
        f[j++] = f[i];
    }
    h->fields->nelts = j;
    return NULL;
}

/* Parses a header block: lines ending in LF or CRLF, without the blank
 * line.  NULL or what is wrong. */
static const char *parse_head_block(apr_pool_t *p, const char *block,
                                    apr_size_t len, cgi_head_t *h)
{
    const char *line = block, *nl, *end = block + len, *why;
    apr_size_t n;

    memset(h, 0, sizeof(*h));
    h->fields = apr_array_make(p, 8, sizeof(cgi_field_t));
    for (; line < end; line = nl + 1) {
        nl = memchr(line, '\n', end - line);
        if (nl == NULL) {
            return "unterminated line";
        }
        n = nl - line;
        if (n > 0 && line[n - 1] == '\r') {
            n--;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            return "folded header line";
        }
        why = parse_field(p, line, n, h);
        if (why != NULL) {
            return why;
        }
    }
    if (h->fields->nelts == 0) {
        return "no header field";
    }
    return sort_fields(h);
}

/* --- the pump ------------------------------------------------------------ */

static void progress(cgi_run_t *cr)
{
    cr->deadline = apr_time_now() + cr->timeout;
}

static void close_stdin(cgi_run_t *cr)
{
    if (cr->in_fd >= 0) {
        close(cr->in_fd);
        cr->in_fd = -1;
    }
    cr->in_len = 0;
}

/* Takes request body bytes when the buffer is empty.  0, or
 * EXECD_ABORTED when the request is gone. */
static int take_body(cgi_run_t *cr)
{
    ssize_t n;

    if (cr->in_fd < 0 || cr->body_done || cr->in_len > 0) {
        return 0;
    }
    n = execd_read_nb(cr->r, cr->inbuf, CGI_IO_CHUNK);
    if (n == -1) {
        execd_log_error(EXECD_LOG_INFO, "EXD1205", 0, "request %s: reading "
                        "the body for CGI %s pid %ld failed (client gone, "
                        "timeout or too large), stopping it",
                        execd_request_id(cr->r), cr->s->filename,
                        (long)cr->pid);
        return EXECD_ABORTED;
    }
    if (n == 0) {
        cr->body_done = 1;
        close_stdin(cr);
    }
    else if (n > 0) {
        cr->in_off = 0;
        cr->in_len = (apr_size_t)n;
        cr->idle_ms = 1;
        progress(cr);
    }
    return 0;
}

/* Moves buffered body bytes into the child's stdin. */
static void feed_stdin(cgi_run_t *cr)
{
    ssize_t n = write(cr->in_fd, cr->inbuf + cr->in_off, cr->in_len);

    if (n > 0) {
        cr->in_off += n;
        cr->in_len -= n;
        progress(cr);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    /* the script closed its stdin: it wants no more; the proxy discards
     * the rest of the body */
    execd_log_error(EXECD_LOG_DEBUG, "EXD1206", APR_FROM_OS_ERROR(errno),
                    "request %s: CGI %s pid %ld stopped reading its input",
                    execd_request_id(cr->r), cr->s->filename, (long)cr->pid);
    close_stdin(cr);
    cr->body_done = 1;
}

/* Sends body bytes of the reply on at once.  0 or EXECD_ABORTED. */
static int pass_output(cgi_run_t *cr, const char *buf, apr_size_t len)
{
    if ((len > 0 && execd_write(cr->r, buf, len) != 0)
        || execd_flush(cr->r) != 0) {
        execd_log_error(EXECD_LOG_INFO, "EXD1207", 0, "request %s: reply "
                        "from CGI %s pid %ld could not be sent (client "
                        "gone?), stopping it", execd_request_id(cr->r),
                        cr->s->filename, (long)cr->pid);
        return EXECD_ABORTED;
    }
    return 0;
}

static int bad_head(cgi_run_t *cr, const char *why)
{
    char sample[64];
    apr_size_t i, n = cr->olen < 40 ? cr->olen : 40;

    for (i = 0; i < n; i++) {
        sample[i] = apr_isprint(cr->obuf[i]) ? cr->obuf[i] : '.';
    }
    sample[n] = '\0';
    execd_log_error(EXECD_LOG_ERR, "EXD1208", 0, "request %s: CGI %s pid "
                    "%ld sent a bad header block (%s), output began '%s'",
                    execd_request_id(cr->r), cr->s->filename, (long)cr->pid,
                    why, sample);
    return 502;
}

/* Applies a complete header block and sends what followed it. */
static int start_reply(cgi_run_t *cr, apr_size_t blank, apr_size_t body)
{
    cgi_field_t *f;
    cgi_head_t h;
    const char *why;
    int i;

    why = parse_head_block(cr->p, cr->obuf, blank, &h);
    if (why != NULL) {
        return bad_head(cr, why);
    }
    execd_set_status(cr->r, h.status ? h.status
                                     : h.has_location ? 302 : 200);
    f = (cgi_field_t *)h.fields->elts;
    for (i = 0; i < h.fields->nelts; i++) {
        if (execd_add_header(cr->r, f[i].name, f[i].value) != 0) {
            return bad_head(cr, "a field the reply cannot carry");
        }
    }
    cr->head_done = 1;
    return pass_output(cr, cr->obuf + body, cr->olen - body);
}

/* Reads what the script wrote.  0, or the handler's return value. */
static int read_stdout(cgi_run_t *cr)
{
    apr_size_t room = cr->head_done ? CGI_IO_CHUNK : CGI_HEAD_MAX - cr->olen;
    apr_size_t at = cr->head_done ? 0 : cr->olen, body;
    apr_ssize_t blank;
    ssize_t n;

    n = read(cr->out_fd, cr->obuf + at, room);
    if (n < 0) {
        return (errno == EAGAIN || errno == EINTR) ? 0 : bad_head(cr,
                                                        "read error");
    }
    if (n == 0) {
        close(cr->out_fd);
        cr->out_fd = -1;
        return 0;
    }
    progress(cr);
    if (cr->head_done) {
        return pass_output(cr, cr->obuf, (apr_size_t)n);
    }
    cr->olen += (apr_size_t)n;
    blank = find_blank_line(cr->obuf, cr->olen, at > 0 ? at - 1 : 0, &body);
    if (blank >= 0) {
        return start_reply(cr, (apr_size_t)blank, body);
    }
    return cr->olen == CGI_HEAD_MAX ? bad_head(cr, "larger than 64 KiB") : 0;
}

static int poll_pipes(cgi_run_t *cr)
{
    struct pollfd pf[2];
    int nfds = 0, rc, awaiting_body, ms;

    awaiting_body = cr->in_fd >= 0 && !cr->body_done && cr->in_len == 0;
    ms = awaiting_body ? cr->idle_ms : CGI_TICK_MS;
    if (cr->in_fd >= 0 && cr->in_len > 0) {
        pf[nfds].fd = cr->in_fd;
        pf[nfds++].events = POLLOUT;
    }
    pf[nfds].fd = cr->out_fd;
    pf[nfds++].events = POLLIN;
    rc = poll(pf, nfds, ms);
    if (rc <= 0) {
        if (awaiting_body && cr->idle_ms < CGI_IDLE_MAX_MS) {
            cr->idle_ms *= 2;
        }
        return 0;
    }
    if (nfds == 2 && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
        feed_stdin(cr);
    }
    if (pf[nfds - 1].revents & (POLLIN | POLLHUP | POLLERR)) {
        return read_stdout(cr);
    }
    return 0;
}

/* Nothing moved for Timeout seconds. */
static int timed_out(cgi_run_t *cr)
{
    execd_log_error(EXECD_LOG_ERR, "EXD1209", 0, "request %s: CGI %s pid "
                    "%ld made no progress in %" APR_TIME_T_FMT " s, "
                    "stopping it", execd_request_id(cr->r), cr->s->filename,
                    (long)cr->pid, apr_time_sec(cr->timeout));
    if (!execd_request_head_sent(cr->r)) {
        return 504;
    }
    execd_request_abort(cr->r, SP_RST_TIMEOUT);
    return EXECD_ABORTED;
}

/* Runs until the script closes its stdout or something ends the run. */
static int pump(cgi_run_t *cr)
{
    int rc;

    while (cr->out_fd >= 0) {
        rc = take_body(cr);
        if (rc == 0) {
            rc = poll_pipes(cr);
        }
        if (rc != 0) {
            return rc;
        }
        if (execd_check_abort(cr->r)) {
            execd_log_error(EXECD_LOG_INFO, "EXD1210", 0, "request %s: "
                            "abandoned, stopping CGI %s pid %ld",
                            execd_request_id(cr->r), cr->s->filename,
                            (long)cr->pid);
            return EXECD_ABORTED;
        }
        if (apr_time_now() >= cr->deadline) {
            return timed_out(cr);
        }
    }
    return 0;
}

static const char *how_it_ended(cgi_run_t *cr)
{
    if (!cr->reaped) {
        return "not reaped";
    }
    if (WIFSIGNALED(cr->wstatus)) {
        return apr_psprintf(cr->p, "signal %d", WTERMSIG(cr->wstatus));
    }
    return apr_psprintf(cr->p, "exit status %d", WEXITSTATUS(cr->wstatus));
}

/* stdout is closed: reaps the script and judges the run. */
static int conclude(cgi_run_t *cr)
{
    close_stdin(cr);
    if (!wait_exit(cr, cr->deadline)) {
        execd_log_error(EXECD_LOG_WARN, "EXD1211", 0, "request %s: CGI %s "
                        "pid %ld closed its output but did not exit within "
                        "%" APR_TIME_T_FMT " s, stopping it",
                        execd_request_id(cr->r), cr->s->filename,
                        (long)cr->pid, apr_time_sec(cr->timeout));
        terminate(cr);
    }
    if (!cr->head_done) {
        execd_log_error(EXECD_LOG_ERR, "EXD1212", 0, "request %s: CGI %s "
                        "pid %ld ended (%s) without a complete header block "
                        "(%" APR_SIZE_T_FMT " bytes of output)",
                        execd_request_id(cr->r), cr->s->filename,
                        (long)cr->pid, how_it_ended(cr), cr->olen);
        return 502;
    }
    if (!cr->killed && WIFSIGNALED(cr->wstatus)) {
        execd_log_error(EXECD_LOG_ERR, "EXD1213", 0, "request %s: CGI %s "
                        "pid %ld died of signal %d, reply may be cut short",
                        execd_request_id(cr->r), cr->s->filename,
                        (long)cr->pid, WTERMSIG(cr->wstatus));
        execd_request_abort(cr->r, SP_RST_WORKER);
        return EXECD_ABORTED;
    }
    if (WIFEXITED(cr->wstatus) && WEXITSTATUS(cr->wstatus) != 0) {
        execd_log_error(EXECD_LOG_WARN, "EXD1214", 0, "request %s: CGI %s "
                        "pid %ld exited with status %d",
                        execd_request_id(cr->r), cr->s->filename,
                        (long)cr->pid, WEXITSTATUS(cr->wstatus));
    }
    return 0;
}

static void run_init(cgi_run_t *cr, execd_request *r, const cgi_script_t *s)
{
    memset(cr, 0, sizeof(*cr));
    cr->r = r;
    cr->p = execd_pool(r);
    cr->s = s;
    cr->in_fd = cr->out_fd = -1;
    cr->inbuf = apr_palloc(cr->p, CGI_IO_CHUNK);
    cr->obuf = apr_palloc(cr->p, CGI_HEAD_MAX);
    cr->idle_ms = 1;
    cr->timeout = execd_request_timeout(r);
    progress(cr);
}

int execd_cgi_handler(execd_request *r)
{
    struct sigaction ign, dfl, old_pipe, old_chld;
    cgi_script_t s;
    cgi_run_t cr;
    apr_status_t rv;
    int rc;

    memset(&s, 0, sizeof(s));
    rc = resolve_script(r, &s);
    if (rc != 0) {
        return rc;
    }
    run_init(&cr, r, &s);
    memset(&ign, 0, sizeof(ign));
    memset(&dfl, 0, sizeof(dfl));
    ign.sa_handler = SIG_IGN;
    dfl.sa_handler = SIG_DFL;
    /* writes to a gone script must fail with EPIPE, and its exit status
     * must be ours to collect */
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGCHLD, &dfl, &old_chld);
    rv = spawn(&cr, build_env(r, &s));
    if (rv != APR_SUCCESS) {
        execd_log_error(EXECD_LOG_ERR, "EXD1215", rv, "request %s: cannot "
                        "start CGI %s", execd_request_id(r), s.filename);
        rc = 500;
        goto cleanup;
    }
    execd_log_error(EXECD_LOG_DEBUG, "EXD1216", 0, "request %s: CGI %s "
                    "started as pid %ld", execd_request_id(r), s.filename,
                    (long)cr.pid);
    rc = pump(&cr);
    rc = rc != 0 ? rc : conclude(&cr);
cleanup:
    close_stdin(&cr);
    if (cr.out_fd >= 0) {
        close(cr.out_fd);
    }
    terminate(&cr);
    sigaction(SIGCHLD, &old_chld, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return rc;
}
