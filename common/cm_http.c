#include "cm_http.h"

#include <string.h>
#include <strings.h>

#include "cm_err.h"

int cm_http_header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) || line[nlen] != ':')
		return 0;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= size)
		vlen = size - 1;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return 1;
}

int cm_http_link_next(const char *link, char *out, size_t size)
{
	const char *p = link;

	/* Link: <url>; rel="prev", <url>; rel="next" (params may be in any order). */
	while (p && *p) {
		const char *lt = strchr(p, '<'), *gt, *end;

		if (!lt)
			break;
		gt = strchr(lt, '>');
		if (!gt)
			break;
		end = strchr(gt, ',');
		if (!end)
			end = gt + strlen(gt);
		for (const char *q = gt; q + 3 < end; q++) {
			if (strncasecmp(q, "rel=", 4) != 0)
				continue;
			q += 4;
			if (*q == '"')
				q++;
			/* rel may list several types: rel="next last". */
			while (q < end && *q != '"' && *q != ';') {
				size_t w = strcspn(q, " \";,");

				if (w == 4 && strncasecmp(q, "next", 4) == 0) {
					if ((size_t)(gt - lt - 1) >= size)
						return CM_ETOOBIG;
					memcpy(out, lt + 1, (size_t)(gt - lt - 1));
					out[gt - lt - 1] = '\0';
					return CM_OK;
				}
				q += w;
				while (q < end && *q == ' ')
					q++;
			}
			break;
		}
		p = *end ? end + 1 : end;
	}
	return CM_ENOTFOUND;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long cm_http_form_decode(const char *raw, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (raw[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1; /* fewer than two hex digits follow */
			hi = hexval(raw[i + 1]);
			lo = hexval(raw[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (raw[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = raw[i];
		}
	}
	out[o] = '\0';
	return (long)o;
}

int cm_http_url_base_len(const char *url)
{
	size_t n = url ? strlen(url) : 0;

	while (n && url[n - 1] == '/')
		n--;
	return (int)n;
}
