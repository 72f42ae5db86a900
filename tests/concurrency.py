#!/usr/bin/env python3
# Many m2wo processes at once against the OutSmart simulator, as a busy
# Postfix pipe transport starts them: 20 different mails make 20 work
# orders, the same 20 again make none, every run exits 0, and the audit_file
# gets one whole JSON line per run (concurrent appends never interleave).
# Concurrent quarantine writes each keep their own file.

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

tap, BIN = simlib.tap_for_m2wo()

N = 20
TMP = tempfile.mkdtemp(prefix="m2wo-concurrency-")
AUDIT = os.path.join(TMP, "audit.jsonl")
QDIR = os.path.join(TMP, "quarantine")
JAN = "jan@bakkerijdezon.example.nl"

CONFIG = """
[config Bakker]
sender_type = Sender
sender_value = %s
customer_rules = FindOrAddRelationByEmail
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
""" % JAN


def mail(i, sender=JAN):
    # Some 4 KB each: the processes overlap in parsing as well as in the
    # API requests.
    return ("From: Jan de Vries <%s>\n"
            "To: storing@service.example\n"
            "Subject: Storing nummer %d\n"
            "Date: Wed, 03 Dec 2025 10:00:00 +0100\n"
            "Message-ID: <concurrent.%d@mail.example>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            "Melding %d: de koeling valt steeds uit.\n%s\n"
            % (sender, i, i, i, "Regel met wat tekst.\n" * 200)).encode()


spawn_all = simlib.spawn_all


def batch(conf, prefix, sender=JAN):
    argvs = [["-c", conf, "-f", sender, "-q", "%s%02d" % (prefix, i)]
             for i in range(N)]
    return spawn_all(argvs, [mail(i, sender) for i in range(N)])


def failed(results):
    return ["#%d exit=%r out=%r err=%r" % (i, r[0], r[1][:80], r[2][:200])
            for i, r in enumerate(results) if r[0] != 0]


def audit_lines():
    with open(AUDIT, "rb") as f:
        data = f.read()
    return data, data.decode("utf-8", "replace").split("\n")


def check_audit():
    data, lines = audit_lines()
    tap.ok(data.endswith(b"\n"), "audit_file ends with a whole line",
           "got:  %r\nwant: ... newline" % data[-40:])
    lines = [ln for ln in lines if ln != ""]
    tap.is_(len(lines), 2 * N, "audit_file has %d lines" % (2 * N))
    recs, bad = [], []
    for ln in lines:
        try:
            rec = json.loads(ln)
        except ValueError:
            bad.append(ln[:120])
            continue
        if isinstance(rec, dict) and {"outcome", "exit", "queue_id"} <= \
                set(rec):
            recs.append(rec)
        else:
            bad.append(ln[:120])
    tap.ok(not bad, "audit_file: every line one whole JSON record",
           "got:  %r\nwant: none broken" % bad[:5])
    qids = sorted(r["queue_id"] for r in recs)
    want = sorted(["A%02d" % i for i in range(N)] +
                  ["B%02d" % i for i in range(N)])
    tap.is_(qids, want, "audit_file: one record per run, by queue id")
    outcomes = sorted((r["queue_id"][0], r["outcome"]) for r in recs)
    tap.is_(outcomes, sorted([("A", "created")] * N +
                             [("B", "duplicate")] * N),
            "audit_file: first batch created, second duplicate")


def check_quarantine(sim):
    conf = simlib.write_config(os.path.join(TMP, "q"), sim, CONFIG,
                               "on_unmatched = quarantine\n"
                               "quarantine_dir = %s" % QDIR)
    results = batch(conf, "Q", sender="onbekend@elders.example.org")
    tap.ok(not failed(results), "%d unmatched at once: every run exits 0"
           % N, "got:  %s\nwant: exit 0 each" % failed(results)[:5])
    names = os.listdir(os.path.join(QDIR, "new"))
    tap.is_(len(names), N, "%d unmatched at once: %d quarantined files"
            % (N, N))
    bodies = set()
    for name in names:
        with open(os.path.join(QDIR, "new", name), "rb") as f:
            bodies.add(f.read().split(b"\n", 2)[2])
    tap.is_(len(bodies), N, "each quarantined file holds its own message")


def main():
    with simlib.Sim() as sim:
        conf = simlib.write_config(os.path.join(TMP, "c"), sim, CONFIG,
                                   "audit_file = %s" % AUDIT)
        first = batch(conf, "A")
        tap.ok(not failed(first), "%d different mails at once: every run "
               "exits 0" % N, "got:  %s\nwant: exit 0 each"
               % failed(first)[:5])
        nos = [w["workorder_no"] for w in sim.workorders()]
        tap.ok(len(nos) == N and len(set(nos)) == N,
               "%d work orders, all different" % N,
               "got:  %d (%d different)\nwant: %d" % (len(nos), len(set(nos)),
                                                     N))
        second = batch(conf, "B")
        tap.ok(not failed(second), "the same %d again at once: every run "
               "exits 0" % N, "got:  %s\nwant: exit 0 each"
               % failed(second)[:5])
        nos = [w["workorder_no"] for w in sim.workorders()]
        tap.is_(len(nos), N, "still exactly %d work orders" % N)
        check_audit()
        check_quarantine(sim)
    simlib.remove_scratch(TMP)
    tap.done_testing()


main()
