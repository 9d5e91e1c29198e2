/*
 * The agent's settings: one option table (flag, env var, default, help) from which --help is
 * generated. GitHub's own env vars are in the table too (env only), so --help lists everything
 * the agent reads.
 */
#ifndef AG_CONFIG_H
#define AG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "cm_buf.h"
#include "cm_config.h"

#define AG_VERSION "0.1.0"

struct ag_config {
	/* cipulse's own settings */
	char *collector;
	char *token;
	int tls;
	char *tls_ca;
	long log_tail_lines;
	long log_step_bytes;
	long log_report_bytes;
	char *log_files;
	char *test_results;
	long max_tests;
	long test_file_bytes;
	long test_report_bytes;
	char *spool_dir;
	long spool_max_bytes;
	long job_id;
	char *job_status;
	int strict;
	long time_budget_ms;
	long send_budget_ms;
	long rpc_timeout_ms;
	char *log_level;
	char *github_token_override;
	int summary;
	long summary_timeout_ms;

	/* GitHub's env vars */
	char *github_api_url;
	char *github_server_url;
	char *github_repository;
	long github_repository_id;
	char *github_workflow_ref;
	long github_run_id;
	long github_run_attempt;
	long github_run_number;
	char *github_workflow;
	char *github_job;
	char *github_sha;
	char *github_ref_name;
	char *github_event_name;
	char *github_actor;
	char *runner_name;
	char *runner_os;
	char *runner_arch;
	char *github_token;
	char *github_output;
	char *github_event_path;
	char *github_workspace;
	char *github_step_summary;
};

extern const struct cm_opt ag_options[];
extern const size_t ag_noptions;

/*
 * Loads settings from the environment and argv (options may come before or after the mode).
 * *mode receives the mode word ("report" when none), *rest the index in argv of the first
 * argument after the options (a command for exec; argc when none). CM_EINVAL with a message in
 * err on a bad value or an unknown mode/option.
 */
int ag_config_load(struct ag_config *cfg, int argc, char **argv, const char **mode, int *rest,
		   int *help, struct cm_buf *err);
void ag_config_release(struct ag_config *cfg);
void ag_config_help(FILE *out);

/* The token for the GitHub API: --github-token/CIPULSE_GITHUB_TOKEN, else GITHUB_TOKEN. */
const char *ag_config_github_token(const struct ag_config *cfg);
/*
 * The spool directory: CIPULSE_SPOOL_DIR, else $XDG_CACHE_HOME/cipulse/spool, else
 * $HOME/.cache/cipulse/spool, else /tmp/cipulse-spool-<uid>. Writes into out.
 */
int ag_config_spool_dir(const struct ag_config *cfg, char *out, size_t size);

#endif
