#!/usr/bin/env python3
"""Runs tests/msgdump over every message of the outside corpus
(../shared/corpus): no crash, no hang, one valid JSON line per message.
Then compares the subject and body text m2wo extracts from the
stalwart-mail-parser messages with that parser's expected results.
Skips (77) when the corpus or the msgdump program is absent."""

import html
import html.parser
import json
import os
import re
import subprocess
import sys
import tempfile

BATCH = 40
TIMEOUT = 120          # seconds for one batch
SUBJECT_MIN = 0.95     # share of subjects that must match
TEXT_MIN = 0.90        # share of text/plain bodies that must match
AUTOREPLY_MIN = 0.95   # share of sisimai bounces recognised as automatic
SKIP_EXT = {".json", ".jsonl", ".xml", ".txt", ".md", ".tsv"}
SKIP_NAMES = {"LICENSE", "NOTICE", "COPYING", "MIT-LICENSE"}
FIELDS = ("file", "subject", "from", "from_name", "body", "body_from_html",
          "message_key", "autoreply", "error")

tests = []


def ok(cond, name, diag=()):
    tests.append((bool(cond), name, list(diag)))


def skip(reason):
    print("1..0 # SKIP " + reason)
    sys.exit(77)


def paths():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.environ.get("M2WO_SRCDIR") or os.path.dirname(here)
    build = os.environ.get("M2WO_BUILDDIR") or src
    corpus = os.path.normpath(os.path.join(src, "..", "shared", "corpus"))
    return corpus, os.path.join(build, "tests", "msgdump")


def message_files(corpus):
    """Every regular file that is a message, not an expected result or a
    licence text."""
    out = []
    for root, dirs, files in os.walk(corpus):
        dirs[:] = sorted(d for d in dirs if d != "LICENSES")
        for name in sorted(files):
            path = os.path.join(root, name)
            ext = os.path.splitext(name)[1].lower()
            if (ext in SKIP_EXT or name in SKIP_NAMES or name.startswith(".")
                    or not os.path.isfile(path) or os.path.islink(path)):
                continue
            out.append(path)
    return out


def run_batch(msgdump, batch):
    """Returns (results by path, problems)."""
    try:
        proc = subprocess.run([msgdump] + batch, capture_output=True,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {}, ["timeout in batch starting %s" % batch[0]]
    problems = []
    if proc.returncode != 0:
        problems.append("exit %d in batch starting %s"
                        % (proc.returncode, batch[0]))
    results = {}
    for line in proc.stdout.split(b"\n"):
        if not line:
            continue
        try:
            obj = json.loads(line.decode("utf-8", errors="strict"))
        except (UnicodeDecodeError, ValueError) as e:
            problems.append("invalid JSON line (%s): %r" % (e, line[:80]))
            continue
        missing = [f for f in FIELDS if f not in obj and
                   not (obj.get("error") and f not in ("file", "error"))]
        if missing:
            problems.append("%s: missing %s" % (obj.get("file"), missing))
        results[obj.get("file")] = obj
    for path in batch:
        if path not in results:
            problems.append("no output for %s" % path)
    return results, problems


def run_all(msgdump, files):
    results, problems = {}, []
    for i in range(0, len(files), BATCH):
        got, bad = run_batch(msgdump, files[i:i + BATCH])
        results.update(got)
        problems.extend(bad)
    return results, problems


def norm(text):
    return " ".join((text or "").split())


def fuzzy_equal(got, want):
    """Equal after white space normalisation; a U+FFFD on either side
    stands for one to four characters the other parser decoded (or not)
    differently."""
    got, want = norm(got), norm(want)
    if got == want:
        return True
    for a, b in ((got, want), (want, got)):
        if "\ufffd" in a:
            parts = [re.escape(p) for p in re.split("\ufffd+", a)]
            if re.fullmatch(".{1,4}".join(parts), b, re.S):
                return True
    return False


class HtmlWords(html.parser.HTMLParser):
    """A rough, independent HTML to text: all the words, no markup."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_words(text):
    parser = HtmlWords()
    parser.feed(text)
    parser.close()
    return "".join("".join(parser.out).split()).replace("\xa0", "")


def expected_body(folder, entry):
    """(kind, text) of the first body part the other parser chose:
    kind is "text", "html" or "none"."""
    if not entry["text_body"]:
        return "none", ""
    with open(os.path.join(folder, entry["expected_json"]), "rb") as f:
        tree = json.load(f)
    body = tree["parts"][tree["text_body"][0]].get("body") or {}
    if "Html" in body:
        return "html", entry["text_body"][0] or ""
    return "text", entry["text_body"][0] or ""


def compare_stalwart(corpus, results):
    folder = os.path.join(corpus, "stalwart-mail-parser")
    summary = os.path.join(folder, "EXPECTED-summary.jsonl")
    counts = {"subject": [0, 0], "text": [0, 0], "html": [0, 0],
              "none": [0, 0]}
    diags = []
    with open(summary, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f if line.strip()]
    for entry in entries:
        got = results.get(os.path.join(folder, entry["eml"]))
        if got is None or got.get("error"):
            diags.append("%s: %s" % (entry["eml"],
                                     got and got.get("error")))
            counts["subject"][1] += 1
            continue
        counts["subject"][1] += 1
        if fuzzy_equal(got["subject"], entry["subject"]):
            counts["subject"][0] += 1
        else:
            diags.append("%s subject: got %r want %r"
                         % (entry["eml"], got["subject"], entry["subject"]))
        kind, want = expected_body(folder, entry)
        counts[kind][1] += 1
        if kind == "html":
            same = html_words(want) == "".join(
                got["body"].replace("\xa0", "").split())
        else:
            same = fuzzy_equal(got["body"], want)
        if same:
            counts[kind][0] += 1
        else:
            diags.append("%s %s body: got %r want %r"
                         % (entry["eml"], kind, norm(got["body"])[:70],
                            norm(want)[:70]))
    return counts, diags


def check_bounces(corpus, results):
    """Every message in sisimai's maildir/bsd is machine-generated. SPEC 7's
    header signals cannot see them all (a feedback report sent as
    multipart/mixed, a notification from no-reply@, a bounce forwarded by
    a person), hence a rate; the envelope is unknown, as in --drop."""
    folder = os.path.join(corpus, "sisimai-bounces", "maildir", "bsd")
    got = [r for p, r in results.items()
           if p.startswith(folder + os.sep) and not r.get("error")]
    missed = sorted(os.path.basename(r["file"]) for r in got
                    if not r.get("autoreply"))
    found = len(got) - len(missed)
    ok(got and found / len(got) >= AUTOREPLY_MIN,
       "sisimai bounces recognised as machine-generated at least %d%%"
       % (100 * AUTOREPLY_MIN),
       ["autoreply: %d/%d (%.1f%%)" % (found, len(got),
                                       100 * found / max(len(got), 1)),
        "not recognised: " + " ".join(missed)])


def check_crlf(corpus, msgdump, results):
    """The stalwart messages again with CRLF line ends (as SMTP carries
    them): subject, sender and body text must not change."""
    folder = os.path.join(corpus, "stalwart-mail-parser")
    lf = sorted(p for p in results if p.startswith(folder + os.sep))
    diffs = []
    with tempfile.TemporaryDirectory(prefix="m2wo-crlf-") as tmp:
        copies = {}
        for i, path in enumerate(lf):
            with open(path, "rb") as f:
                data = f.read()
            if b"\0" in data:
                continue  # binary content: a CR added would change it
            data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
            copy = os.path.join(tmp, "%04d.eml" % i)
            with open(copy, "wb") as f:
                f.write(data)
            copies[copy] = path
        got, problems = run_all(msgdump, sorted(copies))
        for copy, path in copies.items():
            a, b = results[path], got.get(copy, {})
            for field in ("subject", "from", "from_name", "body", "error"):
                if a.get(field) != b.get(field):
                    diffs.append("%s %s: LF %r CRLF %r"
                                 % (os.path.relpath(path, folder), field,
                                    str(a.get(field))[:50],
                                    str(b.get(field))[:50]))
    ok(not diffs and not problems,
       "stalwart messages with CRLF line ends give the same text",
       problems + diffs)


def rate(pair):
    return pair[0] / pair[1] if pair[1] else 1.0


def main():
    corpus, msgdump = paths()
    if not os.path.isdir(corpus):
        skip("corpus %s absent" % corpus)
    if not os.access(msgdump, os.X_OK):
        skip("%s not built" % msgdump)
    files = message_files(corpus)
    results, problems = run_all(msgdump, files)
    errors = sum(1 for r in results.values() if r.get("error"))
    ok(not [p for p in problems if "invalid" not in p and "missing" not in p],
       "msgdump ran on %d corpus files without a crash or hang"
       % len(files), problems[:20])
    ok(not [p for p in problems if "invalid" in p or "missing" in p],
       "one valid UTF-8 JSON line with every field per file",
       ["%d files refused (error set)" % errors])
    keys = [r["message_key"] for r in results.values() if not r.get("error")]
    ok(all(re.fullmatch("[A-Z0-9]{12}", k) for k in keys),
       "every message key is 12 letters and digits")
    counts, diags = compare_stalwart(corpus, results)
    info = ["%s: %d/%d match (%.1f%%)" % (k, v[0], v[1], 100 * rate(v))
            for k, v in counts.items()]
    ok(rate(counts["subject"]) >= SUBJECT_MIN,
       "stalwart subjects match at least %d%%" % (100 * SUBJECT_MIN),
       info + diags)
    ok(rate(counts["text"]) >= TEXT_MIN,
       "stalwart text/plain bodies match at least %d%%" % (100 * TEXT_MIN))
    # Where the other parser finds no text part, m2wo may still find text:
    # in an attached message/rfc822 when the message has none of its own,
    # or inside a malformed multipart it reads differently. Reported only.
    ok(counts["html"][0] == counts["html"][1],
       "stalwart HTML-only bodies keep every word of the HTML")
    check_bounces(corpus, results)
    check_crlf(corpus, msgdump, results)
    print("1..%d" % len(tests))
    for i, (good, name, diag) in enumerate(tests, 1):
        print("%sok %d - %s" % ("" if good else "not ", i, name))
        for line in diag:
            print("# " + line)
    failed = sum(1 for t in tests if not t[0])
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
