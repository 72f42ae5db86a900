#!/usr/bin/env python3
# The limits of SPEC 6 and m2wo.conf(5) LIMITS through the real binary, each
# just at and just past its value in include/m2wo.h (read from there, so the
# test follows the header): message size, header block, MIME depth (nested
# multiparts and attached messages), parts, decoded text, one field,
# attachments, work-order JSON, token and configuration file size, audit
# values, and the PCRE2 limits with a catastrophic pattern. Then
# --check-config on one file with every kind of configuration error.
# Dry runs (-n --offline) with a catch-all configuration unless noted.

import base64
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
ENVELOPE = ["-f", "jan@example.com", "-r", "storing@example.nl"]
HEAD = (b"From: Jan de Vries <jan@example.com>\n"
        b"To: storing@example.nl\n"
        b"Subject: limits\n"
        b"Message-ID: <limits@example.com>\n"
        b"MIME-Version: 1.0\n")
TOO_LARGE = "5.3.4 message too big for m2wo"
CONFIG_ERROR = "4.3.5 m2wo configuration error"
# Sanitizer and valgrind builds run slower; tools/sanitize.sh says how much.
SLOW = float(os.environ.get("M2WO_TEST_SLOWDOWN", "1"))

CATCH_ALL = """
[defaults]
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}

[config alles]
sender_type = Any
forced_debtor_number = DEB1001
parse_attachments = true
regex.tail = (?s)(.{0,3})\\z
forced.Comment = {tail}
"""


def header_limits():
    """The M2WO_* constants of include/m2wo.h as numbers."""
    src = os.environ.get("M2WO_SRCDIR", os.path.dirname(HERE))
    limits = {}
    with open(os.path.join(src, "include", "m2wo.h")) as f:
        for line in f:
            m = re.match(r"#define\s+(M2WO_\w+)\s+([0-9()* +]+?)\s*(/\*|$)",
                         line)
            if m:
                limits[m.group(1)] = eval(m.group(2), {"__builtins__": {}})
    return limits


L = header_limits()


class Limits:
    def __init__(self, tap, tmp):
        self.tap = tap
        self.tmp = tmp
        self.n = 0

    def config(self, body=CATCH_ALL, extra=""):
        self.n += 1
        folder = os.path.join(self.tmp, "c%d" % self.n)
        return simlib.write_config(folder, None, body, extra_m2wo=extra)

    def run(self, raw, conf=None, args=None, timeout=120):
        conf = conf or self.config()
        args = args if args is not None else ["-n", "--offline"]
        start = time.monotonic()
        code, out, err = simlib.run_m2wo(args + ["-c", conf] + ENVELOPE, raw,
                                         env=CLEAN_ENV, timeout=timeout)
        return code, out, err, time.monotonic() - start

    def dry(self, raw, name, exit, conf=None, dsn=None):
        """A dry run that must end with exit (and dsn on stderr); returns
        the work order printed, or None."""
        code, out, err, took = self.run(raw, conf)
        ok = self.tap.is_(code, exit, "%s: exit %d" % (name, exit))
        if dsn is not None:
            self.tap.ok(dsn in err.splitlines(), "%s: says %s" % (name, dsn),
                        "stderr: %s" % err[-2000:])
        if not ok:
            self.tap.diag("stderr: %s" % err[-2000:])
        if code != 0 or not out.strip():
            return None
        try:
            return json.loads(out)[0]
        except (ValueError, IndexError, KeyError):
            self.tap.diag("stdout is no work order: %r" % out[:300])
            return None


def sized(head, body_line, size):
    """A message of exactly size bytes: head, a blank line, body lines."""
    raw = bytearray(head + b"\n")
    while len(raw) + len(body_line) <= size:
        raw += body_line
    raw += b"x" * (size - len(raw))
    assert len(raw) == size
    return bytes(raw)


def audit_value(err, key):
    """The value of key in the dry-run audit line (last stderr line)."""
    lines = err.strip().splitlines()
    line = lines[-1] if lines else ""
    m = re.search(r'(?:^| )%s=("(?:[^"\\]|\\.)*"|\S+)' % re.escape(key), line)
    if not m:
        return None
    value = m.group(1)
    if value.startswith('"'):
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


# ------------------------------------------------------------ message size

def test_message_size(t):
    limit = L["M2WO_DEF_MAX_MESSAGE_SIZE"]
    line = b"a" * 75 + b"\n"
    wo = t.dry(sized(HEAD, line, limit), "message of max_message_size "
               "(default %d) bytes" % limit, 0)
    t.tap.ok(wo is not None, "message at the default size: work order made")
    t.dry(sized(HEAD, line, limit + 1), "message 1 byte over the default "
          "size", 65, dsn=TOO_LARGE)
    conf = t.config(extra="max_message_size = 1000")
    t.dry(sized(HEAD, line, 1000), "max_message_size = 1000, 1000 bytes",
          0, conf=conf)
    t.dry(sized(HEAD, line, 1001), "max_message_size = 1000, 1001 bytes",
          65, conf=conf, dsn=TOO_LARGE)
    # A real run refuses before any API request: the DSN is on stdout.
    audit = os.path.join(t.tmp, "size-audit.jsonl")
    conf = t.config(extra="max_message_size = 1000\naudit_file = %s" % audit)
    code, out, err, _ = t.run(sized(HEAD, line, 1001), conf, args=[])
    t.tap.is_((code, out.splitlines()[:1]), (65, [TOO_LARGE]),
              "real run, 1001 bytes over 1000: exit 65 and %s" % TOO_LARGE)
    rec = read_audit(audit)
    t.tap.is_(rec.get("outcome"), "too_large", "real run: audit outcome "
              "too_large")


def read_audit(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = [x for x in f.read().splitlines() if x.strip()]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------ header block

def header_block(size):
    """HEAD plus one long header so that the header block, every header
    line with its line end, is exactly size bytes."""
    filler = size - len(HEAD) - len(b"X-Filler: \n")
    folded = bytearray()
    while len(folded) < filler:
        chunk = min(70, filler - len(folded))
        folded += (b"\n " if folded else b"") + b"f" * max(chunk - 2, 1)
    folded = bytes(folded[:filler])
    if folded.endswith(b"\n") or folded.endswith(b"\n "):
        folded = folded[:-2] + b"ff"
    block = HEAD + b"X-Filler: " + folded + b"\n"
    assert len(block) == size, (len(block), size)
    return block


def test_header_block(t):
    limit = L["M2WO_MAX_HEADER_SIZE"]
    wo = t.dry(header_block(limit) + b"\nhello\n", "header block of %d bytes"
               % limit, 0)
    t.tap.ok(wo is not None and wo.get("WorkDescription") == "hello",
             "header block at the limit: body read", "got %r" % (wo,))
    t.dry(header_block(limit + 1) + b"\nhello\n", "header block 1 byte over",
          65, dsn=TOO_LARGE)
    # One header line of 1 MB, as the adversarial tests have it too.
    t.dry(HEAD + b"X-Big: " + b"b" * (1024 * 1024) + b"\n\nhello\n",
          "a header of 1 MB", 65, dsn=TOO_LARGE)


# ------------------------------------------------------------ MIME depth

def nested_multiparts(levels, text):
    raw = bytearray(HEAD)
    for i in range(levels):
        raw += (b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n'
                % (i, i))
    raw += b"Content-Type: text/plain\n\n" + text + b"\n"
    for i in reversed(range(levels)):
        raw += b"--b%d--\n" % i
    return bytes(raw)


def nested_messages(levels, text):
    """levels attached messages (message/rfc822) around a text part."""
    raw = b"From: inner@example.com\nSubject: inner\n\n" + text + b"\n"
    for i in range(levels):
        raw = (b"From: level%d@example.com\nSubject: level %d\n"
               b"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n"
               % (i, i)) + raw
    return raw


def test_depth(t):
    limit = L["M2WO_MAX_MIME_DEPTH"]
    for kind, build in (("multiparts", nested_multiparts),
                        ("attached messages", nested_messages)):
        for levels, found in ((limit, True), (limit + 1, False)):
            wo = t.dry(build(levels, b"deepest text"), "%d nested %s"
                       % (levels, kind), 0)
            got = (wo or {}).get("WorkDescription")
            t.tap.is_(got, "deepest text" if found else None,
                      "%d nested %s: body text %s" % (
                          levels, kind, "found" if found else "not walked"))


# ------------------------------------------------------------ parts

def many_parts(leaves):
    """One multipart, leaves-1 parts without text, then a text part."""
    raw = bytearray(HEAD + b'Content-Type: multipart/mixed; boundary="p"\n\n')
    for i in range(leaves - 1):
        raw += b"--p\nContent-Type: application/octet-stream\n\n%d\n" % i
    raw += b"--p\nContent-Type: text/plain\n\nlast part\n--p--\n"
    return bytes(raw)


def test_parts(t):
    limit = L["M2WO_MAX_PARTS"]
    # The multipart counts as a part walked, so limit - 1 leaves fit.
    wo = t.dry(many_parts(limit - 1), "%d parts with the multipart" % limit,
               0)
    t.tap.is_((wo or {}).get("WorkDescription"), "last part",
              "%d parts: the last one walked" % limit)
    wo = t.dry(many_parts(limit), "%d parts" % (limit + 1), 0)
    t.tap.is_((wo or {}).get("WorkDescription"), None,
              "%d parts: the last one not walked" % (limit + 1))


# ------------------------------------------------------------ text, field

def text_message(body):
    return HEAD + b"Content-Type: text/plain; charset=utf-8\n\n" + body + \
        b"\n"


def test_text_size(t):
    limit = L["M2WO_MAX_TEXT_SIZE"]
    # regex.tail captures the last three characters the regexes see.
    wo = t.dry(text_message(b"a" * (limit - 3) + b"END"),
               "body text of %d bytes" % limit, 0)
    t.tap.is_((wo or {}).get("Comment"), "END",
              "body text at the limit: regexes see all of it")
    wo = t.dry(text_message(b"a" * (limit - 2) + b"END"),
               "body text 1 byte over", 0)
    t.tap.is_((wo or {}).get("Comment"), "aEN",
              "body text 1 byte over: cut at the limit")
    # Two-byte characters after one ASCII byte: the cut falls inside one.
    wo = t.dry(text_message(b"x" + "\u00e9".encode() * (limit // 2)),
               "body text of 2-byte characters over the limit", 0)
    t.tap.is_((wo or {}).get("Comment"), "\u00e9" * 3,
              "body text cut at a character boundary")


def test_field_length(t):
    limit = L["M2WO_MAX_FIELD_LEN"]
    for body, want, name in (
            (b"b" * limit, limit, "field of %d bytes kept whole" % limit),
            (b"b" * (limit + 1), limit, "field 1 byte over cut to %d"
             % limit),
            (b"x" + "\u00e9".encode() * (limit // 2), limit - 1,
             "field cut at a character boundary")):
        wo = t.dry(text_message(body), name, 0)
        got = (wo or {}).get("WorkDescription") or ""
        t.tap.is_(len(got.encode()), want, name + ": length")
        t.tap.ok("\ufffd" not in got, name + ": valid UTF-8, nothing "
                 "replaced")


# ------------------------------------------------------------ attachments

def attachment_message(size):
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    b64 = base64.encodebytes(data)
    return (HEAD + b'Content-Type: multipart/mixed; boundary="a"\n\n'
            b"--a\nContent-Type: text/plain\n\nsee attachment\n"
            b"--a\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=\"big.bin\"\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64 +
            b"--a--\n"), data


def test_attachments(t):
    limit = L["M2WO_MAX_ATTACH_TOTAL"]
    conf = t.config(extra="max_message_size = %d" % (limit * 2))
    raw, data = attachment_message(limit)
    code, out, err, _ = t.run(raw, conf)
    t.tap.is_(code, 0, "attachment of %d bytes: exit 0" % limit)
    try:
        atts = json.loads(out)[0].get("Attachments", [])
    except (ValueError, IndexError):
        atts = []
    t.tap.ok(len(atts) == 1 and atts[0].get("FileName") == "big.bin" and
             base64.b64decode(atts[0].get("Data", "")) == data,
             "attachment at the limit: attached whole",
             "attachments: %r" % [a.get("FileName") for a in atts])
    t.tap.is_(audit_value(err, "attachments_skipped"), None,
              "attachment at the limit: none skipped")
    raw, _ = attachment_message(limit + 1)
    code, out, err, _ = t.run(raw, conf)
    t.tap.is_(code, 0, "attachment 1 byte over: exit 0")
    try:
        atts = json.loads(out)[0].get("Attachments", [])
    except (ValueError, IndexError):
        atts = None
    t.tap.is_(atts, [], "attachment 1 byte over: left out")
    t.tap.is_(audit_value(err, "attachments_skipped"), "1",
              "attachment 1 byte over: counted in the audit line")


# ------------------------------------------------------------ JSON size

# Every text field forced.* may set; the control characters of the body
# come out six times as long in JSON ("\u0001").
TEXT_FIELDS = [
    "ProjectNr", "ExternProjectNr", "OrderNr", "CustomerName",
    "CustomerDebtorNr", "CustomerStreet", "CustomerStreetNo", "CustomerZIP",
    "CustomerCity", "CustomerContactPerson", "CustomerEmail",
    "CustomerPhone", "CustomerRemark", "CustomerNameInvoice",
    "CustomerDebtorNrInvoice", "CustomerStreetInvoice",
    "CustomerStreetNoInvoice", "CustomerZIPInvoice", "CustomerCityInvoice",
    "CustomerContactPersonInvoice", "CustomerEmailInvoice",
    "CustomerPhoneInvoice", "CustomerRemarkInvoice", "TypeOfWork",
    "PaymentMethod", "WorkDescription", "InternalWorkDescription",
    "ShortWorkDescription", "Comment", "EmployeeNr", "WorkDate", "WorkTime",
    "WorkEndDate", "WorkEndTime", "WorkDeadline", "WorkStatus", "CpnCode",
    "AdrCode", "ErrorCode", "ErrorMessage", "SolutionCode",
    "SolutionMessage", "PriorityCode", "PriorityMessage", "RoundingAmount",
]


def test_json_size(t):
    limit = L["M2WO_MAX_JSON_SIZE"]
    field = L["M2WO_MAX_FIELD_LEN"]
    # The whole message as message.eml (base64: 4/3) plus n fields of
    # field bytes that JSON writes six times as long.
    size = L["M2WO_MAX_ATTACH_TOTAL"]
    over = -(-(limit - size * 4 // 3) // (6 * field)) + 1
    under = over - 3
    assert over <= len(TEXT_FIELDS)
    raw = sized(HEAD + b"Content-Type: text/plain\n", b"\x01" * 1023 + b"\n",
                size)
    for n, exit, name in ((under, 0, "under"), (over, 65, "over")):
        body = "[config alles]\nsender_type = Any\nattach_original = true\n"
        body += "".join("forced.%s = {mail_content}\n" % f
                        for f in TEXT_FIELDS[:n])
        conf = t.config(body=body)
        code, out, err, _ = t.run(raw, conf)
        t.tap.is_(code, exit, "work order JSON %s %d bytes: exit %d"
                  % (name, limit, exit))
        if exit:
            t.tap.ok(TOO_LARGE in err.splitlines() and out == "",
                     "work order JSON over the limit: too_large, nothing "
                     "printed", "stderr: %s" % err[-500:])
        else:
            t.tap.ok(len(out) > size, "work order JSON under the limit: "
                     "printed (%d bytes)" % len(out))


# ------------------------------------------------------------ files

def check_config(conf):
    code, out, err = simlib.run_m2wo(["--check-config", "-c", conf], b"",
                                     env=CLEAN_ENV)
    return code, out + err


def test_token_size(t):
    limit = L["M2WO_MAX_TOKEN_SIZE"]
    conf = t.config()
    token = os.path.join(os.path.dirname(conf), "token")
    for size, want in ((limit, 0), (limit + 1, 78)):
        with open(token, "w") as f:
            f.write("t" * size)
        os.chmod(token, 0o600)
        code, text = check_config(conf)
        t.tap.is_(code, want, "token file of %d bytes: --check-config %d"
                  % (size, want))
    t.tap.ok("too large for a token" in text and "t" * 20 not in text,
             "token file too large: said, without the token", text)


def test_config_size(t):
    limit = L["M2WO_MAX_CONFIG_SIZE"]
    conf = t.config()
    with open(conf, "rb") as f:
        text = f.read()
    pad = b"# " + b"p" * 60 + b"\n"
    for size, want in ((limit, 0), (limit + 1, 78)):
        body = bytearray(text)
        while len(body) + len(pad) <= size:
            body += pad
        body += b"#" * (size - len(body) - 1) + b"\n"
        with open(conf, "wb") as f:
            f.write(body)
        code, out = check_config(conf)
        t.tap.is_(code, want, "configuration file of %d bytes: "
                  "--check-config %d" % (size, want))
        if want:
            t.tap.ok("larger than %d bytes" % limit in out,
                     "configuration file too large: said", out)
        # A run keeps the mail when the file does not load.
        code, out, _, _ = t.run(text_message(b"hello"), conf)
        t.tap.is_(code, 75 if want else 0, "configuration file of %d "
                  "bytes: dry run exit %d" % (size, 75 if want else 0))


def test_audit_value(t):
    limit = L["M2WO_MAX_AUDIT_VALUE"]
    conf = t.config()
    for sender, want, name in (
            ("s" * limit, "s" * limit, "%d bytes kept" % limit),
            ("s" * (limit + 1), "s" * limit, "%d bytes cut" % (limit + 1)),
            ("x" + "\u00e9" * limit, "x" + "\u00e9" * ((limit - 1) // 2),
             "cut at a character boundary")):
        # SENDER as local(8) sets it: the value reaches m2wo unconverted.
        code, out, err = simlib.run_m2wo(
            ["-n", "--offline", "-c", conf, "-r", "a@b"],
            text_message(b"hello"), env=dict(CLEAN_ENV, SENDER=sender))
        t.tap.is_(audit_value(err, "sender"), want,
                  "audit value of the sender: " + name)


# ------------------------------------------------------------ regex limits

CATASTROPHIC = "(a+)+$"
EVIL_BODY = b"a" * 30 + b"b"


# Under the match limit at every start position, yet quadratic over the
# whole text: only the time budget of a search stops it.
SLOW_PATTERN = "\\s*$"
SLOW_BODY = b"x" + b" " * 60000 + b"x"


def test_regex_limit(t):
    for where, body, reason, text in (
            ("regex rule", "[config alles]\nsender_type = Any\n"
             "forced_debtor_number = DEB1001\nregex.bad = %s\n"
             % CATASTROPHIC, "regex limit in regex.bad", EVIL_BODY),
            ("regex rule, depth limit", "[config alles]\nsender_type = Any"
             "\nregex.deep = ^(?:(a)|b)*$\n", "regex limit in regex.deep",
             b"a" * 20000 + b"!"),
            ("regex rule, slow over the whole text",
             "[config alles]\nsender_type = Any\nregex.slow = %s\n"
             % SLOW_PATTERN, "regex limit in regex.slow", SLOW_BODY),
            ("subject_regex rule", "[config alles]\nsender_type = Any\n"
             "subject_regex.bad = %s\n" % CATASTROPHIC,
             "regex limit in subject_regex.bad", EVIL_BODY),
            ("MessageRegex matcher", "[config Evil]\nsender_type = "
             "MessageRegex\nsender_value = %s\n" % CATASTROPHIC,
             'regex limit in sender_value of config "Evil"', EVIL_BODY),
            ("MessageRegex matcher, slow over the whole text",
             "[config Slow]\nsender_type = MessageRegex\nsender_value = "
             "%s\n" % SLOW_PATTERN,
             'regex limit in sender_value of config "Slow"', SLOW_BODY)):
        audit = os.path.join(t.tmp, "regex-%d.jsonl" % t.n)
        conf = t.config(body=body, extra="audit_file = %s" % audit)
        raw = (HEAD.replace(b"Subject: limits", b"Subject: " + EVIL_BODY) +
               b"\n" + text + b"\n")
        # The budget of a whole search is a few seconds of processor time.
        quick = (15 if text is SLOW_BODY else 5) * SLOW
        code, out, err, took = t.run(raw, conf)
        t.tap.ok(code == 75 and CONFIG_ERROR in err.splitlines() and
                 took < quick, "%s on %d bytes: dry run exit 75, %s, "
                 "in %.2f s" % (where, len(text), CONFIG_ERROR, took),
                 "exit %s, stderr %s" % (code, err))
        t.tap.ok(reason in (audit_value(err, "reason") or ""),
                 "%s: dry-run audit reason '%s'" % (where, reason),
                 "audit line: %s" % err.strip().splitlines()[-1:])
        code, out, err, took = t.run(raw, conf, args=[])
        t.tap.ok(code == 75 and out.splitlines()[:1] == [CONFIG_ERROR] and
                 took < quick, "%s: real run exit 75 and %s first"
                 % (where, CONFIG_ERROR), "exit %s, stdout %r" % (code, out))
        rec = read_audit(audit)
        t.tap.ok(rec.get("outcome") == "tempfail" and
                 str(rec.get("reason", "")).startswith(reason),
                 "%s: audit_file record tempfail, reason '%s...'"
                 % (where, reason), "record: %r" % rec)


# ------------------------------------------------------------ config errors

BAD_CONFIG = """[m2wo]
api_url = http://outsmart.example.com/openapi/8
token_file = {dir}/no-such-token
software_token_file = {dir}/software-token
request_timeout = soon
deadline = 10
dedupe = a\\nforged line

[nonsense]
x = 1

[defaults]
forced.TypeOfWork = Storing

[config Een]
sender_type = Whoever
sender_value = x
colour = blue
active = maybe
customer_rules = FindOrAddRelationByEmail;FindByMagic
forced.NoSuchField = x
forced.Comment = {no_such_parameter}
regex.broken = (?<value>\\d+

[config Twee]
sender_type = Any
"""

# Line of each problem, and words the problem line must hold.
BAD_CONFIG_WANT = [
    (2, ["api_url", "https"]),
    (3, ["token_file", "no-such-token"]),
    (5, ["request_timeout", "soon"]),
    (7, ["dedupe", "\\nforged line"]),
    (9, ["nonsense"]),
    (16, ["sender_type", "Whoever"]),
    (18, ["colour"]),
    (19, ["active", "maybe"]),
    (20, ["customer_rules", "FindByMagic"]),
    (21, ["forced.NoSuchField"]),
    (22, ["{no_such_parameter}"]),
    (23, ["regex.broken", "offset 12"]),
]


def test_check_config(t):
    folder = os.path.join(t.tmp, "bad")
    os.makedirs(folder)
    conf = simlib.write_config(folder, None, "")
    with open(conf, "w") as f:
        f.write(BAD_CONFIG.replace("{dir}", folder))
    code, out, err = simlib.run_m2wo(["--check-config", "-c", conf], b"",
                                     env=CLEAN_ENV)
    t.tap.is_(code, 78, "--check-config on a file full of errors: exit 78")
    lines = out.splitlines()
    for line, words in BAD_CONFIG_WANT:
        prefix = "%s:%d: " % (conf, line)
        hits = [x for x in lines if x.startswith(prefix)]
        t.tap.ok(any(all(w in x for w in words) for x in hits),
                 "--check-config: line %d says %s" % (line, ", ".join(words)),
                 "lines:\n" + "\n".join(lines))
    t.tap.ok(all(x.startswith(conf + ":") for x in lines) and lines,
             "--check-config: every problem is one FILE:LINE: line",
             "\n".join(lines))
    t.tap.is_(err, "", "--check-config: nothing on stderr")


def main():
    tap, _ = simlib.tap_for_m2wo(simulator=False)
    tmp = tempfile.mkdtemp(prefix="m2wo-limits-")
    try:
        t = Limits(tap, tmp)
        for test in (test_message_size, test_header_block, test_depth,
                     test_parts, test_text_size, test_field_length,
                     test_attachments, test_json_size, test_token_size,
                     test_config_size, test_audit_value, test_regex_limit,
                     test_check_config):
            test(t)
    finally:
        simlib.remove_scratch(tmp)
    tap.done_testing()


if __name__ == "__main__":
    main()
