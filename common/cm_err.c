#include "cm_err.h"

const char *cm_strerror(int err)
{
	switch (err) {
	case CM_OK:
		return "success";
	case CM_ENOMEM:
		return "out of memory";
	case CM_EINVAL:
		return "invalid argument";
	case CM_ETOOBIG:
		return "too large";
	case CM_EIO:
		return "input/output error";
	case CM_ENOTFOUND:
		return "not found";
	case CM_EUNAVAIL:
		return "unavailable";
	case CM_EAUTH:
		return "authentication failed";
	case CM_ETIMEDOUT:
		return "timed out";
	case CM_EPROTO:
		return "protocol error";
	case CM_EDENIED:
		return "permission denied";
	case CM_ECONFLICT:
		return "conflict";
	}
	return "unknown error";
}
