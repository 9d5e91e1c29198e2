/* Small gRPC core helpers shared by the agent (client) and the collector (server). */
#ifndef CM_GRPC_H
#define CM_GRPC_H

#include <grpc/grpc.h>
#include <stddef.h>

#include "cm_buf.h"

/* A deadline `ms` milliseconds from now on the realtime clock. */
gpr_timespec cm_grpc_deadline_ms(long ms);
/* Appends a received message to `out` (cleared first). CM_ETOOBIG when over out->max. */
int cm_grpc_bb_read(grpc_byte_buffer *bb, struct cm_buf *out);
/* A new byte buffer holding a copy of data (caller destroys it after its batch completes). */
grpc_byte_buffer *cm_grpc_bb_new(const void *data, size_t n);
/* Copies a slice into a NUL-terminated malloc'ed string (NULL on allocation failure). */
char *cm_grpc_slice_strdup(grpc_slice s);
/* The name of a status code ("UNAVAILABLE"); "UNKNOWN" for codes outside the list. */
const char *cm_grpc_status_name(grpc_status_code s);

#endif
