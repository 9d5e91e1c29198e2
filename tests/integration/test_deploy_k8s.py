"""Kubernetes manifests (deploy/k8s): checked against the Kubernetes API schemas and for the
wiring between the objects (selectors, ports, Secret keys), without a cluster.

The schema check is tests/k8s/validate.mjs (kubernetes-models JSON schemas plus their
TypeScript types, so unknown fields fail too); its packages are installed with `npm ci` in
tests/k8s on first use."""
import fcntl
import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

from harness import CIPULSED, ROOT

K8S = os.path.join(ROOT, "deploy", "k8s")
CHECKER = os.path.join(ROOT, "tests", "k8s")


def validate(*directories):
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed")
    # The tests of this file may run in parallel workers: one installs while the others wait
    # (npm ci empties node_modules first, so a checker started meanwhile finds nothing).
    fd = os.open(CHECKER, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not os.path.isdir(os.path.join(CHECKER, "node_modules", "kubernetes-models")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=CHECKER, check=True, capture_output=True, timeout=600)
    finally:
        os.close(fd)
    return subprocess.run(["node", os.path.join(CHECKER, "validate.mjs")] + list(directories),
                          capture_output=True, text=True, timeout=600)


def load(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def objects():
    out = []
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        if os.path.basename(path) != "kustomization.yaml":
            out += load(os.path.basename(path))
    return out


def one(kind, name=None):
    found = [o for o in objects() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def test_every_manifest_matches_the_kubernetes_schemas():
    p = validate(K8S)
    assert p.returncode == 0, p.stdout + p.stderr
    count = int(re.search(r"(\d+) objects", p.stdout).group(1))
    assert count == len(objects()) and count >= 9


BROKEN = [
    # a misspelt field: the JSON schemas allow unknown properties, the strict check does not
    ("deployment.yaml", "readinessProbe:", "readinesProbe:", "'\"readinesProbe\"' does not exist"),
    ("pdb.yaml", "minAvailable:", "minAvailabel:", "minAvailabel"),
    ("networkpolicy.yaml", "policyTypes:", "policyType:", "policyType"),
    # a wrong type and a value outside an enum
    ("deployment.yaml", "periodSeconds: 5\n", "periodSeconds: \"5\"\n", "periodSeconds must be integer"),
    ("service.yaml", "protocol: TCP", "protocol: TPC", "must be equal to one of the allowed values"),
    # an unknown kind
    ("migrate-job.yaml", "kind: Job", "kind: Jobs", "unknown apiVersion/kind batch/v1 Jobs"),
]


def test_a_broken_manifest_fails_validation(tmp_path):
    # Each mistake in a copy of the manifests of its own (one checker run for all of them).
    dirs = []
    for n, (file, old, new, _) in enumerate(BROKEN):
        d = tmp_path / ("broken%d" % n)
        d.mkdir()
        for path in glob.glob(os.path.join(K8S, "*.yaml")):
            shutil.copy(path, d)
        text = (d / file).read_text()
        assert old in text
        (d / file).write_text(text.replace(old, new, 1))
        dirs.append(str(d))
    p = validate(*dirs)
    assert p.returncode == 1, p.stdout + p.stderr
    for n, (file, _, _, expect) in enumerate(BROKEN):
        lines = [l for l in p.stdout.splitlines() if l.startswith("broken%d/" % n)]
        assert lines and all(l.startswith("broken%d/%s#" % (n, file)) for l in lines), (n, p.stdout, p.stderr)
        assert any(expect in l for l in lines), (n, expect, lines)


def test_kustomization_lists_existing_files_and_one_namespace():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    for res in kust["resources"]:
        assert os.path.isfile(os.path.join(K8S, res)), res
    # The Secret is never applied from the repository; the migration Job runs before a rollout.
    assert "secret.example.yaml" not in kust["resources"]
    assert "migrate-job.yaml" not in kust["resources"]
    for o in objects():
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == kust["namespace"], o["metadata"]["name"]


def test_deployment_is_production_shaped():
    dep = one("Deployment", "cipulsed")
    spec = dep["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    # A versioned image: the tag the release workflow publishes, never :latest.
    image, tag = c["image"].rsplit(":", 1)
    assert image == "ghcr.io/cipulse/cipulsed" and re.fullmatch(r"\d+\.\d+\.\d+", tag)
    # ... this version's: bumping the version bumps the manifests
    version = subprocess.run([CIPULSED, "version"], capture_output=True, text=True).stdout.split()[-1]
    assert tag == version.lstrip("v"), (tag, version)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    # Native gRPC probes on the gRPC port the collector listens on.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    env = {e["name"]: e for e in c["env"]}
    assert env["CIPULSE_GRPC_ADDR"]["value"].endswith(":%d" % ports["grpc"])
    assert env["CIPULSE_HTTP_ADDR"]["value"].endswith(":%d" % ports["http"])
    assert env["CIPULSE_PROBE_ADDR"]["value"].endswith(":%d" % ports["probe"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == ports["grpc"], probe
    # Migrations run once, in the Job, not in every replica.
    assert env["CIPULSE_MIGRATE"]["value"] == "0"


def test_secrets_come_from_the_secret_and_exist_in_its_template():
    secret = one("Secret", "cipulse")
    keys = set(secret["stringData"])
    wanted = {"CIPULSE_DATABASE_URL", "CIPULSE_ADMIN_TOKEN", "CIPULSE_READ_TOKEN",
              "CIPULSE_GITHUB_TOKEN", "CIPULSE_WEBHOOK_SECRET"}
    for workload in (one("Deployment", "cipulsed"), one("Job")):
        for c in workload["spec"]["template"]["spec"]["containers"]:
            for e in c["env"]:
                if e["name"] in wanted or "TOKEN" in e["name"] or "SECRET" in e["name"] \
                        or e["name"] == "CIPULSE_DATABASE_URL":
                    ref = e["valueFrom"]["secretKeyRef"]  # never inline
                    assert ref["name"] == "cipulse" and ref["key"] in keys, e
    env = {e["name"] for e in one("Deployment", "cipulsed")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert wanted <= env


def test_migration_job_runs_the_migrate_command_of_the_same_image():
    job = one("Job")
    dep = one("Deployment", "cipulsed")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["migrate"]
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert c["image"] == image
    assert job["metadata"]["name"].endswith(image.rsplit(":", 1)[1])
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    # and the collector really has that command
    p = subprocess.run([CIPULSED, "--help"], capture_output=True, text=True)
    assert "\n  migrate " in p.stdout


def test_services_pdb_ingress_and_policy_point_at_the_pods():
    dep = one("Deployment", "cipulsed")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"]: p["containerPort"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    services = {o["metadata"]["name"]: o for o in objects() if o["kind"] == "Service"}
    assert {"cipulsed-grpc", "cipulsed-http"} <= set(services)
    for svc in services.values():
        assert svc["spec"]["selector"].items() <= labels.items()
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in port_names
    assert services["cipulsed-grpc"]["spec"]["ports"][0]["appProtocol"] == "grpc"
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]
    # The Ingresses route the webhook and the API to the HTTP Service, agents to the gRPC one.
    routes = {}
    for ing in (o for o in objects() if o["kind"] == "Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backend = p["backend"]["service"]
                assert backend["name"] in services
                svc_ports = {sp["name"] for sp in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in svc_ports
                routes[p["path"]] = backend["name"]
    assert routes["/webhook/github"] == "cipulsed-http" and routes["/api"] == "cipulsed-http"
    assert any(v == "cipulsed-grpc" for v in routes.values())
    pol = one("NetworkPolicy")
    assert pol["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(pol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    allowed_in = {p["port"] for r in pol["spec"]["ingress"] for p in r["ports"]}
    assert allowed_in == set(port_names.values())
    allowed_out = {p["port"] for r in pol["spec"]["egress"] for p in r["ports"]}
    assert {53, 5432, 443} <= allowed_out
