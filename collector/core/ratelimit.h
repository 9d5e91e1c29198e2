/*
 * Two small guards against floods of bad requests, thread safe:
 *   col_addr_limit  counts events per client address over a fixed window (e.g. webhooks with a
 *                   bad signature per minute) and says when an address went past its limit;
 *   col_sampler     lets one log line through per interval and counts the ones held back.
 */
#ifndef COL_RATELIMIT_H
#define COL_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

#define COL_ADDR_SLOTS 1024

struct col_addr_slot {
	char addr[48];
	int64_t window_start;
	long count;
};

struct col_addr_limit {
	pthread_mutex_t lock;
	long window_ms;
	struct col_addr_slot slots[COL_ADDR_SLOTS];
};

#define COL_ADDR_LIMIT_INIT(window)                                                                \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, (window),                                               \
		{                                                                                  \
			{                                                                          \
				"", 0, 0                                                           \
			}                                                                          \
		}                                                                                  \
	}

/*
 * 1 when addr has counted `limit` events or more in its current window; *retry_s then gets the
 * seconds until the window ends (at least 1).
 */
int col_addr_limit_over(struct col_addr_limit *l, const char *addr, long limit, int64_t now_ms,
			long *retry_s);
/* Counts one event of addr. */
void col_addr_limit_hit(struct col_addr_limit *l, const char *addr, int64_t now_ms);

struct col_sampler {
	pthread_mutex_t lock;
	long interval_ms;
	int64_t last;
	long held;
};

#define COL_SAMPLER_INIT(interval)                                                                 \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, (interval), 0, 0                                        \
	}

/* 1 when this event may be logged; *held gets how many were held back since the last one. */
int col_sampler_take(struct col_sampler *s, int64_t now_ms, long *held);

#endif
