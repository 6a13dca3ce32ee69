/*
 * upload.c -- reads a whole request body and answers its size and
 * SHA-256 as JSON: {"bytes":N,"sha256":"hex"}.
 *
 *     Service /upload module:.../upload.so upload_handler
 *
 * For multipart/form-data (a browser's file upload form) the size and
 * hash are those of the first file part's content, which is found while
 * the body streams past: a matcher for the delimiter "\r\n--BOUNDARY"
 * (KMP, so a delimiter split across reads or preceded by a partial match
 * is still found) feeds the bytes it has ruled out to the hash.  Memory
 * stays constant whatever the upload size.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "execd_api.h"

#define UP_CHUNK        (64 * 1024)
#define BOUNDARY_MAX    200
#define DELIM_MAX       (BOUNDARY_MAX + 4)
#define PART_HEAD_MAX   8192
#define DELIM_LINE_MAX  1024

int upload_handler(execd_request *r);

typedef enum {
    MP_PREAMBLE,     /* before the first delimiter: discarded */
    MP_DELIM_LINE,   /* rest of a delimiter line: "--" ends the body */
    MP_PART_HEAD,    /* a part's header lines, up to a blank line */
    MP_PART_BODY,    /* a part's content, up to the next delimiter */
    MP_DONE          /* the file part was read (or the body closed) */
} mp_state_e;

typedef struct upload_t {
    EVP_MD_CTX   *md;
    long long     bytes;           /* bytes hashed */
    int           multipart;
    int           found;           /* a file part was hashed */
    mp_state_e    state;
    char          delim[DELIM_MAX + 1];
    size_t        dlen;
    size_t        fail[DELIM_MAX]; /* KMP: longest border of delim[0..i] */
    size_t        m;               /* delimiter bytes matched so far */
    int           is_file;         /* current part has a filename */
    size_t        line_len;        /* bytes in the current line */
    int           line_dashes;     /* delimiter line began with "--" */
    char          head[PART_HEAD_MAX + 1];
    size_t        head_len;
} upload_t;

/* --- the boundary -------------------------------------------------------- */

/* Copies the boundary parameter of a multipart/form-data Content-Type
 * into out; 0 if there is none or it is unusable. */
static int find_boundary(const char *ct, char *out, size_t size)
{
    const char *p;
    size_t n = 0;

    if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0) {
        return 0;
    }
    for (p = ct + 19; (p = strchr(p, ';')) != NULL; ) {
        for (p++; *p == ' ' || *p == '\t'; p++) {
        }
        if (strncasecmp(p, "boundary=", 9) == 0) {
            break;
        }
    }
    if (p == NULL) {
        return 0;
    }
    p += 9;
    if (*p == '"') {
        for (p++; p[n] && p[n] != '"'; n++) {
        }
    }
    else {
        for (; p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t'; n++) {
        }
    }
    if (n == 0 || n >= size) {
        return 0;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static void setup_delimiter(upload_t *u, const char *boundary)
{
    size_t i, k = 0;

    u->dlen = (size_t)snprintf(u->delim, sizeof(u->delim), "\r\n--%s",
                               boundary);
    u->fail[0] = 0;
    for (i = 1; i < u->dlen; i++) {
        while (k > 0 && u->delim[i] != u->delim[k]) {
            k = u->fail[k - 1];
        }
        if (u->delim[i] == u->delim[k]) {
            k++;
        }
        u->fail[i] = k;
    }
}

/* --- the content --------------------------------------------------------- */

static void content(upload_t *u, const void *p, size_t n)
{
    if (n > 0 && (!u->multipart
                  || (u->state == MP_PART_BODY && u->is_file))) {
        EVP_DigestUpdate(u->md, p, n);
        u->bytes += (long long)n;
    }
}

/* Feeds bytes through the delimiter matcher; content it rules out goes
 * to content().  Returns how many bytes it used: it stops right after a
 * delimiter (*found set). */
static size_t scan(upload_t *u, const unsigned char *p, size_t n, int *found)
{
    const unsigned char *hit;
    size_t i = 0, k, run;

    *found = 0;
    while (i < n) {
        if (u->m == 0) {
            hit = memchr(p + i, u->delim[0], n - i);
            run = hit ? (size_t)(hit - (p + i)) : n - i;
            content(u, p + i, run);
            i += run;
            if (hit == NULL) {
                break;
            }
        }
        while (u->m > 0 && (unsigned char)u->delim[u->m] != p[i]) {
            k = u->fail[u->m - 1];
            content(u, u->delim, u->m - k);
            u->m = k;
        }
        if ((unsigned char)u->delim[u->m] == p[i]) {
            i++;
            if (++u->m == u->dlen) {
                u->m = 0;
                *found = 1;
                return i;
            }
        }
        else {
            content(u, p + i, 1);
            i++;
        }
    }
    return i;
}

/* --- parts --------------------------------------------------------------- */

/* The rest of a delimiter line ("--" closes the body, else padding). */
static size_t delim_line(upload_t *u, const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (u->line_len < 2 && p[i] == '-') {
            u->line_dashes++;
        }
        if (u->line_dashes == 2) {
            u->state = MP_DONE;
            return n;
        }
        if (p[i] == '\n') {
            u->state = MP_PART_HEAD;
            u->head_len = 0;
            u->line_len = 0;
            return i + 1;
        }
        if (++u->line_len > DELIM_LINE_MAX) {
            u->state = MP_DONE;
            return n;
        }
    }
    return n;
}

static int part_is_file(upload_t *u)
{
    const char *cd;

    u->head[u->head_len] = '\0';
    for (cd = u->head; (cd = strcasestr(cd, "content-disposition:")); cd++) {
        const char *eol = strchr(cd, '\n');
        const char *fn = strcasestr(cd, "filename");
        if (fn != NULL && (eol == NULL || fn < eol)) {
            return 1;
        }
    }
    return 0;
}

/* A part's headers, up to the empty line that ends them. */
static size_t part_head(upload_t *u, const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (u->head_len == PART_HEAD_MAX) {
            u->state = MP_DONE;   /* not a form a browser sends */
            return n;
        }
        u->head[u->head_len++] = (char)p[i];
        if (p[i] != '\n') {
            if (p[i] != '\r') {
                u->line_len++;
            }
            continue;
        }
        if (u->line_len == 0) {
            u->is_file = part_is_file(u);
            u->state = MP_PART_BODY;
            return i + 1;
        }
        u->line_len = 0;
    }
    return n;
}

static void feed_multipart(upload_t *u, const unsigned char *p, size_t n)
{
    size_t used;
    int found;

    while (n > 0 && u->state != MP_DONE) {
        switch (u->state) {
        case MP_PREAMBLE:
        case MP_PART_BODY:
            used = scan(u, p, n, &found);
            if (found) {
                if (u->state == MP_PART_BODY && u->is_file) {
                    u->found = 1;
                    u->state = MP_DONE;
                    return;
                }
                u->state = MP_DELIM_LINE;
                u->line_len = 0;
                u->line_dashes = 0;
            }
            break;
        case MP_DELIM_LINE:
            used = delim_line(u, p, n);
            break;
        default:
            used = part_head(u, p, n);
            break;
        }
        p += used;
        n -= used;
    }
}

/* --- the handler --------------------------------------------------------- */

static int read_all(execd_request *r, upload_t *u)
{
    unsigned char *buf = execd_alloc(r, UP_CHUNK);
    int first = 1;
    ssize_t n;

    while ((n = execd_read(r, buf, UP_CHUNK)) > 0) {
        if (!u->multipart) {
            content(u, buf, (size_t)n);
            continue;
        }
        if (first) {
            /* the body's first delimiter has no CRLF before it */
            feed_multipart(u, (const unsigned char *)"\r\n", 2);
            first = 0;
        }
        feed_multipart(u, buf, (size_t)n);
    }
    return n < 0 ? -1 : 0;
}

static int reply(execd_request *r, upload_t *u)
{
    unsigned char md[32];
    char hex[65];
    int i;

    EVP_DigestFinal_ex(u->md, md, NULL);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    hex[64] = '\0';
    execd_set_header(r, "Content-Type", "application/json");
    return execd_printf(r, "{\"bytes\":%lld,\"sha256\":\"%s\"}\n", u->bytes,
                        hex) < 0 ? EXECD_ABORTED : 0;
}

int upload_handler(execd_request *r)
{
    upload_t *u = execd_alloc(r, sizeof(*u));
    char boundary[BOUNDARY_MAX + 1];
    int rc;

    memset(u, 0, sizeof(*u));
    u->md = EVP_MD_CTX_new();
    if (u->md == NULL || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(u->md);
        return 500;
    }
    u->multipart = find_boundary(execd_header(r, "Content-Type"), boundary,
                                 sizeof(boundary));
    if (u->multipart) {
        setup_delimiter(u, boundary);
    }
    if (read_all(r, u) != 0) {
        rc = EXECD_ABORTED;
    }
    else if (u->multipart && !u->found) {
        execd_log(r, "multipart body without a complete file part");
        rc = 400;
    }
    else {
        rc = reply(r, u);
    }
    EVP_MD_CTX_free(u->md);
    return rc;
}
