/*
 * Declarative settings: each program describes its options in one table (flag, env var, type,
 * default, bounds, help); cm_config_load fills a settings struct from the environment and the
 * command line, rejects unknown flags and bad values with a message naming the setting, and
 * cm_config_help prints --help from the same table. Modelled on Fluent Bit's config map.
 *
 * Precedence: default < environment < command line.
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "cm_buf.h"

enum cm_opt_type {
	CM_OPT_STRING,	 /* char * (strdup'ed; freed by cm_config_free) */
	CM_OPT_INT,	 /* long, within [min, max] */
	CM_OPT_BOOL,	 /* int 0/1; accepts 1/0, true/false, yes/no, on/off; a bare flag sets 1 */
	CM_OPT_DURATION, /* long milliseconds; "500ms", "30s", "5m", "2h", "7d" */
	CM_OPT_ENUM,	 /* char *, one of the '|'-separated `choices` */
	CM_OPT_ADDR,	 /* char *, "host:port" (port 0..65535) */
	CM_OPT_URL,	 /* char *, must start with a scheme from `choices` ("http|https") */
};

enum {
	CM_OPT_SECRET = 1,   /* never printed (help shows "set"/"unset" only) */
	CM_OPT_REQUIRED = 2, /* must be set */
};

struct cm_opt {
	const char *flag; /* long flag without the dashes, e.g. "database-url"; NULL: env only */
	const char *env;  /* environment variable, or NULL: flag only */
	enum cm_opt_type type;
	const char *def;     /* default, as text; NULL: none */
	size_t offset;	     /* offsetof(settings struct, field) */
	long min, max;	     /* bounds for CM_OPT_INT / CM_OPT_DURATION (ms); both 0: unbounded */
	const char *choices; /* CM_OPT_ENUM values, CM_OPT_URL schemes */
	unsigned flags;
	const char *help;
};

/* What *help says after cm_config_load: 0, or which of these was asked for. */
enum { CM_CONFIG_HELP = 1, CM_CONFIG_VERSION = 2 };

/*
 * Loads settings. Parses argv from index 1 up to the first non-option argument (a command) or
 * "--"; *argi receives the index of that argument (argc when none). `--help`/`-h` sets *help
 * to CM_CONFIG_HELP, `--version` to CM_CONFIG_VERSION (help wins when both are given).
 * On error returns CM_EINVAL and writes one line naming the setting into err.
 */
int cm_config_load(const struct cm_opt *opts, size_t n, void *cfg, int argc, char **argv, int *argi,
		   int *help, struct cm_buf *err);
/* Frees the strings cm_config_load allocated. */
void cm_config_free(const struct cm_opt *opts, size_t n, void *cfg);
/* Prints the options, their env vars, defaults and help text. */
void cm_config_help(FILE *out, const struct cm_opt *opts, size_t n);
/* Prints a Markdown table of the options (for the README's configuration reference). */
void cm_config_markdown(FILE *out, const struct cm_opt *opts, size_t n);
/*
 * Prints the options that have an environment variable in env-file form, each as a comment
 * (its help, "[secret]" for secrets) over a commented-out VAR=default line (for
 * deploy/.env.example).
 */
void cm_config_env_file(FILE *out, const struct cm_opt *opts, size_t n);

#endif
