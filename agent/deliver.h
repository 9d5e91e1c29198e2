/* Getting a report to the collector, or failing that into the spool; sending the spool. */
#ifndef AG_DELIVER_H
#define AG_DELIVER_H

#include <stddef.h>

#include "config.h"

enum ag_delivery {
	AG_SENT,     /* acknowledged by the collector */
	AG_SPOOLED,  /* kept in the spool directory for a later run or flush */
	AG_REJECTED, /* the collector refused the report itself; resending cannot help */
	AG_LOST,     /* neither sent nor spooled (the spool could not be written) */
};

const char *ag_delivery_name(enum ag_delivery d);

struct ag_send_opts;

/* Send options from the settings. */
void ag_send_opts_from(const struct ag_config *cfg, long budget_ms, struct ag_send_opts *o);

/*
 * Sends frames; spools them under this job's repository when the collector cannot take them now
 * or refuses the token. `why` says what failed (for AG_LOST, also why the spool could not take
 * them: a full disk, a file-size limit).
 */
enum ag_delivery ag_deliver(const struct ag_config *cfg, const char *spool_dir,
			    const char *report_id, const char *frames, size_t n, char *why,
			    size_t whysize);

/*
 * Sends the spooled reports of this job's repository (GITHUB_REPOSITORY_ID), oldest first, with
 * this job's token, until done, the budget is used up or the collector is unavailable or
 * refuses the token. Other repositories' reports are left for their own jobs. First removes
 * temporary files of writers that died and sorts reports of the old layout into their
 * repositories. Counts this repository's reports sent and left, and what was dropped (damaged
 * or rejected).
 */
int ag_flush(const struct ag_config *cfg, const char *spool_dir, long budget_ms, int *sent,
	     int *left, int *dropped);

#endif
