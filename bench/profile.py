#!/usr/bin/env python3
# profile.py: where one pipe-mode run of m2wo spends its instructions,
# from valgrind's callgrind (deterministic, so unaffected by other work on
# the machine): dynamic loading and relocation, library constructors,
# m2wo's own stages, OpenSSL and libcurl, exit. Beside it the same for the
# curl CLI's one POST and the C floor, the dynamic loader's own statistics
# (LD_DEBUG=statistics) and the number of libraries mapped. Prints Markdown.
#
#   profile.py WORK M2WO ENV_ARGS RESET FLOOR CURL_POST

import os
import re
import subprocess
import sys

# (label, function names whose inclusive cost is taken, depth for indent)
PHASES = [
    ("dynamic loading and symbol relocation (ld.so, before main)",
     ["_dl_start"], 0),
    ("library constructors (mostly GnuTLS and libtasn1, which libcurl's "
     "librtmp pulls in; m2wo never uses them)",
     ["_dl_init"], 0),
    ("main()", ["main"], 0),
    ("command line, configuration file", ["config_load"], 1),
    ("g_mime_init", ["g_mime_init"], 1),
    ("read standard input", ["input_read_fd"], 1),
    ("MIME parse, body text, message key", ["msg_parse"], 1),
    ("machine-generated check, configuration match",
     ["classify_autoreply", "match_pick"], 1),
    ("regex rules", ["regex_apply_rules"], 1),
    ("libcurl/OpenSSL global init (openssl.cnf, providers)",
     ["curl_global_init"], 1),
    ("all HTTP requests (curl_easy_perform), of which:",
     ["curl_easy_perform"], 1),
    ("TLS context (SSL_CTX_new)", ["SSL_CTX_new"], 2),
    ("random generator set-up (RAND_status)", ["RAND_status"], 2),
    ("reading the CA file", ["X509_load_cert_crl_file",
                             "X509_load_cert_crl_file_ex"], 2),
    ("TLS handshake (SSL_connect)", ["SSL_connect"], 2),
    ("building the work order JSON", ["workorder_build"], 1),
    ("audit line, report", ["main_report"], 1),
    ("exit (atexit handlers, library destructors)",
     ["__run_exit_handlers", "_dl_fini"], 0),
]

LINE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(?:\S*:)?([^\s\[]+)")


def sh(cmd, **kw):
    return subprocess.run(["sh", "-c", cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


def callgrind(cmd, out, reset=None):
    if reset:
        sh(reset)
    p = sh("valgrind --tool=callgrind --callgrind-out-file=%s %s"
           % (out, cmd))
    m = re.search(r"Collected : (\d+)", p.stderr.decode())
    total = int(m.group(1)) if m else 0
    ann = sh("callgrind_annotate --inclusive=yes --threshold=100 %s" % out)
    incl = {}
    for line in ann.stdout.decode("utf-8", "replace").splitlines():
        m = LINE.match(line)
        if m:
            name = m.group(2)
            cost = int(m.group(1).replace(",", ""))
            incl[name] = max(incl.get(name, 0), cost)
    return total, incl


def instructions(cmd, reset=None, certs=None):
    """Total instructions of one run; with certs, in a private mount
    namespace whose /etc/ssl/certs is that folder."""
    if reset:
        sh(reset)
    run = "valgrind --tool=callgrind --callgrind-out-file=/dev/null %s" % cmd
    if certs:
        run = "unshare -m sh -c %s" % shquote(
            "mount --bind %s /etc/ssl/certs && %s" % (certs, run))
    p = sh(run)
    m = re.search(r"Collected : (\d+)", p.stderr.decode())
    return int(m.group(1)) if m else 0


def shquote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def before_after(work, m2wo, before, env_args, reset):
    certs = os.path.join(work, "system-certs")
    certs = certs if os.path.isdir(certs) and os.geteuid() == 0 else None
    rows = [("pipe mode, ca_file (the simulator's certificate)",
             "-c forced.conf", True, None),
            ("pipe mode, system CAs (no ca_file)", "-c sysca.conf", True,
             certs),
            ("offline dry run, 10 configurations",
             "-c confs-10.conf -n --offline", False, None),
            ("offline dry run, 1,000 configurations",
             "-c confs-1000.conf -n --offline", False, None)]
    print("### Instructions per run, before and after (callgrind)")
    print()
    print("| run | before | after | after / before |")
    print("|---|---:|---:|---:|")
    for label, args, posts, ca in rows:
        if "sysca" in args and ca is None:
            continue
        got, first = [], []
        for binary in (before, m2wo):
            # Under valgrind m2wo is another binary to its configuration
            # snapshot: the first run writes one for it, the second is what
            # every run but the first after a change costs.
            cmd = "%s %s %s <mail.eml" % (binary, args, env_args)
            first.append(instructions(cmd, reset if posts else None, ca))
            got.append(instructions(cmd, reset if posts else None, ca))
        print("| %s | %s | %s | %.2fx |" % (label, format(got[0], ","),
                                            format(got[1], ","),
                                            got[1] / got[0] if got[0] else 0))
        if "1000" in args:
            print("| %s, first run after a change (snapshot written) | %s "
                  "| %s | %.2fx |" % (label, format(first[0], ","),
                                      format(first[1], ","),
                                      first[1] / first[0] if first[0]
                                      else 0))
    print()


LINK_SETS = [
    ("the five libraries m2wo links",
     ["gmime-3.0", "glib-2.0", "libpcre2-8", "libcurl", "json-c"]),
    ("the five and libxml2 (with ICU, libstdc++), as linked before",
     ["gmime-3.0", "glib-2.0", "libpcre2-8", "libcurl", "json-c",
      "libxml-2.0"]),
    ("without libcurl (and so OpenSSL, GnuTLS, LDAP, Kerberos, SSH, RTMP)",
     ["gmime-3.0", "glib-2.0", "libpcre2-8", "json-c"]),
    ("libcurl alone (what the curl CLI maps)", ["libcurl"]),
]


def link_sets(work):
    """What linking costs before main(): an empty main() linked against
    each set of libraries."""
    src = os.path.join(work, "empty.c")
    with open(src, "w") as f:
        f.write("int main(void) { return 0; }\n")
    print("### What the link set costs: an empty main() linked with ...")
    print()
    print("| libraries | mapped | instructions | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for i, (label, pkgs) in enumerate(LINK_SETS):
        exe = os.path.join(work, "empty-%d" % i)
        p = sh("cc -O2 -o %s %s -Wl,--no-as-needed $(pkg-config --libs %s)"
               % (exe, src, " ".join(pkgs)))
        if p.returncode != 0:
            continue
        rss = sh("/usr/bin/time -f %%M %s" % exe).stderr.decode().split()
        print("| %s | %d | %s | %.1f |" % (
            label, libs(exe), format(instructions(exe), ","),
            int(rss[-1]) / 1024.0 if rss else 0))
    print()


def loader_stats(cmd):
    p = sh("LD_DEBUG=statistics %s" % cmd)
    text = p.stderr.decode("utf-8", "replace")
    out = {}
    for key, pat in (("cycles", r"total startup time in dynamic loader: "
                                r"(\d+) cycles"),
                     ("relocations", r"number of relocations: (\d+)"),
                     ("relative", r"number of relative relocations: (\d+)")):
        m = re.search(pat, text)
        out[key] = int(m.group(1)) if m else 0
    return out


def libs(binary):
    p = sh("ldd %s" % binary)
    return sum(1 for line in p.stdout.decode().splitlines()
               if "=>" in line or "ld-linux" in line)


def main():
    work, m2wo, env_args, reset, floor, curl_post = sys.argv[1:7]
    os.chdir(os.path.join(work, "in"))
    pipe = "%s -c forced.conf %s <mail.eml" % (m2wo, env_args)
    total, incl = callgrind(pipe, os.path.join(work, "cg.pipe"), reset)
    ctotal, cincl = callgrind(curl_post, os.path.join(work, "cg.curl"),
                              reset)
    ftotal, fincl = callgrind(floor, os.path.join(work, "cg.floor"))
    print("## Profile of one pipe-mode run (callgrind, instructions)")
    print()
    print("m2wo -c forced.conf < 11 KB message, against the simulator "
          "(3 requests on one connection). Inclusive instruction counts; "
          "indented lines are part of the line above. Waiting for the "
          "simulator costs no instructions: compare wall and CPU time in "
          "the pipe-mode table for that.")
    print()
    print("| phase | instructions | share |")
    print("|---|---:|---:|")
    for label, names, depth in PHASES:
        cost = max(incl.get(n, 0) for n in names)
        if cost == 0:
            continue
        pad = "&nbsp;&nbsp;&nbsp;&nbsp;" * depth
        print("| %s%s | %s | %.1f%% |" % (pad, label, format(cost, ","),
                                         100.0 * cost / total))
    print("| **total** | **%s** | 100%% |" % format(total, ","))
    print()
    print("| program | libraries mapped | instructions | of which ld.so "
          "before main | loader relocations (symbol / relative) |")
    print("|---|---:|---:|---:|---:|")
    rows = [("m2wo pipe mode", m2wo, total, incl, pipe),
            ("curl CLI, one POST", "$(command -v curl)", ctotal, cincl,
             "curl --version"),
            ("C floor (bench/floor.c)", floor, ftotal, fincl, floor)]
    for label, binary, tot, inc, cmd in rows:
        st = loader_stats(cmd if "<" not in cmd else
                          "%s --version" % m2wo)
        print("| %s | %d | %s | %s | %d / %d |" % (
            label, libs(binary), format(tot, ","),
            format(inc.get("_dl_start", 0), ","), st["relocations"],
            st["relative"]))
    print()
    link_sets(work)
    before = os.environ.get("M2WO_BEFORE")
    if before:
        before_after(work, m2wo, before, env_args, reset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
