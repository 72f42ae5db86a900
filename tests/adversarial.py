#!/usr/bin/env python3
# Hostile input through the real binary (SPEC 6): every message is made here
# at test time, never kept as a file. Each goes through a dry run (-n
# --offline, catch-all configuration) and must end with a defined exit code
# (0, 65, 67 or 75, and the one expected), within 5 seconds, with nothing
# but valid UTF-8 JSON on standard output; some also go through a real run
# against the OutSmart simulator, where standard output may hold the DSN
# line and nothing else. Then the regression inputs the fuzzers found
# (tests/fuzz/regress) go through the binary and --check-config.

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import simlib  # noqa: E402

CLEAN_ENV = {"SENDER": None, "RECIPIENT": None, "M2WO_CONFIG": None}
ENVELOPE = ["-f", "jan@example.com", "-r", "storing@example.nl"]
DEFINED = {0, 65, 67, 75}
# Sanitizer and valgrind builds run slower; tools/sanitize.sh says how much.
SLOW = float(os.environ.get("M2WO_TEST_SLOWDOWN", "1"))
SECONDS = 5.0
MEMORY = 1 << 30           # bytes a run may use at its peak

CATCH_ALL = """
[defaults]
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}
forced.InternalWorkDescription = {email_display_name} <{sender_address}>

[config alles]
sender_type = Any
forced_debtor_number = DEB1001
parse_attachments = true
regex.customer_zip = (?m)^Postcode:\\s*(\\d{4}\\s?[A-Za-z]{2})\\s*$
regex.anything = (?m)^Onderwerp:\\s*(?<value>.{0,40})
forced.Comment = {anything}
"""


def head(n=0, extra=b""):
    return (b"From: Jan de Vries <jan@example.com>\n"
            b"To: storing@example.nl\n"
            b"Subject: adversarial %d\n"
            b"Message-ID: <adversarial.%d@example.com>\n"
            b"MIME-Version: 1.0\n" % (n, n)) + extra


# ------------------------------------------------------------ the inputs

def nested_multiparts(levels):
    raw = bytearray(head(1))
    for i in range(levels):
        raw += (b'Content-Type: multipart/mixed; boundary="n%d"\n\n--n%d\n'
                % (i, i))
    raw += b"Content-Type: text/plain\n\ndeepest\n"
    for i in reversed(range(levels)):
        raw += b"--n%d--\n" % i
    return bytes(raw)


def many_parts(count):
    raw = bytearray(head(2, b'Content-Type: multipart/mixed; boundary="p"\n'
                        b"\n"))
    raw += b"--p\nContent-Type: text/plain\n\nfirst part\n"
    for i in range(count - 1):
        raw += b"--p\nContent-Type: text/plain\n\npart %d\n" % i
    raw += b"--p--\n"
    return bytes(raw)


def long_line(size):
    return head(3) + b"\n" + b"x" * size + b"\n"


def nul_bytes():
    return (b"From: Jan\x00 de Vries <jan@exa\x00mple.com>\n"
            b"To: storing@example.nl\n"
            b"Subject: nul\x00in the subject\n"
            b"X-Nul: \x00\x00\x00\n"
            b"Message-ID: <adversarial.4@example.com>\n\n"
            b"body\x00with\x00nul bytes\n\x00\n")


def bad_rfc2047():
    word = base64.b64encode(b"caf\xc3 \xff\xfe\xed\xa0\x80 \xc0\xaf")
    return head(5).replace(b"Subject: adversarial 5",
                           b"Subject: =?utf-8?B?" + word + b"?= and "
                           b"=?utf-8?Q?=FF=C3=28?= tail") + \
        b"From-Name: =?utf-8?B?/w==?=\n\nbody\n"


def unknown_charset():
    return head(6, b"Content-Type: text/plain; charset=x-no-such-charset\n"
                b"\n") + b"caf\xe9 \xff\xfe na\xefve \xe2\x82\xac\n"


def unclosed_boundary():
    return head(7, b'Content-Type: multipart/mixed; boundary="never"\n\n') + \
        b"--never\nContent-Type: text/plain\n\nopen part\n" + \
        b"--never\nContent-Type: multipart/alternative; boundary=\"inner\"" \
        b"\n\n--inner\nContent-Type: text/html\n\n<p>still open" + \
        b"\nmore text\n" * 1000


def header_1mb():
    return head(8) + b"X-Huge: " + b"h" * (1024 * 1024) + b"\n\nbody\n"


def not_base64():
    return head(9, b'Content-Type: multipart/mixed; boundary="b"\n\n') + \
        b"--b\nContent-Type: text/plain; charset=utf-8\n" \
        b"Content-Transfer-Encoding: base64\n\n" \
        b"!!!! this is *not* base64 at all ====\n\xff\xfe\n====\n" \
        b"--b\nContent-Type: application/pdf; name=\"a.pdf\"\n" \
        b"Content-Transfer-Encoding: base64\n\n%%%%\n=\n=\n--b--\n"


def only_headers():
    return head(10).rstrip(b"\n")


def garbage(seed, size=100000):
    return random.Random(seed).randbytes(size)


def header_then_garbage(seed):
    return b"From: jan@example.com\n" + garbage(seed, 50000)


def nested_messages(levels):
    raw = b"From: inner@example.com\nSubject: inner\n\ninnermost\n"
    for i in range(levels):
        raw = (b"From: level%d@example.com\nSubject: level %d\n"
               b"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n"
               % (i, i)) + raw
    return raw


def deep_html(levels):
    return head(12, b"Content-Type: text/html\n\n") + \
        b"<div>" * levels + b"deep html" + b"</div>" * levels + b"\n"


def hostile_filenames():
    names = [b"../../../../etc/passwd", b"/etc/shadow", b"..\\..\\boot.ini",
             b"a\x01b\x1b[31m.txt", b"invoice\xe2\x80\xaefdp.exe",
             b"=?utf-8?B?Li4vLi4vZXRjL2hvc3Rz?=", b".hidden", b"\xff\xfe.bin",
             b"x" * 5000 + b".pdf"]
    raw = bytearray(head(13, b'Content-Type: multipart/mixed; boundary="f"'
                         b"\n\n"))
    raw += b"--f\nContent-Type: text/plain\n\nsee attached\n"
    for name in names:
        raw += (b'--f\nContent-Type: application/octet-stream\n'
                b'Content-Disposition: attachment; filename="%s"\n\ndata\n'
                % name)
    raw += (b"--f\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename*=utf-8''"
            b"..%2F..%2Froot%2F.ssh%2Fauthorized_keys\n\nkey\n--f--\n")
    return bytes(raw)


def many_encoded_words(count):
    words = b" ".join(b"=?utf-8?q?w=C3=A9rd" + str(i).encode() + b"?="
                      for i in range(count))
    return head(14).replace(b"Subject: adversarial 14", b"Subject: " + words) \
        + b"\nbody\n"


def empty_parts(size):
    """size bytes of empty parts: five million of them in 25 MB."""
    raw = head(18, b'Content-Type: multipart/mixed; boundary="e"\n\n') + \
        b"--e\nContent-Type: text/plain\n\nfirst\n"
    return raw + b"--e\n\n" * ((size - len(raw) - 6) // 5) + b"--e--\n"


def nested_boundaries(size):
    """Multiparts nested as deep as size bytes allow, each with its own
    boundary: about 400,000 in 24 MB."""
    raw = bytearray(head(19, b'Content-Type: multipart/mixed; '
                         b'boundary="d0"\n\n'))
    i = 0
    while len(raw) < size - 100:
        raw += (b'--d%d\nContent-Type: multipart/mixed; boundary="d%d"\n\n'
                % (i, i + 1))
        i += 1
    return bytes(raw)


def no_header_line():
    return b"this is not a header line\nFrom: jan@example.com\n\nbody\n"


def missing_boundary():
    return head(15, b"Content-Type: multipart/mixed\n\n") + \
        b"--\nContent-Type: text/plain\n\nno boundary parameter\n--\n"


def crlf_mix():
    return (b"From: jan@example.com\r\nSubject: mixed\rline ends\n"
            b"Message-ID: <adversarial.16@example.com>\r\n\r\n"
            b"a\rb\r\nc\n\r\n")


def utf16_bom():
    return head(17, b"Content-Type: text/plain; charset=utf-16\n"
                b"Content-Transfer-Encoding: base64\n\n") + \
        base64.encodebytes("\ufeffPostcode: 1234 AB\n".encode("utf-16-le")
                           + b"\x00\xd8")


# (name, input maker, exit codes allowed, also a real run against the
#  simulator, what the dry-run work order must show: field -> check)
CASES = [
    ("1000 nested multiparts", lambda: nested_multiparts(1000), {0}, True,
     {"WorkDescription": None}),
    ("50000 parts", lambda: many_parts(50000), {0}, True,
     {"WorkDescription": "first part"}),
    ("a 20 MB single line", lambda: long_line(20 * 1024 * 1024), {0}, True,
     {"WorkDescription": lambda v: v and len(v.encode()) == 65536}),
    ("NUL bytes in headers and body", nul_bytes, {0}, True,
     {"WorkDescription": lambda v: v and "\x00" not in v and "body" in v}),
    ("invalid UTF-8 in an RFC 2047 word", bad_rfc2047, {0}, False,
     {"ShortWorkDescription": lambda v: v and "tail" in v}),
    ("an unknown charset", unknown_charset, {0}, False,
     {"WorkDescription": lambda v: v and v.startswith("caf")}),
    ("a boundary that never closes", unclosed_boundary, {0}, False,
     {"WorkDescription": "open part"}),
    ("a header of 1 MB", header_1mb, {65}, True, None),
    ("a base64 part that is not base64", not_base64, {0}, False, {}),
    ("an .eml that is only headers", only_headers, {0}, False,
     {"WorkDescription": None}),
    ("empty input", lambda: b"", {65}, True, None),
    ("binary garbage, seed 1", lambda: garbage(1), {65}, True, None),
    ("binary garbage, seed 2", lambda: garbage(2), {65}, False, None),
    ("binary garbage, seed 3", lambda: garbage(3), {65}, False, None),
    ("a header, then garbage, seed 4", lambda: header_then_garbage(4),
     {0, 65}, True, None),
    ("a header, then garbage, seed 5", lambda: header_then_garbage(5),
     {0, 65}, False, None),
    ("message/rfc822 nested 100 deep", lambda: nested_messages(100), {0},
     True, {"WorkDescription": None}),
    ("HTML nested 100000 deep", lambda: deep_html(100000), {0}, False, {}),
    ("hostile attachment names", hostile_filenames, {0}, False, {}),
    ("20000 encoded words in the subject",
     lambda: many_encoded_words(20000), {0, 65}, False, {}),
    ("25 MB of empty parts", lambda: empty_parts(25 * 1024 * 1024 - 100),
     {0}, True, {"WorkDescription": "first"}),
    ("24 MB of nested boundaries",
     lambda: nested_boundaries(24 * 1024 * 1024), {0}, False, {}),
    ("a first line that is no header", no_header_line, {65}, False, None),
    ("multipart without a boundary", missing_boundary, {0}, False, {}),
    ("CR, LF and CRLF mixed", crlf_mix, {0}, False, {}),
    ("UTF-16 with a lone surrogate", utf16_bom, {0}, False, {}),
]


# ------------------------------------------------------------ running

class Result:
    """How one run ended: exit code (None when it had to be killed),
    stdout as bytes, stderr as text, seconds, peak memory in bytes."""

    def __iter__(self):
        return iter((self.code, self.out, self.err, self.took))


def run_bytes(args, raw, env=None, timeout=60):
    """Like simlib.run_m2wo, but stdout stays bytes and the child's own
    peak memory is measured (wait4)."""
    full = dict(os.environ)
    for k, v in dict(CLEAN_ENV, **(env or {})).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    r = Result()
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout, \
            tempfile.TemporaryFile() as ferr:
        fin.write(raw)
        fin.seek(0)
        start = time.monotonic()
        proc = subprocess.Popen([simlib.m2wo_bin()] + args, stdin=fin,
                                stdout=fout, stderr=ferr, env=full)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        killed = not timer.is_alive()
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        r.took = time.monotonic() - start
        r.code = None if killed else proc.returncode
        r.rss = usage.ru_maxrss * 1024
        fout.seek(0)
        ferr.seek(0)
        r.out = fout.read()
        r.err = ferr.read().decode("utf-8", "replace")
    return r


def check_fields(tap, name, wo, want):
    for field, check in want.items():
        got = wo.get(field)
        if callable(check):
            tap.ok(check(got), "%s: %s as expected" % (name, field),
                   "got %r" % (got if got is None else got[:200]))
        else:
            tap.is_(got, check, "%s: %s" % (name, field))


def check_attachment_names(tap, wo):
    names = [a.get("FileName", "") for a in wo.get("Attachments", [])]
    bad = [n for n in names if "/" in n or "\\" in n or n.startswith(".") or
           any(ord(c) < 32 or c in "\u202e\u200e\u200f" for c in n) or
           len(n.encode()) > 255]
    tap.ok(len(names) == 10 and not bad, "hostile attachment names: all ten "
           "attached under plain, safe names", "names: %r" % names)


def dry_run(tap, conf, name, raw, allowed, want):
    r = run_bytes(["-n", "--offline", "-c", conf] + ENVELOPE, raw)
    code, out, err, took = r
    tap.ok(code in allowed, "%s: dry run exit %s, one of %s"
           % (name, code, sorted(allowed)), "stderr: %s" % err[-1500:])
    tap.ok(took < SECONDS * SLOW, "%s: dry run within %g s (%.2f s)"
           % (name, SECONDS * SLOW, took))
    tap.ok(r.rss < MEMORY * SLOW, "%s: dry run in less than %d MB (%d MB)"
           % (name, MEMORY * SLOW // 2 ** 20, r.rss // 2 ** 20))
    try:
        text = out.decode("utf-8")
        wo = json.loads(text)[0] if text.strip() else None
        valid = True
    except (UnicodeDecodeError, ValueError, IndexError):
        wo, valid = None, False
    tap.ok(valid and (code != 0 or isinstance(wo, dict)),
           "%s: standard output is the work order, valid UTF-8 JSON" % name,
           "stdout: %r" % out[:300])
    lines = err.strip().splitlines()
    tap.ok(lines and "outcome=" in lines[-1] and "exit=%s" % code in lines[-1],
           "%s: one audit line on stderr" % name, "stderr: %s" % err[-500:])
    if wo is not None and want is not None:
        check_fields(tap, name, wo, want)
        if name == "hostile attachment names":
            check_attachment_names(tap, wo)


def real_run(tap, sim, tmp, name, raw, allowed):
    sim.reset()
    folder = os.path.join(tmp, "real")
    audit = os.path.join(folder, "audit.jsonl")
    conf = simlib.write_config(folder, sim, CATCH_ALL,
                               extra_m2wo="audit_file = %s\nstate_dir = %s"
                               % (audit, os.path.join(folder, "state")))
    code, out, err, took = run_bytes(["-c", conf] + ENVELOPE, raw)
    tap.ok(code in allowed and took < SECONDS * SLOW,
           "%s: real run exit %s in %.2f s" % (name, code, took),
           "stderr: %s" % err[-1500:])
    text = out.decode("utf-8", "replace")
    lines = text.splitlines()
    if code == 0:
        tap.is_(text, "", "%s: real run prints nothing" % name)
    else:
        tap.ok(len(lines) == 1 and lines[0][:2] in ("4.", "5."),
               "%s: real run prints the DSN line only" % name,
               "stdout: %r" % text[:500])
    if code == 0:
        posts = [j for j in sim.journal() if j["endpoint"].rstrip("/")
                 .endswith("PostWorkorders")]
        tap.ok(len(posts) == 1 and isinstance(posts[0]["body"], list),
               "%s: one work order posted, as JSON OutSmart reads" % name,
               "posts: %r" % [str(p.get("body"))[:200] for p in posts])


# ------------------------------------------------------------ fuzz finds

def regress_files(kind):
    folder = os.path.join(HERE, "fuzz", "regress", kind)
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if not f.startswith("."))


def regress_messages(tap, conf):
    for path in regress_files("message"):
        with open(path, "rb") as f:
            raw = f.read()
        name = "fuzz regression %s" % os.path.basename(path)
        code, out, err, took = run_bytes(["-n", "--offline", "-c", conf] +
                                         ENVELOPE, raw)
        tap.ok(code in DEFINED and took < SECONDS * SLOW,
               "%s: exit %s in %.2f s" % (name, code, took),
               "stderr: %s" % err[-1500:])


def regress_configs(tap, tmp):
    """Each configuration found by fuzz-config, next to the token files
    the harness has ("token", "software-token", "open-token")."""
    folder = os.path.join(tmp, "regress-config")
    os.makedirs(folder)
    for name, mode in (("token", 0o600), ("software-token", 0o600),
                       ("open-token", 0o644)):
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write("test-token-not-real\n")
        os.chmod(path, mode)
    conf = os.path.join(folder, "m2wo.conf")
    for path in regress_files("config"):
        shutil.copyfile(path, conf)
        name = "fuzz regression %s" % os.path.basename(path)
        code, out, err, took = run_bytes(["--check-config", "-c", conf], b"")
        text = out.decode("utf-8", "replace")
        lines = text.splitlines()
        one_line = all(x.startswith(conf) for x in lines) if code else True
        tap.ok(code in (0, 78) and one_line and err == "",
               "%s: --check-config exit %s, one FILE:LINE: line per "
               "problem" % (name, code), "stdout:\n%s\nstderr: %s"
               % (text, err))


# ------------------------------------------------------------ the envelope

def envelope_cases(tap, conf):
    """Postfix hands SMTPUTF8 addresses to -f and -r as they are, and the
    environment of pipe(8) is LANG=C: the envelope is bytes, not text."""
    raw = head(20) + b"\nbody\n"
    for name, args in (
            ("UTF-8 envelope sender and recipient",
             ["-f", "j\u00f6rg@b\u00fccher.example", "-r",
              "st\u00f6rung@example.nl"]),
            ("invalid UTF-8 in the envelope",
             [b"-f", b"j\xf6rg@example.com", b"-r", b"x\xff@example.nl"])):
        code, out, err, took = run_bytes(["-n", "--offline", "-c", conf] +
                                         [os.fsdecode(a) if isinstance(
                                             a, bytes) else a for a in args],
                                         raw, env={"LANG": "C",
                                                   "LC_ALL": "C"})
        tap.is_(code, 0, "%s: dry run exit 0" % name)
        lines = err.strip().splitlines()
        tap.ok(lines and "sender=j" in lines[-1], "%s: the audit line "
               "names the sender" % name, "stderr: %s" % err[-500:])


def write_inputs(folder, max_size):
    """adversarial.py --write DIR [MAX]: the inputs as files NAME.eml, for
    tools/sanitize.sh --valgrind (only those of at most MAX bytes)."""
    os.makedirs(folder, exist_ok=True)
    for name, make, _, _, _ in CASES:
        raw = make()
        if len(raw) <= max_size:
            base = "".join(c if c.isalnum() else "-" for c in name)
            with open(os.path.join(folder, base + ".eml"), "wb") as f:
                f.write(raw)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--write":
        write_inputs(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3
                     else 1 << 20)
        return
    tap, _ = simlib.tap_for_m2wo(simulator=False)
    tmp = tempfile.mkdtemp(prefix="m2wo-adversarial-")
    try:
        conf = simlib.write_config(os.path.join(tmp, "dry"), None, CATCH_ALL)
        real = [c for c in CASES if c[3]]
        for name, make, allowed, _, want in CASES:
            dry_run(tap, conf, name, make(), allowed, want)
        envelope_cases(tap, conf)
        regress_messages(tap, conf)
        regress_configs(tap, tmp)
        if not simlib.have_openssl():
            tap.skip("real runs against the simulator", "no openssl")
        else:
            with simlib.Sim() as sim:
                for name, make, allowed, _, _ in real:
                    real_run(tap, sim, tmp, name, make(), allowed)
    finally:
        simlib.remove_scratch(tmp)
    tap.done_testing()


if __name__ == "__main__":
    main()
