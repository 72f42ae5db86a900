#!/usr/bin/env python3
# The configuration snapshot in state_dir, through the real m2wo binary and
# offline dry runs: the first run writes it, later ones use it and decide
# exactly as a run that reads the whole file (the same trace, work order,
# audit line and exit code); any change of the file, and any damage to the
# snapshot, makes m2wo read the whole file again; a broken configuration
# still keeps the mail (exit 75) whatever snapshot there is; problems name
# the file's own lines; a state_dir m2wo cannot write costs nothing but the
# snapshot.

import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

tap, BIN = simlib.tap_for_m2wo(simulator=False)

TMP = tempfile.mkdtemp(prefix="m2wo-confsnap-")
ENV = {"SENDER": None, "RECIPIENT": None, "M2WO_CONFIG": None}
SNAPSHOT = "config.snapshot"
N_GROUPS = 200
LATE = 190          # the group Jan's mail matches, near the end
INACTIVE = 150      # an inactive group that would accept Uit's mail
INHERITED = 195     # takes sender_type and sender_value from [defaults]

DEFAULTS = """
[defaults]
sender_type = Recipient
sender_value = erfenis@service.example
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}
forced_debtor_number = DEB1001
"""


def group(i):
    """One [config NAME] group; the kinds take turns."""
    if i == LATE:
        return ("[config Laat]\nsender_type = Sender\n"
                "sender_value = jan@bakker.example\n"
                "regex.oven = (?m)^Oven:\\s*(\\S+)\n"
                "forced.ErrorCode = {oven}\n")
    if i == INACTIVE:
        return ("[config Uit]\nactive = false\nsender_type = Sender\n"
                "sender_value = uit@bakker.example\n")
    if i == INHERITED:
        return "[config Erfenis]\ndescription = from [defaults]\n"
    kinds = [
        ("Sender", "s%d@klant.example; T%d@Klant.example" % (i, i)),
        ("SenderDomain", "klant%d.example.org;*.k%d.example.com" % (i, i)),
        ("TitleContains", "Melding %d lekkage" % i),
        ("TitleRegex", "^\\[T%d\\] .*(lekkage|storing)" % i),
        ("Recipient", "r%d@service.example" % i),
        ("MessageContains", "Kenmerk-%d-XQ" % i),
        ("TitleEquals", "Onderhoud %d" % i),
    ]
    kind, value = kinds[i % len(kinds)]
    return ("# group %d\n[config Klant %d]\nsender_type = %s\n"
            "sender_value = %s\nforced.ShortWorkDescription = K%d {subject}\n"
            % (i, i, kind, value, i))


def body(groups=None):
    return DEFAULTS + "\n" + "\n".join(groups or
                                       [group(i) for i in range(N_GROUPS)])


def mail(sender, subject, text="Oven: E07\nDe oven is stuk.\n"):
    return ("From: <%s>\nTo: <service@service.example>\nSubject: %s\n"
            "Date: Mon, 02 Dec 2024 06:10:00 +0100\n"
            "Message-ID: <%s.%d@bakker.example>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s"
            % (sender, subject, sender.split("@")[0], len(subject), text))


MAILS = {
    "late": (mail("jan@bakker.example", "Storing oven"),
             "storing@service.example"),
    "none": (mail("piet@elders.example", "Vraag"), "storing@service.example"),
    "inactive": (mail("uit@bakker.example", "Storing"),
                 "storing@service.example"),
    "defaults": (mail("kees@elders.example", "Lekkage"),
                 "erfenis@service.example"),
    "regex": (mail("kees@elders.example", "[T10] grote lekkage"),
              "storing@service.example"),
}


class Run:
    def __init__(self, code, out, err):
        self.code, self.out = code, out
        # The audit line's ms= is the one thing that may differ.
        self.err = re.sub(r"\bms=\d+", "ms=N", err)

    def same(self, other):
        return (self.code, self.out, self.err) == \
            (other.code, other.out, other.err)

    def __repr__(self):
        tail = "\n".join(self.out.splitlines()[-6:])
        return "exit=%r\n--- stdout (end)\n%s\n--- stderr\n%s" % (
            self.code, tail, self.err)


def m2wo(conf, which, extra=()):
    raw, recipient = MAILS[which]
    args = ["-c", conf, "-n", "--offline", "--explain", "-r", recipient]
    return Run(*simlib.run_m2wo(args + list(extra), raw, env=ENV))


def settle():
    """m2wo snapshots a configuration only once it is a second old: a file
    changed within one clock tick could change again, its time stamps
    unmoved."""
    time.sleep(1.1)


def setup(name, text, state=True, wait=True):
    """A fresh folder with a configuration; returns (conf, state_dir)."""
    folder = os.path.join(TMP, name)
    sdir = os.path.join(folder, "state")
    if state:
        os.makedirs(sdir)
    conf = simlib.write_config(folder, None, text,
                               extra_m2wo="state_dir = %s" % sdir)
    if wait:
        settle()
    return conf, sdir


def snap_id(sdir):
    """The snapshot's inode and mode, or None: a rewrite is a new inode."""
    try:
        st = os.stat(os.path.join(sdir, SNAPSHOT))
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_mode & 0o777)


def rewrite(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, old
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    settle()


def want(cond, name, got):
    return tap.ok(cond, name, "got:\n%s" % (got,))


# ------------------------------------------------ (1) written, then used

def test_used():
    conf, sdir = setup("used", body(), wait=False)
    reference, _ = setup("reference", body(), state=False, wait=False)
    fresh = m2wo(conf, "late")
    want(fresh.code == 0 and snap_id(sdir) is None,
         "a configuration changed within the last second gets no snapshot",
         (fresh, snap_id(sdir)))
    settle()
    first_id = None
    for which in MAILS:
        first = m2wo(conf, which)
        ident = snap_id(sdir)
        second = m2wo(conf, which)
        full = m2wo(reference, which)
        if first_id is None:
            first_id = ident
            want(ident is not None and ident[2] == 0o600,
                 "the first run writes the snapshot, mode 0600", ident)
        want(snap_id(sdir) == first_id,
             "%s: the next run uses the snapshot (not rewritten)" % which,
             (first_id, snap_id(sdir)))
        want(second.same(first) and first.out.replace(reference, conf)
             == full.out.replace(reference, conf) and first.code == full.code,
             "%s: same trace, work order, audit line and exit code" % which,
             "first:\n%r\nsecond:\n%r\nno snapshot:\n%r"
             % (first, second, full))
    want(sorted(os.listdir(sdir)) == [SNAPSHOT],
         "state_dir holds the snapshot and nothing else", os.listdir(sdir))
    late = m2wo(conf, "late")
    want(late.code == 0 and 'config "Laat"' in late.out and
         '"ErrorCode": "E07"' in late.out and
         'config "Uit": skipped: inactive' in late.out,
         "the late group matched, its rules and [defaults] loaded", late)
    for which, says in (("none", "no mail configuration accepts"),
                        ("inactive", "no mail configuration accepts"),
                        ("defaults", 'config "Erfenis" (Recipient'),
                        ("regex", 'config "Klant 10" (TitleRegex')):
        r = m2wo(conf, which)
        want(says in r.out, "%s: %s" % (which, says), r)
    return conf, sdir


def test_drop(conf, sdir):
    folder = os.path.join(TMP, "drop-in")
    os.makedirs(folder)
    for n, which in enumerate(["late", "defaults", "late", "none"]):
        with open(os.path.join(folder, "%d.eml" % n), "w") as f:
            f.write(MAILS[which][0])
    args = ["-c", conf, "-n", "--offline", "--drop", folder]
    with_snap = Run(*simlib.run_m2wo(args, b"", env=ENV))
    os.unlink(os.path.join(sdir, SNAPSHOT))
    without = Run(*simlib.run_m2wo(args, b"", env=ENV))
    want(with_snap.same(without) and "Laat" in with_snap.out + with_snap.err,
         "--drop: the same results with and without the snapshot",
         "with:\n%r\nwithout:\n%r" % (with_snap, without))


# ------------------------------------------- (2) a changed file counts

def test_invalidated():
    conf, sdir = setup("changed", body())
    m2wo(conf, "late")
    before = snap_id(sdir)
    # Other size: Jan's address moves to another group.
    rewrite(conf, "sender_value = jan@bakker.example",
                  "sender_value = jan.de.vries@bakker.example")
    r = m2wo(conf, "late")
    want(r.code == 67 and "no mail configuration accepts" in r.out and
         snap_id(sdir) != before,
         "a longer sender_value counts at once; snapshot rewritten", r)
    rewrite(conf, "sender_value = jan.de.vries@bakker.example",
                  "sender_value = jan@bakker.example")
    r = m2wo(conf, "late")
    want('config "Laat"' in r.out and r.code == 0,
         "back to Jan (a changed file again)", r)
    # The same size: only the file's time stamps tell.
    before = snap_id(sdir)
    size = os.path.getsize(conf)
    rewrite(conf, "sender_value = jan@bakker.example",
                  "sender_value = jon@bakker.example")
    r = m2wo(conf, "late")
    want(os.path.getsize(conf) == size and r.code == 67 and
         "no mail configuration accepts" in r.out and snap_id(sdir) != before,
         "a change of the same size counts too", r)
    before = snap_id(sdir)
    ref = m2wo(conf, "none")
    os.utime(conf)
    settle()
    r = m2wo(conf, "none")
    want(r.same(ref) and snap_id(sdir) != before,
         "touch: read again, snapshot rewritten, the same result", r)


# --------------------------------------- (3) damage is ignored, replaced

def test_damaged():
    conf, sdir = setup("damaged", body())
    good = m2wo(conf, "late")
    path = os.path.join(sdir, SNAPSHOT)
    with open(path, "rb") as f:
        valid = f.read()
    damages = {
        "empty": b"",
        "garbage": bytes((i * 37 + 11) % 256 for i in range(4096)),
        "truncated": valid[:len(valid) // 2],
        "one byte short": valid[:-1],
        "one byte more": valid + b"\0",
        "the header alone": valid[:120],
        "huge counts": valid[:len(valid) // 3] + b"\xff" * 64,
    }
    for name, data in damages.items():
        with open(path, "wb") as f:
            f.write(data)
        r = m2wo(conf, "late")
        after = snap_id(sdir)
        again = m2wo(conf, "late")
        want(r.same(good) and again.same(good) and after is not None and
             snap_id(sdir) == after and os.path.getsize(path) == len(valid),
             "%s snapshot: ignored, replaced, the same match" % name,
             "%r\nsnapshot size %d (valid %d)"
             % (r, os.path.getsize(path), len(valid)))
    os.unlink(path)
    os.mkdir(path)
    r = m2wo(conf, "late")
    want(r.same(good), "a folder in the snapshot's place: ignored", r)
    os.rmdir(path)


# ------------------------ (4) a broken file keeps the mail, snapshot or not

def test_broken_elsewhere():
    conf, sdir = setup("broken", body())
    m2wo(conf, "late")
    old = snap_id(sdir)
    rewrite(conf, "[config Klant 3]\n", "[config Klant 3]\nno_such_key = 1\n")
    r = m2wo(conf, "late")
    want(r.code == 75 and "4.3.5 m2wo configuration error" in r.err and
         snap_id(sdir) == old,
         "an unknown key in a group that does not match: exit 75, 4.3.5",
         r)
    code, out, err = simlib.run_m2wo(["-c", conf, "-r",
                                      "storing@service.example"],
                                     MAILS["late"][0], env=ENV)
    want(code == 75 and out.startswith("4.3.5 m2wo configuration error"),
         "the same in pipe mode: exit 75, first line 4.3.5",
         "exit=%r out=%r err=%r" % (code, out, err))
    rewrite(conf, "no_such_key = 1\n", "")
    r = m2wo(conf, "late")
    want(r.code == 0, "repaired: exit 0 again", r)
    # The same size as the good file: "Sender" becomes "Sendxr".
    rewrite(conf, "sender_type = Sender\nsender_value = s7@",
                  "sender_type = Sendxr\nsender_value = s7@")
    r = m2wo(conf, "late")
    want(r.code == 75 and "4.3.5" in r.err and
         "unknown type Sendxr" in r.err,
         "a same-size break in another group: exit 75, 4.3.5", r)


# ------------------------- (5) a problem of the matched group, its line

def test_problem_line():
    groups = [group(i) for i in range(N_GROUPS)]
    groups[LATE] += "regex.kapot = (open\n"
    conf, sdir = setup("line", body(groups))
    with open(conf) as f:
        line = f.read().split("\n").index("regex.kapot = (open") + 1
    first = m2wo(conf, "late")
    second = m2wo(conf, "late")
    text = "regex.kapot (line %d): missing closing parenthesis" % line
    want(first.code == 75 and text in first.out and second.same(first) and
         snap_id(sdir) is not None,
         "a bad rule in the matched group: line %d, with or without "
         "the snapshot" % line, "first:\n%r\nsecond:\n%r" % (first, second))
    code, out, _ = simlib.run_m2wo(["-c", conf, "--check-config"], b"",
                                   env=ENV)
    want(code == 78 and "%s:%d: regex.kapot" % (conf, line) in out,
         "--check-config names the same line", "exit=%r\n%s" % (code, out))


# ------------------------------------ (6) a state_dir m2wo cannot write

def test_unwritable():
    missing, msdir = setup("missing", body(), state=False)
    ref = m2wo(missing, "late")
    want(ref.code == 0 and not os.path.exists(msdir),
         "state_dir missing: the run succeeds, nothing is created", ref)
    conf, sdir = setup("notadir", body(), state=False)
    with open(sdir, "w") as f:
        f.write("a file, not a folder\n")
    r = m2wo(conf, "late")
    want(r.code == 0 and 'config "Laat"' in r.out,
         "state_dir a file: the run succeeds", r)
    if os.geteuid() == 0:
        tap.skip("state_dir read-only: succeeds, no snapshot",
                 "root writes anyway")
        return
    conf, sdir = setup("readonly", body())
    os.chmod(sdir, 0o555)
    r = m2wo(conf, "late")
    again = m2wo(conf, "late")
    want(r.code == 0 and again.same(r) and os.listdir(sdir) == [],
         "state_dir read-only: succeeds, no snapshot", r)
    os.chmod(sdir, 0o755)


def main():
    try:
        conf, sdir = test_used()
        test_drop(conf, sdir)
        test_invalidated()
        test_damaged()
        test_broken_elsewhere()
        test_problem_line()
        test_unwritable()
    finally:
        simlib.remove_scratch(TMP)
    tap.done_testing()


if __name__ == "__main__":
    main()
