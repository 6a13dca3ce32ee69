/*
 * test_frame.c -- the frame header codec: wire layout, the checks the
 * decoders make on hostile headers, fixed payload sizes and names.
 */
#include <string.h>

#include "unit.h"
#include "sp_errors.h"
#include "sp_frame.h"

/* Writes a raw header, reserved field included, without the encoder. */
static void raw_hdr(unsigned char *out, uint32_t length, uint8_t type,
                    uint8_t flags, uint16_t reserved, uint32_t stream)
{
    out[0] = (unsigned char)(length >> 24);
    out[1] = (unsigned char)(length >> 16);
    out[2] = (unsigned char)(length >> 8);
    out[3] = (unsigned char)length;
    out[4] = type;
    out[5] = flags;
    out[6] = (unsigned char)(reserved >> 8);
    out[7] = (unsigned char)reserved;
    out[8] = (unsigned char)(stream >> 24);
    out[9] = (unsigned char)(stream >> 16);
    out[10] = (unsigned char)(stream >> 8);
    out[11] = (unsigned char)stream;
}

START_TEST(big_endian_helpers_write_the_most_significant_byte_first)
{
    unsigned char b[4];

    sp_put_u16(b, 0x1234);
    ck_assert_uint_eq(b[0], 0x12);
    ck_assert_uint_eq(b[1], 0x34);
    ck_assert_uint_eq(sp_get_u16(b), 0x1234);

    sp_put_u32(b, 0xa1b2c3d4u);
    ck_assert_uint_eq(b[0], 0xa1);
    ck_assert_uint_eq(b[1], 0xb2);
    ck_assert_uint_eq(b[2], 0xc3);
    ck_assert_uint_eq(b[3], 0xd4);
    ck_assert_uint_eq(sp_get_u32(b), 0xa1b2c3d4u);

    sp_put_u32(b, 0xffffffffu);
    ck_assert_uint_eq(sp_get_u32(b), 0xffffffffu);
    sp_put_u16(b, 0xffff);
    ck_assert_uint_eq(sp_get_u16(b), 0xffff);
}
END_TEST

START_TEST(encoder_writes_the_documented_wire_layout)
{
    static const unsigned char want[SP_FRAME_HDR_LEN] = {
        0x00, 0x01, 0x02, 0x03,   /* length */
        SP_FT_DATA, SP_FF_END_STREAM | SP_FF_FLUSH, 0x00, 0x00,
        0x80, 0x00, 0x00, 0x2a    /* stream */
    };
    unsigned char out[SP_FRAME_HDR_LEN + 1];
    sp_frame_hdr_t h = { .length = 0x00010203u, .type = SP_FT_DATA,
                         .flags = SP_FF_END_STREAM | SP_FF_FLUSH,
                         .stream = 0x8000002au };

    memset(out, 0xee, sizeof(out));
    sp_frame_hdr_encode(out, &h);
    ck_assert_mem_eq(out, want, SP_FRAME_HDR_LEN);
    ck_assert_uint_eq(out[SP_FRAME_HDR_LEN], 0xee);  /* wrote 12, no more */
}
END_TEST

/* One valid header per type, with a stream its rule allows. */
static const sp_frame_hdr_t valid_hdrs[] = {
    { 36, SP_FT_HELLO, 0, 0 },
    { 36, SP_FT_CHALLENGE, 0, 0 },
    { 44, SP_FT_AUTH, 0, 0 },
    { 48, SP_FT_WELCOME, 0, 0 },
    { 300, SP_FT_HEADERS, SP_FF_END_STREAM, 1 },
    { 0, SP_FT_DATA, SP_FF_END_STREAM | SP_FF_FLUSH, 0xffffffffu },
    { 4, SP_FT_WINDOW, 0, 0 },
    { 4, SP_FT_WINDOW, 0, 7 },
    { 4, SP_FT_RESET, 0, 3 },
    { 8, SP_FT_PING, SP_FF_ACK, 0 },
    { 4, SP_FT_DRAIN, 0, 0 },
};

START_TEST(decoder_returns_what_the_encoder_wrote_for_every_type)
{
    const sp_frame_hdr_t *in = &valid_hdrs[_i];
    unsigned char wire[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t out, out_slot;

    sp_frame_hdr_encode(wire, in);
    memset(&out, 0x5a, sizeof(out));
    ck_assert_int_eq(sp_frame_hdr_decode(wire, 1024, &out), APR_SUCCESS);
    ck_assert_uint_eq(out.length, in->length);
    ck_assert_uint_eq(out.type, in->type);
    ck_assert_uint_eq(out.flags, in->flags);
    ck_assert_uint_eq(out.stream, in->stream);

    ck_assert_int_eq(sp_frame_hdr_decode_slot(wire, 1024, &out_slot),
                     APR_SUCCESS);
    ck_assert_uint_eq(out_slot.length, in->length);
    ck_assert_uint_eq(out_slot.stream, in->stream);
}
END_TEST

typedef struct {
    const char  *what;
    uint32_t     length;
    uint8_t      type;
    uint8_t      flags;
    uint16_t     reserved;
    uint32_t     stream;
    uint32_t     max_len;
    apr_status_t want;           /* from sp_frame_hdr_decode */
    int          stream_rule;    /* only the link stream rule is broken */
} bad_hdr_case_t;

static const bad_hdr_case_t bad_hdrs[] = {
    { "type 0",                 4, 0, 0, 0, 1, 1024, SP_EPROTO, 0 },
    { "type past the last",     4, SP_FT_MAX_ + 1, 0, 0, 1, 1024,
      SP_EPROTO, 0 },
    { "type 255",               4, 255, 0, 0, 1, 1024, SP_EPROTO, 0 },
    { "reserved low byte set",  4, SP_FT_DATA, 0, 0x0001, 1, 1024,
      SP_EPROTO, 0 },
    { "reserved high byte set", 4, SP_FT_DATA, 0, 0x8000, 1, 1024,
      SP_EPROTO, 0 },
    { "unknown flag 0x08",      4, SP_FT_DATA, 0x08, 0, 1, 1024,
      SP_EPROTO, 0 },
    { "unknown flag 0x80 beside known ones", 4, SP_FT_DATA,
      0x80 | SP_FF_END_STREAM, 0, 1, 1024, SP_EPROTO, 0 },
    { "all flag bits",          4, SP_FT_PING, 0xff, 0, 0, 1024,
      SP_EPROTO, 0 },
    { "length one past max_len", 1025, SP_FT_DATA, 0, 0, 1, 1024,
      SP_ETOOLONG, 0 },
    { "any length with max_len 0", 1, SP_FT_HEADERS, 0, 0, 1, 0,
      SP_ETOOLONG, 0 },
    { "length over the hard max, max_len larger",
      SP_FRAME_MAX_HARD + 1, SP_FT_DATA, 0, 0, 1, 0xffffffffu,
      SP_ETOOLONG, 0 },
    { "length 0xffffffff",      0xffffffffu, SP_FT_DATA, 0, 0, 1,
      0xffffffffu, SP_ETOOLONG, 0 },
    { "DATA on stream 0",       4, SP_FT_DATA, 0, 0, 0, 1024, SP_EPROTO, 1 },
    { "HEADERS on stream 0",    4, SP_FT_HEADERS, 0, 0, 0, 1024,
      SP_EPROTO, 1 },
    { "RESET on stream 0",      4, SP_FT_RESET, 0, 0, 0, 1024,
      SP_EPROTO, 1 },
    { "HELLO on stream 1",      36, SP_FT_HELLO, 0, 0, 1, 1024,
      SP_EPROTO, 1 },
    { "CHALLENGE on stream 9",  36, SP_FT_CHALLENGE, 0, 0, 9, 1024,
      SP_EPROTO, 1 },
    { "AUTH on a stream",       44, SP_FT_AUTH, 0, 0, 2, 1024,
      SP_EPROTO, 1 },
    { "WELCOME on a stream",    48, SP_FT_WELCOME, 0, 0, 0x80000000u, 1024,
      SP_EPROTO, 1 },
    { "PING on a stream",       8, SP_FT_PING, 0, 0, 5, 1024, SP_EPROTO, 1 },
    { "DRAIN on a stream",      4, SP_FT_DRAIN, 0, 0, 0xffffffffu, 1024,
      SP_EPROTO, 1 },
};

START_TEST(decoder_rejects_each_malformed_header)
{
    const bad_hdr_case_t *c = &bad_hdrs[_i];
    unsigned char wire[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t h;
    apr_status_t rv;

    raw_hdr(wire, c->length, c->type, c->flags, c->reserved, c->stream);
    rv = sp_frame_hdr_decode(wire, c->max_len, &h);
    ck_assert_msg(rv == c->want, "%s: got %d, want %d", c->what, rv,
                  c->want);
}
END_TEST

START_TEST(slot_decoder_ignores_only_the_stream_rule)
{
    const bad_hdr_case_t *c = &bad_hdrs[_i];
    unsigned char wire[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t h;
    apr_status_t rv, want = c->stream_rule ? APR_SUCCESS : c->want;

    raw_hdr(wire, c->length, c->type, c->flags, c->reserved, c->stream);
    rv = sp_frame_hdr_decode_slot(wire, c->max_len, &h);
    ck_assert_msg(rv == want, "%s: got %d, want %d", c->what, rv, want);
    if (rv == APR_SUCCESS) {
        ck_assert_uint_eq(h.stream, c->stream);
    }
}
END_TEST

START_TEST(decoder_accepts_a_length_equal_to_the_limit)
{
    unsigned char wire[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t h;

    raw_hdr(wire, 1024, SP_FT_DATA, 0, 0, 1);
    ck_assert_int_eq(sp_frame_hdr_decode(wire, 1024, &h), APR_SUCCESS);
    ck_assert_uint_eq(h.length, 1024);

    raw_hdr(wire, SP_FRAME_MAX_HARD, SP_FT_DATA, 0, 0, 1);
    ck_assert_int_eq(sp_frame_hdr_decode(wire, 0xffffffffu, &h),
                     APR_SUCCESS);
    ck_assert_uint_eq(h.length, SP_FRAME_MAX_HARD);
    ck_assert_int_eq(sp_frame_hdr_decode_slot(wire, 0xffffffffu, &h),
                     APR_SUCCESS);
}
END_TEST

START_TEST(slot_decoder_caps_the_length_at_the_hard_max_too)
{
    unsigned char wire[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t h;

    raw_hdr(wire, SP_FRAME_MAX_HARD + 1, SP_FT_DATA, 0, 0, 3);
    ck_assert_int_eq(sp_frame_hdr_decode_slot(wire, 0xffffffffu, &h),
                     SP_ETOOLONG);
}
END_TEST

typedef struct {
    uint8_t type;
    int     len;
} fixed_len_case_t;

static const fixed_len_case_t fixed_lens[] = {
    { SP_FT_HELLO, 36 },   { SP_FT_CHALLENGE, 36 }, { SP_FT_AUTH, 44 },
    { SP_FT_WELCOME, 48 }, { SP_FT_HEADERS, -1 },   { SP_FT_DATA, -1 },
    { SP_FT_WINDOW, 4 },   { SP_FT_RESET, 4 },      { SP_FT_PING, 8 },
    { SP_FT_DRAIN, 4 },    { 0, -1 },               { SP_FT_MAX_ + 1, -1 },
    { 255, -1 },
};

START_TEST(fixed_lengths_match_the_payload_layouts)
{
    const fixed_len_case_t *c = &fixed_lens[_i];

    ck_assert_msg(sp_frame_fixed_len(c->type) == c->len,
                  "type %u: got %d, want %d", c->type,
                  sp_frame_fixed_len(c->type), c->len);
}
END_TEST

START_TEST(type_and_reset_names_are_given_and_unknowns_are_a_question_mark)
{
    static const char *const types[] = {
        NULL, "HELLO", "CHALLENGE", "AUTH", "WELCOME", "HEADERS", "DATA",
        "WINDOW", "RESET", "PING", "DRAIN"
    };
    static const char *const resets[] = {
        "NO_ERROR", "CANCEL", "WORKER", "TIMEOUT", "OVERLOADED", "REFUSED",
        "PROTOCOL", "NOSERVICE", "TOOLARGE", "INTERNAL"
    };
    unsigned i;

    for (i = 1; i <= SP_FT_MAX_; i++) {
        ck_assert_str_eq(sp_frame_type_name((uint8_t)i), types[i]);
    }
    for (i = 0; i <= SP_RST_MAX_; i++) {
        ck_assert_str_eq(sp_reset_name(i), resets[i]);
    }
    ck_assert_str_eq(sp_frame_type_name(0), "?");
    ck_assert_str_eq(sp_frame_type_name(SP_FT_MAX_ + 1), "?");
    ck_assert_str_eq(sp_frame_type_name(255), "?");
    ck_assert_str_eq(sp_reset_name(SP_RST_MAX_ + 1), "?");
    ck_assert_str_eq(sp_reset_name(0xffffffffu), "?");
}
END_TEST

START_TEST(strerror_names_our_codes_and_defers_to_apr_for_others)
{
    char buf[128], apr_buf[128];

    ck_assert_str_eq(sp_strerror(SP_ETOOLONG, buf, sizeof(buf)),
                     "declared length is over its limit");
    ck_assert_str_eq(sp_strerror(SP_EPROTO, buf, sizeof(buf)),
                     "peer broke the link protocol");
    ck_assert_str_eq(sp_strerror(SP_ENOSLOT, buf, sizeof(buf)),
                     "no free slot to claim");
    ck_assert_str_eq(sp_strerror(APR_ENOENT, buf, sizeof(buf)),
                     apr_strerror(APR_ENOENT, apr_buf, sizeof(apr_buf)));
    /* truncates and still terminates */
    ck_assert_str_eq(sp_strerror(SP_ECLOSED, buf, 5), "link");
}
END_TEST

Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("codec");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, big_endian_helpers_write_the_most_significant_byte_first);
    tcase_add_test(tc, encoder_writes_the_documented_wire_layout);
    tcase_add_loop_test(tc, decoder_returns_what_the_encoder_wrote_for_every_type,
                        0, UNIT_NCASES(valid_hdrs));
    tcase_add_loop_test(tc, decoder_rejects_each_malformed_header,
                        0, UNIT_NCASES(bad_hdrs));
    tcase_add_loop_test(tc, slot_decoder_ignores_only_the_stream_rule,
                        0, UNIT_NCASES(bad_hdrs));
    tcase_add_test(tc, decoder_accepts_a_length_equal_to_the_limit);
    tcase_add_test(tc, slot_decoder_caps_the_length_at_the_hard_max_too);
    tcase_add_loop_test(tc, fixed_lengths_match_the_payload_layouts,
                        0, UNIT_NCASES(fixed_lens));
    tcase_add_test(tc, type_and_reset_names_are_given_and_unknowns_are_a_question_mark);
    tcase_add_test(tc, strerror_names_our_codes_and_defers_to_apr_for_others);
    suite_add_tcase(s, tc);
    return s;
}
