/*
 * libFuzzer target for what the gRPC ingest does with an agent's bytes before anything reaches
 * the database: every message of a Report stream goes through col_assembly_add (protobuf-c
 * decoding with a memory budget, the UTF-8/NUL walk over the wire bytes, header and log-seq
 * rules), then col_assembly_finish (tail assembly, col_store_validate) and the token rule.
 *
 * Input: a stream of messages, each a 2-byte little-endian length and that many bytes (a short
 * last piece is sent as it is). tests/fuzz/seed-report.sh writes seeds in this shape.
 * Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ingest/assemble.h"
#include "cm_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct col_assembly a;
	const struct col_report *r;
	struct col_cred cred;
	int rc = CM_OK;

	/* A small report limit keeps the limits themselves within the fuzzer's reach. */
	col_assembly_init(&a, 256 * 1024);
	while (size > 0 && rc == CM_OK) {
		size_t n = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : size;

		if (size >= 2) {
			data += 2;
			size -= 2;
		}
		if (n > size)
			n = size;
		rc = col_assembly_add(&a, data, n);
		data += n;
		size -= n;
	}
	if (rc == CM_OK && col_assembly_finish(&a, "agent", &r) == CM_OK) {
		/* What the store reads: every string and every tail must be there and bounded. */
		for (size_t i = 0; i < r->nlogs; i++) {
			if (strlen(r->logs[i].text) != r->logs[i].len)
				__builtin_trap();
		}
		memset(&cred, 0, sizeof(cred));
		cred.scope = COL_CRED_REPO;
		cred.repo_id = -1;
		strcpy(cred.repo_name, "octo/widgets");
		(void)col_assembly_allowed(&cred, r->header);
	}
	/* On error the message for the client must be a bounded, non-empty string. */
	if (rc != CM_OK && !col_assembly_error(&a)[0])
		__builtin_trap();
	col_assembly_release(&a);
	return 0;
}
