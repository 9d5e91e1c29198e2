/*
 * The spool: a directory of reports that could not be delivered, and of exec tails waiting for
 * their job's report.
 *
 * Reports are kept per repository, in "<spool>/repo-<id>/" (GitHub's repository id), because a
 * report may be sent only with its own repository's ingest token: on a self-hosted runner that
 * serves several repositories, a job flushes its own repository's directory and no other.
 * Agents before 0.2 kept every report directly in "<spool>/"; ag_spool_migrate moves those into
 * their repository's directory, by the repository id in their header.
 *
 * A spooled report is one file "<ms>-<report_id>.cpr": the 8-byte magic "CPSPOOL1" and the
 * report's frames. It is written to a temporary name ".tmp-<pid>-<name>" that the writer holds
 * locked (flock) until it is done, fsync'ed and renamed, so that a reader never sees half a
 * report, and a temporary file that nobody holds is what a writer that died left behind
 * (ag_spool_clean deletes those). The whole spool is bounded: when the reports of all
 * repositories exceed `max_bytes`, the oldest are deleted (with a warning). Files being sent are
 * locked (flock), so that two agents sharing a spool do not send the same file at once.
 */
#ifndef AG_SPOOL_H
#define AG_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "cm_buf.h"

#define AG_SPOOL_MAGIC	"CPSPOOL1"
#define AG_SPOOL_SUFFIX ".cpr"

/* mkdir -p with mode 0700 for the directories it creates. */
int ag_mkdirs(const char *path);
/*
 * Writes data to dir/name atomically (locked temporary file, fsync, rename, fsync of dir).
 * CM_EIO with errno set on a failed write (ENOSPC for a full disk, EFBIG past a file-size
 * limit: the caller must ignore SIGXFSZ); no temporary file is left behind.
 */
int ag_spool_write_atomic(const char *dir, const char *name, const void *data, size_t n);

/* The directory of one repository's reports, "<spool>/repo-<id>", into out. */
int ag_spool_repo_dir(const char *spool, int64_t repo_id, char *out, size_t size);

/*
 * Spools a report of repository repo_id. *dropped receives how many older reports (of any
 * repository) were deleted to keep the spool under max_bytes (the new one is kept even when it
 * alone is larger). name receives its file name within the repository's directory. Errors as
 * ag_spool_write_atomic.
 */
int ag_spool_put(const char *spool, int64_t repo_id, long max_bytes, const char *report_id,
		 const char *frames, size_t n, char *name, size_t namesize, int *dropped);

/*
 * Moves reports of the old layout (directly in the spool directory) into their repository's
 * directory. Damaged ones are deleted and counted in *dropped; ones that another process holds
 * are left for later.
 */
int ag_spool_migrate(const char *spool, int *moved, int *dropped);

/*
 * Deletes the temporary files that writers which died left in the spool, its repository
 * directories and its exec directory; files whose writer still holds them stay. Returns how
 * many were deleted.
 */
int ag_spool_clean(const char *spool);

/* Spooled report file names (not paths) in dir, oldest first. Free with ag_spool_names_free. */
int ag_spool_list(const char *dir, char ***names, size_t *n);
void ag_spool_names_free(char **names, size_t n);

/*
 * Opens and locks dir/name and reads its frames into out. CM_ECONFLICT when another process
 * holds it, CM_ENOTFOUND when it is gone, CM_EPROTO when it is damaged. *fd receives the
 * locked descriptor: pass it to ag_spool_done. *repo_id (when not NULL) receives the
 * repository id of the report's header.
 */
int ag_spool_open(const char *dir, const char *name, struct cm_buf *out, int *fd, int64_t *repo_id);
/* Deletes a file that ag_spool_open found damaged, with a warning. */
void ag_spool_drop_damaged(const char *dir, const char *name);
/* Deletes the file when `remove` (it was delivered), then unlocks it. */
void ag_spool_done(const char *dir, const char *name, int fd, int remove);

#endif
