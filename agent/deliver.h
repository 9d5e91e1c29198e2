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

/* Sends frames; spools them when the collector cannot take them now. `why` says what failed. */
enum ag_delivery ag_deliver(const struct ag_config *cfg, const char *spool_dir,
			    const char *report_id, const char *frames, size_t n, char *why,
			    size_t whysize);

/*
 * Sends spooled reports, oldest first, until done, the budget is used up or the collector is
 * unavailable. Counts what was sent, what is left, and what was dropped (damaged or rejected).
 */
int ag_flush(const struct ag_config *cfg, const char *spool_dir, long budget_ms, int *sent,
	     int *left, int *dropped);

#endif
