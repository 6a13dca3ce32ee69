/*
 * test_chan.c -- the owner's channel over its slot, against a stand-in
 * proxy written here with the public table calls: frames packed into
 * fills, DATA split across fills, generations stamped and checked, aborts
 * and corrupt fills.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_time.h>

#include "unit.h"
#include "sp_chan.h"
#include "sp_errors.h"

#define SPACE SP_SPACE_MIN

static sp_table_t *make_table(void)
{
    sp_table_t *t = NULL;

    ck_assert_int_eq(sp_table_create(&t, 2, SPACE, unit_pool), APR_SUCCESS);
    return t;
}

/* Stand-in proxy: writes frames into slot 0's rx space and marks it. */
typedef struct fill_t {
    unsigned char *at;
    apr_size_t     len;
} fill_t;

static void fill_add(sp_table_t *t, fill_t *f, uint8_t type, uint8_t flags,
                     uint32_t gen, const void *p, uint32_t len)
{
    sp_frame_hdr_t h = { len, type, flags, gen };

    if (!f->at) {
        f->at = sp_slot_rx(t, 0);
        f->len = 0;
    }
    sp_frame_hdr_encode(f->at + f->len, &h);
    memcpy(f->at + f->len + SP_FRAME_HDR_LEN, p, len);
    f->len += SP_FRAME_HDR_LEN + len;
}

static void fill_send(sp_table_t *t, fill_t *f)
{
    sp_table_slot(t, 0)->rx_len = (uint32_t)f->len;
    sp_slot_set_marks(t, 0, SP_MARK_RX);
    f->at = NULL;
}

START_TEST(a_small_request_goes_out_in_one_fill_stamped_with_its_generation)
{
    sp_table_t *t = make_table();
    const unsigned char *tx = sp_slot_tx(t, 0);
    sp_frame_hdr_t h;
    sp_chan_t c;
    unsigned idx;
    uint32_t gen, ev;

    sp_chan_open(&c, t, 0, 77, apr_time_from_sec(1));
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, "head", 4), 0);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_DATA, SP_FF_END_STREAM, "xy", 2),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(idx, 0);
    ck_assert_uint_eq(ev, SP_EV_TX);
    ck_assert_uint_eq(sp_table_slot(t, 0)->tx_len, 2 * SP_FRAME_HDR_LEN + 6);
    ck_assert_int_eq(sp_frame_hdr_decode_slot(tx, SPACE, &h), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_uint_eq(h.stream, 77);
    ck_assert_int_eq(memcmp(tx + SP_FRAME_HDR_LEN, "head", 4), 0);
    tx += SP_FRAME_HDR_LEN + 4;
    ck_assert_int_eq(sp_frame_hdr_decode_slot(tx, SPACE, &h), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_DATA);
    ck_assert_uint_eq(h.flags, SP_FF_END_STREAM);
    ck_assert_uint_eq(h.length, 2);
    /* The tx space is the proxy's until it says so. */
    ck_assert(!sp_chan_can_put(&c) || c.tx_ended);
    (void)gen;
}
END_TEST

START_TEST(data_larger_than_the_space_is_split_across_fills)
{
    sp_table_t *t = make_table();
    apr_size_t total = 3 * SPACE + 123, got = 0;
    unsigned char *body = malloc(total);
    unsigned char *copy = malloc(total);
    apr_size_t i;
    int fills = 0, ended = 0;
    pid_t pid;

    for (i = 0; i < total; i++) {
        body[i] = (unsigned char)(i * 7);
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {  /* the owner */
        sp_chan_t c;
        sp_chan_open(&c, t, 0, 5, apr_time_from_sec(5));
        _exit(sp_chan_put(&c, SP_FT_DATA, SP_FF_END_STREAM, body, total)
              == APR_SUCCESS ? 0 : 1);
    }
    while (!ended) {  /* the proxy */
        unsigned idx;
        uint32_t ev;
        apr_size_t off = 0, len;
        if (sp_table_next_ready(t, &idx, &ev) != APR_SUCCESS) {
            usleep(100);
            continue;
        }
        ck_assert(ev & SP_EV_TX);
        len = sp_table_slot(t, 0)->tx_len;
        ck_assert_uint_le(len, SPACE);
        fills++;
        while (off < len) {
            sp_frame_hdr_t h;
            const unsigned char *f = sp_slot_tx(t, 0) + off;
            ck_assert_int_eq(sp_frame_hdr_decode_slot(f, (uint32_t)(len - off
                             - SP_FRAME_HDR_LEN), &h), APR_SUCCESS);
            ck_assert_uint_eq(h.stream, 5);
            memcpy(copy + got, f + SP_FRAME_HDR_LEN, h.length);
            got += h.length;
            ended = (h.flags & SP_FF_END_STREAM) != 0;
            off += SP_FRAME_HDR_LEN + h.length;
        }
        sp_slot_set_marks(t, 0, SP_MARK_TX);
    }
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_uint_eq(got, total);
    ck_assert_int_eq(memcmp(body, copy, total), 0);
    ck_assert_int_ge(fills, 4);
    free(body);
    free(copy);
}
END_TEST

START_TEST(a_head_larger_than_the_space_is_refused)
{
    sp_table_t *t = make_table();
    unsigned char *big = calloc(1, SPACE);
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 1, apr_time_from_sec(1));
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, big,
                                 SPACE - SP_FRAME_HDR_LEN + 1), SP_ETOOLONG);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, big,
                                 SPACE - SP_FRAME_HDR_LEN), APR_SUCCESS);
    free(big);
}
END_TEST

START_TEST(frames_of_an_earlier_generation_are_dropped)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    fill_t f = { 0 };
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 9, apr_time_from_sec(1));
    fill_add(t, &f, SP_FT_DATA, 0, 8, "old", 3);
    fill_add(t, &f, SP_FT_HEADERS, 0, 9, "new", 3);
    fill_add(t, &f, SP_FT_DATA, SP_FF_END_STREAM, 8, "late", 4);
    fill_send(t, &f);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_int_eq(memcmp(p, "new", 3), 0);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 1), APR_EAGAIN);
}
END_TEST

START_TEST(an_emptied_fill_is_handed_back_to_the_proxy)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    fill_t f = { 0 };
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 3, apr_time_from_sec(1));
    fill_add(t, &f, SP_FT_DATA, 0, 3, "abc", 3);
    fill_send(t, &f);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 1), APR_EAGAIN);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(ev, SP_EV_RXFREE);
}
END_TEST

START_TEST(waiting_for_a_reply_that_never_comes_times_out)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 3, apr_time_from_msec(30));
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_TIMEUP);
}
END_TEST

START_TEST(an_abort_for_our_generation_ends_the_channel_with_its_reason)
{
    sp_table_t *t = make_table();
    sp_slot_sh_t *s = sp_table_slot(t, 0);
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 12, apr_time_from_sec(2));
    s->abort_gen = 11;  /* stale: an earlier request's */
    s->abort_code = SP_RST_CANCEL;
    sp_slot_set_marks(t, 0, SP_MARK_ABORT);
    ck_assert(!sp_chan_aborted(&c));
    ck_assert_uint_eq(s->marks & SP_MARK_ABORT, 0);
    s->abort_gen = 12;
    s->abort_code = SP_RST_OVERLOADED;
    sp_slot_set_marks(t, 0, SP_MARK_ABORT);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), SP_EABORTED);
    ck_assert_uint_eq(sp_chan_reset_code(&c), SP_RST_OVERLOADED);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_DATA, 0, "x", 1), SP_EABORTED);
}
END_TEST

START_TEST(a_reset_frame_from_the_peer_ends_the_channel)
{
    sp_table_t *t = make_table();
    unsigned char code[4];
    const unsigned char *p;
    sp_frame_hdr_t h;
    fill_t f = { 0 };
    sp_chan_t c;

    sp_put_u32(code, SP_RST_WORKER);
    sp_chan_open(&c, t, 0, 4, apr_time_from_sec(1));
    fill_add(t, &f, SP_FT_RESET, 0, 4, code, 4);
    fill_send(t, &f);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), SP_EABORTED);
    ck_assert_uint_eq(sp_chan_reset_code(&c), SP_RST_WORKER);
}
END_TEST

START_TEST(a_corrupt_fill_is_refused_and_the_stream_abandoned)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    fill_t f = { 0 };
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 4, apr_time_from_sec(1));
    fill_add(t, &f, SP_FT_DATA, 0, 4, "abcdef", 6);
    sp_put_u32(f.at, 1000);  /* length past the fill */
    fill_send(t, &f);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), SP_EPROTO);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert(ev & SP_EV_ABORT);
    ck_assert_uint_eq(sp_table_slot(t, 0)->owner_abort, SP_RST_PROTOCOL);
}
END_TEST

START_TEST(accept_adopts_the_generation_of_the_next_request)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    fill_t f = { 0 };
    sp_chan_t c;

    ck_assert_int_eq(sp_chan_accept(&c, t, 0, apr_time_from_msec(20),
                                    apr_time_from_sec(1)), APR_TIMEUP);
    fill_add(t, &f, SP_FT_HEADERS, SP_FF_END_STREAM, 41, "req", 3);
    fill_send(t, &f);
    ck_assert_int_eq(sp_chan_accept(&c, t, 0, apr_time_from_sec(1),
                                    apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_uint_eq(c.gen, 41);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert(h.flags & SP_FF_END_STREAM);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_EOF);
}
END_TEST

START_TEST(closing_without_an_end_tells_the_proxy)
{
    sp_table_t *t = make_table();
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 2, apr_time_from_sec(1));
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, "h", 1), APR_SUCCESS);
    sp_chan_close(&c);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert(ev & SP_EV_ABORT);
    /* The unsent fill's space is free again for the next owner. */
    ck_assert(sp_table_slot(t, 0)->marks & SP_MARK_TX);
}
END_TEST

START_TEST(a_frame_built_in_place_goes_out_like_a_put)
{
    sp_table_t *t = make_table();
    const unsigned char *tx = sp_slot_tx(t, 0);
    sp_frame_hdr_t h;
    apr_size_t room = 0;
    apr_status_t rv;
    unsigned char *at;
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 21, apr_time_from_sec(1));
    at = sp_chan_frame_begin(&c, 10, &room, &rv);
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_eq(room, SPACE - SP_FRAME_HDR_LEN);
    ck_assert_ptr_eq(at, tx + SP_FRAME_HDR_LEN);
    memcpy(at, "in-place", 8);
    /* More than the room is refused and nothing is handed over. */
    ck_assert_int_eq(sp_chan_frame_end(&c, SP_FT_HEADERS, 0, room + 1),
                     SP_ETOOLONG);
    ck_assert_int_eq(sp_chan_frame_end(&c, SP_FT_HEADERS, SP_FF_END_STREAM,
                                       8), APR_SUCCESS);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(ev, SP_EV_TX);
    ck_assert_int_eq(sp_frame_hdr_decode_slot(tx, SPACE, &h), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_uint_eq(h.stream, 21);
    ck_assert_uint_eq(h.length, 8);
    ck_assert_int_eq(memcmp(tx + SP_FRAME_HDR_LEN, "in-place", 8), 0);
    ck_assert(c.tx_ended);
    ck_assert_ptr_null(sp_chan_frame_begin(&c, 1, &room, &rv));
    ck_assert_int_eq(rv, SP_ECLOSED);
}
END_TEST

Suite *chan_suite(void)
{
    Suite *s = suite_create("chan");
    TCase *tc = tcase_create("chan");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_small_request_goes_out_in_one_fill_stamped_with_its_generation);
    tcase_add_test(tc, data_larger_than_the_space_is_split_across_fills);
    tcase_add_test(tc, a_head_larger_than_the_space_is_refused);
    tcase_add_test(tc, frames_of_an_earlier_generation_are_dropped);
    tcase_add_test(tc, an_emptied_fill_is_handed_back_to_the_proxy);
    tcase_add_test(tc, waiting_for_a_reply_that_never_comes_times_out);
    tcase_add_test(tc, an_abort_for_our_generation_ends_the_channel_with_its_reason);
    tcase_add_test(tc, a_reset_frame_from_the_peer_ends_the_channel);
    tcase_add_test(tc, a_corrupt_fill_is_refused_and_the_stream_abandoned);
    tcase_add_test(tc, accept_adopts_the_generation_of_the_next_request);
    tcase_add_test(tc, closing_without_an_end_tells_the_proxy);
    tcase_add_test(tc, a_frame_built_in_place_goes_out_like_a_put);
    suite_add_tcase(s, tc);
    return s;
}
