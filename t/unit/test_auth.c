/*
 * test_auth.c -- the shared secret file and the handshake proofs.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "unit.h"
#include "sp_auth.h"
#include "sp_errors.h"

static const unsigned char secret_bytes[] = "0123456789abcdef0123456789abcdef";
static const sp_secret_t secret = {
    (unsigned char *)secret_bytes, sizeof(secret_bytes) - 1
};
static unsigned char nc[SP_NONCE_LEN], ns[SP_NONCE_LEN];

static void nonces_setup(void)
{
    unsigned i;

    for (i = 0; i < SP_NONCE_LEN; i++) {
        nc[i] = (unsigned char)i;
        ns[i] = (unsigned char)(0x80 + i);
    }
}

/* HMAC-SHA256 computed independently (Python's hmac module) for the
 * secret and nonces above: pins the label and the nonce order. */
static const unsigned char kat_client[SP_PROOF_LEN] =
    "\x9c\xff\xb2\xc4\xc1\xef\xa1\x4d\x38\xe6\x47\x06\x42\xc7\xe1\xc0"
    "\x30\x19\x39\xa0\xa2\xa8\xed\x8e\xd2\xdf\x6a\xf3\x1b\x53\xaf\xd2";
static const unsigned char kat_server[SP_PROOF_LEN] =
    "\x7d\x96\x89\xe5\xc8\xf3\xf2\xd3\x20\x42\x6a\xc2\x86\xe5\x07\xb4"
    "\x2b\x9a\xaf\xff\xdc\x8a\x8b\xde\x3b\xd6\x03\xc4\x26\x9a\x0f\xb2";

START_TEST(proofs_match_the_documented_hmac)
{
    unsigned char out[SP_PROOF_LEN];

    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_CLIENT, nc, ns, out),
                     APR_SUCCESS);
    ck_assert_mem_eq(out, kat_client, SP_PROOF_LEN);
    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_SERVER, nc, ns, out),
                     APR_SUCCESS);
    ck_assert_mem_eq(out, kat_server, SP_PROOF_LEN);
}
END_TEST

START_TEST(a_client_proof_checks_as_the_client_and_fails_as_the_server)
{
    unsigned char proof[SP_PROOF_LEN];

    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_SERVER, nc, ns, proof),
                     SP_EAUTH);
}
END_TEST

START_TEST(a_server_proof_checks_as_the_server_and_fails_as_the_client)
{
    unsigned char proof[SP_PROOF_LEN];

    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_SERVER, nc, ns, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_SERVER, nc, ns, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     SP_EAUTH);
}
END_TEST

START_TEST(a_proof_with_any_bit_flipped_fails)
{
    unsigned char proof[SP_PROOF_LEN];
    unsigned byte = (unsigned)_i / 8, bit = (unsigned)_i % 8;

    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     APR_SUCCESS);
    proof[byte] ^= (unsigned char)(1u << bit);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     SP_EAUTH);
}
END_TEST

START_TEST(a_proof_made_with_another_secret_fails)
{
    static unsigned char other_bytes[] = "0123456789abcdef0123456789abcdeF";
    sp_secret_t other = { other_bytes, sizeof(other_bytes) - 1 };
    unsigned char proof[SP_PROOF_LEN];

    ck_assert_int_eq(sp_auth_proof(&other, SP_ROLE_CLIENT, nc, ns, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     SP_EAUTH);
}
END_TEST

START_TEST(a_proof_for_other_nonces_fails)
{
    unsigned char proof[SP_PROOF_LEN], nc2[SP_NONCE_LEN];

    /* swapped nonces: a replayed proof from the reverse direction */
    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_CLIENT, ns, nc, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     SP_EAUTH);
    /* a fresh client nonce */
    memcpy(nc2, nc, sizeof(nc2));
    nc2[SP_NONCE_LEN - 1] ^= 1;
    ck_assert_int_eq(sp_auth_proof(&secret, SP_ROLE_CLIENT, nc2, ns, proof),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_auth_check(&secret, SP_ROLE_CLIENT, nc, ns, proof),
                     SP_EAUTH);
}
END_TEST

START_TEST(a_secret_shorter_than_the_minimum_makes_no_proof)
{
    static unsigned char short_bytes[] = "0123456789abcde";   /* 15 */
    sp_secret_t weak = { short_bytes, sizeof(short_bytes) - 1 };
    unsigned char proof[SP_PROOF_LEN];

    ck_assert_int_eq(sp_auth_proof(&weak, SP_ROLE_CLIENT, nc, ns, proof),
                     APR_EINVAL);
    ck_assert_int_eq(sp_auth_check(&weak, SP_ROLE_CLIENT, nc, ns, proof),
                     SP_EAUTH);
}
END_TEST

START_TEST(nonces_differ_between_calls)
{
    unsigned char a[SP_NONCE_LEN], b[SP_NONCE_LEN], zero[SP_NONCE_LEN];

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    memset(zero, 0, sizeof(zero));
    ck_assert_int_eq(sp_auth_nonce(a), APR_SUCCESS);
    ck_assert_int_eq(sp_auth_nonce(b), APR_SUCCESS);
    ck_assert(memcmp(a, b, SP_NONCE_LEN) != 0);
    ck_assert(memcmp(a, zero, SP_NONCE_LEN) != 0);
    ck_assert(memcmp(b, zero, SP_NONCE_LEN) != 0);
}
END_TEST

/* --- the secret file ------------------------------------------------- */

static apr_status_t remove_path(void *data)
{
    apr_file_remove(data, NULL);
    return APR_SUCCESS;
}

/* Writes content into a new file with exactly `perms` (umask bypassed),
 * removed with the test's pool. */
static const char *secret_file(const void *content, apr_size_t len,
                               apr_fileperms_t perms)
{
    const char *dir;
    char *path;
    apr_file_t *f;
    apr_size_t written;

    ck_assert_int_eq(apr_temp_dir_get(&dir, unit_pool), APR_SUCCESS);
    path = apr_pstrcat(unit_pool, dir, "/sp-secret-XXXXXX", NULL);
    ck_assert_int_eq(apr_file_mktemp(&f, path, APR_FOPEN_CREATE
                                     | APR_FOPEN_READ | APR_FOPEN_WRITE
                                     | APR_FOPEN_EXCL, unit_pool),
                     APR_SUCCESS);
    apr_pool_cleanup_register(unit_pool, path, remove_path,
                              apr_pool_cleanup_null);
    ck_assert_int_eq(apr_file_write_full(f, content, len, &written),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_close(f), APR_SUCCESS);
    ck_assert_int_eq(apr_file_perms_set(path, perms), APR_SUCCESS);
    return path;
}

#define PERMS_0600 (APR_UREAD | APR_UWRITE)
#define PERMS_0640 (APR_UREAD | APR_UWRITE | APR_GREAD)
#define PERMS_0644 (APR_UREAD | APR_UWRITE | APR_GREAD | APR_WREAD)
#define PERMS_0602 (APR_UREAD | APR_UWRITE | APR_WWRITE)
#define PERMS_0601 (APR_UREAD | APR_UWRITE | APR_WEXECUTE)

START_TEST(a_secret_file_with_mode_0600_is_loaded)
{
    const char *path = secret_file("0123456789abcdefXYZ", 19, PERMS_0600);
    sp_secret_t s;
    const char *why = "unset";

    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why),
                     APR_SUCCESS);
    ck_assert_uint_eq(s.len, 19);
    ck_assert_mem_eq(s.bytes, "0123456789abcdefXYZ", 19);
}
END_TEST

START_TEST(a_secret_file_readable_by_the_group_only_is_loaded)
{
    const char *path = secret_file("0123456789abcdef", 16, PERMS_0640);
    sp_secret_t s;
    const char *why;

    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why),
                     APR_SUCCESS);
    ck_assert_uint_eq(s.len, 16);
}
END_TEST

static const apr_fileperms_t open_perms[] = {
    PERMS_0644, PERMS_0602, PERMS_0601
};
static const char *const open_modes[] = { "0644", "0602", "0601" };

START_TEST(a_secret_file_open_to_other_users_is_refused_with_the_fix)
{
    const char *path = secret_file("0123456789abcdef", 16, open_perms[_i]);
    sp_secret_t s;
    const char *why = NULL;

    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), SP_ECONFIG);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, path) != NULL, "why lacks the path: %s", why);
    ck_assert_msg(strstr(why, open_modes[_i]) != NULL,
                  "why lacks the mode %s: %s", open_modes[_i], why);
    ck_assert_msg(strstr(why, apr_pstrcat(unit_pool, "chmod o-rwx ", path,
                                          NULL)) != NULL,
                  "why lacks the chmod to run: %s", why);
}
END_TEST

typedef struct {
    const char  *what;
    const char  *content;
    apr_size_t   len;
    apr_size_t   want_len;   /* 0: refused */
} secret_content_case_t;

#define S16 "0123456789abcdef"
#define CONTENT(what, lit, want) { what, lit, sizeof(lit) - 1, want }

static const secret_content_case_t secret_contents[] = {
    CONTENT("a trailing LF is stripped",          S16 "\n", 16),
    CONTENT("a trailing CRLF is stripped",        S16 "\r\n", 16),
    CONTENT("only one trailing LF is stripped",   S16 "\n\n", 17),
    CONTENT("a lone trailing CR is kept",         S16 "\r", 17),
    CONTENT("an inner LF is kept",                "01234567\n89abcdef", 17),
    CONTENT("an empty file is refused",           "", 0),
    CONTENT("a file holding only LF is refused",  "\n", 0),
    CONTENT("15 bytes are refused",               "0123456789abcde", 0),
    CONTENT("15 bytes and LF are refused",        "0123456789abcde\n", 0),
    CONTENT("exactly the minimum is accepted",    S16, 16),
};

START_TEST(secret_file_contents_are_trimmed_or_refused)
{
    const secret_content_case_t *c = &secret_contents[_i];
    const char *path = secret_file(c->content, c->len, PERMS_0600);
    sp_secret_t s;
    const char *why = NULL;
    apr_status_t rv;

    rv = sp_secret_load(&s, path, unit_pool, &why);
    if (c->want_len == 0) {
        ck_assert_msg(rv == SP_ECONFIG, "%s: got %d", c->what, rv);
        ck_assert_msg(why != NULL && *why, "%s: no reason given", c->what);
    }
    else {
        ck_assert_msg(rv == APR_SUCCESS, "%s: got %d (%s)", c->what, rv,
                      why ? why : "");
        ck_assert_uint_eq(s.len, c->want_len);
        ck_assert_mem_eq(s.bytes, c->content, c->want_len);
    }
}
END_TEST

START_TEST(secret_files_at_and_past_the_maximum)
{
    char *big = apr_palloc(unit_pool, SP_SECRET_MAX + 3);
    const char *path;
    sp_secret_t s;
    const char *why = NULL;

    memset(big, 'k', SP_SECRET_MAX + 1);
    big[SP_SECRET_MAX] = '\r';
    big[SP_SECRET_MAX + 1] = '\n';

    path = secret_file(big, SP_SECRET_MAX, PERMS_0600);
    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), APR_SUCCESS);
    ck_assert_uint_eq(s.len, SP_SECRET_MAX);

    path = secret_file(big, SP_SECRET_MAX + 2, PERMS_0600);
    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), APR_SUCCESS);
    ck_assert_uint_eq(s.len, SP_SECRET_MAX);

    big[SP_SECRET_MAX] = 'k';
    path = secret_file(big, SP_SECRET_MAX + 1, PERMS_0600);
    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), SP_ECONFIG);
    ck_assert_ptr_nonnull(why);

    memset(big, 'k', SP_SECRET_MAX + 3);
    path = secret_file(big, SP_SECRET_MAX + 3, PERMS_0600);
    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), SP_ECONFIG);
}
END_TEST

START_TEST(a_missing_secret_file_gives_the_io_error)
{
    sp_secret_t s;
    const char *why = NULL;
    apr_status_t rv;

    rv = sp_secret_load(&s, "/nonexistent/sp-secret", unit_pool, &why);
    ck_assert_msg(APR_STATUS_IS_ENOENT(rv), "got %d", rv);
}
END_TEST

START_TEST(a_directory_is_not_a_secret_file)
{
    const char *dir;
    char *path;
    sp_secret_t s;
    const char *why = NULL;

    ck_assert_int_eq(apr_temp_dir_get(&dir, unit_pool), APR_SUCCESS);
    path = apr_pstrcat(unit_pool, dir, "/sp-secret-dir-XXXXXX", NULL);
    ck_assert_ptr_nonnull(mkdtemp(path));
    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), SP_ECONFIG);
    apr_dir_remove(path, unit_pool);
}
END_TEST

START_TEST(a_loaded_secret_makes_proofs_that_check)
{
    const char *path = secret_file(secret_bytes, sizeof(secret_bytes) - 1,
                                   PERMS_0600);
    sp_secret_t s;
    unsigned char proof[SP_PROOF_LEN];
    const char *why;

    ck_assert_int_eq(sp_secret_load(&s, path, unit_pool, &why), APR_SUCCESS);
    ck_assert_int_eq(sp_auth_proof(&s, SP_ROLE_CLIENT, nc, ns, proof),
                     APR_SUCCESS);
    ck_assert_mem_eq(proof, kat_client, SP_PROOF_LEN);
}
END_TEST

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tp = tcase_create("proofs");
    TCase *tf = tcase_create("secret file");

    tcase_add_checked_fixture(tp, unit_pool_setup, unit_pool_teardown);
    tcase_add_checked_fixture(tp, nonces_setup, NULL);
    tcase_add_test(tp, proofs_match_the_documented_hmac);
    tcase_add_test(tp, a_client_proof_checks_as_the_client_and_fails_as_the_server);
    tcase_add_test(tp, a_server_proof_checks_as_the_server_and_fails_as_the_client);
    tcase_add_loop_test(tp, a_proof_with_any_bit_flipped_fails,
                        0, SP_PROOF_LEN * 8);
    tcase_add_test(tp, a_proof_made_with_another_secret_fails);
    tcase_add_test(tp, a_proof_for_other_nonces_fails);
    tcase_add_test(tp, a_secret_shorter_than_the_minimum_makes_no_proof);
    tcase_add_test(tp, nonces_differ_between_calls);
    suite_add_tcase(s, tp);

    tcase_add_checked_fixture(tf, unit_pool_setup, unit_pool_teardown);
    tcase_add_checked_fixture(tf, nonces_setup, NULL);
    tcase_add_test(tf, a_secret_file_with_mode_0600_is_loaded);
    tcase_add_test(tf, a_secret_file_readable_by_the_group_only_is_loaded);
    tcase_add_loop_test(tf, a_secret_file_open_to_other_users_is_refused_with_the_fix,
                        0, UNIT_NCASES(open_perms));
    tcase_add_loop_test(tf, secret_file_contents_are_trimmed_or_refused,
                        0, UNIT_NCASES(secret_contents));
    tcase_add_test(tf, secret_files_at_and_past_the_maximum);
    tcase_add_test(tf, a_missing_secret_file_gives_the_io_error);
    tcase_add_test(tf, a_directory_is_not_a_secret_file);
    tcase_add_test(tf, a_loaded_secret_makes_proofs_that_check);
    suite_add_tcase(s, tf);
    return s;
}
