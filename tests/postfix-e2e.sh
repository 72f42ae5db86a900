#!/bin/bash
# End-to-end test of m2wo inside a real Postfix: a throw-away Postfix instance
# (its own config and queue under a temp dir, loopback only) delivers through
# a pipe(8) transport and an aliases "|command" entry to m2wo, which talks to
# the OutSmart simulator on 127.0.0.1.  It never touches the system Postfix
# configuration, queue or mailboxes, and stops everything it started.
# Needs root (installs Postfix and swaks from Debian when they are missing).
# TAP output; exit 77 with "1..0 # SKIP reason" when it cannot run here.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

PREFIX=m2wo-postfix-e2e
WAIT=30          # seconds to wait for any one event
T=""
PC=""
. "${M2WO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/postfix/lib.sh"

# ------------------------------------------------------------- can we run?

[ "$(id -u)" = 0 ] || skip_all "needs root (installs and runs Postfix)"
[ -n "${M2WO_BIN:-}" ] && [ -x "$M2WO_BIN" ] ||
	skip_all "M2WO_BIN is not set (run through make check)"

have_tools() { [ -x /usr/sbin/postfix ] && command -v swaks >/dev/null; }
install_tools() {
	command -v apt-get >/dev/null || return 1
	printf '%s\n' 'postfix postfix/main_mailer_type select Local only' \
		'postfix postfix/mailname string localhost' |
		debconf-set-selections || return 1
	# Only these two, without recommends: an MTA package pulled in by
	# accident would replace Postfix.
	local cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y -q"
	cmd="$cmd --no-install-recommends postfix swaks"
	sh -c "$cmd" >/tmp/$PREFIX-apt.log 2>&1 && return 0
	apt-get update -q >>/tmp/$PREFIX-apt.log 2>&1
	sh -c "$cmd" >>/tmp/$PREFIX-apt.log 2>&1
}
if ! have_tools; then
	install_tools && have_tools ||
		skip_all "Postfix cannot be installed (/tmp/$PREFIX-apt.log)"
	# A package script may have started the system instance: that one is
	# ours to stop.
	postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1
fi

port25_busy() {
	"$PY" - <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(2)
sys.exit(0 if s.connect_ex(("127.0.0.1", 25)) == 0 else 1)
EOF
}
stop_instance() {   # stop_instance CONFIG_DIR QUEUE_DIR
	local pid
	postfix -c "$1" stop >/dev/null 2>&1
	pid=$(tr -dc 0-9 2>/dev/null <"$2/pid/master.pid")
	[ -n "$pid" ] || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null
}
# One run at a time on this machine: port 25 is a single resource, and
# the clean-up below must never take another live run's instance away.
exec 9>"/tmp/$PREFIX-lock"
flock -w 600 9 || skip_all "another run of this test holds /tmp/$PREFIX-lock"
if port25_busy; then
	# A run of this test that was killed may have left its instance.
	for old in /tmp/$PREFIX.*; do
		[ -f "$old/etc/main.cf" ] && stop_instance "$old/etc" "$old/spool"
		rm -rf "$old"
	done
	port25_busy && skip_all "127.0.0.1:25 is taken by another mail server"
fi

# ------------------------------------------------------------- set up

cleanup() {
	[ -n "$PC" ] && stop_instance "$PC" "$T/spool"
	stop_sim
	remove_scratch "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ensure_m2wo_user || bail "cannot create user m2wo"

T=$(mktemp -d /tmp/$PREFIX.XXXXXX) || bail "mktemp"
chmod 755 "$T"
PC=$T/etc
mkdir -p "$PC" "$T/spool" "$T/data" "$T/bin" "$T/m2wo" "$T/audit" \
	"$T/state" "$T/mail" "$T/msg"
chown postfix "$T/data"
chmod 1777 "$T/mail"
chown m2wo "$T/audit" "$T/state"
# A copy that the m2wo user can run whatever the build directory's modes.
install -m 755 "$M2WO_BIN" "$T/bin/m2wo"
BIN=$T/bin/m2wo

start_sim "$T/sim" || bail "the simulator did not start"
# m2wo's configuration: readable by the m2wo user, token files its own, 0600.
AUDIT=$T/audit/audit.jsonl
write_conf "$T/m2wo" m2wo "$AUDIT" "$T/state"

# The Postfix instance: own config directory, queue and log; loopback only.
if [ -f /usr/share/postfix/master.cf.dist ]; then
	cp /usr/share/postfix/master.cf.dist "$PC/master.cf"
else
	cp /etc/postfix/master.cf "$PC/master.cf"
fi
cat >"$PC/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $T/spool
data_directory = $T/data
myhostname = localhost
myorigin = localhost
mydestination = localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = workorders.example
transport_maps = hash:$PC/transport
m2wo_destination_recipient_limit = 1
alias_maps = hash:$PC/aliases, hash:$T/m2wo/aliases
alias_database = hash:$PC/aliases, hash:$T/m2wo/aliases
local_recipient_maps = \$alias_maps
mail_spool_directory = $T/mail
maillog_file = $T/maillog
maillog_file_prefixes = $T
biff = no
delay_warning_time = 0
EOF
# No chroot: "postfix start" would not fill a chroot jail here.
postconf -c "$PC" -F '*/*/chroot = n'
postconf -c "$PC" -M "m2wo/unix=m2wo unix - n n - 10 pipe flags=DRX user=m2wo argv=$BIN -c $CONF -f \${sender} -r \${recipient} -q \${queue_id}"
printf 'workorders.example  m2wo:\n' >"$PC/transport"
postmap -c "$PC" "hash:$PC/transport" || bail "postmap"
# The system aliases stay root's; the sender's mailbox is a file here.
cat >"$PC/aliases" <<EOF
postmaster: $T/mail/postmaster
root: postmaster
MAILER-DAEMON: postmaster
tester: $T/mail/tester
# the wrong way, to show what happens: run as default_privs (nobody)
workorders-nobody: "|$BIN -c $CONF"
EOF
postalias -c "$PC" "hash:$PC/aliases" || bail "postalias"
# m2wo's own alias database belongs to m2wo: local(8) runs the commands of
# an alias database as its owner (as default_privs, nobody, when root owns
# it), so m2wo runs as m2wo and its token files stay m2wo's with mode 0600.
M2WO_ALIASES=$T/m2wo/aliases
printf 'workorders: "|%s -c %s"\n' "$BIN" "$CONF" >"$M2WO_ALIASES"
postalias -c "$PC" "hash:$M2WO_ALIASES" || bail "postalias"
chown m2wo:m2wo "$M2WO_ALIASES" "$M2WO_ALIASES.db"
# postalias works as the owner of its source file and rewrites the .db in
# place, so a later rebuild (newaliases) keeps it m2wo's.
postalias -c "$PC" "hash:$M2WO_ALIASES" || bail "postalias"

postfix -c "$PC" check 2>&1 | diag
postfix -c "$PC" start >/dev/null 2>&1 || { diag <"$T/maillog"; bail "Postfix did not start"; }
for _ in $(seq 50); do
	port25_busy && break
	sleep 0.2
done
port25_busy || { diag <"$T/maillog"; bail "Postfix does not listen on 127.0.0.1:25"; }
postconf -c "$PC" -M m2wo/unix | diag
is "$(stat -c %U "$M2WO_ALIASES.db")" m2wo "a rebuilt m2wo alias database stays m2wo's"

# ------------------------------------------------------------- helpers

send_sendmail() {   # send_sendmail FILE SENDER RCPT [OPTION...]
	local file=$1 sender=$2 rcpt=$3
	shift 3
	/usr/sbin/sendmail -C "$PC" -i "$@" -f "$sender" -- "$rcpt" <"$file"
}
send_smtp() {   # send_smtp FILE SENDER RCPT
	swaks --server 127.0.0.1:25 --helo localhost --from "$2" --to "$3" \
		--data "@$1" >"$T/swaks.log" 2>&1
}

# queue_id MSGID: Postfix's queue id of the message, waiting for cleanup(8)
queue_id() {
	local qid
	for _ in $(seq $((WAIT * 5))); do
		qid=$(grep -F "message-id=<$1>" "$T/maillog" 2>/dev/null |
			head -n 1 | sed -n 's/.*: \([0-9A-Za-z]*\): message-id=.*/\1/p')
		[ -n "$qid" ] && { echo "$qid"; return 0; }
		sleep 0.2
	done
	return 1
}
# wait_status QID STATUS: waits for a delivery line with status=STATUS
wait_status() {
	for _ in $(seq $((WAIT * 5))); do
		grep -q " $1: to=<.*status=$2 " "$T/maillog" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
status_line() { grep " $1: to=<.*status=$2 " "$T/maillog" | tail -n 1; }
# wait_gone QID: waits until the queue manager removed the message
wait_gone() {
	for _ in $(seq $((WAIT * 5))); do
		grep -q " $1: removed" "$T/maillog" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
wait_file() {   # wait_file PATH MIN_SIZE
	for _ in $(seq $((WAIT * 5))); do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -gt "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
show_state() {
	{
		echo "maillog:"
		tail -n 20 "$T/maillog"
		echo "audit:"
		"$PY" "$HELPER" audit-dump "$AUDIT"
		sim dump
	} 2>&1 | diag
}
flush() { postqueue -c "$PC" -f; }

# ------------------------------------------------------------- scenarios

# 1. One service request by sendmail(1), one by SMTP: one work order each.
sim reset
mkmsg "$T/msg/sendmail" sendmail "$JAN"
send_sendmail "$T/msg/sendmail" tester@localhost desk@workorders.example
ok $? "sendmail(1) accepts a service request"
Q1=$(queue_id "$MSGID")
wait_status "$Q1" sent
ok $? "sendmail path: status=sent for $Q1" || show_state
is "$(sim workorders)" 1 "sendmail path: the simulator holds one work order"
status_line "$Q1" sent | grep -q 'relay=m2wo'
ok $? "sendmail path: delivered by the m2wo pipe(8) transport"

mkmsg "$T/msg/smtp" smtp "$JAN"
send_smtp "$T/msg/smtp" tester@localhost desk@workorders.example
ok $? "SMTP on 127.0.0.1:25 accepts a service request" || diag <"$T/swaks.log"
Q2=$(queue_id "$MSGID")
wait_status "$Q2" sent
ok $? "SMTP path: status=sent for $Q2" || show_state
is "$(sim workorders)" 2 "SMTP path: the simulator holds two work orders"
is "$(sim calls PostWorkorders)" 2 "one PostWorkorders request per message"

# 2. The API answers 503: Postfix keeps the message, then delivers it.
sim reset
sim fault '{"http_status": 503, "count": 100}'
mkmsg "$T/msg/api503" api503 "$JAN"
send_sendmail "$T/msg/api503" tester@localhost desk@workorders.example
Q3=$(queue_id "$MSGID")
wait_status "$Q3" deferred
ok $? "HTTP 503: status=deferred for $Q3" || show_state
status_line "$Q3" deferred | grep -q 'dsn=4\.'
ok $? "HTTP 503: the deferral has a 4.x.y status" || status_line "$Q3" deferred | diag
# Postfix takes the 4.x.y code from m2wo's first output line into the DSN
# status (dsn=) and shows the text after it as the reason.
PQ=$(postqueue -c "$PC" -p)
printf '%s\n' "$PQ" | grep -A 3 "^$Q3" | grep -Eq "\(($TEMPFAIL_TEXTS)\)"
ok $? "HTTP 503: postqueue -p shows m2wo's tempfail text" || printf '%s\n' "$PQ" | diag
is "$(sim workorders)" 0 "HTTP 503: no work order yet"
sim reset                       # the fault is gone
flush
wait_status "$Q3" sent
ok $? "after postqueue -f: status=sent for $Q3" || show_state
is "$(sim workorders)" 1 "after the retry: exactly one work order"

# 3. The answer to PostWorkorders is lost: the retry finds the work order.
sim reset
sim fault '{"drop_after_create": true, "endpoint": "PostWorkorders", "count": 1}'
mkmsg "$T/msg/lostreply" lostreply "$JAN"
send_sendmail "$T/msg/lostreply" tester@localhost desk@workorders.example
Q4=$(queue_id "$MSGID")
wait_status "$Q4" deferred
ok $? "lost reply: status=deferred for $Q4" || show_state
is "$(sim workorders)" 1 "lost reply: the simulator created the work order"
flush
wait_status "$Q4" sent
ok $? "lost reply, after postqueue -f: status=sent for $Q4" || show_state
is "$(sim workorders)" 1 "lost reply: still exactly one work order"
is "$(sim calls PostWorkorders)" 1 "lost reply: the retry posted nothing"
[ "$(sim calls GetWorkorder 200)" -ge 1 ]
ok $? "lost reply: the retry found it with GetWorkorder" || show_state

# 4. No configuration matches: the local sender gets a DSN with m2wo's line.
sim reset
TESTER_SIZE=$(fsize "$T/mail/tester")
mkmsg "$T/msg/unmatched" unmatched 'Someone <someone@elsewhere.example>'
UNMATCHED_MARK=$MARK
send_sendmail "$T/msg/unmatched" tester@localhost desk@workorders.example -R hdrs
Q5=$(queue_id "$MSGID")
wait_status "$Q5" bounced
ok $? "unmatched: status=bounced for $Q5" || show_state
status_line "$Q5" bounced | grep -q 'dsn=5\.1\.1'
ok $? "unmatched: logged with dsn=5.1.1" || status_line "$Q5" bounced | diag
wait_file "$T/mail/tester" "$TESTER_SIZE"
ok $? "unmatched: the local sender received a DSN"
DSN=$(tail -c +$((TESTER_SIZE + 1)) "$T/mail/tester" 2>/dev/null)
printf '%s\n' "$DSN" | grep -q '^Status: 5\.1\.1'
ok $? "unmatched: the DSN's status is m2wo's 5.1.1" || printf '%s\n' "$DSN" | diag
printf '%s\n' "$DSN" | grep -q '^Diagnostic-Code: x-unix; no mail configuration accepts this message'
ok $? "unmatched: the DSN's diagnostic is m2wo's line"
printf '%s\n' "$DSN" | grep -Fq "$MSGID"
ok $? "unmatched: the DSN names the message"
! printf '%s\n' "$DSN" | grep -Fq -e "$TOKEN" -e "$SOFTWARE_TOKEN" -e 'token='
ok $? "unmatched: no token in the DSN"
! printf '%s\n' "$DSN" | grep -Eq 'https?://[^[:space:]]*\?'
ok $? "unmatched: no URL with a query in the DSN"
! printf '%s\n' "$DSN" | grep -Fq -e "$UNMATCHED_MARK" -e 'oven in de bakkerij'
ok $? "unmatched: no message body in the DSN"
is "$(sim workorders)" 0 "unmatched: no work order"

# 5. Machine-generated mail: no work order, no DSN, status=sent.
sim reset
TESTER_SIZE=$(fsize "$T/mail/tester")
mkmsg "$T/msg/autoreply" autoreply "$JAN" 'Auto-Submitted: auto-replied'
send_sendmail "$T/msg/autoreply" tester@localhost desk@workorders.example
Q6=$(queue_id "$MSGID")
wait_status "$Q6" sent
ok $? "auto-reply: status=sent for $Q6" || show_state
BOUNDARY=report-$$
{
	echo "From: Mail Delivery System <MAILER-DAEMON@mail.bakkerijdezon.example.nl>"
	echo "To: desk@workorders.example"
	echo "Subject: Undelivered Mail Returned to Sender"
	echo "Date: $(date -R)"
	MSGID="e2e-bounce-$$@test.example"
	echo "Message-ID: <$MSGID>"
	echo "MIME-Version: 1.0"
	echo "Content-Type: multipart/report; report-type=delivery-status; boundary=\"$BOUNDARY\""
	echo
	echo "--$BOUNDARY"
	echo "Content-Type: text/plain"
	echo
	echo "Your message could not be delivered."
	echo "--$BOUNDARY"
	echo "Content-Type: message/delivery-status"
	echo
	echo "Reporting-MTA: dns; mail.bakkerijdezon.example.nl"
	echo
	echo "Final-Recipient: rfc822; nobody@bakkerijdezon.example.nl"
	echo "Action: failed"
	echo "Status: 5.1.1"
	echo "--$BOUNDARY--"
} >"$T/msg/bounce"
send_sendmail "$T/msg/bounce" '<>' desk@workorders.example
Q7=$(queue_id "$MSGID")
wait_status "$Q7" sent
ok $? "bounce (null sender, multipart/report): status=sent for $Q7" || show_state
wait_gone "$Q7"
is "$(sim workorders)" 0 "machine-generated mail: no work order"
is "$(sim calls PostWorkorders)" 0 "machine-generated mail: no PostWorkorders request"
is "$(fsize "$T/mail/tester")" "$TESTER_SIZE" "machine-generated mail: no DSN to the sender"

# 6. The aliases path: local(8) runs m2wo with SENDER and RECIPIENT.
sim reset
mkmsg "$T/msg/alias" alias "$JAN"
send_sendmail "$T/msg/alias" tester@localhost workorders@localhost
Q8=$(queue_id "$MSGID")
wait_status "$Q8" sent
ok $? "aliases path: status=sent for $Q8" || show_state
status_line "$Q8" sent | grep -q 'relay=local'
ok $? "aliases path: delivered by local(8)" || status_line "$Q8" sent | diag
is "$(sim workorders)" 1 "aliases path: one work order"

# An alias in a root-owned database runs m2wo as nobody, who may not read
# its configuration: m2wo must make Postfix keep the message, not bounce it.
sim reset
mkmsg "$T/msg/nobody" nobody "$JAN"
send_sendmail "$T/msg/nobody" tester@localhost workorders-nobody@localhost
Q9=$(queue_id "$MSGID")
wait_status "$Q9" deferred
ok $? "alias run as nobody: status=deferred for $Q9" || show_state
status_line "$Q9" deferred | grep -q 'dsn=4\.'
ok $? "alias run as nobody: a 4.x.y status" || status_line "$Q9" deferred | diag
is "$(sim workorders)" 0 "alias run as nobody: no work order"
postsuper -c "$PC" -d "$Q9" >/dev/null 2>&1

# 7. One audit record per delivery attempt, with Postfix's queue id.
for pair in "$Q1 created" "$Q2 created" "$Q3 tempfail" "$Q3 created" \
	"$Q4 tempfail" "$Q4 duplicate" "$Q5 unmatched" "$Q6 discarded" \
	"$Q7 discarded"; do
	set -- $pair
	is "$(audit_count queue_id="$1" outcome="$2")" 1 \
		"audit record queue_id=$1 outcome=$2"
done
is "$(audit_count recipient=workorders@localhost sender=tester@localhost outcome=created queue_id="$Q8")" 1 \
	"audit record for the aliases path: envelope from SENDER/RECIPIENT, queue id from Received"
is "$(audit_count recipient=desk@workorders.example sender=tester@localhost queue_id="$Q1")" 1 \
	"audit record for the pipe path carries the envelope"
! grep -Fq -e "$TOKEN" -e "$SOFTWARE_TOKEN" "$T/maillog" "$AUDIT"
ok $? "no token in the mail log or the audit file"
PQ=$(postqueue -c "$PC" -p)
printf '%s\n' "$PQ" | grep -q 'Mail queue is empty'
ok $? "the queue is empty at the end" || printf '%s\n' "$PQ" | diag
if [ $failed -ne 0 ]; then show_state; fi
finish
