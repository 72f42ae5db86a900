#!/usr/bin/env python3
# api.c against the OutSmart simulator, through tests/apiprobe: every answer
# class (ok, not found, tempfail, reject), every transport failure (timeout,
# deadline, untrusted certificate, refused connection, dropped connection,
# oversize answer, trickle, no answer), keep-alive, query encoding, and that
# nothing printed ever holds a token.

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

tap = simlib.Tap()
BUILD = os.environ.get("M2WO_BUILDDIR",
                       os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = os.environ.get("APIPROBE", os.path.join(BUILD, "tests", "apiprobe"))
if not os.access(PROBE, os.X_OK):
    tap.skip_all("no apiprobe binary at %s" % PROBE)
if not simlib.have_openssl():
    tap.skip_all("no openssl command for the simulator's certificate")

TMP = tempfile.mkdtemp(prefix="m2wo-test-api-")
SECRETS = [simlib.TOKEN, simlib.SOFTWARE_TOKEN, "wrong-token-not-real",
           "bearer-token-not-real"]
printed = []   # every byte apiprobe printed, checked for tokens at the end


def secret_file(name, text, mode=0o600):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write("  " + text + "\n")
    os.chmod(path, mode)
    return path


TOKEN_FILE = secret_file("token", simlib.TOKEN)
SOFTWARE_FILE = secret_file("software-token", simlib.SOFTWARE_TOKEN)


def probe(sim, *request, url=None, ca=True, timeout=5, token=TOKEN_FILE,
          bearer=None, deadline=None, repeat=1):
    """Runs apiprobe -> (exit, [reply dicts], stderr)."""
    args = [PROBE, "--url", url or sim.url, "--token-file", token,
            "--software-token-file", SOFTWARE_FILE,
            "--timeout", str(timeout), "--repeat", str(repeat)]
    if ca is True:
        args += ["--ca-file", sim.ca_file]
    elif ca:
        args += ["--ca-file", ca]
    if bearer:
        args += ["--bearer-token-file", bearer]
    if deadline is not None:
        args += ["--deadline", str(deadline)]
    proc = subprocess.run(args + list(request), capture_output=True,
                          timeout=60)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    printed.append(out + err)
    replies = []
    for line in out.splitlines():
        try:
            replies.append(json.loads(line))
        except ValueError:
            replies.append({"unparsed": line})
    return proc.returncode, replies, err


def one(sim, *request, **kw):
    code, replies, err = probe(sim, *request, **kw)
    reply = replies[-1] if replies else {"stderr": err}
    return code, reply


def expect(reply, name, **want):
    got = {k: reply.get(k) for k in want}
    tap.ok(got == want, name, "got:  %r\nwant: %r\nfull: %r"
           % (got, want, reply))


def last_journal(sim):
    j = sim.journal()
    return j[-1] if j else {}


def test_answers(sim):
    sim.reset()
    code, r = one(sim, "get", "relations", "email", "%vandenberg%", "li")
    expect(r, "look-up: ok", status="OK", http=200, code=200)
    tap.is_(sorted(x["debtor_number"] for x in r.get("response") or []),
            ["DEB1002", "DEB1003"], "look-up: the records that match")
    tap.is_(code, 0, "look-up: exit 0")
    j = last_journal(sim)
    tap.is_((j.get("method"), j.get("endpoint"), j.get("query")),
            ("GET", "relations",
             {"token": "ok", "software_token": "ok", "key[]": ["email"],
              "value[]": ["%vandenberg%"], "operator[]": ["li"]}),
            "look-up: tokens and filter arrive as sent")
    tap.is_(j.get("headers"), {"content-type": None,
                               "accept": "application/json",
                               "authorization": "no"},
            "look-up: Accept json, no Authorization without a bearer file")

    sim.reset()
    _, r = one(sim, "get", "relations", "name", "Café 't Hoekje", "eq",
               "city", "Eindhoven", "eq")
    tap.is_([x["debtor_number"] for x in r.get("response") or []],
            ["DEB1006"], "look-up: UTF-8, blanks and quotes in a value; "
            "two filters")
    nasty = "x&key[]=city&value[]=Utrecht&operator[]=ne#frag"
    _, r = one(sim, "get", "relations", "name", nasty, "eq")
    j = last_journal(sim)
    tap.is_((j.get("query", {}).get("key[]"), j.get("query", {}).get("value[]")),
            (["name"], [nasty]),
            "look-up: '&', '=', '#' in a value cannot add parameters")
    tap.is_(r.get("response"), [], "look-up: nothing matches the odd value")

    sim.reset()
    code, r = one(sim, "getp", "GetWorkorder", "workorder_no", "M2WO-NONE",
                  "update_status", "false")
    expect(r, "GetWorkorder unknown: not found", status="NOT_FOUND",
           http=200, code=1500)
    tap.is_(code, 1, "GetWorkorder unknown: exit 1 from apiprobe")
    tap.is_(last_journal(sim).get("query", {}).get("update_status"), "false",
            "GetWorkorder: plain parameters arrive as sent")


def test_post(sim):
    sim.reset()
    rel = os.path.join(TMP, "rel.json")
    with open(rel, "w") as f:
        json.dump([{"debtor_number": "M2WO-TEST", "name": "Test B.V.",
                    "street": "Teststraat", "postal_code": "1234 AB",
                    "city": "Teststad", "remark": "a/b \u00e9"}], f)
    _, r = one(sim, "post", "relations", rel)
    expect(r, "POST relations: ok", status="OK", code=200)
    j = last_journal(sim)
    tap.is_((j.get("method"), j.get("headers", {}).get("content-type")),
            ("POST", "application/json"),
            "POST: Content-Type application/json")
    tap.is_(j.get("body", [{}])[0].get("remark"), "a/b \u00e9",
            "POST: body arrives whole (UTF-8, unescaped slash)")
    tap.ok(any(x.get("debtor_number") == "M2WO-TEST" for x in sim.relations()),
           "POST: the relation exists in the simulator")

    with open(rel, "w") as f:
        json.dump([{"debtor_number": "M2WO-TEST2", "name": "Half"}], f)
    code, r = one(sim, "post", "relations", rel)
    expect(r, "POST relations without required fields: reject 1301",
           status="REJECT", code=1301, reason="OutSmart API refused: code 1301")
    tap.ok("Required field missing: street" in r.get("messages", []),
           "reject: messages are passed on", r.get("messages"))
    tap.is_(code, 65, "reject: exit 65 from apiprobe")

    wo = os.path.join(TMP, "wo.json")
    with open(wo, "w") as f:
        json.dump([{"WorkorderNo": "M2WO-X", "CustomerName": "Test"}], f)
    _, r = one(sim, "post", "PostWorkorders", wo)
    expect(r, "PostWorkorders incomplete: reject 1501", status="REJECT",
           code=1501)
    tap.ok("Required field missing: CustomerZIP" in r.get("messages", []),
           "1501: one message per missing field", r.get("messages"))


def test_keepalive(sim):
    sim.reset()
    code, replies, _ = probe(sim, "get", "relations", "city", "Utrecht", "eq",
                             repeat=4)
    tap.is_([x.get("status") for x in replies], ["OK"] * 4,
            "keep-alive: four requests answered")
    tap.is_(replies[-1].get("connections"), 1,
            "keep-alive: curl counts one connection")
    tap.is_(sim.stats().get("connections"), 1,
            "keep-alive: the simulator saw one TLS connection")
    tap.is_(len({x["conn"] for x in sim.journal()}), 1,
            "keep-alive: every request on the same connection")


def test_faults(sim):
    cases = [
        ({"http_status": 503}, "TEMPFAIL", 503, 0, "OutSmart API HTTP 503"),
        ({"http_status": 429}, "TEMPFAIL", 429, 0, "OutSmart API HTTP 429"),
        ({"http_status": 404}, "TEMPFAIL", 404, 0, "OutSmart API HTTP 404"),
        ({"http_status": 302}, "TEMPFAIL", 302, 0, "OutSmart API HTTP 302"),
        ({"http_status": 200}, "TEMPFAIL", 200, 0,
         "OutSmart API answered garbage"),
        ({"api_code": 1004}, "TEMPFAIL", 200, 1004,
         "OutSmart API refused the tokens"),
        ({"api_code": 1005}, "TEMPFAIL", 200, 1005,
         "OutSmart API refused the tokens"),
        ({"api_code": 1001}, "TEMPFAIL", 200, 1001,
         "OutSmart API configuration error"),
        ({"api_code": 1007}, "TEMPFAIL", 200, 1007,
         "OutSmart API internal error"),
        ({"api_code": 1009}, "TEMPFAIL", 200, 1009,
         "OutSmart API refused the request body"),
        ({"api_code": 1501}, "REJECT", 200, 1501,
         "OutSmart API refused: code 1501"),
        ({"api_code": 1504}, "REJECT", 200, 1504,
         "OutSmart API refused: code 1504"),
        ({"api_code": 4242}, "REJECT", 200, 4242,
         "OutSmart API refused: code 4242"),
        ({"close": True}, "TEMPFAIL", 0, 0, "OutSmart API connection lost"),
    ]
    for fault, status, http, code, reason in cases:
        sim.reset()
        sim.fault(**fault)
        rc, r = one(sim, "get", "relations", "city", "Utrecht", "eq")
        expect(r, "fault %s: %s" % (json.dumps(fault), reason),
               status=status, http=http, code=code, reason=reason)
        tap.is_(rc, 75 if status == "TEMPFAIL" else 65,
                "fault %s: apiprobe exit" % json.dumps(fault))
    tap.is_(len(sim.journal()), 1, "302: the redirect is not followed")

    sim.reset()
    sim.fault(close=True)
    _, replies, _ = probe(sim, "get", "relations", "city", "Utrecht", "eq",
                          repeat=2)
    tap.is_([x.get("status") for x in replies], ["TEMPFAIL", "OK"],
            "after a dropped connection the same client works again")

    sim.reset()
    wo = os.path.join(TMP, "wo.json")
    sim.fault(drop_after_create=True, endpoint="PostWorkorders")
    _, r = one(sim, "post", "PostWorkorders", wo)
    expect(r, "drop after create: connection lost, tempfail",
           status="TEMPFAIL", reason="OutSmart API connection lost")


def test_time(sim):
    sim.reset()
    sim.fault(delay=3)
    t = time.monotonic()
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", timeout=1)
    took = time.monotonic() - t
    expect(r, "delay 3 s, request_timeout 1 s: timed out", status="TEMPFAIL",
           http=0, reason="OutSmart API timed out")
    tap.ok(took < 2.5, "timeout: gives up after about 1 s", "took %.2f s" % took)

    sim.reset()
    sim.fault(delay=3)
    t = time.monotonic()
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", timeout=30,
               deadline=0.6)
    took = time.monotonic() - t
    expect(r, "delay 3 s, deadline 0.6 s: deadline exceeded",
           status="TEMPFAIL", reason="m2wo deadline exceeded")
    tap.ok(took < 2.0, "deadline: cuts the request short", "took %.2f s" % took)

    sim.reset()
    _, replies, _ = probe(sim, "get", "relations", "city", "Utrecht", "eq",
                          deadline=0.000001, repeat=2)
    tap.is_([x.get("reason") for x in replies],
            ["m2wo deadline exceeded"] * 2,
            "deadline passed: tempfail without sending")
    tap.is_(sim.journal(), [], "deadline passed: no request reached the API")

    for fault, name in (({"trickle": 0.3}, "trickle"),
                        ({"never_answer": True}, "never_answer")):
        sim.reset()
        sim.fault(**fault)
        t = time.monotonic()
        _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", timeout=1)
        took = time.monotonic() - t
        expect(r, "%s, request_timeout 1 s: timed out" % name,
               status="TEMPFAIL", reason="OutSmart API timed out")
        tap.ok(took < 2.5, "%s: bounded by request_timeout" % name,
               "took %.2f s" % took)

    sim.reset()
    sim.fault(trickle=0.002)
    _, r = one(sim, "get", "relations", "debtor_number", "DEB1001", "eq")
    expect(r, "slow but steady answer within the timeout: ok", status="OK",
           code=200)


def test_transport(sim):
    sim.reset()
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq",
               ca=simlib.other_certificate(TMP))
    expect(r, "certificate not from ca_file: TLS failure", status="TEMPFAIL",
           http=0, reason="OutSmart API TLS failure")
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", ca=None)
    expect(r, "self-signed certificate with the system CAs: TLS failure",
           status="TEMPFAIL", reason="OutSmart API TLS failure")
    tap.is_(sim.journal(), [], "TLS failure: no request was sent")

    url = "https://127.0.0.1:%d/openapi/8" % simlib.closed_port()
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", url=url)
    expect(r, "closed port: unreachable", status="TEMPFAIL", http=0,
           reason="OutSmart API unreachable")

    url = "http://127.0.0.1:%d/openapi/8" % sim.port
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", url=url)
    expect(r, "http:// URL: refused by the client", status="TEMPFAIL",
           http=0, reason="OutSmart API error")
    tap.is_(sim.journal(), [], "http:// URL: nothing was sent in clear")

    wrong = secret_file("wrong-token", "wrong-token-not-real")
    _, r = one(sim, "get", "relations", "city", "Utrecht", "eq", token=wrong)
    expect(r, "wrong token: 1004, tempfail", status="TEMPFAIL", code=1004,
           reason="OutSmart API refused the tokens")

    loose = secret_file("loose-token", simlib.TOKEN, 0o644)
    code, replies, err = probe(sim, "get", "relations", "city", "x", "eq",
                               token=loose)
    tap.ok(code == 78 and replies == [],
           "token file readable by others: refused before any request",
           "exit %r, stderr %r" % (code, err))


def test_bearer():
    with simlib.Sim(bearer="bearer-token-not-real") as sim:
        _, r = one(sim, "get", "relations", "city", "Utrecht", "eq")
        expect(r, "bearer required, none configured: 1004", code=1004,
               status="TEMPFAIL")
        bearer = secret_file("bearer", "bearer-token-not-real")
        _, r = one(sim, "get", "relations", "city", "Utrecht", "eq",
                   bearer=bearer)
        expect(r, "bearer configured: ok", status="OK", code=200)
        tap.is_(last_journal(sim).get("headers", {}).get("authorization"),
                "yes", "bearer: Authorization header sent")


def test_too_large():
    with open(simlib.SEED) as f:
        seed = json.load(f)
    seed["relations"][0]["remark"] = "x" * (9 * 1024 * 1024)
    path = os.path.join(TMP, "big-seed.json")
    with open(path, "w") as f:
        json.dump(seed, f)
    with simlib.Sim(seed=path) as sim:
        _, r = one(sim, "get", "relations", "debtor_number", "DEB1001", "eq",
                   timeout=20)
        expect(r, "9 MB answer: refused past the cap", status="TEMPFAIL",
               reason="OutSmart API answer too large", response=None)
        _, r = one(sim, "get", "relations", "debtor_number", "DEB1002", "eq",
                   timeout=20)
        expect(r, "small answer from the same service: ok", status="OK")


def main():
    try:
        with simlib.Sim() as sim:
            test_answers(sim)
            test_post(sim)
            test_keepalive(sim)
            test_faults(sim)
            test_time(sim)
            test_transport(sim)
        test_bearer()
        test_too_large()
    finally:
        text = "".join(printed)
        leaks = [s for s in SECRETS if s in text]
        tap.ok(not leaks and "token=" not in text,
               "nothing apiprobe printed holds a token or 'token='",
               "found %r" % (leaks or "token="))
    simlib.remove_scratch(TMP)
    tap.done_testing()


main()
