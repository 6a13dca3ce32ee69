/*
 * sp_sched.h -- the scheduling class of a proxy process.
 *
 * Both proxies are woken by the processes they serve: an owner that
 * queued its slot rings the doorbell, a peer proxy writes to the link.
 * Under Linux's default class the woken proxy preempts its waker at once,
 * so it runs for the one slot that woke it, sleeps again, and the waker
 * (which was about to sleep itself) is scheduled back: three context
 * switches where one would do.  SCHED_BATCH keeps the proxy's wake-ups
 * from preempting anyone.  It runs as soon as a CPU is idle or its waker
 * sleeps, and by then it finds more slots ready: one wake-up, many slots.
 * Its share of the CPU is unchanged (nice value and weight are the same);
 * only wake-up preemption goes.  The price: when CPU-bound work keeps
 * every core busy, a woken proxy waits for a running task's slice to end,
 * which raised one connection's p99 about threefold in that state; hence
 * the directives to turn it off.  docs/PERFORMANCE.md has the figures.
 */
#ifndef SP_SCHED_H
#define SP_SCHED_H

#include <apr.h>
#include <apr_errno.h>

/* Puts the calling process (its thread) in SCHED_BATCH (on = 1) or back in
 * SCHED_OTHER (on = 0), keeping its nice value.  APR_ENOTIMPL where the
 * system has no SCHED_BATCH; otherwise the errno of sched_setscheduler. */
apr_status_t sp_sched_batch(int on);

/* 1 if the calling thread is in SCHED_BATCH, 0 if not (or unknown). */
int sp_sched_is_batch(void);

#endif
