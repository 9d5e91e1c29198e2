"""The container image and the release workflow, without a Docker engine.

The Dockerfile's build stage runs one script, scripts/build-dist.sh; this test runs that same
command here, then checks that everything the runtime stage copies exists in what it built, and
runs the built collector with the image's own settings (ENV, HEALTHCHECK) against a real
database. .dockerignore and the release workflow (pinned actions, both architectures) are
checked as files.
"""
import fnmatch
import hashlib
import os
import re
import shlex
import subprocess
import tarfile

import yaml

from harness import CIPULSED, ROOT, Collector, run_checked

DOCKERFILE = os.path.join(ROOT, "deploy", "docker", "Dockerfile.collector")
RELEASE = os.path.join(ROOT, ".github", "workflows", "release.yml")


def dockerfile_stages():
    """[(name, [(instruction, argument text)])] with continuation lines joined."""
    with open(DOCKERFILE) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.search(r"\bAS\s+(\S+)", arg, re.I)
            stages.append((m.group(1) if m else arg, [("FROM", arg)]))
        else:
            stages[-1][1].append((instr, arg.strip()))
    return stages


def stage(name):
    return next(instrs for n, instrs in dockerfile_stages() if n == name)


def build_script_command():
    """The build stage's one RUN that builds from the sources (after COPY . .)."""
    instrs = stage("build")
    copied = [i for i, (ins, arg) in enumerate(instrs) if ins == "COPY" and arg == ". ."]
    assert copied, "the build stage copies the sources with COPY . ."
    runs = [arg for ins, arg in instrs[copied[0] + 1:] if ins == "RUN"]
    assert len(runs) == 1, "one RUN after COPY . ., the build script: %s" % runs
    argv = shlex.split(runs[0])
    assert argv[0] == "scripts/build-dist.sh" and len(argv) == 2, runs[0]
    return argv


def test_dockerignore_keeps_build_output_and_state_out():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]

    def ignored(path):
        # Docker's rules for these simple patterns: a match on the path or on a parent.
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", ""))
                   for pat in patterns for p in prefixes)
    for path in ("build/cipulsed", "build-asan/x.o", "build-release/cipulsed", ".state/pg/x",
                 "node_modules/x", "web/node_modules/vite/index.js", "web/dist/index.html",
                 ".git/HEAD", "dist/cipulse-agent-linux-x64.tar.gz"):
        assert ignored(path), path
    for path in ("collector/main.c", "web/src/main.jsx", "web/package-lock.json",
                 "scripts/build-dist.sh", "sql/001_init.sql", "Makefile", "proto/cipulse"):
        assert not ignored(path), path


def test_dockerfile_runtime_stage():
    instrs = stage("collector")
    args = {ins: arg for ins, arg in instrs}
    # Not root: a numeric uid, so that Kubernetes' runAsNonRoot can check it.
    user = args["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0
    # The health check needs nothing but the collector itself.
    hc = args["HEALTHCHECK"]
    assert '"/usr/local/bin/cipulsed", "health"' in hc, hc
    assert args["ENTRYPOINT"] == '["/usr/local/bin/cipulsed"]'
    # The build stage's packages are those the project builds with (scripts/deps.sh).
    with open(os.path.join(ROOT, "scripts", "deps.sh")) as f:
        deps = f.read()
    installs = " ".join(arg for ins, arg in stage("build") if ins == "RUN" and "apt-get" in arg)
    for pkg in re.findall(r"\blib[a-z0-9+.-]+-dev\b|protobuf-c-compiler|build-essential", installs):
        assert re.search(r"(^|\s)%s(\s|$)" % re.escape(pkg), deps, re.M), pkg


def test_runtime_stage_installs_every_library_cipulsed_needs():
    # The runtime stage has no -dev packages: each shared library the collector links must come
    # from a package it installs (their own dependencies come with them).
    installs = " ".join(arg for ins, arg in stage("collector") if ins == "RUN" and "apt-get" in arg)
    runtime = set(installs.split())
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]",
                        subprocess.run(["readelf", "-d", CIPULSED], capture_output=True,
                                       text=True, check=True).stdout)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    assert "libpq.so.5" in needed
    for lib in needed:
        if re.match(r"lib(c|m|pthread|dl|rt)\.so\.", lib):
            continue  # libc6, in every Debian image
        if re.match(r"lib(asan|ubsan|lsan|tsan)\.so\.", lib):
            continue  # the sanitizer build's runtime; the image builds without sanitizers
        m = re.search(r"^\s*%s \(.*x86-64.*\) => (\S+)$" % re.escape(lib), cache, re.M) or \
            re.search(r"^\s*%s \(.*\) => (\S+)$" % re.escape(lib), cache, re.M)
        assert m, lib
        owners = set()
        for path in {m.group(1), os.path.realpath(m.group(1))}:
            for candidate in {path, path.replace("/usr/lib/", "/lib/", 1)}:
                q = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                owners |= {line.split(":")[0] for line in q.stdout.splitlines()}
        assert owners & runtime, (lib, owners)


def test_build_script_of_the_dockerfile_builds_what_the_image_holds(tmp_path, db):
    argv = build_script_command()
    out = str(tmp_path / "out")
    env = dict(os.environ)
    env.setdefault("JOBS", "2")
    p = subprocess.run([argv[0], out], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=3600)
    assert p.returncode == 0, p.stdout + p.stderr
    # Everything the image and the agent target copy from the build stage was built.
    copies = [arg for _, instrs in dockerfile_stages() for ins, arg in instrs
              if ins == "COPY" and arg.startswith("--from=build")]
    assert copies
    for arg in copies:
        src = arg.split()[1]
        assert src.startswith(argv[1] + "/"), arg
        assert os.path.exists(out + src[len(argv[1]):]), src
    cipulsed = os.path.join(out, "usr/local/bin/cipulsed")
    assert run_checked([cipulsed, "--version"], capture_output=True).returncode == 0
    assert os.path.exists(os.path.join(out, "usr/share/cipulse/web/index.html"))
    assert sorted(os.listdir(os.path.join(out, "usr/share/cipulse/sql"))) == \
        sorted(f for f in os.listdir(os.path.join(ROOT, "sql")) if re.match(r"\d+.*\.sql$", f))
    # The agent package: its checksum holds and it holds the agent.
    agent_dir = os.path.join(out, "usr/share/cipulse/agent")
    tars = [f for f in os.listdir(agent_dir) if f.endswith(".tar.gz")]
    assert len(tars) == 1 and tars[0].startswith("cipulse-agent-linux-")
    with open(os.path.join(agent_dir, tars[0]), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(agent_dir, tars[0] + ".sha256")) as f:
        assert f.read().split()[0] == digest
    with tarfile.open(os.path.join(agent_dir, tars[0])) as t:
        assert "cipulse-agent/cipulse-agent" in t.getnames()

    # The built collector, run with the image's ENV (paths moved under `out`), serves the
    # dashboard and passes the image's HEALTHCHECK command.
    image_env = {}
    for ins, arg in stage("collector"):
        if ins == "ENV":
            for k, v in (kv.split("=", 1) for kv in shlex.split(arg)):
                image_env[k] = v
    assert image_env["CIPULSE_WEB_DIR"] == "/usr/share/cipulse/web"
    col = Collector(db, binary=cipulsed,
                    env={"CIPULSE_WEB_DIR": out + image_env["CIPULSE_WEB_DIR"],
                         "CIPULSE_LOG_FORMAT": image_env["CIPULSE_LOG_FORMAT"]})
    col.start()
    try:
        status, body = col.http("GET", "/")
        assert status == 200 and "<html" in body.lower(), body[:200]
        hc = next(arg for ins, arg in stage("collector") if ins == "HEALTHCHECK")
        cmd = yaml.safe_load(hc[hc.index("CMD") + 3:])
        cmd[0] = cipulsed
        p = run_checked(cmd, env=col.env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        col.stop()


def test_release_workflow_pins_actions_and_builds_both_architectures():
    with open(RELEASE) as f:
        text = f.read()
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)", text, re.M)
    assert uses
    for u in uses:
        # Third-party code runs with the release's token: pinned to a commit, never a tag.
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u), u
    wf = yaml.safe_load(text)
    steps = wf["jobs"]["image"]["steps"]
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action@"))
    w = build["with"]
    assert set(w["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert w["file"] == "deploy/docker/Dockerfile.collector" and w["target"] == "collector"
    assert w["push"] is True
    meta = next(s for s in steps if s.get("uses", "").startswith("docker/metadata-action@"))
    assert "type=semver,pattern={{version}}" in meta["with"]["tags"]  # versioned, not :latest
    assert wf["jobs"]["image"]["permissions"]["packages"] == "write"
    # The agent packages come from the same build script as the image.
    agent_runs = " ".join(s.get("run", "") for s in wf["jobs"]["build"]["steps"])
    assert "scripts/build-dist.sh" in agent_runs
    assert build_script_command()[0] == "scripts/build-dist.sh"
    assert set(wf["jobs"]["publish"]["needs"]) == {"build", "image"}


def test_image_name_matches_the_deploy_files():
    # compose pulls the image the release workflow publishes (ghcr.io/<owner>/cipulsed:VERSION),
    # at this source's version.
    with open(os.path.join(ROOT, "deploy", "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    image = compose["services"]["collector"]["image"]
    m = re.fullmatch(r"\$\{IMAGE:-ghcr\.io/[\w-]+/cipulsed:(\d+\.\d+\.\d+)\}", image)
    assert m, image
    version = run_checked([CIPULSED, "--version"], capture_output=True, text=True).stdout
    assert version.split()[1] == m.group(1), (version, image)
    with open(RELEASE) as f:
        assert "ghcr.io/${{ github.repository_owner }}/cipulsed" in f.read()
