#!/usr/bin/env python3
# End-to-end fixture tests: every tests/fixtures/NAME.eml is piped through
# the real m2wo binary against the OutSmart simulator, first as a dry run
# (-n), then for real, and compared with NAME.expect: exit code, first output
# line, audit record, the work orders OutSmart stored and their fields.
# Nothing m2wo prints may hold a token.  Usage: fixtures.py [NAME...]
#
# NAME.expect (JSON):
#   args        envelope arguments, e.g. ["-f", "a@example.com", "-r", "b@..."]
#   exit        exit code;  outcome  audit outcome;  config  configuration
#               name (null: none);  dsn  first line of output (null: none)
#   workorder   FIELD: exact string ("{today_dmy}" is the processing date),
#               or {"contains": s|[s], "not_contains": s|[s], "regex": p|[p]}
#   attachments file names the work order carries (their bytes are checked
#               against the message's own parts; message.eml is the message)
#   requests    ["GET relations", ...]: API calls that must have been made
#   same_workorder_no_as   another fixture that must get the same WorkorderNo

import base64
import binascii
import datetime
import email
import email.policy
import json
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import simlib  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
# The envelope comes from the arguments only, never from the caller's shell.
CLEAN_ENV = {"SENDER": None, "RECIPIENT": None, "M2WO_CONFIG": None}
# What the simulator adds to a stored work order.
SIM_KEYS = {"row_id", "workorder_no", "outsmart_workorder_no", "status"}


def dates_dmy(start, end):
    """Processing dates a run may have used (it may cross midnight)."""
    return {d.strftime("%d-%m-%Y") for d in (start, end)}


def as_list(value):
    return value if isinstance(value, list) else [value]


def check_field(name, got, want, today):
    """Problems (strings) of one work-order field; [] when it is right."""
    if isinstance(want, str):
        if "{today_dmy}" in want:
            ok = got in {want.replace("{today_dmy}", d) for d in today}
        else:
            ok = got == want
        return [] if ok else ["%s: got %r, want %r" % (name, got, want)]
    if not isinstance(got, str):
        return ["%s: got %r, want a string" % (name, got)]
    problems = []
    for s in as_list(want.get("contains", [])):
        if s not in got:
            problems.append("%s: got %r, want it to contain %r"
                            % (name, got, s))
    for s in as_list(want.get("not_contains", [])):
        if s in got:
            problems.append("%s: got %r, want it not to contain %r"
                            % (name, got, s))
    for p in as_list(want.get("regex", [])):
        if re.search(p, got) is None:
            problems.append("%s: got %r, want a match for /%s/"
                            % (name, got, p))
    return problems


def part_bytes(raw, filename):
    """The decoded bytes of the message part whose file name (without
    any directory a sender put in front) is filename, or None."""
    if filename == "message.eml":
        return raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        name = (part.get_filename() or "").replace("\\", "/")
        if name.rsplit("/", 1)[-1] == filename:
            return part.get_payload(decode=True)
    return None


def check_attachments(workorder, want, raw):
    got = workorder.get("Attachments") or []
    if not isinstance(got, list):
        return ["Attachments: got %r, want a list" % (got,)]
    names = sorted(str(a.get("FileName")) for a in got
                   if isinstance(a, dict))
    if names != sorted(want):
        return ["Attachments: got names %r, want %r" % (names, sorted(want))]
    problems = []
    for a in got:
        try:
            data = base64.b64decode(a.get("Data", ""), validate=True)
        except (binascii.Error, ValueError, TypeError):
            problems.append("%s: Data is not base64" % a["FileName"])
            continue
        expected = part_bytes(raw, a["FileName"])
        if data != expected:
            problems.append("%s: got %d bytes %r..., want %d bytes %r..."
                            % (a["FileName"], len(data), data[:40],
                               len(expected or b""), (expected or b"")[:40]))
    return problems


def first_line(text):
    return text.splitlines()[0] if text.strip() else None


def posts(journal):
    return ["%s %s" % (e.get("method"), e.get("endpoint")) for e in journal
            if e.get("method") == "POST"]


def read_audit(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return []
    records = []
    for ln in lines:
        try:
            records.append(json.loads(ln))
        except ValueError:
            records.append({"unparsable": ln})
    return records


def dry_workorder(stdout):
    """The work order printed by a dry run, or None."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    return data if isinstance(data, dict) else None


class FixtureRun:
    def __init__(self, tap, sim, conf, audit):
        self.tap = tap
        self.sim = sim
        self.conf = conf
        self.audit = audit
        self.numbers = {}      # fixture -> WorkorderNo of its real run

    def run(self, args, raw):
        start = datetime.datetime.now()
        code, out, err = simlib.run_m2wo(["-c", self.conf] + args, raw,
                                         env=CLEAN_ENV, timeout=60)
        return code, out, err, dates_dmy(start, datetime.datetime.now())

    def context(self, code, out, err):
        return "exit %r\nstdout: %s\nstderr: %s" % (
            code, out.strip()[:1500], err.strip()[:1500])

    def secrets(self, name, texts):
        bad = [s for s in (self.sim.token, self.sim.software_token, "token=")
               if any(s in t for t in texts)]
        self.tap.ok(not bad, "%s: no token in any output" % name,
                    "found %r in the output" % bad)

    def dry(self, name, expect, raw):
        self.sim.reset()
        code, out, err, _ = self.run(["-n"] + expect["args"], raw)
        made = self.sim.workorders()
        posted = posts(self.sim.journal())
        self.tap.ok(code == expect["exit"] and not made and not posted,
                    "%s: dry run exits %s and changes nothing"
                    % (name, expect["exit"]),
                    "got: exit %r, %d work orders, POSTs %r\n"
                    "want: exit %r, no work order, no POST\n%s"
                    % (code, len(made), posted, expect["exit"],
                       self.context(code, out, err)))
        wo = dry_workorder(out) if expect["outcome"] == "created" else None
        return (out, err, wo)

    def real(self, name, expect, raw):
        self.sim.reset()
        open(self.audit, "w").close()
        code, out, err, today = self.run(expect["args"], raw)
        ctx = self.context(code, out, err)
        self.tap.is_(code, expect["exit"], "%s: exit code" % name) or \
            self.tap.diag(ctx)
        self.tap.is_(first_line(out), expect["dsn"],
                     "%s: first output line" % name)
        made = self.sim.workorders()
        journal = self.sim.journal()
        self.check_audit(name, expect, made)
        if expect["outcome"] == "created":
            self.check_created(name, expect, raw, made, today, ctx)
        else:
            self.tap.ok(not made and not posts(journal),
                        "%s: nothing posted to OutSmart" % name,
                        "got: %d work orders, POSTs %r\nwant: none\n%s"
                        % (len(made), posts(journal), ctx))
        for want in expect.get("requests", []):
            calls = ["%s %s" % (e["method"], e["endpoint"]) for e in journal]
            self.tap.ok(want in calls, "%s: m2wo asked %s" % (name, want),
                        "got requests %r\nwant one %r" % (calls, want))
        return out, err, made

    def check_audit(self, name, expect, made):
        records = read_audit(self.audit)
        rec = records[-1] if records else {}
        problems = []
        if len(records) != 1:
            problems.append("got %d audit records, want 1" % len(records))
        if rec.get("outcome") != expect["outcome"]:
            problems.append("outcome: got %r, want %r"
                            % (rec.get("outcome"), expect["outcome"]))
        if (rec.get("config") or None) != expect["config"]:
            problems.append("config: got %r, want %r"
                            % (rec.get("config"), expect["config"]))
        if "exit" in rec and rec["exit"] != expect["exit"]:
            problems.append("exit: got %r, want %r"
                            % (rec["exit"], expect["exit"]))
        if len(made) == 1 and rec.get("workorder_no") != \
                made[0].get("workorder_no"):
            problems.append("workorder_no: got %r, want %r" % (
                rec.get("workorder_no"), made[0].get("workorder_no")))
        self.tap.ok(not problems, "%s: audit record" % name,
                    "\n".join(problems + ["record: %r" % (rec,)]))

    def check_created(self, name, expect, raw, made, today, ctx):
        if not self.tap.is_(len(made), 1, "%s: one work order stored" % name):
            self.tap.diag(ctx)
            return
        wo = made[0]
        self.numbers[name] = wo.get("WorkorderNo")
        problems = []
        for field, want in expect.get("workorder", {}).items():
            problems += check_field(field, wo.get(field), want, today)
        self.tap.ok(not problems, "%s: work-order fields" % name,
                    "\n".join(problems))
        if "attachments" in expect:
            problems = check_attachments(wo, expect["attachments"], raw)
            self.tap.ok(not problems, "%s: attachments" % name,
                        "\n".join(problems))

    def fixture(self, name):
        with open(os.path.join(FIXTURES, name + ".expect"),
                  encoding="utf-8") as f:
            expect = json.load(f)
        with open(os.path.join(FIXTURES, name + ".eml"), "rb") as f:
            raw = f.read()
        dout, derr, dwo = self.dry(name, expect, raw)
        out, err, made = self.real(name, expect, raw)
        if expect["outcome"] == "created":
            self.compare_dry(name, dwo, made, dout)
        self.secrets(name, [dout, derr, out, err])
        return expect

    def compare_dry(self, name, dwo, made, dout):
        """The dry run printed the work order the real run posted."""
        got = dwo.get("WorkorderNo") if dwo else None
        want = made[0].get("WorkorderNo") if len(made) == 1 else None
        self.tap.ok(got is not None and got == want,
                    "%s: dry run prints the same WorkorderNo" % name,
                    "got:  %r\nwant: %r\ndry-run stdout: %s"
                    % (got, want, dout.strip()[:800]))
        if dwo is None or len(made) != 1:
            return
        posted = {k: v for k, v in made[0].items() if k not in SIM_KEYS}
        diff = sorted(k for k in set(dwo) | set(posted)
                      if dwo.get(k) != posted.get(k))
        self.tap.ok(not diff, "%s: dry run prints the work order that "
                    "was posted" % name, "\n".join(
                        "%s: dry run %r, posted %r" % (
                            k, str(dwo.get(k))[:200], str(posted.get(k))[:200])
                        for k in diff))

    def same_numbers(self, name, other):
        a, b = self.numbers.get(name), self.numbers.get(other)
        self.tap.ok(a is not None and a == b,
                    "%s: same WorkorderNo as %s (stable message key)"
                    % (name, other), "got:  %r\nwant: %r" % (a, b))


def fixture_names(argv):
    names = sorted(f[:-len(".eml")] for f in os.listdir(FIXTURES)
                   if f.endswith(".eml"))
    return [n for n in names if n in argv] if argv else names


def main():
    tap, _ = simlib.tap_for_m2wo()
    tmp = tempfile.mkdtemp(prefix="m2wo-fixtures-")
    try:
        with open(os.path.join(FIXTURES, "m2wo.conf.body"),
                  encoding="utf-8") as f:
            body = f.read()
        audit = os.path.join(tmp, "audit.jsonl")
        os.makedirs(os.path.join(tmp, "state"))
        with simlib.Sim() as sim:
            conf = simlib.write_config(
                tmp, sim, body,
                extra_m2wo="audit_file = %s\nstate_dir = %s\n"
                "request_timeout = 10\ndeadline = 50"
                % (audit, os.path.join(tmp, "state")))
            runner = FixtureRun(tap, sim, conf, audit)
            pairs = []
            for name in fixture_names(sys.argv[1:]):
                expect = runner.fixture(name)
                if "same_workorder_no_as" in expect:
                    pairs.append((name, expect["same_workorder_no_as"]))
            for name, other in pairs:
                runner.same_numbers(name, other)
    finally:
        simlib.remove_scratch(tmp)
    tap.done_testing()


if __name__ == "__main__":
    main()
