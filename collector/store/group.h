/*
 * Group commit: reports that arrive together are written in one transaction
 * (col_store_put_reports), so that one commit (one WAL flush) serves many of them. Request
 * threads decode their report in parallel, then hand it to the group and wait; one background
 * thread (core/ticker.h) takes up to `max` waiting reports at a time and writes them, and each
 * request gets its own answer only after its transaction committed.
 *
 * How long a batch waits to fill up: not at all when nothing more is coming; while reports are
 * still being decoded (col_group_enter without a col_group_put yet), up to `wait_ms` from the
 * first report of the batch. A lone report is thus written at once, and a burst fills batches.
 *
 * A group is a static object (COL_GROUP_INIT) that outlives its thread: before col_group_start
 * and after col_group_stop, col_group_put writes the report itself in a transaction of its own,
 * so a request arriving while the collector starts or stops is still served. Thread safe.
 */
#ifndef COL_GROUP_H
#define COL_GROUP_H

#include <pthread.h>
#include <stddef.h>

#include "store/db.h"
#include "store/store.h"

struct col_ticker;
struct col_group_member;
struct col_group_batch;

struct col_group {
	pthread_mutex_t lock;
	pthread_cond_t more;	 /* a report was put, or one being decoded will not come */
	pthread_cond_t answered; /* a batch was written: its members have their answers */
	/* Under lock: */
	struct col_ticker *ticker; /* NULL: not running */
	struct col_group_member *head, *tail;
	size_t queued; /* reports waiting */
	size_t coming; /* reports being decoded (entered, not put yet) */
	/* Set by col_group_start; the batch arrays are the writer thread's: */
	struct col_group_batch *batch;
	struct col_db *db;
	size_t max;
	long wait_ms;
	const char *name; /* for metrics and logs: "webhook" */
};

#define COL_GROUP_INIT                                                                             \
	{                                                                                          \
		.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,               \
		.answered = PTHREAD_COND_INITIALIZER                                               \
	}

/*
 * Starts the group's thread (named "group-" + name, at most 8 characters of it): batches of at
 * most max reports (2 or more), waiting at most wait_ms for one to fill. CM_ENOMEM when the
 * thread cannot start (reports are then written one transaction each).
 */
int col_group_start(struct col_group *g, struct col_db *db, size_t max, long wait_ms,
		    const char *name);
/*
 * A report is on its way (its request is being verified and decoded): a batch waits for it
 * (up to wait_ms). Each col_group_enter is followed by one col_group_put or col_group_leave.
 */
void col_group_enter(struct col_group *g);
/* The report announced by col_group_enter will not come (its request was refused). */
void col_group_leave(struct col_group *g);
/*
 * Writes r (borrowed until it returns) and returns what col_store_put_report would: in the
 * next batch when the group runs, else in a transaction of its own on a connection of db.
 * Blocks until the write committed or failed. Ends a col_group_enter when with_enter is 1.
 */
int col_group_put(struct col_group *g, struct col_db *db, const struct col_report *r,
		  struct col_store_result *out, int with_enter);
/*
 * Stops the thread: reports waiting are written first (each answered), reports put later are
 * written one transaction each. NULL-safe and idempotent: a group not running is left as is.
 */
void col_group_stop(struct col_group *g);

#endif
