/*
 * The spool: a directory of reports that could not be delivered, and of exec tails waiting for
 * their job's report.
 *
 * A spooled report is one file "<ms>-<report_id>.cpr": the 8-byte magic "CPSPOOL1" and the
 * report's frames, written to a temporary name, fsync'ed and renamed, so that a reader never
 * sees half a report. The directory is bounded: when the reports in it exceed `max_bytes`, the
 * oldest are deleted (with a warning). Files being sent are locked (flock), so that two agents
 * sharing a spool do not send the same file at once.
 */
#ifndef AG_SPOOL_H
#define AG_SPOOL_H

#include <stddef.h>

#include "cm_buf.h"

#define AG_SPOOL_MAGIC "CPSPOOL1"
#define AG_SPOOL_SUFFIX ".cpr"

/* mkdir -p with mode 0700 for the directories it creates. */
int ag_mkdirs(const char *path);
/* Writes data to dir/name atomically (temporary file, fsync, rename, fsync of dir). */
int ag_spool_write_atomic(const char *dir, const char *name, const void *data, size_t n);

/*
 * Spools a report. *dropped receives how many older reports were deleted to stay under
 * max_bytes (the new one is kept even when it alone is larger). path receives its file name.
 */
int ag_spool_put(const char *dir, long max_bytes, const char *report_id, const char *frames,
		 size_t n, char *path, size_t pathsize, int *dropped);

/* Spooled report file names (not paths), oldest first. Free with ag_spool_names_free. */
int ag_spool_list(const char *dir, char ***names, size_t *n);
void ag_spool_names_free(char **names, size_t n);

/*
 * Opens and locks dir/name and reads its frames into out. CM_ECONFLICT when another process
 * holds it, CM_ENOTFOUND when it is gone, CM_EPROTO when it is damaged. *fd receives the
 * locked descriptor: pass it to ag_spool_done.
 */
int ag_spool_open(const char *dir, const char *name, struct cm_buf *out, int *fd);
/* Deletes the file when `remove` (it was delivered), then unlocks it. */
void ag_spool_done(const char *dir, const char *name, int fd, int remove);

#endif
