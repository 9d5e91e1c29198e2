/*
 * The spool: atomic files, order, one directory per repository, size cap over all of them
 * dropping the oldest, locking, damaged files, the old layout, temporary files of dead writers,
 * a file-size limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
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

/* A real encoded report of repository repo_id with `pad` bytes of log. */
static void make_repo_frames(struct cm_buf *out, size_t pad, char id[64], long repo_id)
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
	cfg.github_repository_id = repo_id;
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

static void make_frames(struct cm_buf *out, size_t pad, char id[64])
{
	make_repo_frames(out, pad, id, 7);
}

static void repo_dir(long repo_id, char *out, size_t size)
{
	assert_int_equal(ag_spool_repo_dir(dir, repo_id, out, size), 0);
}

static size_t count_reports(const char *d)
{
	char **names;
	size_t n;

	assert_int_equal(ag_spool_list(d, &names, &n), 0);
	ag_spool_names_free(names, n);
	return n;
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void put_list_open_done(void **state)
{
	struct cm_buf frames = CM_BUF_INIT(1 << 24), back = CM_BUF_INIT(1 << 24);
	char id1[64], id2[64], name1[256], name2[256], rd[512];
	char **names;
	size_t n;
	int dropped, fd, fd2;
	int64_t repo_id = 0;

	make_frames(&frames, 100, id1);
	assert_int_equal(ag_spool_put(dir, 7, 1 << 20, id1, frames.data, frames.len, name1,
				      sizeof(name1), &dropped),
			 0);
	assert_int_equal(dropped, 0);
	assert_non_null(strstr(name1, id1));
	usleep(2000);
	make_frames(&frames, 100, id2);
	assert_int_equal(ag_spool_put(dir, 7, 1 << 20, id2, frames.data, frames.len, name2,
				      sizeof(name2), &dropped),
			 0);
	/* Kept in the repository's own directory, not in the spool's. */
	assert_int_equal(count_reports(dir), 0);
	repo_dir(7, rd, sizeof(rd));
	assert_non_null(strstr(rd, "/repo-7"));
	assert_int_equal(ag_spool_list(rd, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], name1);
	assert_string_equal(names[1], name2);
	/* What comes back is byte for byte what went in, with its repository. */
	assert_int_equal(ag_spool_open(rd, names[1], &back, &fd, &repo_id), 0);
	assert_int_equal(repo_id, 7);
	assert_int_equal(back.len, frames.len);
	assert_memory_equal(back.data, frames.data, frames.len);
	/* A second opener (another agent) is kept out while the first holds it. */
	assert_int_equal(ag_spool_open(rd, names[1], &back, &fd2, NULL), CM_ECONFLICT);
	ag_spool_done(rd, names[1], fd, 1);
	assert_int_equal(ag_spool_open(rd, names[1], &back, &fd2, NULL), CM_ENOTFOUND);
	ag_spool_names_free(names, n);
	assert_int_equal(ag_spool_list(rd, &names, &n), 0);
	assert_int_equal(n, 1);
	/* Kept when not delivered. */
	assert_int_equal(ag_spool_open(rd, names[0], &back, &fd, NULL), 0);
	ag_spool_done(rd, names[0], fd, 0);
	ag_spool_names_free(names, n);
	assert_int_equal(count_reports(rd), 1);
	cm_buf_release(&frames);
	cm_buf_release(&back);
}

static void cap_drops_oldest(void **state)
{
	struct cm_buf frames = CM_BUF_INIT(1 << 24);
	char id[64], name[256], first[256] = "", last[256] = "", rd1[512], rd2[512];
	char **names;
	size_t n;
	int dropped, total_dropped = 0;

	/*
	 * Each report is ~10 KiB; a 35 KiB cap holds three, whichever repositories they belong
	 * to: the cap is the spool's, reports alternate between repositories 1 and 2.
	 */
	for (int i = 0; i < 6; i++) {
		make_repo_frames(&frames, 10000, id, 1 + i % 2);
		assert_int_equal(ag_spool_put(dir, 1 + i % 2, 35000, id, frames.data, frames.len,
					      name, sizeof(name), &dropped),
				 0);
		total_dropped += dropped;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", name);
		snprintf(last, sizeof(last), "%s", name);
		usleep(2000);
	}
	assert_int_equal(total_dropped, 3);
	repo_dir(1, rd1, sizeof(rd1));
	repo_dir(2, rd2, sizeof(rd2));
	/* Kept: the 4th (repository 2), the 5th (1) and the 6th (2). */
	assert_int_equal(count_reports(rd1), 1);
	assert_int_equal(ag_spool_list(rd2, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[1], last);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(names[i], first);
	ag_spool_names_free(names, n);
	/* One report bigger than the cap is still kept (the others go). */
	make_frames(&frames, 50000, id);
	assert_int_equal(
	    ag_spool_put(dir, 7, 35000, id, frames.data, frames.len, name, sizeof(name), &dropped),
	    0);
	assert_int_equal(dropped, 3);
	assert_int_equal(count_reports(rd1) + count_reports(rd2), 0);
	repo_dir(7, rd1, sizeof(rd1));
	assert_int_equal(ag_spool_list(rd1, &names, &n), 0);
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
	assert_int_equal(ag_spool_open(dir, names[0], &back, &fd, NULL), CM_EPROTO);
	ag_spool_names_free(names, n);
	cm_buf_release(&back);
}

/* An older agent kept every report directly in the spool directory. */
static void old_layout_is_sorted_into_repositories(void **state)
{
	struct cm_buf frames = CM_BUF_INIT(1 << 24), file = CM_BUF_INIT(1 << 24);
	char id[64], path[1024], rd[512];
	int moved, dropped;

	assert_int_equal(ag_mkdirs(dir), 0);
	for (long repo = 11; repo <= 12; repo++) {
		make_repo_frames(&frames, 100, id, repo);
		cm_buf_reset(&file);
		assert_int_equal(cm_buf_add(&file, AG_SPOOL_MAGIC, 8), 0);
		assert_int_equal(cm_buf_add(&file, frames.data, frames.len), 0);
		snprintf(path, sizeof(path), "%s/000000000000%ld-%s.cpr", dir, repo - 10, id);
		write_file(path, file.data, file.len);
	}
	snprintf(path, sizeof(path), "%s/0000000000003-bad.cpr", dir);
	write_file(path, "CPSPOOL1\x00\x00\x00\x09xx", 14);
	assert_int_equal(ag_spool_migrate(dir, &moved, &dropped), 0);
	assert_int_equal(moved, 2);
	assert_int_equal(dropped, 1);
	assert_int_equal(count_reports(dir), 0);
	repo_dir(11, rd, sizeof(rd));
	assert_int_equal(count_reports(rd), 1);
	repo_dir(12, rd, sizeof(rd));
	assert_int_equal(count_reports(rd), 1);
	/* Nothing left to do the second time. */
	assert_int_equal(ag_spool_migrate(dir, &moved, &dropped), 0);
	assert_int_equal(moved + dropped, 0);
	cm_buf_release(&frames);
	cm_buf_release(&file);
}

static void clean_removes_temporaries_nobody_holds(void **state)
{
	char rd[512], exec_dir[512], dead[3][1024], live[1024];
	int fd;

	repo_dir(7, rd, sizeof(rd));
	snprintf(exec_dir, sizeof(exec_dir), "%s/exec", dir);
	assert_int_equal(ag_mkdirs(rd), 0);
	assert_int_equal(ag_mkdirs(exec_dir), 0);
	snprintf(dead[0], sizeof(dead[0]), "%s/.tmp-1-0000000000001-a.cpr", dir);
	snprintf(dead[1], sizeof(dead[1]), "%s/.tmp-2-0000000000002-b.cpr", rd);
	snprintf(dead[2], sizeof(dead[2]), "%s/.tmp-3-exec-1.json", exec_dir);
	for (int i = 0; i < 3; i++)
		write_file(dead[i], "CPSPOOL1", 8);
	/* A writer at work holds its temporary file locked. */
	snprintf(live, sizeof(live), "%s/.tmp-4-0000000000004-c.cpr", rd);
	fd = open(live, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(ag_spool_clean(dir), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(access(dead[i], F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	close(fd);
	/* Its writer died: now it goes too. */
	assert_int_equal(ag_spool_clean(dir), 1);
	assert_int_equal(access(live, F_OK), -1);
}

/* Under a file-size limit, a report that does not fit fails with EFBIG and leaves nothing. */
static void file_size_limit_fails_cleanly(void **state)
{
	struct cm_buf frames = CM_BUF_INIT(1 << 24);
	struct rlimit before, small;
	char id[64], name[256], rd[512], **names;
	void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
	size_t n;
	int dropped, rc, err;

	make_frames(&frames, 40000, id);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &before), 0);
	small = before;
	small.rlim_cur = 16384;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = ag_spool_put(dir, 7, 1 << 20, id, frames.data, frames.len, name, sizeof(name),
			  &dropped);
	err = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &before), 0);
	signal(SIGXFSZ, old);
	assert_int_equal(rc, CM_EIO);
	assert_int_equal(err, EFBIG);
	repo_dir(7, rd, sizeof(rd));
	/* No report and no temporary file. */
	assert_int_equal(ag_spool_list(rd, &names, &n), 0);
	assert_int_equal(n, 0);
	ag_spool_names_free(names, n);
	assert_int_equal(ag_spool_clean(dir), 0);
	cm_buf_release(&frames);
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
		cmocka_unit_test_setup_teardown(old_layout_is_sorted_into_repositories, setup,
						teardown),
		cmocka_unit_test_setup_teardown(clean_removes_temporaries_nobody_holds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(file_size_limit_fails_cleanly, setup, teardown),
		cmocka_unit_test(missing_dir_is_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
