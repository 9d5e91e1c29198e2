/* Time helpers. Wall-clock times are int64 milliseconds since the Unix epoch (UTC). */
#ifndef CM_TIME_H
#define CM_TIME_H

#include <stddef.h>
#include <stdint.h>

int64_t cm_time_now_ms(void);
/* Monotonic clock in milliseconds, for durations and deadlines. */
int64_t cm_time_mono_ms(void);
/* Sleeps ms milliseconds (resumed after a signal). */
void cm_time_sleep_ms(long ms);
/*
 * Parses an RFC 3339 / ISO 8601 timestamp as GitHub writes them ("2019-08-08T22:04:13Z",
 * optional fraction, "Z" or "+hh:mm"/"-hh:mm") into epoch ms. CM_EINVAL on anything else.
 */
int cm_time_parse_iso8601(const char *s, int64_t *ms);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at least 25 bytes). */
void cm_time_format_iso8601(int64_t ms, char *out, size_t size);
/* Parses a duration like "500ms", "30s", "5m", "2h", "7d" (a bare number is seconds) into ms. */
int cm_time_parse_duration(const char *s, int64_t *ms);

#endif
