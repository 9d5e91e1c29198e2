#include "cm_json.h"

#include <string.h>

#include "cm_err.h"

int cm_json_add_stringn(struct cm_buf *b, const char *s, size_t n)
{
	int rc = cm_buf_addc(b, '"');

	for (size_t i = 0; rc == CM_OK && i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			rc = cm_buf_adds(b, "\\\"");
		else if (c == '\\')
			rc = cm_buf_adds(b, "\\\\");
		else if (c == '\n')
			rc = cm_buf_adds(b, "\\n");
		else if (c == '\r')
			rc = cm_buf_adds(b, "\\r");
		else if (c == '\t')
			rc = cm_buf_adds(b, "\\t");
		else if (c < 0x20)
			rc = cm_buf_addf(b, "\\u%04x", c);
		else
			rc = cm_buf_addc(b, (char)c);
	}
	if (rc == CM_OK)
		rc = cm_buf_addc(b, '"');
	return rc;
}

int cm_json_add_string(struct cm_buf *b, const char *s)
{
	return cm_json_add_stringn(b, s ? s : "", s ? strlen(s) : 0);
}
