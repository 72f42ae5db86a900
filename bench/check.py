#!/usr/bin/env python3
# check.py: before anything is timed, each contender is run once and what
# it did is verified on the servers' side: m2wo's and curl's requests in
# the simulator's journal (how many, on how many connections, answered
# how), the work order really stored, rt-mailgate's post really received
# with the message's exact bytes. Prints a JSON summary for report.py and
# exits non-zero when a contender did not do its work.
#
#   check.py WORK M2WO ENV_ARGS CURL_POST CURL_SAME RTMAILGATE PYTHON

import hashlib
import json
import os
import ssl
import subprocess
import sys
import urllib.request


def control(work, method, path):
    with open(os.path.join(work, "sim", "control-port")) as f:
        port = int(f.read())
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 method=method, data=b"" if method == "POST"
                                 else None)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def rt_stats(work):
    with open(os.path.join(work, "rt", "port")) as f:
        port = int(f.read())
    ctx = ssl.create_default_context(cafile=os.path.join(work, "rt",
                                                         "cert.pem"))
    with urllib.request.urlopen("https://127.0.0.1:%d/stats" % port,
                                context=ctx, timeout=30) as r:
        return json.loads(r.read())


def sh(cmd):
    p = subprocess.run(["sh", "-c", cmd], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def fail(what, detail):
    sys.stderr.write("bench: check failed: %s: %s\n" % (what, detail))
    sys.exit(1)


def sim_run(work, name, cmd, want_requests=None):
    """Runs cmd against a freshly reset simulator; returns what it did."""
    control(work, "POST", "/reset")
    code, out, err = sh(cmd)
    journal = control(work, "GET", "/journal")
    orders = control(work, "GET", "/workorders")
    seen = {
        "exit": code,
        "requests": len(journal),
        "connections": len({e["conn"] for e in journal}),
        "endpoints": ["%s %s %s" % (e["method"], e["endpoint"], e["code"])
                      for e in journal],
        "workorders": len(orders),
        "attachments": sum(len(o.get("Attachments") or []) for o in orders),
        "post_bytes": 0,
    }
    if code != 0:
        fail(name, "exit %d: %s" % (code, err.strip()[:200]))
    if len(orders) != 1:
        fail(name, "%d work orders stored, want 1" % len(orders))
    if want_requests is not None and len(journal) != want_requests:
        fail(name, "%d requests, want %d: %s" % (len(journal), want_requests,
                                                seen["endpoints"]))
    if seen["connections"] != 1:
        fail(name, "%d connections, want 1" % seen["connections"])
    return seen


def main():
    work, m2wo, env_args, curl_post, curl_same, rtmg, pyeq = sys.argv[1:8]
    os.chdir(os.path.join(work, "in"))
    res = {}
    res["m2wo-forced"] = sim_run(work, "m2wo forced_debtor_number",
                                 "%s -c forced.conf %s <mail.eml"
                                 % (m2wo, env_args), 3)
    res["m2wo-rules"] = sim_run(work, "m2wo customer_rules",
                                "%s -c rules.conf %s <mail.eml"
                                % (m2wo, env_args))
    res["curl-post"] = sim_run(work, "curl POST", curl_post, 1)
    res["curl-same"] = sim_run(work, "curl same requests", curl_same, 3)
    res["python"] = sim_run(work, "python equivalent", pyeq, 3)
    res["big-real-1"] = sim_run(work, "m2wo 1 MB",
                                "%s -c big.conf %s <big-1M.eml"
                                % (m2wo, env_args), 3)
    if res["big-real-1"]["attachments"] != 1:
        fail("m2wo 1 MB", "the attachment was not posted")

    before = rt_stats(work)["posts"]
    code, out, err = sh(rtmg)
    after = rt_stats(work)
    with open("mail.eml", "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if code != 0 or after["posts"] != before + 1:
        fail("rt-mailgate", "exit %d, posts %d -> %d: %s"
             % (code, before, after["posts"], err.strip()[:200]))
    if after["last"]["sha256"] != digest:
        fail("rt-mailgate", "the posted message differs from mail.eml")
    res["rt-mailgate"] = {"exit": code, "requests": 1,
                          "connections": 1, "bytes": after["last"]["bytes"]}

    for n in (1, 10, 50, 1000):
        code, out, err = sh("%s -c confs-%d.conf -n --offline --explain %s "
                            "<mail.eml" % (m2wo, n, env_args))
        if code != 0 or 'config "Bakkerij de Zon"' not in out \
                or "WorkorderNo" not in out:
            fail("offline %d configurations" % n, "exit %d" % code)
        tried = out.count("\nconfig ") + out.startswith("config ")
        res["offline-%d" % n] = {"exit": code, "configs_tried": tried}
    json.dump(res, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
