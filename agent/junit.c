#include "junit.h"

#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "warn.h"

/* Bytes read from a file (or taken from memory) per parser call. */
#define CHUNK 65536
/* Nested <testsuite> names remembered; deeper suites count as the deepest one kept. */
#define SUITE_DEPTH 8
/* Raw message bytes kept beyond the cap, so that a secret across the cut is still masked. */
#define MESSAGE_SLACK 1024
/* Longest duration kept (31 days, what the collector accepts); larger values count as 0. */
#define TIME_MAX (31.0 * 24 * 3600)
/* Most retries counted per test (what the collector accepts). */
#define RETRIES_MAX 1000

/*
 * libexpat's allocations go through these, so that one file can never make it hold more than
 * AG_JUNIT_PARSER_MEM (a huge attribute or name would otherwise grow its buffers without
 * bound). The agent parses one file at a time per thread; the count is per thread.
 */
static _Thread_local size_t mm_used;

struct mm_head {
	size_t size;
	size_t pad; /* keeps the block 16-byte aligned */
};

static void *mm_malloc(size_t n)
{
	struct mm_head *h;

	if (n > AG_JUNIT_PARSER_MEM || mm_used + n > AG_JUNIT_PARSER_MEM)
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->size = n;
	mm_used += n;
	return h + 1;
}

static void mm_free(void *p)
{
	struct mm_head *h;

	if (!p)
		return;
	h = (struct mm_head *)p - 1;
	mm_used -= h->size;
	free(h);
}

static void *mm_realloc(void *p, size_t n)
{
	struct mm_head *h, *nh;

	if (!p)
		return mm_malloc(n);
	h = (struct mm_head *)p - 1;
	if (n > AG_JUNIT_PARSER_MEM || mm_used - h->size + n > AG_JUNIT_PARSER_MEM)
		return NULL;
	nh = realloc(h, sizeof(*nh) + n);
	if (!nh)
		return NULL;
	mm_used = mm_used - nh->size + n;
	nh->size = n;
	return nh + 1;
}

static const XML_Memory_Handling_Suite mm = { mm_malloc, mm_realloc, mm_free };

/*
 * Debian 12's libexpat seeds its hash tables from arc4random_buf, and its libstdc++.a's
 * std::random_device calls arc4random, both new in glibc 2.36; the release agent must run on
 * glibc 2.35 (Ubuntu 22.04 runners): its static link sends those calls here instead
 * (-Wl,--wrap=arc4random_buf,--wrap=arc4random in the Makefile), to getrandom(2) (glibc 2.25).
 * The salt stays random; should the kernel refuse, time and addresses still vary it per process.
 */
void __wrap_arc4random_buf(void *buf, size_t n);
uint32_t __wrap_arc4random(void);

uint32_t __wrap_arc4random(void)
{
	uint32_t v;

	__wrap_arc4random_buf(&v, sizeof(v));
	return v;
}

void __wrap_arc4random_buf(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t off = 0;

	while (off < n) {
		ssize_t k = getrandom(p + off, n - off, 0);

		if (k > 0) {
			off += (size_t)k;
		} else if (k < 0 && errno != EINTR) {
			uintptr_t mix =
			    (uintptr_t)time(NULL) ^ (uintptr_t)getpid() ^ (uintptr_t)buf;

			for (; off < n;
			     off++, mix = mix * 6364136223846793005ULL + 1442695040888963407ULL)
				p[off] = (unsigned char)(mix >> 33);
		}
	}
}

enum stop { STOP_NONE, STOP_REFUSED, STOP_LIMIT, STOP_NOMEM };

struct jp {
	XML_Parser p;
	struct ag_tests *t;
	const struct ag_junit_opts *o;
	int depth;
	char suite[SUITE_DEPTH][AG_JUNIT_FIELD_MAX + 1];
	int nsuites; /* <testsuite> elements open */
	Cipulse__V1__TestCase *cur;
	int case_depth;	   /* depth of the open <testcase>, 0 when none */
	int msg_depth;	   /* depth of the <failure>/<error> whose text is kept, 0 when none */
	int have_msg;	   /* the case's message comes from its first failure/error */
	struct cm_buf msg; /* raw message: attribute, then the start of the text */
	enum stop stop;
	char why[256];
};

void ag_tests_init(struct ag_tests *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
}

static void case_free(Cipulse__V1__TestCase *c)
{
	if (c)
		protobuf_c_message_free_unpacked(&c->base, NULL);
}

void ag_tests_release(struct ag_tests *t)
{
	for (size_t i = 0; i < t->n; i++)
		case_free(t->cases[i]);
	free(t->cases);
	t->cases = NULL;
	t->n = t->cap = 0;
}

/* The value of attribute `name`, or NULL. */
static const char *attr(const XML_Char **atts, const char *name)
{
	for (size_t i = 0; atts[i]; i += 2) {
		if (strcmp(atts[i], name) == 0)
			return atts[i + 1];
	}
	return NULL;
}

/* A copy of s cut to AG_JUNIT_FIELD_MAX bytes at a character boundary ("" for NULL). */
static char *field_dup(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return strndup(s ? s : "", ag_utf8_prefix(s ? s : "", n, AG_JUNIT_FIELD_MAX));
}

/* Seconds as JUnit writes them ("0.012", Surefire's "1,234.5") in microseconds; 0 if bad. */
static int64_t time_us(const char *s)
{
	char buf[64], *end;
	size_t k = 0;
	double v;

	if (!s)
		return 0;
	for (; *s && k < sizeof(buf) - 1; s++) {
		if (*s != ',')
			buf[k++] = *s;
	}
	buf[k] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end == buf || errno || !isfinite(v) || v < 0 || v > TIME_MAX)
		return 0;
	return (int64_t)llround(v * 1e6);
}

/* Ends the document early; the first reason given is the one reported. */
static void stop(struct jp *j, enum stop why, const char *msg)
{
	if (j->stop != STOP_NONE)
		return;
	j->stop = why;
	snprintf(j->why, sizeof(j->why), "%s", msg);
	XML_StopParser(j->p, XML_FALSE);
}

static void start_case(struct jp *j, const XML_Char **atts)
{
	Cipulse__V1__TestCase *c = calloc(1, sizeof(*c));
	int top = j->nsuites < SUITE_DEPTH ? j->nsuites : SUITE_DEPTH;
	const char *suite = top ? j->suite[top - 1] : "";

	if (!c) {
		stop(j, STOP_NOMEM, "out of memory");
		return;
	}
	cipulse__v1__test_case__init(c);
	c->suite = strdup(suite);
	c->class_name = field_dup(attr(atts, "classname"));
	c->name = field_dup(attr(atts, "name"));
	c->file = field_dup(attr(atts, "file"));
	c->message = NULL;
	c->duration_us = time_us(attr(atts, "time"));
	c->result = CIPULSE__V1__TEST_RESULT__TEST_RESULT_PASSED;
	if (!c->suite || !c->class_name || !c->name || !c->file) {
		case_free(c);
		stop(j, STOP_NOMEM, "out of memory");
		return;
	}
	j->cur = c;
	j->case_depth = j->depth;
	j->have_msg = 0;
	cm_buf_reset(&j->msg);
}

/* Keeps the start of s[0..n) in the raw message; the rest is dropped (fixed memory). */
static void msg_add(struct jp *j, const char *s, size_t n)
{
	size_t room = j->msg.max - 1 - j->msg.len;

	if (n > room)
		n = room;
	if (n && cm_buf_add(&j->msg, s, n))
		stop(j, STOP_NOMEM, "out of memory");
}

/* <failure>, <error>, <skipped> and the retry elements inside a <testcase>. */
static void case_child(struct jp *j, const char *el, const XML_Char **atts)
{
	Cipulse__V1__TestCase *c = j->cur;
	int failure = strcmp(el, "failure") == 0, error = strcmp(el, "error") == 0;

	if (failure || error) {
		const char *m = attr(atts, "message");

		/* The first failure or error decides (over <skipped>); a second adds nothing. */
		if (j->have_msg)
			return;
		c->result = failure ? CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED
				    : CIPULSE__V1__TEST_RESULT__TEST_RESULT_ERROR;
		j->have_msg = 1;
		if (m && *m) {
			msg_add(j, m, strlen(m));
			msg_add(j, "\n", 1);
		}
		j->msg_depth = j->depth;
	} else if (strcmp(el, "skipped") == 0) {
		if (c->result == CIPULSE__V1__TEST_RESULT__TEST_RESULT_PASSED)
			c->result = CIPULSE__V1__TEST_RESULT__TEST_RESULT_SKIPPED;
	} else if (strcmp(el, "flakyFailure") == 0 || strcmp(el, "flakyError") == 0 ||
		   strcmp(el, "rerunFailure") == 0 || strcmp(el, "rerunError") == 0) {
		/*
		 * Surefire and nextest: each is an attempt that failed before the final one;
		 * flaky* when the test passed in the end, rerun* when it kept failing (the
		 * <failure>/<error> beside them gives the result).
		 */
		if (c->retries < RETRIES_MAX)
			c->retries++;
	}
}

static void XMLCALL on_start(void *ud, const XML_Char *el, const XML_Char **atts)
{
	struct jp *j = ud;

	j->depth++;
	if (j->cur) {
		if (j->depth == j->case_depth + 1)
			case_child(j, el, atts);
		return;
	}
	if (strcmp(el, "testsuite") == 0) {
		const char *name = attr(atts, "name");

		if (j->nsuites < SUITE_DEPTH) {
			size_t n = name ? strlen(name) : 0;

			n = ag_utf8_prefix(name ? name : "", n, AG_JUNIT_FIELD_MAX);
			memcpy(j->suite[j->nsuites], name ? name : "", n);
			j->suite[j->nsuites][n] = '\0';
		}
		j->nsuites++;
	} else if (strcmp(el, "testcase") == 0) {
		if (j->t->n >= j->t->max) {
			char msg[128];

			snprintf(msg, sizeof(msg), "more than %zu test cases (CIPULSE_MAX_TESTS)",
				 j->t->max);
			stop(j, STOP_LIMIT, msg);
			return;
		}
		start_case(j, atts);
	}
}

static void end_case(struct jp *j)
{
	Cipulse__V1__TestCase *c = j->cur;
	struct ag_tests *t = j->t;
	struct cm_buf clean = CM_BUF_INIT(3 * (AG_JUNIT_MESSAGE_MAX + MESSAGE_SLACK) + 16);
	int cut, rc = CM_OK;

	j->cur = NULL;
	j->case_depth = 0;
	j->msg_depth = 0;
	if (j->have_msg) {
		size_t len = j->msg.len;

		/* A message attribute without text leaves the "\n" that would have separated. */
		if (len && j->msg.data[len - 1] == '\n')
			len--;
		rc = ag_text_head(j->msg.data ? j->msg.data : "", len, AG_JUNIT_MESSAGE_MAX,
				  j->o->secrets, &clean, &cut);
	}
	if (rc == CM_OK) {
		c->message = strdup(cm_buf_str(&clean));
		if (!c->message)
			rc = CM_ENOMEM;
	}
	cm_buf_release(&clean);
	if (rc == CM_OK &&
	    t->wire + cipulse__v1__test_case__get_packed_size(c) + 8 > AG_TESTS_WIRE_MAX) {
		case_free(c);
		stop(j, STOP_LIMIT,
		     "test cases over 16 MiB in one report (failure messages); the "
		     "rest is left out");
		return;
	}
	if (rc == CM_OK && t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		Cipulse__V1__TestCase **v = realloc(t->cases, cap * sizeof(*v));

		if (!v)
			rc = CM_ENOMEM;
		else {
			t->cases = v;
			t->cap = cap;
		}
	}
	if (rc) {
		case_free(c);
		stop(j, STOP_NOMEM, "out of memory");
		return;
	}
	t->wire += cipulse__v1__test_case__get_packed_size(c) + 8;
	t->cases[t->n++] = c;
}

static void XMLCALL on_end(void *ud, const XML_Char *el)
{
	struct jp *j = ud;

	if (j->cur && j->depth == j->case_depth) {
		end_case(j);
	} else if (j->msg_depth && j->depth == j->msg_depth) {
		j->msg_depth = 0;
	} else if (!j->cur && strcmp(el, "testsuite") == 0 && j->nsuites > 0) {
		j->nsuites--;
	}
	j->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct jp *j = ud;

	/* Only the failure text is kept: <system-out> and the like may be huge. */
	if (j->msg_depth && j->depth == j->msg_depth && len > 0)
		msg_add(j, s, (size_t)len);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	struct jp *j = ud;

	if (has_internal_subset)
		stop(j, STOP_REFUSED, "a DOCTYPE with an internal subset is refused");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int param, const XML_Char *value,
				   int value_len, const XML_Char *base, const XML_Char *sysid,
				   const XML_Char *pubid, const XML_Char *notation)
{
	stop(ud, STOP_REFUSED, "entity declarations are refused");
}

static int XMLCALL on_external(XML_Parser p, const XML_Char *context, const XML_Char *base,
			       const XML_Char *sysid, const XML_Char *pubid)
{
	/* Returning an error makes libexpat fail with XML_ERROR_EXTERNAL_ENTITY_HANDLING. */
	return XML_STATUS_ERROR;
}

static int jp_init(struct jp *j, struct ag_tests *t, const struct ag_junit_opts *o, int utf8)
{
	memset(j, 0, sizeof(*j));
	j->t = t;
	j->o = o;
	cm_buf_init(&j->msg, AG_JUNIT_MESSAGE_MAX + MESSAGE_SLACK + 1);
	/* Input already made valid UTF-8 is read as such, whatever its declaration says. */
	j->p = XML_ParserCreate_MM(utf8 ? "UTF-8" : NULL, &mm, NULL);
	if (!j->p)
		return CM_ENOMEM;
	XML_SetUserData(j->p, j);
	XML_SetElementHandler(j->p, on_start, on_end);
	XML_SetCharacterDataHandler(j->p, on_text);
	XML_SetStartDoctypeDeclHandler(j->p, on_doctype);
	XML_SetEntityDeclHandler(j->p, on_entity_decl);
	XML_SetExternalEntityRefHandler(j->p, on_external);
	XML_SetParamEntityParsing(j->p, XML_PARAM_ENTITY_PARSING_NEVER);
	return CM_OK;
}

static void jp_release(struct jp *j)
{
	case_free(j->cur);
	j->cur = NULL;
	if (j->p)
		XML_ParserFree(j->p);
	j->p = NULL;
	cm_buf_release(&j->msg);
}

/* 1 when the document is UTF-16 (a BOM, or '<' as a 16-bit unit): fed to libexpat as it is. */
static int is_utf16(const unsigned char *s, size_t n)
{
	if (n < 2)
		return 0;
	return (s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF) ||
	       (s[0] == 0 && s[1] == '<') || (s[0] == '<' && s[1] == 0);
}

/* Length of s[0..n) without a UTF-8 sequence left incomplete at its end (kept for later). */
static size_t complete_utf8(const char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char b = (unsigned char)s[n - back];
		size_t need;

		if ((b & 0xC0) == 0x80)
			continue;
		need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
		return need > back ? n - back : n;
	}
	return n;
}

/*
 * Appends s[0..n) to out as text XML 1.0 accepts: cm_text_sanitize's UTF-8 (NULs removed,
 * bad sequences U+FFFD), then the control characters XML forbids replaced by U+FFFD too.
 */
static int clean_chunk(struct cm_buf *out, struct cm_buf *tmp, const char *s, size_t n)
{
	size_t from = 0;
	int rc;

	cm_buf_reset(tmp);
	rc = cm_text_sanitize(tmp, s, n);
	for (size_t i = 0; rc == CM_OK && i < tmp->len; i++) {
		unsigned char b = (unsigned char)tmp->data[i];

		if (b >= 0x20 || b == '\t' || b == '\n' || b == '\r')
			continue;
		rc = cm_buf_add(out, tmp->data + from, i - from);
		if (rc == CM_OK)
			rc = cm_buf_adds(out, "\xEF\xBF\xBD");
		from = i + 1;
	}
	if (rc == CM_OK)
		rc = cm_buf_add(out, tmp->data ? tmp->data + from : "", tmp->len - from);
	return rc;
}

/* The reading side of one document: raw bytes in, cleaned chunks to libexpat. */
struct feed {
	struct jp j;
	int raw; /* UTF-16: not cleaned */
	int started;
	char hold[4]; /* an incomplete UTF-8 sequence carried to the next chunk */
	size_t nhold;
	struct cm_buf in;  /* hold + chunk */
	struct cm_buf out; /* cleaned */
	struct cm_buf tmp;
};

static int feed_init(struct feed *f, struct ag_tests *t, const struct ag_junit_opts *o,
		     const char *first, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->raw = is_utf16((const unsigned char *)first, n);
	cm_buf_init(&f->in, CHUNK + 8);
	cm_buf_init(&f->out, 3 * (CHUNK + 8) + 16);
	cm_buf_init(&f->tmp, 3 * (CHUNK + 8) + 16);
	return jp_init(&f->j, t, o, !f->raw);
}

static void feed_release(struct feed *f)
{
	jp_release(&f->j);
	cm_buf_release(&f->in);
	cm_buf_release(&f->out);
	cm_buf_release(&f->tmp);
}

/* Hands s[0..n) (at most CHUNK bytes) to the parser; `last` ends the document. */
static int feed_add(struct feed *f, const char *s, size_t n, int last)
{
	const char *p = s;
	size_t len = n;
	int rc;

	if (!f->raw) {
		size_t keep;

		cm_buf_reset(&f->in);
		cm_buf_reset(&f->out);
		rc = cm_buf_add(&f->in, f->hold, f->nhold);
		if (rc == CM_OK)
			rc = cm_buf_add(&f->in, s, n);
		if (rc)
			return rc;
		keep = last ? f->in.len : complete_utf8(f->in.data ? f->in.data : "", f->in.len);
		f->nhold = f->in.len - keep;
		memcpy(f->hold, f->in.data + keep, f->nhold);
		rc = clean_chunk(&f->out, &f->tmp, f->in.data ? f->in.data : "", keep);
		if (rc)
			return rc;
		p = f->out.data ? f->out.data : "";
		len = f->out.len;
	}
	if (XML_Parse(f->j.p, p, (int)len, last) != XML_STATUS_OK) {
		if (f->j.stop == STOP_NONE) {
			enum XML_Error e = XML_GetErrorCode(f->j.p);

			f->j.stop = e == XML_ERROR_NO_MEMORY ? STOP_LIMIT : STOP_REFUSED;
			snprintf(f->j.why, sizeof(f->j.why), "%s at line %lu%s",
				 e == XML_ERROR_EXTERNAL_ENTITY_HANDLING
				     ? "external entities are refused"
				     : XML_ErrorString(e),
				 (unsigned long)XML_GetCurrentLineNumber(f->j.p),
				 e == XML_ERROR_NO_MEMORY ? " (over the parser's memory limit)"
							  : "");
		}
		return CM_EPROTO;
	}
	return CM_OK;
}

/* What a stopped or failed document means for the caller. */
static int feed_result(struct feed *f, const char *name, int rc, char *why, size_t whysize)
{
	if (rc == CM_OK && f->j.stop == STOP_NONE)
		return CM_OK;
	if (f->j.stop == STOP_NOMEM || rc == CM_ENOMEM)
		return CM_ENOMEM;
	f->j.t->truncated = 1;
	snprintf(why, whysize, "test results \"%.300s\" not read whole: %s", name,
		 f->j.why[0] ? f->j.why : cm_strerror(rc));
	return f->j.stop == STOP_LIMIT || rc == CM_ETOOBIG ? CM_ETOOBIG : CM_EPROTO;
}

int ag_junit_parse(struct ag_tests *t, const char *name, const char *data, size_t n,
		   const struct ag_junit_opts *o, char *why, size_t whysize)
{
	struct feed f;
	size_t off = 0;
	int rc;

	rc = feed_init(&f, t, o, data, n);
	while (rc == CM_OK) {
		size_t k = n - off < CHUNK ? n - off : CHUNK;

		rc = feed_add(&f, data + off, k, off + k == n);
		off += k;
		if (off == n)
			break;
	}
	rc = feed_result(&f, name, rc, why, whysize);
	feed_release(&f);
	return rc;
}

/* read(2) of at most `want` bytes, again after EINTR. */
static ssize_t read_some(int fd, char *buf, int64_t want)
{
	ssize_t n;

	if (want <= 0)
		return 0;
	do
		n = read(fd, buf, (size_t)(want < CHUNK ? want : CHUNK));
	while (n < 0 && errno == EINTR);
	return n;
}

int ag_junit_read_file(struct ag_tests *t, const char *path, const struct ag_junit_opts *o,
		       char *why, size_t whysize)
{
	int64_t room = o->max_file_bytes, total_room = o->max_total_bytes - t->bytes;
	struct feed f;
	struct stat st;
	char *buf, probe;
	ssize_t n;
	int fd, rc;

	/* O_NONBLOCK: a FIFO named by a glob must not hang the agent; only regular files count. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(why, whysize, "could not read test results \"%.300s\": %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return CM_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysize, "test results \"%.300s\" is not a regular file", path);
		close(fd);
		return CM_EIO;
	}
	if (total_room < room)
		room = total_room;
	buf = malloc(CHUNK);
	if (!buf) {
		close(fd);
		return CM_ENOMEM;
	}
	n = read_some(fd, buf, room);
	rc = feed_init(&f, t, o, buf, n > 0 ? (size_t)n : 0);
	while (rc == CM_OK) {
		if (n < 0) {
			f.j.stop = STOP_REFUSED;
			snprintf(f.j.why, sizeof(f.j.why), "read error: %s", strerror(errno));
			break;
		}
		room -= n;
		t->bytes += n;
		if (n == 0) {
			/* The budget is used up and the file goes on: cut it here. */
			if (room <= 0 && read(fd, &probe, 1) > 0) {
				f.j.stop = STOP_LIMIT;
				snprintf(f.j.why, sizeof(f.j.why),
					 "over %lld bytes (%s); the rest is left out",
					 (long long)(o->max_file_bytes <= total_room
							 ? o->max_file_bytes
							 : o->max_total_bytes),
					 o->max_file_bytes <= total_room
					     ? "CIPULSE_TEST_FILE_BYTES"
					     : "CIPULSE_TEST_REPORT_BYTES");
				break;
			}
			rc = feed_add(&f, "", 0, 1);
			break;
		}
		rc = feed_add(&f, buf, (size_t)n, 0);
		if (rc == CM_OK)
			n = read_some(fd, buf, room);
	}
	rc = feed_result(&f, path, rc, why, whysize);
	feed_release(&f);
	free(buf);
	close(fd);
	return rc;
}

/* 1 when path is one of seen[0..n). */
static int seen_before(char **seen, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(seen[i], path) == 0)
			return 1;
	}
	return 0;
}

int ag_junit_read_globs(struct ag_tests *t, const char *globs, const char *base,
			const struct ag_junit_opts *o)
{
	const char *p = globs ? globs : "", *s;
	char **seen = NULL, why[512];
	size_t nseen = 0, len;
	int rc = CM_OK;

	while (rc != CM_ENOMEM && (s = cm_list_next(&p, &len))) {
		char pat[4096];
		glob_t g;
		int n, grc;

		if (*s != '/' && base && *base)
			n = snprintf(pat, sizeof(pat), "%s/%.*s", base, (int)len, s);
		else
			n = snprintf(pat, sizeof(pat), "%.*s", (int)len, s);
		if (n < 0 || (size_t)n >= sizeof(pat))
			continue;
		grc = glob(pat, 0, NULL, &g);
		if (grc == GLOB_NOSPACE) {
			rc = CM_ENOMEM;
			break;
		}
		if (grc || g.gl_pathc == 0) {
			snprintf(why, sizeof(why), "test results: no file matches \"%.300s\"", pat);
			ag_warn(why);
			if (grc == 0)
				globfree(&g);
			continue;
		}
		for (size_t i = 0; i < g.gl_pathc && rc != CM_ENOMEM; i++) {
			const char *path = g.gl_pathv[i];
			char **v;

			if (seen_before(seen, nseen, path))
				continue;
			v = realloc(seen, (nseen + 1) * sizeof(*v));
			if (!v || !(v[nseen] = strdup(path))) {
				seen = v ? v : seen;
				rc = CM_ENOMEM;
				break;
			}
			seen = v;
			nseen++;
			if (t->n >= t->max || t->bytes >= o->max_total_bytes) {
				t->truncated = 1;
				snprintf(
				    why, sizeof(why),
				    "test results \"%.300s\" left out: the report's limit "
				    "(CIPULSE_MAX_TESTS, CIPULSE_TEST_REPORT_BYTES) is reached",
				    path);
				ag_warn(why);
				continue;
			}
			rc = ag_junit_read_file(t, path, o, why, sizeof(why));
			if (rc == CM_ENOMEM)
				break;
			if (rc)
				ag_warn(why);
			else
				cm_log_info("junit", "read test results file=%s tests=%zu", path,
					    t->n);
			rc = CM_OK;
		}
		globfree(&g);
	}
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	return rc;
}
