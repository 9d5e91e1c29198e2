/*
 * `cipulsed github-app manifest --url URL [--name NAME] [--org ORG]`: the GitHub App manifest
 * (docs.github.com: "Registering a GitHub App from a manifest") with exactly what cipulse uses:
 *
 *   permissions  actions: read   the runs and jobs endpoints the poller and backfill call
 *                metadata: read  GET /repos/{owner}/{name} (the default branch); GitHub grants
 *                                it to every app anyway
 *   events       workflow_run, workflow_job: what the webhook receiver stores. installation
 *                and installation_repositories reach every app without a subscription (GitHub
 *                refuses them in default_events); the receiver handles them too.
 *
 * tests/integration/test_github_app.py holds both lists to the endpoints the collector really
 * calls and the events the receiver really handles.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "github/app.h"

#define WEBHOOK_PATH "/webhook/github"
/* Where "Sign in with GitHub" comes back to (api/github_signin.c). */
#define CALLBACK_PATH "/api/v1/auth/github/callback"

static int usage(void)
{
	fprintf(stderr, "cipulsed: usage: github-app manifest --url https://cipulse.example.com "
			"[--name NAME] [--org ORG]\n");
	return 2;
}

static json_t *manifest(const char *url, const char *name)
{
	char hook[2048], callback[2048], redirect[2048];
	json_t *m;

	snprintf(hook, sizeof(hook), "%s%s", url, WEBHOOK_PATH);
	snprintf(callback, sizeof(callback), "%s%s", url, CALLBACK_PATH);
	snprintf(redirect, sizeof(redirect), "%s/", url);
	m = json_pack("{s:s, s:s, s:{s:s, s:b}, s:s, s:[s], s:b, s:{s:s, s:s}, s:[s, s], s:b}",
		      "name", name, "url", url, "hook_attributes", "url", hook, "active", 1,
		      "redirect_url", redirect, "callback_urls", callback, "public", 0,
		      "default_permissions", "actions", "read", "metadata", "read",
		      "default_events", "workflow_run", "workflow_job", "request_oauth_on_install",
		      0);
	return m;
}

int col_gh_app_command(int argc, char **argv)
{
	const char *url = NULL, *name = "cipulse", *org = NULL;
	char base[1024];
	size_t len;
	json_t *m;
	char *text;

	if (argc < 1 || strcmp(argv[0], "manifest"))
		return usage();
	for (int i = 1; i < argc; i++) {
		const char **slot = !strcmp(argv[i], "--url")	 ? &url
				    : !strcmp(argv[i], "--name") ? &name
				    : !strcmp(argv[i], "--org")	 ? &org
								 : NULL;

		if (!slot || i + 1 >= argc) {
			fprintf(stderr,
				"cipulsed: github-app manifest: unknown or incomplete option "
				"\"%s\"\n",
				argv[i]);
			return 2;
		}
		*slot = argv[++i];
	}
	if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) ||
	    strlen(url) >= sizeof(base) || strpbrk(url, " \t\r\n\"?#")) {
		fprintf(stderr, "cipulsed: github-app manifest: --url must be the collector's "
				"public http(s) address, e.g. https://cipulse.example.com\n");
		return 2;
	}
	if (!*name || strlen(name) > 34) {
		fprintf(stderr, "cipulsed: github-app manifest: --name must be 1 to 34 characters "
				"(GitHub's limit for app names)\n");
		return 2;
	}
	snprintf(base, sizeof(base), "%s", url);
	len = strlen(base);
	while (len && base[len - 1] == '/')
		base[--len] = '\0';
	m = manifest(base, name);
	text = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(m);
	if (!text) {
		fprintf(stderr, "cipulsed: github-app manifest: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	/* Where to send it: stderr, so that stdout stays the JSON alone. */
	if (org)
		fprintf(stderr,
			"Register it: POST it as the form field \"manifest\" to "
			"https://github.com/organizations/%s/settings/apps/new "
			"(docs/operations.md, \"GitHub App\").\n",
			org);
	else
		fprintf(stderr, "Register it: POST it as the form field \"manifest\" to "
				"https://github.com/settings/apps/new "
				"(docs/operations.md, \"GitHub App\").\n");
	return 0;
}
