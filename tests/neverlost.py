#!/usr/bin/env python3
# Never twice, never lost (SPEC 4, 5 and 7) through the real m2wo binary
# against the OutSmart simulator's fault injection: dedupe of retries and of
# lost replies, the deadline, the refusal policies and the quarantine Maildir
# (and its replay with --drop), dry runs that change nothing, the daily limit
# across processes, and the audit_file record.

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

tap, BIN = simlib.tap_for_m2wo()

TMP = tempfile.mkdtemp(prefix="m2wo-neverlost-")
AUDIT = os.path.join(TMP, "audit.jsonl")
JAN = "jan@bakkerijdezon.example.nl"
SUBJECT_MARK = "SUBJECTMARK-oven-7731"
BODY_MARK = "BODYMARK-koeling-5519"
SECRETS = [simlib.TOKEN, simlib.SOFTWARE_TOKEN]
DSN_TEMP = re.compile(r"^4\.\d{1,3}\.\d{1,3} \S")

# A configuration that makes a work order of Jan's mail only.
BAKKER = """
[config Bakker]
sender_type = Sender
sender_value = %s
customer_rules = FindOrAddRelationByEmail
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}
""" % JAN

# Only Piet's mail matches: Jan's is unmatched.
PIET_ONLY = BAKKER.replace(JAN, "piet@elders.example.org")

# Anyone matches; the customer is looked up by e-mail and never created.
ANY_BY_EMAIL = """
[config Iedereen]
sender_type = Any
customer_rules = FindOrAddRelationByEmail
create_relation = false
forced.TypeOfWork = Service
forced.PaymentMethod = op rekening
"""

# Slagerij Bos (DEB1011) has no postal code: the work order is incomplete.
INCOMPLETE = """
[config Slager]
sender_type = Any
forced_debtor_number = DEB1011
forced.TypeOfWork = Service
forced.PaymentMethod = op rekening
"""

# A new customer: created from the sender and the extracted address.
NEW_CUSTOMER = r"""
[config Nieuw]
sender_type = Any
customer_rules = FindOrAddRelationByEmail
create_relation = true
regex.customer_street = (?mi)^adres:\s*(.+)$
regex.customer_zip = (?mi)^postcode:\s*(.+)$
regex.customer_city = (?mi)^plaats:\s*(.+)$
regex.customer_phone = (?mi)^telefoon:\s*(.+)$
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
"""

state = {"serial": 0, "audited": 0, "queued": [],
         "getworkorder": []}


# ---------------------------------------------------------------- tools

def mail(tag, sender=JAN, crlf=False, msgid=True, extra="", body=None):
    """A small message from SENDER; TAG makes its Message-ID unique."""
    lines = ["From: Klant <%s>" % sender,
             "To: storing@service.example",
             "Subject: %s %s" % (SUBJECT_MARK, tag),
             "Date: Tue, 02 Dec 2025 09:15:00 +0100"]
    if msgid:
        lines.append("Message-ID: <%s.neverlost@mail.example>" % tag)
    if extra:
        lines += extra.strip("\n").split("\n")
    lines += ["MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8",
              "", body if body is not None else
              "De koelcel doet het niet. %s\nGroet, Jan" % BODY_MARK, ""]
    return ("\r\n" if crlf else "\n").join(lines).encode("utf-8")


def setup(name, sim, body=BAKKER, **m2wo):
    """A configuration folder TMP/NAME; every one shares the audit file."""
    m2wo.setdefault("audit_file", AUDIT)
    extra = "\n".join("%s = %s" % kv for kv in m2wo.items())
    return simlib.write_config(os.path.join(TMP, name), sim, body, extra)


def audit_records():
    try:
        with open(AUDIT, encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError:
        return []


def audit_of(queue_id):
    """The parsed audit record of one run (by -q), or None."""
    for line in audit_records():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("queue_id") == queue_id:
            return rec
    return None


class Result:
    def __init__(self, code, out, err, queue_id, elapsed):
        self.code, self.out, self.err = code, out, err
        self.queue_id, self.elapsed = queue_id, elapsed
        self.first = out.splitlines()[0] if out else ""
        self.rec = audit_of(queue_id) or {}
        self.outcome = self.rec.get("outcome")

    def __repr__(self):
        return "exit=%r first=%r outcome=%r stderr=%r" % (
            self.code, self.first, self.outcome, self.err[:300])


def deliver(conf, message, sender=JAN, args=(), timeout=30):
    """One pipe-mode delivery with a fresh queue id."""
    state["serial"] += 1
    queue_id = "NL%04d" % state["serial"]
    argv = ["-c", conf, "-f", sender, "-q", queue_id] + list(args)
    start = time.monotonic()
    code, out, err = simlib.run_m2wo(argv, message, timeout=timeout)
    if "-n" not in args:
        state["audited"] += 1
        state["queued"].append(queue_id)
    return Result(code, out, err, queue_id, time.monotonic() - start)


def sim_reset(sim):
    """Keeps every GetWorkorder request of the journal, then resets."""
    state["getworkorder"] += [j for j in sim.journal()
                              if j["endpoint"] == "GetWorkorder"]
    sim.reset()


def workorder_nos(sim):
    return [w["workorder_no"] for w in sim.workorders()]


def files_in(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def want(cond, name, got, wanted):
    return tap.ok(cond, name, "got:  %s\nwant: %s" % (got, wanted))


spawn_all = simlib.spawn_all


# ---------------------------------------------------------------- dedupe

def test_dedupe(sim):
    conf = setup("dedupe", sim)
    m = mail("dedupe")
    one = deliver(conf, m)
    two = deliver(conf, m)
    want(one.code == 0 and one.outcome == "created",
         "dedupe: first delivery creates", one, "exit=0 outcome=created")
    want(two.code == 0, "dedupe: second delivery exits 0", two, "exit=0")
    want(two.outcome == "duplicate", "dedupe: second outcome is duplicate",
         two, "outcome=duplicate")
    nos = workorder_nos(sim)
    want(len(nos) == 1, "dedupe: one work order in OutSmart", nos,
         "one work order")
    want(one.rec.get("workorder_no") == two.rec.get("workorder_no") and
         nos == [one.rec.get("workorder_no")],
         "dedupe: both runs name the posted WorkorderNo",
         "%r, %r, posted %r" % (one.rec.get("workorder_no"),
                                two.rec.get("workorder_no"), nos),
         "the same number three times")
    gets = [j for j in sim.journal() if j["endpoint"] == "GetWorkorder"]
    posts = [j for j in sim.journal() if j["endpoint"] == "PostWorkorders"]
    want(len(gets) == 2 and len(posts) == 1,
         "dedupe: two look-ups, one post",
         "%d GetWorkorder, %d PostWorkorders" % (len(gets), len(posts)),
         "2 GetWorkorder, 1 PostWorkorders")
    sim_reset(sim)


def test_lost_reply(sim):
    conf = setup("lost", sim)
    m = mail("lost-reply")
    sim.fault(drop_after_create=True, endpoint="PostWorkorders")
    one = deliver(conf, m)
    want(one.code == 75, "lost reply: first run exits 75", one, "exit=75")
    want(DSN_TEMP.match(one.first), "lost reply: first line is 4.x.y",
         repr(one.first), "4.x.y text")
    want(len(sim.workorders()) == 1,
         "lost reply: OutSmart made the work order anyway",
         len(sim.workorders()), 1)
    two = deliver(conf, m)
    want(two.code == 0 and two.outcome == "duplicate",
         "lost reply: the MTA's retry is a duplicate", two,
         "exit=0 outcome=duplicate")
    if not want(len(sim.workorders()) == 1,
                "lost reply: still one work order", workorder_nos(sim),
                "one work order"):
        for j in sim.journal():
            tap.diag("journal: n=%s conn=%s %s %s code=%s fault=%s" % (
                j["n"], j["conn"], j["method"], j["endpoint"], j["code"],
                j["fault"]))
    sim_reset(sim)


def test_dedupe_off(sim):
    conf = setup("dedupe-off", sim, dedupe="off")
    m = mail("dedupe-off")
    runs = [deliver(conf, m), deliver(conf, m)]
    want(all(r.code == 0 and r.outcome == "created" for r in runs),
         "dedupe = off: both deliveries create", runs,
         "exit=0 outcome=created twice")
    nos = workorder_nos(sim)
    want(len(nos) == 2 and nos[0] == nos[1],
         "dedupe = off: two work orders with one number (the trade-off)",
         nos, "two equal numbers")
    gets = [j for j in sim.journal() if j["endpoint"] == "GetWorkorder"]
    want(not gets, "dedupe = off: no GetWorkorder look-up",
         "%d look-ups" % len(gets), "none")
    sim_reset(sim)


# ---------------------------------------------------------------- deadline

def test_deadline(sim):
    conf = setup("deadline", sim, deadline=3, request_timeout=30)
    for name, fault in (("never_answer", {"never_answer": True}),
                        ("trickle 1.0", {"trickle": 1.0})):
        sim.fault(count=50, **fault)
        r = deliver(conf, mail("deadline-" + name.split()[0]), timeout=40)
        want(r.code == 75 and DSN_TEMP.match(r.first),
             "deadline 3 s, %s: exit 75 with a 4.x.y line" % name, r,
             "exit=75 first=4.x.y")
        want(r.elapsed < 10, "deadline 3 s, %s: ends in time" % name,
             "%.1f s" % r.elapsed, "< 10 s (about 3)")
        if r.code == 75 and not r.first.startswith("4.4.7"):
            tap.diag("deadline, %s: DSN %r (the deadline's own text is "
                     "'4.4.7 m2wo deadline exceeded')" % (name, r.first))
        want(not sim.workorders(), "deadline, %s: no work order" % name,
             workorder_nos(sim), "none")
        sim_reset(sim)


def test_stalled_input(sim):
    """A sender that stops before the end of the message and never closes
    the pipe: the deadline ends the read, with a tempfail and an audit
    record, well before the last-resort alarm (deadline + 5 s)."""
    conf = setup("stalled", sim, deadline=2)
    state["serial"] += 1
    queue_id = "NL%04d" % state["serial"]
    start = time.monotonic()
    proc = subprocess.Popen([BIN, "-c", conf, "-f", JAN, "-q", queue_id],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(mail("stalled")[:300])
    proc.stdin.flush()
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    elapsed = time.monotonic() - start
    proc.stdin.close()
    out = proc.stdout.read().decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    state["audited"] += 1
    state["queued"].append(queue_id)
    r = Result(code, out, "", queue_id, elapsed)
    want(r.code == 75 and r.first.startswith("4.4.7"),
         "stalled input: exit 75, 4.4.7 deadline", r, "exit=75 first=4.4.7")
    want(2 <= r.elapsed < 6, "stalled input: ends at the deadline (2 s)",
         "%.1f s" % r.elapsed, "2 s to 6 s (the alarm is at 7 s)")
    want(r.outcome == "tempfail" and "deadline" in r.rec.get("reason", ""),
         "stalled input: an audit record says so", r.rec,
         "outcome=tempfail, reason about the deadline")
    want(not sim.workorders(), "stalled input: no work order",
         workorder_nos(sim), "none")


# ---------------------------------------------------------------- policies

def quarantined(qdir):
    """[(name, bytes)] of QDIR/new."""
    out = []
    for name in files_in(os.path.join(qdir, "new")):
        with open(os.path.join(qdir, "new", name), "rb") as f:
            out.append((name, f.read()))
    return out


def split_quarantine(data):
    """(outcome value, reason value, rest) of a quarantined file."""
    lines = data.split(b"\n", 2)
    if len(lines) < 3:
        return None, None, data
    o, r = lines[0].rstrip(b"\r"), lines[1].rstrip(b"\r")
    if not o.startswith(b"X-M2WO-Outcome: ") or \
            not r.startswith(b"X-M2WO-Reason: "):
        return None, None, data
    return (o[len(b"X-M2WO-Outcome: "):].decode("utf-8", "replace"),
            r[len(b"X-M2WO-Reason: "):].decode("utf-8", "replace"), lines[2])


def check_quarantine(name, qdir, original, outcome):
    """One file in QDIR/new: our two headers first, then the bytes."""
    files = quarantined(qdir)
    if not want(len(files) == 1, "%s: one file in the quarantine" % name,
                [f[0] for f in files], "one file in %s/new" % qdir):
        return
    o, r, rest = split_quarantine(files[0][1])
    want(o is not None and (outcome is None or o == outcome) and r,
         "%s: X-M2WO-Outcome and X-M2WO-Reason come first" % name,
         repr(files[0][1][:160]),
         "X-M2WO-Outcome: %s / X-M2WO-Reason: ..." % (outcome or "..."))
    want(rest == original, "%s: then the original bytes exactly" % name,
         repr(rest[:120]), repr(original[:120]))
    want(files_in(os.path.join(qdir, "tmp")) == [],
         "%s: nothing left in tmp/" % name,
         files_in(os.path.join(qdir, "tmp")), "[]")


def test_unmatched(sim):
    qdir = os.path.join(TMP, "q-unmatched")
    for policy in ("bounce", "discard"):
        conf = setup("unmatched-" + policy, sim, PIET_ONLY,
                     on_unmatched=policy, quarantine_dir=qdir)
        r = deliver(conf, mail("unmatched-" + policy))
        wanted = (67, "5.1.1 ", "unmatched") if policy == "bounce" else \
            (0, "", "discarded")
        want(r.code == wanted[0] and r.first.startswith(wanted[1]) and
             r.outcome == wanted[2], "on_unmatched = %s" % policy, r,
             "exit=%d first=%r... outcome=%s" % wanted)
    want(quarantined(qdir) == [], "on_unmatched bounce/discard: nothing "
         "quarantined", [f[0] for f in quarantined(qdir)], "[]")
    cases = (("LF", mail("unmatched-q-lf"), None),
             ("CRLF", mail("unmatched-q-crlf", crlf=True), None),
             ("mbox From_ line", b"From jan@bakkerijdezon.example.nl Tue Dec"
              b"  2 09:15:00 2025\n" + mail("unmatched-q-mbox"), 1))
    for label, m, skip_lines in cases:
        qd = os.path.join(TMP, "q-unmatched-" + label.split()[0])
        conf = setup("unmatched-q-" + label.split()[0], sim, PIET_ONLY,
                     on_unmatched="quarantine", quarantine_dir=qd)
        r = deliver(conf, m)
        want(r.code == 0 and r.outcome == "quarantined",
             "on_unmatched = quarantine (%s): exit 0, quarantined" % label,
             r, "exit=0 outcome=quarantined")
        original = m.split(b"\n", 1)[1] if skip_lines else m
        check_quarantine("on_unmatched = quarantine (%s)" % label, qd,
                         original, "unmatched")
    want(not sim.workorders(), "unmatched: no work order",
         workorder_nos(sim), "none")
    sim_reset(sim)


def test_on_reject(sim):
    cases = (("customer_not_found", ANY_BY_EMAIL,
              "onbekend@nergens.example.org"),
             ("incomplete", INCOMPLETE, JAN))
    for outcome, body, sender in cases:
        conf = setup("reject-bounce-" + outcome, sim, body)
        m = mail("reject-" + outcome, sender=sender)
        r = deliver(conf, m, sender=sender)
        want(r.code == 65 and r.first.startswith("5.6.0 ") and
             r.outcome == outcome, "%s, on_reject = bounce" % outcome, r,
             "exit=65 first=5.6.0... outcome=%s" % outcome)
        qdir = os.path.join(TMP, "q-" + outcome)
        conf = setup("reject-q-" + outcome, sim, body,
                     on_reject="quarantine", quarantine_dir=qdir)
        r = deliver(conf, m, sender=sender)
        want(r.code == 0 and r.outcome == "quarantined",
             "%s, on_reject = quarantine: exit 0, quarantined" % outcome, r,
             "exit=0 outcome=quarantined")
        check_quarantine("%s, on_reject = quarantine" % outcome, qdir, m,
                         outcome)
    want(not sim.workorders(), "on_reject: no work order",
         workorder_nos(sim), "none")
    sim_reset(sim)


def test_on_autoreply(sim):
    extra = "Auto-Submitted: auto-replied"
    qdir = os.path.join(TMP, "q-autoreply")
    for policy in ("discard", "quarantine", "process"):
        conf = setup("autoreply-" + policy, sim, on_autoreply=policy,
                     quarantine_dir=qdir)
        m = mail("autoreply-" + policy, extra=extra)
        before = len(sim.workorders())
        r = deliver(conf, m)
        wanted = {"discard": "discarded", "quarantine": "quarantined",
                  "process": "created"}[policy]
        want(r.code == 0 and r.outcome == wanted,
             "on_autoreply = %s" % policy, r,
             "exit=0 outcome=%s" % wanted)
        made = len(sim.workorders()) - before
        want(made == (1 if policy == "process" else 0),
             "on_autoreply = %s: %s" % (policy, "one work order" if
                                        policy == "process" else
                                        "no work order"),
             "%d made" % made, 1 if policy == "process" else 0)
        if policy == "discard":
            want(quarantined(qdir) == [], "on_autoreply = discard: nothing "
                 "quarantined", [f[0] for f in quarantined(qdir)], "[]")
        if policy == "quarantine":
            check_quarantine("on_autoreply = quarantine", qdir, m, None)
    sim_reset(sim)


# ---------------------------------------------------------------- quarantine

def attachment_bytes(workorder, filename):
    for a in workorder.get("Attachments") or []:
        if a.get("FileName") == filename and "Data" in a:
            return base64.b64decode(a["Data"])
    return None


def test_round_trip(sim):
    qdir = os.path.join(TMP, "q-round-trip")
    m = mail("round-trip", msgid=False)
    conf = setup("round-trip-before", sim, PIET_ONLY,
                 on_unmatched="quarantine", quarantine_dir=qdir)
    r = deliver(conf, m)
    want(r.code == 0 and r.outcome == "quarantined",
         "round trip: unmatched mail quarantined", r,
         "exit=0 outcome=quarantined")
    fixed = setup("round-trip-after", sim,
                  BAKKER + "attach_original = true\n",
                  on_unmatched="quarantine", quarantine_dir=qdir)
    dry = deliver(fixed, m, args=["-n"])
    try:
        wo_no = json.loads(dry.out)[0]["WorkorderNo"]
    except (ValueError, LookupError, TypeError):
        wo_no = None
    want(dry.code == 0 and wo_no, "round trip: the fixed configuration "
         "accepts the pipe delivery (dry run)", dry, "exit=0, JSON")
    code, out, err = simlib.run_m2wo(["--drop", "-c", fixed, qdir], b"")
    state["audited"] += 1
    lines = [ln.split("\t") for ln in out.splitlines() if "\t" in ln]
    want(code == 0 and len(lines) == 1 and lines[0][1:2] == ["created"],
         "round trip: m2wo --drop QDIR creates the work order",
         "exit=%r lines=%r stderr=%r" % (code, lines, err[:300]),
         "exit=0, one line PATH<TAB>created<TAB>Bakker<TAB>NO")
    wos = sim.workorders()
    want(len(wos) == 1 and wos[0]["workorder_no"] == wo_no,
         "round trip: WorkorderNo is the one the pipe run makes",
         [w["workorder_no"] for w in wos], wo_no)
    got = attachment_bytes(wos[0], "message.eml") if wos else None
    want(got == m, "round trip: the X-M2WO headers are not part of the "
         "message (attach_original)", repr((got or b"")[:120]),
         repr(m[:120]))
    code, out, err = simlib.run_m2wo(["--drop", "-c", fixed, qdir], b"")
    state["audited"] += 1
    want(code == 0 and "\tduplicate\t" in out and
         len(sim.workorders()) == 1,
         "round trip: a second replay is a duplicate",
         "exit=%r out=%r work orders=%d" % (code, out,
                                            len(sim.workorders())),
         "exit=0 duplicate, one work order")
    own = os.path.join(TMP, "drop-own")
    os.makedirs(own, exist_ok=True)
    m = b"X-M2WO-Ticket: 4711\n" + mail("own-header")
    with open(os.path.join(own, "own.eml"), "wb") as f:
        f.write(m)
    code, out, err = simlib.run_m2wo(["--drop", "-c", fixed, own], b"")
    state["audited"] += 1
    wos = [w for w in sim.workorders() if w["workorder_no"] != wo_no]
    got = attachment_bytes(wos[0], "message.eml") if wos else None
    want(code == 0 and got == m, "--drop keeps a message's own X-M2WO- "
         "header", "exit=%r %r" % (code, (got or b"")[:60]),
         "exit=0 %r" % m[:60])
    sim_reset(sim)


def test_quarantine_failure(sim):
    plain = os.path.join(TMP, "a-regular-file")
    with open(plain, "w") as f:
        f.write("not a folder\n")
    qdir = os.path.join(plain, "quarantine")
    cases = (("on_unmatched", PIET_ONLY, JAN, {"on_unmatched": "quarantine"}),
             ("on_reject", ANY_BY_EMAIL, "onbekend@nergens.example.org",
              {"on_reject": "quarantine"}))
    for label, body, sender, policy in cases:
        conf = setup("qfail-" + label, sim, body, quarantine_dir=qdir,
                     **policy)
        r = deliver(conf, mail("qfail-" + label, sender=sender),
                    sender=sender)
        want(r.code == 75 and DSN_TEMP.match(r.first) and
             r.outcome == "tempfail",
             "%s = quarantine, unwritable quarantine_dir: exit 75, the MTA "
             "keeps it" % label, r, "exit=75 first=4.x.y outcome=tempfail")
        want(r.first.startswith("4.3.1 "),
             "%s, unwritable quarantine_dir: DSN says so" % label,
             repr(r.first), "'4.3.1 disk full or unwritable'")
    want(not sim.workorders(), "unwritable quarantine: no work order",
         workorder_nos(sim), "none")
    sim_reset(sim)


# ---------------------------------------------------------------- dry runs

def test_dry_runs(sim):
    qdir = os.path.join(TMP, "q-dry")
    sdir = os.path.join(TMP, "state-dry")
    conf = setup("dry-unmatched", sim, PIET_ONLY,
                 on_unmatched="quarantine", quarantine_dir=qdir)
    lines = len(audit_records())
    r = deliver(conf, mail("dry-unmatched"), args=["-n"])
    want(r.code == 0 and quarantined(qdir) == [],
         "dry run, on_unmatched = quarantine: exit 0, no file",
         "%r files=%r" % (r, quarantined(qdir)), "exit=0 files=[]")
    conf = setup("dry-limit", sim, daily_limit=1, state_dir=sdir)
    codes = [deliver(conf, mail("dry-limit-%d" % i), args=["-n"]).code
             for i in range(3)]
    want(codes == [0, 0, 0] and files_in(sdir) == [],
         "dry run, daily_limit = 1: three exit 0, no counter written",
         "exits %r, state_dir %r" % (codes, files_in(sdir)),
         "exits [0, 0, 0], state_dir []")
    os.makedirs(sdir, exist_ok=True)
    counter = os.path.join(sdir, "daily-count")
    today = time.strftime("%Y-%m-%d") + " 0\n"
    with open(counter, "w") as f:
        f.write(today)
    r = deliver(conf, mail("dry-limit-x"), args=["-n"])
    with open(counter) as f:
        after = f.read()
    want(r.code == 0 and after == today,
         "dry run: today's counter stays as it was", "%r %r" % (r, after),
         "exit=0 %r" % today)
    relations = len(sim.relations())
    nieuw = mail("dry-relation", sender="karel@nieuw.example.org",
                 body="adres: Dorpsstraat 5\npostcode: 1234 AB\n"
                 "plaats: Ergens\ntelefoon: 020-5550101")
    conf = setup("dry-relation", sim, NEW_CUSTOMER)
    r = deliver(conf, nieuw, sender="karel@nieuw.example.org", args=["-n"])
    posts = [j["method"] + " " + j["endpoint"] for j in sim.journal()
             if j["method"] == "POST"]
    want(r.code == 0 and not posts and len(sim.relations()) == relations
         and not sim.workorders(),
         "dry run, create_relation: no relation, no work order, no POST",
         "%r POSTs=%r relations +%d work orders %d" % (
             r, posts, len(sim.relations()) - relations,
             len(sim.workorders())), "exit=0, nothing changed")
    want(len(audit_records()) == lines,
         "dry runs: no line in audit_file (stderr instead)",
         "%d new lines" % (len(audit_records()) - lines), 0)
    r = deliver(conf, nieuw, sender="karel@nieuw.example.org")
    want(r.code == 0 and len(sim.relations()) == relations + 1 and
         len(sim.workorders()) == 1,
         "the same mail for real creates the relation and the work order",
         "%r relations +%d work orders %d" % (
             r, len(sim.relations()) - relations, len(sim.workorders())),
         "exit=0, +1 relation, 1 work order")
    sim_reset(sim)


# ---------------------------------------------------------------- daily limit

def test_daily_limit(sim):
    sdir = os.path.join(TMP, "state-limit")
    conf = setup("limit", sim, daily_limit=3, state_dir=sdir)
    runs = [deliver(conf, mail("limit-%d" % i)) for i in range(5)]
    codes = [r.code for r in runs]
    want(codes == [0, 0, 0, 75, 75],
         "daily_limit = 3: five mails, three created, two kept", runs,
         "exits [0, 0, 0, 75, 75]")
    want(all(DSN_TEMP.match(r.first) for r in runs[3:]),
         "daily_limit: the kept ones print a 4.x.y line",
         [r.first for r in runs[3:]], "4.x.y lines")
    want(all(r.first.startswith("4.7.0 ") for r in runs[3:]),
         "daily_limit: the line is 4.7.0",
         [r.first for r in runs[3:]],
         "'4.7.0 daily work-order limit reached' twice")
    want(len(sim.workorders()) == 3, "daily_limit = 3: three work orders",
         len(sim.workorders()), 3)
    again = deliver(conf, mail("limit-0"))
    want(again.code == 0 and again.outcome == "duplicate",
         "daily_limit reached: a retry of a created mail is a duplicate",
         again, "exit=0 outcome=duplicate")
    test_counter_file(sim, sdir)
    sim_reset(sim)
    sdir = os.path.join(TMP, "state-limit-8")
    conf = setup("limit-8", sim, daily_limit=5, state_dir=sdir)
    argvs = [["-c", conf, "-f", JAN, "-q", "LIM8-%d" % i] for i in range(8)]
    results = spawn_all(argvs, [mail("limit8-%d" % i) for i in range(8)])
    state["audited"] += 8
    state["queued"] += ["LIM8-%d" % i for i in range(8)]
    codes = sorted(r[0] for r in results)
    want(codes == [0] * 5 + [75] * 3,
         "daily_limit = 5, 8 processes at once: 5 exit 0, 3 exit 75",
         codes, [0] * 5 + [75] * 3)
    want(len(sim.workorders()) == 5, "daily_limit = 5: five work orders",
         len(sim.workorders()), 5)
    sim_reset(sim)


def test_counter_file(sim, sdir):
    """The counter of another day starts afresh; a broken one keeps mail."""
    path = os.path.join(sdir, "daily-count")
    with open(path) as f:
        content = f.read()
    want(re.match(r"^\d{4}-\d\d-\d\d 3\n$", content),
         "daily counter file holds today's date and 3", repr(content),
         "'YYYY-MM-DD 3\\n'")
    conf = setup("limit", sim, daily_limit=3, state_dir=sdir)
    with open(path, "w") as f:
        f.write("2001-01-01 3\n")
    r = deliver(conf, mail("limit-yesterday"))
    want(r.code == 0 and r.outcome == "created",
         "daily counter of another day: counting starts again", r,
         "exit=0 outcome=created")
    with open(path, "w") as f:
        f.write("not a counter")
    before = len(sim.workorders())
    r = deliver(conf, mail("limit-broken"))
    want(r.code == 75 and DSN_TEMP.match(r.first) and
         len(sim.workorders()) == before,
         "daily counter that makes no sense: exit 75, no work order",
         "%r, %d new work orders" % (r, len(sim.workorders()) - before),
         "exit=75 first=4.x.y, none")


# ---------------------------------------------------------------- audit

def test_audit_file():
    lines = audit_records()
    bad = []
    for i, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                bad.append((i, line[:100]))
        except ValueError:
            bad.append((i, line[:100]))
    want(not bad, "audit_file: every line is one JSON object", bad, "[]")
    want(len(lines) == state["audited"],
         "audit_file: one record per message", len(lines), state["audited"])
    recs = [json.loads(ln) for ln in lines if not bad]
    missing = [r for r in recs if not {"outcome", "exit", "ms"} <= set(r)]
    want(recs and not missing, "audit_file: outcome, exit and ms in each",
         missing[:3], "[]")
    made = [r for r in recs if r.get("outcome") in ("created", "duplicate")]
    no_no = [r for r in made if not r.get("workorder_no")]
    want(made and not no_no, "audit_file: created and duplicate name the "
         "WorkorderNo", no_no[:3], "[]")
    qids = sorted(r.get("queue_id") for r in recs if r.get("queue_id"))
    want(qids == sorted(state["queued"]),
         "audit_file: each run with -q has its queue_id, once",
         "%d queue ids, missing %r" % (len(qids), sorted(
             set(state["queued"]) - set(qids))[:5]),
         "%d queue ids" % len(state["queued"]))
    text = "\n".join(lines)
    leaks = [s for s in [SUBJECT_MARK, BODY_MARK] + SECRETS if s in text]
    want(not leaks, "audit_file: no subject, body or token", leaks, "[]")


def test_getworkorder_journal():
    gets = state["getworkorder"]
    wrong = [j["query"] for j in gets
             if j["query"].get("update_status") != "false"]
    want(gets and not wrong,
         "every GetWorkorder sent update_status=false (%d look-ups)"
         % len(gets), wrong[:3], "update_status=false each time")


def main():
    with simlib.Sim() as sim:
        for test in (test_dedupe, test_lost_reply, test_dedupe_off,
                     test_deadline, test_stalled_input,
                     test_unmatched, test_on_reject,
                     test_on_autoreply, test_round_trip,
                     test_quarantine_failure, test_dry_runs,
                     test_daily_limit):
            test(sim)
        sim_reset(sim)
    test_audit_file()
    test_getworkorder_journal()
    simlib.remove_scratch(TMP)
    tap.done_testing()


main()
