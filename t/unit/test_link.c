/*
 * test_link.c -- a link over a real loopback TCP connection: the
 * handshake both ways, peers without the secret or of another version,
 * garbage, frames past the limits, link credit and PING.
 */
#include <stdio.h>
#include <string.h>

#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "unit.h"
#include "sp_errors.h"
#include "sp_link.h"

typedef struct pair_t {
    apr_socket_t *cs, *ss;      /* client and server ends */
    sp_link_t    *client, *server;
    int           frames;       /* stream frames seen by the callback */
    sp_frame_hdr_t last;
    unsigned char *got;         /* non-NULL: DATA payloads appended here */
    apr_size_t    got_len;
} pair_t;

/* What ref_done reported, in order. */
static struct { int slot; uint64_t end; } done_log[64];
static int n_done;

static void log_ref_done(sp_link_t *l, int slot, uint64_t end, void *baton)
{
    (void)l;
    (void)baton;
    if (n_done < 64) {
        done_log[n_done].slot = slot;
        done_log[n_done].end = end;
    }
    n_done++;
}

static sp_secret_t secret_a = { (unsigned char *)"0123456789abcdef-secret-A", 25 };
static sp_secret_t secret_b = { (unsigned char *)"0123456789abcdef-secret-B", 25 };

static const sp_link_settings_t settings = { 64, 65536, 1 << 20, 16384 };

static apr_status_t count_frame(sp_link_t *l, const sp_frame_hdr_t *h,
                                const unsigned char *payload, void *baton)
{
    pair_t *p = baton;

    (void)l;
    p->frames++;
    p->last = *h;
    if (p->got && h->type == SP_FT_DATA) {
        memcpy(p->got + p->got_len, payload, h->length);
        p->got_len += h->length;
    }
    return APR_SUCCESS;
}

static void connect_pair(pair_t *p)
{
    apr_sockaddr_t *sa;
    apr_socket_t *ls;

    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0,
                                           unit_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_create(&ls, APR_INET, SOCK_STREAM, 0,
                                       unit_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_bind(ls, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_listen(ls, 1), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_addr_get(&sa, APR_LOCAL, ls), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_create(&p->cs, APR_INET, SOCK_STREAM, 0,
                                       unit_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_connect(p->cs, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_accept(&p->ss, ls, unit_pool), APR_SUCCESS);
    apr_socket_close(ls);
    /* As on real links: small frames must not wait for a delayed ACK. */
    apr_socket_opt_set(p->cs, APR_TCP_NODELAY, 1);
    apr_socket_opt_set(p->ss, APR_TCP_NODELAY, 1);
}

static void make_links(pair_t *p, const sp_secret_t *cs, const sp_secret_t *ss)
{
    connect_pair(p);
    ck_assert_int_eq(sp_link_create(&p->client, p->cs, SP_ROLE_CLIENT, cs,
                                    &settings, "server", count_frame, p,
                                    unit_pool), APR_SUCCESS);
    ck_assert_int_eq(sp_link_create(&p->server, p->ss, SP_ROLE_SERVER, ss,
                                    &settings, "client", count_frame, p,
                                    unit_pool), APR_SUCCESS);
}

/* Moves bytes both ways until neither side has anything to say, or one
 * side fails: returns the first failure (and which side in *who). */
static apr_status_t pump(pair_t *p, char *who)
{
    int round;

    for (round = 0; round < 200; round++) {
        apr_status_t rv;
        if (p->client && (rv = sp_link_flush(p->client)) != APR_SUCCESS) {
            *who = 'c';
            return rv;
        }
        if (p->server && (rv = sp_link_flush(p->server)) != APR_SUCCESS) {
            *who = 's';
            return rv;
        }
        apr_sleep(1000);
        if (p->server && (rv = sp_link_on_readable(p->server)) != APR_SUCCESS) {
            *who = 's';
            return rv;
        }
        if (p->client && (rv = sp_link_on_readable(p->client)) != APR_SUCCESS) {
            *who = 'c';
            return rv;
        }
        if ((!p->client || sp_link_pending(p->client) == 0)
            && (!p->server || sp_link_pending(p->server) == 0) && round > 3) {
            break;
        }
    }
    *who = 0;
    return APR_SUCCESS;
}

static void send_raw(apr_socket_t *s, const void *buf, apr_size_t len)
{
    ck_assert_int_eq(apr_socket_send(s, buf, &len), APR_SUCCESS);
}

START_TEST(links_with_the_same_secret_authenticate_both_ways)
{
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(p.client->state, SP_LINK_OPEN);
    ck_assert_int_eq(p.server->state, SP_LINK_OPEN);
    ck_assert_uint_eq(p.client->peer_set.max_streams, settings.max_streams);
    ck_assert_uint_eq(p.server->peer_set.stream_window,
                      settings.stream_window);
    ck_assert_int_eq(p.client->send_credit, settings.link_window);
}
END_TEST

START_TEST(a_server_refuses_a_client_without_the_secret)
{
    pair_t p;
    char who;

    make_links(&p, &secret_b, &secret_a);
    ck_assert_int_eq(pump(&p, &who), SP_EAUTH);
    ck_assert_int_eq(who, 's');
    ck_assert_int_ne(p.server->state, SP_LINK_OPEN);
    ck_assert_ptr_nonnull(strstr(p.server->close_why, "secret"));
}
END_TEST

START_TEST(a_client_refuses_a_server_that_cannot_prove_the_secret)
{
    unsigned char frame[SP_FRAME_HDR_LEN + 48];
    sp_frame_hdr_t h = { 36, SP_FT_CHALLENGE, 0, 0 };
    pair_t p;
    char who;

    connect_pair(&p);
    ck_assert_int_eq(sp_link_create(&p.client, p.cs, SP_ROLE_CLIENT,
                                    &secret_a, &settings, "fake", count_frame,
                                    &p, unit_pool), APR_SUCCESS);
    memset(frame, 0x5a, sizeof(frame));
    sp_frame_hdr_encode(frame, &h);
    sp_put_u16(frame + SP_FRAME_HDR_LEN, SP_PROTO_VERSION);
    sp_put_u16(frame + SP_FRAME_HDR_LEN + 2, 0);
    send_raw(p.ss, frame, SP_FRAME_HDR_LEN + 36);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);  /* client sent AUTH */
    ck_assert_int_eq(p.client->state, SP_LINK_AUTH);
    h.type = SP_FT_WELCOME;
    h.length = 48;
    memset(frame, 0x11, sizeof(frame));  /* a made-up proof */
    sp_frame_hdr_encode(frame, &h);
    send_raw(p.ss, frame, SP_FRAME_HDR_LEN + 48);
    ck_assert_int_eq(pump(&p, &who), SP_EAUTH);
    ck_assert_int_eq(who, 'c');
}
END_TEST

START_TEST(a_peer_of_another_protocol_version_is_refused)
{
    unsigned char frame[SP_FRAME_HDR_LEN + 36] = { 0 };
    sp_frame_hdr_t h = { 36, SP_FT_HELLO, 0, 0 };
    pair_t p;
    char who;

    connect_pair(&p);
    ck_assert_int_eq(sp_link_create(&p.server, p.ss, SP_ROLE_SERVER,
                                    &secret_a, &settings, "old", count_frame,
                                    &p, unit_pool), APR_SUCCESS);
    sp_frame_hdr_encode(frame, &h);
    sp_put_u16(frame + SP_FRAME_HDR_LEN, SP_PROTO_VERSION + 1);
    send_raw(p.cs, frame, sizeof(frame));
    ck_assert_int_eq(pump(&p, &who), SP_EVERSION);
    ck_assert_ptr_nonnull(strstr(p.server->close_why, "version"));
}
END_TEST

START_TEST(garbage_instead_of_a_handshake_closes_the_link)
{
    unsigned char junk[64];
    pair_t p;
    char who;

    memset(junk, 0xff, sizeof(junk));
    connect_pair(&p);
    ck_assert_int_eq(sp_link_create(&p.server, p.ss, SP_ROLE_SERVER,
                                    &secret_a, &settings, "junk", count_frame,
                                    &p, unit_pool), APR_SUCCESS);
    send_raw(p.cs, junk, sizeof(junk));
    ck_assert_int_ne(pump(&p, &who), APR_SUCCESS);
    ck_assert_ptr_nonnull(p.server->close_why);
}
END_TEST

START_TEST(a_stream_frame_before_the_handshake_is_refused)
{
    unsigned char frame[SP_FRAME_HDR_LEN + 4];
    sp_frame_hdr_t h = { 4, SP_FT_DATA, 0, 1 };
    pair_t p;
    char who;

    connect_pair(&p);
    ck_assert_int_eq(sp_link_create(&p.server, p.ss, SP_ROLE_SERVER,
                                    &secret_a, &settings, "early",
                                    count_frame, &p, unit_pool),
                     APR_SUCCESS);
    sp_frame_hdr_encode(frame, &h);
    send_raw(p.cs, frame, sizeof(frame));
    ck_assert_int_eq(pump(&p, &who), SP_EPROTO);
    ck_assert_int_eq(p.frames, 0);
}
END_TEST

START_TEST(a_frame_past_max_frame_is_refused_from_its_header_alone)
{
    unsigned char hdr[SP_FRAME_HDR_LEN];
    sp_frame_hdr_t h = { settings.max_frame + 1, SP_FT_DATA, 0, 1 };
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    sp_frame_hdr_encode(hdr, &h);
    send_raw(p.cs, hdr, sizeof(hdr));  /* no payload follows */
    ck_assert_int_eq(sp_link_on_readable(p.server), SP_ETOOLONG);
    ck_assert_ptr_nonnull(strstr(p.server->close_why, "limit"));
}
END_TEST

START_TEST(stream_frames_reach_the_callback_after_the_handshake)
{
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(sp_link_queue(p.client, SP_FT_HEADERS, SP_FF_END_STREAM,
                                   7, "hd", 2), APR_SUCCESS);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(p.frames, 1);
    ck_assert_uint_eq(p.last.type, SP_FT_HEADERS);
    ck_assert_uint_eq(p.last.stream, 7);
}
END_TEST

/* A read shorter than the buffer emptied the socket: the link does not
 * ask again (that read would only say EAGAIN, one wasted system call per
 * wake-up).  Here the peer's close after its frame shows it: it is seen
 * at the next readable event, not in the same call. */
START_TEST(a_short_read_ends_the_readable_event_without_reading_again)
{
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(sp_link_queue(p.client, SP_FT_HEADERS, SP_FF_END_STREAM,
                                   9, "hd", 2), APR_SUCCESS);
    ck_assert_int_eq(sp_link_flush(p.client), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_shutdown(p.cs, APR_SHUTDOWN_WRITE),
                     APR_SUCCESS);
    apr_sleep(50000);  /* both the frame and the FIN are in by then */
    ck_assert_int_eq(sp_link_on_readable(p.server), APR_SUCCESS);
    ck_assert_int_eq(p.frames, 1);
    ck_assert_uint_eq(p.last.stream, 9);
    ck_assert_int_eq(sp_link_usable(p.server), 1);
    ck_assert_int_eq(sp_link_on_readable(p.server), SP_ECLOSED);
}
END_TEST

START_TEST(data_past_the_link_credit_closes_the_link)
{
    static unsigned char chunk[16000];
    pair_t p;
    char who;
    int i;
    apr_status_t rv = APR_SUCCESS;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    /* 1 MiB of link credit: 66 frames of 16000 bytes overrun it. */
    for (i = 0; i < 66 && rv == APR_SUCCESS; i++) {
        sp_link_queue(p.client, SP_FT_DATA, 0, 1, chunk, sizeof(chunk));
        rv = pump(&p, &who);
    }
    ck_assert_int_eq(rv, SP_EPROTO);
    ck_assert_int_eq(who, 's');
    ck_assert_ptr_nonnull(strstr(p.server->close_why, "credit"));
}
END_TEST

START_TEST(a_ping_is_answered_with_the_same_bytes)
{
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(sp_link_queue(p.client, SP_FT_PING, 0, 0, "12345678", 8),
                     APR_SUCCESS);
    ck_assert_int_eq(sp_link_flush(p.client), APR_SUCCESS);
    apr_sleep(5000);
    ck_assert_int_eq(sp_link_on_readable(p.server), APR_SUCCESS);
    ck_assert_uint_eq(sp_link_pending(p.server), SP_FRAME_HDR_LEN + 8);
    ck_assert_uint_eq(p.server->out[p.server->out_off + 5], SP_FF_ACK);
    ck_assert_int_eq(memcmp(p.server->out + p.server->out_off
                            + SP_FRAME_HDR_LEN, "12345678", 8), 0);
    ck_assert_int_eq(p.frames, 0);  /* PING never reaches the callback */
}
END_TEST

START_TEST(a_client_may_not_drain_a_link_unasked)
{
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(sp_link_queue_u32(p.client, SP_FT_DRAIN, 0, 0),
                     APR_SUCCESS);
    ck_assert_int_eq(pump(&p, &who), SP_EPROTO);
    ck_assert_int_eq(who, 's');
    ck_assert_ptr_nonnull(strstr(p.server->close_why, "DRAIN"));
}
END_TEST

START_TEST(a_client_answers_drain_and_the_server_notes_it)
{
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(sp_link_queue_u32(p.server, SP_FT_DRAIN, 0, 0),
                     APR_SUCCESS);
    p.server->drain_sent = 1;
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_int_eq(p.client->state, SP_LINK_DRAINING);
    /* The answer (the engine sends it; here by hand): the last stream. */
    ck_assert_int_eq(sp_link_queue_u32(p.client, SP_FT_DRAIN, 0, 7),
                     APR_SUCCESS);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert(p.server->drain_acked);
    ck_assert_uint_eq(p.server->drain_last, 7);
}
END_TEST

static void fill(unsigned char *b, apr_size_t n, unsigned seed)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        b[i] = (unsigned char)(i * 7 + seed);
    }
}

START_TEST(borrowed_payloads_go_out_in_order_from_their_memory_and_are_given_back_once_written)
{
    enum { N = 16, LEN = 16000 };
    static unsigned char bufs[N][LEN], want[N * LEN + 100], got[N * LEN + 100];
    unsigned char small[100];
    apr_size_t expect_pending = 0, want_len = 0;
    pair_t p;
    char who;
    int i, r;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    /* A small send buffer: the first flush writes only part of it all. */
    apr_socket_opt_set(p.cs, APR_SO_SNDBUF, 4096);
    p.client->ref_done = log_ref_done;
    n_done = 0;
    p.got = got;
    fill(small, sizeof(small), 99);
    for (i = 0; i < N; i++) {
        fill(bufs[i], LEN, (unsigned)i);
        r = sp_link_queue_ref(p.client, SP_FT_DATA, 0, 1, bufs[i], LEN, 3,
                              i % 2 ? 1000 + (uint64_t)i : 0);
        ck_assert_int_eq(r, 1);
        expect_pending += SP_FRAME_HDR_LEN + LEN;
        if (i == 3) {  /* a short payload between them is copied */
            r = sp_link_queue_ref(p.client, SP_FT_DATA, 0, 1, small,
                                  sizeof(small), 3, 5);
            ck_assert_int_eq(r, 0);
            expect_pending += SP_FRAME_HDR_LEN + sizeof(small);
        }
    }
    ck_assert_uint_eq(sp_link_pending(p.client), expect_pending);
    /* Nothing was copied: a change made before the write goes out... */
    bufs[5][0] ^= 0xff;
    /* ...and the copied one does not change with its source. */
    memset(small, 0, sizeof(small));
    for (i = 0; i < N; i++) {
        memcpy(want + want_len, bufs[i], LEN);
        want_len += LEN;
        if (i == 3) {
            fill(want + want_len, 100, 99);
            want_len += 100;
        }
    }
    ck_assert_int_eq(sp_link_flush(p.client), APR_SUCCESS);
    ck_assert(sp_link_pending(p.client) > 0);
    ck_assert_int_lt(n_done, N);  /* what is not written is not given back */
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_uint_eq(sp_link_pending(p.client), 0);
    ck_assert_uint_eq(p.got_len, want_len);
    ck_assert_int_eq(memcmp(got, want, want_len), 0);
    ck_assert_int_eq(n_done, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(done_log[i].slot, 3);
        ck_assert_uint_eq(done_log[i].end, i % 2 ? 1000 + (uint64_t)i : 0);
    }
}
END_TEST

START_TEST(payloads_owned_back_survive_their_slot_being_reused)
{
    static unsigned char a[8000], b[8000], got[16000], want[16000];
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    p.client->ref_done = log_ref_done;
    n_done = 0;
    p.got = got;
    fill(a, sizeof(a), 1);
    fill(b, sizeof(b), 2);
    memcpy(want, a, sizeof(a));
    memcpy(want + sizeof(a), b, sizeof(b));
    ck_assert_int_eq(sp_link_queue_ref(p.client, SP_FT_DATA, 0, 1, a,
                                       sizeof(a), 4, 10), 1);
    ck_assert_int_eq(sp_link_queue_ref(p.client, SP_FT_DATA, 0, 3, b,
                                       sizeof(b), 6, 20), 1);
    ck_assert_int_eq(sp_link_own_refs(p.client, 4), APR_SUCCESS);
    memset(a, 0, sizeof(a));  /* slot 4 is emptied for another owner */
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    ck_assert_uint_eq(p.got_len, sizeof(want));
    ck_assert_int_eq(memcmp(got, want, sizeof(want)), 0);
    /* Slot 4 was told nothing more; slot 6 learns its payload is out. */
    ck_assert_int_eq(n_done, 1);
    ck_assert_int_eq(done_log[0].slot, 6);
    ck_assert_uint_eq(done_log[0].end, 20);
}
END_TEST

START_TEST(a_closed_link_gives_back_the_payloads_it_never_wrote)
{
    static unsigned char a[2 * SP_LINK_REF_MIN];
    pair_t p;
    char who;

    make_links(&p, &secret_a, &secret_a);
    ck_assert_int_eq(pump(&p, &who), APR_SUCCESS);
    p.client->ref_done = log_ref_done;
    n_done = 0;
    ck_assert_int_eq(sp_link_queue_ref(p.client, SP_FT_DATA, 0, 1, a,
                                       SP_LINK_REF_MIN, 2, 0), 1);
    ck_assert_int_eq(sp_link_queue_ref(p.client, SP_FT_DATA, 0, 1,
                                       a + SP_LINK_REF_MIN, SP_LINK_REF_MIN,
                                       2, 50), 1);
    sp_link_close(p.client, "test");
    ck_assert_int_eq(n_done, 2);
    ck_assert_uint_eq(done_log[0].end, 0);
    ck_assert_uint_eq(done_log[1].end, 50);
    ck_assert_uint_eq(p.client->ref_bytes, 0);
}
END_TEST

Suite *link_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("link");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, links_with_the_same_secret_authenticate_both_ways);
    tcase_add_test(tc, a_server_refuses_a_client_without_the_secret);
    tcase_add_test(tc, a_client_refuses_a_server_that_cannot_prove_the_secret);
    tcase_add_test(tc, a_peer_of_another_protocol_version_is_refused);
    tcase_add_test(tc, garbage_instead_of_a_handshake_closes_the_link);
    tcase_add_test(tc, a_stream_frame_before_the_handshake_is_refused);
    tcase_add_test(tc, a_frame_past_max_frame_is_refused_from_its_header_alone);
    tcase_add_test(tc, stream_frames_reach_the_callback_after_the_handshake);
    tcase_add_test(tc, a_short_read_ends_the_readable_event_without_reading_again);
    tcase_add_test(tc, data_past_the_link_credit_closes_the_link);
    tcase_add_test(tc, a_ping_is_answered_with_the_same_bytes);
    tcase_add_test(tc, a_client_may_not_drain_a_link_unasked);
    tcase_add_test(tc, a_client_answers_drain_and_the_server_notes_it);
    tcase_add_test(tc, borrowed_payloads_go_out_in_order_from_their_memory_and_are_given_back_once_written);
    tcase_add_test(tc, payloads_owned_back_survive_their_slot_being_reused);
    tcase_add_test(tc, a_closed_link_gives_back_the_payloads_it_never_wrote);
    suite_add_tcase(s, tc);
    return s;
}
