/*
 * Loading a verified workflow_run / workflow_job delivery: the members the webhook path reads,
 * not the whole document.
 *
 * A delivery is ~11 KB of JSON, most of it the repository's, the organisation's and the sender's
 * URLs; building jansson's tree of all of it was a third of the collector's CPU per delivery.
 * col_gh_payload_load checks the whole text by the rules json_loadb(JSON_REJECT_DUPLICATES)
 * applies (grammar, UTF-8, escapes, surrogates, \u0000, number ranges, nesting depth, duplicate
 * keys after unescaping, nothing after the value), without building anything, and then builds
 * with jansson only the top-level members "action", "installation", "workflow", "workflow_job",
 * "workflow_run" and, of "repository", its "id", "full_name", "html_url" and "default_branch".
 * Text it finds bad goes to json_loadb whole, which gives the error (and the document, should
 * jansson accept it after all), so nothing jansson accepts is refused. tests/fuzz/fuzz_payload.c
 * compares the check and the members with jansson's.
 */
#ifndef COL_GITHUB_PAYLOAD_H
#define COL_GITHUB_PAYLOAD_H

#include <jansson.h>
#include <stddef.h>

/* 0 when json_loadb(text, len, JSON_REJECT_DUPLICATES) would load the text, else -1. */
int col_gh_json_check(const char *text, size_t len);

/* The members above as a new object (the caller's reference), or NULL with err set. */
json_t *col_gh_payload_load(const char *text, size_t len, json_error_t *err);

#endif
