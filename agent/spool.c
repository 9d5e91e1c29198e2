#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"

#define SPOOL_FILE_MAX (256L * 1024 * 1024)

int ag_mkdirs(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return CM_EINVAL;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return CM_EIO;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return CM_EIO;
	return CM_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return CM_EIO;
		}
		p += w;
		n -= (size_t)w;
	}
	return CM_OK;
}

/*
 * Creates the temporary file and locks it. A cleaner may delete the file between our open and
 * our lock (it was not locked yet): then the name no longer leads to what we hold, so make it
 * again.
 */
static int open_locked(const char *tmp)
{
	for (int tries = 0; tries < 5; tries++) {
		struct stat held, named;
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &held) == 0 && stat(tmp, &named) == 0 &&
		    held.st_ino == named.st_ino && held.st_dev == named.st_dev)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

int ag_spool_write_atomic(const char *dir, const char *name, const void *data, size_t n)
{
	char tmp[4096], final[4096];
	int fd, rc, dfd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%s", dir, (int)getpid(), name) >=
		(int)sizeof(tmp) ||
	    snprintf(final, sizeof(final), "%s/%s", dir, name) >= (int)sizeof(final))
		return CM_ETOOBIG;
	rc = ag_mkdirs(dir);
	if (rc)
		return rc;
	fd = open_locked(tmp);
	if (fd < 0)
		return CM_EIO;
	/* The lock is held until the file has its final name, so no cleaner takes it for stale. */
	rc = write_all(fd, data, n);
	if (rc == CM_OK && fsync(fd))
		rc = CM_EIO;
	if (rc == CM_OK && rename(tmp, final))
		rc = CM_EIO;
	saved = errno;
	if (rc)
		unlink(tmp);
	/* fsync has reported any write error; closing also drops the lock. */
	close(fd);
	errno = saved;
	if (rc)
		return rc;
	/* The rename itself must survive a crash too. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd)) {
			/* Some file systems refuse fsync on directories; the file is in place. */
		}
		close(dfd);
	}
	errno = saved;
	return CM_OK;
}

int ag_spool_repo_dir(const char *spool, int64_t repo_id, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/repo-%lld", spool, (long long)repo_id);

	return n < 0 || (size_t)n >= size ? CM_ETOOBIG : CM_OK;
}

static int is_report_name(const char *dir, const char *n)
{
	size_t len = strlen(n), slen = strlen(AG_SPOOL_SUFFIX);

	return n[0] != '.' && len > slen && strcmp(n + len - slen, AG_SPOOL_SUFFIX) == 0;
}

static int is_repo_dir(const char *dir, const char *n)
{
	char path[4096];
	struct stat st;

	if (strncmp(n, "repo-", 5) != 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, n);
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir that `want`, as names or (with paths) as paths. A missing dir is empty. */
static int scan_dir(const char *dir, int (*want)(const char *dir, const char *name), int paths,
		    char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL, path[4096];
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? CM_OK : CM_EIO;
	while ((e = readdir(d))) {
		char **nv, *copy;

		if (!want(dir, e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		copy = nv ? strdup(paths ? path : e->d_name) : NULL;
		if (nv)
			v = nv;
		if (!copy) {
			closedir(d);
			ag_spool_names_free(v, cnt);
			return CM_ENOMEM;
		}
		v[cnt++] = copy;
	}
	closedir(d);
	*out = v;
	*n = cnt;
	return CM_OK;
}

int ag_spool_list(const char *dir, char ***names, size_t *n)
{
	int rc = scan_dir(dir, is_report_name, 0, names, n);

	/* Names start with the spool time in ms (13 digits until 2286): name order is age order. */
	if (rc == CM_OK && *n)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return rc;
}

void ag_spool_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The spool's repository directories ("repo-<id>"), as paths. */
static int list_repo_dirs(const char *spool, char ***dirs, size_t *n)
{
	return scan_dir(spool, is_repo_dir, 1, dirs, n);
}

struct spooled {
	char *path;
	const char *name; /* within path: "<ms>-<id>.cpr", so name order is age order */
	long long size;
};

static int cmp_spooled(const void *a, const void *b)
{
	return strcmp(((const struct spooled *)a)->name, ((const struct spooled *)b)->name);
}

/* Appends the reports of dir to *v. */
static int collect(const char *dir, struct spooled **v, size_t *cnt)
{
	char **names;
	size_t n;
	int rc = ag_spool_list(dir, &names, &n);

	for (size_t i = 0; rc == CM_OK && i < n; i++) {
		struct spooled *nv = realloc(*v, (*cnt + 1) * sizeof(**v));
		char path[4096];
		struct stat st;

		if (!nv) {
			rc = CM_ENOMEM;
			break;
		}
		*v = nv;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		nv[*cnt].path = strdup(path);
		if (!nv[*cnt].path) {
			rc = CM_ENOMEM;
			break;
		}
		nv[*cnt].name = nv[*cnt].path + strlen(dir) + 1;
		nv[*cnt].size = stat(path, &st) == 0 ? st.st_size : 0;
		(*cnt)++;
	}
	ag_spool_names_free(names, n);
	return rc;
}

/*
 * Deletes the oldest reports, of whichever repository, until the spool holds at most max_bytes
 * (keeping the file `keep`).
 */
static int enforce_cap(const char *spool, long max_bytes, const char *keep, int *dropped)
{
	struct spooled *v = NULL;
	size_t cnt = 0, ndirs = 0;
	char **dirs = NULL;
	long long total = 0;
	int rc = list_repo_dirs(spool, &dirs, &ndirs);

	if (rc == CM_OK)
		rc = collect(spool, &v, &cnt);
	for (size_t i = 0; rc == CM_OK && i < ndirs; i++)
		rc = collect(dirs[i], &v, &cnt);
	if (rc == CM_OK && cnt)
		qsort(v, cnt, sizeof(*v), cmp_spooled);
	for (size_t i = 0; i < cnt; i++)
		total += v[i].size;
	for (size_t i = 0; rc == CM_OK && i < cnt && total > max_bytes; i++) {
		if (strcmp(v[i].path, keep) == 0)
			continue;
		if (unlink(v[i].path) == 0 || errno == ENOENT) {
			cm_log_warn("spool",
				    "spool over its size limit; dropped the oldest report file=%s",
				    v[i].path);
			total -= v[i].size;
			(*dropped)++;
		}
	}
	for (size_t i = 0; i < cnt; i++)
		free(v[i].path);
	free(v);
	ag_spool_names_free(dirs, ndirs);
	return rc;
}

int ag_spool_put(const char *spool, int64_t repo_id, long max_bytes, const char *report_id,
		 const char *frames, size_t n, char *name, size_t namesize, int *dropped)
{
	struct cm_buf b = CM_BUF_INIT(SPOOL_FILE_MAX);
	char file[256], dir[4096], path[4352];
	int rc, saved;

	*dropped = 0;
	snprintf(file, sizeof(file), "%013lld-%.64s" AG_SPOOL_SUFFIX, (long long)cm_time_now_ms(),
		 report_id);
	rc = ag_spool_repo_dir(spool, repo_id, dir, sizeof(dir));
	if (rc == CM_OK)
		rc = cm_buf_add(&b, AG_SPOOL_MAGIC, 8);
	if (rc == CM_OK)
		rc = cm_buf_add(&b, frames, n);
	if (rc == CM_OK)
		rc = ag_spool_write_atomic(dir, file, b.data, b.len);
	saved = errno;
	cm_buf_release(&b);
	if (rc) {
		errno = saved;
		return rc;
	}
	snprintf(name, namesize, "%s", file);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return enforce_cap(spool, max_bytes, path, dropped);
}

int ag_spool_migrate(const char *spool, int *moved, int *dropped)
{
	struct cm_buf frames = CM_BUF_INIT(SPOOL_FILE_MAX);
	char **names, dir[4096], from[4096], to[8192];
	size_t n;
	int rc = ag_spool_list(spool, &names, &n);

	*moved = *dropped = 0;
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		int64_t repo_id = 0;
		int fd;

		rc = ag_spool_open(spool, names[i], &frames, &fd, &repo_id);
		if (rc == CM_EPROTO) {
			ag_spool_drop_damaged(spool, names[i]);
			(*dropped)++;
			continue;
		}
		/* Held by another agent (perhaps an older one sending it), gone, or unreadable. */
		if (rc)
			continue;
		snprintf(from, sizeof(from), "%s/%s", spool, names[i]);
		rc = ag_spool_repo_dir(spool, repo_id, dir, sizeof(dir));
		if (rc == CM_OK)
			rc = ag_mkdirs(dir);
		if (rc == CM_OK) {
			snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
			rc = rename(from, to) ? CM_EIO : CM_OK;
		}
		if (rc)
			cm_log_warn("spool",
				    "could not move a report of the old layout file=%s: %s",
				    names[i], strerror(errno));
		else
			(*moved)++;
		ag_spool_done(spool, names[i], fd, 0);
	}
	cm_buf_release(&frames);
	ag_spool_names_free(names, n);
	return CM_OK;
}

/* Deletes the temporary files in dir that no writer holds. */
static int clean_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	int removed = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct stat held, named;
		int fd;

		if (strncmp(e->d_name, ".tmp-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		/* A live writer holds its lock until the file has its final name. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &held) == 0 &&
		    lstat(path, &named) == 0 && S_ISREG(named.st_mode) &&
		    held.st_ino == named.st_ino && held.st_dev == named.st_dev &&
		    unlink(path) == 0) {
			cm_log_info("spool",
				    "removed a temporary file left by a writer that died file=%s",
				    path);
			removed++;
		}
		close(fd);
	}
	closedir(d);
	return removed;
}

int ag_spool_clean(const char *spool)
{
	char **dirs, path[4096];
	size_t n;
	int removed = clean_dir(spool);

	snprintf(path, sizeof(path), "%s/exec", spool);
	removed += clean_dir(path);
	if (list_repo_dirs(spool, &dirs, &n) == CM_OK) {
		for (size_t i = 0; i < n; i++)
			removed += clean_dir(dirs[i]);
		ag_spool_names_free(dirs, n);
	}
	return removed;
}

int ag_spool_open(const char *dir, const char *name, struct cm_buf *out, int *fd, int64_t *repo_id)
{
	char path[4096], chunk[16384], id[64];
	ssize_t r;
	int f;

	*fd = -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? CM_ENOTFOUND : CM_EIO;
	if (flock(f, LOCK_EX | LOCK_NB)) {
		close(f);
		return errno == EWOULDBLOCK ? CM_ECONFLICT : CM_EIO;
	}
	/* It may have been sent and deleted by the process that held the lock before us. */
	if (access(path, F_OK)) {
		close(f);
		return CM_ENOTFOUND;
	}
	cm_buf_reset(out);
	while ((r = read(f, chunk, sizeof(chunk))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || cm_buf_add(out, chunk, (size_t)r)) {
			close(f);
			return r < 0 ? CM_EIO : CM_ETOOBIG;
		}
	}
	if (out->len < 8 || memcmp(out->data, AG_SPOOL_MAGIC, 8) != 0 ||
	    ag_frames_report_id(out->data + 8, out->len - 8, id, sizeof(id), repo_id)) {
		close(f);
		return CM_EPROTO;
	}
	/* Hand back just the frames. */
	memmove(out->data, out->data + 8, out->len - 8);
	cm_buf_truncate(out, out->len - 8);
	*fd = f;
	return CM_OK;
}

void ag_spool_drop_damaged(const char *dir, const char *name)
{
	cm_log_warn("spool", "dropping a damaged spool file file=%s", name);
	ag_spool_done(dir, name, -1, 1);
}

void ag_spool_done(const char *dir, const char *name, int fd, int remove)
{
	char path[4096];

	if (remove) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (unlink(path) && errno != ENOENT)
			cm_log_warn("spool", "could not delete a delivered report file=%s: %s",
				    name, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}
