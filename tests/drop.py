#!/usr/bin/env python3
"""WorkOrder Drop (m2wo --drop): files, folders of .eml and Maildirs go
through the same pipeline as pipe mode, one result line each, a summary,
one API connection for the whole run, and an exit status that says
whether anything failed."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

CONFIG = r"""
[config Storingen]
sender_type = TitleContains
sender_value = storing
forced_debtor_number = DEB1001
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}

[config Spoed]
sender_type = Recipient
sender_value = spoed@installateur.example
forced_debtor_number = DEB1001
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
"""


def mail(n, subject="Storing nummer %d"):
    return ("From: Klant %d <klant%d@example.nl>\n"
            "To: storing@installateur.example\n"
            "Subject: %s\n"
            "Message-ID: <drop-%d@example.nl>\n"
            "Date: Thu, 03 Dec 2026 08:00:00 +0100\n\n"
            "Graag een monteur, melding %d.\n"
            % (n, n, subject % n if "%d" in subject else subject, n, n))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def lines(out):
    return [line.split("\t") for line in out.splitlines() if "\t" in line]


def main():
    tap, _ = simlib.tap_for_m2wo()
    work = tempfile.mkdtemp(prefix="m2wo-drop-")
    with simlib.Sim() as sim:
        conf = simlib.write_config(work, sim, CONFIG)
        folder = os.path.join(work, "mails")
        for n in range(1, 6):
            write(os.path.join(folder, "m%d.eml" % n), mail(n))
        write(os.path.join(folder, "notes.txt"), "not a message\n")
        write(os.path.join(folder, "sub", "m6.eml"), mail(6))

        # Dry run first: nothing may change.
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf, folder],
                                         b"")
        rows = lines(out)
        tap.is_(code, 0, "dry drop of a folder exits 0")
        tap.is_(len(rows), 6, "one result line per .eml, subfolders included, "
                "other files ignored")
        tap.ok(all(len(r) == 4 for r in rows), "result lines have 4 "
               "tab-separated fields", repr(rows[:2]))
        tap.ok(all(r[1] == "created" and r[2] == "Storingen" and
                   r[3].startswith("M2WO-") for r in rows),
               "each line: path, outcome, configuration, WorkorderNo",
               repr(rows[:2]))
        tap.ok("6 messages" in err and "created" in err,
               "summary on standard error", err)
        tap.is_(len(sim.workorders()), 0, "dry drop posts nothing")
        dry_numbers = sorted(r[3] for r in rows)

        # The real run: one connection for all look-ups and posts.
        before = sim.stats()["connections"]
        code, out, err = simlib.run_m2wo(["--drop", "-c", conf, folder], b"")
        rows = lines(out)
        tap.is_(code, 0, "real drop exits 0")
        tap.is_(len(sim.workorders()), 6, "six work orders created")
        tap.is_(sorted(r[3] for r in rows), dry_numbers,
                "the dry run announced the same WorkorderNo values")
        tap.is_(sim.stats()["connections"] - before, 1,
                "one TLS connection for the whole drop run")

        # Replaying is safe.
        code, out, err = simlib.run_m2wo(["--drop", "-c", conf, folder], b"")
        tap.ok(code == 0 and all(r[1] == "duplicate" for r in lines(out)),
               "a second drop of the same messages: all duplicate", out)
        tap.is_(len(sim.workorders()), 6, "still six work orders")

        # A Maildir: new/ and cur/ are read, tmp/ is not.
        md = os.path.join(work, "Maildir")
        write(os.path.join(md, "new", "1.host"), mail(11))
        write(os.path.join(md, "cur", "2.host:2,S"), mail(12))
        write(os.path.join(md, "tmp", "3.host"), mail(13))
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf, md], b"")
        names = [os.path.basename(r[0]) for r in lines(out)]
        tap.is_(names, ["1.host", "2.host:2,S"],
                "Maildir: new then cur, never tmp")

        # A quarantined copy replays as the original message.
        q = os.path.join(work, "q.eml")
        write(q, "X-M2WO-Outcome: unmatched\nX-M2WO-Reason: unmatched\n" +
              mail(1))
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf, q], b"")
        row = lines(out)[0] if lines(out) else ["", "", "", ""]
        first = [r for r in rows if r[0].endswith("m1.eml")]
        tap.ok(first and row[3] == first[0][3],
               "a quarantined file replays with the original's WorkorderNo",
               "got %r want %r" % (row, first))

        # Exit status: a bounce-worthy message makes 65, a tempfail 75.
        mixed = os.path.join(work, "mixed")
        write(os.path.join(mixed, "a.eml"), mail(21))
        write(os.path.join(mixed, "b.eml"), mail(22, "Vraag over factuur"))
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf, mixed],
                                         b"")
        outcomes = [r[1] for r in lines(out)]
        tap.is_(outcomes, ["created", "unmatched"], "per-message outcomes")
        tap.is_(code, 65, "exit 65 when a message would bounce")
        sim.fault(http_status=503, count=10)
        code, out, err = simlib.run_m2wo(["--drop", "-c", conf, mixed], b"")
        tap.is_([r[1] for r in lines(out)], ["tempfail", "unmatched"],
                "API down: tempfail for the matched message")
        tap.is_(code, 75, "exit 75 when any message may pass later")
        sim.reset()

        # --explain: a trace and the JSON per message.
        code, out, err = simlib.run_m2wo(["--drop", "-n", "--explain",
                                          "--offline", "-c", conf,
                                          os.path.join(folder, "m1.eml"),
                                          os.path.join(folder, "m2.eml")], b"")
        tap.is_(out.count("config \"Storingen\""), 2,
                "--explain traces each message")
        tap.is_(out.count('"WorkorderNo"'), 2, "--explain -n prints the JSON "
                "of each work order")

        # -r applies to every message, so Recipient configurations match
        # on replay too.
        b = os.path.join(mixed, "b.eml")
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf, b], b"")
        tap.is_([r[1:3] for r in lines(out)], [["unmatched", "-"]],
                "without -r a Recipient configuration cannot match")
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf, "-r",
                                          "spoed@installateur.example", b],
                                         b"")
        tap.is_([r[1:3] for r in lines(out)], [["created", "Spoed"]],
                "--drop -r RECIPIENT: the envelope applies to each message")

        # A missing path is a tempfail, not a crash or a silent skip.
        code, out, err = simlib.run_m2wo(["--drop", "-n", "-c", conf,
                                          os.path.join(work, "nope.eml")], b"")
        tap.ok(code == 75 and "tempfail" in out,
               "a file that cannot be read: tempfail", "%r %r" % (code, out))
    simlib.remove_scratch(work)
    tap.done_testing()


if __name__ == "__main__":
    main()
