"""Deployment files: what can be validated without a Docker engine or a cluster."""
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

from harness import CIPULSED, ROOT


def test_kubernetes_probes_use_grpc_health():
    with open(os.path.join(ROOT, "deploy", "k8s", "cipulsed.yaml")) as f:
        docs = list(yaml.safe_load_all(f))
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["grpc"]["port"] == 50051
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    names = {e["name"] for e in container["env"]}
    assert {"CIPULSE_DATABASE_URL", "CIPULSE_ADMIN_TOKEN", "CIPULSE_GRPC_ADDR"} <= names
    # Secrets come from a Secret, never inline.
    for e in container["env"]:
        if e["name"] in ("CIPULSE_DATABASE_URL", "CIPULSE_ADMIN_TOKEN"):
            assert "valueFrom" in e


def test_systemd_unit_verifies():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    with open(os.path.join(ROOT, "deploy", "systemd", "cipulsed.service")) as f:
        unit = f.read().replace("/usr/local/bin/cipulsed", CIPULSED)
    unit = unit.replace("EnvironmentFile=/etc/cipulse/cipulsed.env", "EnvironmentFile=-/nonexistent")
    d = tempfile.mkdtemp()
    try:
        path = os.path.join(d, "cipulsed.service")
        with open(path, "w") as f:
            f.write(unit)
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
        errors = [l for l in p.stderr.splitlines() if "cipulsed.service" in l]
        assert p.returncode == 0 and not errors, p.stderr
    finally:
        shutil.rmtree(d)
