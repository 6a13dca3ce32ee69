/*
 * test_chan.c -- the owner's channel over its slot, against a stand-in
 * proxy written here with the public table and space calls: frames
 * published and told, DATA split into frames no longer than half the
 * space while the proxy reads, generations stamped and checked, rx room
 * asked for and given back, aborts and corrupt spaces.
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
#include "sp_space.h"

#define SPACE SP_SPACE_MIN

static sp_table_t *make_table(void)
{
    sp_table_t *t = NULL;

    ck_assert_int_eq(sp_table_create(&t, 2, SPACE, unit_pool), APR_SUCCESS);
    return t;
}

/* Stand-in proxy, rx side: places a frame in slot 0's rx space. */
static void rx_add(sp_table_t *t, uint8_t type, uint8_t flags, uint32_t gen,
                   const void *p, uint32_t len)
{
    sp_slot_sh_t *s = sp_table_slot(t, 0);
    sp_frame_hdr_t h = { len, type, flags, gen };
    uint64_t pos = s->rx_head;
    unsigned char *at;

    ck_assert_uint_ne(sp_space_room(sp_slot_rx(t, 0), SPACE, &pos, s->rx_tail,
                                    SP_FRAME_HDR_LEN + len), 0);
    at = sp_slot_rx(t, 0) + pos % SPACE;
    sp_frame_hdr_encode(at, &h);
    memcpy(at + SP_FRAME_HDR_LEN, p, len);
    s->rx_head = pos + SP_FRAME_HDR_LEN + len;
}

/* ... and publishes what it placed. */
static void rx_send(sp_table_t *t)
{
    sp_slot_set_marks(t, 0, SP_MARK_RX);
}

/* Stand-in proxy, tx side: the next frame the owner published (1), or 0;
 * *pos follows the proxy's reading position. */
static int tx_next(sp_table_t *t, uint64_t *pos, sp_frame_hdr_t *h,
                   const unsigned char **p)
{
    int r = sp_space_next(sp_slot_tx(t, 0), SPACE, pos,
                          __atomic_load_n(&sp_table_slot(t, 0)->tx_head,
                                          __ATOMIC_ACQUIRE), h, p);
    ck_assert_int_ge(r, 0);
    if (r) {
        *pos += SP_FRAME_HDR_LEN + h->length;
    }
    return r;
}

START_TEST(a_request_is_told_at_its_end_and_stamped_with_its_generation)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;
    uint64_t pos = 0;

    sp_chan_open(&c, t, 0, 77, apr_time_from_sec(1));
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, "head", 4), 0);
    /* Published at once, but the proxy is woken only when it is worth it. */
    ck_assert_uint_eq(sp_table_slot(t, 0)->tx_head, SP_FRAME_HDR_LEN + 4);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_DATA, SP_FF_END_STREAM, "xy", 2),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(idx, 0);
    ck_assert_uint_eq(ev, SP_EV_TX);
    ck_assert_int_eq(tx_next(t, &pos, &h, &p), 1);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_uint_eq(h.stream, 77);
    ck_assert_int_eq(memcmp(p, "head", 4), 0);
    ck_assert_int_eq(tx_next(t, &pos, &h, &p), 1);
    ck_assert_uint_eq(h.type, SP_FT_DATA);
    ck_assert_uint_eq(h.flags, SP_FF_END_STREAM);
    ck_assert_uint_eq(h.length, 2);
    ck_assert_int_eq(tx_next(t, &pos, &h, &p), 0);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_DATA, 0, "z", 1), SP_ECLOSED);
}
END_TEST

START_TEST(an_owner_about_to_wait_tells_the_proxy_what_it_published)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 5, apr_time_from_msec(20));
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, "head", 4), 0);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_TIMEUP);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(ev, SP_EV_TX);
}
END_TEST

START_TEST(data_larger_than_the_space_streams_through_while_the_proxy_reads)
{
    sp_table_t *t = make_table();
    apr_size_t total = 7 * SPACE + 123, got = 0;
    unsigned char *body = malloc(total);
    unsigned char *copy = malloc(total);
    uint64_t pos = 0;
    apr_size_t i;
    int frames = 0, ended = 0;
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
    while (!ended) {  /* the proxy: reads what is published, gives it back */
        sp_frame_hdr_t h;
        const unsigned char *p;
        if (!tx_next(t, &pos, &h, &p)) {
            usleep(100);
            continue;
        }
        ck_assert_uint_eq(h.stream, 5);
        ck_assert_uint_le(SP_FRAME_HDR_LEN + h.length,
                          sp_space_max_frame(SPACE));
        memcpy(copy + got, p, h.length);
        got += h.length;
        frames++;
        ended = (h.flags & SP_FF_END_STREAM) != 0;
        __atomic_store_n(&sp_table_slot(t, 0)->tx_tail, pos,
                         __ATOMIC_RELEASE);
        sp_slot_set_marks(t, 0, SP_MARK_TX);
    }
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_uint_eq(got, total);
    ck_assert_int_eq(memcmp(body, copy, total), 0);
    ck_assert_int_ge(frames, 14);
    free(body);
    free(copy);
}
END_TEST

START_TEST(a_head_longer_than_a_frame_is_refused)
{
    sp_table_t *t = make_table();
    unsigned char *big = calloc(1, SPACE);
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 1, apr_time_from_sec(1));
    ck_assert_uint_eq(sp_chan_max_payload(&c), SPACE / 2 - SP_FRAME_HDR_LEN);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, big,
                                 sp_chan_max_payload(&c) + 1), SP_ETOOLONG);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_HEADERS, 0, big,
                                 sp_chan_max_payload(&c)), APR_SUCCESS);
    free(big);
}
END_TEST

START_TEST(frames_of_an_earlier_generation_are_dropped)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 9, apr_time_from_sec(1));
    rx_add(t, SP_FT_DATA, 0, 8, "old", 3);
    rx_add(t, SP_FT_HEADERS, 0, 9, "new", 3);
    rx_add(t, SP_FT_DATA, SP_FF_END_STREAM, 8, "late", 4);
    rx_send(t);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_int_eq(memcmp(p, "new", 3), 0);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 1), APR_EAGAIN);
}
END_TEST

START_TEST(read_frames_are_given_back_and_a_waiting_proxy_is_told)
{
    sp_table_t *t = make_table();
    sp_slot_sh_t *s = sp_table_slot(t, 0);
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 3, apr_time_from_sec(1));
    rx_add(t, SP_FT_DATA, 0, 3, "abc", 3);
    rx_add(t, SP_FT_DATA, 0, 3, "def", 3);
    rx_add(t, SP_FT_DATA, 0, 3, "ghi", 3);
    rx_send(t);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_uint_eq(s->rx_tail, 0);  /* still ours: p points into it */
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_uint_eq(s->rx_tail, SP_FRAME_HDR_LEN + 3);
    /* The proxy did not ask: not told. */
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
    /* It asks to hear once all three are read. */
    s->rx_want = 3 * (SP_FRAME_HDR_LEN + 3);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_int_eq(memcmp(p, "ghi", 3), 0);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_EAGAIN);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 1), APR_EAGAIN);
    ck_assert_uint_eq(s->rx_tail, s->rx_head);
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
    sp_chan_t c;

    sp_put_u32(code, SP_RST_WORKER);
    sp_chan_open(&c, t, 0, 4, apr_time_from_sec(1));
    rx_add(t, SP_FT_RESET, 0, 4, code, 4);
    rx_send(t);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), SP_EABORTED);
    ck_assert_uint_eq(sp_chan_reset_code(&c), SP_RST_WORKER);
}
END_TEST

START_TEST(a_corrupt_rx_space_is_refused_and_the_stream_abandoned)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;

    sp_chan_open(&c, t, 0, 4, apr_time_from_sec(1));
    rx_add(t, SP_FT_DATA, 0, 4, "abcdef", 6);
    sp_put_u32(sp_slot_rx(t, 0), 1000);  /* length past what was published */
    rx_send(t);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), SP_EPROTO);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert(ev & SP_EV_ABORT);
    ck_assert_uint_eq(sp_table_slot(t, 0)->owner_abort, SP_RST_PROTOCOL);
    ck_assert_uint_eq(sp_table_slot(t, 0)->owner_abort_gen, 4);
}
END_TEST

START_TEST(accept_skips_leftovers_and_adopts_the_generation_of_the_next_request)
{
    sp_table_t *t = make_table();
    const unsigned char *p;
    sp_frame_hdr_t h;
    sp_chan_t c;

    ck_assert_int_eq(sp_chan_accept(&c, t, 0, apr_time_from_msec(20),
                                    apr_time_from_sec(1)), APR_TIMEUP);
    sp_table_slot(t, 0)->generation = 41;  /* the proxy started 41 */
    rx_add(t, SP_FT_DATA, 0, 39, "body of an abandoned request", 28);
    rx_add(t, SP_FT_HEADERS, SP_FF_END_STREAM, 40, "stale", 5);
    rx_add(t, SP_FT_HEADERS, SP_FF_END_STREAM, 41, "req", 3);
    rx_send(t);
    ck_assert_int_eq(sp_chan_accept(&c, t, 0, apr_time_from_sec(1),
                                    apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_uint_eq(c.gen, 41);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_SUCCESS);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_int_eq(memcmp(p, "req", 3), 0);
    ck_assert(h.flags & SP_FF_END_STREAM);
    ck_assert_int_eq(sp_chan_get(&c, &h, &p, 0), APR_EOF);
}
END_TEST

START_TEST(closing_without_an_end_tells_the_proxy_its_frames_are_dead)
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
    ck_assert_uint_eq(sp_table_slot(t, 0)->owner_abort, SP_RST_NO_ERROR);
    ck_assert_uint_eq(sp_table_slot(t, 0)->owner_abort_gen, 2);
}
END_TEST

START_TEST(a_frame_built_in_place_goes_out_like_a_put)
{
    sp_table_t *t = make_table();
    const unsigned char *tx = sp_slot_tx(t, 0), *p;
    sp_frame_hdr_t h;
    apr_size_t room = 0;
    apr_status_t rv;
    unsigned char *at;
    sp_chan_t c;
    unsigned idx;
    uint32_t ev;
    uint64_t pos = 0;

    sp_chan_open(&c, t, 0, 21, apr_time_from_sec(1));
    ck_assert_ptr_null(sp_chan_frame_begin(&c, sp_chan_max_payload(&c) + 1,
                                           &room, &rv));
    ck_assert_int_eq(rv, SP_ETOOLONG);
    at = sp_chan_frame_begin(&c, 10, &room, &rv);
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_eq(room, sp_chan_max_payload(&c));
    ck_assert_ptr_eq(at, tx + SP_FRAME_HDR_LEN);
    memcpy(at, "in-place", 8);
    /* More than the room is refused and nothing is published. */
    ck_assert_int_eq(sp_chan_frame_end(&c, SP_FT_HEADERS, 0, room + 1),
                     SP_ETOOLONG);
    ck_assert_uint_eq(sp_table_slot(t, 0)->tx_head, 0);
    ck_assert_int_eq(sp_chan_frame_end(&c, SP_FT_HEADERS, SP_FF_END_STREAM,
                                       8), APR_SUCCESS);
    ck_assert_int_eq(sp_table_next_ready(t, &idx, &ev), APR_SUCCESS);
    ck_assert_uint_eq(ev, SP_EV_TX);
    ck_assert_int_eq(tx_next(t, &pos, &h, &p), 1);
    ck_assert_uint_eq(h.type, SP_FT_HEADERS);
    ck_assert_uint_eq(h.stream, 21);
    ck_assert_uint_eq(h.length, 8);
    ck_assert_int_eq(memcmp(p, "in-place", 8), 0);
    ck_assert(c.tx_ended);
    ck_assert_ptr_null(sp_chan_frame_begin(&c, 1, &room, &rv));
    ck_assert_int_eq(rv, SP_ECLOSED);
}
END_TEST

START_TEST(a_full_tx_space_waits_for_the_proxy_and_times_out_without_it)
{
    sp_table_t *t = make_table();
    unsigned char *buf = calloc(1, SPACE);
    sp_chan_t c;

    sp_chan_open(&c, t, 0, 6, apr_time_from_msec(30));
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_DATA, 0, buf, SPACE - 100),
                     APR_SUCCESS);
    ck_assert(!sp_chan_can_put(&c) || sp_chan_room(&c) < 100);
    ck_assert_int_eq(sp_chan_put(&c, SP_FT_DATA, 0, buf, SPACE / 2),
                     APR_TIMEUP);
    free(buf);
}
END_TEST

Suite *chan_suite(void)
{
    Suite *s = suite_create("chan");
    TCase *tc = tcase_create("chan");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_request_is_told_at_its_end_and_stamped_with_its_generation);
    tcase_add_test(tc, an_owner_about_to_wait_tells_the_proxy_what_it_published);
    tcase_add_test(tc, data_larger_than_the_space_streams_through_while_the_proxy_reads);
    tcase_add_test(tc, a_head_longer_than_a_frame_is_refused);
    tcase_add_test(tc, frames_of_an_earlier_generation_are_dropped);
    tcase_add_test(tc, read_frames_are_given_back_and_a_waiting_proxy_is_told);
    tcase_add_test(tc, waiting_for_a_reply_that_never_comes_times_out);
    tcase_add_test(tc, an_abort_for_our_generation_ends_the_channel_with_its_reason);
    tcase_add_test(tc, a_reset_frame_from_the_peer_ends_the_channel);
    tcase_add_test(tc, a_corrupt_rx_space_is_refused_and_the_stream_abandoned);
    tcase_add_test(tc, accept_skips_leftovers_and_adopts_the_generation_of_the_next_request);
    tcase_add_test(tc, closing_without_an_end_tells_the_proxy_its_frames_are_dead);
    tcase_add_test(tc, a_frame_built_in_place_goes_out_like_a_put);
    tcase_add_test(tc, a_full_tx_space_waits_for_the_proxy_and_times_out_without_it);
    suite_add_tcase(s, tc);
    return s;
}
