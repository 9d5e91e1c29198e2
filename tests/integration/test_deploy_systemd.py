"""systemd deployment (deploy/systemd): the unit verifies, its sandbox keeps
`systemd-analyze security` exposure at 2.0 or less, install.sh installs the collector, the web
app, the unit and the settings, and the unit's own ExecStart line, run with the installed
settings, serves the installed web app. (No systemd runs here, so the sandbox itself is not
exercised: the command line and files are.)"""
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess

import pytest

from harness import CIPULSED, ROOT, Collector

SYSTEMD = os.path.join(ROOT, "deploy", "systemd")
UNIT = os.path.join(SYSTEMD, "cipulsed.service")
MAX_EXPOSURE = 2.0


def unit_text():
    with open(UNIT) as f:
        return f.read()


def write_unit(tmp_path, text):
    # systemd-analyze checks that the binary and EnvironmentFile exist: point them at real ones.
    text = text.replace("/usr/local/bin/cipulsed", CIPULSED)
    text = text.replace("EnvironmentFile=/etc/cipulse/cipulsed.env", "EnvironmentFile=-/nonexistent")
    path = tmp_path / "cipulsed.service"
    path.write_text(text)
    return str(path)


def exposure(path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", path],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for cipulsed\.service: ([0-9.]+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    return float(m.group(1)), p.stdout


def test_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    path = write_unit(tmp_path, unit_text())
    p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
    errors = [l for l in p.stderr.splitlines() if "cipulsed.service" in l]
    assert p.returncode == 0 and not errors, p.stderr


def test_unit_exposure_is_at_most_2(tmp_path):
    level, report = exposure(write_unit(tmp_path, unit_text()))
    assert level <= MAX_EXPOSURE, report


@pytest.mark.parametrize("drop", [
    ("CapabilityBoundingSet=", "PrivateUsers=yes"),
    ("SystemCallFilter=", "RestrictNamespaces=yes", "ProtectProc=invisible"),
])
def test_weakening_the_sandbox_breaks_the_limit(tmp_path, drop):
    # The same measurement on a unit with some hardening removed exceeds the limit: the check
    # above can fail.
    lines = [l for l in unit_text().splitlines() if not l.startswith(drop)]
    level, report = exposure(write_unit(tmp_path, "\n".join(lines) + "\n"))
    assert level > MAX_EXPOSURE, report


def install(tmp_path, destdir, *args, env=None):
    web = tmp_path / "web-dist"
    if not web.exists():
        (web / "assets").mkdir(parents=True)
        (web / "index.html").write_text("<!doctype html><title>cipulse installed</title>\n")
        (web / "assets" / "app.js").write_text("console.log('cipulse');\n")
    e = dict(os.environ, DESTDIR=str(destdir), CIPULSED_BINARY=CIPULSED, CIPULSE_WEB_DIST=str(web))
    e.update(env or {})
    return subprocess.run([os.path.join(SYSTEMD, "install.sh")] + list(args), env=e,
                          capture_output=True, text=True, timeout=120)


def test_install_script_installs_binary_web_app_unit_and_settings(tmp_path):
    dest = tmp_path / "root"
    p = install(tmp_path, dest, "--prefix", "/opt/cipulse")
    assert p.returncode == 0, p.stderr
    assert "not started" in p.stdout
    binary = dest / "opt/cipulse/bin/cipulsed"
    assert os.access(binary, os.X_OK)
    assert (dest / "opt/cipulse/share/cipulse/web/index.html").read_text().startswith("<!doctype")
    assert (dest / "opt/cipulse/share/cipulse/web/assets/app.js").exists()
    unit = (dest / "etc/systemd/system/cipulsed.service").read_text()
    assert "ExecStart=/opt/cipulse/bin/cipulsed serve\n" in unit
    envfile = dest / "etc/cipulse/cipulsed.env"
    assert stat.S_IMODE(envfile.stat().st_mode) == 0o600  # it holds the secrets
    assert "CIPULSE_WEB_DIR=/opt/cipulse/share/cipulse/web\n" in envfile.read_text()
    # a random admin token, not the template's placeholder
    token = re.search(r"^CIPULSE_ADMIN_TOKEN=(.*)$", envfile.read_text(), re.M).group(1)
    assert re.fullmatch(r"[0-9a-f]{48}", token), token

    # Again, after the operator edited the settings and a web file went away in the new build:
    # the settings stay, the web app is replaced as a whole.
    envfile.write_text(envfile.read_text().replace("CIPULSE_ADMIN_TOKEN=" + token, "CIPULSE_ADMIN_TOKEN=mine"))
    os.remove(tmp_path / "web-dist/assets/app.js")
    p = install(tmp_path, dest, "--prefix", "/opt/cipulse")
    assert p.returncode == 0, p.stderr
    assert "CIPULSE_ADMIN_TOKEN=mine\n" in envfile.read_text()
    assert not (dest / "opt/cipulse/share/cipulse/web/assets/app.js").exists()


def test_install_script_refuses_without_a_web_build(tmp_path):
    p = install(tmp_path, tmp_path / "root", env={"CIPULSE_WEB_DIST": str(tmp_path / "missing")})
    # Falls back to web/dist of the tree; without one it says what to run.
    if os.path.isfile(os.path.join(ROOT, "web", "dist", "index.html")):
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode == 1 and "scripts/build-web.sh" in p.stderr, p.stderr
    p = install(tmp_path, tmp_path / "root", "--prefix", "relative")
    assert p.returncode == 1 and "absolute" in p.stderr


def read_env_file(path):
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


def test_installed_unit_command_line_serves_the_installed_web_app(tmp_path, db):
    dest = tmp_path / "root"
    p = install(tmp_path, dest)
    assert p.returncode == 0, p.stderr
    unit = (dest / "etc/systemd/system/cipulsed.service").read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    assert argv[1:] == ["serve"]  # what harness.Collector runs, with the installed binary below
    settings = read_env_file(dest / "etc/cipulse/cipulsed.env")
    # The installed settings, but this test's database, ports and token; the web dir inside DESTDIR.
    settings["CIPULSE_WEB_DIR"] = str(dest) + settings["CIPULSE_WEB_DIR"]
    for k in ("CIPULSE_DATABASE_URL", "CIPULSE_ADMIN_TOKEN", "CIPULSE_GRPC_ADDR", "CIPULSE_HTTP_ADDR"):
        settings.pop(k)
    c = Collector(db, env=settings, binary=str(dest) + argv[0])
    try:
        c.start()
        status, body = c.http("GET", "/")
        assert status == 200 and "cipulse installed" in body
        status, _ = c.http("GET", "/api/v1/repos", headers=c.admin_headers())
        assert status == 200
    finally:
        assert c.stop(signal.SIGTERM) == 0
