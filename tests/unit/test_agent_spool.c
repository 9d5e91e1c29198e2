/* The spool: atomic files, order, size cap dropping the oldest, locking, damaged files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "report.h"
#include "spool.h"
#include "cm_buf.h"
#include "cm_err.h"

static char dir[256];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cipulse-spool-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	/* A subdirectory that does not exist yet: the spool creates it. */
	strcat(dir, "/a/b");
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 4), dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A real encoded report with `pad` bytes of log. */
static void make_frames(struct cm_buf *out, size_t pad, char id[64])
{
	struct ag_config cfg;
	struct ag_report r;
	Cipulse__V1__Job *job;
	char *text = malloc(pad + 1);

	memset(&cfg, 0, sizeof(cfg));
	cfg.log_report_bytes = 1 << 24;
	cfg.github_server_url = cfg.github_repository = cfg.github_workflow_ref = "";
	cfg.github_workflow = cfg.github_event_name = cfg.github_ref_name = "";
	cfg.github_sha = cfg.github_actor = "";
	cfg.github_job = cfg.runner_name = cfg.runner_os = cfg.runner_arch = "";
	cfg.github_run_id = 1;
	cfg.github_run_attempt = 1;
	assert_int_equal(ag_report_init(&r, &cfg, 1), 0);
	assert_int_equal(ag_job_from_env(&cfg, 9, "success", &job), 0);
	assert_int_equal(ag_report_add_job(&r, job), 0);
	memset(text, 'x', pad);
	text[pad] = '\0';
	assert_int_equal(ag_report_add_tail(&r, 9, 1, text, pad, (int64_t)pad, 0, 0, 0), 0);
	cm_buf_reset(out);
	assert_int_equal(ag_report_encode(&r, out), 0);
	snprintf(id, 64, "%s", r.header->report_id);
	ag_report_release(&r);
	free(text);
}

static void put_list_open_done(void **state)
{
	struct cm_buf frames = CM_BUF_INIT(1 << 24), back = CM_BUF_INIT(1 << 24);
	char id1[64], id2[64], name1[256], name2[256];
	char **names;
	size_t n;
	int dropped, fd, fd2;

	make_frames(&frames, 100, id1);
	assert_int_equal(ag_spool_put(dir, 1 << 20, id1, frames.data, frames.len, name1,
				      sizeof(name1), &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_non_null(strstr(name1, id1));
	usleep(2000);
	make_frames(&frames, 100, id2);
	assert_int_equal(ag_spool_put(dir, 1 << 20, id2, frames.data, frames.len, name2,
				      sizeof(name2), &dropped), 0);
	assert_int_equal(ag_spool_list(dir, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], name1);
	assert_string_equal(names[1], name2);
	/* What comes back is byte for byte what went in. */
	assert_int_equal(ag_spool_open(dir, names[1], &back, &fd), 0);
	assert_int_equal(back.len, frames.len);
	assert_memory_equal(back.data, frames.data, frames.len);
	/* A second opener (another agent) is kept out while the first holds it. */
	assert_int_equal(ag_spool_open(dir, names[1], &back, &fd2), CM_ECONFLICT);
	ag_spool_done(dir, names[1], fd, 1);
	assert_int_equal(ag_spool_open(dir, names[1], &back, &fd2), CM_ENOTFOUND);
	ag_spool_names_free(names, n);
	assert_int_equal(ag_spool_list(dir, &names, &n), 0);
	assert_int_equal(n, 1);
	/* Kept when not delivered. */
	assert_int_equal(ag_spool_open(dir, names[0], &back, &fd), 0);
	ag_spool_done(dir, names[0], fd, 0);
	ag_spool_names_free(names, n);
	assert_int_equal(ag_spool_list(dir, &names, &n), 0);
	assert_int_equal(n, 1);
	ag_spool_names_free(names, n);
	cm_buf_release(&frames);
	cm_buf_release(&back);
}

static void cap_drops_oldest(void **state)
{
	struct cm_buf frames = CM_BUF_INIT(1 << 24);
	char id[64], name[256], first[256] = "", last[256] = "";
	char **names;
	size_t n;
	int dropped, total_dropped = 0;

	/* Each report is ~10 KiB; a 35 KiB cap holds three. */
	for (int i = 0; i < 6; i++) {
		make_frames(&frames, 10000, id);
		assert_int_equal(ag_spool_put(dir, 35000, id, frames.data, frames.len, name,
					      sizeof(name), &dropped), 0);
		total_dropped += dropped;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", name);
		snprintf(last, sizeof(last), "%s", name);
		usleep(2000);
	}
	assert_int_equal(total_dropped, 3);
	assert_int_equal(ag_spool_list(dir, &names, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[2], last);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(names[i], first);
	ag_spool_names_free(names, n);
	/* One report bigger than the cap is still kept (the others go). */
	make_frames(&frames, 50000, id);
	assert_int_equal(ag_spool_put(dir, 35000, id, frames.data, frames.len, name, sizeof(name),
				      &dropped), 0);
	assert_int_equal(dropped, 3);
	assert_int_equal(ag_spool_list(dir, &names, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], name);
	ag_spool_names_free(names, n);
	cm_buf_release(&frames);
}

static void damaged_and_foreign_files(void **state)
{
	struct cm_buf back = CM_BUF_INIT(1 << 24);
	char path[512], **names;
	size_t n;
	int fd;
	FILE *f;

	assert_int_equal(ag_mkdirs(dir), 0);
	snprintf(path, sizeof(path), "%s/0000000000001-bad.cpr", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("CPSPOOL1\x00\x00\x00\x09xx", f);
	fclose(f);
	/* Temporary files of a writer that died, and other files, are not reports. */
	snprintf(path, sizeof(path), "%s/.tmp-1-x.cpr", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(ag_spool_list(dir, &names, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ag_spool_open(dir, names[0], &back, &fd), CM_EPROTO);
	ag_spool_names_free(names, n);
	cm_buf_release(&back);
}

static void missing_dir_is_empty(void **state)
{
	char **names;
	size_t n;

	assert_int_equal(ag_spool_list("/nonexistent/cipulse/spool", &names, &n), 0);
	assert_int_equal(n, 0);
	ag_spool_names_free(names, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(put_list_open_done, setup, teardown),
		cmocka_unit_test_setup_teardown(cap_drops_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_and_foreign_files, setup, teardown),
		cmocka_unit_test(missing_dir_is_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
