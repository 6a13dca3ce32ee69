/*
 * sp_space.h -- one direction of a slot: a single-producer single-consumer
 * ring of frames in shared memory.
 *
 * Each slot has two spaces: tx (owner writes, proxy reads) and rx (proxy
 * writes, owner reads).  The writer appends whole frames at its position
 * and publishes it (head); the reader consumes frames and publishes its
 * position (tail).  Positions are byte counts since the slot was made
 * (uint64_t, never wrap); a frame starts at position % size.
 *
 * A frame never wraps around the end of the space: when the next frame
 * does not fit before the end, the writer skips the rest of it, with a pad
 * frame if at least a frame header fits there (type SP_SPACE_PAD_TYPE,
 * stream 0, length = bytes to the end) and silently if not.  No frame is
 * longer than half the space (sp_space_max_frame), so a writer whose
 * reader has emptied at least half of the space can always place its next
 * frame: producer and consumer work on the two halves at once.  A writer
 * that finds the space empty, 16 KiB (or half the space) or more into it,
 * starts again at its front (with a pad), so small requests only ever
 * touch its first pages.
 *
 * Both sides treat what the other wrote as untrusted: a position that
 * claims more than the space holds or a malformed header is an error, and
 * no access ever leaves [base, base + size).
 */
#ifndef SP_SPACE_H
#define SP_SPACE_H

#include <stdint.h>
#include <apr.h>

#include "sp_frame.h"

#define SP_SPACE_PAD_TYPE 0xffu

/* The longest frame, header included, a space of `size` bytes carries. */
static inline apr_size_t sp_space_max_frame(apr_size_t size)
{
    return size / 2;
}

/* Writer: makes room for a frame of at least `min` bytes (header
 * included, min <= sp_space_max_frame) at *wpos, the reader being at
 * `tail`.  Skips to the start of the space (advancing *wpos past a pad)
 * when the frame does not fit before the end.  Returns the contiguous
 * bytes free at *wpos % size (>= min), or 0 if there is not enough room
 * yet (or tail is not a position the reader can have). */
apr_size_t sp_space_room(unsigned char *base, apr_size_t size,
                         uint64_t *wpos, uint64_t tail, apr_size_t min);

/* Reader: the next frame between *rpos and head.  Skips pads (advancing
 * *rpos).  Returns 1 with *h and *payload set (the caller advances *rpos
 * by SP_FRAME_HDR_LEN + h->length once it is done with the frame), 0 if
 * there is none, -1 if the space is corrupt: a head past what the space
 * holds, a frame that crosses the end or the head, a bad header or pad. */
int sp_space_next(const unsigned char *base, apr_size_t size,
                  uint64_t *rpos, uint64_t head, sp_frame_hdr_t *h,
                  const unsigned char **payload);

#endif
