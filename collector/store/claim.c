#include "store/claim.h"

#include <stddef.h>
#include <string.h>

static enum col_claim deny(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return COL_CLAIM_DENY;
}

/* The repository of the report's id exists: a rename only onto a free name. */
static enum col_claim write_known(const struct col_claim_state *st, int64_t id, const char **why)
{
	if (st->by_name.found && st->by_name.id != id)
		return deny(why, "the repository name belongs to another repository");
	return COL_CLAIM_WRITE;
}

enum col_claim col_claim_decide(const struct col_cred *cred, int64_t id, const char *full_name,
				const struct col_claim_state *st, const char **why)
{
	if (!st) {
		/* What is missing is for the report's validation to name, not a refusal. */
		if (cred->scope == COL_CRED_ORG)
			return COL_CLAIM_WRITE;
		if (cred->repo_id > 0 && id > 0 && id != cred->repo_id)
			return deny(why, "the credential belongs to another repository");
		if (cred->repo_id < 0 && full_name && *full_name &&
		    strcmp(cred->repo_name, full_name))
			return deny(why, "the credential belongs to another repository");
		return COL_CLAIM_WRITE;
	}
	if (!full_name || !*full_name || id <= 0)
		return deny(why, "the report names no repository");
	if (cred->scope == COL_CRED_REPO) {
		const struct col_repo_row *own = &st->own;

		if (!own->found)
			return deny(why, "the credential's repository is gone");
		if (own->id > 0) {
			if (own->id != id)
				return deny(why, "the credential belongs to another repository");
			return write_known(st, id, why);
		}
		/* Registered by name, GitHub's id not known yet: claimed under that name only. */
		if (st->by_id.found)
			return deny(why, "the repository id belongs to another repository");
		if (strcmp(own->full_name, full_name))
			return deny(why, "the credential belongs to another repository");
		return COL_CLAIM_ADOPT;
	}
	if (st->by_id.found)
		return write_known(st, id, why);
	if (!st->by_name.found)
		return cred->may_register ? COL_CLAIM_REGISTER
					  : deny(why, "the repository is not registered");
	if (st->by_name.id > 0)
		return deny(why, "the repository name belongs to another repository");
	if (st->by_name.own_secret)
		return deny(why, "the repository is claimed only by its own credentials");
	return COL_CLAIM_ADOPT;
}

static void copy_row(struct col_repo_row *to, const struct col_repo_row *from)
{
	*to = *from;
	to->found = 1;
}

void col_claim_state_add(struct col_claim_state *st, const struct col_cred *cred, int64_t id,
			 const char *full_name, const struct col_repo_row *row)
{
	if (row->id == id)
		copy_row(&st->by_id, row);
	if (!strcmp(row->full_name, full_name))
		copy_row(&st->by_name, row);
	if (cred->scope != COL_CRED_REPO)
		return;
	if (row->id == cred->repo_id) {
		copy_row(&st->own, row);
	} else if (cred->repo_id < 0 && !strcmp(row->full_name, cred->repo_name) &&
		   !(st->own.found && st->own.id == cred->repo_id)) {
		/* Claimed under GitHub's id since the credential was checked (cascaded). */
		copy_row(&st->own, row);
	}
}
