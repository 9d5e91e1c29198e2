/*
 * One background thread that does a piece of work now and then every interval until stopped
 * (the poller, the retention sweep, the database health monitor), and the one way to turn
 * "now + ms" into the absolute time pthread_cond_timedwait wants.
 */
#ifndef COL_TICKER_H
#define COL_TICKER_H

#include <time.h>

struct col_ticker;

/* The CLOCK_REALTIME time ms milliseconds from now (for pthread_cond_timedwait). */
struct timespec col_ticker_deadline(long ms);

/*
 * Starts a thread named `name` (at most 15 characters) that calls tick(arg) at once and then
 * every interval_ms (measured from the end of one tick to the start of the next) until
 * col_ticker_stop. *out is set before the first tick runs (the tick may use it). CM_ENOMEM
 * when the thread cannot be started.
 */
int col_ticker_start(const char *name, long interval_ms, void (*tick)(void *arg), void *arg,
		     struct col_ticker **out);
/*
 * Waits up to ms milliseconds, or until the ticker is being stopped: 1 then, else 0. For a
 * tick that must pause (it runs on the ticker's thread).
 */
int col_ticker_wait(struct col_ticker *t, long ms);
/*
 * Makes the thread tick again at once: the wait after the tick in progress (or the wait going
 * on) ends now. For work that arrives (a notification queued). Thread safe.
 */
void col_ticker_wake(struct col_ticker *t);
/* Called from a tick: the wait after this tick lasts ms instead of the interval. */
void col_ticker_next(struct col_ticker *t, long ms);
/* Wakes the thread, waits for the tick in progress to end, frees the ticker. NULL is a no-op. */
void col_ticker_stop(struct col_ticker *t);

#endif
