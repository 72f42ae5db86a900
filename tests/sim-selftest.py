#!/usr/bin/env python3
# Self-test of the OutSmart simulator (tests/outsmart-sim.py), the test and
# demo equipment m2wo's tests run against: proves that it answers as the
# documented OutSmart API does (outsmart-api.md).  TAP output; exit 77 when
# the openssl command is missing.

import http.client
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simlib  # noqa: E402

REQUIRED = [
    "WorkorderNo", "CustomerName", "CustomerDebtorNr", "CustomerStreet",
    "CustomerZIP", "CustomerCity", "CustomerContactPerson",
    "CustomerNameInvoice", "CustomerDebtorNrInvoice", "CustomerStreetInvoice",
    "CustomerZIPInvoice", "CustomerCityInvoice",
    "CustomerContactPersonInvoice", "TypeOfWork", "PaymentMethod",
]

tap = simlib.Tap()


def workorder(no="M2WO-TEST00000001", **extra):
    wo = {
        "WorkorderNo": no,
        "CustomerName": "Bakkerij de Zon", "CustomerDebtorNr": "DEB1001",
        "CustomerStreet": "Voorstraat", "CustomerStreetNo": "12",
        "CustomerZIP": "3512 AB", "CustomerCity": "Utrecht",
        "CustomerContactPerson": "Jan de Vries",
        "CustomerNameInvoice": "Bakkerij de Zon",
        "CustomerDebtorNrInvoice": "DEB1001",
        "CustomerStreetInvoice": "Voorstraat", "CustomerZIPInvoice": "3512 AB",
        "CustomerCityInvoice": "Utrecht",
        "CustomerContactPersonInvoice": "Jan de Vries",
        "TypeOfWork": "Storing", "PaymentMethod": "op rekening",
        "WorkDate": "01-05-2024", "WorkTime": "09:30",
        "ShortWorkDescription": "Oven wordt niet warm",
    }
    wo.update(extra)
    return wo


def code_of(answer):
    return answer[1].get("code") if isinstance(answer[1], dict) else None


def filt(*triples):
    pairs = []
    for key, value, op in triples:
        pairs += [("key[]", key), ("value[]", value), ("operator[]", op)]
    return pairs


def debtors(answer):
    return sorted(r["debtor_number"] for r in answer[1]["response"])


def test_tokens(sim):
    for token, soft, want, name in [
            (None, True, 1002, "token missing -> 1002"),
            ("", True, 1002, "token empty -> 1002"),
            (True, None, 1003, "software_token missing -> 1003"),
            ("wrong-token-not-real", True, 1004, "wrong token -> 1004"),
            (True, "wrong-software-not-real", 1005,
             "wrong software_token -> 1005")]:
        got = sim.api("GET", "relations/", token=token, software_token=soft)
        tap.ok(got[0] == 200 and code_of(got) == want, name, got)


def test_bearer():
    with simlib.Sim(bearer="test-bearer-not-real") as sim:
        got = sim.api("GET", "relations/", headers={"Authorization": ""})
        tap.is_(code_of(got), 1004, "--bearer: no Authorization -> 1004")
        got = sim.api("GET", "relations/",
                      headers={"Authorization": "Bearer nope-not-real"})
        tap.is_(code_of(got), 1004, "--bearer: wrong bearer -> 1004")
        got = sim.api("GET", "relations/")
        tap.is_(code_of(got), 200, "--bearer: right bearer -> 200")
        dump = json.dumps(sim.journal())
        tap.ok("test-bearer-not-real" not in dump and
               "nope-not-real" not in dump,
               "journal holds no bearer value")


def test_endpoints(sim):
    got = sim.api("GET", "")
    tap.is_(code_of(got), 1000, "no endpoint -> 1000")
    for ep, method, name in [
            ("Nonexistent/", "GET", "unknown endpoint -> 1001"),
            ("postworkorders/", "POST", "endpoint names are case-sensitive"),
            ("PostWorkorders", "POST", "no trailing slash -> 1001"),
            ("PostWorkorders/", "GET", "GET on PostWorkorders -> 1001"),
            ("addresses/", "POST", "POST on addresses -> 1001")]:
        got = sim.api(method, ep, body=[] if method == "POST" else None)
        tap.ok(got[0] == 200 and code_of(got) == 1001, name, got)


def test_bodies(sim):
    got = sim.api("POST", "PostWorkorders/")
    tap.is_(code_of(got), 1008, "POST without body -> 1008")
    got = sim.api("POST", "PostWorkorders/", body="[{not json")
    tap.is_(code_of(got), 1009, "body not JSON -> 1009")
    got = sim.api("POST", "PostWorkorders/", body=[{}])
    want = ["Required field missing: %s" % f for f in REQUIRED]
    tap.ok(code_of(got) == 1501 and got[1]["messages"] == want,
           "empty work order -> 1501 with 15 messages", got)
    got = sim.api("POST", "PostWorkorders/",
                  body=[workorder(CustomerZIP="")])
    tap.ok(code_of(got) == 1501 and got[1]["messages"] ==
           ["Required field missing: CustomerZIP"],
           "empty CustomerZIP -> one message", got)
    bad = [("TypeOfWork", "Kapot"), ("PaymentMethod", "contant"),
           ("WorkDate", "2024-05-01"), ("WorkEndDate", "31-02-2024"),
           ("WorkDeadline", "1-5-2024"), ("WorkTime", "9:30"),
           ("WorkEndTime", "24:00")]
    for field, value in bad:
        got = sim.api("POST", "PostWorkorders/",
                      body=[workorder(**{field: value})])
        tap.ok(code_of(got) == 1504 and got[1]["messages"] and
               field in got[1]["messages"][0],
               "%s %r -> 1504 with a message" % (field, value), got)
    got = sim.api("POST", "PostWorkorders/", body=workorder())
    tap.is_(code_of(got), 1504, "a work order not in an array -> 1504")
    tap.is_(sim.workorders(), [], "refused work orders are not stored")


def test_workorders(sim):
    got = sim.api("POST", "PostWorkorders/", body=[workorder()])
    resp = got[1].get("response") if isinstance(got[1], dict) else None
    tap.ok(code_of(got) == 200 and got[1]["messages"] == [] and
           isinstance(resp, list) and len(resp) == 1 and
           re.fullmatch(r"[A-Z]{2}\d{3}[A-Z]", resp[0]["workorder_no"]) and
           resp[0]["row_id"] == 169824,
           "PostWorkorders -> 200, OutSmart number, row_id 169824", got)
    own_no = resp[0]["workorder_no"] if resp else None
    stored = sim.workorders()
    tap.ok(len(stored) == 1 and stored[0]["workorder_no"] ==
           "M2WO-TEST00000001" and stored[0]["status"] == "Klaargezet" and
           stored[0]["CustomerDebtorNr"] == "DEB1001",
           "work order stored with status Klaargezet", stored)

    params = {"workorder_no": "M2WO-TEST00000001", "update_status": "false"}
    got = sim.api("GET", "GetWorkorder/", params)
    tap.ok(code_of(got) == 200 and
           got[1]["response"]["WorkorderNo"] == "M2WO-TEST00000001",
           "GetWorkorder by WorkorderNo finds it", got)
    tap.is_(sim.workorders()[0]["status"], "Klaargezet",
            "update_status=false leaves the status")
    got = sim.api("GET", "GetWorkorder/",
                  {"row_id": "169824", "update_status": "false"})
    tap.is_(code_of(got), 200, "GetWorkorder by row_id")
    got = sim.api("GET", "GetWorkorder/", {"workorder_no": own_no})
    tap.is_(code_of(got), 200, "GetWorkorder by OutSmart's own number")
    tap.is_(sim.workorders()[0]["status"], "Afgehandeld",
            "update_status defaults to true: Afgehandeld")
    got = sim.api("GET", "GetWorkorder/",
                  {"workorder_no": "M2WO-NOTTHERE0000", "update_status":
                   "false"})
    tap.is_(code_of(got), 1500, "unknown work order -> 1500")

    got = sim.api("POST", "PostWorkorders/", body=[workorder()])
    stored = sim.workorders()
    tap.ok(code_of(got) == 200 and len(stored) == 2 and
           stored[1]["workorder_no"] == "M2WO-TEST00000001" and
           stored[1]["row_id"] == 169825 and
           got[1]["response"][0]["workorder_no"] != own_no,
           "a duplicate WorkorderNo creates a second work order", stored)


def test_relation_filters(sim):
    got = sim.api("GET", "relations/")
    tap.ok(code_of(got) == 200 and len(got[1]["response"]) >= 10,
           "relations without filter: every relation", got)
    got = sim.api("GET", "relations/",
                  filt(("debtor_number", "DEB1001", "eq")))
    tap.is_(debtors(got), ["DEB1001"], "eq finds one relation")
    got = sim.api("GET", "relations/",
                  filt(("debtor_number", "deb1001", "eq")))
    tap.is_(debtors(got), [], "eq is exact (case matters)")
    got = sim.api("GET", "relations/",
                  filt(("email", "%@VANDENBERG.EXAMPLE.COM", "li")))
    tap.is_(debtors(got), ["DEB1002", "DEB1003"],
            "li is case-insensitive with % wildcard")
    got = sim.api("GET", "relations/",
                  filt(("email", "storingen@vandenberg.example.com", "li")))
    tap.is_(debtors(got), [], "li without wildcard matches the whole value")
    got = sim.api("GET", "relations/",
                  filt(("email_workorder", "storingen@vandenberg.example.com",
                        "eq")))
    tap.is_(debtors(got), ["DEB1002"], "email_workorder can be filtered")
    got = sim.api("GET", "relations/",
                  filt(("city", "Rotterdam", "eq"),
                       ("house_number", "47", "eq")))
    tap.is_(debtors(got), ["DEB1003"], "several filters: all must hold")
    got = sim.api("GET", "relations/",
                  filt(("debtor_number", "DEB1011", "gt")))
    tap.is_(debtors(got), ["DEB1012", "DEB1013"], "gt compares")
    got = sim.api("GET", "relations/",
                  filt(("street", "Havenweg", "eq"),
                       ("debtor_number", "DEB1002", "ne")))
    tap.is_(debtors(got), ["DEB1003"], "ne excludes")
    got = sim.api("GET", "relations/",
                  filt(("house_number", "12_", "li")))
    tap.is_(debtors(got), ["DEB1006"], "_ matches one character")

    new = [{"debtor_number": "M2WO-PCT1", "name": "Actie 50% korting",
            "street": "Dorpsstraat", "postal_code": "1234 AB",
            "city": "Ergens"},
           {"debtor_number": "M2WO-PCT2", "name": "Actie 500 korting",
            "street": "Dorpsstraat", "postal_code": "1234 AB",
            "city": "Ergens"}]
    got = sim.api("POST", "relations/", body=new)
    tap.ok(code_of(got) == 200 and got[1]["response"] == 2,
           "relations POST answers the number synced", got)
    got = sim.api("GET", "relations/", filt(("name", "actie 50%", "li")))
    tap.is_(debtors(got), ["M2WO-PCT1", "M2WO-PCT2"], "% matches anything")
    got = sim.api("GET", "relations/", filt(("name", "actie 50\\%%", "li")))
    tap.is_(debtors(got), ["M2WO-PCT1"], "\\% matches a literal %")


def test_relation_post(sim):
    before = len(sim.relations())
    rel = {"debtor_number": "M2WO-NEW1", "name": "Nieuwe Klant",
           "street": "Laan", "postal_code": "1000 AA", "city": "Amsterdam",
           "email": "nieuw@example.com"}
    got = sim.api("POST", "relations/", body=[rel])
    rels = sim.relations()
    tap.ok(code_of(got) == 200 and got[1]["response"] == 1 and
           len(rels) == before + 1, "relations POST inserts", got)
    got = sim.api("POST", "relations/", body=[dict(rel, name="Andere Naam")])
    rels = sim.relations()
    mine = [r for r in rels if r["debtor_number"] == "M2WO-NEW1"]
    tap.ok(code_of(got) == 200 and len(rels) == before + 1 and
           len(mine) == 1 and mine[0]["name"] == "Andere Naam" and
           mine[0]["email"] == "nieuw@example.com",
           "relations POST updates by debtor_number", mine)
    got = sim.api("POST", "relations/",
                  body=[{"debtor_number": "M2WO-NEW2", "name": "X"}])
    tap.ok(code_of(got) == 1301 and got[1]["messages"] ==
           ["Required field missing: street",
            "Required field missing: postal_code",
            "Required field missing: city"] and
           len(sim.relations()) == before + 1,
           "missing relation fields -> 1301, one message each", got)
    got = sim.api("POST", "relations/", body=rel)
    tap.is_(code_of(got), 1300, "relations POST of a non-array -> 1300")


def test_lookups(sim):
    got = sim.api("GET", "addresses/", filt(("adr_zip", "5611 GH", "eq")))
    tap.ok(code_of(got) == 200 and sorted(
        a["adr_code"] for a in got[1]["response"]) ==
        ["ADR-1006-1", "ADR-1007-1"], "addresses filter", got)
    got = sim.api("GET", "address/",
                  filt(("adr_line_1", "kerkstraat 12a", "li")))
    tap.ok(code_of(got) == 200 and [a["adr_code"] for a in
                                    got[1]["response"]] == ["ADR-1006-1"],
           "address (singular) filters the same list", got)
    got = sim.api("GET", "contactpersons/",
                  filt(("cpn_debtor_nr", "DEB1001", "eq")))
    tap.ok(code_of(got) == 200 and len(got[1]["response"]) == 2,
           "contactpersons filter", got)
    got = sim.api("GET", "object/", filt(("obj_code", "OBJ-4711", "eq")))
    tap.ok(code_of(got) == 200 and got[1]["response"][0][
        "obj_debiteur_nummer"] == "DEB1001", "object by obj_code", got)
    got = sim.api("GET", "objects/", filt(("obj_code", "NOPE", "eq")))
    tap.ok(code_of(got) == 200 and got[1]["response"] == [],
           "nothing found: empty array", got)


def expect_no_answer(sim, endpoint, body=None, timeout=10):
    method = "POST" if body is not None else "GET"
    try:
        got = sim.api(method, endpoint, body=body, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__
    return None if got is None else "answer %r" % (got,)


def test_faults(sim):
    sim.fault(http_status=503)
    got = sim.api("GET", "relations/")
    tap.is_(got, (503, "error"), "fault http_status 503")
    sim.fault(api_code=1007, endpoint="PostWorkorders")
    got = sim.api("GET", "relations/")
    tap.is_(code_of(got), 200, "an endpoint fault leaves other endpoints")
    got = sim.api("POST", "PostWorkorders/", body=[workorder()])
    tap.ok(code_of(got) == 1007 and sim.workorders() == [],
           "fault api_code 1007: envelope code, no action", got)
    sim.fault(delay=0.4, count=2)
    t0 = time.monotonic()
    a = sim.api("GET", "relations/")
    b = sim.api("GET", "relations/")
    took = time.monotonic() - t0
    tap.ok(code_of(a) == 200 and code_of(b) == 200 and took >= 0.8,
           "fault delay with count 2 delays two requests", took)

    sim.fault(drop_after_create=True)
    err = expect_no_answer(sim, "PostWorkorders/", [workorder()])
    stored = sim.workorders()
    tap.ok(err and not err.startswith("answer") and len(stored) == 1,
           "drop_after_create: created, then closed", (err, stored))
    sim.fault(close=True)
    err = expect_no_answer(sim, "PostWorkorders/", [workorder()])
    tap.ok(err and not err.startswith("answer") and
           len(sim.workorders()) == 1,
           "close: connection closed, nothing created", err)
    sim.fault(never_answer=True)
    t0 = time.monotonic()
    err = expect_no_answer(sim, "relations/", timeout=0.5)
    took = time.monotonic() - t0
    tap.ok(err in ("TimeoutError", "timeout") and took < 3,
           "never_answer: the client times out", (err, took))
    sim.fault(trickle=0.002)
    t0 = time.monotonic()
    got = sim.api("GET", "objects/", filt(("obj_code", "NOPE", "eq")))
    took = time.monotonic() - t0
    tap.ok(code_of(got) == 200 and took >= 0.2,
           "trickle: full answer, slowly", (got, took))
    faults = [e["fault"] for e in sim.journal()]
    tap.is_([f for f in faults if f],
            ["http_status", "api_code", "delay", "delay",
             "drop_after_create", "close", "never_answer", "trickle"],
            "journal names each fault")


def test_journal(sim):
    sim.api("GET", "relations/", token="wrong-token-not-real")
    sim.api("GET", "relations/", token=None)
    sim.api("POST", "PostWorkorders/", body=[workorder()])
    j = sim.journal()
    dump = json.dumps(j)
    tap.ok(simlib.TOKEN not in dump and simlib.SOFTWARE_TOKEN not in dump
           and "wrong-token-not-real" not in dump,
           "journal holds no token value")
    tap.is_([e["query"]["token"] for e in j], ["bad", "missing", "ok"],
            "journal token states")
    last = j[-1]
    tap.ok(last["n"] == 3 and last["method"] == "POST" and
           last["endpoint"] == "PostWorkorders" and last["code"] == 200 and
           last["http"] == 200 and last["fault"] is None and
           last["query"]["software_token"] == "ok" and
           last["headers"] == {"content-type": "application/json",
                               "accept": "application/json",
                               "authorization": "no"} and
           last["body"][0]["WorkorderNo"] == "M2WO-TEST00000001",
           "journal entry fields", last)
    got = sim.api("GET", "relations/",
                  filt(("debtor_number", "DEB1001", "eq")))
    tap.is_(sim.journal()[-1]["query"].get("key[]"), ["debtor_number"],
            "journal keeps filter lists")


def test_stats(sim):
    conn = sim.connection()
    try:
        a = sim.api("GET", "relations/", conn=conn)
        b = sim.api("GET", "objects/", conn=conn)
    finally:
        conn.close()
    st = sim.stats()
    j = sim.journal()
    tap.ok(code_of(a) == 200 and code_of(b) == 200 and
           st == {"connections": 1, "requests": 2} and
           j[0]["conn"] == j[1]["conn"],
           "keep-alive: two requests on one connection", st)
    sim.api("GET", "relations/")
    tap.is_(sim.stats(), {"connections": 2, "requests": 3},
            "a new connection counts")


def test_plain_http(sim):
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        conn.request("GET", sim.path("relations/"))
        resp = conn.getresponse()
        got = json.loads(resp.read())
    finally:
        conn.close()
    tap.is_(got.get("code"), 1006, "plain HTTP -> 1006")
    tap.is_(sim.stats()["connections"], 0, "plain HTTP is no TLS connection")


def main():
    if not simlib.have_openssl():
        tap.skip_all("openssl command not found")
    with simlib.Sim() as sim:
        tap.ok(os.stat(os.path.join(sim.dir, "key.pem")).st_mode & 0o077
               == 0, "key.pem is private")
        steps = [test_tokens, test_endpoints, test_bodies, test_workorders,
                 test_relation_filters, test_relation_post, test_lookups,
                 test_faults, test_journal, test_stats, test_plain_http]
        for step in steps:
            sim.reset()
            step(sim)
        sim.reset()
        tap.ok(sim.journal() == [] and sim.workorders() == [],
               "reset clears journal and work orders")
    test_bearer()
    tap.done_testing()


if __name__ == "__main__":
    main()
