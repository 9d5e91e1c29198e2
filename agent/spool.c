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
		if (w <= 0)
			return CM_EIO;
		p += w;
		n -= (size_t)w;
	}
	return CM_OK;
}

int ag_spool_write_atomic(const char *dir, const char *name, const void *data, size_t n)
{
	char tmp[4096], final[4096];
	int fd, rc, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%s", dir, (int)getpid(), name) >= (int)sizeof(tmp) ||
	    snprintf(final, sizeof(final), "%s/%s", dir, name) >= (int)sizeof(final))
		return CM_ETOOBIG;
	rc = ag_mkdirs(dir);
	if (rc)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return CM_EIO;
	rc = write_all(fd, data, n);
	if (rc == CM_OK && fsync(fd))
		rc = CM_EIO;
	if (close(fd) && rc == CM_OK)
		rc = CM_EIO;
	if (rc == CM_OK && rename(tmp, final))
		rc = CM_EIO;
	if (rc) {
		int saved = errno;

		unlink(tmp);
		errno = saved;
		return rc;
	}
	/* The rename itself must survive a crash too. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd)) {
			/* Some file systems refuse fsync on directories; the file is in place. */
		}
		close(dfd);
	}
	return CM_OK;
}

static int is_report_name(const char *n)
{
	size_t len = strlen(n), slen = strlen(AG_SPOOL_SUFFIX);

	return n[0] != '.' && len > slen && strcmp(n + len - slen, AG_SPOOL_SUFFIX) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ag_spool_list(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t cnt = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? CM_OK : CM_EIO;
	while ((e = readdir(d))) {
		char **nv, *copy;

		if (!is_report_name(e->d_name))
			continue;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		copy = nv ? strdup(e->d_name) : NULL;
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
	/* Names start with the spool time in ms (13 digits until 2286): name order is age order. */
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*names = v;
	*n = cnt;
	return CM_OK;
}

void ag_spool_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Deletes the oldest reports until the directory holds at most max_bytes (keeping `keep`). */
static int enforce_cap(const char *dir, long max_bytes, const char *keep, int *dropped)
{
	char **names, path[4096];
	size_t n;
	long long total = 0;
	long long *sizes;
	int rc = ag_spool_list(dir, &names, &n);

	if (rc)
		return rc;
	sizes = calloc(n ? n : 1, sizeof(*sizes));
	if (!sizes) {
		ag_spool_names_free(names, n);
		return CM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0)
			sizes[i] = st.st_size;
		total += sizes[i];
	}
	for (size_t i = 0; i < n && total > max_bytes; i++) {
		if (strcmp(names[i], keep) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) == 0 || errno == ENOENT) {
			cm_log_warn("spool", "spool over its size limit; dropped the oldest report file=%s",
				    names[i]);
			total -= sizes[i];
			(*dropped)++;
		}
	}
	free(sizes);
	ag_spool_names_free(names, n);
	return CM_OK;
}

int ag_spool_put(const char *dir, long max_bytes, const char *report_id, const char *frames,
		 size_t n, char *path, size_t pathsize, int *dropped)
{
	struct cm_buf b = CM_BUF_INIT(SPOOL_FILE_MAX);
	char name[256];
	int rc;

	*dropped = 0;
	snprintf(name, sizeof(name), "%013lld-%.64s" AG_SPOOL_SUFFIX, (long long)cm_time_now_ms(),
		 report_id);
	rc = cm_buf_add(&b, AG_SPOOL_MAGIC, 8);
	if (rc == CM_OK)
		rc = cm_buf_add(&b, frames, n);
	if (rc == CM_OK)
		rc = ag_spool_write_atomic(dir, name, b.data, b.len);
	cm_buf_release(&b);
	if (rc)
		return rc;
	snprintf(path, pathsize, "%s", name);
	return enforce_cap(dir, max_bytes, name, dropped);
}

int ag_spool_open(const char *dir, const char *name, struct cm_buf *out, int *fd)
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
	    ag_frames_report_id(out->data + 8, out->len - 8, id, sizeof(id))) {
		close(f);
		return CM_EPROTO;
	}
	/* Hand back just the frames. */
	memmove(out->data, out->data + 8, out->len - 8);
	cm_buf_truncate(out, out->len - 8);
	*fd = f;
	return CM_OK;
}

void ag_spool_done(const char *dir, const char *name, int fd, int remove)
{
	char path[4096];

	if (remove) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (unlink(path) && errno != ENOENT)
			cm_log_warn("spool", "could not delete a delivered report file=%s: %s", name,
				    strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}
