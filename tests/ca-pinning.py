#!/usr/bin/env python3
# Which certificates m2wo trusts, in a private mount namespace whose
# /etc/ssl/certs (bundle and hashed folder) also holds the simulator's
# certificate, so that nothing on the machine changes:
# - without ca_file, m2wo trusts the system's CAs (the hashed folder);
# - with ca_file, it trusts that file alone: a ca_file that does not hold
#   the server's certificate fails the handshake although the system's CAs
#   would trust the server (ca_file pins, it does not add);
# - outside the namespace the system's CAs do not trust the simulator,
#   which shows that the namespace is what made the first run pass.
# Needs root (mount namespaces), unshare(1) and openssl; skipped elsewhere.

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import simlib  # noqa: E402

tap, BIN = simlib.tap_for_m2wo()
if os.geteuid() != 0 or shutil.which("unshare") is None:
    tap.skip_all("needs root and unshare(1) for a private mount namespace")
if not os.path.isdir("/etc/ssl/certs"):
    tap.skip_all("no /etc/ssl/certs")

STORING = "storing@installatie.example.nl"
MESSAGE = b"""From: Jan de Vries <jan@bakkerijdezon.example.nl>
To: storing@installatie.example.nl
Subject: Storing vriezer
Date: Mon, 02 Dec 2024 06:10:00 +0100
Message-ID: <%s@bakkerijdezon.example.nl>
Content-Type: text/plain; charset=utf-8

De vriezer in de kelder maakt een ratelend geluid.
"""
BODY = """
[config Storing]
sender_type = Recipient
sender_value = storing@installatie.example.nl
forced_debtor_number = DEB1001
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
"""
TMP = tempfile.mkdtemp(prefix="m2wo-ca-pinning-")


def system_certs_with(cert):
    """A copy of /etc/ssl/certs that also trusts cert, hashed."""
    certs = os.path.join(TMP, "certs")
    shutil.copytree("/etc/ssl/certs", certs, symlinks=True)
    shutil.copy(cert, os.path.join(certs, "m2wo-test-sim.pem"))
    bundle = os.path.join(certs, "ca-certificates.crt")
    if os.path.lexists(bundle):
        with open(bundle, "ab") as out, open(cert, "rb") as pem:
            out.write(b"\n" + pem.read())
    subprocess.run(["openssl", "rehash", certs], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return certs


def without_ca_file(conf):
    with open(conf, encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("ca_file =")]
    with open(conf, "w", encoding="utf-8") as f:
        f.writelines(lines)


def run(conf, n, certs=None):
    """m2wo on one message; in a namespace with certs on /etc/ssl/certs
    when given. -> (exit code, first line of standard output)."""
    argv = [BIN, "-c", conf, "-f", "jan@bakkerijdezon.example.nl",
            "-r", STORING]
    if certs is not None:
        argv = ["unshare", "-m", "sh", "-c",
                "mount --bind %s /etc/ssl/certs && exec \"$@\"" %
                shlex.quote(certs), "sh"] + argv
    proc = subprocess.run(argv, input=MESSAGE % b"pin.%d" % n,
                          capture_output=True, timeout=60)
    out = proc.stdout.decode("utf-8", "replace").splitlines()
    return proc.returncode, (out[0] if out else "")


with simlib.Sim() as sim:
    with_ca = simlib.write_config(os.path.join(TMP, "with-ca"), sim, BODY)
    system = simlib.write_config(os.path.join(TMP, "system"), sim, BODY)
    without_ca_file(system)
    pinned = simlib.write_config(os.path.join(TMP, "pinned"), sim, BODY)
    simlib.edit_conf(pinned, "ca_file",
                     simlib.other_certificate(os.path.join(TMP, "pinned")))
    certs = system_certs_with(sim.ca_file)

    code, line = run(system, 1)
    tap.ok(code == 75 and line.startswith("4."),
           "outside the namespace, the system's CAs do not trust the "
           "simulator", "exit %r, %r" % (code, line))
    code, line = run(system, 2, certs)
    tap.is_(code, 0, "without ca_file, the system's CAs are trusted")
    code, line = run(pinned, 3, certs)
    tap.ok(code == 75 and line.startswith("4."),
           "a ca_file without the server's certificate fails, although the "
           "system's CAs trust the server", "exit %r, %r" % (code, line))
    code, line = run(with_ca, 4, certs)
    tap.is_(code, 0, "a ca_file with the server's certificate is trusted")
    tap.is_(len(sim.workorders()), 2, "OutSmart holds the two work orders")

shutil.rmtree(TMP, ignore_errors=True)
tap.done_testing()
