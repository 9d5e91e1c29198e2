"""Deployment files: what can be validated without a Docker engine or a cluster."""
import os
import shutil
import subprocess

import pytest
import yaml

from harness import ROOT


def test_compose_file_is_valid():
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose not installed")
    env = dict(os.environ, CIPULSE_ADMIN_TOKEN="x")
    p = subprocess.run(["docker-compose", "-f", "deploy/docker-compose.yml", "config"], cwd=ROOT,
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load(p.stdout)
    collector = cfg["services"]["collector"]
    assert collector["environment"]["CIPULSE_DATABASE_URL"].startswith("postgresql://")
    assert "postgres" in collector["depends_on"]
    # Without the admin token compose refuses to start, rather than run an open admin API.
    env.pop("CIPULSE_ADMIN_TOKEN")
    p = subprocess.run(["docker-compose", "-f", "deploy/docker-compose.yml", "config"], cwd=ROOT,
                       env=env, capture_output=True, text=True)
    assert p.returncode != 0


def test_dockerfile_builds_what_make_builds():
    # The Dockerfile runs the same make target the tests use; keep them in step.
    with open(os.path.join(ROOT, "deploy", "docker", "Dockerfile.collector")) as f:
        text = f.read()
    assert "make -j" in text and "build/cipulsed" in text
    with open(os.path.join(ROOT, "scripts", "deps.sh")) as f:
        deps = f.read()
    for pkg in ("libgrpc-dev", "libprotobuf-c-dev", "libpq-dev", "libmicrohttpd-dev", "libjansson-dev"):
        assert pkg in text and pkg in deps
