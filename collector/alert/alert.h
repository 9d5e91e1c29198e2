/*
 * The alert engine (issue 10): what the rest of the collector may call.
 *
 *   engine.c   rule evaluation (the rules run in the writer's transaction, see
 *              sql/004_alerting.sql and sql/005_window_rules.sql), the window rules' periodic
 *              sweep, channels from the environment
 *   outbox.c   the sender: claims queued notifications and delivers them with retries
 *   message.c  what a notification says, read from the database when it is sent
 *   notify.h   one interface for the channel kinds (slack.c, teams.c, email.c, webhook.c)
 *
 * Nothing here keeps alert state in the process: several collectors on one database agree through
 * the unique open-alert index, FOR UPDATE SKIP LOCKED on the outbox and advisory locks.
 */
#ifndef COL_ALERT_H
#define COL_ALERT_H

#include "cm_buf.h"
#include "core/ctx.h"

/*
 * The statement the store appends to the transaction of every report whose run completed:
 * $1 repository id, $2 run id, $3 attempt, $4 col_alert_max_age_s().
 */
#define COL_ALERT_EVAL_SQL "SELECT cipulse_alert_eval($1, $2, $3, $4::double precision)"

/* Applies the settings the evaluation reads (CIPULSE_ALERT_MAX_AGE); call before any report. */
void col_alert_configure(const struct col_config *cfg);
/* CIPULSE_ALERT_MAX_AGE in seconds (its default until col_alert_configure). Thread safe. */
double col_alert_max_age_s(void);

/*
 * Creates or updates the channels configured from the environment (env-slack, env-teams,
 * env-email) and disables those whose setting was removed. Idempotent; safe with several
 * collectors starting at once.
 */
int col_alert_env_channels(struct col_ctx *ctx);

struct col_notify_result;
/*
 * Sends a test message to the channel named `name` now, outside the outbox (POST
 * /api/v1/settings/alerts/test). Returns CM_ENOTFOUND for no such channel, a database error, or
 * the notifier's outcome with the receiver's status in res.
 */
int col_alert_send_test(struct col_ctx *ctx, const char *name, struct col_notify_result *res);

/*
 * Appends the alerting gauges to a Prometheus exposition: outbox depth, age of the oldest
 * pending message, alerts open by kind (read from the database: the same on every collector).
 */
int col_alert_prom_render(struct col_ctx *ctx, struct cm_buf *out);

/*
 * Re-evaluates the regression and slow_build rules over windows ending now (cipulse_alert_sweep),
 * when it is this collector's turn (col_duty_begin, store/lease.h); *queued: messages queued,
 * -1 when it was not.
 */
int col_alert_sweep_once(struct col_ctx *ctx, long *queued);

struct col_alert_sweep;
/* Starts the sweep ticker (every CIPULSE_ALERT_SWEEP_INTERVAL); stop(NULL) is a no-op. */
int col_alert_sweep_start(struct col_ctx *ctx, struct col_alert_sweep **out);
void col_alert_sweep_stop(struct col_alert_sweep *s);

struct col_outbox;
/* Starts the sender threads; col_outbox_stop(NULL) is a no-op. */
int col_outbox_start(struct col_ctx *ctx, struct col_outbox **out);
/* Stops promptly: a delivery in progress ends within CIPULSE_NOTIFY_TIMEOUT. */
void col_outbox_stop(struct col_outbox *o);

#endif
