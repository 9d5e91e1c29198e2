#include "cm_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_time.h"

/*
 * Writes an error message into err and returns CM_EINVAL, or the buffer's own error when even
 * the message does not fit (the setting is refused either way).
 */
static int refuse(struct cm_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct cm_buf *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cm_buf_vaddf(err, fmt, ap);
	va_end(ap);
	return rc ? rc : CM_EINVAL;
}

static const char *opt_name(const struct cm_opt *o, char *tmp, size_t size)
{
	if (o->flag && o->env)
		snprintf(tmp, size, "--%s / %s", o->flag, o->env);
	else if (o->flag)
		snprintf(tmp, size, "--%s", o->flag);
	else
		snprintf(tmp, size, "%s", o->env);
	return tmp;
}

static int in_choices(const char *choices, const char *v, size_t vlen)
{
	const char *p = choices;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == vlen && strncmp(p, v, len) == 0)
			return 1;
		p = bar ? bar + 1 : NULL;
	}
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		 !strcasecmp(v, "off") || !*v)
		*out = 0;
	else
		return CM_EINVAL;
	return CM_OK;
}

static int set_string(char **slot, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return CM_ENOMEM;
	free(*slot);
	*slot = copy;
	return CM_OK;
}

/* Validates and stores one value; on error writes the reason into err. */
static int set_value(const struct cm_opt *o, void *cfg, const char *v, const char *from,
		     struct cm_buf *err)
{
	char *base = (char *)cfg + o->offset, name[160];
	const char *why = NULL;
	int rc = CM_OK;

	switch (o->type) {
	case CM_OPT_STRING:
		rc = set_string((char **)(void *)base, v);
		break;
	case CM_OPT_ENUM:
		if (!in_choices(o->choices, v, strlen(v)))
			why = "must be one of";
		else
			rc = set_string((char **)(void *)base, v);
		break;
	case CM_OPT_URL: {
		const char *sep = strstr(v, "://");

		if (!*v) {
			rc = set_string((char **)(void *)base, v);
		} else if (!sep || !in_choices(o->choices, v, (size_t)(sep - v)) || !sep[3]) {
			why = "must be a URL with scheme";
		} else {
			rc = set_string((char **)(void *)base, v);
		}
		break;
	}
	case CM_OPT_ADDR: {
		const char *colon = strrchr(v, ':');
		char *end;
		long port;

		if (!colon || colon == v) {
			why = "must be host:port";
			break;
		}
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
			why = "must be host:port";
		else
			rc = set_string((char **)(void *)base, v);
		break;
	}
	case CM_OPT_INT: {
		char *end;
		long val;

		errno = 0;
		val = strtol(v, &end, 10);
		if (errno || end == v || *end)
			why = "must be an integer";
		else if ((o->min || o->max) && (val < o->min || val > o->max))
			why = "is out of range";
		else
			*(long *)(void *)base = val;
		break;
	}
	case CM_OPT_DURATION: {
		int64_t ms;

		if (cm_time_parse_duration(v, &ms))
			why = "must be a duration like 500ms, 30s, 5m, 2h or 7d";
		else if ((o->min || o->max) && (ms < o->min || ms > o->max))
			why = "is out of range";
		else
			*(long *)(void *)base = (long)ms;
		break;
	}
	case CM_OPT_BOOL:
		if (parse_bool(v, (int *)(void *)base))
			why = "must be true or false";
		break;
	}
	if (rc)
		return rc;
	if (why) {
		opt_name(o, name, sizeof(name));
		if (o->flags & CM_OPT_SECRET)
			rc =
			    cm_buf_addf(err, "invalid value for %s (from %s): %s", name, from, why);
		else
			rc = cm_buf_addf(err, "invalid value \"%s\" for %s (from %s): %s", v, name,
					 from, why);
		if (!rc && (o->type == CM_OPT_ENUM || o->type == CM_OPT_URL))
			rc = cm_buf_addf(err, " %s", o->choices);
		if (!rc && o->type == CM_OPT_INT && (o->min || o->max))
			rc = cm_buf_addf(err, " (%ld..%ld)", o->min, o->max);
		return rc ? rc : CM_EINVAL;
	}
	return CM_OK;
}

int cm_config_load(const struct cm_opt *opts, size_t n, void *cfg, int argc, char **argv, int *argi,
		   int *help, struct cm_buf *err)
{
	char name[160];
	int rc, i;
	unsigned char *seen = calloc(n ? n : 1, 1);

	if (!seen)
		return CM_ENOMEM;
	*help = 0;
	for (size_t k = 0; k < n; k++) {
		const char *env = opts[k].env ? getenv(opts[k].env) : NULL;

		if (env) {
			rc = set_value(&opts[k], cfg, env, opts[k].env, err);
			seen[k] = 1;
		} else if (opts[k].def) {
			rc = set_value(&opts[k], cfg, opts[k].def, "default", err);
		} else {
			rc = CM_OK;
		}
		if (rc)
			goto out;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *val;
		size_t len, k;

		if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			*help = CM_CONFIG_HELP;
			continue;
		}
		if (strcmp(a, "--version") == 0) {
			if (!*help)
				*help = CM_CONFIG_VERSION;
			continue;
		}
		if (a[1] != '-') {
			rc = refuse(err, "unknown option \"%s\" (see --help)", a);
			goto out;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < n; k++) {
			if (opts[k].flag && strlen(opts[k].flag) == len &&
			    !strncmp(opts[k].flag, a, len))
				break;
		}
		if (k == n) {
			rc = refuse(err, "unknown option \"--%.*s\" (see --help)", (int)len, a);
			goto out;
		}
		if (eq) {
			val = eq + 1;
		} else if (opts[k].type == CM_OPT_BOOL) {
			val = "1";
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			rc = refuse(err, "option %s needs a value",
				    opt_name(&opts[k], name, sizeof(name)));
			goto out;
		}
		rc = set_value(&opts[k], cfg, val, "command line", err);
		if (rc)
			goto out;
		seen[k] = 1;
	}
	*argi = i;
	rc = CM_OK;
	if (*help)
		goto out;
	for (size_t k = 0; k < n; k++) {
		if ((opts[k].flags & CM_OPT_REQUIRED) && !seen[k] && !opts[k].def) {
			rc = refuse(err, "missing required setting %s",
				    opt_name(&opts[k], name, sizeof(name)));
			goto out;
		}
	}
out:
	free(seen);
	return rc;
}

void cm_config_free(const struct cm_opt *opts, size_t n, void *cfg)
{
	for (size_t k = 0; k < n; k++) {
		switch (opts[k].type) {
		case CM_OPT_STRING:
		case CM_OPT_ENUM:
		case CM_OPT_ADDR:
		case CM_OPT_URL: {
			char **slot = (char **)(void *)((char *)cfg + opts[k].offset);

			free(*slot);
			*slot = NULL;
			break;
		}
		default:
			break;
		}
	}
}

void cm_config_help(FILE *out, const struct cm_opt *opts, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct cm_opt *o = &opts[k];
		char left[160], detail[512];
		int len = 0;

		if (o->flag)
			snprintf(left, sizeof(left), "--%s%s", o->flag,
				 o->type == CM_OPT_BOOL ? "" : "=VALUE");
		else
			snprintf(left, sizeof(left), "%s", o->env);
		fprintf(out, "  %-30s %s\n", left, o->help);
		detail[0] = '\0';
		if (o->flag && o->env)
			len += snprintf(detail + len, sizeof(detail) - (size_t)len, "; env %s",
					o->env);
		if (o->def && *o->def && !(o->flags & CM_OPT_SECRET))
			len += snprintf(detail + len, sizeof(detail) - (size_t)len, "; default %s",
					o->def);
		if (o->type == CM_OPT_ENUM)
			len += snprintf(detail + len, sizeof(detail) - (size_t)len, "; one of %s",
					o->choices);
		if (o->flags & CM_OPT_REQUIRED)
			len += snprintf(detail + len, sizeof(detail) - (size_t)len, "; required");
		if (len > 2)
			fprintf(out, "  %-30s   %s\n", "", detail + 2);
	}
}

/* Writes s into a Markdown table cell: '|' (a separator there) becomes ", ". */
static void md_cell(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs(", ", out);
		else
			fputc(*s, out);
	}
}

void cm_config_markdown(FILE *out, const struct cm_opt *opts, size_t n)
{
	fprintf(out, "| env var | flag | default | description |\n| --- | --- | --- | --- |\n");
	for (size_t k = 0; k < n; k++) {
		const struct cm_opt *o = &opts[k];
		int has_def = o->def && *o->def && !(o->flags & CM_OPT_SECRET);

		fputs("| ", out);
		if (o->env)
			fprintf(out, "`%s`", o->env);
		fputs(" | ", out);
		if (o->flag)
			fprintf(out, "`--%s`", o->flag);
		fputs(" | ", out);
		if (has_def)
			fprintf(out, "`%s`", o->def);
		fputs(" | ", out);
		md_cell(out, o->help);
		if (o->type == CM_OPT_ENUM) {
			fputs(" (one of: ", out);
			md_cell(out, o->choices);
			fputc(')', out);
		}
		fputs(" |\n", out);
	}
}

void cm_config_env_file(FILE *out, const struct cm_opt *opts, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct cm_opt *o = &opts[k];
		int secret = (o->flags & CM_OPT_SECRET) != 0;

		if (!o->env)
			continue;
		fprintf(out, "\n# %s%s", secret ? "[secret] " : "", o->help);
		if (o->type == CM_OPT_ENUM)
			fprintf(out, " (one of: %s)", o->choices);
		fputc('\n', out);
		/* Unset (commented out) means the default; a secret's default is never shown. */
		fprintf(out, "#%s=%s\n", o->env, o->def && !secret ? o->def : "");
	}
}
