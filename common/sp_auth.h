/*
 * sp_auth.h -- the shared secret and the challenge-response proofs.
 *
 * Both ends of a link prove they know the secret without sending it:
 *
 *   client -> HELLO     version, Nc (32 random bytes)
 *   server -> CHALLENGE version, Ns
 *   client -> AUTH      HMAC-SHA256(secret, "slotproxy-client" Ns Nc), ...
 *   server -> WELCOME   HMAC-SHA256(secret, "slotproxy-server" Nc Ns), ...
 *
 * Each side checks the other's proof with a constant-time compare.
 * OpenSSL does the HMAC and the random bytes; nothing here is hand-made
 * crypto.
 */
#ifndef SP_AUTH_H
#define SP_AUTH_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

#define SP_NONCE_LEN   32
#define SP_PROOF_LEN   32
#define SP_SECRET_MIN  16     /* bytes: shorter secrets are refused */
#define SP_SECRET_MAX  4096

typedef enum { SP_ROLE_CLIENT = 0, SP_ROLE_SERVER = 1 } sp_role_e;

typedef struct sp_secret_t {
    unsigned char *bytes;
    apr_size_t     len;
} sp_secret_t;

/* Reads the secret from path: the file's bytes with one trailing "\n" or
 * "\r\n" removed.  Refuses (APR_EINVAL / SP_ECONFIG, with *why set to a
 * sentence allocated in p) a file that is empty, shorter than
 * SP_SECRET_MIN or longer than SP_SECRET_MAX bytes, or readable or
 * writable by "other" users.  I/O errors are returned as they are. */
apr_status_t sp_secret_load(sp_secret_t *s, const char *path, apr_pool_t *p,
                            const char **why);

/* Fills out with SP_NONCE_LEN random bytes (OpenSSL RAND_bytes). */
apr_status_t sp_auth_nonce(unsigned char *out);

/* The proof that `role` sends: for SP_ROLE_CLIENT
 * HMAC(secret, "slotproxy-client" || server_nonce || client_nonce), for
 * SP_ROLE_SERVER HMAC(secret, "slotproxy-server" || client_nonce ||
 * server_nonce).  out gets SP_PROOF_LEN bytes. */
apr_status_t sp_auth_proof(const sp_secret_t *s, sp_role_e role,
                           const unsigned char *client_nonce,
                           const unsigned char *server_nonce,
                           unsigned char *out);

/* Checks a received proof made by `role`: APR_SUCCESS or SP_EAUTH. */
apr_status_t sp_auth_check(const sp_secret_t *s, sp_role_e role,
                           const unsigned char *client_nonce,
                           const unsigned char *server_nonce,
                           const unsigned char *proof);

#endif
