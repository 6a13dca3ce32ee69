/*
 * sp_ring.c -- the ready ring (see sp_ring.h).
 *
 * A bounded queue after the sequence-numbered cell scheme: a cell whose
 * seq equals the producer's position is free to fill; a producer claims
 * the position with a CAS on head, writes the value, then publishes
 * seq = position + 1.  The single consumer takes a cell whose seq is
 * tail + 1 and hands it back with seq = tail + size.
 */
#include "sp_ring.h"

static uint32_t round_pow2(uint32_t n)
{
    uint32_t s = 2;
    while (s < n && s < 0x80000000u) {
        s <<= 1;
    }
    return s;
}

apr_size_t sp_ring_bytes(uint32_t min_cells)
{
    return sizeof(sp_ring_sh_t)
           + (apr_size_t)round_pow2(min_cells) * sizeof(sp_ring_cell_t);
}

void sp_ring_init(sp_ring_sh_t *r, uint32_t min_cells)
{
    uint32_t i, size = round_pow2(min_cells);

    r->size = size;
    r->mask = size - 1;
    for (i = 0; i < size; i++) {
        r->cells[i].value = 0;
        __atomic_store_n(&r->cells[i].seq, (uint64_t)i, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&r->tail, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->head, 0, __ATOMIC_RELEASE);
}

int sp_ring_push(sp_ring_sh_t *r, uint32_t value)
{
    uint64_t pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

    for (;;) {
        sp_ring_cell_t *cell = &r->cells[pos & r->mask];
        uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(seq - pos);

        if (dif == 0) {
            if (__atomic_compare_exchange_n(&r->head, &pos, pos + 1, 1,
                                            __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                cell->value = value;
                __atomic_store_n(&cell->seq, pos + 1, __ATOMIC_RELEASE);
                return 0;
            }
            /* pos was reloaded by the failed CAS */
        }
        else if (dif < 0) {
            return -1;
        }
        else {
            pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
        }
    }
}

int sp_ring_pop(sp_ring_sh_t *r, uint32_t *value)
{
    uint64_t pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    sp_ring_cell_t *cell = &r->cells[pos & r->mask];
    uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);

    if (seq != pos + 1) {
        return -1;
    }
    *value = cell->value;
    __atomic_store_n(&cell->seq, pos + r->size, __ATOMIC_RELEASE);
    __atomic_store_n(&r->tail, pos + 1, __ATOMIC_RELAXED);
    return 0;
}
