/*
 * fcgi_app.c -- the benchmark's FastCGI application (the "fcgi" variant,
 * behind mod_proxy_fcgi): the same three endpoints and bytes as the execd
 * example handlers, written with libfcgi.
 *
 *     fcgi_app PORT NPROCS PIDFILE
 *
 * Binds and listens on 127.0.0.1:PORT itself, then forks NPROCS children
 * that share the listening socket, each running an FCGX_Accept_r loop
 * (one request at a time, as an execd worker).  The parent writes its pid
 * to PIDFILE (after the socket listens) and waits; on SIGTERM or SIGINT
 * it passes the signal to its children, reaps them and exits.  A child
 * that dies is not replaced: the benchmark would rather see the failure.
 *
 *   GET  /hello        "hello, world\n", text/plain, Content-Length 13
 *   GET  /gen?bytes=N  N bytes of (i * 31 + 7) & 0xff, Content-Length N
 *   POST /echo         the request body back, with its Content-Type
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#define CHUNK   (64 * 1024)   /* a multiple of the 256-byte period */
#define GEN_MAX (64LL * 1024 * 1024 * 1024)
#define MAX_PROCS 256

static unsigned char pattern[CHUNK];
static pid_t kids[MAX_PROCS];
static int nkids;
static volatile sig_atomic_t stop_sig;

static int listen_on(int port)
{
    struct sockaddr_in sa;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("fcgi_app: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(fd, 1024) < 0) {
        fprintf(stderr, "fcgi_app: bind/listen 127.0.0.1:%d: %s\n", port,
                strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The path part of REQUEST_URI (mod_proxy_fcgi passes the browser's). */
static size_t path_len(const char *uri)
{
    const char *q = strchr(uri, '?');

    return q ? (size_t)(q - uri) : strlen(uri);
}

static int path_is(const char *uri, const char *path)
{
    size_t n = path_len(uri);

    return n == strlen(path) && strncmp(uri, path, n) == 0;
}

/* ?bytes=N, or -1 if absent or out of range. */
static long long wanted_bytes(const char *q)
{
    char *end;
    long long n;

    while (q && *q) {
        if (strncmp(q, "bytes=", 6) == 0) {
            if (q[6] < '0' || q[6] > '9') {
                return -1;
            }
            n = strtoll(q + 6, &end, 10);
            return ((*end == '\0' || *end == '&') && n <= GEN_MAX) ? n : -1;
        }
        q = strchr(q, '&');
        q = q ? q + 1 : NULL;
    }
    return -1;
}

static void reply_status(FCGX_Request *rq, const char *status)
{
    FCGX_FPrintF(rq->out, "Status: %s\r\nContent-Type: text/plain\r\n\r\n%s\n",
                 status, status);
}

static void serve_hello(FCGX_Request *rq)
{
    FCGX_PutS("Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
              "hello, world\n", rq->out);
}

static void serve_gen(FCGX_Request *rq)
{
    long long total = wanted_bytes(FCGX_GetParam("QUERY_STRING", rq->envp));
    long long left;
    int n;

    if (total < 0) {
        reply_status(rq, "400 Bad Request");
        return;
    }
    FCGX_FPrintF(rq->out, "Content-Type: application/octet-stream\r\n"
                 "Content-Length: %lld\r\n\r\n", total);
    for (left = total; left > 0; left -= n) {
        n = left < CHUNK ? (int)left : CHUNK;
        if (FCGX_PutStr((const char *)pattern, n, rq->out) != n) {
            return;
        }
    }
}

static void serve_echo(FCGX_Request *rq)
{
    const char *ct = FCGX_GetParam("CONTENT_TYPE", rq->envp);
    static char buf[CHUNK];
    int n;

    FCGX_FPrintF(rq->out, "Content-Type: %s\r\n\r\n",
                 ct && *ct ? ct : "application/octet-stream");
    while ((n = FCGX_GetStr(buf, sizeof(buf), rq->in)) > 0) {
        if (FCGX_PutStr(buf, n, rq->out) != n) {
            return;
        }
    }
}

/* Reads what is left of the request body, up to its end.  libfcgi keeps
 * a connection the web server asked to keep (FCGI_KEEP_CONN) only if the
 * request's stdin was read to its end: an unread empty FCGI_STDIN record
 * makes the next FCGX_Accept_r drop the connection, and mod_proxy_fcgi
 * then fails the request it had just sent on it. */
static void drain_input(FCGX_Request *rq)
{
    static char buf[CHUNK];

    while (FCGX_GetStr(buf, sizeof(buf), rq->in) > 0) {
    }
}

static void serve(FCGX_Request *rq)
{
    const char *uri = FCGX_GetParam("REQUEST_URI", rq->envp);
    const char *method = FCGX_GetParam("REQUEST_METHOD", rq->envp);

    if (!uri || !method) {
        reply_status(rq, "400 Bad Request");
    }
    else if (path_is(uri, "/hello") && strcmp(method, "GET") == 0) {
        serve_hello(rq);
    }
    else if (path_is(uri, "/gen") && strcmp(method, "GET") == 0) {
        serve_gen(rq);
    }
    else if (path_is(uri, "/echo") && strcmp(method, "POST") == 0) {
        serve_echo(rq);
    }
    else {
        reply_status(rq, "404 Not Found");
    }
    drain_input(rq);
}

static void child_loop(int lfd)
{
    FCGX_Request rq;

    if (FCGX_InitRequest(&rq, lfd, 0) != 0) {
        _exit(1);
    }
    while (FCGX_Accept_r(&rq) >= 0) {
        serve(&rq);
        FCGX_Finish_r(&rq);
    }
    _exit(0);
}

static void on_signal(int sig)
{
    stop_sig = sig;
}

/* Only interrupts sigsuspend: supervise() reaps and reports. */
static void on_child(int sig)
{
    (void)sig;
}

static int write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        fprintf(stderr, "fcgi_app: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

/* Waits for a stop signal (or for every child to die), then stops the
 * children that are left and reaps them. */
static int supervise(void)
{
    sigset_t block, old;
    int i, status, left = nkids;
    pid_t pid;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    while (!stop_sig && left > 0) {
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            fprintf(stderr, "fcgi_app: child %ld exited (status 0x%x)\n",
                    (long)pid, status);
            for (i = 0; i < nkids; i++) {
                if (kids[i] == pid) {
                    kids[i] = 0;
                    left--;
                }
            }
        }
        if (!stop_sig && left > 0) {
            sigsuspend(&old);
        }
    }
    for (i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGTERM);
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            while (waitpid(kids[i], &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int port, n, lfd, i;
    size_t k;

    if (argc != 4 || (port = atoi(argv[1])) <= 0 || port > 65535
        || (n = atoi(argv[2])) <= 0 || n > MAX_PROCS) {
        fprintf(stderr, "usage: fcgi_app PORT NPROCS(1..%d) PIDFILE\n",
                MAX_PROCS);
        return 2;
    }
    for (k = 0; k < sizeof(pattern); k++) {
        pattern[k] = (unsigned char)((k * 31 + 7) & 0xff);
    }
    if ((lfd = listen_on(port)) < 0 || FCGX_Init() != 0) {
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    for (i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fcgi_app: fork");
            stop_sig = SIGTERM;
            break;
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGCHLD, SIG_DFL);
            child_loop(lfd);
        }
        kids[nkids++] = pid;
    }
    close(lfd);
    if (!stop_sig && write_pidfile(argv[3]) != 0) {
        stop_sig = SIGTERM;
    }
    return supervise();
}
