#!/usr/bin/env python3
# OutSmart OpenAPI (version 8) simulator: test and demo equipment for m2wo.
# It follows the documented API (docs: outsmart-api.md), not m2wo's
# convenience: HTTPS on 127.0.0.1 with a certificate made at start, the JSON
# envelope and every error code, seed data, a journal of every request and
# fault injection.  It never stores or prints a token value.
#
# Usage: outsmart-sim.py --seed seed.json --dir DIR [--token T]
#                        [--software-token S] [--bearer B] [--exit-with-parent]
#
# Writes DIR/cert.pem, DIR/key.pem (0600), then DIR/port and last
# DIR/control-port.  The control server (plain HTTP on 127.0.0.1) answers:
#   POST /reset     reload the seed; clear journal, faults, work orders, stats
#   POST /fault     {"count": N, "endpoint": E, one of http_status, api_code,
#                    delay, drop_after_create, close, never_answer, trickle}
#   GET  /journal, /workorders, /relations, /stats, /faults
# Journal "query": parameters whose name ends in "[]" are lists, the others
# strings (the last one wins, as in PHP); token values become ok/bad/missing.
# Work orders in /workorders carry "workorder_no" (the posted WorkorderNo),
# "outsmart_workorder_no" (the simulator's own number), "row_id" and "status".

import argparse
import base64
import binascii
import copy
import datetime
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

BASE_PATH = "/openapi/8"
FIRST_ROW_ID = 169824
MAX_BODY = 128 * 1024 * 1024
NEVER_ANSWER_LIMIT = 600.0
IDLE_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 10.0

REQUIRED_WORKORDER = [
    "WorkorderNo", "CustomerName", "CustomerDebtorNr", "CustomerStreet",
    "CustomerZIP", "CustomerCity", "CustomerContactPerson",
    "CustomerNameInvoice", "CustomerDebtorNrInvoice", "CustomerStreetInvoice",
    "CustomerZIPInvoice", "CustomerCityInvoice",
    "CustomerContactPersonInvoice", "TypeOfWork", "PaymentMethod",
]
TYPES_OF_WORK = [
    "Installatie", "Garantie", "Levering", "Onderhoud", "Project", "Regie",
    "Reparatie", "Service", "Storing", "Verkoop", "Verhuur",
]
PAYMENT_METHODS = [
    "niet van toepassing", "op rekening", "contact voldaan", "pin betaling",
    "conform offerte",
]
DATE_FIELDS = ["WorkDate", "WorkEndDate", "WorkDeadline"]
TIME_FIELDS = ["WorkTime", "WorkEndTime"]
ARRAY_FIELDS = ["Attachments", "WorkObjects", "Employees", "Materials",
                "Workperiods", "Forms"]
REQUIRED_RELATION = ["name", "debtor_number", "street", "postal_code", "city"]

# endpoint -> (allowed methods, seed collection it reads, or None)
ENDPOINTS = {
    "PostWorkorders": (("POST",), None),
    "GetWorkorder": (("GET",), None),
    "relations": (("GET", "POST"), "relations"),
    "addresses": (("GET",), "addresses"),
    "address": (("GET",), "addresses"),
    "contactpersons": (("GET",), "contactpersons"),
    "contactperson": (("GET",), "contactpersons"),
    "objects": (("GET",), "objects"),
    "object": (("GET",), "objects"),
}

FAULT_KINDS = ["http_status", "api_code", "delay", "drop_after_create",
               "close", "never_answer", "trickle"]


class ApiError(Exception):
    """An API answer other than 200: code and messages."""

    def __init__(self, code, *messages):
        super().__init__(code)
        self.code = code
        self.messages = list(messages)


# ---------------------------------------------------------------- state

class State:
    """Everything the simulator remembers; one lock guards it all."""

    def __init__(self, seed_path, token, software_token, bearer):
        self.seed_path = seed_path
        self.token = token
        self.software_token = software_token
        self.bearer = bearer
        self.lock = threading.Lock()
        self.conn_serial = 0
        self.reset()

    def reset(self):
        with open(self.seed_path, encoding="utf-8") as f:
            seed = json.load(f)
        with self.lock:
            self.data = {k: list(seed.get(k, [])) for k in
                         ("relations", "addresses", "contactpersons",
                          "objects")}
            self.workorders = []
            self.journal = []
            self.faults = []
            self.connections = 0
            self.requests = 0
            self.rng = random.Random(756)

    def new_connection(self):
        with self.lock:
            self.conn_serial += 1
            self.connections += 1
            return self.conn_serial

    def next_conn_serial(self):
        with self.lock:
            self.conn_serial += 1
            return self.conn_serial

    def take_fault(self, endpoint):
        """The first queued fault that matches ENDPOINT, used once."""
        with self.lock:
            for f in self.faults:
                if f["endpoint"] in (None, endpoint):
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def add_journal(self, entry):
        with self.lock:
            self.requests += 1
            entry["n"] = len(self.journal) + 1
            self.journal.append(entry)

    def snapshot(self, what):
        with self.lock:
            if what == "journal":
                return copy.deepcopy(self.journal)
            if what == "workorders":
                return copy.deepcopy(self.workorders)
            if what == "relations":
                return copy.deepcopy(self.data["relations"])
            if what == "faults":
                return copy.deepcopy(self.faults)
            return {"connections": self.connections,
                    "requests": self.requests}

    def new_outsmart_no(self):
        """A fresh number in OutSmart's style (AB756X); caller holds lock."""
        taken = {w["outsmart_workorder_no"] for w in self.workorders}
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        while True:
            no = "%s%s%03d%s" % (self.rng.choice(letters),
                                 self.rng.choice(letters),
                                 self.rng.randrange(1000),
                                 self.rng.choice(letters))
            if no not in taken:
                return no


# ---------------------------------------------------------------- filters

def like_to_regex(pattern):
    """SQL LIKE (% and _ wildcards, backslash escape) as a regex."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def compare(a, b):
    """-1/0/1: numbers as numbers, other text case-insensitively."""
    try:
        x, y = float(a), float(b)
    except ValueError:
        x, y = a.casefold(), b.casefold()
    return (x > y) - (x < y)


def filter_holds(record, key, value, op):
    got = as_text(record.get(key))
    if op == "eq":
        return got == value
    if op == "ne":
        return got != value
    if op == "li":
        return like_to_regex(value).fullmatch(got) is not None
    c = compare(got, value)
    return {"gt": c > 0, "ge": c >= 0, "lt": c < 0, "le": c <= 0}[op]


def parse_filters(query, records):
    keys = query.get("key[]", [])
    values = query.get("value[]", [])
    ops = query.get("operator[]", []) or ["eq"] * len(keys)
    if not (len(keys) == len(values) == len(ops)):
        raise ApiError(1504, "key[], value[] and operator[] differ in number")
    known = set()
    for r in records:
        known.update(r.keys())
    for k, op in zip(keys, ops):
        if op not in ("eq", "ne", "gt", "ge", "lt", "le", "li"):
            raise ApiError(1504, "Unknown operator: %s" % op)
        if records and k not in known:
            raise ApiError(1007, "Unknown field: %s" % k)
    return list(zip(keys, values, ops))


def select_records(records, query):
    filters = parse_filters(query, records)
    return [r for r in records
            if all(filter_holds(r, k, v, op) for k, v, op in filters)]


# ---------------------------------------------------------------- work orders

def is_missing(value):
    return value is None or (isinstance(value, str) and value == "")


def valid_date(text):
    m = re.fullmatch(r"(\d\d)-(\d\d)-(\d{4})", text)
    if not m:
        return False
    try:
        datetime.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return False
    return True


def valid_time(text):
    m = re.fullmatch(r"(\d\d):(\d\d)", text)
    return bool(m) and int(m.group(1)) < 24 and int(m.group(2)) < 60


def attachment_ok(a):
    if not isinstance(a, dict):
        return False
    if "File" in a:
        return isinstance(a["File"], str) and a["File"] != ""
    if not isinstance(a.get("FileName"), str) or a["FileName"] == "":
        return False
    if not isinstance(a.get("Data"), str):
        return False
    try:
        base64.b64decode(a["Data"], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def parse_problems(wo):
    """1504 messages for one work order (values that cannot be parsed)."""
    msgs = []
    if as_text(wo.get("TypeOfWork")) not in TYPES_OF_WORK:
        msgs.append("Invalid value for TypeOfWork: %s"
                    % as_text(wo.get("TypeOfWork")))
    if as_text(wo.get("PaymentMethod")) not in PAYMENT_METHODS:
        msgs.append("Invalid value for PaymentMethod: %s"
                    % as_text(wo.get("PaymentMethod")))
    for f in DATE_FIELDS:
        if not is_missing(wo.get(f)) and not valid_date(as_text(wo[f])):
            msgs.append("Could not parse %s: %s (expected d-m-Y)"
                        % (f, as_text(wo[f])))
    for f in TIME_FIELDS:
        if not is_missing(wo.get(f)) and not valid_time(as_text(wo[f])):
            msgs.append("Could not parse %s: %s (expected H:i)"
                        % (f, as_text(wo[f])))
    for f in ARRAY_FIELDS:
        if f in wo and wo[f] is not None and not isinstance(wo[f], list):
            msgs.append("Could not parse %s: not an array" % f)
    if isinstance(wo.get("Attachments"), list):
        for i, a in enumerate(wo["Attachments"]):
            if not attachment_ok(a):
                msgs.append("Could not parse Attachments[%d]" % i)
    return msgs


def post_workorders(state, body):
    if not isinstance(body, list) or \
            not all(isinstance(w, dict) for w in body):
        raise ApiError(1504, "Body must be an array of work orders")
    missing = ["Required field missing: %s" % f
               for wo in body for f in REQUIRED_WORKORDER
               if is_missing(wo.get(f))]
    if missing:
        raise ApiError(1501, *missing)
    problems = [m for wo in body for m in parse_problems(wo)]
    if problems:
        raise ApiError(1504, *problems)
    answer = []
    with state.lock:
        for wo in body:
            row_id = FIRST_ROW_ID + len(state.workorders)
            stored = dict(wo)
            stored.update({"row_id": row_id,
                           "workorder_no": as_text(wo["WorkorderNo"]),
                           "outsmart_workorder_no": state.new_outsmart_no(),
                           "status": "Klaargezet"})
            state.workorders.append(stored)
            answer.append({"workorder_no": stored["outsmart_workorder_no"],
                           "row_id": row_id})
    return answer


def get_workorder(state, query):
    no = query.get("workorder_no")
    row = query.get("row_id")
    update = query.get("update_status", "true").lower() not in \
        ("false", "0", "no", "off")
    with state.lock:
        for wo in state.workorders:
            if (no not in (None, "") and
                    no in (wo["workorder_no"], wo["outsmart_workorder_no"])) \
                    or (row not in (None, "") and row == str(wo["row_id"])):
                answer = {k: v for k, v in wo.items()
                          if k not in ("workorder_no",
                                       "outsmart_workorder_no", "status")}
                answer["workorder_no"] = wo["outsmart_workorder_no"]
                answer["WorkorderNo"] = wo["workorder_no"]
                answer["status"] = wo["status"]
                if update:
                    wo["status"] = "Afgehandeld"
                return answer
    raise ApiError(1500, "Workorder not found")


def post_relations(state, body):
    if not isinstance(body, list):
        raise ApiError(1300, "Relation insert failed: body must be an array")
    if not all(isinstance(r, dict) for r in body):
        raise ApiError(1300, "Relation insert failed: not a relation")
    missing = ["Required field missing: %s" % f
               for r in body for f in REQUIRED_RELATION
               if is_missing(r.get(f))]
    if missing:
        raise ApiError(1301, *missing)
    with state.lock:
        rels = state.data["relations"]
        for r in body:
            r = dict(r, debtor_number=as_text(r["debtor_number"]))
            old = next((x for x in rels
                        if x.get("debtor_number") == r["debtor_number"]),
                       None)
            if old is None:
                rels.append(r)
            else:
                old.update(r)
    return len(body)


def look_up(state, collection, query):
    with state.lock:
        records = copy.deepcopy(state.data[collection])
    return select_records(records, query)


# ---------------------------------------------------------------- HTTP

def parse_query(raw):
    """PHP-like: NAME[] accumulates into a list, others: the last wins."""
    query = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        if k.endswith("[]"):
            query.setdefault(k, []).append(v)
        else:
            query[k] = v
    return query


def token_state(query, name, want):
    if query.get(name, "") == "":
        return "missing"
    return "ok" if query[name] == want else "bad"


def send_all_slowly(sock, data, interval):
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        time.sleep(interval)


class ApiHandler(BaseHTTPRequestHandler):
    """One API connection; several requests with keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "OutSmartSim/8"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    plain = False          # a plain-HTTP connection: answer 1006
    conn = 0

    def log_message(self, fmt, *args):
        pass               # the request line holds the tokens: stay silent

    def do_GET(self):
        self.handle_api()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self):
        self.handle_api()

    # -- reading

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(1007, "Body too large")
        self.quickack()
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self):
        parts = []
        total = 0
        while True:
            self.quickack()
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise ApiError(1007, "Body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def quickack(self):
        if hasattr(socket, "TCP_QUICKACK"):
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP,
                                           socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    # -- the request

    def handle_api(self):
        state = self.server.state
        url = urlsplit(self.path)
        query = parse_query(url.query)
        endpoint = self.endpoint_of(url.path)
        try:
            raw = self.read_body()
        except (ValueError, ApiError):
            self.close_connection = True
            raw = None
        entry = self.journal_entry(endpoint, query, raw)
        state.add_journal(entry)
        if raw is None:
            return self.answer(entry, 1007, ["Body could not be read"], None)
        fault = state.take_fault(entry["endpoint"])
        entry["fault"] = self.fault_name(fault)
        if fault and self.apply_fault_first(entry, fault):
            return
        try:
            response = self.dispatch(endpoint, query, raw)
            code, messages = 200, []
        except ApiError as e:
            code, messages, response = e.code, e.messages, []
        if fault and "drop_after_create" in fault:
            return self.drop(entry)
        trickle = fault.get("trickle") if fault else None
        self.answer(entry, code, messages, response, trickle)

    def endpoint_of(self, path):
        if path == BASE_PATH or path == BASE_PATH + "/":
            return ""
        if not path.startswith(BASE_PATH + "/"):
            return None
        return path[len(BASE_PATH) + 1:]

    def journal_entry(self, endpoint, query, raw):
        state = self.server.state
        q = dict(query)
        for name, want in (("token", state.token),
                           ("software_token", state.software_token)):
            q[name] = token_state(query, name, want)
        body = None
        if raw:
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        name = endpoint if endpoint is not None else self.path.split("?")[0]
        return {"n": 0, "conn": self.conn, "method": self.command,
                "endpoint": name.rstrip("/"), "query": q,
                "headers": {
                    "content-type": self.headers.get("Content-Type"),
                    "accept": self.headers.get("Accept"),
                    "authorization":
                        "yes" if self.headers.get("Authorization") else "no"},
                "body": body, "code": None, "http": None, "fault": None}

    @staticmethod
    def fault_name(fault):
        if not fault:
            return None
        return next(k for k in FAULT_KINDS if k in fault)

    def apply_fault_first(self, entry, fault):
        """Faults in front of the service; True when the request is done."""
        if "delay" in fault:
            time.sleep(float(fault["delay"]))
            return False
        if "http_status" in fault:
            self.send_raw(entry, int(fault["http_status"]), b"error",
                          "text/plain")
            return True
        if "api_code" in fault:
            code = int(fault["api_code"])
            self.answer(entry, code, ["Simulated error %d" % code], [])
            return True
        if "close" in fault:
            self.drop(entry)
            return True
        if "never_answer" in fault:
            self.hold()
            self.drop(entry)
            return True
        return False

    def dispatch(self, endpoint, query, raw):
        state = self.server.state
        if self.plain:
            raise ApiError(1006, "HTTPS is required")
        if endpoint in ("", "/"):
            raise ApiError(1000, "No endpoint given")
        if endpoint is None or not endpoint.endswith("/") or \
                endpoint[:-1] not in ENDPOINTS:
            raise ApiError(1001, "Unknown endpoint")
        name = endpoint[:-1]
        self.check_tokens(query)
        methods, collection = ENDPOINTS[name]
        method = "GET" if self.command == "HEAD" else self.command
        if method not in methods:
            raise ApiError(1001, "Unknown endpoint")
        if method == "POST":
            body = self.json_body(raw)
            if name == "PostWorkorders":
                return post_workorders(state, body)
            return post_relations(state, body)
        if name == "GetWorkorder":
            return get_workorder(state, query)
        return look_up(state, collection, query)

    def check_tokens(self, query):
        state = self.server.state
        if query.get("token", "") == "":
            raise ApiError(1002, "Token missing")
        if query.get("software_token", "") == "":
            raise ApiError(1003, "Software token missing")
        if query["token"] != state.token:
            raise ApiError(1004, "Token not authorised")
        if state.bearer is not None and \
                self.headers.get("Authorization") != "Bearer " + state.bearer:
            raise ApiError(1004, "Token not authorised")
        if query["software_token"] != state.software_token:
            raise ApiError(1005, "Software token not matched")

    @staticmethod
    def json_body(raw):
        if raw.strip() == b"":
            raise ApiError(1008, "No body given")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(1009, "Body is not valid JSON") from None

    # -- answering

    def answer(self, entry, code, messages, response, trickle=None):
        body = json.dumps({"code": code, "messages": messages,
                           "response": response},
                          ensure_ascii=False).encode("utf-8")
        entry["code"] = code
        self.send_raw(entry, 200, body, "application/json", trickle)

    def send_raw(self, entry, status, body, ctype, trickle=None):
        entry["http"] = status
        head = ["HTTP/1.1 %d %s" % (status, self.responses.get(
                    status, ("Unknown",))[0]),
                "Server: " + self.server_version,
                "Date: " + self.date_time_string(),
                "Content-Type: " + ctype,
                "Content-Length: %d" % len(body)]
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("ascii")
        if self.command != "HEAD":
            data += body
        try:
            if trickle:
                send_all_slowly(self.connection, data, float(trickle))
            else:
                self.connection.sendall(data)
        except OSError:
            self.close_connection = True

    def drop(self, entry):
        """Close the connection without a byte of answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hold(self):
        """Send nothing until the client leaves (at most 600 s)."""
        end = time.monotonic() + NEVER_ANSWER_LIMIT
        sock = self.connection
        while time.monotonic() < end and not self.server.stopping:
            r, _, _ = select.select([sock], [], [], 0.5)
            if not r:
                continue
            try:
                if not sock.recv(4096):
                    return
            except ssl.SSLWantReadError:
                continue
            except (OSError, ssl.SSLError):
                return


class ApiServer(ThreadingHTTPServer):
    """HTTPS in each connection's own thread; plain HTTP gets code 1006."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(self, state, context):
        self.state = state
        self.context = context
        self.stopping = False
        super().__init__(("127.0.0.1", 0), ApiHandler)

    def finish_request(self, request, client_address):
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if not first:
            return
        if first != b"\x16":
            return self.serve(request, client_address, True,
                              self.state.next_conn_serial())
        try:
            conn = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.serve(conn, client_address, False,
                       self.state.new_connection())
        finally:
            conn.close()

    def serve(self, sock, client_address, plain, serial):
        handler = type("Conn", (ApiHandler,), {"plain": plain,
                                               "conn": serial})
        try:
            handler(sock, client_address, self)
        except (OSError, ssl.SSLError):
            pass

    def handle_error(self, request, client_address):
        pass               # a client that leaves early is no error here


# ---------------------------------------------------------------- control

class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OutSmartSimControl/8"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        what = self.path.split("?")[0].strip("/")
        if what in ("journal", "workorders", "relations", "stats", "faults"):
            return self.reply(200, self.server.state.snapshot(what))
        self.reply(404, {"error": "unknown control path"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        what = self.path.split("?")[0].strip("/")
        if what == "reset":
            self.server.state.reset()
            return self.reply(200, {"ok": True})
        if what == "fault":
            return self.add_fault(raw)
        self.reply(404, {"error": "unknown control path"})

    def add_fault(self, raw):
        try:
            spec = json.loads(raw.decode("utf-8") or "{}")
            fault = make_fault(spec)
        except (ValueError, TypeError) as e:
            return self.reply(400, {"error": str(e)})
        state = self.server.state
        with state.lock:
            state.faults.append(fault)
            queued = len(state.faults)
        self.reply(200, {"ok": True, "queued": queued})


def make_fault(spec):
    if not isinstance(spec, dict):
        raise ValueError("fault must be a JSON object")
    kinds = [k for k in FAULT_KINDS if k in spec]
    unknown = set(spec) - set(FAULT_KINDS) - {"count", "endpoint"}
    if len(kinds) != 1 or unknown:
        raise ValueError("give exactly one of " + ", ".join(FAULT_KINDS))
    count = int(spec.get("count", 1))
    if count < 1:
        raise ValueError("count must be at least 1")
    endpoint = spec.get("endpoint")
    if endpoint is not None:
        endpoint = str(endpoint).strip("/")
    kind = kinds[0]
    value = spec[kind]
    if kind in ("http_status", "api_code"):
        value = int(value)
    elif kind in ("delay", "trickle"):
        value = float(value)
        if value < 0:
            raise ValueError(kind + " must not be negative")
    return {"count": count, "endpoint": endpoint, kind: value}


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state):
        self.state = state
        super().__init__(("127.0.0.1", 0), ControlHandler)


# ---------------------------------------------------------------- start

def make_certificate(folder):
    cert = os.path.join(folder, "cert.pem")
    key = os.path.join(folder, "key.pem")
    for p in (cert, key):
        if os.path.exists(p):
            os.unlink(p)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "3650",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(0o077))
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="OutSmart OpenAPI simulator")
    ap.add_argument("--seed", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--token", default="test-token-not-real")
    ap.add_argument("--software-token",
                    default="test-software-token-not-real")
    ap.add_argument("--bearer", default=None)
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="stop when the starting process goes away")
    args = ap.parse_args()
    parent = os.getppid()

    os.makedirs(args.dir, exist_ok=True)
    for name in ("port", "control-port"):
        if os.path.exists(os.path.join(args.dir, name)):
            os.unlink(os.path.join(args.dir, name))
    try:
        cert, key = make_certificate(args.dir)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("outsmart-sim: cannot make a certificate: %s\n" % e)
        return 69
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    state = State(args.seed, args.token, args.software_token, args.bearer)
    api = ApiServer(state, context)
    control = ControlServer(state)
    for srv in (api, control):
        threading.Thread(target=srv.serve_forever, daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    write_atomically(os.path.join(args.dir, "port"),
                     "%d\n" % api.server_address[1])
    write_atomically(os.path.join(args.dir, "control-port"),
                     "%d\n" % control.server_address[1])
    while not stop.wait(0.5):
        if args.exit_with_parent and os.getppid() != parent:
            break
    api.stopping = True
    for srv in (api, control):
        srv.shutdown()
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
