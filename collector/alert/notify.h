/*
 * Notifiers: one table of functions per channel kind (Slack, Microsoft Teams, e-mail, generic
 * webhook), in the manner of curl's vtls backends. A notifier renders a message and delivers it
 * once; it never retries. It returns CM_OK when the receiver took the message, CM_EUNAVAIL for a
 * transient failure (the outbox tries again later, honouring res->retry_after_s), or another
 * code for a permanent one (the message is given up). Notifiers keep no state and are called
 * from several sender threads at once.
 */
#ifndef COL_ALERT_NOTIFY_H
#define COL_ALERT_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "cm_buf.h"
#include "core/config.h"

/* A failing job of the run, with its first failing step and that step's last log lines. */
struct col_alert_job {
	char *name;
	char *html_url;
	char *conclusion;
	char *step;	/* NULL when no step failed visibly */
	char *log_tail; /* at most COL_ALERT_LOG_LINES lines; NULL when none is stored */
};
#define COL_ALERT_LOG_LINES 20
#define COL_ALERT_MAX_JOBS  10

/* Everything a message says, read from the database when it is sent (message.c). */
struct col_alert_msg {
	int64_t alert_id;
	char event[16]; /* open, repeat, resolve, test */
	char *kind;	/* failure, flapping, regression, slow_build */
	char *severity;
	char *state;
	char *summary;
	int run_count;
	int64_t opened_ms, resolved_ms;
	char *repo; /* owner/name */
	char *server_url;
	char *workflow;
	char *branch;
	/* The run the message is about (that broke it; for a resolve, that fixed it). */
	int64_t run_id;
	int run_attempt;
	int64_t run_number;
	char *head_sha;
	char *head_message;
	char *actor;
	char *conclusion;
	char *html_url;
	struct col_alert_job jobs[COL_ALERT_MAX_JOBS];
	int njobs;
	char *dashboard_url; /* link to the run in the dashboard; NULL without CIPULSE_PUBLIC_URL */
};

void col_alert_msg_release(struct col_alert_msg *m);

/* A channel as the sender sees it; target and secret are secrets (never logged). */
struct col_channel {
	int64_t id;
	const char *name;
	const char *kind;
	const char *target;
	const char *secret; /* may be NULL */
};

struct col_notify_result {
	long status; /* HTTP status or SMTP reply code of the attempt; 0 when none */
	long
	    retry_after_s; /* the receiver asked to wait this long (429 Retry-After); 0: not said */
	char error[256];   /* short and free of secrets */
};

struct col_notifier {
	const char *kind;
	int (*send)(const struct col_config *cfg, const struct col_channel *ch,
		    const struct col_alert_msg *m, struct col_notify_result *res);
};

extern const struct col_notifier col_notifier_slack;
extern const struct col_notifier col_notifier_teams;
extern const struct col_notifier col_notifier_email;
extern const struct col_notifier col_notifier_webhook;

/* The notifier of a channel kind; NULL for an unknown kind. */
const struct col_notifier *col_notifier_find(const char *kind);

/* ---- shared by the notifiers (notify.c) ---- */

/*
 * POSTs a JSON body to url with the configured timeouts; extra is a NULL-terminated list of
 * header lines. Maps the outcome: 2xx CM_OK; 408, 429 (with Retry-After), 5xx and network
 * errors CM_EUNAVAIL; other statuses and unusable URLs CM_EINVAL.
 */
int col_notify_post_json(const struct col_config *cfg, const char *url, const char *body,
			 const char *const *extra, struct col_notify_result *res);
/*
 * Like col_notify_post_json for a body just rendered: takes body (freed here); NULL (rendering
 * ran out of memory) is a transient error.
 */
int col_notify_post_rendered(const struct col_config *cfg, const char *url, char *body,
			     const char *const *extra, struct col_notify_result *res);
/*
 * Appends ch, as an HTML entity when it is &, < or > (and " or ' when quotes is set): what HTML
 * and Slack's mrkdwn both need so that user text stays text.
 */
int col_notify_add_escaped(struct cm_buf *b, char ch, int quotes);
/* "Failure", "Resolved", ... : the headline of a message. */
const char *col_notify_title(const struct col_alert_msg *m);
/* The first 7 characters of the head commit ("" when unknown). */
void col_notify_short_sha(const struct col_alert_msg *m, char out[8]);

#endif
