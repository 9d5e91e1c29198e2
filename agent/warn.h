/*
 * Warnings for the job log: GitHub shows "::warning::" lines as annotations on the run, so that
 * what went wrong with a report is seen where the job is, not only in the agent's stderr log.
 */
#ifndef AG_WARN_H
#define AG_WARN_H

/* Prints "::warning::cipulse: MSG" on stdout as one line (newlines in msg become spaces). */
void ag_warn(const char *msg);

#endif
