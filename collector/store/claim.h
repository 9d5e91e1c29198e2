/*
 * Which repository a write may touch: the one rule for every source (agent reports, webhooks,
 * the poller). col_store_put_report applies it inside the write's transaction, to the fully
 * decoded report and the repository rows as they are then (locked), so that nothing a client
 * sends can make one repository's credential write into, rename or claim another.
 *
 * The rule:
 * - A repository's own credential (its ingest token, its webhook secret, the poller reading it
 *   from GitHub) writes only that repository. Once GitHub's id is known, the report's id must
 *   be it. While the repository only has its provisional (negative) id, the report must carry
 *   the repository's registered name and an id no other repository holds: it is then claimed
 *   (adopted) under that id.
 * - An organisation-wide credential (CIPULSE_WEBHOOK_SECRET, an admin token) writes any
 *   repository under its own id. It claims a provisional repository only when that repository
 *   has no webhook secret of its own (one registered for the organisation's hook); it registers
 *   a repository nobody knows only when the credential allows it (admin tokens).
 * - A rename (a report whose id is a repository's but whose name differs) happens only to a
 *   name no other repository holds.
 * Pure functions, no I/O; thread safe.
 */
#ifndef COL_CLAIM_H
#define COL_CLAIM_H

#include <stdint.h>

enum col_cred_scope {
	COL_CRED_REPO, /* one repository's own credential */
	COL_CRED_ORG,  /* organisation-wide */
};

struct col_cred {
	enum col_cred_scope scope;
	/* COL_CRED_REPO: the repository's id and full_name when the credential was checked. */
	int64_t repo_id;
	char repo_name[256];
	/* COL_CRED_ORG: may register a repository that is not known yet. */
	int may_register;
};

/* A repository row as the database has it. */
struct col_repo_row {
	int found;
	int64_t id;
	char full_name[256];
	int own_secret; /* it has a webhook secret of its own */
};

/* What the database holds for a write, read (and locked) in the write's transaction. */
struct col_claim_state {
	struct col_repo_row own;     /* the credential's repository now (COL_CRED_REPO) */
	struct col_repo_row by_id;   /* the repository holding the report's id */
	struct col_repo_row by_name; /* the repository holding the report's full_name */
};

enum col_claim {
	COL_CLAIM_DENY,
	COL_CLAIM_WRITE,    /* the repository with the report's id; renamed when the name differs */
	COL_CLAIM_ADOPT,    /* the provisional repository by_name takes the report's id */
	COL_CLAIM_REGISTER, /* a new repository */
};

/*
 * Decides a write of the repository (id, full_name) with credential cred. With st NULL, only
 * what the credential itself tells is checked (a cheap early refusal, before a report is read
 * whole): COL_CLAIM_DENY or COL_CLAIM_WRITE ("not refused yet"; an id or name that is missing
 * is left to the report's validation). On COL_CLAIM_DENY, *why (when why is not NULL) gets a
 * short static message for the client, naming no secret.
 */
enum col_claim col_claim_decide(const struct col_cred *cred, int64_t id, const char *full_name,
				const struct col_claim_state *st, const char **why);

/*
 * Files one repository row, read by the write's transaction, into st: the report's id and name
 * and the credential's id and name (a provisional id the repository no longer has: its name)
 * tell which slots it fills.
 */
void col_claim_state_add(struct col_claim_state *st, const struct col_cred *cred, int64_t id,
			 const char *full_name, const struct col_repo_row *row);

#endif
