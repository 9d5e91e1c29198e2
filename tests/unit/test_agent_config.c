/* Agent settings: modes, options before and after the mode, exec's command, bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "cm_buf.h"
#include "cm_err.h"

static int load(int argc, char **argv, struct ag_config *cfg, const char **mode, int *rest,
		struct cm_buf *err)
{
	int help;

	cm_buf_reset(err);
	return ag_config_load(cfg, argc, argv, mode, rest, &help, err);
}

static void modes_and_options(void **state)
{
	struct ag_config cfg;
	struct cm_buf err = CM_BUF_INIT(1024);
	const char *mode;
	int rest;
	char *a1[] = { "agent", "--collector", "c:1", "report", "--job-id", "77", "--strict" };
	char *a2[] = { "agent" };
	char *a3[] = { "agent", "--log-tail-lines=5", "exec", "--", "make", "--job-id", "1" };
	char *a4[] = { "agent", "exec", "ls", "-l" };
	char *a5[] = { "agent", "bogus" };
	char *a6[] = { "agent", "--log-tail-lines", "-3" };
	char *a7[] = { "agent", "report", "--nope" };

	unsetenv("CIPULSE_COLLECTOR");
	setenv("GITHUB_RUN_ID", "99", 1);
	assert_int_equal(load(7, a1, &cfg, &mode, &rest, &err), 0);
	assert_string_equal(mode, "report");
	assert_string_equal(cfg.collector, "c:1");
	assert_int_equal(cfg.job_id, 77);
	assert_int_equal(cfg.strict, 1);
	assert_int_equal(cfg.github_run_id, 99);
	assert_int_equal(cfg.log_tail_lines, 100);
	assert_int_equal(rest, 7);
	ag_config_release(&cfg);

	assert_int_equal(load(1, a2, &cfg, &mode, &rest, &err), 0);
	assert_string_equal(mode, "report");
	assert_int_equal(rest, 1);
	ag_config_release(&cfg);

	/* exec: options up to "--" are ours; everything after is the command's. */
	assert_int_equal(load(7, a3, &cfg, &mode, &rest, &err), 0);
	assert_string_equal(mode, "exec");
	assert_int_equal(cfg.log_tail_lines, 5);
	assert_int_equal(cfg.job_id, 0);
	assert_string_equal(a3[rest], "--");
	ag_config_release(&cfg);

	assert_int_equal(load(4, a4, &cfg, &mode, &rest, &err), 0);
	assert_string_equal(mode, "exec");
	assert_string_equal(a4[rest], "ls");
	ag_config_release(&cfg);

	assert_int_equal(load(2, a5, &cfg, &mode, &rest, &err), CM_EINVAL);
	assert_non_null(strstr(err.data, "unknown mode"));
	ag_config_release(&cfg);
	assert_int_equal(load(3, a6, &cfg, &mode, &rest, &err), CM_EINVAL);
	assert_non_null(strstr(err.data, "log-tail-lines"));
	ag_config_release(&cfg);
	assert_int_equal(load(3, a7, &cfg, &mode, &rest, &err), CM_EINVAL);
	assert_non_null(strstr(err.data, "--nope"));
	ag_config_release(&cfg);
	unsetenv("GITHUB_RUN_ID");
	cm_buf_release(&err);
}

static void spool_dir_defaults(void **state)
{
	struct ag_config cfg;
	char out[256];

	memset(&cfg, 0, sizeof(cfg));
	setenv("HOME", "/home/runner", 1);
	unsetenv("XDG_CACHE_HOME");
	assert_int_equal(ag_config_spool_dir(&cfg, out, sizeof(out)), 0);
	assert_string_equal(out, "/home/runner/.cache/cipulse/spool");
	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	assert_int_equal(ag_config_spool_dir(&cfg, out, sizeof(out)), 0);
	assert_string_equal(out, "/x/cache/cipulse/spool");
	cfg.spool_dir = "/var/spool/cipulse";
	assert_int_equal(ag_config_spool_dir(&cfg, out, sizeof(out)), 0);
	assert_string_equal(out, "/var/spool/cipulse");
	assert_int_equal(ag_config_spool_dir(&cfg, out, 5), CM_ETOOBIG);
}

static void github_token_choice(void **state)
{
	struct ag_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.github_token = "ghs_a";
	cfg.github_token_override = "";
	assert_string_equal(ag_config_github_token(&cfg), "ghs_a");
	cfg.github_token_override = "ghp_b";
	assert_string_equal(ag_config_github_token(&cfg), "ghp_b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(modes_and_options),
		cmocka_unit_test(spool_dir_defaults),
		cmocka_unit_test(github_token_choice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
