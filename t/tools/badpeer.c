/*
 * badpeer.c -- a hostile link peer for execd, for t/integration/80_hostile.sh.
 *
 *     badpeer HOST PORT CASE [SECRET_FILE]
 *
 * Connects to execd over TCP (plain, no TLS), misbehaves in one way and
 * reports what execd did.  The cases:
 *
 *   garbage       256 random bytes instead of a HELLO
 *   hugelen       a HELLO header that declares a payload of 0xffffffff bytes
 *   truncated     the first 20 bytes of a HELLO, then a half-close (SHUT_WR)
 *   wrongsecret   HELLO, then an AUTH whose proof is made with another secret
 *   version       a HELLO for protocol version SP_PROTO_VERSION + 1
 *   stray-data    a correct handshake (SECRET_FILE), then DATA on stream 1,
 *                 which was never opened
 *   even-headers  a correct handshake, then a well-formed request HEADERS on
 *                 stream 2 (client stream ids are odd)
 *   good          a correct handshake, then a PING: the control case, which
 *                 proves that the handshake of the two cases above is right
 *
 * It prints "local ADDR:PORT" (the address execd logs for the peer) and
 * then what happened.  Exit status: 0 if execd closed the connection
 * within 5 s of the bad bytes ("good": if execd answered the PING and kept
 * the link open for 1 s), 1 if not, 2 on a usage, set-up or handshake
 * failure of the tool itself.
 *
 * The socket is blocking with receive timeouts; frames are built by hand
 * with sp_frame_hdr_encode and the proofs with sp_auth_proof/sp_auth_check,
 * as docs/PROTOCOL.md describes them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "sp_auth.h"
#include "sp_frame.h"

#define CLOSE_WAIT_MS 5000
#define GOOD_WAIT_MS  1000
#define HS_WAIT_MS    5000

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_frame(int fd, uint8_t type, uint8_t flags, uint32_t stream,
                      const void *payload, uint32_t len)
{
    unsigned char hdr[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t h;

    h.length = len;
    h.type = type;
    h.flags = flags;
    h.stream = stream;
    sp_frame_hdr_encode(hdr, &h);
    if (write_all(fd, hdr, sizeof(hdr)) < 0) {
        return -1;
    }
    return len ? write_all(fd, payload, len) : 0;
}

static void set_rcv_timeout(int fd, long ms)
{
    struct timeval tv;

    if (ms < 1) {
        ms = 1;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Reads exactly len bytes before the deadline: 0, or -1 with *eof set if
 * the peer closed (or reset) the connection, or -1 on timeout. */
static int read_exact(int fd, void *buf, size_t len, long long deadline,
                      int *eof)
{
    unsigned char *p = buf;

    *eof = 0;
    while (len > 0) {
        long long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) {
            return -1;
        }
        set_rcv_timeout(fd, (long)left);
        n = recv(fd, p, len, 0);
        if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
            *eof = 1;
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            *eof = 1;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one frame of at most cap payload bytes. */
static int read_frame(int fd, sp_frame_hdr_t *h, unsigned char *payload,
                      uint32_t cap, long long deadline, int *eof)
{
    unsigned char hdr[SP_FRAME_HDR_LEN];

    if (read_exact(fd, hdr, sizeof(hdr), deadline, eof) < 0) {
        return -1;
    }
    if (sp_frame_hdr_decode(hdr, cap, h) != APR_SUCCESS) {
        fprintf(stderr, "badpeer: execd sent a frame header we cannot "
                "decode\n");
        return -2;
    }
    return read_exact(fd, payload, h->length, deadline, eof);
}

/* Waits until execd closes the connection, discarding what it sends.
 * Returns the milliseconds it took, or -1 if it was still open after ms. */
static long long wait_close(int fd, long ms)
{
    long long t0 = now_ms(), deadline = t0 + ms;
    unsigned char buf[4096];

    for (;;) {
        long long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) {
            return -1;
        }
        set_rcv_timeout(fd, (long)left);
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN
                       && errno != EWOULDBLOCK)) {
            return now_ms() - t0;
        }
    }
}

static int connect_to(const char *host, const char *port, char *local,
                      size_t local_len)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "badpeer: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "badpeer: cannot connect to %s:%s: %s\n", host, port,
                strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(local, local_len, "%s:%u", ip, ntohs(sin->sin_port));
    }
    else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(local, local_len, "%s:%u", ip, ntohs(sin6->sin6_port));
    }
    return fd;
}

static void put_hello(unsigned char *p, unsigned version,
                      const unsigned char *nonce)
{
    sp_put_u16(p, (uint16_t)version);
    sp_put_u16(p + 2, 0);
    memcpy(p + 4, nonce, SP_NONCE_LEN);
}

/* HELLO, CHALLENGE, AUTH with a proof made from `secret`; with verify, also
 * reads and checks WELCOME.  0 on success; -1 if execd closed the link
 * (after AUTH: the expected answer to a wrong secret), -2 on anything
 * else. */
static int handshake(int fd, const sp_secret_t *secret, int verify)
{
    unsigned char nc[SP_NONCE_LEN], ns[SP_NONCE_LEN], p[64];
    sp_frame_hdr_t h;
    long long deadline = now_ms() + HS_WAIT_MS;
    int eof = 0;

    if (sp_auth_nonce(nc) != APR_SUCCESS) {
        return -2;
    }
    put_hello(p, SP_PROTO_VERSION, nc);
    if (send_frame(fd, SP_FT_HELLO, 0, 0, p, 36) < 0) {
        return -2;
    }
    if (read_frame(fd, &h, p, sizeof(p), deadline, &eof) != 0
        || h.type != SP_FT_CHALLENGE || h.length != 36
        || sp_get_u16(p) != SP_PROTO_VERSION) {
        fprintf(stderr, "badpeer: no CHALLENGE from execd%s\n",
                eof ? " (it closed the connection)" : "");
        return -2;
    }
    memcpy(ns, p + 4, SP_NONCE_LEN);
    if (sp_auth_proof(secret, SP_ROLE_CLIENT, nc, ns, p) != APR_SUCCESS) {
        return -2;
    }
    sp_put_u32(p + 32, 256 * 1024);        /* stream_window */
    sp_put_u32(p + 36, 4 * 1024 * 1024);   /* link_window */
    sp_put_u32(p + 40, 64 * 1024);         /* max_frame */
    if (send_frame(fd, SP_FT_AUTH, 0, 0, p, 44) < 0) {
        return -2;
    }
    if (!verify) {
        return 0;
    }
    if (read_frame(fd, &h, p, sizeof(p), deadline, &eof) != 0
        || h.type != SP_FT_WELCOME || h.length != 48) {
        fprintf(stderr, "badpeer: no WELCOME from execd%s\n",
                eof ? " (it closed the connection)" : "");
        return eof ? -1 : -2;
    }
    if (sp_auth_check(secret, SP_ROLE_SERVER, nc, ns, p) != APR_SUCCESS) {
        fprintf(stderr, "badpeer: execd's proof in WELCOME is wrong\n");
        return -2;
    }
    return 0;
}

/* Appends one head field (docs/PROTOCOL.md section 3). */
static size_t head_field(unsigned char *p, const char *name,
                         const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);

    sp_put_u16(p, (uint16_t)nl);
    sp_put_u32(p + 2, (uint32_t)vl);
    memcpy(p + 6, name, nl + 1);
    memcpy(p + 6 + nl + 1, value, vl + 1);
    return 6 + nl + 1 + vl + 1;
}

static int report_close(int fd)
{
    long long ms = wait_close(fd, CLOSE_WAIT_MS);

    if (ms < 0) {
        printf("still open %d s later: execd did not close the connection\n",
               CLOSE_WAIT_MS / 1000);
        return 1;
    }
    printf("closed by execd after %lld ms\n", ms);
    return 0;
}

static int run_good(int fd)
{
    static const unsigned char opaque[8] = { 'b', 'a', 'd', 'p', 'e', 'e',
                                             'r', '!' };
    unsigned char p[64 * 1024];
    sp_frame_hdr_t h;
    long long deadline = now_ms() + HS_WAIT_MS;
    int eof = 0;

    if (send_frame(fd, SP_FT_PING, 0, 0, opaque, 8) < 0) {
        printf("cannot send PING: %s\n", strerror(errno));
        return 2;
    }
    for (;;) {  /* execd may send WINDOW or other link frames first */
        if (read_frame(fd, &h, p, sizeof(p), deadline, &eof) != 0) {
            printf("no PING answer: %s\n",
                   eof ? "execd closed the connection" : "timeout");
            return 1;
        }
        if (h.type == SP_FT_PING && (h.flags & SP_FF_ACK)
            && memcmp(p, opaque, 8) == 0) {
            break;
        }
    }
    if (wait_close(fd, GOOD_WAIT_MS) >= 0) {
        printf("PING answered, but then execd closed the connection\n");
        return 1;
    }
    printf("PING answered, link still open after %d ms\n", GOOD_WAIT_MS);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what;
    apr_pool_t *pool;
    sp_secret_t secret = { NULL, 0 }, wrong;
    unsigned char wrong_bytes[32], buf[256], nonce[SP_NONCE_LEN];
    char local[80] = "?";
    int fd, rc;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: badpeer HOST PORT CASE [SECRET_FILE]\n"
                "cases: garbage hugelen truncated wrongsecret version "
                "stray-data even-headers good\n");
        return 2;
    }
    what = argv[3];
    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (strcmp(what, "stray-data") == 0 || strcmp(what, "even-headers") == 0
        || strcmp(what, "good") == 0) {
        const char *why = NULL;
        if (argc != 5) {
            fprintf(stderr, "badpeer: case %s needs SECRET_FILE\n", what);
            return 2;
        }
        if (sp_secret_load(&secret, argv[4], pool, &why) != APR_SUCCESS) {
            fprintf(stderr, "badpeer: %s: %s\n", argv[4], why ? why : "?");
            return 2;
        }
    }
    fd = connect_to(argv[1], argv[2], local, sizeof(local));
    if (fd < 0) {
        return 2;
    }
    printf("local %s\n", local);
    fflush(stdout);

    if (strcmp(what, "garbage") == 0) {
        if (sp_auth_nonce(buf) != APR_SUCCESS
            || sp_auth_nonce(buf + 32) != APR_SUCCESS) {
            return 2;
        }
        memcpy(buf + 64, buf, 64);
        memcpy(buf + 128, buf, 128);
        buf[4] = 0xee;  /* never a frame type: the header is bad for sure */
        rc = write_all(fd, buf, sizeof(buf));
    }
    else if (strcmp(what, "hugelen") == 0) {
        /* A HELLO header, field by field, whose length is 0xffffffff. */
        sp_frame_hdr_t h = { 0xffffffffu, SP_FT_HELLO, 0, 0 };
        sp_frame_hdr_encode(buf, &h);
        rc = write_all(fd, buf, SP_FRAME_HDR_LEN);
    }
    else if (strcmp(what, "truncated") == 0) {
        sp_frame_hdr_t h = { 36, SP_FT_HELLO, 0, 0 };
        if (sp_auth_nonce(nonce) != APR_SUCCESS) {
            return 2;
        }
        sp_frame_hdr_encode(buf, &h);
        put_hello(buf + SP_FRAME_HDR_LEN, SP_PROTO_VERSION, nonce);
        rc = write_all(fd, buf, 20);  /* 12 + 8 of 36 payload bytes */
        if (rc == 0) {
            shutdown(fd, SHUT_WR);
        }
    }
    else if (strcmp(what, "wrongsecret") == 0) {
        if (sp_auth_nonce(wrong_bytes) != APR_SUCCESS) {
            return 2;
        }
        wrong.bytes = wrong_bytes;
        wrong.len = sizeof(wrong_bytes);
        rc = handshake(fd, &wrong, 0) == 0 ? 0 : -1;
    }
    else if (strcmp(what, "version") == 0) {
        if (sp_auth_nonce(nonce) != APR_SUCCESS) {
            return 2;
        }
        put_hello(buf, SP_PROTO_VERSION + 1, nonce);
        rc = send_frame(fd, SP_FT_HELLO, 0, 0, buf, 36);
    }
    else if (strcmp(what, "stray-data") == 0 || strcmp(what, "even-headers") == 0
             || strcmp(what, "good") == 0) {
        if (handshake(fd, &secret, 1) != 0) {
            printf("the handshake with the right secret failed\n");
            return 2;
        }
        printf("handshake done\n");
        if (strcmp(what, "good") == 0) {
            rc = run_good(fd);
            close(fd);
            return rc;
        }
        if (strcmp(what, "stray-data") == 0) {
            memset(buf, 'x', 100);
            rc = send_frame(fd, SP_FT_DATA, SP_FF_END_STREAM, 1, buf, 100);
        }
        else {
            size_t n = 0;
            n += head_field(buf + n, ":method", "GET");
            n += head_field(buf + n, ":path", "/app/hello");
            n += head_field(buf + n, ":protocol", "HTTP/1.1");
            n += head_field(buf + n, ":body", "none");
            rc = send_frame(fd, SP_FT_HEADERS, SP_FF_END_STREAM, 2, buf,
                            (uint32_t)n);
        }
    }
    else {
        fprintf(stderr, "badpeer: unknown case %s\n", what);
        return 2;
    }
    if (rc != 0) {
        /* A write can fail because execd already closed: that is a close. */
        printf("write failed (%s): ", strerror(errno));
    }
    rc = report_close(fd);
    close(fd);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
