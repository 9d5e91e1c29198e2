#include "deliver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "send.h"
#include "spool.h"
#include "warn.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"

#define SPOOL_READ_MAX (256L * 1024 * 1024)

const char *ag_delivery_name(enum ag_delivery d)
{
	static const char *const names[] = { "sent", "spooled", "rejected", "lost" };

	return names[d];
}

/* What a collector older than test results answers to a TestBatch (an unknown oneof field). */
#define OLD_COLLECTOR_ANSWER "chunk: empty message"

/*
 * ag_send, and once more without the test batches when the collector refuses the report with
 * them (INVALID_ARGUMENT, RESOURCE_EXHAUSTED): a collector too old for test results (warned once
 * per process), or tests it will not take. The jobs and logs must not be lost for want of the
 * tests. The frames themselves, and so a spooled report, keep their tests for a newer collector.
 */
static int send_report(const struct ag_send_opts *o, const char *frames, size_t n,
		       struct ag_ack *ack, char *why, size_t whysize)
{
	static int warned;
	struct cm_buf bare = CM_BUF_INIT(n + 1);
	int rc = ag_send(o, frames, n, ack, why, whysize);

	char msg[700];

	if ((rc != CM_EINVAL && rc != CM_ETOOBIG) || !ag_frames_have_tests(frames, n))
		return rc;
	if (!strstr(why, OLD_COLLECTOR_ANSWER)) {
		/* Refused for something in the tests (or too big with them): keep the rest. */
		snprintf(msg, sizeof(msg), "test results left out: %.600s", why);
		ag_warn(msg);
	} else if (!warned) {
		ag_warn("collector too old for test results: the report is sent without them "
			"(upgrade the collector to store tests)");
		warned = 1;
	}
	rc = ag_frames_without_tests(frames, n, &bare);
	if (rc == CM_OK)
		rc = ag_send(o, bare.data ? bare.data : "", bare.len, ack, why, whysize);
	cm_buf_release(&bare);
	return rc;
}

void ag_send_opts_from(const struct ag_config *cfg, long budget_ms, struct ag_send_opts *o)
{
	o->collector = cfg->collector;
	o->tls = cfg->tls;
	o->tls_ca = cfg->tls_ca;
	o->token = cfg->token;
	o->budget_ms = budget_ms;
	o->rpc_timeout_ms = cfg->rpc_timeout_ms;
}

enum ag_delivery ag_deliver(const struct ag_config *cfg, const char *spool_dir,
			    const char *report_id, const char *frames, size_t n, char *why,
			    size_t whysize)
{
	struct ag_send_opts o;
	struct ag_ack ack;
	char name[256], sendwhy[512];
	int rc, dropped = 0;

	ag_send_opts_from(cfg, cfg->send_budget_ms, &o);
	rc = send_report(&o, frames, n, &ack, sendwhy, sizeof(sendwhy));
	if (rc == CM_OK) {
		cm_log_info("send",
			    "report delivered id=%s jobs=%d steps=%d logs=%d tests=%d duplicate=%d "
			    "attempts=%d",
			    report_id, ack.jobs, ack.steps, ack.logs, ack.tests, ack.duplicate,
			    ack.attempts);
		why[0] = '\0';
		return AG_SENT;
	}
	if (rc == CM_EINVAL || rc == CM_ETOOBIG) {
		snprintf(why, whysize, "report %s rejected: %s", report_id, sendwhy);
		return AG_REJECTED;
	}
	rc = ag_spool_put(spool_dir, cfg->github_repository_id, cfg->spool_max_bytes, report_id,
			  frames, n, name, sizeof(name), &dropped);
	if (rc) {
		/* A full disk (ENOSPC) or a file-size limit (EFBIG): say which. */
		snprintf(why, whysize,
			 "report %s not delivered (%s) and could not be spooled in %s: %s",
			 report_id, sendwhy, spool_dir,
			 rc == CM_EIO ? strerror(errno) : cm_strerror(rc));
		return AG_LOST;
	}
	snprintf(why, whysize, "report %s spooled for later (%s)%s", report_id, sendwhy,
		 dropped ? "; the spool was full and older reports were dropped" : "");
	return AG_SPOOLED;
}

int ag_flush(const struct ag_config *cfg, const char *spool_dir, long budget_ms, int *sent,
	     int *left, int *dropped)
{
	int64_t end = cm_time_mono_ms() + budget_ms;
	struct cm_buf frames = CM_BUF_INIT(SPOOL_READ_MAX);
	struct ag_send_opts o;
	char **names, why[512], dir[4096];
	size_t n, i;
	int rc, moved;

	*sent = *left = *dropped = 0;
	ag_spool_clean(spool_dir);
	rc = ag_spool_migrate(spool_dir, &moved, dropped);
	if (rc == CM_OK && moved)
		cm_log_info("spool",
			    "moved reports of the old layout to their repositories count=%d",
			    moved);
	/* Only this repository's reports: the token is this repository's. */
	rc = ag_spool_repo_dir(spool_dir, cfg->github_repository_id, dir, sizeof(dir));
	if (rc == CM_OK)
		rc = ag_spool_list(dir, &names, &n);
	if (rc) {
		cm_buf_release(&frames);
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct ag_ack ack;
		long remaining = (long)(end - cm_time_mono_ms());
		int64_t repo_id = 0;
		int fd;

		if (remaining <= 0)
			break;
		rc = ag_spool_open(dir, names[i], &frames, &fd, &repo_id);
		if (rc == CM_ECONFLICT || rc == CM_ENOTFOUND) {
			/* Another agent is sending it, or just sent it. */
			continue;
		}
		if (rc == CM_EPROTO) {
			ag_spool_drop_damaged(dir, names[i]);
			(*dropped)++;
			continue;
		}
		if (rc)
			continue;
		if (repo_id != cfg->github_repository_id) {
			/* Put there by hand: never send it with this repository's token. */
			cm_log_warn("spool",
				    "skipping a report of another repository file=%s repo=%lld",
				    names[i], (long long)repo_id);
			ag_spool_done(dir, names[i], fd, 0);
			continue;
		}
		/* One attempt per report while the rest of the budget lasts: a backlog must not
		 * stall. */
		ag_send_opts_from(cfg, remaining, &o);
		rc = send_report(&o, frames.data, frames.len, &ack, why, sizeof(why));
		if (rc == CM_OK) {
			cm_log_info("spool", "spooled report delivered id=%s duplicate=%d",
				    ack.report_id, ack.duplicate);
			ag_spool_done(dir, names[i], fd, 1);
			(*sent)++;
		} else if (rc == CM_EINVAL || rc == CM_ETOOBIG) {
			cm_log_warn("spool", "collector rejected a spooled report file=%s: %s",
				    names[i], why);
			ag_spool_done(dir, names[i], fd, 1);
			(*dropped)++;
		} else {
			/*
			 * Unavailable, or the token refused (UNAUTHENTICATED, PERMISSION_DENIED):
			 * the report waits for this repository's next job, within the spool's size
			 * limit.
			 */
			cm_log_warn("spool", "spooled report not delivered file=%s: %s", names[i],
				    why);
			ag_spool_done(dir, names[i], fd, 0);
			break;
		}
	}
	/* Whatever this run could not send stays for the next. */
	{
		char **rest;
		size_t m;

		if (ag_spool_list(dir, &rest, &m) == CM_OK) {
			*left = (int)m;
			ag_spool_names_free(rest, m);
		}
	}
	cm_buf_release(&frames);
	ag_spool_names_free(names, n);
	return CM_OK;
}
