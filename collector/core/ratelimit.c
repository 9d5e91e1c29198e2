#include "core/ratelimit.h"

#include <stdio.h>
#include <string.h>

static struct col_addr_slot *slot_of(struct col_addr_limit *l, const char *addr)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &l->slots[h % COL_ADDR_SLOTS];
}

/* Under lock: the slot of addr with its window current (a colliding address takes it over). */
static struct col_addr_slot *current(struct col_addr_limit *l, const char *addr, int64_t now)
{
	struct col_addr_slot *s = slot_of(l, addr);

	if (strcmp(s->addr, addr) || now - s->window_start >= l->window_ms) {
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		s->window_start = now;
		s->count = 0;
	}
	return s;
}

int col_addr_limit_over(struct col_addr_limit *l, const char *addr, long limit, int64_t now_ms,
			long *retry_s)
{
	struct col_addr_slot *s;
	int over;

	pthread_mutex_lock(&l->lock);
	s = current(l, addr, now_ms);
	over = s->count >= limit;
	*retry_s = (long)((s->window_start + l->window_ms - now_ms + 999) / 1000);
	if (*retry_s < 1)
		*retry_s = 1;
	pthread_mutex_unlock(&l->lock);
	return over;
}

void col_addr_limit_hit(struct col_addr_limit *l, const char *addr, int64_t now_ms)
{
	pthread_mutex_lock(&l->lock);
	current(l, addr, now_ms)->count++;
	pthread_mutex_unlock(&l->lock);
}

int col_sampler_take(struct col_sampler *s, int64_t now_ms, long *held)
{
	int take;

	pthread_mutex_lock(&s->lock);
	take = !s->last || now_ms - s->last >= s->interval_ms;
	if (take) {
		*held = s->held;
		s->held = 0;
		s->last = now_ms;
	} else {
		s->held++;
	}
	pthread_mutex_unlock(&s->lock);
	return take;
}
