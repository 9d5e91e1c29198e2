/* Small helpers for writing JSON text into a cm_buf (reading JSON uses jansson). */
#ifndef CM_JSON_H
#define CM_JSON_H

#include "cm_buf.h"

/* Appends `s` as a quoted JSON string, escaping what JSON requires (control characters as \uXXXX).
 */
int cm_json_add_string(struct cm_buf *b, const char *s);
int cm_json_add_stringn(struct cm_buf *b, const char *s, size_t n);

#endif
