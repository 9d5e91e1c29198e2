/*
 * GitHub webhook receiver: POST /webhook/github (workflow_run, workflow_job, ping; in GitHub App
 * mode installation and installation_repositories too, github/installation.h).
 *
 * Authentication. GitHub signs the raw body with the hook's secret (X-Hub-Signature-256,
 * HMAC-SHA256). A repository hook's secret is the repository's webhook_secret; an organisation
 * hook has one secret for all its repositories: CIPULSE_WEBHOOK_SECRET. To pick the secret
 * without parsing unauthenticated JSON, col_webhook_peek_repo reads only the top-level
 * "repository" object's id and full_name with a bounded scanner (no allocation, no recursion,
 * one pass), as a hint: the signature is then checked against the secrets of the repositories
 * holding that id and that name and, failing those, the organisation secret: at most three
 * HMACs and one indexed query per request, whatever the number of repositories. The secret
 * that matched is the credential. Only then is the body parsed (jansson, duplicate keys
 * rejected) and decoded whole, and the store checks the decoded repository against the
 * credential (store/claim.h), so a sender who knows one repository's secret cannot write into,
 * rename or claim another, whatever the scanner made of the text.
 *
 * Answers: 200 stored / duplicate / pong, 202 for event types we ignore, 400 malformed JSON or
 * an unknown shape, 403 when the payload's repository is not one its signer may write (nothing
 * written), 401 missing or wrong signature (also for an unknown repository when the
 * organisation secret does not match: we cannot tell who is asking, so we say nothing about
 * which repositories exist), 404 for a repository that is not registered but signed with the
 * organisation secret, 413 body too large (the HTTP server), 415 for a content type other than
 * application/json or application/x-www-form-urlencoded (payload=...), 503 when the database
 * cannot be reached. A 2xx for workflow events means committed.
 *
 * Group commit. Deliveries are verified and decoded on their own request threads, in parallel;
 * the workflow events among them are then written by one thread in batches of at most
 * CIPULSE_WEBHOOK_BATCH deliveries per transaction (store/group.h), each request answered
 * after its batch committed, with its own answer: a delivery the database rejects is answered
 * 400 alone (the batch is written again one delivery per transaction), a duplicate "duplicate",
 * and a database that goes away 503 with Retry-After for every delivery of the batch, none of
 * it stored.
 */
#ifndef COL_WEBHOOK_H
#define COL_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"

/* Registers POST /webhook/github. */
void col_webhook_routes(void);
/*
 * Starts the group commit of deliveries (CIPULSE_WEBHOOK_BATCH, CIPULSE_WEBHOOK_BATCH_WAIT;
 * nothing to start when the batch is 1). Until then, and after col_webhook_stop, each delivery
 * is written in a transaction of its own; so too when the group cannot start (no memory, no
 * thread), which is logged as a warning and is not an error: webhooks are served either way.
 */
void col_webhook_start(struct col_ctx *ctx);
/* Writes the deliveries waiting for a batch (each answered) and stops the group's thread. */
void col_webhook_stop(void);

/*
 * Finds the top-level "repository" object of a JSON text and its "id" and "full_name" without
 * building a document. *id gets 0 and name "" for what is not found (a full_name with escapes
 * or longer than size-1 counts as not found). Returns 0 when a repository object was read to
 * its end, CM_ENOTFOUND when the text has none, CM_EINVAL when the text is not a JSON object as
 * far as it was read (what was found before that point is still set). Never reads past len.
 */
int col_webhook_peek_repo(const char *body, size_t len, int64_t *id, char *name, size_t size);

/*
 * Decodes an application/x-www-form-urlencoded body's "payload" field into out (at most len
 * bytes). CM_ENOTFOUND when there is no such field, CM_EINVAL for a bad %-escape.
 */
int col_webhook_form_payload(const char *body, size_t len, char *out, size_t *outlen);

#endif
