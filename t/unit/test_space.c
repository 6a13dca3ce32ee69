/*
 * test_space.c -- the frame ring of one slot direction: frames placed and
 * read back across many wraps, pads at the end, waits for room, and every
 * way a broken writer can lie about what it published.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "sp_space.h"

#define SIZE 8192u

static unsigned char space[SIZE];

/* Writes one frame of `len` payload bytes (value `fill`) at *wpos if it
 * fits; 1 if it did. */
static int write_frame(uint64_t *wpos, uint64_t tail, uint8_t type,
                       uint32_t stream, unsigned char fill, uint32_t len)
{
    sp_frame_hdr_t h = { len, type, 0, stream };
    apr_size_t room = sp_space_room(space, SIZE, wpos, tail,
                                    SP_FRAME_HDR_LEN + len);
    unsigned char *at;

    if (room == 0) {
        return 0;
    }
    ck_assert_uint_ge(room, SP_FRAME_HDR_LEN + len);
    at = space + *wpos % SIZE;
    sp_frame_hdr_encode(at, &h);
    memset(at + SP_FRAME_HDR_LEN, fill, len);
    *wpos += SP_FRAME_HDR_LEN + len;
    return 1;
}

/* Reads the next frame (there must be one) and moves past it; returns its
 * stream field. */
static uint32_t read_frame(uint64_t *rpos, uint64_t wpos,
                           const unsigned char **payload)
{
    sp_frame_hdr_t h;
    const unsigned char *p;

    ck_assert_int_eq(sp_space_next(space, SIZE, rpos, wpos, &h, &p), 1);
    *rpos += SP_FRAME_HDR_LEN + h.length;
    if (payload) {
        *payload = p;
    }
    return h.stream;
}

START_TEST(frames_come_back_in_order_across_many_wraps)
{
    uint64_t wpos = 0, rpos = 0;
    unsigned n_written = 0, n_read = 0, i;

    srandom(7);
    for (i = 0; i < 20000; i++) {
        sp_frame_hdr_t h;
        const unsigned char *p;
        int r;
        /* Write as long as frames fit, then read a few. */
        uint32_t len = (uint32_t)(random() % (SIZE / 2 - SP_FRAME_HDR_LEN + 1));
        if (write_frame(&wpos, rpos, SP_FT_DATA, n_written + 1,
                        (unsigned char)n_written, len)) {
            n_written++;
            ck_assert_uint_le(wpos - rpos, SIZE);
        }
        while ((random() & 1) == 0
               && (r = sp_space_next(space, SIZE, &rpos, wpos, &h, &p)) != 0) {
            static unsigned char want[SIZE];
            ck_assert_int_eq(r, 1);
            ck_assert_uint_eq(h.stream, n_read + 1);
            memset(want, (unsigned char)n_read, h.length);
            ck_assert(memcmp(p, want, h.length) == 0);
            ck_assert(p + h.length <= space + SIZE);
            rpos += SP_FRAME_HDR_LEN + h.length;
            n_read++;
        }
    }
    ck_assert_uint_gt(wpos / SIZE, 100);  /* it wrapped many times */
    ck_assert_uint_gt(n_read, 1000);
}
END_TEST

START_TEST(a_frame_that_does_not_fit_before_the_end_starts_the_next_lap)
{
    uint64_t wpos = 0, rpos = 0;
    const unsigned char *p;

    /* 5000 bytes used: the next 4000-byte frame cannot fit the 3192 left
     * before the end. */
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 1, 'a', 4000 - 12));
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 2, 'b', 1000 - 12));
    ck_assert_uint_eq(wpos, 5000);
    ck_assert(!write_frame(&wpos, rpos, SP_FT_DATA, 3, 'c', 4000 - 12));
    /* The reader leaves the first frame: the writer pads the end and
     * starts over at 0. */
    ck_assert_uint_eq(read_frame(&rpos, wpos, NULL), 1);
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 3, 'c', 4000 - 12));
    ck_assert_uint_eq(wpos, SIZE + 4000);
    ck_assert_uint_eq(space[5000 + 4], SP_SPACE_PAD_TYPE);
    ck_assert_uint_eq(read_frame(&rpos, wpos, NULL), 2);
    ck_assert_uint_eq(read_frame(&rpos, wpos, &p), 3);  /* pad skipped */
    ck_assert_ptr_eq(p, space + SP_FRAME_HDR_LEN);
}
END_TEST

START_TEST(an_end_too_short_for_a_header_is_skipped_without_a_pad)
{
    uint64_t wpos = 0, rpos = 0;
    sp_frame_hdr_t h;
    const unsigned char *p;

    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 1, 'a', 4096 - 12));
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 2, 'b', 4090 - 12));
    ck_assert_uint_eq(SIZE - wpos, 6);
    while (sp_space_next(space, SIZE, &rpos, wpos, &h, &p) == 1) {
        rpos += SP_FRAME_HDR_LEN + h.length;
    }
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 3, 'c', 100));
    ck_assert_uint_eq(wpos, SIZE + SP_FRAME_HDR_LEN + 100);
    ck_assert_int_eq(sp_space_next(space, SIZE, &rpos, wpos, &h, &p), 1);
    ck_assert_uint_eq(h.stream, 3);
    ck_assert_uint_eq(rpos, SIZE);
}
END_TEST

START_TEST(no_frame_may_be_longer_than_half_the_space)
{
    uint64_t wpos = 0;

    ck_assert_uint_eq(sp_space_max_frame(SIZE), SIZE / 2);
    ck_assert_uint_eq(sp_space_room(space, SIZE, &wpos, 0, SIZE / 2 + 1), 0);
    ck_assert_uint_eq(sp_space_room(space, SIZE, &wpos, 0, SIZE / 2), SIZE);
}
END_TEST

START_TEST(a_writer_waits_until_the_reader_has_freed_enough)
{
    uint64_t wpos = 0, rpos = 0;

    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 1, 'a', 4000));
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 2, 'b', 4000));
    ck_assert(!write_frame(&wpos, rpos, SP_FT_DATA, 3, 'c', 200));
    /* A tail the reader cannot have (ahead of the writer, or a whole
     * space behind) gives no room either. */
    ck_assert_uint_eq(sp_space_room(space, SIZE, &wpos, wpos + 1, 20), 0);
    ck_assert_uint_eq(sp_space_room(space, SIZE, &wpos, wpos - SIZE - 1, 20),
                      0);
    rpos = 4012;
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 3, 'c', 200));
}
END_TEST

/* Lies a broken writer can tell, each caught by the reader. */
static void corrupt_case(int i, uint64_t *head)
{
    sp_frame_hdr_t h = { 100, SP_FT_DATA, 0, 1 };

    memset(space, 0, SIZE);
    sp_frame_hdr_encode(space, &h);
    *head = SP_FRAME_HDR_LEN + 100;
    switch (i) {
    case 0: *head = SIZE + 1; break;                  /* more than it holds */
    case 1: *head = SP_FRAME_HDR_LEN + 50; break;     /* frame past the head */
    case 2: *head = 5; break;                         /* half a header */
    case 3: space[4] = 99; break;                     /* unknown type */
    case 4: space[5] = 0x80; break;                   /* unknown flag */
    case 5: sp_put_u32(space, SIZE); *head = SIZE; break; /* past the end */
    case 6:                                            /* pad of wrong length */
        space[4] = SP_SPACE_PAD_TYPE;
        sp_put_u32(space, 10);
        sp_put_u32(space + 8, 0);
        break;
    default:                                           /* pad past the head */
        space[4] = SP_SPACE_PAD_TYPE;
        sp_put_u32(space, SIZE - SP_FRAME_HDR_LEN);
        sp_put_u32(space + 8, 0);
        break;
    }
}

START_TEST(a_reader_refuses_whatever_a_broken_writer_published)
{
    uint64_t head, rpos = 0;
    sp_frame_hdr_t h;
    const unsigned char *p;

    corrupt_case(_i, &head);
    ck_assert_int_eq(sp_space_next(space, SIZE, &rpos, head, &h, &p), -1);
}
END_TEST

START_TEST(an_emptied_space_is_written_again_from_its_front)
{
    uint64_t wpos = 0, rpos = 0, lap_end = SIZE / 2 + 312;
    int i;

    /* Small requests, each read before the next: once half of this
     * (small) space is behind them, they start over at the front, so they
     * only ever touch its first half. */
    for (i = 0; i < 100; i++) {
        ck_assert(write_frame(&wpos, rpos, SP_FT_HEADERS, (uint32_t)i + 1,
                              'h', 300));
        ck_assert_uint_le((wpos - 1) % SIZE, lap_end);
        ck_assert_uint_eq(read_frame(&rpos, wpos, NULL), (uint32_t)i + 1);
    }
    ck_assert_uint_gt(wpos, 3 * SIZE);  /* it did go round */
    /* Not with only a little free at the front: then on as usual. */
    while (wpos % SIZE != 312) {
        ck_assert(write_frame(&wpos, rpos, SP_FT_HEADERS, 1, 'h', 300));
        ck_assert_uint_eq(read_frame(&rpos, wpos, NULL), 1);
    }
    ck_assert(write_frame(&wpos, rpos, SP_FT_DATA, 200, 'd', 100));
    ck_assert_uint_eq(wpos % SIZE, 312 + 112);
}
END_TEST

START_TEST(an_empty_space_has_no_frame)
{
    uint64_t rpos = 3 * SIZE + 17;
    sp_frame_hdr_t h;
    const unsigned char *p;

    ck_assert_int_eq(sp_space_next(space, SIZE, &rpos, rpos, &h, &p), 0);
}
END_TEST

Suite *space_suite(void)
{
    Suite *s = suite_create("space");
    TCase *tc = tcase_create("space");

    tcase_add_test(tc, frames_come_back_in_order_across_many_wraps);
    tcase_add_test(tc, a_frame_that_does_not_fit_before_the_end_starts_the_next_lap);
    tcase_add_test(tc, an_end_too_short_for_a_header_is_skipped_without_a_pad);
    tcase_add_test(tc, no_frame_may_be_longer_than_half_the_space);
    tcase_add_test(tc, a_writer_waits_until_the_reader_has_freed_enough);
    tcase_add_loop_test(tc, a_reader_refuses_whatever_a_broken_writer_published,
                        0, 8);
    tcase_add_test(tc, an_emptied_space_is_written_again_from_its_front);
    tcase_add_test(tc, an_empty_space_has_no_frame);
    suite_add_tcase(s, tc);
    return s;
}
