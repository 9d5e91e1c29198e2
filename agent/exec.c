#include "exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"

#define RECORD_MAX (32 * 1024 * 1024)
/* A record file: the text JSON-escaped (at worst 6 bytes a byte) and a few fields. */
#define RECORD_FILE_MAX	 (6L * RECORD_MAX + 65536)
#define RECORD_MAX_AGE_S (7 * 24 * 3600)
/* After the command exits, how long to keep reading output held open by its children. */
#define DRAIN_MS 300

static volatile sig_atomic_t child_pid;
static struct sigaction sigxfsz_before;
static int sigxfsz_ignored;

void ag_exec_ignore_sigxfsz(void)
{
	struct sigaction ign;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGXFSZ, &ign, &sigxfsz_before) == 0)
		sigxfsz_ignored = 1;
}

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* Copies s into out with everything but [A-Za-z0-9_.] replaced by '_' (a file name part). */
static void name_part(const char *s, char *out, size_t size)
{
	size_t i = 0;

	for (; s && *s && i + 1 < size; s++) {
		char c = *s;

		out[i++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9') || c == '_' || c == '.'
			       ? c
			       : '_';
	}
	out[i] = '\0';
}

int ag_exec_prefix(const struct ag_config *cfg, char *out, size_t size)
{
	char job[128], runner[128];
	int n;

	name_part(cfg->github_job, job, sizeof(job));
	name_part(cfg->runner_name, runner, sizeof(runner));
	n = snprintf(out, size, "exec-%ld-%ld-%s-%s-", cfg->github_run_id, cfg->github_run_attempt,
		     job, runner);
	return n < 0 || (size_t)n >= size ? CM_ETOOBIG : CM_OK;
}

static void write_through(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		/* Our own output is gone (closed pipe): keep running the command regardless. */
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static int save_record(const struct ag_config *cfg, const char *spool_dir, const char *cmd,
		       int64_t started, int64_t completed, int status, struct ag_tail *tail,
		       const struct ag_secrets *secrets)
{
	struct cm_buf text = CM_BUF_INIT(RECORD_MAX);
	char prefix[512], name[640], dir[4096];
	struct cm_buf file = CM_BUF_INIT(RECORD_FILE_MAX);
	json_t *rec = NULL;
	char *dump = NULL;
	const char *base = strrchr(cmd, '/');
	int truncated = 0, rc;

	rc = ag_tail_finish(tail, secrets, &text, &truncated);
	if (rc == CM_OK)
		rc = ag_exec_prefix(cfg, prefix, sizeof(prefix));
	if (rc)
		goto out;
	/*
	 * Version 2: the record as one line of JSON, then the tail's bytes as they are
	 * ("text_bytes" of them). Version 1 held the tail as a JSON string, and the report's
	 * JSON lexer, which reads a byte at a time, spent a fifth of its user time unescaping
	 * it (docs/agent-footprint.md). ag_exec_load reads both.
	 */
	rec = json_pack(
	    "{s:i, s:I, s:I, s:s, s:s, s:I, s:s, s:I, s:I, s:i, s:I, s:b, s:I}", "v", 2, "run_id",
	    (json_int_t)cfg->github_run_id, "run_attempt", (json_int_t)cfg->github_run_attempt,
	    "job", cfg->github_job, "runner", cfg->runner_name, "job_id", (json_int_t)cfg->job_id,
	    "command", base ? base + 1 : cmd, "started_at", (json_int_t)started, "completed_at",
	    (json_int_t)completed, "exit_code", status, "original_size", (json_int_t)tail->total,
	    "truncated", truncated, "text_bytes", (json_int_t)text.len);
	dump = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (!dump || cm_buf_adds(&file, dump) || cm_buf_addc(&file, '\n') ||
	    cm_buf_add(&file, text.data ? text.data : "", text.len)) {
		rc = CM_ENOMEM;
		goto out;
	}
	snprintf(name, sizeof(name), "%s%013lld-%d.json", prefix, (long long)started,
		 (int)getpid());
	snprintf(dir, sizeof(dir), "%s/exec", spool_dir);
	rc = ag_spool_write_atomic(dir, name, file.data, file.len);
out:
	cm_buf_release(&file);
	free(dump);
	json_decref(rec);
	cm_buf_release(&text);
	return rc;
}

int ag_exec_run(const struct ag_config *cfg, const char *spool_dir, char **argv,
		const struct ag_secrets *secrets)
{
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, status = 0, code, rc;
	struct sigaction sa, old[4];
	const int sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct ag_secrets masks = { NULL, 0 };
	struct ag_tail tail;
	int64_t started, completed, exited_at = 0;
	int open_fds = 2, exited = 0;
	pid_t pid;

	ag_tail_init(&tail, (size_t)cfg->log_tail_lines, (size_t)cfg->log_step_bytes, &masks);
	if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
		fprintf(stderr, "cipulse-agent: could not create pipes: %s\n", strerror(errno));
		code = 127;
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	started = cm_time_now_ms();
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cipulse-agent: could not start \"%s\": %s\n", argv[0],
			strerror(errno));
		code = 127;
		goto restore;
	}
	if (pid == 0) {
		for (int i = 0; i < 4; i++)
			sigaction(sigs[i], &old[i], NULL);
		/* An ignored signal stays ignored across exec: the command gets what we had. */
		if (sigxfsz_ignored)
			sigaction(SIGXFSZ, &sigxfsz_before, NULL);
		if (dup2(out_pipe[1], STDOUT_FILENO) < 0 || dup2(err_pipe[1], STDERR_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "cipulse-agent: could not run \"%s\": %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	/* stdout and stderr stay separate for the user; the tail interleaves them as they come. */
	while (open_fds > 0) {
		struct pollfd p[2] = { { out_pipe[0], POLLIN, 0 }, { err_pipe[0], POLLIN, 0 } };
		const int to[2] = { STDOUT_FILENO, STDERR_FILENO };
		int n = poll(p, 2, exited ? 50 : 200);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; n > 0 && i < 2; i++) {
			char buf[65536];
			ssize_t r;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(p[i].fd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(p[i].fd);
				if (i == 0)
					out_pipe[0] = -1;
				else
					err_pipe[0] = -1;
				open_fds--;
				continue;
			}
			write_through(to[i], buf, (size_t)r);
			if (ag_tail_feed(&tail, buf, (size_t)r))
				cm_log_warn("exec", "could not keep the output tail");
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			exited_at = cm_time_mono_ms();
		}
		/* A daemon started by the command may hold the pipes open for ever. */
		if (exited && cm_time_mono_ms() - exited_at > DRAIN_MS)
			break;
	}
	if (!exited) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	child_pid = 0;
	completed = cm_time_now_ms();
	code = WIFEXITED(status)     ? WEXITSTATUS(status)
	       : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
				     : 1;
	rc = save_record(cfg, spool_dir, argv[0], started, completed, code, &tail, secrets);
	if (rc)
		printf(
		    "::warning::cipulse: could not keep the output of \"%s\" for the report (%s)\n",
		    argv[0], cm_strerror(rc));
restore:
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
out:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	ag_tail_release(&tail);
	ag_secrets_release(&masks);
	fflush(stdout);
	return code;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * One record file: version 2 (a JSON line, then "text_bytes" bytes of tail, which become the
 * record's "text") or version 1 (one JSON object, the tail in "text"). NULL when damaged.
 */
static json_t *parse_record(const char *data, size_t n, json_error_t *jerr)
{
	const char *nl = memchr(data, '\n', n);
	size_t head = nl ? (size_t)(nl - data) : n;
	json_t *rec = json_loadb(data, head, 0, jerr), *text;
	json_int_t v = json_integer_value(json_object_get(rec, "v"));
	json_int_t len = json_integer_value(json_object_get(rec, "text_bytes"));

	if (!json_is_object(rec))
		goto bad;
	if (v == 1 && !nl)
		return rec;
	if (v != 2 || !nl || len < 0 || (size_t)len != n - head - 1)
		goto bad;
	/* The tail was valid UTF-8 when written (ag_tail_finish); json_stringn checks it again. */
	text = json_stringn(nl + 1, (size_t)len);
	if (!text || json_object_set_new(rec, "text", text))
		goto bad;
	json_object_del(rec, "text_bytes");
	return rec;
bad:
	json_decref(rec);
	return NULL;
}

int ag_exec_load(const struct ag_config *cfg, const char *spool_dir, struct ag_exec_records *r)
{
	char dir[4096], prefix[512], path[8192];
	struct cm_buf text = CM_BUF_INIT(RECORD_FILE_MAX);
	size_t plen;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int rc = CM_OK;

	memset(r, 0, sizeof(*r));
	r->list = json_array();
	if (!r->list)
		return CM_ENOMEM;
	rc = ag_exec_prefix(cfg, prefix, sizeof(prefix));
	if (rc)
		return rc;
	plen = strlen(prefix);
	snprintf(dir, sizeof(dir), "%s/exec", spool_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? CM_OK : CM_EIO;
	while ((e = readdir(d))) {
		struct stat st;
		char **nv;

		if (e->d_name[0] == '.' || strncmp(e->d_name, "exec-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strncmp(e->d_name, prefix, plen) != 0) {
			/* Tails of jobs that never reported: do not keep them for ever. */
			if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > RECORD_MAX_AGE_S)
				unlink(path);
			continue;
		}
		nv = realloc(names, (n + 1) * sizeof(*nv));
		if (!nv) {
			rc = CM_ENOMEM;
			break;
		}
		names = nv;
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			rc = CM_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	r->paths = calloc(n ? n : 1, sizeof(*r->paths));
	if (!r->paths)
		rc = CM_ENOMEM;
	for (size_t i = 0; rc == CM_OK && i < n; i++) {
		json_error_t jerr;
		json_t *rec = NULL;

		/*
		 * Read whole, then parse: json_load_file reads a character at a time, which was a
		 * tenth of the agent's CPU time for a job of 30 exec steps.
		 */
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		cm_buf_reset(&text);
		if (cm_buf_read_file(&text, path) == CM_OK)
			rec = parse_record(cm_buf_str(&text), text.len, &jerr);
		if (!json_is_object(rec)) {
			cm_log_warn("exec", "ignoring a damaged exec record file=%s", names[i]);
			json_decref(rec);
			continue;
		}
		if (json_array_append_new(r->list, rec)) {
			rc = CM_ENOMEM;
			break;
		}
		r->paths[r->n] = strdup(path);
		if (!r->paths[r->n]) {
			rc = CM_ENOMEM;
			break;
		}
		r->n++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	cm_buf_release(&text);
	return rc;
}

void ag_exec_remove(struct ag_exec_records *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (unlink(r->paths[i]) && errno != ENOENT)
			cm_log_warn("exec", "could not delete an exec record: %s", strerror(errno));
	}
}

void ag_exec_release(struct ag_exec_records *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->paths[i]);
	free(r->paths);
	json_decref(r->list);
	memset(r, 0, sizeof(*r));
}
