#!/usr/bin/env python3
# rss.py: peak resident set size of each contender, from GNU time's %M
# (maximum RSS in KiB), a few runs each; the simulator is reset before
# every run that posts. Prints JSON for report.py: name -> list of KiB.
#
#   rss.py WORK M2WO ENV_ARGS RESET FLOOR CURL_POST RTMAILGATE

import json
import os
import subprocess
import sys

RUNS = int(os.environ.get("BENCH_RSS_RUNS", "5"))
RUNS_BIG = int(os.environ.get("BENCH_RSS_RUNS_BIG", "2"))


def peak_kib(cmd, reset):
    if reset:
        subprocess.run(["sh", "-c", reset], check=True)
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "sh", "-c",
                        "exec " + cmd], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    lines = p.stderr.decode("utf-8", "replace").strip().splitlines()
    if p.returncode != 0 or not lines:
        raise SystemExit("bench: rss: %s failed (%d): %s"
                         % (cmd, p.returncode, lines[-1:]))
    return int(lines[-1])


def main():
    work, m2wo, env_args, reset, floor, curl_post, rtmg = sys.argv[1:8]
    os.chdir(os.path.join(work, "in"))
    m = "%s %s" % (m2wo, env_args)
    plan = [
        ("floor", floor, False, RUNS),
        ("curl-post", curl_post, True, RUNS),
        ("rt-mailgate", rtmg, False, RUNS),
        ("m2wo-forced", "%s -c forced.conf <mail.eml" % m, True, RUNS),
        ("m2wo-rules", "%s -c rules.conf <mail.eml" % m, True, RUNS),
        ("offline-50", "%s -c confs-50.conf -n --offline <mail.eml" % m,
         False, RUNS),
    ]
    before = os.environ.get("M2WO_BEFORE")
    if before:
        b = "%s %s" % (before, env_args)
        plan.append(("m2wo-forced-before", "%s -c forced.conf <mail.eml" % b,
                     True, RUNS))
    for mb in (1, 5, 25):
        plan.append(("big-offline-%d" % mb, "%s -c big.conf -n --offline "
                     "<big-%dM.eml" % (m, mb), False, RUNS_BIG))
        plan.append(("big-real-%d" % mb, "%s -c big.conf <big-%dM.eml"
                     % (m, mb), True, RUNS_BIG))
    out = {}
    for name, cmd, needs_reset, runs in plan:
        # rt-mailgate is a Perl script: "exec env ... rt-mailgate" keeps
        # the measured process the one that does the work.
        out[name] = [peak_kib(cmd, reset if needs_reset else None)
                     for _ in range(runs)]
    json.dump(out, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
