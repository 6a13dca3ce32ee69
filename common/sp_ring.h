/*
 * sp_ring.h -- the ready ring: a bounded multi-producer, single-consumer
 * queue of slot numbers in shared memory.
 *
 * Owners push their slot number when they have something for the proxy;
 * the proxy pops.  Each cell carries a sequence number so that a producer
 * that has claimed a cell but not yet filled it is never read as filled
 * (the consumer waits for it or, if the producer died, the table sweep
 * recovers the slot).  Every slot is queued at most once at a time (see
 * sp_slot_post_event), so a ring with as many cells as slots never fills.
 */
#ifndef SP_RING_H
#define SP_RING_H

#include <stdint.h>
#include <apr.h>

typedef struct sp_ring_cell_t {
    uint64_t seq;
    uint32_t value;
    uint32_t pad;
} sp_ring_cell_t;

typedef struct sp_ring_sh_t {
    uint32_t size;           /* power of two */
    uint32_t mask;
    char     pad0[56];
    uint64_t head;           /* next cell to fill: producers (CAS) */
    char     pad1[56];
    uint64_t tail;           /* next cell to take: the consumer */
    char     pad2[56];
    sp_ring_cell_t cells[];
} sp_ring_sh_t;

/* Bytes needed for a ring of at least `min_cells` cells (rounded up to a
 * power of two). */
apr_size_t sp_ring_bytes(uint32_t min_cells);
void       sp_ring_init(sp_ring_sh_t *r, uint32_t min_cells);
/* 0 on success, -1 if full. */
int        sp_ring_push(sp_ring_sh_t *r, uint32_t value);
/* 0 on success, -1 if empty (or the next cell is claimed, not yet filled). */
int        sp_ring_pop(sp_ring_sh_t *r, uint32_t *value);

#endif
