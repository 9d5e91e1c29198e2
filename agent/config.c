#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_config.h"
#include "cm_err.h"

#define O(f) offsetof(struct ag_config, f)

const struct cm_opt ag_options[] = {
	{ "collector", "CIPULSE_COLLECTOR", CM_OPT_STRING, "", O(collector), 0, 0, NULL, 0,
	  "collector address host:port; grpcs://host:port for TLS" },
	{ "token", "CIPULSE_TOKEN", CM_OPT_STRING, "", O(token), 0, 0, NULL, CM_OPT_SECRET,
	  "ingest token (sent as authorization: Bearer)" },
	{ "tls", "CIPULSE_TLS", CM_OPT_BOOL, "0", O(tls), 0, 0, NULL, 0,
	  "use TLS to the collector" },
	{ "tls-ca", "CIPULSE_TLS_CA", CM_OPT_STRING, "", O(tls_ca), 0, 0, NULL, 0,
	  "PEM file of root certificates for the collector (default: the system's)" },
	{ "log-tail-lines", "CIPULSE_LOG_TAIL_LINES", CM_OPT_INT, "100", O(log_tail_lines), 0,
	  100000, NULL, 0, "lines of log kept per step" },
	{ "log-step-bytes", "CIPULSE_LOG_STEP_BYTES", CM_OPT_INT, "65536", O(log_step_bytes), 1024,
	  16777216, NULL, 0, "most bytes of log tail kept per step" },
	{ "log-report-bytes", "CIPULSE_LOG_REPORT_BYTES", CM_OPT_INT, "1048576",
	  O(log_report_bytes), 1024, 268435456, NULL, 0, "most bytes of log tails in one report" },
	{ "log-files", "CIPULSE_LOG_FILES", CM_OPT_STRING, "", O(log_files), 0, 0, NULL, 0,
	  "log files whose tails are reported with the job (separated by newlines or commas)" },
	{ "test-results", "CIPULSE_TEST_RESULTS", CM_OPT_STRING, "", O(test_results), 0, 0, NULL, 0,
	  "JUnit XML files of this job's tests: glob(3) patterns separated by newlines or commas, "
	  "relative to GITHUB_WORKSPACE (report and hook modes)" },
	{ "max-tests", "CIPULSE_MAX_TESTS", CM_OPT_INT, "50000", O(max_tests), 0, 10000000, NULL, 0,
	  "most test cases in one report; more are left out and the report says so" },
	{ "test-file-bytes", "CIPULSE_TEST_FILE_BYTES", CM_OPT_INT, "268435456", O(test_file_bytes),
	  1024, LONG_MAX, NULL, 0,
	  "most bytes read of one JUnit file (read in chunks: memory stays small)" },
	{ "test-report-bytes", "CIPULSE_TEST_REPORT_BYTES", CM_OPT_INT, "1073741824",
	  O(test_report_bytes), 1024, LONG_MAX, NULL, 0, "most bytes read of all JUnit files" },
	{ "spool-dir", "CIPULSE_SPOOL_DIR", CM_OPT_STRING, "", O(spool_dir), 0, 0, NULL, 0,
	  "where undelivered reports and exec tails are kept "
	  "(default $XDG_CACHE_HOME/cipulse/spool or ~/.cache/cipulse/spool)" },
	{ "spool-max-bytes", "CIPULSE_SPOOL_MAX_BYTES", CM_OPT_INT, "67108864", O(spool_max_bytes),
	  4096, LONG_MAX, NULL, 0,
	  "most bytes of spooled reports (of all repositories); the oldest are dropped" },
	{ "job-id", "CIPULSE_JOB_ID", CM_OPT_INT, "0", O(job_id), 0, LONG_MAX, NULL, 0,
	  "numeric id of this job (${{ job.check_run_id }}); 0: find the in-progress job of "
	  "RUNNER_NAME" },
	{ "job-status", "CIPULSE_JOB_STATUS", CM_OPT_STRING, "", O(job_status), 0, 0, NULL, 0,
	  "this job's result (${{ job.status }}): success, failure or cancelled" },
	{ "strict", "CIPULSE_STRICT", CM_OPT_BOOL, "0", O(strict), 0, 0, NULL, 0,
	  "exit non-zero when the report could not be delivered or the GitHub API failed" },
	{ "time-budget", "CIPULSE_TIME_BUDGET", CM_OPT_DURATION, "10s", O(time_budget_ms), 0,
	  600000, NULL, 0, "most time spent waiting for the GitHub API (retries, rate limits)" },
	{ "send-budget", "CIPULSE_SEND_BUDGET", CM_OPT_DURATION, "5s", O(send_budget_ms), 0, 600000,
	  NULL, 0, "most time spent retrying the collector before spooling" },
	{ "rpc-timeout", "CIPULSE_RPC_TIMEOUT", CM_OPT_DURATION, "10s", O(rpc_timeout_ms), 100,
	  600000, NULL, 0, "deadline of one report call to the collector" },
	{ "log-level", "CIPULSE_LOG_LEVEL", CM_OPT_ENUM, "info", O(log_level), 0, 0,
	  "debug|info|warn|error", 0, "agent's own log level (stderr)" },
	{ "github-token", "CIPULSE_GITHUB_TOKEN", CM_OPT_STRING, "", O(github_token_override), 0, 0,
	  NULL, CM_OPT_SECRET, "token for the GitHub API when GITHUB_TOKEN is not the one to use" },
	{ "summary", "CIPULSE_SUMMARY", CM_OPT_BOOL, "1", O(summary), 0, 0, NULL, 0,
	  "report mode: append this job's summary (steps against their usual duration, failed "
	  "tests, failure group, dashboard link) to GITHUB_STEP_SUMMARY" },
	{ "summary-timeout", "CIPULSE_SUMMARY_TIMEOUT", CM_OPT_DURATION, "3s",
	  O(summary_timeout_ms), 100, 60000, NULL, 0,
	  "deadline of the collector's answer for the job summary (then one line says so)" },

	{ NULL, "GITHUB_API_URL", CM_OPT_URL, "https://api.github.com", O(github_api_url), 0, 0,
	  "http|https", 0,
	  "GitHub REST API base URL (GitHub Enterprise Server: https://HOST/api/v3)" },
	{ NULL, "GITHUB_SERVER_URL", CM_OPT_STRING, "https://github.com", O(github_server_url), 0,
	  0, NULL, 0, "GitHub web URL" },
	{ NULL, "GITHUB_REPOSITORY", CM_OPT_STRING, "", O(github_repository), 0, 0, NULL, 0,
	  "owner/name of the repository" },
	{ NULL, "GITHUB_REPOSITORY_ID", CM_OPT_INT, "0", O(github_repository_id), 0, LONG_MAX, NULL,
	  0, "numeric repository id" },
	{ NULL, "GITHUB_WORKFLOW_REF", CM_OPT_STRING, "", O(github_workflow_ref), 0, 0, NULL, 0,
	  "owner/name/.github/workflows/file.yml@ref" },
	{ NULL, "GITHUB_RUN_ID", CM_OPT_INT, "0", O(github_run_id), 0, LONG_MAX, NULL, 0,
	  "workflow run id" },
	{ NULL, "GITHUB_RUN_ATTEMPT", CM_OPT_INT, "1", O(github_run_attempt), 1, INT_MAX, NULL, 0,
	  "run attempt (1 for the first)" },
	{ NULL, "GITHUB_RUN_NUMBER", CM_OPT_INT, "0", O(github_run_number), 0, LONG_MAX, NULL, 0,
	  "run number" },
	{ NULL, "GITHUB_WORKFLOW", CM_OPT_STRING, "", O(github_workflow), 0, 0, NULL, 0,
	  "workflow name" },
	{ NULL, "GITHUB_JOB", CM_OPT_STRING, "", O(github_job), 0, 0, NULL, 0,
	  "job key in the workflow file" },
	{ NULL, "GITHUB_SHA", CM_OPT_STRING, "", O(github_sha), 0, 0, NULL, 0, "commit sha" },
	{ NULL, "GITHUB_REF_NAME", CM_OPT_STRING, "", O(github_ref_name), 0, 0, NULL, 0,
	  "branch or tag" },
	{ NULL, "GITHUB_EVENT_NAME", CM_OPT_STRING, "", O(github_event_name), 0, 0, NULL, 0,
	  "event that triggered the run" },
	{ NULL, "GITHUB_ACTOR", CM_OPT_STRING, "", O(github_actor), 0, 0, NULL, 0,
	  "user who triggered the run" },
	{ NULL, "RUNNER_NAME", CM_OPT_STRING, "", O(runner_name), 0, 0, NULL, 0, "runner name" },
	{ NULL, "RUNNER_OS", CM_OPT_STRING, "", O(runner_os), 0, 0, NULL, 0, "runner OS" },
	{ NULL, "RUNNER_ARCH", CM_OPT_STRING, "", O(runner_arch), 0, 0, NULL, 0,
	  "runner architecture" },
	{ NULL, "GITHUB_TOKEN", CM_OPT_STRING, "", O(github_token), 0, 0, NULL, CM_OPT_SECRET,
	  "token for the GitHub API (the action passes github.token)" },
	{ NULL, "GITHUB_OUTPUT", CM_OPT_STRING, "", O(github_output), 0, 0, NULL, 0,
	  "file the step outputs report-id and delivery are written to" },
	{ NULL, "GITHUB_WORKSPACE", CM_OPT_STRING, "", O(github_workspace), 0, 0, NULL, 0,
	  "the job's working directory (relative test-results patterns start there)" },
	{ NULL, "GITHUB_EVENT_PATH", CM_OPT_STRING, "", O(github_event_path), 0, 0, NULL, 0,
	  "event payload file (the repository's default branch, the head commit's message)" },
	{ NULL, "GITHUB_STEP_SUMMARY", CM_OPT_STRING, "", O(github_step_summary), 0, 0, NULL, 0,
	  "file the job summary is appended to (Markdown; unset: no summary)" },
};

const size_t ag_noptions = sizeof(ag_options) / sizeof(ag_options[0]);

static const char *const modes[] = { "report", "run", "hook", "exec", "flush" };

static int is_mode(const char *s)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, modes[i]) == 0)
			return 1;
	}
	return 0;
}

int ag_config_load(struct ag_config *cfg, int argc, char **argv, const char **mode, int *rest,
		   int *help, struct cm_buf *err)
{
	char **merged = NULL;
	int argi, rc, n = 0;

	memset(cfg, 0, sizeof(*cfg));
	*mode = "report";
	rc = cm_config_load(ag_options, ag_noptions, cfg, argc, argv, &argi, help, err);
	if (rc || *help || argi >= argc || strcmp(argv[argi], "--") == 0) {
		*rest = argi;
		return rc;
	}
	if (!is_mode(argv[argi])) {
		rc = cm_buf_addf(err, "unknown mode \"%s\" (one of report, run, hook, exec, flush)",
				 argv[argi]);
		return rc ? rc : CM_EINVAL;
	}
	*mode = argv[argi];
	/*
	 * Options may also follow the mode ("report --job-id 5"): load once more from an argv
	 * without the mode word, so that both places count and later ones win.
	 */
	merged = calloc((size_t)argc, sizeof(*merged));
	if (!merged)
		return CM_ENOMEM;
	for (int i = 0; i < argc; i++) {
		if (i != argi)
			merged[n++] = argv[i];
	}
	cm_config_free(ag_options, ag_noptions, cfg);
	memset(cfg, 0, sizeof(*cfg));
	rc = cm_config_load(ag_options, ag_noptions, cfg, n, merged, &argi, help, err);
	free(merged);
	/* Indices at or past the removed mode word shift by one in the original argv. */
	*rest = argi + 1;
	return rc;
}

void ag_config_release(struct ag_config *cfg)
{
	cm_config_free(ag_options, ag_noptions, cfg);
}

void ag_config_help(FILE *out)
{
	fprintf(
	    out,
	    "usage: cipulse-agent [OPTIONS] [MODE] [OPTIONS] [-- COMMAND ARGS...]\n"
	    "\n"
	    "Reports GitHub Actions jobs to a cipulse collector over gRPC.\n"
	    "\n"
	    "modes:\n"
	    "  report   (default) last step of a job: report this job, its steps and log tails\n"
	    "  run      final job of a run (needs: the others, if: always()): report every\n"
	    "           other job of this run attempt with log tails from the GitHub API\n"
	    "  hook     self-hosted runner job-completed hook (ACTIONS_RUNNER_HOOK_JOB_COMPLETED)\n"
	    "  exec     exec -- COMMAND ARGS...: run a step's command, pass its output through,\n"
	    "           keep its last lines and exit code for the job's report; exits with the\n"
	    "           command's exit code\n"
	    "  flush    send this repository's reports spooled while the collector was\n"
	    "           unreachable (each repository's reports go only with its own token)\n"
	    "\n"
	    "Exit status: 0 when the report was sent or safely spooled (a ::warning:: line says\n"
	    "what was off); 2 for misuse; 1 with --strict when something failed.\n"
	    "\n"
	    "--help (also after a mode) prints this text, --version the version.\n"
	    "\n"
	    "options and environment variables (command line wins over environment):\n");
	cm_config_help(out, ag_options, ag_noptions);
}

const char *ag_config_github_token(const struct ag_config *cfg)
{
	if (cfg->github_token_override && *cfg->github_token_override)
		return cfg->github_token_override;
	return cfg->github_token ? cfg->github_token : "";
}

int ag_config_spool_dir(const struct ag_config *cfg, char *out, size_t size)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (cfg->spool_dir && *cfg->spool_dir)
		n = snprintf(out, size, "%s", cfg->spool_dir);
	else if (xdg && *xdg == '/')
		n = snprintf(out, size, "%s/cipulse/spool", xdg);
	else if (home && *home == '/')
		n = snprintf(out, size, "%s/.cache/cipulse/spool", home);
	else
		n = snprintf(out, size, "/tmp/cipulse-spool-%u", (unsigned)getuid());
	return n < 0 || (size_t)n >= size ? CM_ETOOBIG : CM_OK;
}
