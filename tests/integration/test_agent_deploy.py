"""Getting the agent onto runners: deploy/runner/install.sh against a directory laid out like
a runner install, the release package (scripts/release-build.sh), the action's installer
(scripts/action-install.sh) against a local "release" server, and action.yml/release.yml."""
import hashlib
import http.server
import os
import shutil
import stat
import subprocess
import threading

import pytest
import yaml

from agent_fakes import AGENT, REPO_ROOT, FakeCollector, FakeGitHub, agent_env, make_job
from harness import run_checked

INSTALL = os.path.join(REPO_ROOT, "deploy", "runner", "install.sh")
ENV_BEFORE = "LANG=C.UTF-8\nJAVA_HOME=/usr/lib/jvm/java-17\n"

# One xdist worker for the module: each worker that runs one of its tests builds the release
# package (the module's `release` fixture) again, minutes of compiling each.
pytestmark = [pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built"),
              pytest.mark.xdist_group("agent_deploy")]


@pytest.fixture
def runner(tmp_path):
    """A directory like an unpacked actions/runner: .env, run.sh, config.sh, bin/."""
    d = tmp_path / "actions-runner"
    (d / "bin").mkdir(parents=True)
    (d / ".env").write_text(ENV_BEFORE)
    for f in ("run.sh", "config.sh", "bin/Runner.Listener"):
        (d / f).write_text("#!/bin/sh\n")
        (d / f).chmod(0o755)
    return d


def install(*args, check=True):
    p = subprocess.run(["bash", INSTALL] + list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def hook_lines(runner):
    return [l for l in (runner / ".env").read_text().splitlines()
            if l.startswith("ACTIONS_RUNNER_HOOK_JOB_COMPLETED=")]


def test_install_is_idempotent_and_uninstall_restores(runner):
    args = ["--runner-dir", str(runner), "--collector", "127.0.0.1:1", "--token", "tok$en 'x'",
            "--binary", AGENT]
    install(*args)
    hook = runner / "cipulse" / "job-completed.sh"
    assert hook_lines(runner) == ["ACTIONS_RUNNER_HOOK_JOB_COMPLETED=%s" % hook]
    assert (runner / ".env").read_text().startswith(ENV_BEFORE)
    assert os.access(hook, os.X_OK)
    settings = runner / "cipulse" / "agent.env"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    first = {p: p.read_bytes() for p in (runner / ".env", hook, settings)}
    install(*args)
    assert {p: p.read_bytes() for p in first} == first
    install("--runner-dir", str(runner), "--uninstall")
    assert (runner / ".env").read_text() == ENV_BEFORE
    assert not (runner / "cipulse" / "bin").exists()
    install("--runner-dir", str(runner), "--uninstall")  # twice is fine too
    assert (runner / ".env").read_text() == ENV_BEFORE


def test_existing_hook_is_chained_and_restored(runner, tmp_path):
    mine = tmp_path / "my-hook.sh"
    marker = tmp_path / "ran"
    mine.write_text("#!/bin/sh\necho ran > %s\n" % marker)
    mine.chmod(0o755)
    (runner / ".env").write_text(ENV_BEFORE + "ACTIONS_RUNNER_HOOK_JOB_COMPLETED=%s\n" % mine)
    install("--runner-dir", str(runner), "--collector", "127.0.0.1:1", "--binary", AGENT)
    assert hook_lines(runner) == ["ACTIONS_RUNNER_HOOK_JOB_COMPLETED=%s/cipulse/job-completed.sh" % runner]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CIPULSE_SEND_BUDGET": "200ms",
           "CIPULSE_TIME_BUDGET": "200ms", "GITHUB_API_URL": "http://127.0.0.1:1"}
    p = run_checked([str(runner / "cipulse" / "job-completed.sh")], env=env, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert marker.read_text() == "ran\n"
    install("--runner-dir", str(runner), "--uninstall", "--purge")
    assert hook_lines(runner) == ["ACTIONS_RUNNER_HOOK_JOB_COMPLETED=%s" % mine]
    assert not (runner / "cipulse").exists()


def test_hook_reports_the_finished_job(runner, tmp_path):
    """The installed hook, run with a job's env as the runner runs it, delivers a hook report."""
    gh, col = FakeGitHub(), FakeCollector()
    try:
        t0 = 1700000000000
        gh.jobs = [make_job(77, "build", status="in_progress", runner="runner-1", t0=t0,
                            steps=[("Set up job", "success", t0, t0 + 1000),
                                   ("Run make", "success", t0 + 1000, t0 + 5000)])]
        install("--runner-dir", str(runner), "--collector", col.addr, "--token", "ingest-tok-1234",
                "--binary", AGENT)
        env = agent_env(gh.url, "ignored", str(tmp_path / "unused"))
        for k in ("CIPULSE_COLLECTOR", "CIPULSE_TOKEN", "CIPULSE_SPOOL_DIR"):
            env.pop(k)  # from agent.env, as on a real runner
        p = run_checked([str(runner / "cipulse" / "job-completed.sh")], env=env,
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        rep, = col.reports
        assert rep.header["mode"] == 3
        assert rep.metadata["authorization"] == "Bearer ingest-tok-1234"
        assert rep.jobs[0]["id"] == 77 and rep.jobs[0]["conclusion"] == "success"
    finally:
        gh.stop()
        col.stop()


def test_install_refuses_a_non_runner_dir(tmp_path):
    p = install("--runner-dir", str(tmp_path), "--collector", "x:1", "--binary", AGENT, check=False)
    assert p.returncode != 0 and "does not look like a runner" in p.stderr


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The release package, built once (also checks glibc portability)."""
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, BUILD=str(tmp_path_factory.mktemp("build-release")))
    p = subprocess.run([os.path.join(REPO_ROOT, "scripts", "release-build.sh"), str(out)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "binary" in p.stdout and "needs from the system: glibc" in p.stdout
    return out


def test_release_package_is_self_contained(release, tmp_path):
    tars = [f for f in os.listdir(release) if f.endswith(".tar.gz")]
    assert len(tars) == 1 and tars[0].startswith("cipulse-agent-linux-")
    data = open(release / tars[0], "rb").read()
    assert open(release / (tars[0] + ".sha256")).read().split()[0] == hashlib.sha256(data).hexdigest()
    subprocess.run(["tar", "-C", str(tmp_path), "-xzf", str(release / tars[0])], check=True)
    binary = tmp_path / "cipulse-agent" / "cipulse-agent"
    # Resolves OpenSSL etc. from the package, even with the system's library path emptied; gRPC,
    # protobuf-c and jansson are linked in when their static libraries exist (Makefile
    # AGENT_STATIC), else they come from the package too. libcurl is loaded on first use (release-build.sh
    # checks that it and its dependencies then come from the package).
    assert (tmp_path / "cipulse-agent" / "lib" / "libcurl.so.4").is_file()
    out = subprocess.run([str(binary)], env={"LD_TRACE_LOADED_OBJECTS": "1"},
                         capture_output=True, text=True).stdout
    for name in ("libgrpc", "libprotobuf-c", "libjansson", "libssl"):
        lines = [l for l in out.splitlines() if name in l]
        if name in ("libgrpc", "libprotobuf-c", "libjansson") and not lines:
            continue
        assert lines, out
        assert str(tmp_path) in lines[0], lines[0]
    assert subprocess.run([str(binary), "--help"], capture_output=True).returncode == 0


class _Serve:
    def __init__(self, root):
        self.requests = []
        outer = self

        class H(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(root), **k)

            def log_message(self, *a):
                outer.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def action_install(tmp_path, version, url):
    out, path = tmp_path / "out", tmp_path / "path"
    env = {"PATH": "/usr/bin:/bin", "CIPULSE_VERSION": version, "CIPULSE_RELEASE_URL": url,
           "RUNNER_TOOL_CACHE": str(tmp_path / "toolcache"), "RUNNER_TEMP": str(tmp_path),
           "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "GITHUB_OUTPUT": str(out),
           "GITHUB_PATH": str(path)}
    p = subprocess.run([os.path.join(REPO_ROOT, "scripts", "action-install.sh")], env=env,
                       capture_output=True, text=True, timeout=600)
    return p, out, path


def test_action_installs_release_with_checksum_and_caches(release, tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("asset name below is for x64")
    srv = _Serve(release)
    try:
        p, out, path = action_install(tmp_path, "v9.9.9", srv.url)
        assert p.returncode == 0, p.stdout + p.stderr
        agent = out.read_text().strip().split("=", 1)[1]
        assert agent.startswith(str(tmp_path / "toolcache" / "cipulse-agent" / "v9.9.9"))
        assert subprocess.run([agent, "--help"], capture_output=True).returncode == 0
        assert path.read_text().strip() == os.path.dirname(agent)
        n = len(srv.requests)
        p, _, _ = action_install(tmp_path, "v9.9.9", srv.url)
        assert p.returncode == 0 and "cached" in p.stdout
        assert len(srv.requests) == n  # no download the second time
    finally:
        srv.stop()


def test_action_refuses_a_tampered_release(release, tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("asset name below is for x64")
    bad = tmp_path / "bad"
    shutil.copytree(release, bad)
    with open(bad / "cipulse-agent-linux-x64.tar.gz", "ab") as f:
        f.write(b"\0")
    srv = _Serve(bad)
    try:
        p, out, _ = action_install(tmp_path, "v9.9.8", srv.url)
        assert p.returncode != 0 and "checksum mismatch" in p.stdout
        assert not (tmp_path / "toolcache" / "cipulse-agent" / "v9.9.8.complete").exists()
    finally:
        srv.stop()


def test_action_yml_inputs_and_steps():
    with open(os.path.join(REPO_ROOT, "action.yml")) as f:
        action = yaml.safe_load(f)
    assert action["runs"]["using"] == "composite"
    assert action["branding"]["icon"] and action["branding"]["color"]
    inputs = action["inputs"]
    for name in ("collector", "token", "job-id", "job-status", "github-token", "mode",
                 "log-files", "log-tail-lines", "strict", "tls"):
        assert inputs[name]["description"], name
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert inputs["log-tail-lines"]["default"] == "100"
    assert set(action["outputs"]) >= {"report-id", "delivery"}
    for step in action["runs"]["steps"]:
        # Inputs go through env, never into the script text (no expression injection).
        assert "inputs." not in step["run"] and "${{" not in step["run"]
    report = next(s for s in action["runs"]["steps"] if s.get("id") == "report")
    # Every env var the step sets is one the agent documents.
    help_text = subprocess.run([AGENT, "--help"], capture_output=True, text=True).stdout
    for var in report["env"]:
        assert var in help_text or var in ("CIPULSE_MODE", "CIPULSE_AGENT"), var


def test_release_workflow_builds_what_the_action_downloads():
    with open(os.path.join(REPO_ROOT, ".github", "workflows", "release.yml")) as f:
        wf = yaml.safe_load(f)
    build = wf["jobs"]["build"]
    # scripts/build-dist.sh builds the package with scripts/release-build.sh, as in the image.
    assert any("scripts/build-dist.sh" in s.get("run", "") for s in build["steps"])
    assert "scripts/release-build.sh" in open(os.path.join(REPO_ROOT, "scripts", "build-dist.sh")).read()
    arches = {m["arch"] for m in build["strategy"]["matrix"]["include"]}
    assert arches == {"x64", "arm64"}
    script = open(os.path.join(REPO_ROOT, "scripts", "action-install.sh")).read()
    assert "cipulse-agent-$os-$arch.tar.gz" in script
    assert wf["jobs"]["publish"]["permissions"]["contents"] == "write"
    assert wf["permissions"]["contents"] == "read"


def action_install_on(tmp_path, version, url, **env):
    """scripts/action-install.sh as the action runs it, on a runner described by env
    (RUNNER_OS, RUNNER_ARCH, CIPULSE_ACTION_GIT_URL, CIPULSE_SOURCE_DIR, ...)."""
    out, path = tmp_path / "out", tmp_path / "path"
    e = {"PATH": "/usr/bin:/bin", "CIPULSE_VERSION": version, "CIPULSE_RELEASE_URL": url,
         "RUNNER_TOOL_CACHE": str(tmp_path / "toolcache"), "RUNNER_TEMP": str(tmp_path),
         "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "GITHUB_OUTPUT": str(out),
         "GITHUB_PATH": str(path), "HOME": str(tmp_path)}
    e.update(env)
    p = subprocess.run([os.path.join(REPO_ROOT, "scripts", "action-install.sh")], env=e,
                       capture_output=True, text=True, timeout=600)
    outputs = dict(l.split("=", 1) for l in out.read_text().splitlines()) if out.exists() else {}
    return p, outputs


def fake_package(root, os_arch, exe="cipulse-agent"):
    """A release package for a platform this machine cannot run: a script standing in for it."""
    stage = root / ("stage-" + os_arch) / "cipulse-agent"
    stage.mkdir(parents=True)
    (stage / exe).write_text("#!/bin/sh\necho fake agent\n")
    (stage / exe).chmod(0o755)
    name = "cipulse-agent-%s.tar.gz" % os_arch
    subprocess.run(["tar", "-C", str(stage.parent), "-czf", str(root / name), "cipulse-agent"], check=True)
    digest = hashlib.sha256((root / name).read_bytes()).hexdigest()
    (root / (name + ".sha256")).write_text("%s  %s\n" % (digest, name))


def fake_source(tmp_path):
    """An action checkout whose Makefile 'builds' a stub agent (the real build is tested elsewhere)."""
    src = tmp_path / "action-src"
    src.mkdir()
    (src / "Makefile").write_text("$(BUILD)/cipulse-agent:\n\tmkdir -p $(BUILD)\n"
                                  "\tprintf '#!/bin/sh\\necho source build\\n' > $@\n\tchmod +x $@\n")
    return src


@pytest.fixture
def action_repo(tmp_path):
    """The action's git repository: a commit tagged v9.9.7 (annotated), a later one untagged."""
    repo = tmp_path / "action-repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "release"], check=True)
    subprocess.run(git + ["tag", "-a", "v9.9.7", "-m", "v9.9.7"], check=True)
    tagged = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "later"], check=True)
    later = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return "file://" + str(repo), tagged, later


def test_action_pinned_by_a_release_commit_uses_that_release(tmp_path, action_repo):
    url, tagged, later = action_repo
    assets = tmp_path / "assets"
    assets.mkdir()
    fake_package(assets, "linux-x64")
    src = str(fake_source(tmp_path))
    srv = _Serve(assets)
    try:
        p, outputs = action_install_on(tmp_path, tagged, srv.url, CIPULSE_ACTION_GIT_URL=url,
                                       CIPULSE_SOURCE_DIR=src)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "commit %s is release v9.9.7" % tagged in p.stdout
        assert outputs["agent"].startswith(str(tmp_path / "toolcache" / "cipulse-agent" / "v9.9.7"))
        assert subprocess.run([outputs["agent"]], capture_output=True, text=True).stdout == "fake agent\n"
        # Any other commit is built from the action's source.
        p, outputs = action_install_on(tmp_path, later, srv.url, CIPULSE_ACTION_GIT_URL=url,
                                       CIPULSE_SOURCE_DIR=src)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "is not a release's commit" in p.stdout and "built from source" in p.stdout
        assert subprocess.run([outputs["agent"]], capture_output=True, text=True).stdout == "source build\n"
    finally:
        srv.stop()


@pytest.mark.parametrize("runner_os,arch", [("Windows", "X64"), ("macOS", "ARM64")])
def test_action_on_windows_or_macos_without_a_build_warns_and_succeeds(tmp_path, runner_os, arch):
    assets = tmp_path / "assets"
    assets.mkdir()
    fake_package(assets, "linux-x64")  # the release has Linux packages only
    srv = _Serve(assets)
    try:
        for version in ("v9.9.6", "source", "0123456789abcdef0123456789abcdef01234567"):
            p, outputs = action_install_on(tmp_path, version, srv.url, RUNNER_OS=runner_os,
                                           RUNNER_ARCH=arch, CIPULSE_ACTION_GIT_URL="file:///nonexistent")
            assert p.returncode == 0, p.stdout + p.stderr
            assert "::warning::cipulse: no " in p.stdout and "not reported" in p.stdout, p.stdout
            assert outputs.get("agent") == ""
            assert "apt-get" not in p.stdout + p.stderr
    finally:
        srv.stop()


@pytest.mark.parametrize("runner_os,arch,os_arch,exe", [
    ("Windows", "X64", "windows-x64", "cipulse-agent.exe"),
    ("macOS", "ARM64", "darwin-arm64", "cipulse-agent"),
])
def test_action_on_windows_or_macos_uses_a_published_build(tmp_path, runner_os, arch, os_arch, exe):
    assets = tmp_path / "assets"
    assets.mkdir()
    fake_package(assets, os_arch, exe)
    srv = _Serve(assets)
    try:
        p, outputs = action_install_on(tmp_path, "v9.9.5", srv.url, RUNNER_OS=runner_os, RUNNER_ARCH=arch)
        assert p.returncode == 0 and "::warning::" not in p.stdout, p.stdout + p.stderr
        assert outputs["agent"].endswith("/" + exe) and os.path.exists(outputs["agent"])
    finally:
        srv.stop()


def test_action_skips_the_report_without_an_agent():
    with open(os.path.join(REPO_ROOT, "action.yml")) as f:
        action = yaml.safe_load(f)
    install = next(s for s in action["runs"]["steps"] if s.get("id") == "install")
    report = next(s for s in action["runs"]["steps"] if s.get("id") == "report")
    assert "steps.install.outputs.agent != ''" in report["if"]
    # The action's ref goes to the installer as it is (a tag, a SHA or a branch).
    assert "github.action_ref" in install["env"]["CIPULSE_VERSION"]
    assert "startsWith" not in install["env"]["CIPULSE_VERSION"]


def test_readme_workflow_example_is_valid_for_the_action():
    import re
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        readme = f.read()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "cipulse/cipulse@" in b]
    assert len(blocks) == 1
    wf = yaml.safe_load(blocks[0])
    assert wf["permissions"]["actions"] == "read"
    (job,) = wf["jobs"].values()
    step = next(s for s in job["steps"] if "cipulse/cipulse@" in s.get("uses", ""))
    assert job["steps"][-1] is step and step["if"] == "always()"
    assert re.fullmatch(r"cipulse/cipulse@v\d+\.\d+\.\d+", step["uses"])  # a pinned release
    assert step["with"]["job-id"] == "${{ job.check_run_id }}"
    with open(os.path.join(REPO_ROOT, "action.yml")) as f:
        action = yaml.safe_load(f)
    assert set(step["with"]) <= set(action["inputs"])
    required = {k for k, v in action["inputs"].items() if v.get("required")}
    assert required <= set(step["with"])
