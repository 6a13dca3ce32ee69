/*
 * sp_space.c -- the frame ring of one slot direction (sp_space.h).
 *
 * The header of every frame is read once into a local copy and checked
 * against the bytes the writer published before it is used: the other
 * process may be broken, and may even change the bytes while we look.
 */
#include "sp_errors.h"
#include "sp_space.h"

#define SP_SPACE_REWIND (16u * 1024)

static void put_pad(unsigned char *at, apr_size_t to_end)
{
    sp_frame_hdr_t h;

    if (to_end < SP_FRAME_HDR_LEN) {
        return;  /* too short for a header: skipped by rule */
    }
    h.length = (uint32_t)(to_end - SP_FRAME_HDR_LEN);
    h.type = (uint8_t)SP_SPACE_PAD_TYPE;
    h.flags = 0;
    h.stream = 0;
    sp_frame_hdr_encode(at, &h);
}

/* Where an empty space is started over from its front. */
static apr_size_t rewind_at(apr_size_t size)
{
    apr_size_t half = sp_space_max_frame(size);

    return half < SP_SPACE_REWIND ? half : SP_SPACE_REWIND;
}

apr_size_t sp_space_room(unsigned char *base, apr_size_t size,
                         uint64_t *wpos, uint64_t tail, apr_size_t min)
{
    uint64_t used = *wpos - tail;
    apr_size_t at, to_end, free_;

    if (used > size || min > sp_space_max_frame(size) || min == 0) {
        return 0;
    }
    free_ = size - (apr_size_t)used;
    at = (apr_size_t)(*wpos % size);
    to_end = size - at;
    if (used == 0 && at >= min && at >= rewind_at(size)) {
        /* Empty: start over at the front, so that small requests keep
         * using the first pages of the space and the rest of it is never
         * touched (made resident) unless large bodies need it.  Not
         * before a good part is free at the front: a writer that found
         * only a few bytes there would have to wait for the pad to be
         * read before its next frame. */
        put_pad(base + at, to_end);
        *wpos += to_end;
        return at;  /* free from the front up to where the reader is */
    }
    if (to_end < min) {
        if (free_ < to_end) {
            return 0;  /* the reader still reads the end of the space */
        }
        put_pad(base + at, to_end);
        *wpos += to_end;
        free_ -= to_end;
        to_end = size;
    }
    if (free_ < min) {
        return 0;
    }
    return free_ < to_end ? free_ : to_end;
}

int sp_space_next(const unsigned char *base, apr_size_t size,
                  uint64_t *rpos, uint64_t head, sp_frame_hdr_t *h,
                  const unsigned char **payload)
{
    for (;;) {
        uint64_t avail = head - *rpos;
        apr_size_t at, to_end, lim;
        const unsigned char *f;

        if (avail == 0) {
            return 0;
        }
        if (avail > size) {
            return -1;
        }
        at = (apr_size_t)(*rpos % size);
        to_end = size - at;
        f = base + at;
        if (to_end < SP_FRAME_HDR_LEN) {
            if (avail < to_end) {
                return -1;
            }
            *rpos += to_end;
            continue;
        }
        if (avail < SP_FRAME_HDR_LEN) {
            return -1;  /* writers publish whole frames only */
        }
        if (f[4] == SP_SPACE_PAD_TYPE) {
            if (sp_get_u32(f) != to_end - SP_FRAME_HDR_LEN || f[5] != 0
                || sp_get_u32(f + 8) != 0 || avail < to_end) {
                return -1;
            }
            *rpos += to_end;
            continue;
        }
        lim = avail < to_end ? (apr_size_t)avail : to_end;
        if (sp_frame_hdr_decode_slot(f, (uint32_t)(lim - SP_FRAME_HDR_LEN), h)
            != APR_SUCCESS) {
            return -1;
        }
        *payload = f + SP_FRAME_HDR_LEN;
        return 1;
    }
}
