#!/usr/bin/env python3
# Every exit path of m2wo with one service request against the OutSmart
# simulator: created, duplicate, unmatched, incomplete, rejected, API and
# transport failures, a connection lost after the work order was made (and
# the MTA's retry), timeout, untrusted certificate, refused connection,
# oversize message, input without headers, unsafe token file, missing and
# broken configuration.  For each: the exit
# code, the first output line, what OutSmart stored, and that nothing m2wo
# prints holds a token, a URL or the message's text.

import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import simlib  # noqa: E402

CLEAN_ENV = {"SENDER": None, "RECIPIENT": None, "M2WO_CONFIG": None}
STORING = "storing@installatie.example.nl"
SUBJECT = "Storing vriezer bakkerij"
BODY_TEXTS = ["ratelend geluid", "min negen graden", "achteringang",
              SUBJECT]
MESSAGE = ("""From: Jan de Vries <jan@bakkerijdezon.example.nl>
To: storing@installatie.example.nl
Subject: %s
Date: Mon, 02 Dec 2024 06:10:00 +0100
Message-ID: <exitpaths.0212@bakkerijdezon.example.nl>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Goedemorgen,

De vriezer in de kelder maakt een ratelend geluid sinds vanochtend.
De temperatuur loopt op naar min negen graden. Graag via de achteringang.

Jan de Vries
""" % SUBJECT).encode("utf-8")

BODY = """
[defaults]
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}

[config Storing]
sender_type = Recipient
sender_value = storing@installatie.example.nl
forced_debtor_number = DEB1001

# DEB1011 has no postal code: its work orders are incomplete.
[config Slagerij]
sender_type = Recipient
sender_value = slager@installatie.example.nl
forced_debtor_number = DEB1011
"""

TEMPFAIL = r"4\.\d{1,3}\.\d{1,3} \S"


edit_conf, closed_port = simlib.edit_conf, simlib.closed_port
other_certificate = simlib.other_certificate


def read_audit(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


class Case:
    """One exit path: how to set it up, and what must come out."""

    def __init__(self, name, exit, dsn, outcome=None, recipient=STORING,
                 fault=None, extra="", edit=None, args=None, stdin=MESSAGE,
                 stored=0, journal=None, max_seconds=None,
                 before=None, retry=None):
        self.name = name
        self.exit = exit
        self.dsn = dsn            # exact text, or a compiled regex
        self.outcome = outcome    # audit outcome, None: not checked
        self.recipient = recipient
        self.fault = fault or []
        self.extra = extra
        self.edit = edit          # function(conf path, tmp dir)
        self.args = args          # function(conf path, tmp dir) -> argv
        self.stdin = stdin
        self.stored = stored      # work orders OutSmart holds afterwards
        self.journal = journal    # function(journal) -> problem or None
        self.max_seconds = max_seconds
        self.before = before      # runs the same message once first
        self.retry = retry        # (exit, outcome) of running it again


def journal_answered(endpoint=None, http=None, code=None):
    def check(journal):
        for e in journal:
            if (endpoint is None or e.get("endpoint") == endpoint) and \
                    (http is None or e.get("http") == http) and \
                    (code is None or e.get("code") == code):
                return None
        return "no request answered %s in the journal: %r" % (
            {"endpoint": endpoint, "http": http, "code": code},
            [(e.get("method"), e.get("endpoint"), e.get("http"),
              e.get("code")) for e in journal])
    return check


def journal_fault(kind):
    def check(journal):
        if any(e.get("fault") == kind for e in journal):
            return None
        return "no request met the %s fault: %r" % (
            kind, [(e.get("endpoint"), e.get("fault")) for e in journal])
    return check


def journal_empty(journal):
    if journal:
        return "got %d API requests, want none: %r" % (
            len(journal), [(e["method"], e["endpoint"]) for e in journal])
    return None


def journal_no_post(journal):
    posted = [e["endpoint"] for e in journal if e["method"] == "POST"]
    return "m2wo posted: %r" % posted if posted else None


def bad_config(folder):
    """A configuration with known problems on known lines."""
    path = os.path.join(folder, "bad.conf")
    token = os.path.join(folder, "bad-token")
    for p in (token, token + "-sw"):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"test-token-not-real\n")
        os.close(fd)
    lines = [
        "[m2wo]",                                       # 1
        "api_url = https://127.0.0.1:9/openapi/8",      # 2
        "token_file = %s" % token,                      # 3
        "software_token_file = %s-sw" % token,          # 4
        "no_such_setting = 1",                          # 5 unknown key
        "",                                             # 6
        "[config Kapot]",                               # 7
        "sender_type = NoSuchType",                     # 8 unknown type
        "sender_value = x",                             # 9
        "regex.broken = (unclosed",                     # 10 bad regex
        "forced.TypeOfWork = {no_such_parameter}",      # 11 unknown param
        "forced.NoSuchField = x",                       # 12 unknown field
    ]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path, [5, 8, 10, 11, 12]


class ExitPaths:
    def __init__(self, tap, sim, tmp):
        self.tap = tap
        self.sim = sim
        self.tmp = tmp
        self.n = 0

    def config(self, case):
        self.n += 1
        folder = os.path.join(self.tmp, "c%02d" % self.n)
        os.makedirs(os.path.join(folder, "state"))
        audit = os.path.join(folder, "audit.jsonl")
        extra = "audit_file = %s\nstate_dir = %s\nrequest_timeout = 10\n" \
            "deadline = 40\n%s" % (audit, os.path.join(folder, "state"),
                                  case.extra)
        conf = simlib.write_config(folder, self.sim, BODY, extra_m2wo=extra)
        if case.edit is not None:
            case.edit(conf, folder)
        return folder, conf, audit

    def run(self, case):
        folder, conf, audit = self.config(case)
        self.sim.reset()
        for f in case.fault:
            self.sim.fault(**f)
        args = case.args(conf, folder) if case.args else \
            ["-c", conf, "-f", "jan@bakkerijdezon.example.nl",
             "-r", case.recipient]
        if case.before:
            simlib.run_m2wo(args, case.stdin, env=CLEAN_ENV, timeout=90)
        start = time.monotonic()
        code, out, err = simlib.run_m2wo(args, case.stdin, env=CLEAN_ENV,
                                         timeout=90)
        took = time.monotonic() - start
        self.check(case, code, out, err, took, audit)
        if case.retry:
            self.check_retry(case, args, audit)

    def check_retry(self, case, args, audit):
        """The MTA tries again: no second work order."""
        want_exit, want_outcome = case.retry
        name = case.name + ", then the retry"
        code, out, err = simlib.run_m2wo(args, case.stdin, env=CLEAN_ENV,
                                         timeout=90)
        self.tap.is_(code, want_exit, "%s: exit %d" % (name, want_exit))
        self.check_secrets(name, out + err)
        rec = read_audit(audit) or {}
        self.tap.is_(rec.get("outcome"), want_outcome,
                     "%s: audit outcome" % name)
        self.tap.is_(len(self.sim.workorders()), 1,
                     "%s: still one work order" % name)

    def check(self, case, code, out, err, took, audit):
        tap, name = self.tap, case.name
        ctx = "stdout: %s\nstderr: %s" % (out.strip()[:1000],
                                          err.strip()[:1000])
        tap.is_(code, case.exit, "%s: exit %d" % (name, case.exit)) or \
            tap.diag(ctx)
        first = out.splitlines()[0] if out.strip() else None
        if isinstance(case.dsn, str) or case.dsn is None:
            tap.is_(first, case.dsn, "%s: first output line" % name)
        else:
            tap.ok(first is not None and case.dsn.match(first),
                   "%s: first output line" % name,
                   "got:  %r\nwant: a line matching /%s/"
                   % (first, case.dsn.pattern))
        self.check_secrets(name, out + err)
        made = self.sim.workorders()
        journal = self.sim.journal()
        tap.is_(len(made), case.stored, "%s: %d work order%s stored"
                % (name, case.stored, "" if case.stored == 1 else "s"))
        if case.journal is not None:
            problem = case.journal(journal)
            tap.ok(problem is None, "%s: what OutSmart saw" % name, problem)
        if case.outcome is not None:
            rec = read_audit(audit) or {}
            tap.is_(rec.get("outcome"), case.outcome,
                    "%s: audit outcome" % name)
        if case.max_seconds is not None:
            tap.ok(took <= case.max_seconds,
                   "%s: done within %d s" % (name, case.max_seconds),
                   "got: %.1f s" % took)

    def check_secrets(self, name, text):
        words = [self.sim.token, self.sim.software_token, "token=",
                 "https://"] + BODY_TEXTS
        found = [w for w in words if w in text]
        self.tap.ok(not found, "%s: no token, URL or message text in the "
                    "output" % name, "found %r in:\n%s" % (found, text[:2000]))

    def check_config(self):
        path, lines = bad_config(self.tmp)
        code, out, err = simlib.run_m2wo(["--check-config", "-c", path], b"",
                                         env=CLEAN_ENV)
        text = out + err
        name = "check-config on a bad file"
        self.tap.is_(code, 78, "%s: exit 78" % name) or \
            self.tap.diag(text.strip())
        problems = [ln for ln in out.splitlines() if ln.strip()]
        wrong = [ln for ln in problems if not ln.startswith(path + ":")]
        self.tap.ok(problems and not wrong,
                    "%s: one \"FILE:LINE: problem\" line each" % name,
                    "got lines:\n%s" % (out.strip() or "(none)"))
        said = {int(m.group(1)) for ln in problems
                for m in [re.match(re.escape(path) + r":(\d+):", ln)] if m}
        missing = [n for n in lines if n not in said]
        self.tap.ok(not missing, "%s: every problem named with its line"
                    % name, "no line for %r; got:\n%s"
                    % (missing, out.strip()))
        self.check_secrets(name, text)


def cases(tmp):
    def untrusted(conf, folder):
        edit_conf(conf, "ca_file", other_certificate(folder))

    def refused(conf, folder):
        edit_conf(conf, "api_url",
                  "https://127.0.0.1:%d/openapi/8" % closed_port())

    def token_644(conf, folder):
        os.chmod(os.path.join(folder, "token"), 0o644)

    def missing_conf(conf, folder):
        return ["-c", os.path.join(folder, "no-such-dir", "m2wo.conf"),
                "-f", "jan@bakkerijdezon.example.nl", "-r", STORING]

    many = 50
    temp = re.compile(TEMPFAIL)
    return [
        Case("created", 0, None, "created", stored=1,
             journal=journal_answered("PostWorkorders", 200, 200)),
        Case("unmatched", 67,
             "5.1.1 no mail configuration accepts this message",
             "unmatched", recipient="elders@installatie.example.nl",
             journal=journal_empty),
        Case("incomplete", 65, "5.6.0 work order incomplete", "incomplete",
             recipient="slager@installatie.example.nl",
             journal=journal_no_post),
        Case("HTTP 503", 75, temp, "tempfail",
             fault=[{"http_status": 503, "count": many}],
             journal=journal_answered(http=503)),
        Case("API code 1004", 75, temp, "tempfail",
             fault=[{"api_code": 1004, "count": many}],
             journal=journal_answered(code=1004)),
        Case("API code 1007", 75, temp, "tempfail",
             fault=[{"api_code": 1007, "count": many}],
             journal=journal_answered(code=1007)),
        Case("API code 1501 on PostWorkorders", 65,
             "5.6.0 work order incomplete", "incomplete",
             fault=[{"api_code": 1501, "endpoint": "PostWorkorders"}],
             journal=journal_answered("PostWorkorders", code=1501)),
        Case("API code 1504 on PostWorkorders", 65,
             "5.6.0 work order refused", "rejected",
             fault=[{"api_code": 1504, "endpoint": "PostWorkorders"}],
             journal=journal_answered("PostWorkorders", code=1504)),
        Case("duplicate", 0, None, "duplicate", before=True, stored=1,
             journal=journal_answered("GetWorkorder", code=200)),
        Case("connection dropped after the work order was made", 75, temp,
             "tempfail", stored=1, retry=(0, "duplicate"),
             fault=[{"drop_after_create": True,
                     "endpoint": "PostWorkorders"}]),
        Case("timeout", 75, temp, "tempfail",
             fault=[{"delay": 3, "count": many}],
             extra="request_timeout = 1\ndeadline = 20", max_seconds=30,
             journal=journal_fault("delay")),
        Case("untrusted certificate", 75, temp, "tempfail", edit=untrusted,
             journal=journal_empty),
        Case("refused connection", 75, temp, "tempfail", edit=refused),
        Case("oversize message", 65, "5.3.4 message too big for m2wo",
             "too_large", extra="max_message_size = 200",
             journal=journal_empty),
        Case("empty input", 65, "5.6.0 message has no headers",
             "rejected", stdin=b"", journal=journal_empty),
        Case("input without headers", 65, "5.6.0 message has no headers",
             "rejected", journal=journal_empty,
             stdin=MESSAGE.split(b"\n\n", 1)[1]),
        Case("token file readable by others", 75,
             "4.3.5 m2wo configuration error", "tempfail", edit=token_644,
             journal=journal_empty),
        Case("missing configuration file", 75,
             "4.3.5 m2wo configuration error", args=missing_conf),
    ]


def main():
    tap, _ = simlib.tap_for_m2wo()
    tmp = tempfile.mkdtemp(prefix="m2wo-exitpaths-")
    try:
        with simlib.Sim() as sim:
            paths = ExitPaths(tap, sim, tmp)
            for case in cases(tmp):
                paths.run(case)
            paths.check_config()
    finally:
        simlib.remove_scratch(tmp)
    tap.done_testing()


if __name__ == "__main__":
    main()
