#!/usr/bin/env python3
# py-equivalent.py: what a typical hand-written Python gateway does with
# the benchmark's message, for comparison only: parse it with the email
# package, pick the text part, run the same regexes, look the relation up,
# ask GetWorkorder, post the work order, all on one HTTPS connection. It
# has none of m2wo's limits, policies or checks.
#
#   py-equivalent.py API_URL CA_FILE TOKEN_FILE SOFTWARE_TOKEN_FILE < mail

import base64
import email
import email.policy
import hashlib
import http.client
import json
import re
import ssl
import sys
import time
from urllib.parse import urlencode, urlsplit

RULES = {
    "customer_phone": r"(?m)^Telefoon:\s*(\S+)",
    "customer_zip": r"(?m)^Postcode:\s*(\d{4}\s?[A-Z]{2})",
    "storingscode": r"(?m)^Storingscode:\s*(\w+)",
    "prioriteit": r"(?m)^Prioriteit:\s*(\w+)",
    "referentie": r"(?m)^Referentie:\s*([A-Z]+-\d{4}-\d{4})",
}


def api(conn, base, query, endpoint, params=(), body=None):
    path = "%s/%s/?%s" % (base, endpoint, urlencode(list(query) + list(params)))
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    conn.request("POST" if data else "GET", path, body=data, headers=headers)
    answer = json.loads(conn.getresponse().read())
    return answer["code"], answer["response"]


def main():
    url, ca, token_file, sw_file = sys.argv[1:5]
    query = [("token", open(token_file).read().strip()),
             ("software_token", open(sw_file).read().strip())]
    msg = email.message_from_bytes(sys.stdin.buffer.read(),
                                   policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html")).get_content()
    values = {}
    for name, pattern in RULES.items():
        m = re.search(pattern, body)
        values[name] = m.group(1).strip() if m else ""
    key = hashlib.sha256(msg["Message-ID"].encode()).hexdigest()[:12].upper()
    attachments = [{"FileName": p.get_filename(),
                    "Data": base64.b64encode(p.get_content()).decode()}
                   for p in msg.iter_attachments()]

    u = urlsplit(url)
    conn = http.client.HTTPSConnection(
        u.hostname, u.port, context=ssl.create_default_context(cafile=ca))
    code, rel = api(conn, u.path, query, "relations",
                    [("key[]", "debtor_number"), ("value[]", "DEB1001"),
                     ("operator[]", "li")])
    rel = rel[0]
    number = "PY-" + key
    code, _ = api(conn, u.path, query, "GetWorkorder",
                  [("workorder_no", number), ("update_status", "false")])
    if code == 200:
        return 0
    wo = {"WorkorderNo": number, "TypeOfWork": "Storing",
          "PaymentMethod": "op rekening",
          "ShortWorkDescription": str(msg["Subject"]),
          "WorkDescription": body,
          "ErrorCode": values["storingscode"],
          "PriorityMessage": values["prioriteit"],
          "WorkDate": time.strftime("%d-%m-%Y"),
          "Attachments": attachments}
    for suffix in ("", "Invoice"):
        wo.update({"CustomerName" + suffix: rel["name"],
                   "CustomerDebtorNr" + suffix: rel["debtor_number"],
                   "CustomerStreet" + suffix: rel["street"],
                   "CustomerStreetNo" + suffix: rel["house_number"],
                   "CustomerZIP" + suffix: rel["postal_code"],
                   "CustomerCity" + suffix: rel["city"],
                   "CustomerContactPerson" + suffix: rel["contact"],
                   "CustomerEmail" + suffix: rel["email"],
                   "CustomerPhone" + suffix: rel["phone_number"]})
    code, _ = api(conn, u.path, query, "PostWorkorders", body=[wo])
    return 0 if code == 200 else 75


if __name__ == "__main__":
    sys.exit(main())
