/*
 * sp_auth.c -- the shared secret and the challenge-response proofs.
 *
 * This file owns loading the secret (refusing files that other users can
 * reach and secrets too weak or too large to be meant) and the HMAC-SHA256
 * proofs each end of a link sends in the handshake.  OpenSSL does the
 * HMAC, the random nonces and the constant-time compare; nothing here is
 * hand-made crypto.  Copies of the secret are wiped when they are dropped.
 */
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "sp_auth.h"
#include "sp_errors.h"

#define SP_AUTH_LABEL_LEN 16   /* strlen("slotproxy-client") */

static const char label_client[] = "slotproxy-client";
static const char label_server[] = "slotproxy-server";

static apr_status_t secret_wipe(void *data)
{
    sp_secret_t *s = data;

    if (s->bytes && s->len) {
        OPENSSL_cleanse(s->bytes, s->len);
    }
    return APR_SUCCESS;
}

/* Unix permission bits of an apr_fileperms_t, for messages. */
static unsigned perms_to_mode(apr_fileperms_t prot)
{
    unsigned m = 0;

    m |= (prot & APR_UREAD)    ? 0400 : 0;
    m |= (prot & APR_UWRITE)   ? 0200 : 0;
    m |= (prot & APR_UEXECUTE) ? 0100 : 0;
    m |= (prot & APR_GREAD)    ? 0040 : 0;
    m |= (prot & APR_GWRITE)   ? 0020 : 0;
    m |= (prot & APR_GEXECUTE) ? 0010 : 0;
    m |= (prot & APR_WREAD)    ? 0004 : 0;
    m |= (prot & APR_WWRITE)   ? 0002 : 0;
    m |= (prot & APR_WEXECUTE) ? 0001 : 0;
    return m;
}

static const char *status_text(apr_status_t rv, apr_pool_t *p)
{
    char buf[256];

    return apr_pstrdup(p, sp_strerror(rv, buf, sizeof(buf)));
}

/* The permission and size checks are made on the opened file, not on the
 * path, so that the file read is the file checked. */
apr_status_t sp_secret_load(sp_secret_t *s, const char *path, apr_pool_t *p,
                            const char **why)
{
    /* Room for the largest secret, its "\r\n", and one byte more: a file
     * that fills it is too long even after the newline is stripped. */
    unsigned char buf[SP_SECRET_MAX + 3];
    apr_size_t len = 0;
    sp_secret_t *keep;
    apr_file_t *f = NULL;
    apr_finfo_t finfo;
    const char *dummy;
    apr_status_t rv;

    if (why == NULL) {
        why = &dummy;
    }
    *why = NULL;
    if (s == NULL || path == NULL || p == NULL) {
        return APR_EINVAL;
    }
    s->bytes = NULL;
    s->len = 0;

    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot open secret file %s: %s", path,
                            status_text(rv, p));
        f = NULL;
        goto cleanup;
    }
    rv = apr_file_info_get(&finfo, APR_FINFO_TYPE | APR_FINFO_PROT, f);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        *why = apr_psprintf(p, "cannot stat secret file %s: %s", path,
                            status_text(rv, p));
        goto cleanup;
    }
    if (!(finfo.valid & APR_FINFO_TYPE) || !(finfo.valid & APR_FINFO_PROT)) {
        rv = APR_INCOMPLETE;
        *why = apr_psprintf(p, "cannot read the type and permissions of "
                            "secret file %s", path);
        goto cleanup;
    }
    if (finfo.filetype != APR_REG) {
        rv = SP_ECONFIG;
        *why = apr_psprintf(p, "secret file %s is not a regular file", path);
        goto cleanup;
    }
    if (finfo.protection & (APR_WREAD | APR_WWRITE | APR_WEXECUTE)) {
        rv = SP_ECONFIG;
        *why = apr_psprintf(p, "secret file %s is open to other users "
                            "(mode %04o); run: chmod o-rwx %s",
                            path, perms_to_mode(finfo.protection), path);
        goto cleanup;
    }

    rv = apr_file_read_full(f, buf, sizeof(buf), &len);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *why = apr_psprintf(p, "cannot read secret file %s: %s", path,
                            status_text(rv, p));
        goto cleanup;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    if (len == 0) {
        rv = SP_ECONFIG;
        *why = apr_psprintf(p, "secret file %s is empty", path);
        goto cleanup;
    }
    if (len < SP_SECRET_MIN) {
        rv = SP_ECONFIG;
        *why = apr_psprintf(p, "secret in %s is %" APR_SIZE_T_FMT " bytes; "
                            "at least %d are needed", path, len,
                            SP_SECRET_MIN);
        goto cleanup;
    }
    if (len > SP_SECRET_MAX) {
        rv = SP_ECONFIG;
        *why = apr_psprintf(p, "secret file %s is longer than %d bytes",
                            path, SP_SECRET_MAX);
        goto cleanup;
    }

    /* The wipe gets its own record in p: the caller's s may not live as
     * long as the pool. */
    keep = apr_palloc(p, sizeof(*keep));
    keep->bytes = apr_pmemdup(p, buf, len);
    keep->len = len;
    apr_pool_cleanup_register(p, keep, secret_wipe, apr_pool_cleanup_null);
    *s = *keep;
    rv = APR_SUCCESS;

cleanup:
    OPENSSL_cleanse(buf, sizeof(buf));
    if (f) {
        apr_file_close(f);
    }
    return rv;
}

apr_status_t sp_auth_nonce(unsigned char *out)
{
    if (out == NULL) {
        return APR_EINVAL;
    }
    if (RAND_bytes(out, SP_NONCE_LEN) != 1) {
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* Refuses a secret that sp_secret_load would have refused, so that a
 * hand-built sp_secret_t cannot authenticate with a weak key. */
apr_status_t sp_auth_proof(const sp_secret_t *s, sp_role_e role,
                           const unsigned char *client_nonce,
                           const unsigned char *server_nonce,
                           unsigned char *out)
{
    unsigned char msg[SP_AUTH_LABEL_LEN + 2 * SP_NONCE_LEN];
    const unsigned char *first, *second;
    const char *label;
    unsigned int out_len = 0;

    if (s == NULL || s->bytes == NULL || s->len < SP_SECRET_MIN
        || s->len > SP_SECRET_MAX || client_nonce == NULL
        || server_nonce == NULL || out == NULL) {
        return APR_EINVAL;
    }
    switch (role) {
    case SP_ROLE_CLIENT:
        label = label_client;
        first = server_nonce;
        second = client_nonce;
        break;
    case SP_ROLE_SERVER:
        label = label_server;
        first = client_nonce;
        second = server_nonce;
        break;
    default:
        return APR_EINVAL;
    }

    memcpy(msg, label, SP_AUTH_LABEL_LEN);
    memcpy(msg + SP_AUTH_LABEL_LEN, first, SP_NONCE_LEN);
    memcpy(msg + SP_AUTH_LABEL_LEN + SP_NONCE_LEN, second, SP_NONCE_LEN);

    if (HMAC(EVP_sha256(), s->bytes, (int)s->len, msg, sizeof(msg), out,
             &out_len) == NULL || out_len != SP_PROOF_LEN) {
        OPENSSL_cleanse(out, SP_PROOF_LEN);
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t sp_auth_check(const sp_secret_t *s, sp_role_e role,
                           const unsigned char *client_nonce,
                           const unsigned char *server_nonce,
                           const unsigned char *proof)
{
    unsigned char expected[SP_PROOF_LEN];
    apr_status_t rv;

    if (proof == NULL) {
        return SP_EAUTH;
    }
    /* Fail closed: a proof that cannot be computed matches nothing. */
    rv = sp_auth_proof(s, role, client_nonce, server_nonce, expected);
    if (rv == APR_SUCCESS
        && CRYPTO_memcmp(expected, proof, SP_PROOF_LEN) != 0) {
        rv = SP_EAUTH;
    }
    OPENSSL_cleanse(expected, sizeof(expected));
    return rv == APR_SUCCESS ? APR_SUCCESS : SP_EAUTH;
}
