/*
 * Logging: one line per event on stderr, `text` (key=value) or `json`.
 *
 *   cm_log_info("ingest", "report stored repo=%s jobs=%d", name, n);
 *
 * The message is a short, lowercase, factual sentence, optionally followed by key=value pairs.
 * Never pass secrets (tokens, webhook URLs, passwords). Thread safe (one write per line).
 */
#ifndef CM_LOG_H
#define CM_LOG_H

enum cm_log_level { CM_LOG_DEBUG = 0, CM_LOG_INFO, CM_LOG_WARN, CM_LOG_ERROR };
enum cm_log_format { CM_LOG_TEXT = 0, CM_LOG_JSON };

void cm_log_setup(enum cm_log_level level, enum cm_log_format format);
/* Parses "debug", "info", "warn", "error"; returns CM_EINVAL otherwise. */
int cm_log_parse_level(const char *s, enum cm_log_level *out);
int cm_log_parse_format(const char *s, enum cm_log_format *out);
int cm_log_enabled(enum cm_log_level level);

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cm_log_debug(comp, ...) cm_log(CM_LOG_DEBUG, comp, __VA_ARGS__)
#define cm_log_info(comp, ...)	cm_log(CM_LOG_INFO, comp, __VA_ARGS__)
#define cm_log_warn(comp, ...)	cm_log(CM_LOG_WARN, comp, __VA_ARGS__)
#define cm_log_error(comp, ...) cm_log(CM_LOG_ERROR, comp, __VA_ARGS__)

#endif
