#!/usr/bin/env python3
# gen.py: writes the benchmark's inputs into one folder: the ~11 KB Dutch
# service request (text/plain + text/html alternative + a small PDF
# attachment), messages of 1, 5 and 25 MB with one large attachment, token
# files and m2wo configurations (pipe mode against the simulator, and
# offline ones with N [config X] groups). Python 3 standard library only;
# every name, address and number in it is fictional.
#
#   gen.py DIR API_URL CA_FILE

import base64
import os
import random
import sys

TOKEN = "test-token-not-real"
SOFTWARE_TOKEN = "test-software-token-not-real"
SENDER = "jan@bakkerijdezon.example.nl"
MESSAGE_ID = "<storing-20240611-0815.4711@bakkerijdezon.example.nl>"

TEXT_BODY = """\
Beste heer, mevrouw,

Graag melden wij een storing aan de koelcel in onze bakkerij. Sinds
vanochtend 05:30 loopt de temperatuur op; het display geeft nu 9 graden
aan in plaats van de ingestelde 2 graden. De compressor slaat wel aan,
maar schakelt na ongeveer een minuut weer uit. Er ligt ijsvorming op de
verdamper achterin de cel, en de afvoer van het condenswater lijkt
verstopt: er staat water op de vloer bij de deur.

Wij hebben de installatie al eens uit- en aangezet via de werkschakelaar
naast de cel, zonder resultaat. De storingscode op het display is E07.
In de cel liggen op dit moment verse producten voor de levering van
morgenochtend, dus het is voor ons belangrijk dat er vandaag nog iemand
kan komen kijken. De achteringang is open vanaf 04:00; u kunt parkeren
op de laad- en losplaats aan de Kerkstraat.

Gegevens van de melding:

Klantnummer: DEB1001
Naam: Bakkerij de Zon
Contactpersoon: Jan de Vries
Adres: Voorstraat 12
Postcode: 3512 AB
Plaats: Utrecht
Telefoon: 030-1234501
Object: OBJ-1001 (koelcel Kelvion, bouwjaar 2016)
Storingscode: E07
Prioriteit: hoog
Referentie: ZON-2024-0611

Eerdere werkbon: vorig jaar in oktober is de thermostaat vervangen door
uw collega. Sindsdien heeft de cel goed gewerkt, op een korte storing in
februari na die vanzelf verdween.

In de bijlage vindt u een foto van het display en van de verdamper. Als u
vragen heeft, kunt u mij bereiken op 06-12345678 (ook via WhatsApp).

Alvast hartelijk dank voor de snelle hulp.

Met vriendelijke groet,

Jan de Vries
Bakkerij de Zon
Voorstraat 12
3512 AB Utrecht
Telefoon 030-1234501
"""


def html_body(text):
    paras = text.strip("\n").split("\n\n")
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
           "<title>Storing koelcel</title>",
           "<style>body{font-family:Arial,sans-serif;font-size:11pt}"
           "p{margin:0 0 8px 0}td{padding:2px 8px}</style></head>",
           "<body>"]
    for p in paras:
        lines = p.split("\n")
        if all(":" in ln for ln in lines) and len(lines) > 3:
            out.append("<table>")
            for ln in lines:
                k, v = ln.split(":", 1)
                out.append("<tr><td><b>%s</b></td><td>%s</td></tr>"
                           % (k.strip(), v.strip()))
            out.append("</table>")
        else:
            out.append("<p>" + "<br>\n".join(lines) + "</p>")
    out.append("<div style=\"color:#888\">Verzonden vanaf mijn "
               "kantoorcomputer</div></body></html>")
    return "\n".join(out) + "\n"


def qp_encode(text):
    import quopri
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def b64_lines(data):
    enc = base64.b64encode(data).decode("ascii")
    return "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def fake_pdf(size, seed):
    """A small PDF-looking attachment of about size bytes."""
    rnd = random.Random(seed)
    head = b"%PDF-1.4\n% storing koelcel\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    body = bytes(rnd.getrandbits(8) for _ in range(max(0, size - len(head) - 6)))
    return head + body + b"\n%%EOF"


def message(attachment, att_name="display-koelcel.pdf", message_id=MESSAGE_ID):
    text = TEXT_BODY
    html = html_body(text)
    return (
        "Return-Path: <%s>\n"
        "Received: from mail.bakkerijdezon.example.nl (mail.bakkerijdezon.example.nl [192.0.2.10])\n"
        "\tby mx.service.example (Postfix) with ESMTPS id 4BVK12\n"
        "\tfor <storing@service.example>; Tue, 11 Jun 2024 08:15:02 +0200 (CEST)\n"
        "From: Jan de Vries <%s>\n"
        "To: Storingsdienst <storing@service.example>\n"
        "Subject: Storing koelcel - temperatuur loopt op (E07)\n"
        "Date: Tue, 11 Jun 2024 08:14:55 +0200\n"
        "Message-ID: %s\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"=_mixed_4711\"\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "\n"
        "--=_mixed_4711\n"
        "Content-Type: multipart/alternative; boundary=\"=_alt_4711\"\n"
        "\n"
        "--=_alt_4711\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "%s\n"
        "--=_alt_4711\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "%s\n"
        "--=_alt_4711--\n"
        "\n"
        "--=_mixed_4711\n"
        "Content-Type: application/pdf; name=\"%s\"\n"
        "Content-Disposition: attachment; filename=\"%s\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "%s\n"
        "--=_mixed_4711--\n"
        % (SENDER, SENDER, message_id, qp_encode(text), qp_encode(html),
           att_name, att_name, b64_lines(attachment))).encode("utf-8")


def small_mail():
    return message(fake_pdf(4400, 1))


def big_mail(total):
    """A message of about total bytes, nearly all of it one attachment."""
    base = len(small_mail())
    raw = max(0, (total - base) * 57 // 77)
    mid = "<groot-%d@bakkerijdezon.example.nl>" % total
    return message(fake_pdf(raw, total), "foto-verdamper.pdf", mid)


# ------------------------------------------------------------ configurations

MAIN = """\
[m2wo]
api_url = {url}
token_file = {dir}/token
software_token_file = {dir}/software-token
ca_file = {ca}
dedupe = api
on_reject = bounce
state_dir = {dir}/state-{name}
max_message_size = {max_size}
"""

FORCED = """\
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}
forced.InternalWorkDescription = Melding per e-mail van {sender_address} om {time_mail_process}, referentie {referentie}
forced.ErrorCode = {storingscode}
forced.PriorityMessage = {prioriteit}
forced.WorkDate = {date_mail_process_dmy}
"""

RULES = """\
regex.customer_phone = (?m)^Telefoon:\\s*(\\S+)
regex.customer_zip = (?m)^Postcode:\\s*(\\d{4}\\s?[A-Z]{2})
regex.customer_street = (?m)^Adres:\\s*(.+)$
regex.storingscode = (?m)^Storingscode:\\s*(\\w+)
regex.prioriteit = (?m)^Prioriteit:\\s*(\\w+)
regex.referentie = (?m)^Referentie:\\s*(?<value>[A-Z]+-\\d{4}-\\d{4})
"""


def matching_conf(name, customer):
    lines = ["[config %s]" % name,
             "description = Storingen van Bakkerij de Zon",
             "sender_type = SenderDomain",
             "sender_value = bakkerijdezon.example.nl",
             "parse_attachments = true"]
    if customer == "forced":
        lines.append("forced_debtor_number = DEB1001")
    else:
        lines.append("customer_rules = FindOrAddRelationByEmail;"
                     "FindOrAddRelationByPhone")
    return "\n".join(lines) + "\n" + RULES + FORCED


# Configurations that do not accept the message, of every cheap kind a
# real file has: other senders, other domains, subject words, subject
# patterns. Each has its own regex rules (compiled only when used).
def other_conf(i):
    kinds = [
        ("SenderDomain", "klant%d.example.com;*.klant%d.example.org" % (i, i)),
        ("Sender", "storing%d@woningcorporatie.example.nl" % i),
        ("TitleContains", "Melding vastgoed %d;Lekkage complex %d" % (i, i)),
        ("TitleRegex", "^\\[VVE-%d\\] .*(lekkage|storing)" % i),
        ("Recipient", "service%d@service.example" % i),
    ]
    kind, value = kinds[i % len(kinds)]
    return ("[config Klant %d]\n"
            "description = Meldingen van klant %d\n"
            "sender_type = %s\n"
            "sender_value = %s\n"
            "forced_debtor_number = DEB%d\n"
            "regex.objectcode_%d = (?m)^Object:\\s*(OBJ-\\d+)\n"
            "regex.meldnummer = (?m)^Meldnummer:\\s*(\\d{6,})\n"
            "subject_regex.werkorder = WO-(\\d+)\n"
            "forced.TypeOfWork = Onderhoud\n"
            "forced.PaymentMethod = op rekening\n"
            "forced.ShortWorkDescription = Klant %d: {subject}\n"
            % (i, i, kind, value, 5000 + i, i, i))


FALLBACK = """\
[config Overige meldingen]
sender_type = Any
forced_debtor_number = DEB1001
regex.customer_phone = (?i)(?:tel(?:efoon)?|phone)[.:]?\\s*(\\+?[\\d\\s-]{8,})
regex.customer_zip = \\b(\\d{4}\\s?[A-Z]{2})\\b
regex.ordernummer = (?i)order(?:nummer)?[.:#]?\\s*(\\w+)
forced.TypeOfWork = Service
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
forced.WorkDescription = {mail_content}
"""


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text + "\n")


def write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def main():
    out, url, ca = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    write_secret(os.path.join(out, "token"), TOKEN)
    write_secret(os.path.join(out, "software-token"), SOFTWARE_TOKEN)

    # Every configuration file has a state_dir of its own, as in
    # production: m2wo keeps its daily counter and the snapshot of the
    # checked configuration there.
    def main_group(name, max_size=26214400):
        os.makedirs(os.path.join(out, "state-" + name), exist_ok=True)
        return MAIN.format(url=url, dir=out, ca=ca, max_size=max_size,
                           name=name)

    write(os.path.join(out, "mail.eml"), small_mail())
    for mb in (1, 5, 25):
        write(os.path.join(out, "big-%dM.eml" % mb), big_mail(mb * 1000000))
    write(os.path.join(out, "forced.conf"),
          main_group("forced") + "\n" +
          matching_conf("Bakkerij de Zon", "forced"))
    # The same without ca_file: the system's CAs, as in production.
    write(os.path.join(out, "sysca.conf"),
          "\n".join(l for l in main_group("sysca").split("\n")
                    if not l.startswith("ca_file")) + "\n"
          + matching_conf("Bakkerij de Zon", "forced"))
    write(os.path.join(out, "rules.conf"),
          main_group("rules") + "\n" +
          matching_conf("Bakkerij de Zon", "rules"))
    write(os.path.join(out, "big.conf"),
          main_group("big", 64 * 1024 * 1024) + "\n" +
          matching_conf("Bakkerij de Zon", "forced"))
    # N configurations, the matching one last: every other one is tried.
    for n in (1, 10, 50, 1000):
        groups = [other_conf(i) for i in range(1, n)]
        groups.append(matching_conf("Bakkerij de Zon", "forced"))
        write(os.path.join(out, "confs-%d.conf" % n),
              main_group("confs-%d" % n) + "\n" + "\n".join(groups))
    # --drop over a corpus: the 50, then a fallback that takes the rest,
    # so that every message that is not machine-generated is extracted.
    groups = [other_conf(i) for i in range(1, 50)]
    groups.append(matching_conf("Bakkerij de Zon", "forced"))
    groups.append(FALLBACK)
    write(os.path.join(out, "drop.conf"),
          main_group("drop") + "\n" + "\n".join(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
