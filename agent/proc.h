/* What the kernel says about this process. */
#ifndef AG_PROC_H
#define AG_PROC_H

/*
 * The number in /proc/self/status's line "NAME: N ..." (VmHWM in KiB, Threads), or -1 when
 * there is none.
 */
long ag_proc_status(const char *name);

#endif
