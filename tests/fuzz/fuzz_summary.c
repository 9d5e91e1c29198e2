/*
 * libFuzzer target for what the agent does with the collector's Summary reply before it lands
 * in $GITHUB_STEP_SUMMARY: protobuf-c decoding, then the Markdown (escaping of every name and
 * message, durations, links). Checks, beyond not crashing, that no outside text opens an HTML
 * tag: the Markdown never holds a '<'.
 *
 * Input: the reply's bytes. tests/fuzz/seed-summary.sh writes seeds.
 * Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "cm_buf.h"
#include "cm_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cm_buf md = CM_BUF_INIT(1 << 20);

	if (ag_summary_markdown(data, size, "job <name> | x", &md) == CM_OK && md.data &&
	    memchr(md.data, '<', md.len))
		abort();
	cm_buf_release(&md);
	return 0;
}
