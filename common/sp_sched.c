/*
 * sp_sched.c -- the scheduling class of a proxy process (see sp_sched.h).
 */
#include <errno.h>
#include <sched.h>

#include "sp_sched.h"

apr_status_t sp_sched_batch(int on)
{
#ifdef SCHED_BATCH
    struct sched_param sp = { 0 };  /* both classes take priority 0 */

    if (sched_setscheduler(0, on ? SCHED_BATCH : SCHED_OTHER, &sp) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    return APR_SUCCESS;
#else
    (void)on;
    return APR_ENOTIMPL;
#endif
}

int sp_sched_is_batch(void)
{
#ifdef SCHED_BATCH
    return sched_getscheduler(0) == SCHED_BATCH;
#else
    return 0;
#endif
}
