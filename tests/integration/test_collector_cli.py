"""The command lines: --help and --version (both binaries), settings validation, migrate, tokens,
the README reference."""
import os
import re
import subprocess

from harness import AGENT, CIPULSED, ROOT, check_process, run_checked


def run(*args, env=None):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("CIPULSE_"):
            del e[k]
    e.update(env or {})
    return run_checked([CIPULSED] + list(args), env=e, capture_output=True, text=True, timeout=60)


def test_help_lists_every_setting():
    p = run("--help")
    assert p.returncode == 0
    doc = run("config-doc").stdout
    envs = re.findall(r"`(CIPULSE_[A-Z_]+)`", doc)
    assert len(envs) > 20
    for env in envs:
        assert env in p.stdout, env
    for cmd in ("serve", "migrate", "token create"):
        assert cmd in p.stdout


def test_readme_reference_matches_the_option_table():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    m = re.search(r"<!-- config:begin -->\n(.*?)<!-- config:end -->", readme, re.S)
    assert m, "README.md lacks the generated configuration reference"
    assert m.group(1).strip() == run("config-doc").stdout.strip(), \
        "README.md configuration reference is stale: run scripts/gen-config-doc.sh"


def test_bad_settings_stop_startup_naming_the_setting():
    cases = [
        ({"CIPULSE_GRPC_ADDR": "nonsense"}, "CIPULSE_GRPC_ADDR"),
        ({"CIPULSE_LOG_LEVEL": "loud"}, "CIPULSE_LOG_LEVEL"),
        ({"CIPULSE_DB_POOL_SIZE": "0"}, "CIPULSE_DB_POOL_SIZE"),
        ({"CIPULSE_SLACK_WEBHOOK_URL": "ftp://x"}, "CIPULSE_SLACK_WEBHOOK_URL"),
        ({"CIPULSE_POLL_INTERVAL": "soon"}, "CIPULSE_POLL_INTERVAL"),
        ({"CIPULSE_TLS_CERT": "/tmp/x.pem"}, "CIPULSE_TLS_KEY"),
        ({"CIPULSE_REPORT_TIMEOUT": "0s"}, "CIPULSE_REPORT_TIMEOUT"),
        ({"CIPULSE_MAX_INFLIGHT_BYTES": "lots"}, "CIPULSE_MAX_INFLIGHT_BYTES"),
        # A report that could never fit in the budget would be retried forever.
        ({"CIPULSE_MAX_INFLIGHT_BYTES": "1048576", "CIPULSE_MAX_REPORT_BYTES": "2097152"},
         "CIPULSE_MAX_INFLIGHT_BYTES"),
    ]
    for env, name in cases:
        p = run("serve", env=env)
        assert p.returncode == 2, (env, p.stderr)
        assert name in p.stderr, (env, p.stderr)
    p = run("--bogus")
    assert p.returncode == 2 and "--bogus" in p.stderr


def test_secret_values_are_not_echoed_in_errors():
    p = run("serve", env={"CIPULSE_SLACK_WEBHOOK_URL": "hooks.slack.com/services/SECRETPART"})
    assert p.returncode == 2
    assert "SECRETPART" not in p.stderr


def test_migrate_is_idempotent_and_token_create(empty_db):
    db = empty_db
    env = {"CIPULSE_DATABASE_URL": db.url}
    p = run("migrate", env=env)
    assert p.returncode == 0, p.stderr
    first = db.scalar("SELECT count(*) FROM schema_migrations")
    assert first >= 1
    assert run("migrate", env=env).returncode == 0
    assert db.scalar("SELECT count(*) FROM schema_migrations") == first

    p = run("token", "create", "--kind", "ingest", "--repo", "octo/demo", env=env)
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    assert re.fullmatch(r"cip_[0-9A-Za-z]{40}", token)
    rows = db.query("SELECT token_hash, kind, repo_id FROM api_tokens")
    assert len(rows) == 1 and rows[0]["kind"] == "ingest" and rows[0]["repo_id"] < 0
    assert token not in rows[0]["token_hash"]  # stored hashed
    assert db.scalar("SELECT full_name FROM repositories") == "octo/demo"
    # Ingest tokens need a repository; kinds are checked.
    assert run("token", "create", "--kind", "ingest", env=env).returncode == 2
    assert run("token", "create", "--kind", "root", env=env).returncode == 2


def test_migrations_from_two_collectors_at_once(empty_db):
    db = empty_db
    env = {"CIPULSE_DATABASE_URL": db.url}
    e = dict(os.environ, **env)
    procs = [subprocess.Popen([CIPULSED, "migrate"], env=e, stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        p.wait(timeout=60)
        err = p.stderr.read()
        check_process("cipulsed migrate", p.returncode, err)
        assert p.returncode == 0, err
    names = [r["name"] for r in db.query("SELECT name FROM schema_migrations")]
    assert len(names) == len(set(names))


def test_unreachable_database_fails_clearly():
    p = run("migrate", env={"CIPULSE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert p.returncode == 1
    assert "could not connect" in p.stderr


def test_version_on_both_binaries():
    for binary in (CIPULSED, AGENT):
        p = run_checked([binary, "--version"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert re.fullmatch(r"cipulse(d|-agent) \d+\.\d+\.\d+\S*\n", p.stdout), p.stdout
    assert run("version").stdout == run("--version").stdout


def test_every_help_goes_to_stdout_and_runs_nothing():
    # No database is set: a command that ran instead of printing help would fail.
    for args in (["--help"], ["-h"], ["help"], ["serve", "--help"], ["migrate", "--help"],
                 ["token", "--help"], ["token", "create", "--help"], ["backfill", "--help"],
                 ["health", "--help"], ["migrate", "-h"]):
        p = run(*args)
        assert p.returncode == 0, (args, p.stderr)
        assert p.stdout.startswith("usage: cipulsed"), args
        assert p.stderr == "", (args, p.stderr)
    for args in (["--help"], ["report", "--help"], ["run", "--help"], ["hook", "--help"],
                 ["exec", "--help"], ["flush", "--help"]):
        p = run_checked([AGENT] + args, capture_output=True, text=True, timeout=30,
                        env={k: v for k, v in os.environ.items() if not k.startswith("CIPULSE_")})
        assert p.returncode == 0, (args, p.stderr)
        assert p.stdout.startswith("usage: cipulse-agent"), args
        assert p.stderr == "", (args, p.stderr)


def test_database_commands_without_a_database_url_say_what_to_set():
    for args in (["serve"], [], ["migrate"], ["token", "create", "--kind", "admin"],
                 ["backfill", "--repo", "o/r"]):
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert "set CIPULSE_DATABASE_URL" in p.stderr, (args, p.stderr)
    # An empty value is no database either.
    p = run("serve", env={"CIPULSE_DATABASE_URL": ""})
    assert p.returncode == 2 and "set CIPULSE_DATABASE_URL" in p.stderr
