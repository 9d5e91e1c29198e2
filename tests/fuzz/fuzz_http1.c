/*
 * libFuzzer target for the agent's HTTP/1.1 reply parser (agent/http1.c), which reads what a
 * GitHub API server, a redirect's target or anything in between sends. Beyond not crashing it
 * checks that the reply is read the same whether its bytes come at once, split in two (at the
 * place the first input byte picks) or one at a time: the same result, status and body, and no
 * header line handed on with a line end or NUL in it.
 *
 * Input: one byte (the split), then the reply's bytes (then, to test EOF, the end of input is
 * the connection closing). tests/fuzz/seed-http1.sh writes seeds.
 * Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "cm_buf.h"
#include "cm_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	struct cm_buf body;
	int status;
	int rc;
	size_t lines;
};

static int on_header(void *ctx, const char *line, size_t n)
{
	struct seen *s = ctx;

	if (memchr(line, '\n', n) || memchr(line, '\r', n) || memchr(line, '\0', n))
		abort();
	s->lines++;
	return 0;
}

static int on_body(void *ctx, const char *p, size_t n)
{
	struct seen *s = ctx;

	if (n == 0)
		abort();
	return cm_buf_add(&s->body, p, n);
}

/* Feeds data in pieces of at most `piece` bytes (0: all at once, then at `split`). */
static void run(const char *data, size_t size, size_t split, size_t piece, struct seen *s)
{
	struct ag_http1_parser *p = malloc(sizeof(*p));
	struct ag_http1_cb cb = { on_header, on_body, s };
	size_t off = 0, used;

	if (!p)
		abort();
	memset(s, 0, sizeof(*s));
	cm_buf_init(&s->body, 1 << 20);
	ag_http1_parser_init(p, &cb);
	s->rc = 0;
	while (off < size && s->rc == 0) {
		size_t n = piece ? piece : (off < split ? split - off : size - off);

		if (n > size - off)
			n = size - off;
		used = 0;
		s->rc = ag_http1_parse(p, data + off, n, &used);
		if (s->rc == 1 && used > n)
			abort();
		off += n;
	}
	if (s->rc == 0)
		s->rc = ag_http1_parse_eof(p);
	s->status = p->status;
	if (s->rc == 1 && (s->status < 200 || s->status > 999))
		abort();
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen a, b, c;
	size_t split;

	if (size < 1)
		return 0;
	split = size > 1 ? data[0] % size : 0;
	data++;
	size--;
	run((const char *)data, size, size, 0, &a);
	run((const char *)data, size, split, 0, &b);
	run((const char *)data, size, split, 1, &c);
	if (a.rc != b.rc || a.rc != c.rc || a.status != b.status || a.status != c.status ||
	    a.lines != b.lines || a.lines != c.lines || a.body.len != b.body.len ||
	    a.body.len != c.body.len ||
	    (a.body.len && (memcmp(a.body.data, b.body.data, a.body.len) ||
			    memcmp(a.body.data, c.body.data, a.body.len))))
		abort();
	cm_buf_release(&a.body);
	cm_buf_release(&b.body);
	cm_buf_release(&c.body);
	return 0;
}
