#!/usr/bin/env python3
# The order in which the dynamic loader searches m2wo's libraries
# (configure.ac: M2WO_EARLY_LIBS names the busiest ones first) may make the
# start cheaper, never different: the libraries named first are ones m2wo
# loads anyway, and every symbol a run binds has one definition among the
# loaded libraries, so no search order can pick another one. glibc only
# (LD_DEBUG, ldd); skipped where those do not exist.

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

tap, BIN = simlib.tap_for_m2wo(simulator=False)
if not all(shutil.which(tool) for tool in ("nm", "readelf", "ldd")):
    tap.skip_all("no nm, readelf (binutils) or ldd")
SRCDIR = os.environ.get("M2WO_SRCDIR",
                        os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__))))
HTML_MAIL = os.path.join(SRCDIR, "tests", "fixtures", "html-only.eml")
TMP = tempfile.mkdtemp(prefix="m2wo-loadorder-")
atexit.register(simlib.remove_scratch, TMP)
CONF = simlib.write_config(TMP, None,
                           """
[config Alles]
sender_type = Any
forced_debtor_number = DEB1001
""")

# Symbols glibc defines in both libc and libm for old binaries; libc is a
# direct dependency of m2wo, so it comes before libm in any order.
LIBC_LIBM = {"libc.so.6", "libm.so.6"}


def run(argv, env=None, stdin=None):
    return subprocess.run(argv, env=env, stdin=stdin, capture_output=True,
                          text=True, errors="replace")


def loaded_libraries(path):
    """{soname: file} of what the loader maps for path (ldd)."""
    out = run(["ldd", path]).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            libs[m.group(1)] = m.group(2)
    return libs


def needed(path):
    out = run(["readelf", "-d", path]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def definitions(libs):
    """symbol -> set of sonames defining it (dynamic, default version)."""
    defs = {}
    for soname, path in libs.items():
        out = run(["nm", "-D", "--defined-only", path]).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] not in "Uw":
                defs.setdefault(parts[2].split("@")[0], set()).add(soname)
    return defs


def bindings(path):
    """(from, to soname, symbol) of a dry run of an HTML-only mail, with
    every symbol bound at start, the ones it does not call too."""
    env = dict(os.environ, LD_DEBUG="bindings", LD_BIND_NOW="1")
    with open(HTML_MAIL, "rb") as mail:
        err = run([path, "-c", CONF, "-n", "--offline", "-f",
                   "jan@bakkerijdezon.example.nl", "-r",
                   "storing@service.example"], env=env, stdin=mail).stderr
    found = []
    for m in re.finditer(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: "
                         r"normal symbol `([^']+)'", err):
        found.append((m.group(1), os.path.basename(m.group(2)),
                      m.group(3)))
    return found


libs = loaded_libraries(BIN)
if not libs:
    tap.skip_all("the loader does not list what it maps (not glibc?)")
binds = bindings(BIN)
if not binds:
    tap.skip_all("LD_DEBUG=bindings prints nothing here (not glibc?)")
tap.ok(len(binds) > 1000, "a dry run binds its symbols (%d)" % len(binds))

# The libraries m2wo's own code calls, and everything they load.
roots = {to for frm, to, _ in binds if frm == BIN}
closure = set(roots)
for soname in roots:
    if soname in libs:
        closure |= set(loaded_libraries(libs[soname]))
tap.ok({"libgmime-3.0.so.0", "libcurl.so.4"} <= roots,
       "m2wo calls GMime and libcurl itself", sorted(roots))
extra = [n for n in needed(BIN) if n not in closure]
tap.ok(not extra, "every library m2wo names is one it loads anyway",
       "named but not needed: %s" % extra)

# m2wo itself comes first in every order, so what binds to it (a
# sanitizer's interceptors) cannot change either.
defs = definitions(libs)
clashes = sorted({(sym, to) for frm, to, sym in binds
                  if len(defs.get(sym, ())) > 1 and
                  to != os.path.basename(BIN) and
                  not (defs[sym] <= LIBC_LIBM and to == "libc.so.6")})
tap.ok(not clashes,
       "every symbol bound has one definition among the loaded libraries",
       "\n".join("%s -> %s, defined in %s" % (s, t, sorted(defs[s]))
                 for s, t in clashes[:20]))
tap.done_testing()
