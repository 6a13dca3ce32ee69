/*
 * test_head.c -- the head block: builder limits, the reader's checks on
 * hostile blocks, round trips and lookups.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "sp_errors.h"
#include "sp_head.h"

START_TEST(builder_writes_the_documented_field_layout)
{
    static const unsigned char want[] =
        "\x00\x04" "\x00\x00\x00\x02" "Host" "\0" "ab" "\0";
    unsigned char buf[64];
    sp_head_builder_t b;

    sp_head_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(sp_head_add(&b, "Host", "ab"), APR_SUCCESS);
    ck_assert_uint_eq(b.len, sizeof(want) - 1);
    ck_assert_mem_eq(buf, want, sizeof(want) - 1);
    ck_assert_int_eq(b.overflow, 0);
}
END_TEST

START_TEST(round_trip_keeps_every_field_and_repeated_names_in_order)
{
    static const char *const fields[][2] = {
        { SP_H_METHOD, "GET" },
        { SP_H_PATH, "/app/x" },
        { "Set-Cookie", "a=1" },
        { "X-Empty", "" },
        { "Set-Cookie", "b=2" },
        { "Set-Cookie", "c=3; Path=/" },
    };
    unsigned char buf[512];
    sp_head_builder_t b;
    sp_head_reader_t r;
    const char *name, *value;
    apr_size_t nlen, vlen, count = 0, i;

    sp_head_builder_init(&b, buf, sizeof(buf));
    for (i = 0; i < UNIT_NCASES(fields); i++) {
        ck_assert_int_eq(sp_head_add(&b, fields[i][0], fields[i][1]),
                         APR_SUCCESS);
    }
    ck_assert_int_eq(sp_head_validate(buf, b.len, &count), APR_SUCCESS);
    ck_assert_uint_eq(count, UNIT_NCASES(fields));

    sp_head_reader_init(&r, buf, b.len);
    for (i = 0; i < UNIT_NCASES(fields); i++) {
        ck_assert_int_eq(sp_head_next(&r, &name, &nlen, &value, &vlen),
                         APR_SUCCESS);
        ck_assert_str_eq(name, fields[i][0]);
        ck_assert_str_eq(value, fields[i][1]);
        ck_assert_uint_eq(nlen, strlen(fields[i][0]));
        ck_assert_uint_eq(vlen, strlen(fields[i][1]));
        /* pointers are into the block, not copies */
        ck_assert((const unsigned char *)name >= buf
                  && (const unsigned char *)value < buf + b.len);
    }
    ck_assert_int_eq(sp_head_next(&r, &name, &nlen, &value, &vlen),
                     APR_EOF);
}
END_TEST

START_TEST(addn_takes_values_that_are_not_nul_terminated)
{
    static const char src[] = "Content-Lengthxyz";
    unsigned char buf[64];
    sp_head_builder_t b;
    sp_head_reader_t r;
    const char *name, *value;
    apr_size_t nlen, vlen;

    sp_head_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(sp_head_addn(&b, src, 14, "12345", 2), APR_SUCCESS);
    sp_head_reader_init(&r, buf, b.len);
    ck_assert_int_eq(sp_head_next(&r, &name, &nlen, &value, &vlen),
                     APR_SUCCESS);
    ck_assert_str_eq(name, "Content-Length");
    ck_assert_str_eq(value, "12");
}
END_TEST

typedef struct {
    const char *what;
    const char *name;
    apr_size_t  nlen;
    const char *value;
    apr_size_t  vlen;
} bad_field_case_t;

static const bad_field_case_t bad_fields[] = {
    { "empty name",           "",       0, "v",      1 },
    { "NULL name",            NULL,     0, "v",      1 },
    { "NUL inside the name",  "a\0b",   3, "v",      1 },
    { "CR inside the name",   "a\rb",   3, "v",      1 },
    { "LF inside the name",   "a\nb",   3, "v",      1 },
    { "NUL inside the value", "n",      1, "x\0y",   3 },
    { "CR inside the value",  "n",      1, "x\ry",   3 },
    { "LF inside the value",  "n",      1, "x\r\nX-Injected: 1", 16 },
    { "NULL value with a length", "n",  1, NULL,     4 },
};

START_TEST(builder_refuses_bad_names_and_values_without_writing)
{
    const bad_field_case_t *c = &bad_fields[_i];
    unsigned char buf[128];
    sp_head_builder_t b;

    sp_head_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(sp_head_add(&b, "A", "1"), APR_SUCCESS);
    ck_assert_msg(sp_head_addn(&b, c->name, c->nlen, c->value, c->vlen)
                  == APR_EINVAL, "%s was accepted", c->what);
    ck_assert_uint_eq(b.len, 6 + 2 + 2);
    ck_assert_int_eq(b.overflow, 0);
    /* the builder is still usable */
    ck_assert_int_eq(sp_head_add(&b, "B", "2"), APR_SUCCESS);
    ck_assert_int_eq(sp_head_validate(buf, b.len, NULL), APR_SUCCESS);
}
END_TEST

START_TEST(builder_refuses_a_name_longer_than_the_limit)
{
    apr_size_t cap = SP_HEAD_MAX_NAME + 64;
    unsigned char *buf = apr_palloc(unit_pool, cap);
    char *name = apr_palloc(unit_pool, SP_HEAD_MAX_NAME + 1);
    sp_head_builder_t b;

    memset(name, 'n', SP_HEAD_MAX_NAME + 1);
    sp_head_builder_init(&b, buf, cap);
    ck_assert_int_eq(sp_head_addn(&b, name, SP_HEAD_MAX_NAME + 1, "v", 1),
                     APR_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    /* the longest allowed name fits and reads back */
    ck_assert_int_eq(sp_head_addn(&b, name, SP_HEAD_MAX_NAME, "v", 1),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_head_validate(buf, b.len, NULL), APR_SUCCESS);
}
END_TEST

START_TEST(builder_accepts_a_field_that_fits_exactly)
{
    /* 6 + "ab" + NUL + "xyz" + NUL = 13 */
    unsigned char buf[13];
    sp_head_builder_t b;

    sp_head_builder_init(&b, buf, 13);
    ck_assert_int_eq(sp_head_add(&b, "ab", "xyz"), APR_SUCCESS);
    ck_assert_uint_eq(b.len, 13);
    ck_assert_int_eq(sp_head_validate(buf, b.len, NULL), APR_SUCCESS);

    sp_head_builder_init(&b, buf, 12);
    ck_assert_int_eq(sp_head_add(&b, "ab", "xyz"), SP_ETOOLONG);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(builder_overflow_is_sticky)
{
    unsigned char buf[24];
    sp_head_builder_t b;
    apr_size_t len_before;

    sp_head_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(sp_head_add(&b, "A", "1"), APR_SUCCESS);  /* 10 */
    len_before = b.len;
    ck_assert_int_eq(sp_head_add(&b, "Long-Name", "long value"),
                     SP_ETOOLONG);
    ck_assert_int_ne(b.overflow, 0);
    ck_assert_uint_eq(b.len, len_before);
    /* this one would fit, but the head is already incomplete */
    ck_assert_int_eq(sp_head_add(&b, "B", "2"), SP_ETOOLONG);
    ck_assert_uint_eq(b.len, len_before);
    /* what was written is still a valid block */
    ck_assert_int_eq(sp_head_validate(buf, b.len, NULL), APR_SUCCESS);
}
END_TEST

typedef struct {
    const char *what;
    const char *bytes;
    apr_size_t  len;
    int         good_fields;   /* valid fields before the damage */
} bad_block_case_t;

#define BLOCK(what, lit, good) { what, lit, sizeof(lit) - 1, good }
/* A good field to put in front of damage: "A" = "1". */
#define GOOD "\x00\x01\x00\x00\x00\x01" "A\0" "1\0"

static const bad_block_case_t bad_blocks[] = {
    BLOCK("one byte of a length",      "\x00", 0),
    BLOCK("five bytes of the lengths", "\x00\x01\x00\x00\x00", 0),
    BLOCK("lengths after a good field", GOOD "\x00\x01\x00", 1),
    BLOCK("empty name",
          "\x00\x00\x00\x00\x00\x01" "\0" "v\0", 0),
    BLOCK("name length past the end",
          "\x00\x09\x00\x00\x00\x00" "ab\0\0", 0),
    BLOCK("name length 0xffff past the end",
          "\xff\xff\x00\x00\x00\x00" "ab\0\0", 0),
    BLOCK("truncated name",
          "\x00\x05\x00\x00\x00\x00" "abc", 0),
    BLOCK("missing NUL after the name",
          "\x00\x02\x00\x00\x00\x01" "abX" "v\0", 0),
    BLOCK("missing NUL after the value",
          "\x00\x02\x00\x00\x00\x01" "ab\0" "vX", 0),
    BLOCK("no room for the value's NUL",
          "\x00\x02\x00\x00\x00\x02" "ab\0" "v\0", 0),
    BLOCK("value length pointing past the end",
          "\x00\x02\x00\x00\x00\x40" "ab\0" "v\0", 0),
    BLOCK("value length 0xffffffff",
          "\x00\x02\xff\xff\xff\xff" "ab\0" "v\0", 0),
    BLOCK("value length 0xfffffffe",
          "\x00\x02\xff\xff\xff\xfe" "ab\0" "v\0", 0),
    BLOCK("NUL inside the name",
          "\x00\x03\x00\x00\x00\x01" "a\0b\0" "v\0", 0),
    BLOCK("CR inside the name",
          "\x00\x03\x00\x00\x00\x01" "a\rb\0" "v\0", 0),
    BLOCK("LF inside the name",
          "\x00\x03\x00\x00\x00\x01" "a\nb\0" "v\0", 0),
    BLOCK("NUL inside the value",
          "\x00\x01\x00\x00\x00\x03" "n\0" "x\0y\0", 0),
    BLOCK("CR inside the value",
          "\x00\x01\x00\x00\x00\x03" "n\0" "x\ry\0", 0),
    BLOCK("LF inside the value after a good field",
          GOOD "\x00\x01\x00\x00\x00\x03" "n\0" "x\ny\0", 1),
    BLOCK("trailing byte after a good field", GOOD "\x00", 1),
    /* The block ends where a NUL is due; the byte after it is NUL in the
     * literal, so a reader that looks one past the end is caught. */
    BLOCK("name reaching the end with no NUL",
          "\x00\x03\x00\x00\x00\x00" "abc", 0),
    BLOCK("value reaching the end with no NUL",
          "\x00\x02\x00\x00\x00\x02" "ab\0" "vw", 0),
};

/* Each block is copied into a heap buffer of its exact size, so that a
 * read past its end is seen by AddressSanitizer (make SANITIZE=1). */
START_TEST(reader_rejects_each_malformed_block)
{
    const bad_block_case_t *c = &bad_blocks[_i];
    unsigned char *block = malloc(c->len ? c->len : 1);
    sp_head_reader_t r;
    const char *name, *value;
    apr_size_t nlen, vlen, count = 12345;
    apr_status_t rv;
    int i;

    ck_assert_ptr_nonnull(block);
    memcpy(block, c->bytes, c->len);
    sp_head_reader_init(&r, block, c->len);
    for (i = 0; i < c->good_fields; i++) {
        ck_assert_int_eq(sp_head_next(&r, &name, &nlen, &value, &vlen),
                         APR_SUCCESS);
    }
    rv = sp_head_next(&r, &name, &nlen, &value, &vlen);
    ck_assert_msg(rv == SP_EPROTO, "%s: next gave %d", c->what, rv);
    ck_assert_msg(sp_head_validate(block, c->len, &count) == SP_EPROTO,
                  "%s: validate accepted it", c->what);
    ck_assert_msg(sp_head_get(block, c->len, "A") == NULL,
                  "%s: get found a field in a malformed block", c->what);
    free(block);
}
END_TEST

START_TEST(an_empty_block_is_valid_and_has_no_fields)
{
    sp_head_reader_t r;
    const char *name, *value;
    apr_size_t nlen, vlen, count = 99;

    ck_assert_int_eq(sp_head_validate("", 0, &count), APR_SUCCESS);
    ck_assert_uint_eq(count, 0);
    sp_head_reader_init(&r, "", 0);
    ck_assert_int_eq(sp_head_next(&r, &name, &nlen, &value, &vlen),
                     APR_EOF);
    ck_assert_ptr_null(sp_head_get("", 0, "Host"));
}
END_TEST

START_TEST(get_is_case_insensitive_and_returns_the_first_value)
{
    unsigned char buf[256];
    sp_head_builder_t b;
    const char *v;

    sp_head_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(sp_head_add(&b, SP_H_STATUS, "200"), APR_SUCCESS);
    ck_assert_int_eq(sp_head_add(&b, "Content-Type", "text/plain"),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_head_add(&b, "Set-Cookie", "first"), APR_SUCCESS);
    ck_assert_int_eq(sp_head_add(&b, "set-cookie", "second"), APR_SUCCESS);

    v = sp_head_get(buf, b.len, "content-type");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, "text/plain");
    ck_assert_str_eq(sp_head_get(buf, b.len, "CONTENT-TYPE"), "text/plain");
    ck_assert_str_eq(sp_head_get(buf, b.len, "SET-COOKIE"), "first");
    ck_assert_str_eq(sp_head_get(buf, b.len, ":status"), "200");
    ck_assert_ptr_null(sp_head_get(buf, b.len, "Content-Length"));
    /* a prefix of a name is not the name */
    ck_assert_ptr_null(sp_head_get(buf, b.len, "Content"));
    ck_assert_ptr_null(sp_head_get(buf, b.len, "Content-Type2"));
}
END_TEST

Suite *head_suite(void)
{
    Suite *s = suite_create("head");
    TCase *tc = tcase_create("block");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, builder_writes_the_documented_field_layout);
    tcase_add_test(tc, round_trip_keeps_every_field_and_repeated_names_in_order);
    tcase_add_test(tc, addn_takes_values_that_are_not_nul_terminated);
    tcase_add_loop_test(tc, builder_refuses_bad_names_and_values_without_writing,
                        0, UNIT_NCASES(bad_fields));
    tcase_add_test(tc, builder_refuses_a_name_longer_than_the_limit);
    tcase_add_test(tc, builder_accepts_a_field_that_fits_exactly);
    tcase_add_test(tc, builder_overflow_is_sticky);
    tcase_add_loop_test(tc, reader_rejects_each_malformed_block,
                        0, UNIT_NCASES(bad_blocks));
    tcase_add_test(tc, an_empty_block_is_valid_and_has_no_fields);
    tcase_add_test(tc, get_is_case_insensitive_and_returns_the_first_value);
    suite_add_tcase(s, tc);
    return s;
}
