/*
 * sp_tls.h -- optional TLS for links that cross untrusted networks.
 *
 * OpenSSL does all of it: certificates, peer verification, the record
 * layer.  A link over TLS still runs the shared-secret handshake inside
 * the TLS session, so a peer needs both a valid certificate (if asked
 * for) and the secret.  Non-blocking: reads and writes that OpenSSL
 * cannot finish now come back as APR_EAGAIN, like the plain socket.
 */
#ifndef SP_TLS_H
#define SP_TLS_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_network_io.h>
#include <apr_pools.h>

#include "sp_auth.h"

typedef struct sp_tls_conf_t {
    const char *cert_file;   /* our certificate (PEM); server: required */
    const char *key_file;    /* its private key (PEM) */
    const char *ca_file;     /* CAs to verify the peer with; server: if set,
                              * clients must present a certificate */
    const char *verify_name; /* client: name the server certificate must
                              * carry (default: the backend's host) */
} sp_tls_conf_t;

typedef struct sp_tls_t sp_tls_t;     /* a context: one per backend/listener */
typedef struct sp_tls_conn_t sp_tls_conn_t;  /* one per link */

/* Makes a context for role from c.  On failure *why (allocated in p)
 * names the file and OpenSSL's reason.  Freed with p. */
apr_status_t sp_tls_create(sp_tls_t **tls, sp_role_e role,
                           const sp_tls_conf_t *c, apr_pool_t *p,
                           const char **why);

/* Starts TLS on a connected socket (freed with p). */
apr_status_t sp_tls_conn_create(sp_tls_conn_t **conn, sp_tls_t *tls,
                                apr_socket_t *sock, apr_pool_t *p);

/* Like apr_socket_recv/send on a non-blocking socket: APR_SUCCESS with
 * *len set, APR_EAGAIN (try again when readable or writable: see
 * sp_tls_wants_write), APR_EOF when the peer closed, or SP_EPROTO with
 * sp_tls_error() saying why (a failed handshake: certificate, name). */
apr_status_t sp_tls_recv(sp_tls_conn_t *conn, char *buf, apr_size_t *len);
apr_status_t sp_tls_send(sp_tls_conn_t *conn, const char *buf,
                         apr_size_t *len);
int          sp_tls_wants_write(const sp_tls_conn_t *conn);
/* Bytes OpenSSL has decrypted and holds: the socket will not signal
 * them, so a reader must take them before it waits again. */
int          sp_tls_pending(const sp_tls_conn_t *conn);
const char  *sp_tls_error(const sp_tls_conn_t *conn);

#endif
