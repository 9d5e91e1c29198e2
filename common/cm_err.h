/* Project-wide error codes: every function that can fail returns 0 or one of these (negative). */
#ifndef CM_ERR_H
#define CM_ERR_H

enum cm_err {
	CM_OK = 0,
	CM_ENOMEM = -1,	    /* out of memory */
	CM_EINVAL = -2,	    /* invalid argument or input */
	CM_ETOOBIG = -3,    /* over a size limit */
	CM_EIO = -4,	    /* I/O error (errno has details where it applies) */
	CM_ENOTFOUND = -5,  /* no such thing */
	CM_EUNAVAIL = -6,   /* a peer (database, collector, API) cannot be reached; retry later */
	CM_EAUTH = -7,	    /* authentication failed */
	CM_ETIMEDOUT = -8,  /* a deadline passed */
	CM_EPROTO = -9,	    /* a peer answered something we do not understand */
	CM_EDENIED = -10,   /* authenticated, but not allowed */
	CM_ECONFLICT = -11, /* the state does not allow it (e.g. already exists) */
};

/* Short, lowercase description of an error code; never NULL. */
const char *cm_strerror(int err);

#endif
