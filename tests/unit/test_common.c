/* Unit tests of the common library: buffers, text hygiene, times, crypto, settings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cm_buf.h"
#include "cm_config.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_json.h"
#include "cm_text.h"
#include "cm_time.h"

static void buf_respects_max(void **state)
{
	struct cm_buf b = CM_BUF_INIT(8);

	assert_int_equal(cm_buf_adds(&b, "12345678"), CM_OK);
	assert_int_equal(cm_buf_addc(&b, '9'), CM_ETOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(cm_buf_str(&b), "12345678");
	cm_buf_reset(&b);
	assert_int_equal(cm_buf_addf(&b, "%d-%s", 42, "xy"), CM_OK);
	assert_string_equal(cm_buf_str(&b), "42-xy");
	assert_int_equal(cm_buf_addf(&b, "%s", "toolong"), CM_ETOOBIG);
	assert_string_equal(cm_buf_str(&b), "42-xy");
	cm_buf_release(&b);
	assert_null(b.data);
	assert_string_equal(cm_buf_str(&b), "");
}

static void sanitize_replaces_invalid_utf8_and_drops_nul(void **state)
{
	struct cm_buf b = CM_BUF_INIT(1024);
	/* valid "é", NUL, lone continuation byte, overlong '/', truncated 3-byte sequence. */
	const char in[] = "a\xC3\xA9"
			  "b\0c\x80"
			  "d\xC0\xAF"
			  "e\xE2\x82";

	assert_int_equal(cm_text_sanitize(&b, in, sizeof(in) - 1), CM_OK);
	assert_string_equal(cm_buf_str(&b), "a\xC3\xA9"
					    "bc\xEF\xBF\xBD"
					    "d\xEF\xBF\xBD\xEF\xBF\xBD"
					    "e\xEF\xBF\xBD\xEF\xBF\xBD");
	assert_true(cm_text_valid_utf8(b.data, b.len));
	assert_false(cm_text_valid_utf8("a\0b", 3));
	assert_false(cm_text_valid_utf8("\xED\xA0\x80", 3)); /* surrogate */
	cm_buf_release(&b);
}

static void sanitize_keeps_ansi(void **state)
{
	struct cm_buf b = CM_BUF_INIT(1024);
	const char in[] = "\x1b[31mred\x1b[0m";

	assert_int_equal(cm_text_sanitize(&b, in, sizeof(in) - 1), CM_OK);
	assert_string_equal(cm_buf_str(&b), in);
	cm_buf_release(&b);
}

static void repo_names_by_githubs_rules(void **state)
{
	char longest[160], too_long[160];
	const char *good[] = { "a-b/c_d.e", "octo/hello-world", "A1/.github", "o/..x", "o/x.." };
	const char *bad[] = { "",
			      "octo",
			      "/x",
			      "o/",
			      "a/b/c",
			      "a/b'",
			      "octo/..",
			      "octo/.",
			      "o/wid|gets",
			      "o/widgets (-7)",
			      "o r/x",
			      "o/x ",
			      "o_x/y",
			      too_long,
			      "o/w\xc3\xaf"
			      "dgets" };

	/* 39 + 1 + 100 characters is the longest; one more is too long. */
	memset(longest, 'a', 39);
	longest[39] = '/';
	memset(longest + 40, 'b', 100);
	longest[140] = '\0';
	memcpy(too_long, longest, 141);
	strcat(too_long, "b");
	assert_true(cm_repo_name_valid(longest));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(cm_repo_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(cm_repo_name_valid(bad[i]));
	assert_false(cm_repo_name_valid(NULL));
	assert_int_equal(cm_repo_name_prefix("octo/hello/runs"), 10);
	assert_int_equal(cm_repo_name_prefix("octo/hello?x"), 0);
}

static void mask_secrets(void **state)
{
	struct cm_buf b = CM_BUF_INIT(1024);
	const char *secrets[] = { "s3cr3t-token", "abc", NULL };

	assert_int_equal(cm_buf_adds(&b, "token=s3cr3t-token and again s3cr3t-token; abc stays"),
			 CM_OK);
	assert_int_equal(cm_text_mask(&b, secrets, 3), CM_OK);
	assert_string_equal(cm_buf_str(&b), "token=*** and again ***; abc stays");
	cm_buf_release(&b);
}

static void iso8601(void **state)
{
	int64_t ms = 0;
	char out[32];

	assert_int_equal(cm_time_parse_iso8601("2019-08-08T22:04:13Z", &ms), CM_OK);
	assert_int_equal(ms, 1565301853000LL);
	assert_int_equal(cm_time_parse_iso8601("2019-08-08T22:04:13.250Z", &ms), CM_OK);
	assert_int_equal(ms, 1565301853250LL);
	assert_int_equal(cm_time_parse_iso8601("2019-08-09T00:04:13+02:00", &ms), CM_OK);
	assert_int_equal(ms, 1565301853000LL);
	assert_int_equal(cm_time_parse_iso8601("2019-02-30T00:00:00Z", &ms), CM_EINVAL);
	assert_int_equal(cm_time_parse_iso8601("2019-08-08 22:04", &ms), CM_EINVAL);
	assert_int_equal(cm_time_parse_iso8601("2019-08-08T22:04:13", &ms), CM_EINVAL);
	cm_time_format_iso8601(1565301853250LL, out, sizeof(out));
	assert_string_equal(out, "2019-08-08T22:04:13.250Z");
	assert_int_equal(cm_time_parse_duration("90s", &ms), CM_OK);
	assert_int_equal(ms, 90000);
	assert_int_equal(cm_time_parse_duration("7d", &ms), CM_OK);
	assert_int_equal(ms, 7LL * 86400000);
	assert_int_equal(cm_time_parse_duration("-1s", &ms), CM_EINVAL);
	assert_int_equal(cm_time_parse_duration("5 weeks", &ms), CM_EINVAL);
}

static void github_signature_vector(void **state)
{
	/* GitHub's documented test vector for X-Hub-Signature-256. */
	const char *secret = "It's a Secret to Everybody", *body = "Hello, World!";
	const char *sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	char out[72];

	cm_hmac_sha256_header(secret, body, strlen(body), out);
	assert_string_equal(out, sig);
	assert_int_equal(cm_hmac_sha256_verify(secret, body, strlen(body), sig), CM_OK);
	assert_int_equal(cm_hmac_sha256_verify(secret, "Hello, World?", 13, sig), CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify("other", body, strlen(body), sig), CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify(secret, body, strlen(body), "sha256=00"), CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify(secret, body, strlen(body), NULL), CM_EAUTH);
}

static void pkce_s256_vector(void **state)
{
	/* RFC 7636, appendix B: the code_verifier and its S256 code_challenge. */
	const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	char out[48], small[4];

	cm_sha256_base64url(verifier, strlen(verifier), out);
	assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	/* Unpadded base64url: '-' and '_' for '+' and '/', no '='. */
	assert_int_equal(cm_base64url("\xfb\xff", 2, out, sizeof(out)), 3);
	assert_string_equal(out, "-_8");
	assert_int_equal(cm_base64url("abcd", 4, small, sizeof(small)), 0);
}

static void tokens_are_random_and_shaped(void **state)
{
	char a[64], b[64], uuid[37];

	assert_int_equal(cm_random_token("cip_", a, sizeof(a)), CM_OK);
	assert_int_equal(cm_random_token("cip_", b, sizeof(b)), CM_OK);
	assert_int_equal(strlen(a), 44);
	assert_memory_equal(a, "cip_", 4);
	assert_string_not_equal(a, b);
	assert_int_equal(cm_random_token("cip_", a, 20), CM_EINVAL);
	assert_int_equal(cm_random_uuid(uuid), CM_OK);
	assert_int_equal(strlen(uuid), 36);
	assert_int_equal(uuid[14], '4');
}

static void json_escaping(void **state)
{
	struct cm_buf b = CM_BUF_INIT(1024);

	cm_json_add_string(&b, "a\"b\\c\n\x01");
	assert_string_equal(cm_buf_str(&b), "\"a\\\"b\\\\c\\n\\u0001\"");
	cm_buf_release(&b);
}

struct settings {
	char *name;
	long count;
	int flag;
	char *mode;
	long wait_ms;
};

static const struct cm_opt opts[] = {
	{ "name", "T_NAME", CM_OPT_STRING, "dflt", offsetof(struct settings, name), 0, 0, NULL, 0,
	  "a name" },
	{ "count", "T_COUNT", CM_OPT_INT, "3", offsetof(struct settings, count), 1, 10, NULL, 0,
	  "a count" },
	{ "flag", "T_FLAG", CM_OPT_BOOL, "0", offsetof(struct settings, flag), 0, 0, NULL, 0,
	  "a flag" },
	{ "mode", "T_MODE", CM_OPT_ENUM, "a", offsetof(struct settings, mode), 0, 0, "a|b", 0,
	  "a mode" },
	{ "wait", "T_WAIT", CM_OPT_DURATION, "1s", offsetof(struct settings, wait_ms), 0, 0, NULL,
	  0, "a wait" },
};

static void config_precedence_and_errors(void **state)
{
	struct cm_buf err = CM_BUF_INIT(1024);
	struct settings s;
	char *argv[] = { "prog", "--count=7", "--flag", "--mode", "b", "run", "--x", NULL };
	int argi = 0, help = 0;

	memset(&s, 0, sizeof(s));
	setenv("T_NAME", "from-env", 1);
	setenv("T_COUNT", "5", 1);
	unsetenv("T_FLAG");
	assert_int_equal(cm_config_load(opts, 5, &s, 7, argv, &argi, &help, &err), CM_OK);
	assert_string_equal(s.name, "from-env");
	assert_int_equal(s.count, 7);
	assert_int_equal(s.flag, 1);
	assert_string_equal(s.mode, "b");
	assert_int_equal(s.wait_ms, 1000);
	assert_int_equal(argi, 5); /* stops at the command */
	cm_config_free(opts, 5, &s);

	setenv("T_COUNT", "11", 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cm_config_load(opts, 5, &s, 1, argv, &argi, &help, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "T_COUNT"));
	assert_non_null(strstr(cm_buf_str(&err), "out of range"));
	cm_config_free(opts, 5, &s);
	unsetenv("T_COUNT");

	char *bad[] = { "prog", "--nope=1", NULL };

	cm_buf_reset(&err);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cm_config_load(opts, 5, &s, 2, bad, &argi, &help, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "unknown option \"--nope\""));
	cm_config_free(opts, 5, &s);

	char *badmode[] = { "prog", "--mode=c", NULL };

	cm_buf_reset(&err);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cm_config_load(opts, 5, &s, 2, badmode, &argi, &help, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "--mode"));
	cm_config_free(opts, 5, &s);
	unsetenv("T_NAME");
	cm_buf_release(&err);
}

/* --help and --version are reported, not parsed as settings; help wins over version. */
static void config_help_and_version(void **state)
{
	struct cm_buf err = CM_BUF_INIT(1024);
	struct settings s;
	char *version[] = { "prog", "--count=2", "--version", NULL };
	char *both[] = { "prog", "--version", "-h", NULL };
	char *after[] = { "prog", "run", "--version", NULL };
	int argi = 0, help = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(cm_config_load(opts, 5, &s, 3, version, &argi, &help, &err), CM_OK);
	assert_int_equal(help, CM_CONFIG_VERSION);
	assert_int_equal(s.count, 2);
	cm_config_free(opts, 5, &s);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cm_config_load(opts, 5, &s, 3, both, &argi, &help, &err), CM_OK);
	assert_int_equal(help, CM_CONFIG_HELP);
	cm_config_free(opts, 5, &s);
	/* After the command it is the command's argument. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cm_config_load(opts, 5, &s, 3, after, &argi, &help, &err), CM_OK);
	assert_int_equal(help, 0);
	assert_int_equal(argi, 1);
	cm_config_free(opts, 5, &s);
	cm_buf_release(&err);
}

/* A whole file, appended; a file over the maximum fails and leaves the buffer as it was. */
static void buf_read_file(void **state)
{
	char path[] = "/tmp/cipulse-test-buf-XXXXXX";
	char big[20000];
	struct cm_buf b = CM_BUF_INIT(sizeof(big) + 3);
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(close(fd), 0);
	assert_int_equal(cm_buf_adds(&b, "x:"), CM_OK);
	assert_int_equal(cm_buf_read_file(&b, path), CM_OK);
	assert_int_equal(b.len, sizeof(big) + 2);
	assert_memory_equal(b.data + 2, big, sizeof(big));
	assert_int_equal(b.data[b.len], '\0');
	/* Two bytes too many now: refused, nothing appended. */
	assert_int_equal(cm_buf_read_file(&b, path), CM_ETOOBIG);
	assert_int_equal(b.len, sizeof(big) + 2);
	/* Exactly at the maximum is fine, also from a file that does not say its size. */
	cm_buf_reset(&b);
	assert_int_equal(cm_buf_adds(&b, "abc"), CM_OK);
	assert_int_equal(cm_buf_read_file(&b, path), CM_OK);
	assert_int_equal(b.len, b.max);
	cm_buf_reset(&b);
	assert_int_equal(cm_buf_read_file(&b, "/proc/self/cmdline"), CM_OK);
	assert_true(b.len > 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cm_buf_read_file(&b, path), CM_EIO);
	assert_int_equal(errno, ENOENT);
	cm_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_respects_max),
		cmocka_unit_test(buf_read_file),
		cmocka_unit_test(sanitize_replaces_invalid_utf8_and_drops_nul),
		cmocka_unit_test(sanitize_keeps_ansi),
		cmocka_unit_test(mask_secrets),
		cmocka_unit_test(repo_names_by_githubs_rules),
		cmocka_unit_test(iso8601),
		cmocka_unit_test(github_signature_vector),
		cmocka_unit_test(pkce_s256_vector),
		cmocka_unit_test(tokens_are_random_and_shaped),
		cmocka_unit_test(json_escaping),
		cmocka_unit_test(config_precedence_and_errors),
		cmocka_unit_test(config_help_and_version),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
