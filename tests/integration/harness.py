"""Test harness: real PostgreSQL clusters, the real collector, and HTTP stand-ins.

Everything here starts real processes on loopback and cleans up after itself. Used by the
fixtures in conftest.py; import it directly for helpers (free_port, GitHubStandIn, ...).
"""
import contextlib
import fcntl
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import psycopg2
import psycopg2.extras

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CIPULSE_BUILD", os.path.join(ROOT, "build"))
CIPULSED = os.path.join(BUILD, "cipulsed")
AGENT = os.path.join(BUILD, "cipulse-agent")
# Real GitHub payloads (octokit/webhooks examples, MIT; see tests/fixtures/github/webhooks/README.md).
FIXTURES = os.environ.get("CIPULSE_FIXTURES", os.path.join(ROOT, "tests", "fixtures", "github"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def sanitizer_env():
    """Environment for binaries built with ASan/UBSan (harmless for plain builds)."""
    supp = os.path.join(ROOT, "tests", "lsan.supp")
    return {
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
        "LSAN_OPTIONS": "suppressions=%s:print_suppressions=0" % supp,
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }


def check_process(what, rc, output, sent=()):
    """Fails when a process of ours crashed: a sanitizer report in its output (str or bytes), or
    death by a signal the test did not send (SIGSEGV, SIGABRT, ...)."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in output, "sanitizer report from %s:\n%s" % (what, output[-8000:])
    if rc is not None and rc < 0 and -rc not in sent:
        raise AssertionError("%s was killed by %s:\n%s"
                             % (what, signal.Signals(-rc).name, output[-8000:]))


def run_checked(argv, **kw):
    """subprocess.run for our binaries (and scripts that run them): check_process on the result."""
    p = subprocess.run(argv, **kw)
    out = [o for o in (p.stdout, p.stderr) if o]
    check_process(os.path.basename(str(argv[0])), p.returncode,
                  b"".join(o if isinstance(o, bytes) else o.encode() for o in out))
    return p


# Ports handed out by free_port are reserved with a lock file each until release_ports (conftest
# calls it after every test): the tests run in parallel processes (scripts/run-integration.sh),
# and a port is only bound when the collector or PostgreSQL gets to it, seconds later.
PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "cipulse-test-ports-%d" % os.getuid())
_held_ports = []  # (port, open lock file) handed out by this process and not released yet


def _port_range():
    """Ports below the kernel's ephemeral range: outgoing connections (and bind to port 0) take
    theirs from that range at any moment, so a port picked there can be gone before it is used."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(1024, low - 12000), low


def free_port():
    """A loopback TCP port that nothing listens on and that no other test process has been given
    (see PORT_LOCK_DIR); it stays reserved until release_ports()."""
    low, high = _port_range()
    os.makedirs(PORT_LOCK_DIR, exist_ok=True)
    for _ in range(1000):
        if high - low >= 1000:
            port = random.randrange(low, high)
        else:  # no room below the ephemeral range: take one from it, as bind(0) does
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        lock = open(os.path.join(PORT_LOCK_DIR, str(port)), "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
        except OSError:  # reserved by another test process, or in use
            lock.close()
            continue
        _held_ports.append((port, lock))
        return port
    raise RuntimeError("no free port found in %d-%d" % (low, high))


def release_ports():
    """Ends the reservations of the ports free_port gave out (once what uses them is bound or
    stopped). The lock files stay: removing one could let two processes lock the same port."""
    while _held_ports:
        _held_ports.pop()[1].close()


def wait_for(pred, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as exc:  # the thing waited for may not be up yet
            last = exc
        time.sleep(interval)
    raise TimeoutError("timed out waiting for %s (last: %r)" % (what, last))


def _pg_base_dir():
    """Where test clusters live: CIPULSE_TEST_PG_DIR, else /dev/shm when it has room (a tmpfs:
    creating, copying and deleting a database's files there costs a tenth of what it costs on a
    disk, where deleting the files of a worker's few hundred databases took minutes), else the
    temp dir. The clusters are throwaway and run with fsync off either way."""
    base = os.environ.get("CIPULSE_TEST_PG_DIR")
    if base:
        os.makedirs(base, exist_ok=True)
        return base
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= (4 << 30) and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


class PgCluster:
    """A throwaway PostgreSQL cluster (scripts/pg.sh) in a temp dir on a free port."""

    TEMPLATE = "cipulse_migrated"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cipulse-pg-", dir=_pg_base_dir())
        self.port = free_port()
        self._dbn = 0
        self._template = None
        self.start()

    def start(self):
        env = dict(os.environ, PG_FSYNC="off")
        subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start", self.dir, str(self.port)],
                       check=True, stdout=subprocess.DEVNULL, env=env)

    def stop(self, mode="fast"):
        """mode "immediate": the server dies at once (no backend ends its work): a crash."""
        subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop", self.dir, mode],
                       check=True)

    def url(self, dbname="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, dbname)

    def _admin(self, sql):
        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def migrated_template(self):
        """A database with every migration applied by `cipulsed migrate` (nothing else: no
        row-level security, no rows), made once per cluster: tests copy it instead of each
        collector migrating an empty database at start-up."""
        if self._template is None:
            self._admin('CREATE DATABASE "%s"' % self.TEMPLATE)
            p = run_checked([CIPULSED, "migrate"], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, CIPULSE_DATABASE_URL=self.url(self.TEMPLATE),
                                     CIPULSE_LOG_LEVEL="warn", **sanitizer_env()))
            assert p.returncode == 0, "cipulsed migrate failed: %s" % p.stderr
            self._template = self.TEMPLATE
        return self._template

    def create_database(self, prefix="t", template=None):
        """A new database: empty (template1), or a copy of `template` (file by file: a small
        template copies faster so than through the WAL, PostgreSQL 15's default)."""
        self._dbn += 1
        name = "%s_%d_%d" % (prefix, os.getpid(), self._dbn)
        if template:
            self._admin('CREATE DATABASE "%s" TEMPLATE "%s" STRATEGY FILE_COPY' % (name, template))
        else:
            self._admin('CREATE DATABASE "%s"' % name)
        return name

    def drop_database(self, name):
        """Drops a test's database (its sessions ended), so that a worker's cluster stays small."""
        self._admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Database:
    """One database of a cluster, with small SQL helpers."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.url = cluster.url(name)

    def connect(self):
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        return conn

    def query(self, sql, params=None):
        conn = self.connect()
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql, params)
                return [dict(r) for r in cur.fetchall()] if cur.description else []
        finally:
            conn.close()

    def scalar(self, sql, params=None):
        rows = self.query(sql, params)
        return list(rows[0].values())[0] if rows else None

    def execute(self, sql, params=None):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
        finally:
            conn.close()

    def counts(self, tables=("repositories", "workflows", "workflow_runs", "jobs", "steps",
                             "logs", "reports", "webhook_deliveries")):
        return {t: self.scalar("SELECT count(*) FROM %s" % t) for t in tables}


class Collector:
    """The real cipulsed on free ports, against a database; logs go to a file."""

    ADMIN_TOKEN = "test-admin-token-0123456789abcdef"

    def __init__(self, db, env=None, binary=CIPULSED):
        self.db = db
        self.binary = binary
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.logdir = tempfile.mkdtemp(prefix="cipulsed-")
        self.log_path = os.path.join(self.logdir, "cipulsed.log")
        self.env = dict(os.environ)
        self.env.update(sanitizer_env())
        self.env.update({
            "CIPULSE_DATABASE_URL": db.url,
            "CIPULSE_GRPC_ADDR": "127.0.0.1:%d" % self.grpc_port,
            "CIPULSE_HTTP_ADDR": "127.0.0.1:%d" % self.http_port,
            "CIPULSE_ADMIN_TOKEN": self.ADMIN_TOKEN,
            "CIPULSE_POLL": "0",
            "CIPULSE_LOG_LEVEL": "debug",
            "CIPULSE_SHUTDOWN_GRACE": "5s",
        })
        if env:
            self.env.update(env)
        self.proc = None

    @property
    def grpc_addr(self):
        return "127.0.0.1:%d" % self.grpc_port

    @property
    def http_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def start(self, wait=True):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.sent = set()           # signals this test sent to the process
        self.exit_awaited = False   # the test waited for the process to exit (wait_exit)
        self.checked = False
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("cipulsed exited with %s:\n%s" % (self.proc.returncode, self.log()))
            status, _ = self.http("GET", "/readyz")
            return status == 200
        wait_for(ready, timeout=timeout, what="cipulsed /readyz")

    def send_signal(self, sig):
        """Sends a signal on purpose: dying of it is then no crash (see check_exit)."""
        self.sent.add(sig)
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=20):
        """Waits for an exit the test expects (start-up refused, after send_signal); returns the
        exit code, after check_exit (a sanitizer report or an unexpected signal still fails)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("cipulsed did not exit within %ss:\n%s" % (timeout, self.log()))
        self.exit_awaited = True
        self.check_exit(rc)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=30, check=True):
        """Stops the collector and checks how it ended (check_exit). A collector that already
        exited on its own crashed, unless the test waited for that exit with wait_exit."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("cipulsed did not stop within %ss:\n%s" % (timeout, self.log()))
        rc = self.proc.returncode
        if check:
            self.check_exit(rc)
        else:
            self._log.close()
        return rc

    def kill(self):
        """SIGKILL on purpose (no clean exit expected; a sanitizer report before it still fails)."""
        return self.stop(signal.SIGKILL)

    def check_exit(self, rc):
        """Fails on a crash: a sanitizer report in the log, death by a signal the test did not
        send, an exit nobody asked for, or anything but 0 after SIGTERM. Checked once per process."""
        if self.checked:
            return
        self.checked = True
        self._log.close()
        text = self.log()
        check_process("cipulsed", rc, text, self.sent)
        if not self.sent and not self.exit_awaited:
            raise AssertionError("cipulsed exited unexpectedly with %s:\n%s" % (rc, text[-8000:]))
        if self.sent == {signal.SIGTERM}:
            assert rc == 0, "cipulsed exited with %s after SIGTERM:\n%s" % (rc, text[-8000:])

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def run(self, *args, check=True):
        """Runs a cipulsed command (migrate, token create, backfill, ...) with the same settings."""
        p = run_checked([self.binary] + list(args), env=self.env, capture_output=True,
                        text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("cipulsed %s failed (%d): %s" % (args, p.returncode, p.stderr))
        return p

    def create_token(self, repo, kind="ingest"):
        args = ["token", "create", "--kind", kind]
        if repo:
            args += ["--repo", repo]
        return self.run(*args).stdout.strip()

    def http(self, method, path, body=None, headers=None, timeout=10):
        """One HTTP request; returns (status, parsed JSON or raw text)."""
        data = body
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
        req = urllib.request.Request(self.http_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                return status, json.loads(raw)
            except ValueError:
                pass
        return status, raw.decode("utf-8", "replace")

    def admin_headers(self):
        return {"Authorization": "Bearer " + self.ADMIN_TOKEN}


@contextlib.contextmanager
def collector_on_a_new_database(cluster, env=None, template=None):
    """(db, collector): a migrated database of its own (dropped after) and a started collector
    on it (stopped and checked after), for a module's tests that share one (a fixture of module
    scope), where none of them needs a fresh one; or, with `template` (prepared_database), a
    test's copy of a database prepared once."""
    db = Database(cluster, cluster.create_database(
        template=template or cluster.migrated_template()))
    col = Collector(db, env=env)
    try:
        col.start()
        yield db, col
    finally:
        try:
            col.stop()
        finally:
            cluster.drop_database(db.name)


@contextlib.contextmanager
def prepared_database(cluster, prepare, env=None):
    """(name, prepare's result): a migrated database filled once by prepare(db, collector)
    through a collector of its own (stopped and checked before the yield), for a module whose
    tests each start from the same rows: each copies it (collector_on_a_new_database with
    template=name) instead of writing them again. Dropped after."""
    db = Database(cluster, cluster.create_database(prefix="prep",
                                                   template=cluster.migrated_template()))
    try:
        col = Collector(db, env=env)
        try:
            col.start()
            out = prepare(db, col)
        finally:
            col.stop()
        yield db.name, out
    finally:
        cluster.drop_database(db.name)


class GitHubStandIn:
    """An HTTP stand-in for the GitHub REST API (and Slack/Teams webhooks) that records requests.

    Register handlers with route(method, path, handler) where handler(req) returns
    (status, headers_dict, body) — body is bytes, str or a JSON-able object. Unknown paths: 404.
    `requests` lists dicts with method, path (with query), headers and body.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = {"method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                with standin.lock:
                    standin.requests.append(req)
                path_only = self.path.split("?", 1)[0]
                fn = standin.routes.get((self.command, self.path)) or \
                    standin.routes.get((self.command, path_only))
                if fn is None:
                    status, headers, out = 404, {}, {"message": "Not Found"}
                else:
                    status, headers, out = fn(req)
                if isinstance(out, (dict, list)):
                    out = json.dumps(out).encode()
                    headers = dict({"Content-Type": "application/json"}, **headers)
                elif isinstance(out, str):
                    out = out.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method, path, handler):
        """handler: callable(req) -> (status, headers, body), or a constant (status, headers, body)."""
        if not callable(handler):
            const = handler
            handler = lambda req: const  # noqa: E731
        self.routes[(method, path)] = handler

    def received(self, method=None, path_prefix=""):
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r["method"] == method) and r["path"].startswith(path_prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def load_fixture(name):
    with open(os.path.join(FIXTURES, "webhooks", name), "rb") as f:
        return json.load(f)
