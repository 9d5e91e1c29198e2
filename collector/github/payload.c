#include "github/payload.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm_text.h"

/* jansson's JSON_PARSER_MAX_DEPTH: a value nested deeper (the top-level value is 1) is refused. */
#define MAX_DEPTH 2048

/* The top-level members kept, and the repository's. */
enum { K_ACTION, K_INSTALLATION, K_WORKFLOW, K_WORKFLOW_JOB, K_WORKFLOW_RUN, K_REPOSITORY, NTOP };
enum { R_ID, R_FULL_NAME, R_HTML_URL, R_DEFAULT_BRANCH, NREPO };

static const char *const top_names[NTOP] = { "action",	     "installation", "workflow",
					     "workflow_job", "workflow_run", "repository" };
static const char *const repo_names[NREPO] = { "id", "full_name", "html_url", "default_branch" };

/* An object key: its raw text between the quotes, and its length and hash once unescaped. */
struct key {
	const char *p;
	size_t raw;
	size_t dec;
	uint64_t h;
	int esc;
};

struct span {
	const char *p;
	size_t n;
};

struct chk {
	const unsigned char *p, *end;
	struct key *keys; /* the keys of the objects open, innermost last */
	size_t nkeys, cap;
	int top_object;
	int repo_object;
	struct span top[NTOP];
	struct span repo[NREPO];
};

static int value(struct chk *c, int depth, int level);

static void ws(struct chk *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int hexval(const unsigned char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char h = p[i];

		*v <<= 4;
		if (h >= '0' && h <= '9')
			*v |= h - '0';
		else if (h >= 'a' && h <= 'f')
			*v |= h - 'a' + 10;
		else if (h >= 'A' && h <= 'F')
			*v |= h - 'A' + 10;
		else
			return -1;
	}
	return 0;
}

static size_t utf8_put(uint32_t v, unsigned char *out)
{
	if (v < 0x80) {
		out[0] = (unsigned char)v;
		return 1;
	}
	if (v < 0x800) {
		out[0] = (unsigned char)(0xC0 | (v >> 6));
		out[1] = (unsigned char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (v >> 12));
		out[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (v & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (v >> 18));
	out[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (v & 0x3F));
	return 4;
}

/*
 * The escape at p (after its backslash, p < end) as UTF-8 into out; *used gets the bytes it
 * took. Returns the bytes written, 0 if the escape is refused.
 */
static size_t unescape(const unsigned char *p, const unsigned char *end, unsigned char *out,
		       size_t *used)
{
	unsigned v, lo;

	*used = 1;
	switch (*p) {
	case '"':
	case '\\':
	case '/':
		out[0] = *p;
		return 1;
	case 'b':
		out[0] = '\b';
		return 1;
	case 'f':
		out[0] = '\f';
		return 1;
	case 'n':
		out[0] = '\n';
		return 1;
	case 'r':
		out[0] = '\r';
		return 1;
	case 't':
		out[0] = '\t';
		return 1;
	case 'u':
		break;
	default:
		return 0;
	}
	if (end - p < 5 || hexval(p + 1, &v))
		return 0;
	*used = 5;
	if (v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
		return 0; /* \u0000 (no JSON_ALLOW_NUL), a low surrogate alone */
	if (v >= 0xD800 && v <= 0xDBFF) {
		if (end - p < 11 || p[5] != '\\' || p[6] != 'u' || hexval(p + 7, &lo) ||
		    lo < 0xDC00 || lo > 0xDFFF)
			return 0;
		*used = 11;
		v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
	}
	return utf8_put(v, out);
}

/* A string at c->p (its quote); into k when k: its key record (hash of the unescaped bytes). */
static int string(struct chk *c, struct key *k)
{
	const unsigned char *start = c->p + 1, *p = start, *end = c->end;
	uint64_t h = 14695981039346656037ull;
	size_t dec = 0;
	int esc = 0;

	for (;;) {
		unsigned char b[4];
		size_t n, used;

		if (p >= end)
			return -1;
		if (*p == '"')
			break;
		if (*p < 0x20)
			return -1;
		if (*p < 0x80 && *p != '\\') {
			b[0] = *p++;
			n = 1;
		} else if (*p == '\\') {
			esc = 1;
			if (p + 1 >= end || !(n = unescape(p + 1, end, b, &used)))
				return -1;
			p += 1 + used;
		} else {
			if (!(n = cm_text_utf8_seq(p, (size_t)(end - p))))
				return -1;
			memcpy(b, p, n);
			p += n;
		}
		if (k) {
			for (size_t i = 0; i < n; i++)
				h = (h ^ b[i]) * 1099511628211ull;
		}
		dec += n;
	}
	if (k) {
		k->p = (const char *)start;
		k->raw = (size_t)(p - start);
		k->dec = dec;
		k->h = h;
		k->esc = esc;
	}
	c->p = p + 1;
	return 0;
}

/* A key's unescaped bytes into out (k->dec of them; the key was checked). */
static void key_text(const struct key *k, unsigned char *out)
{
	const unsigned char *p = (const unsigned char *)k->p, *end = p + k->raw;
	size_t used;

	if (!k->esc) {
		memcpy(out, p, k->raw);
		return;
	}
	while (p < end) {
		if (*p == '\\') {
			out += unescape(p + 1, end, out, &used);
			p += 1 + used;
		} else {
			*out++ = *p++;
		}
	}
}

static int key_is(const struct key *k, const char *name)
{
	unsigned char buf[32];
	size_t n = strlen(name);

	if (k->dec != n || n > sizeof(buf))
		return 0;
	if (!k->esc)
		return !memcmp(k->p, name, n);
	key_text(k, buf);
	return !memcmp(buf, name, n);
}

/* 1 when a and b (same hash and length) are the same key; -1 when out of memory. */
static int key_equal(const struct key *a, const struct key *b)
{
	unsigned char *x, *y;
	int eq;

	if (!a->esc && !b->esc)
		return !memcmp(a->p, b->p, a->dec);
	x = malloc(a->dec + 1);
	y = malloc(b->dec + 1);
	if (!x || !y) {
		free(x);
		free(y);
		return -1;
	}
	key_text(a, x);
	key_text(b, y);
	eq = !memcmp(x, y, a->dec);
	free(x);
	free(y);
	return eq;
}

static int by_hash(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->dec < y->dec ? -1 : x->dec > y->dec;
}

/* Whether the n keys at k hold the same key twice (JSON_REJECT_DUPLICATES): -1 if so. */
static int no_duplicates(struct key *k, size_t n)
{
	if (n < 2)
		return 0;
	if (n <= 8) {
		for (size_t i = 0; i < n; i++) {
			for (size_t j = i + 1; j < n; j++) {
				if (k[i].h == k[j].h && k[i].dec == k[j].dec &&
				    key_equal(&k[i], &k[j]))
					return -1;
			}
		}
		return 0;
	}
	qsort(k, n, sizeof(*k), by_hash);
	/*
	 * Every pair within a run of equal hash and length, not only neighbours: keys that collide
	 * stay in no particular order, so "A", "B", "A" (B colliding with A) would hide the A's.
	 */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n && k[j].h == k[i].h && k[j].dec == k[i].dec; j++) {
			if (key_equal(&k[i], &k[j]))
				return -1;
		}
	}
	return 0;
}

static int push_key(struct chk *c, const struct key *k)
{
	if (c->nkeys == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 128;
		struct key *p = realloc(c->keys, cap * sizeof(*p));

		if (!p)
			return -1;
		c->keys = p;
		c->cap = cap;
	}
	c->keys[c->nkeys++] = *k;
	return 0;
}

/* Which kept member k is in an object of this level (1 the top, 2 its repository), or -1. */
static int kept(int level, const struct key *k)
{
	const char *const *names = level == 1 ? top_names : repo_names;
	int n = level == 1 ? NTOP : NREPO;

	for (int i = 0; i < n; i++) {
		if (key_is(k, names[i]))
			return i;
	}
	return -1;
}

static int object(struct chk *c, int depth, int level)
{
	size_t first = c->nkeys;
	int rc = -1;

	c->p++;
	ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		const unsigned char *v;
		struct key k;
		int which;

		if (c->p >= c->end || *c->p != '"' || string(c, &k) || push_key(c, &k))
			goto out;
		ws(c);
		if (c->p >= c->end || *c->p != ':')
			goto out;
		c->p++;
		ws(c);
		v = c->p;
		which = level ? kept(level, &k) : -1;
		if (value(c, depth + 1, level == 1 && which == K_REPOSITORY ? 2 : 0))
			goto out;
		if (which >= 0) {
			struct span *s = level == 1 ? &c->top[which] : &c->repo[which];

			s->p = (const char *)v;
			s->n = (size_t)(c->p - v);
		}
		ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			ws(c);
			continue;
		}
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			break;
		}
		goto out;
	}
	rc = no_duplicates(c->keys + first, c->nkeys - first);
out:
	c->nkeys = first;
	return rc;
}

static int array(struct chk *c, int depth)
{
	c->p++;
	ws(c);
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		return 0;
	}
	for (;;) {
		if (value(c, depth + 1, 0))
			return -1;
		ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			ws(c);
			continue;
		}
		if (c->p < c->end && *c->p == ']') {
			c->p++;
			return 0;
		}
		return -1;
	}
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* jansson's number: an integer must fit in 64 bits, a real must not overflow a double. */
static int number(struct chk *c)
{
	const unsigned char *s = c->p, *p = s, *end = c->end;
	char small[64], *text = small, *e;
	int real = 0, rc = 0;
	size_t n;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		if (is_digit(++p, end))
			return -1;
	} else if (is_digit(p, end)) {
		while (is_digit(p, end))
			p++;
	} else {
		return -1;
	}
	if (p < end && *p == '.') {
		if (!is_digit(++p, end))
			return -1;
		while (is_digit(p, end))
			p++;
		real = 1;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, end))
			return -1;
		while (is_digit(p, end))
			p++;
		real = 1;
	}
	n = (size_t)(p - s);
	if (n >= sizeof(small) && !(text = malloc(n + 1)))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	errno = 0;
	if (!real) {
		(void)strtoll(text, &e, 10);
		rc = errno == ERANGE ? -1 : 0;
	} else {
		double d = strtod(text, &e);

		rc = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE ? -1 : 0;
	}
	if (text != small)
		free(text);
	c->p = p;
	return rc;
}

static int literal(struct chk *c)
{
	const unsigned char *s = c->p;
	size_t n;

	while (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || (*c->p >= 'A' && *c->p <= 'Z')))
		c->p++;
	n = (size_t)(c->p - s);
	return (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4))) ||
		       (n == 5 && !memcmp(s, "false", 5))
		   ? 0
		   : -1;
}

/* A value at c->p (no white space before it) at this depth; level as for kept(), 0: none. */
static int value(struct chk *c, int depth, int level)
{
	if (depth > MAX_DEPTH || c->p >= c->end)
		return -1;
	switch (*c->p) {
	case '{':
		if (level == 2)
			c->repo_object = 1;
		return object(c, depth, level);
	case '[':
		return array(c, depth);
	case '"':
		return string(c, NULL);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		return number(c);
	default:
		return literal(c);
	}
}

static int check(struct chk *c, const char *text, size_t len)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->p = (const unsigned char *)text;
	c->end = c->p + len;
	ws(c);
	if (c->p >= c->end || (*c->p != '{' && *c->p != '['))
		return -1;
	c->top_object = *c->p == '{';
	rc = value(c, 1, 1);
	ws(c);
	if (!rc && c->p != c->end)
		rc = -1;
	free(c->keys);
	c->keys = NULL;
	return rc;
}

int col_gh_json_check(const char *text, size_t len)
{
	struct chk c;

	return check(&c, text, len);
}

static json_t *load_span(const struct span *s)
{
	return json_loadb(s->p, s->n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

/* The members of n spans (those present) into a new object, NULL if one does not load. */
static json_t *members(const struct span *s, const char *const *names, int n, const struct chk *c)
{
	json_t *o = json_object();

	for (int i = 0; o && i < n; i++) {
		json_t *v;

		if (!s[i].p)
			continue;
		if (names == top_names && i == K_REPOSITORY && c->repo_object)
			v = members(c->repo, repo_names, NREPO, c);
		else
			v = load_span(&s[i]);
		if (!v || json_object_set_new(o, names[i], v)) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

json_t *col_gh_payload_load(const char *text, size_t len, json_error_t *err)
{
	struct chk c;
	json_t *doc = NULL;

	if (!check(&c, text, len) && c.top_object)
		doc = members(c.top, top_names, NTOP, &c);
	/* Refused text (jansson words the error), a top-level array, or out of memory. */
	return doc ? doc : json_loadb(text, len, JSON_REJECT_DUPLICATES, err);
}
