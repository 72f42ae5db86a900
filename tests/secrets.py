#!/usr/bin/env python3
# Secrets never leave m2wo (SPEC 5 and 6): every way the OutSmart API client
# can fail (HTTP 5xx and 3xx, API codes 1004, 1005, 1007, 1501 and 1504,
# timeout, refused connection, untrusted certificate, garbage, a dropped
# connection, a trickling answer, an answer that is too large) through the
# real binary, with an audit_file and on_reject = quarantine. Nothing m2wo
# prints, no audit record and no quarantine header may hold the token, the
# software token, "token=", a URL with a query, or the text of the answer.
# A hostile server that echoes the request (tokens included) into its
# answers makes that a hard test. Token files that group or others can read
# are refused at run time (75, 4.3.5) and by --check-config (78).

import json
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import simlib  # noqa: E402

CLEAN_ENV = {"SENDER": None, "RECIPIENT": None, "M2WO_CONFIG": None}
ENVELOPE = ["-f", "jan@bakkerijdezon.example.nl", "-r",
            "storing@installatie.example.nl"]
CONFIG_ERROR = "4.3.5 m2wo configuration error"
# Sanitizer and valgrind builds run slower; tools/sanitize.sh says how much.
SLOW = float(os.environ.get("M2WO_TEST_SLOWDOWN", "1"))

# Texts of answers that must never come out of m2wo: the simulator's
# messages and whatever the hostile server sends.
ANSWER_TEXTS = ["Simulated error", "Token not authorised",
                "Software token not matched", "Required field missing",
                "Workorder not found", "HOSTILE-BODY", "steal"]
URL_WITH_QUERY = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"']*\?")

BODY = """
[defaults]
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}

[config Storing]
sender_type = Any
forced_debtor_number = DEB1001
"""


def message(n):
    return ("From: Jan de Vries <jan@bakkerijdezon.example.nl>\n"
            "To: storing@installatie.example.nl\n"
            "Subject: Vriezer defect %d\n"
            "Message-ID: <secrets.%d.%f@bakkerijdezon.example.nl>\n\n"
            "De vriezer in de kelder maakt lawaai.\n"
            % (n, n, time.time())).encode()


# ------------------------------------------------------------ hostile server

RELATION = {"debtor_number": "DEB1001", "name": "Bakkerij de Zon",
            "contact": "Jan de Vries", "street": "Voorstraat",
            "house_number": "12", "postal_code": "3512 AB",
            "city": "Utrecht", "email": "jan@bakkerijdezon.example.nl",
            "debtor_number_invoice": ""}


class Hostile:
    """An HTTPS server with the simulator's certificate that answers
    look-ups normally and the chosen endpoint with a hostile answer that
    carries the request line, tokens and all."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "https://127.0.0.1:%d/openapi/8" % self.port
        self.mode = None
        self.endpoint = "PostWorkorders"
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.handle, args=(conn,),
                             daemon=True).start()

    def handle(self, conn):
        try:
            conn.settimeout(10)
            tls = self.ctx.wrap_socket(conn, server_side=True)
            while self.one_request(tls):
                pass
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            conn.close()

    def one_request(self, tls):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            chunk = tls.recv(65536)
            if not chunk:
                return False
            rest += chunk
        line = head.split(b"\r\n")[0].decode("latin-1")
        status, ctype, body = self.answer(line)
        tls.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
                    b"Content-Length: %d\r\n%s\r\n"
                    % (status, ctype.encode(), len(body),
                       b"Location: https://127.0.0.1:%d/steal/?token=%s\r\n"
                       % (self.port, line.encode()) if status == 302
                       else b"") + body)
        return True

    @staticmethod
    def envelope(code, response=None, messages=()):
        return (200, "application/json", json.dumps(
            {"code": code, "messages": list(messages),
             "response": response}).encode())

    def answer(self, line):
        echo = "HOSTILE-BODY %s" % line
        if self.endpoint not in line:
            if "/relations/" in line:
                return self.envelope(200, [RELATION])
            return self.envelope(1500, None, ["Workorder not found"])
        mode = self.mode
        if mode == "garbage":
            return 200, "text/plain", echo.encode()
        if mode == "binary":
            return 200, "application/octet-stream", \
                b"\x00\xff" + echo.encode() + b"\x1b[2J\r\n"
        if mode == "http500":
            return 500, "text/html", ("<h1>%s</h1>" % echo).encode()
        if mode == "redirect":
            return 302, "text/html", echo.encode()
        if mode == "huge":
            return 200, "application/json", \
                (echo + " ") .encode() * (9 * 1024 * 1024 // len(echo))
        if mode.startswith("code"):
            code = int(mode[4:])
            return self.envelope(code, {"echo": echo}, [echo, line])
        if mode == "ok-echo":
            return self.envelope(200, [{"workorder_no": echo,
                                        "row_id": echo}], [echo])
        raise ValueError(mode)

    def close(self):
        self.stop = True
        self.sock.close()


# ------------------------------------------------------------ checks

class Secrets:
    def __init__(self, tap, sim, tmp):
        self.tap = tap
        self.sim = sim
        self.tmp = tmp
        self.n = 0

    def config(self, extra="", api_url=None):
        self.n += 1
        folder = os.path.join(self.tmp, "case%d" % self.n)
        audit = os.path.join(folder, "audit.jsonl")
        quarantine = os.path.join(folder, "quarantine")
        conf = simlib.write_config(
            folder, self.sim, BODY, extra_m2wo="audit_file = %s\n"
            "quarantine_dir = %s\non_reject = quarantine\n"
            "on_unmatched = quarantine\nstate_dir = %s\n"
            "request_timeout = 3\ndeadline = 30\n%s"
            % (audit, quarantine, os.path.join(folder, "state"), extra))
        if api_url is not None:
            edit_conf(conf, "api_url", api_url)
        return folder, conf, audit, quarantine

    def leaks(self, text):
        """What in text must not be there (a list of descriptions)."""
        found = []
        for secret, what in ((simlib.TOKEN, "the token"),
                             (simlib.SOFTWARE_TOKEN, "the software token"),
                             ("token=", "token="),
                             ("test-token", "part of a token")):
            if secret in text:
                found.append(what)
        if URL_WITH_QUERY.search(text):
            found.append("a URL with a query: %s"
                         % URL_WITH_QUERY.search(text).group(0))
        found += ["answer text %r" % t for t in ANSWER_TEXTS if t in text]
        return found

    def quarantine_headers(self, quarantine):
        heads = []
        for sub in ("new", "tmp", "cur"):
            folder = os.path.join(quarantine, sub)
            for name in sorted(os.listdir(folder)) if os.path.isdir(
                    folder) else []:
                with open(os.path.join(folder, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                heads.append(name + "\n" + "\n".join(
                    x for x in text.split("\n\n")[0].splitlines()
                    if x.startswith("X-M2WO-")))
        return heads

    def run(self, name, conf, audit, quarantine, exits, first=None,
            outcome=None, quarantined=False, args=None, timeout=60):
        start = time.monotonic()
        code, out, err = simlib.run_m2wo(
            (args or []) + ["-c", conf] + ENVELOPE, message(self.n),
            env=CLEAN_ENV, timeout=timeout)
        took = time.monotonic() - start
        self.tap.ok(code in exits, "%s: exit %s, one of %s (%.1f s)"
                    % (name, code, sorted(exits), took),
                    "stdout %r stderr %r" % (out, err[-800:]))
        if first is not None:
            self.tap.ok(re.match(first, out.splitlines()[0] if out else ""),
                        "%s: first line matches %s" % (name, first),
                        "stdout %r" % out)
        try:
            with open(audit, encoding="utf-8") as f:
                audit_text = f.read()
        except OSError:
            audit_text = ""
        records = [json.loads(x) for x in audit_text.splitlines() if x]
        dry = "-n" in (args or [])
        # Dry runs write the audit line to stderr instead (checked below).
        if dry:
            good = records == []
        else:
            good = len(records) == 1 and (
                outcome is None or records[0].get("outcome") == outcome)
        self.tap.ok(good, "%s: %s audit record%s" % (
                        name, "no" if dry else "one",
                        ", outcome %s" % outcome if outcome else ""),
                    "records: %r" % records)
        heads = self.quarantine_headers(quarantine)
        if quarantined:
            self.tap.ok(len(heads) == 1 and "X-M2WO-Reason:" in heads[0],
                        "%s: quarantined, with X-M2WO-Reason" % name,
                        "quarantine: %r" % heads)
        for where, text in (("stdout", out), ("stderr", err),
                            ("audit record", audit_text),
                            ("quarantine headers", "\n".join(heads))):
            leaks = self.leaks(text)
            self.tap.ok(not leaks, "%s: %s holds no secret and no answer "
                        "text" % (name, where), "found %s in %r"
                        % (", ".join(leaks), text[:1500]))
        return code, out

    def sim_case(self, name, fault, exits, first=None, outcome=None,
                 quarantined=False, extra="", prepare=None):
        self.sim.reset()
        folder, conf, audit, quarantine = self.config(extra)
        if prepare is not None:
            prepare(folder, conf)
        for f in fault if isinstance(fault, list) else [fault] if fault \
                else []:
            self.sim.fault(**f)
        return self.run(name, conf, audit, quarantine, exits, first,
                        outcome, quarantined)


edit_conf, closed_port = simlib.edit_conf, simlib.closed_port
other_certificate = simlib.other_certificate


TEMP = r"^4\.\d+\.\d+ "
POST = "PostWorkorders"


def simulator_cases(s):
    s.sim_case("HTTP 500", {"http_status": 500, "endpoint": POST}, {75},
               TEMP, "tempfail")
    s.sim_case("HTTP 503 on every request", {"http_status": 503,
                                             "count": 10}, {75}, TEMP,
               "tempfail")
    s.sim_case("HTTP 302", {"http_status": 302, "endpoint": POST}, {75},
               TEMP, "tempfail")
    s.sim_case("API code 1004", {"api_code": 1004, "count": 10}, {75}, TEMP,
               "tempfail")
    s.sim_case("API code 1007", {"api_code": 1007, "endpoint": POST}, {75},
               TEMP, "tempfail")
    s.sim_case("API code 1501, on_reject = quarantine",
               {"api_code": 1501, "endpoint": POST}, {0}, None,
               "quarantined", quarantined=True)
    s.sim_case("API code 1504, on_reject = quarantine",
               {"api_code": 1504, "endpoint": POST}, {0}, None,
               "quarantined", quarantined=True)
    s.sim_case("timeout (no answer at all)",
               {"never_answer": True, "endpoint": POST}, {75}, TEMP,
               "tempfail", extra="request_timeout = 2")
    s.sim_case("trickling answer", {"trickle": 0.5, "endpoint": POST}, {75},
               TEMP, "tempfail", extra="request_timeout = 2")
    s.sim_case("garbage answer (HTTP 200, not JSON)",
               {"http_status": 200, "endpoint": POST}, {75}, TEMP,
               "tempfail")
    s.sim_case("dropped connection", {"close": True, "endpoint": POST},
               {75}, TEMP, "tempfail")
    s.sim_case("dropped after the work order was made",
               {"drop_after_create": True}, {75}, TEMP, "tempfail")

    def refused(folder, conf):
        edit_conf(conf, "api_url", "https://127.0.0.1:%d/openapi/8"
                  % closed_port())
    s.sim_case("connection refused", None, {75}, TEMP, "tempfail",
               prepare=refused)

    def untrusted(folder, conf):
        edit_conf(conf, "ca_file", other_certificate(folder))
    s.sim_case("untrusted certificate", None, {75}, TEMP, "tempfail",
               prepare=untrusted)

    def wrong_token(folder, conf):
        write_secret(os.path.join(folder, "token"), "test-token-not-real-x")
    s.sim_case("token the API does not know (1004)", None, {75}, TEMP,
               "tempfail", prepare=wrong_token)

    def wrong_software(folder, conf):
        write_secret(os.path.join(folder, "software-token"),
                     "test-software-token-not-real-x")
    s.sim_case("software token the API does not match (1005)", None, {75},
               TEMP, "tempfail", prepare=wrong_software)


def hostile_cases(s, hostile):
    for mode, exits, outcome, quarantined in (
            ("garbage", {75}, "tempfail", False),
            ("binary", {75}, "tempfail", False),
            ("http500", {75}, "tempfail", False),
            ("redirect", {75}, "tempfail", False),
            ("huge", {75}, "tempfail", False),
            ("code1004", {75}, "tempfail", False),
            ("code1501", {0}, "quarantined", True),
            ("code1504", {0}, "quarantined", True),
            ("code1300", {0}, "quarantined", True),
            ("ok-echo", {0}, "created", False)):
        hostile.mode = mode
        folder, conf, audit, quarantine = s.config(api_url=hostile.url)
        s.run("answer that echoes the request: %s" % mode, conf, audit,
              quarantine, exits, None if exits == {0} else TEMP, outcome,
              quarantined)
    # Dry runs look customers up too; --explain must not show answers.
    hostile.endpoint = "relations"
    for mode in ("garbage", "code1504", "code1007"):
        hostile.mode = mode
        folder, conf, audit, quarantine = s.config(api_url=hostile.url)
        s.run("dry run --explain, look-up answered %s" % mode, conf, audit,
              quarantine, {75, 0, 65}, args=["-n", "--explain"])
    hostile.endpoint = "PostWorkorders"


def write_secret(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)


# ------------------------------------------------------------ token files

def token_mode_cases(s):
    """Token files that group or others may read: refused at run time
    (75, 4.3.5: the MTA keeps the mail) and by --check-config (78)."""
    for key, filename in (("token_file", "token"),
                          ("software_token_file", "software-token"),
                          ("bearer_token_file", "bearer-token")):
        for mode in (0o640, 0o604, 0o644):
            name = "%s mode %o" % (key, mode)
            s.sim.reset()
            folder, conf, audit, quarantine = s.config()
            path = os.path.join(folder, filename)
            if key == "bearer_token_file":
                write_secret(path, "test-bearer-token-not-real")
                edit_conf(conf, key, path)
            os.chmod(path, mode)
            code, out = s.run(name + ": run", conf, audit, quarantine, {75},
                              "^" + re.escape(CONFIG_ERROR) + "$",
                              "tempfail")
            s.tap.is_(len(s.sim.journal()), 0,
                      "%s: no request sent with it" % name)
            code, out, err = simlib.run_m2wo(["--check-config", "-c", conf],
                                             b"", env=CLEAN_ENV)
            s.tap.is_(code, 78, "%s: --check-config exit 78" % name)
            lines = out.splitlines()
            s.tap.ok(any(x.startswith(conf + ":") and key in x and
                         "readable by others" in x for x in lines),
                     "%s: --check-config names the file and why" % name,
                     "stdout: %r" % out)
            leaks = s.leaks(out + err)
            s.tap.ok(not leaks, "%s: --check-config shows no secret" % name,
                     "found %s" % leaks)


def main():
    tap, _ = simlib.tap_for_m2wo()
    tmp = tempfile.mkdtemp(prefix="m2wo-secrets-")
    try:
        with simlib.Sim() as sim:
            s = Secrets(tap, sim, tmp)
            simulator_cases(s)
            hostile = Hostile(os.path.join(sim.dir, "cert.pem"),
                              os.path.join(sim.dir, "key.pem"))
            try:
                hostile_cases(s, hostile)
            finally:
                hostile.close()
            token_mode_cases(s)
    finally:
        simlib.remove_scratch(tmp)
    tap.done_testing()


if __name__ == "__main__":
    main()
