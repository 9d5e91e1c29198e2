/*
 * Where a notification may be sent. Channel targets are URLs that an admin types in, and the
 * collector then posts to them: without a check they could reach the database, a cloud
 * metadata service or anything else on the collector's own network (SSRF). The API checks a
 * target when it is stored, and every notifier calls col_target_check again right before each
 * send (DNS may have changed since), then connects to the address it returned (CURLOPT_RESOLVE)
 * so that a second lookup cannot answer differently.
 */
#ifndef COL_TARGET_H
#define COL_TARGET_H

#include <stddef.h>

/*
 * 0 when url is an http(s) URL whose host resolves only to public addresses (or allow_private,
 * CIPULSE_ALLOW_PRIVATE_TARGETS, is set). Otherwise, with the reason in why: CM_EINVAL (not an
 * http(s) URL), CM_EDENIED (a private address), CM_EUNAVAIL (the name does not resolve now: the
 * API stores such a target, a notifier must not send). When pin is given, it gets
 * "host:port:address" for CURLOPT_RESOLVE.
 */
int col_target_check(const char *url, int allow_private, char *pin, size_t pin_size, char *why,
		     size_t why_size);
/* 1 when the address (struct sockaddr *) is loopback, link-local, private or otherwise local. */
int col_target_addr_private(const void *sa);

#endif
