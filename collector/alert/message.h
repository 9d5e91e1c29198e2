/* Reading what a notification says (struct col_alert_msg, notify.h) from the database. */
#ifndef COL_ALERT_MESSAGE_H
#define COL_ALERT_MESSAGE_H

#include <stdint.h>

#include "alert/notify.h"
#include "store/db.h"

/*
 * Fills m for a message of `event` about alert_id and the run run_id/run_attempt (the run that
 * opened, repeated or resolved it). Returns 0, CM_ENOTFOUND when the alert is gone, or a database
 * error code. Release with col_alert_msg_release (also after an error: m is then empty).
 */
int col_alert_msg_load(struct col_conn *c, const struct col_config *cfg, int64_t alert_id,
		       const char *event, int64_t run_id, int run_attempt, struct col_alert_msg *m);
/* A test message (POST /api/v1/settings/alerts/test). */
void col_alert_msg_test(struct col_alert_msg *m, const struct col_config *cfg);

#endif
