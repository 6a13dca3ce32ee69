/*
 * sp_tls.c -- TLS on links with OpenSSL (see sp_tls.h).
 *
 * TLS 1.2 at least.  The client checks the server's certificate against
 * ca_file and its name against verify_name; the server asks for a client
 * certificate when it has a ca_file.  The write buffer may move between
 * retries (the link's output queue grows and compacts), so
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER is set.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "sp_errors.h"
#include "sp_tls.h"

struct sp_tls_t {
    SSL_CTX    *ctx;
    sp_role_e   role;
    const char *verify_name;
};

struct sp_tls_conn_t {
    SSL        *ssl;
    int         wants_write;
    char        error[256];
};

static apr_status_t ctx_cleanup(void *data)
{
    sp_tls_t *t = data;

    SSL_CTX_free(t->ctx);
    return APR_SUCCESS;
}

static const char *ssl_reason(apr_pool_t *p)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    if (!e) {
        return "no detail from OpenSSL";
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return apr_pstrdup(p, buf);
}

apr_status_t sp_tls_create(sp_tls_t **out, sp_role_e role,
                           const sp_tls_conf_t *c, apr_pool_t *p,
                           const char **why)
{
    sp_tls_t *t = apr_pcalloc(p, sizeof(*t));

    t->role = role;
    t->verify_name = c->verify_name;
    t->ctx = SSL_CTX_new(role == SP_ROLE_SERVER ? TLS_server_method()
                                                : TLS_client_method());
    if (!t->ctx) {
        *why = apr_psprintf(p, "cannot make a TLS context: %s", ssl_reason(p));
        return SP_ECONFIG;
    }
    apr_pool_cleanup_register(p, t, ctx_cleanup, apr_pool_cleanup_null);
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                             | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (c->cert_file
        && SSL_CTX_use_certificate_chain_file(t->ctx, c->cert_file) != 1) {
        *why = apr_psprintf(p, "certificate %s: %s", c->cert_file,
                            ssl_reason(p));
        return SP_ECONFIG;
    }
    if (c->key_file
        && (SSL_CTX_use_PrivateKey_file(t->ctx, c->key_file, SSL_FILETYPE_PEM)
            != 1 || SSL_CTX_check_private_key(t->ctx) != 1)) {
        *why = apr_psprintf(p, "private key %s: %s", c->key_file,
                            ssl_reason(p));
        return SP_ECONFIG;
    }
    if (role == SP_ROLE_SERVER && (!c->cert_file || !c->key_file)) {
        *why = "a TLS listener needs a certificate and its key";
        return SP_ECONFIG;
    }
    if (c->ca_file) {
        if (SSL_CTX_load_verify_locations(t->ctx, c->ca_file, NULL) != 1) {
            *why = apr_psprintf(p, "CA file %s: %s", c->ca_file,
                                ssl_reason(p));
            return SP_ECONFIG;
        }
        SSL_CTX_set_verify(t->ctx, role == SP_ROLE_SERVER
                           ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                           : SSL_VERIFY_PEER, NULL);
    }
    else if (role == SP_ROLE_CLIENT) {
        SSL_CTX_set_default_verify_paths(t->ctx);
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    }
    *out = t;
    return APR_SUCCESS;
}

static apr_status_t conn_cleanup(void *data)
{
    sp_tls_conn_t *c = data;

    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t sp_tls_conn_create(sp_tls_conn_t **out, sp_tls_t *tls,
                                apr_socket_t *sock, apr_pool_t *p)
{
    sp_tls_conn_t *c = apr_pcalloc(p, sizeof(*c));
    apr_os_sock_t fd;

    apr_os_sock_get(&fd, sock);
    c->ssl = SSL_new(tls->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, c, conn_cleanup, apr_pool_cleanup_null);
    if (tls->role == SP_ROLE_CLIENT) {
        if (tls->verify_name) {
            SSL_set_tlsext_host_name(c->ssl, tls->verify_name);
            SSL_set1_host(c->ssl, tls->verify_name);
        }
        SSL_set_connect_state(c->ssl);
    }
    else {
        SSL_set_accept_state(c->ssl);
    }
    *out = c;
    return APR_SUCCESS;
}

/* Maps an OpenSSL result to a status; sets wants_write as needed. */
static apr_status_t map_result(sp_tls_conn_t *c, int r)
{
    int err = SSL_get_error(c->ssl, r);
    unsigned long e;

    c->wants_write = 0;
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return APR_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->wants_write = 1;
        return APR_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return APR_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            return APR_EOF;  /* the peer went away without close_notify */
        }
        /* fall through */
    default:
        e = ERR_get_error();
        if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
            apr_snprintf(c->error, sizeof(c->error), "TLS: peer certificate "
                         "refused: %s", X509_verify_cert_error_string(
                             SSL_get_verify_result(c->ssl)));
        }
        else {
            char buf[200];
            ERR_error_string_n(e, buf, sizeof(buf));
            apr_snprintf(c->error, sizeof(c->error), "TLS: %s", buf);
        }
        ERR_clear_error();
        return SP_EPROTO;
    }
}

apr_status_t sp_tls_recv(sp_tls_conn_t *c, char *buf, apr_size_t *len)
{
    int want = *len > 0x7fffffff ? 0x7fffffff : (int)*len;
    int r = SSL_read(c->ssl, buf, want);

    if (r > 0) {
        *len = (apr_size_t)r;
        return APR_SUCCESS;
    }
    *len = 0;
    return map_result(c, r);
}

apr_status_t sp_tls_send(sp_tls_conn_t *c, const char *buf, apr_size_t *len)
{
    int want = *len > 0x7fffffff ? 0x7fffffff : (int)*len;
    int r = SSL_write(c->ssl, buf, want);

    if (r > 0) {
        *len = (apr_size_t)r;
        c->wants_write = 0;
        return APR_SUCCESS;
    }
    *len = 0;
    return map_result(c, r);
}

int sp_tls_wants_write(const sp_tls_conn_t *c)
{
    return c->wants_write;
}

int sp_tls_pending(const sp_tls_conn_t *c)
{
    return SSL_pending(c->ssl);
}

const char *sp_tls_error(const sp_tls_conn_t *c)
{
    return c->error[0] ? c->error : "TLS failure";
}
