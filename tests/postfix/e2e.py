#!/usr/bin/env python3
# Small helper for tests/postfix-e2e.sh and tests/procmail-maildrop.sh: talks
# to the OutSmart simulator's control server and reads m2wo's audit file, so
# that the shell tests need neither curl nor jq.  Only ever talks to
# 127.0.0.1; prints one answer on standard output.
#
#   e2e.py SIMDIR reset
#   e2e.py SIMDIR fault JSON
#   e2e.py SIMDIR workorders              count of stored work orders
#   e2e.py SIMDIR calls ENDPOINT [CODE]   journal entries for ENDPOINT
#   e2e.py SIMDIR dump                    journal and work orders, for "# " lines
#   e2e.py audit FILE KEY=VALUE...        audit records holding every pair
#   e2e.py audit-dump FILE                every audit record, one per line

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
import simlib  # noqa: E402


def control(simdir, method, path, body=None):
    with open(os.path.join(simdir, "control-port")) as f:
        port = int(f.read())
    try:
        return simlib.sim_control(port, method, path, body)
    except RuntimeError as e:
        raise SystemExit(str(e))


def audit_records(path):
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        records.append({"unparsed": line})
    except FileNotFoundError:
        pass
    return records


def holds(record, pairs):
    for pair in pairs:
        key, _, want = pair.partition("=")
        got = record.get(key)
        if got is None or str(got) != want:
            return False
    return True


def main(argv):
    if len(argv) >= 2 and argv[0] == "audit":
        found = [r for r in audit_records(argv[1]) if holds(r, argv[2:])]
        print(len(found))
        return 0
    if len(argv) == 2 and argv[0] == "audit-dump":
        for r in audit_records(argv[1]):
            print(json.dumps(r, sort_keys=True))
        return 0
    if len(argv) < 2:
        raise SystemExit("usage: e2e.py SIMDIR COMMAND ... | audit FILE K=V")
    simdir, cmd, rest = argv[0], argv[1], argv[2:]
    if cmd == "reset":
        control(simdir, "POST", "/reset")
    elif cmd == "fault":
        control(simdir, "POST", "/fault", rest[0])
    elif cmd == "workorders":
        print(len(control(simdir, "GET", "/workorders")))
    elif cmd == "calls":
        entries = [e for e in control(simdir, "GET", "/journal")
                   if e.get("endpoint", "").strip("/") == rest[0] and
                   (len(rest) < 2 or str(e.get("code")) == rest[1])]
        print(len(entries))
    elif cmd == "dump":
        for e in control(simdir, "GET", "/journal"):
            print("journal: conn=%s %s %s code=%s http=%s fault=%s"
                  % (e.get("conn"), e.get("method"), e.get("endpoint"),
                     e.get("code"), e.get("http"), e.get("fault")))
        for w in control(simdir, "GET", "/workorders"):
            print("workorder: %s %s" % (w.get("workorder_no"),
                                        w.get("ShortWorkDescription", "")))
    else:
        raise SystemExit("e2e.py: unknown command %s" % cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
