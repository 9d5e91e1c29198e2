/* Text hygiene for log tails and other outside text. */
#ifndef CM_TEXT_H
#define CM_TEXT_H

#include <stddef.h>

#include "cm_buf.h"

/*
 * Appends `in` to `out` as valid UTF-8: NUL bytes are removed, each invalid or truncated
 * sequence (overlong forms, surrogates, code points above U+10FFFF) becomes U+FFFD.
 * Everything else, ANSI escape sequences included, is kept. Returns 0 or CM_ETOOBIG/CM_ENOMEM.
 */
int cm_text_sanitize(struct cm_buf *out, const char *in, size_t n);

/*
 * Length of the valid UTF-8 sequence at s (1..4; n > 0 bytes there), or 0 when it is invalid or
 * incomplete: overlong forms, surrogates, code points above U+10FFFF (jansson's rules too).
 */
size_t cm_text_utf8_seq(const unsigned char *s, size_t n);

/* 1 when `s` (n bytes) is valid UTF-8 without NUL bytes, else 0. */
int cm_text_valid_utf8(const char *s, size_t n);

/*
 * GitHub's rules for a repository's "owner/name", the one check at every entry (agent, webhook,
 * poller, gRPC reports, REST API): owner 1-39 of [A-Za-z0-9-], name 1-100 of [A-Za-z0-9._-],
 * the name neither "." nor "..". cm_repo_name_prefix returns the length of such a name at the
 * start of s when a NUL or '/' follows it (a path), else 0; cm_repo_name_valid is 1 when s is
 * exactly one.
 */
size_t cm_repo_name_prefix(const char *s);
int cm_repo_name_valid(const char *s);

/*
 * Replaces every occurrence of each non-empty secret in `b` with "***". Secrets shorter than
 * 4 bytes are ignored (masking them would garble the text and reveal nothing).
 */
int cm_text_mask(struct cm_buf *b, const char *const *secrets, size_t nsecrets);

/*
 * The workflow file's path in a workflow ref as GitHub writes it (GITHUB_WORKFLOW_REF, a
 * webhook's "path"): "owner/repo/.github/workflows/ci.yml@refs/heads/main" ->
 * ".github/workflows/ci.yml". The "owner/repo/" prefix is dropped only when it is `repo`'s
 * (repo may be NULL). Returns where the path starts in ref and its length in *len.
 */
const char *cm_workflow_path(const char *ref, const char *repo, size_t *len);

/*
 * The next item of a setting that lists values separated by commas or newlines
 * (CIPULSE_LOG_FILES, CIPULSE_TEST_RESULTS): blanks around it trimmed, empty items skipped.
 * Returns where it starts and its length in *len, and moves *p past it; NULL at the end.
 */
const char *cm_list_next(const char **p, size_t *len);

#endif
