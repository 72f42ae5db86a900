#!/usr/bin/env python3
"""Demo of m2wo: a sample service request becomes a work order in the local
OutSmart simulator. Shows the dry-run trace, the real delivery as Postfix
would run it (exit code and audit record) and the work order OutSmart holds."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
import simlib  # noqa: E402

CONFIG = r"""
[defaults]
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}
forced.InternalWorkDescription = Gemaild door {sender_address} op {date_mail_process_dmy} om {time_mail_process}

[config Storingen]
description = Storingsmeldingen van klanten
sender_type = TitleContains
sender_value = storing;lekkage;defect
regex.customer_street = Adres:\s*(?<value>[^,\n]+)
regex.customer_zip = \b(\d{4}\s?[A-Za-z]{2})\b
regex.customer_city = \b\d{4}\s?[A-Za-z]{2}\s+(?<value>[^\n]+)
regex.customer_phone = Telefoon:\s*(?<value>\+?[\d][\d \-]{7,}\d)
customer_rules = FindOrAddRelationByEmail;FindOrAddRelationByStreet;FindOrAddRelationByPhone
create_relation = true
forced.TypeOfWork = Storing
"""


def show(title, text):
    print("\n=== " + title)
    print(text.rstrip())


def main():
    binary = os.environ.get("M2WO_BIN", os.path.join(TOP, "src", "m2wo"))
    os.environ["M2WO_BIN"] = binary
    mail = open(os.path.join(HERE, "demo", "storing.eml"), "rb").read()
    work = tempfile.mkdtemp(prefix="m2wo-demo-")
    try:
        return demo(mail, work)
    finally:
        simlib.remove_scratch(work)


def demo(mail, work):
    """The two runs and what they leave, in the scratch folder work."""
    with simlib.Sim() as sim:
        audit = os.path.join(work, "audit.jsonl")
        conf = simlib.write_config(work, sim, CONFIG,
                                   extra_m2wo="audit_file = %s\n" % audit)
        show("OutSmart simulator", "listening on %s (self-signed certificate "
             "%s)" % (sim.url, sim.ca_file))
        show("Sample message", mail.decode("utf-8"))
        code, out, err = simlib.run_m2wo(["-c", conf, "-n", "--explain",
                                          "-f", "jan.devries@example.nl",
                                          "-r", "storing@installateur.example"],
                                         mail)
        show("m2wo -n --explain < storing.eml   (dry run: changes nothing)",
             out + err)
        code, out, err = simlib.run_m2wo(["-c", conf,
                                          "-f", "jan.devries@example.nl",
                                          "-r", "storing@installateur.example",
                                          "-q", "4BVK12DEMO"], mail)
        show("m2wo -f ... -r ... -q ... < storing.eml   (as Postfix runs it)",
             "exit status %d%s" % (code, (": " + out) if out else ""))
        if os.path.exists(audit):
            show("Audit record (audit_file; the same line goes to syslog)",
                 open(audit).read())
        orders = sim.workorders()
        show("Work orders now in OutSmart (simulator)",
             json.dumps(orders, indent=2, ensure_ascii=False))
        if code != 0 or len(orders) != 1:
            print("\nm2wo: the demo did not create exactly one work order",
                  file=sys.stderr)
            return 1
    print("\nOne e-mail, one work order. See README for the Postfix set-up.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
