/*
 * cipulse-agent: reports GitHub Actions jobs to a cipulse collector.
 *
 * The modes (report, run, hook, exec, flush) are described in --help and in DESIGN.md. Whatever
 * goes wrong on the way (GitHub API, collector), the agent exits 0 once the report is sent or
 * safely spooled, printing a ::warning:: line for the job log; it fails the job only for misuse
 * (exit 2) or, with --strict, when something did not work (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deliver.h"
#include "exec.h"
#include "gather.h"
#include "github.h"
#include "logtail.h"
#include "proc.h"
#include "report.h"
#include "send.h"
#include "summary.h"
#include "warn.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"

#define EXIT_MISUSE 2

/*
 * At debug level, one line per phase of a report with the process's CPU time and peak RSS so
 * far: where an agent's footprint goes (docs/agent-footprint.md). Nothing at other levels.
 */
static void phase(const char *name)
{
	struct timespec cpu;

	if (!cm_log_enabled(CM_LOG_DEBUG))
		return;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	cm_log_debug("main", "phase=%s cpu_ms=%.1f peak_rss_kb=%ld rss_kb=%ld", name,
		     (double)cpu.tv_sec * 1000.0 + (double)cpu.tv_nsec / 1e6,
		     ag_proc_status("VmHWM"), ag_proc_status("VmRSS"));
}

static void write_outputs(const struct ag_config *cfg, const char *report_id, const char *delivery)
{
	FILE *f;

	if (!cfg->github_output || !*cfg->github_output)
		return;
	f = fopen(cfg->github_output, "a");
	if (!f) {
		cm_log_warn("main", "could not open GITHUB_OUTPUT");
		return;
	}
	fprintf(f, "report-id=%s\ndelivery=%s\n", report_id, delivery);
	if (fclose(f))
		cm_log_warn("main", "could not write GITHUB_OUTPUT");
}

static void collect_secrets(const struct ag_config *cfg, struct ag_secrets *s)
{
	const char *env[] = { "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN" };
	const char *own[] = { cfg->token, cfg->github_token, cfg->github_token_override };

	/* A failed allocation here only means less masking of values that are rarely printed. */
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (own[i] && ag_secrets_add(s, own[i], strlen(own[i])))
			cm_log_warn("main", "out of memory while collecting secrets");
	}
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		const char *v = getenv(env[i]);

		if (v && ag_secrets_add(s, v, strlen(v)))
			cm_log_warn("main", "out of memory while collecting secrets");
	}
}

static int mode_exec(const struct ag_config *cfg, const char *spool_dir, int argc, char **argv,
		     int rest, const struct ag_secrets *secrets)
{
	if (rest < argc && strcmp(argv[rest], "--") == 0)
		rest++;
	if (rest >= argc) {
		fprintf(stderr,
			"cipulse-agent: exec needs a command: cipulse-agent exec -- CMD ARGS...\n");
		return EXIT_MISUSE;
	}
	return ag_exec_run(cfg, spool_dir, argv + rest, secrets);
}

static int mode_flush(const struct ag_config *cfg, const char *spool_dir)
{
	int sent, left, dropped, rc;
	char msg[4400];

	if (cfg->github_repository_id <= 0)
		ag_warn("flush sends the spooled reports of the job's own repository, and "
			"GITHUB_REPOSITORY_ID is not set");
	ag_send_global_init();
	rc = ag_flush(cfg, spool_dir, cfg->send_budget_ms, &sent, &left, &dropped);
	ag_send_global_shutdown();
	if (rc) {
		snprintf(msg, sizeof(msg), "could not read the spool %s: %s", spool_dir,
			 cm_strerror(rc));
		ag_warn(msg);
		return cfg->strict ? 1 : 0;
	}
	cm_log_info("main", "flush done sent=%d left=%d dropped=%d", sent, left, dropped);
	if (left || dropped) {
		snprintf(msg, sizeof(msg), "%d spooled report(s) not delivered yet, %d dropped",
			 left, dropped);
		ag_warn(msg);
	}
	return cfg->strict && (left || dropped) ? 1 : 0;
}

/* report, hook and run modes: gather, encode, deliver (or spool), then send older spool. */
static int mode_report(const struct ag_config *cfg, const char *mode, const char *spool_dir,
		       const struct ag_secrets *secrets)
{
	int pmode = strcmp(mode, "run") == 0	? CIPULSE__V1__AGENT_MODE__AGENT_MODE_RUN
		    : strcmp(mode, "hook") == 0 ? CIPULSE__V1__AGENT_MODE__AGENT_MODE_HOOK
						: CIPULSE__V1__AGENT_MODE__AGENT_MODE_REPORT;
	int64_t t0 = cm_time_mono_ms();
	struct ag_exec_records recs;
	struct ag_gather g;
	struct ag_report r;
	struct cm_buf frames = CM_BUF_INIT(AG_FRAME_MAX * 64L);
	enum ag_delivery d = AG_LOST;
	char why[1024], report_id[64];
	int rc, failed = 0;

	memset(&g, 0, sizeof(g));
	memset(&recs, 0, sizeof(recs));
	/* The collector refuses other names; say so here, where the job log shows it. */
	if (!cm_repo_name_valid(cfg->github_repository)) {
		snprintf(why, sizeof(why),
			 "no report: GITHUB_REPOSITORY \"%.200s\" is not owner/name",
			 cfg->github_repository ? cfg->github_repository : "");
		ag_warn(why);
		return cfg->strict ? 1 : 0;
	}
	rc = ag_report_init(&r, cfg, pmode);
	if (rc == CM_OK)
		rc = ag_report_add_event(&r, cfg, secrets);
	if (rc)
		goto out;
	snprintf(report_id, sizeof(report_id), "%s", r.header->report_id);
	phase("start");
	if (pmode == CIPULSE__V1__AGENT_MODE__AGENT_MODE_RUN) {
		rc = ag_gather_run(cfg, secrets, &r, &g);
	} else {
		rc = ag_exec_load(cfg, spool_dir, &recs);
		if (rc) {
			cm_log_warn("main", "could not read exec records: %s", cm_strerror(rc));
			ag_exec_release(&recs);
			memset(&recs, 0, sizeof(recs));
			recs.list = json_array();
		}
		phase("exec_records");
		rc = ag_gather_job(cfg, secrets, &recs, &r, &g);
	}
	/* Done with the API: libcurl's pages go before gRPC's come (github.c). */
	ag_gh_global_cleanup();
	if (rc)
		goto out;
	phase("gather");
	if (g.api_failed) {
		snprintf(why, sizeof(why), "report degraded, GitHub API failed (%s)", g.why);
		ag_warn(why);
		failed = 1;
	}
	rc = ag_report_encode(&r, &frames);
	if (rc)
		goto out;
	phase("encode");
	ag_send_global_init();
	phase("grpc_init");
	d = ag_deliver(cfg, spool_dir, report_id, frames.data, frames.len, why, sizeof(why));
	phase("deliver");
	if (d != AG_SENT) {
		ag_warn(why);
		failed = 1;
	}
	/* Its tails are in the report now, delivered or spooled: do not send them twice. */
	if (d == AG_SENT || d == AG_SPOOLED)
		ag_exec_remove(&recs);
	/*
	 * The job summary, report mode only: the job this agent runs in, right after its report
	 * (run mode reports other jobs, hook mode runs outside the job's steps).
	 */
	if (pmode == CIPULSE__V1__AGENT_MODE__AGENT_MODE_REPORT && r.njobs == 1)
		ag_summary_write(cfg, &r, r.jobs[0]->id, d);
	/* The collector is back: send what earlier runs spooled, with what is left of the budget.
	 */
	if (d == AG_SENT) {
		long left = cfg->send_budget_ms - (long)(cm_time_mono_ms() - t0);
		int sent, rest, dropped;

		if (left > 0 && ag_flush(cfg, spool_dir, left, &sent, &rest, &dropped) == CM_OK &&
		    (sent || rest))
			cm_log_info("main", "spool flushed sent=%d left=%d", sent, rest);
	}
	ag_send_global_shutdown();
	phase("grpc_shutdown");
	write_outputs(cfg, report_id, ag_delivery_name(d));
out:
	if (rc) {
		snprintf(why, sizeof(why), "no report: %s", cm_strerror(rc));
		ag_warn(why);
		failed = 1;
	}
	cm_buf_release(&frames);
	ag_report_release(&r);
	ag_exec_release(&recs);
	return cfg->strict && failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct cm_buf err = CM_BUF_INIT(4096);
	struct ag_secrets secrets = { NULL, 0 };
	struct ag_config cfg;
	enum cm_log_level level = CM_LOG_INFO;
	const char *mode;
	char spool_dir[4096];
	int rest, help, rc, code;

	/* Under `ulimit -f`, spooling must fail with EFBIG (handled), not kill the agent. */
	ag_exec_ignore_sigxfsz();
	srand((unsigned)(time(NULL) ^ getpid()));
	rc = ag_config_load(&cfg, argc, argv, &mode, &rest, &help, &err);
	if (rc) {
		fprintf(stderr, "cipulse-agent: %s\n", cm_buf_str(&err));
		code = EXIT_MISUSE;
		goto out;
	}
	if (help == CM_CONFIG_VERSION) {
		printf("cipulse-agent %s\n", AG_VERSION);
		code = 0;
		goto out;
	}
	if (help) {
		ag_config_help(stdout);
		code = 0;
		goto out;
	}
	if (cm_log_parse_level(cfg.log_level, &level) == CM_OK)
		cm_log_setup(level, CM_LOG_TEXT);
	phase("main");
	if (ag_config_spool_dir(&cfg, spool_dir, sizeof(spool_dir))) {
		fprintf(stderr, "cipulse-agent: spool directory path too long\n");
		code = EXIT_MISUSE;
		goto out;
	}
	collect_secrets(&cfg, &secrets);
	if (strcmp(mode, "exec") == 0) {
		code = mode_exec(&cfg, spool_dir, argc, argv, rest, &secrets);
		goto out;
	}
	if (rest < argc) {
		fprintf(stderr, "cipulse-agent: unexpected argument \"%s\" (see --help)\n",
			argv[rest]);
		code = EXIT_MISUSE;
		goto out;
	}
	if (!cfg.collector || !*cfg.collector) {
		fprintf(stderr,
			"cipulse-agent: no collector set (CIPULSE_COLLECTOR or --collector)\n");
		code = EXIT_MISUSE;
		goto out;
	}
	/* libcurl (and the OpenSSL it initialises) only once the GitHub API is called: ag_gh_init.
	 */
	if (strcmp(mode, "flush") == 0)
		code = mode_flush(&cfg, spool_dir);
	else
		code = mode_report(&cfg, mode, spool_dir, &secrets);
	ag_gh_global_cleanup();
out:
	ag_secrets_release(&secrets);
	ag_config_release(&cfg);
	cm_buf_release(&err);
	return code;
}
