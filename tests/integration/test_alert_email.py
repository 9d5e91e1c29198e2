"""Alert e-mail over SMTP against aiosmtpd (Debian's python3-aiosmtpd): plain, with AUTH from
the URL's user info, and with STARTTLS (verified against the test CA; an unknown CA delivers
nothing). The resolve mail threads under the open mail."""
import email
import email.policy
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alert_util import REPO, outbox, run_payload, send_run, setup_repo, wait_outbox_settled
from harness import free_port, wait_for
from test_agent_tls import pki  # noqa: F401  (fixture: a test CA and a server certificate)


class Sink:
    def __init__(self):
        self.envelopes = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    def auth(self, server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"alice" and \
            data.password == b"p@ss word"
        if ok:
            self.logins.append((mechanism, session.ssl is not None))
        return AuthResult(success=ok)

    def messages(self):
        return [email.message_from_bytes(e.original_content, policy=email.policy.default)
                for e in self.envelopes]


def smtp_server(sink, **kw):
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    return ctl, port


def env(port, user="", **extra):
    e = {"CIPULSE_SMTP_URL": "smtp://%s127.0.0.1:%d" % (user, port),
         "CIPULSE_SMTP_FROM": "cipulse@ci.example.com",
         "CIPULSE_ALERT_EMAIL_TO": "oncall@example.com, lead@example.com",
         "CIPULSE_NOTIFY_BACKOFF_MAX": "1s"}
    e.update(extra)
    return e


def test_open_and_resolve_mails_thread(collector_factory, db):
    sink = Sink()
    ctl, port = smtp_server(sink)
    try:
        c = collector_factory(env=env(port))
        setup_repo(db)
        send_run(c, run_payload(7001, "failure", branch="main",
                                message="<script>alert(1)</script> & co"))
        wait_for(lambda: len(sink.envelopes) == 1, timeout=60, what="the open mail")
        send_run(c, run_payload(7002, "success"))
        wait_for(lambda: len(sink.envelopes) == 2, timeout=60, what="the resolve mail")
        assert [(r["channel"], r["state"]) for r in wait_outbox_settled(db)] == \
            [("env-email", "sent")] * 2
    finally:
        ctl.stop()
    opened, resolved = sink.messages()
    env0 = sink.envelopes[0]
    assert env0.mail_from == "cipulse@ci.example.com"
    assert sorted(env0.rcpt_tos) == ["lead@example.com", "oncall@example.com"]
    assert "Failure" in opened["Subject"] and REPO in opened["Subject"]
    assert opened["Date"] and opened["Message-ID"].endswith("@ci.example.com>")
    assert resolved["In-Reply-To"] == opened["Message-ID"]
    assert resolved["References"] == opened["Message-ID"]
    assert "Resolved" in resolved["Subject"]
    parts = {p.get_content_type(): p.get_content() for p in opened.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "<script>alert(1)</script> &amp; co" not in parts["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in parts["text/html"]
    assert "<script>alert(1)</script> & co" in parts["text/plain"]


def test_auth_from_the_url(collector_factory, db):
    sink = Sink()
    ctl, port = smtp_server(sink, authenticator=sink.auth, auth_required=True,
                            auth_require_tls=False)
    try:
        c = collector_factory(env=env(port, user="alice:p%40ss%20word@"))
        setup_repo(db)
        send_run(c, run_payload(7101, "failure"))
        wait_for(lambda: len(sink.envelopes) == 1, timeout=60, what="the mail")
    finally:
        ctl.stop()
    assert len(sink.logins) >= 1
    assert "p@ss" not in c.log() and "alice:" not in c.log()


def test_starttls_when_offered(collector_factory, db, pki):  # noqa: F811
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    sink = Sink()
    ctl, port = smtp_server(sink, tls_context=ctx, require_starttls=True,
                            authenticator=sink.auth, auth_required=True)
    try:
        c = collector_factory(env=env(port, user="alice:p%40ss%20word@",
                                      CIPULSE_SMTP_CA_FILE=pki["ca"]))
        setup_repo(db)
        send_run(c, run_payload(7201, "failure"))
        wait_for(lambda: len(sink.envelopes) == 1, timeout=60, what="the mail")
        # AUTH happened inside TLS.
        assert sink.logins and all(tls for _, tls in sink.logins)
    finally:
        ctl.stop()


def test_untrusted_server_gets_nothing(collector_factory, db, pki):  # noqa: F811
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    sink = Sink()
    ctl, port = smtp_server(sink, tls_context=ctx, require_starttls=True)
    try:
        c = collector_factory(env=env(port, CIPULSE_SMTP_CA_FILE=pki["other_ca"]))
        setup_repo(db)
        send_run(c, run_payload(7301, "failure"))
        rows = wait_for(lambda: [r for r in outbox(db) if r["attempts"] >= 2], timeout=60,
                        what="failed attempts")
        assert rows[0]["state"] == "pending" and "certificate" in rows[0]["last_error"].lower()
        assert sink.envelopes == []
    finally:
        ctl.stop()
