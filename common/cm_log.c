#include "cm_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_json.h"
#include "cm_time.h"

static enum cm_log_level min_level = CM_LOG_INFO;
static enum cm_log_format log_format = CM_LOG_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void cm_log_setup(enum cm_log_level level, enum cm_log_format format)
{
	min_level = level;
	log_format = format;
}

int cm_log_parse_level(const char *s, enum cm_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum cm_log_level)i;
			return CM_OK;
		}
	}
	return CM_EINVAL;
}

int cm_log_parse_format(const char *s, enum cm_log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = CM_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = CM_LOG_JSON;
	else
		return CM_EINVAL;
	return CM_OK;
}

int cm_log_enabled(enum cm_log_level level)
{
	return level >= min_level;
}

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
{
	char msg[4096], ts[40];
	struct cm_buf line = CM_BUF_INIT(16384);
	va_list ap;
	int rc;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cm_time_format_iso8601(cm_time_now_ms(), ts, sizeof(ts));
	if (log_format == CM_LOG_JSON)
		rc = cm_buf_addf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
				 level_names[level]) ||
		     cm_json_add_string(&line, component) || cm_buf_adds(&line, ",\"msg\":") ||
		     cm_json_add_string(&line, msg) || cm_buf_adds(&line, "}\n");
	else
		rc = cm_buf_addf(&line, "%s %-5s %s: %s\n", ts, level_names[level], component, msg);
	/* A line that could not be built whole is not written: half a JSON object breaks parsers.
	 */
	if (rc)
		cm_buf_reset(&line);
	/* One write per line so that lines from several threads never interleave. */
	if (line.len && write(STDERR_FILENO, line.data, line.len) < 0) {
		/* Nowhere left to report a failed log write. */
	}
	cm_buf_release(&line);
}
