#!/usr/bin/env python3
# Test library for m2wo's Python tests: TAP output (Tap), the OutSmart
# simulator as a context manager (Sim), m2wo.conf writing (write_config) and
# running the m2wo binary (run_m2wo).  Test and demo equipment that follows
# the documented OutSmart API; it only ever talks to 127.0.0.1.

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_SCRIPT = os.path.join(HERE, "outsmart-sim.py")
SEED = os.path.join(HERE, "seed.json")

TOKEN = "test-token-not-real"
SOFTWARE_TOKEN = "test-software-token-not-real"
START_TIMEOUT = 10.0


# ---------------------------------------------------------------- TAP

class Tap:
    """TAP producer: plan(n) first or done_testing() last."""

    def __init__(self):
        self.planned = None
        self.count = 0
        self.failed = 0
        self.finished = False
        atexit.register(self._summary)

    def plan(self, n):
        self.planned = n
        print("1..%d" % n, flush=True)

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def ok(self, cond, name, diag=None):
        self.count += 1
        name = str(name).replace("#", "\\#")
        print("%s %d - %s" % ("ok" if cond else "not ok", self.count, name),
              flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                self.diag(diag)
        return bool(cond)

    def is_(self, got, want, name):
        return self.ok(got == want, name,
                       "got:  %r\nwant: %r" % (got, want))

    def skip(self, name, reason):
        self.count += 1
        print("ok %d - %s # SKIP %s" % (self.count, name, reason), flush=True)

    def skip_all(self, reason):
        print("1..0 # SKIP %s" % reason, flush=True)
        self.finished = True
        sys.exit(77)

    def done_testing(self):
        """Print the plan if none was given, the summary, and exit."""
        if self.planned is None:
            self.plan(self.count)
        self._summary()
        if self.planned != self.count:
            sys.exit(1)
        sys.exit(0)

    def _summary(self):
        if self.finished:
            return
        self.finished = True
        if self.planned is not None and self.planned != self.count:
            self.diag("planned %d tests, ran %d" % (self.planned, self.count))
        print("%d passed, %d failed" % (self.count - self.failed,
                                        self.failed), flush=True)


# ---------------------------------------------------------------- simulator

def have_openssl():
    return shutil.which("openssl") is not None


def sim_control(port, method, path, body=None):
    """One request to the simulator's control server on 127.0.0.1:port
    (body: JSON text or None) -> the decoded answer; RuntimeError unless
    it answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else body.encode("utf-8")
        headers = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        answer = json.loads(resp.read().decode("utf-8"))
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError("control %s %s: %s" % (method, path, answer))
    return answer


class Sim:
    """The OutSmart simulator in a child process: `with Sim() as sim:`."""

    def __init__(self, seed=None, token=TOKEN, software_token=SOFTWARE_TOKEN,
                 bearer=None, dir=None):
        self.seed = seed or SEED
        self.token = token
        self.software_token = software_token
        self.bearer = bearer
        self.dir = dir
        self.own_dir = dir is None
        self.proc = None
        self.port = None
        self.control_port = None
        self.url = None
        self.ca_file = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="m2wo-sim-")
        for name in ("port", "control-port"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                os.unlink(path)
        cmd = [sys.executable, SIM_SCRIPT, "--seed", self.seed,
               "--dir", self.dir, "--token", self.token,
               "--software-token", self.software_token,
               "--exit-with-parent"]
        if self.bearer is not None:
            cmd += ["--bearer", self.bearer]
        self.log = open(os.path.join(self.dir, "sim.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        try:
            self._wait_for_ports()
        except BaseException:
            self.stop()
            raise
        self.url = "https://127.0.0.1:%d/openapi/8" % self.port
        self.ca_file = os.path.join(self.dir, "cert.pem")
        return self

    def _wait_for_ports(self):
        end = time.monotonic() + START_TIMEOUT
        cport = os.path.join(self.dir, "control-port")
        while not os.path.exists(cport):
            if self.proc.poll() is not None:
                raise RuntimeError("outsmart-sim exited with %d: %s"
                                   % (self.proc.returncode, self._log_text()))
            if time.monotonic() > end:
                raise RuntimeError("outsmart-sim did not start in %g s: %s"
                                   % (START_TIMEOUT, self._log_text()))
            time.sleep(0.02)
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read())
        with open(cport) as f:
            self.control_port = int(f.read())

    def _log_text(self):
        try:
            with open(os.path.join(self.dir, "sim.log"), "rb") as f:
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def stop(self):
        """Always ends the child process; removes a directory it made."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.log.close()
        if self.own_dir and self.dir and not os.environ.get("M2WO_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- control server

    def _control(self, method, path, body=None):
        return sim_control(self.control_port, method, path,
                           None if body is None else json.dumps(body))

    def reset(self):
        return self._control("POST", "/reset")

    def fault(self, **kw):
        return self._control("POST", "/fault", kw)

    def journal(self):
        return self._control("GET", "/journal")

    def workorders(self):
        return self._control("GET", "/workorders")

    def relations(self):
        return self._control("GET", "/relations")

    def stats(self):
        return self._control("GET", "/stats")

    # -- talking to the API directly (for tests of the simulator itself)

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca_file)

    def connection(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port,
                                           timeout=timeout,
                                           context=self.ssl_context())

    def path(self, endpoint, params=None, token=True, software_token=True):
        """/openapi/8/ENDPOINT?query, ENDPOINT as given ("relations/");
        params: dict or list of pairs; token: True (the right one), a
        string, or None/False (left out)."""
        pairs = []
        if token is True:
            pairs.append(("token", self.token))
        elif token:
            pairs.append(("token", token))
        if software_token is True:
            pairs.append(("software_token", self.software_token))
        elif software_token:
            pairs.append(("software_token", software_token))
        if params:
            pairs += list(params.items()) if isinstance(params, dict) \
                else list(params)
        return "/openapi/8/%s?%s" % (endpoint, urlencode(pairs))

    def api(self, method, endpoint, params=None, body=None, conn=None,
            headers=None, token=True, software_token=True, timeout=10):
        """One API request -> (HTTP status, parsed JSON or raw text).

        body: bytes/str are sent as they are, anything else as JSON."""
        own = conn is None
        conn = conn or self.connection(timeout)
        hdrs = {"Accept": "application/json"}
        if self.bearer is not None:
            hdrs["Authorization"] = "Bearer " + self.bearer
        hdrs.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, self.path(endpoint, params, token,
                                           software_token),
                         body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read().decode("utf-8", "replace")
        finally:
            if own:
                conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw


# ---------------------------------------------------------------- m2wo

def _write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text + "\n")


def write_config(dir, sim, body, extra_m2wo="", token=None):
    """Token files (0600) and DIR/m2wo.conf for SIM; returns its path.

    sim may be None (offline tests): then the URL points at a closed port."""
    os.makedirs(dir, exist_ok=True)
    token_file = os.path.join(dir, "token")
    software_file = os.path.join(dir, "software-token")
    _write_secret(token_file, token if token is not None else
                  (sim.token if sim else TOKEN))
    _write_secret(software_file, sim.software_token if sim else
                  SOFTWARE_TOKEN)
    lines = ["[m2wo]",
             "api_url = %s" % (sim.url if sim else
                               "https://127.0.0.1:9/openapi/8"),
             "token_file = %s" % token_file,
             "software_token_file = %s" % software_file]
    if sim is not None:
        lines.append("ca_file = %s" % sim.ca_file)
        if sim.bearer is not None:
            bearer_file = os.path.join(dir, "bearer-token")
            _write_secret(bearer_file, sim.bearer)
            lines.append("bearer_token_file = %s" % bearer_file)
    if extra_m2wo:
        lines.append(extra_m2wo.strip("\n"))
    path = os.path.join(dir, "m2wo.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n" + body.strip("\n") + "\n")
    return path


def m2wo_bin():
    return os.environ.get("M2WO_BIN")


def tap_for_m2wo(simulator=True):
    """The TAP producer of a script that runs $M2WO_BIN -> (tap, binary).
    Skips the whole script (77) when M2WO_BIN is not set or, with
    simulator, when there is no openssl command for the simulator's
    certificate; a set M2WO_BIN that cannot run is a failure, not a skip."""
    tap = Tap()
    binary = m2wo_bin()
    if not binary:
        tap.skip_all("no m2wo binary ($M2WO_BIN)")
    if not os.access(binary, os.X_OK):
        print("Bail out! M2WO_BIN=%s is not executable" % binary, flush=True)
        tap.finished = True
        sys.exit(1)
    if simulator and not have_openssl():
        tap.skip_all("no openssl command for the simulator's certificate")
    return tap, binary


def remove_scratch(path):
    """Removes a test's scratch folder, unless M2WO_KEEP_TMP asks to keep
    it for a look after a failure."""
    if path and not os.environ.get("M2WO_KEEP_TMP"):
        shutil.rmtree(path, ignore_errors=True)


def run_m2wo(args, stdin_bytes, env=None, timeout=30):
    """Run $M2WO_BIN -> (exit, stdout, stderr) as text; exit None on timeout.

    env adds to (or, with a None value, removes from) the inherited one."""
    binary = m2wo_bin()
    if not binary:
        raise RuntimeError("M2WO_BIN is not set (make check sets it)")
    full = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    if isinstance(stdin_bytes, str):
        stdin_bytes = stdin_bytes.encode("utf-8")
    proc = subprocess.Popen([binary] + list(args), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=full)
    try:
        out, err = proc.communicate(stdin_bytes, timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        code = None
    return (code, out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"))


def edit_conf(path, key, value):
    """Replaces the line "key = ..." of a written configuration, or adds
    it to [m2wo] when there is none."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"(?m)^%s = .*$" % re.escape(key),
                      lambda m: "%s = %s" % (key, value), text)
    if n == 0:
        text = text.replace("[m2wo]\n", "[m2wo]\n%s = %s\n" % (key, value), 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def closed_port():
    """A 127.0.0.1 port that nothing listens on (just closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def self_signed(folder, prefix=""):
    """A self-signed EC P-256 certificate for localhost and 127.0.0.1 in
    folder (PREFIXcert.pem, PREFIXkey.pem) -> (cert, key)."""
    cert = os.path.join(folder, prefix + "cert.pem")
    key = os.path.join(folder, prefix + "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    return cert, key


def other_certificate(folder):
    """A self-signed certificate for 127.0.0.1 that the simulator does not
    use: trusting it alone must make the handshake fail."""
    return self_signed(folder, "other-")[0]


def spawn_all(argvs, inputs, timeout=60):
    """Starts $M2WO_BIN once per argv before feeding any input, so that the
    processes run at once; returns [(exit, stdout, stderr)] as text."""
    procs = [subprocess.Popen([m2wo_bin()] + list(a), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for a in argvs]
    for p, data in zip(procs, inputs):
        p.stdin.write(data)
        p.stdin.close()
    results = []
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        results.append((p.returncode, p.stdout.read().decode("utf-8",
                        "replace"), p.stderr.read().decode("utf-8",
                                                             "replace")))
        p.stdout.close()
        p.stderr.close()
    return results
