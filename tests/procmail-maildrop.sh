#!/bin/bash
# m2wo behind procmail and maildrop: the recipes of tests/postfix/SNIPPETS
# create a work order, and hand m2wo's exit code to their caller, so that a
# temporary failure (75) makes the MTA try again instead of filing or losing
# the message.  Everything lives in a temp HOME; no system mail file is
# touched.  As root it installs the tools (without recommends) and runs them
# as the m2wo user; otherwise it runs what is installed as the current user.
# TAP output; exit 77 with "1..0 # SKIP reason" when it cannot run here.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

PREFIX=m2wo-procmail-maildrop
T=""
. "${M2WO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/postfix/lib.sh"

[ -n "${M2WO_BIN:-}" ] && [ -x "$M2WO_BIN" ] ||
	skip_all "M2WO_BIN is not set (run through make check)"

have() { command -v "$1" >/dev/null; }
if [ "$(id -u)" = 0 ]; then
	if ! have procmail || ! have maildrop; then
		# Without recommends: procmail and maildrop recommend an MTA,
		# and installing one replaces Postfix.
		cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y -q"
		cmd="$cmd --no-install-recommends procmail maildrop"
		sh -c "$cmd" >/tmp/$PREFIX-apt.log 2>&1 || {
			apt-get update -q >>/tmp/$PREFIX-apt.log 2>&1
			sh -c "$cmd" >>/tmp/$PREFIX-apt.log 2>&1
		}
	fi
	ensure_m2wo_user || bail "cannot create user m2wo"
	RUN_USER=m2wo
	RUNAS=(setpriv --reuid=m2wo --regid="$(id -g m2wo)" --clear-groups)
else
	RUN_USER=$(id -un)
	RUNAS=()
fi
have procmail || have maildrop ||
	skip_all "neither procmail nor maildrop is installed"

cleanup() {
	stop_sim
	remove_scratch "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

T=$(mktemp -d /tmp/$PREFIX.XXXXXX) || bail "mktemp"
chmod 755 "$T"
H=$T/home
mkdir -p "$T/bin" "$H" "$T/msg"
install -m 755 "$M2WO_BIN" "$T/bin/m2wo"
BIN=$T/bin/m2wo
start_sim "$T/sim" || bail "the simulator did not start"
AUDIT=$H/audit.jsonl
write_conf "$T/m2wo" "$RUN_USER" "$AUDIT" "$H/state"
mkdir -p "$H/state"
chown -R "$RUN_USER" "$H"
chmod 700 "$H"

# deliver OUT_PREFIX COMMAND...: runs the MDA as it runs under an MTA (an
# environment with only the envelope, the message on standard input);
# sets RC, and OUT_PREFIX.out / .err hold its output.
deliver() {
	local out=$1 msg=$2
	shift 2
	"${RUNAS[@]}" env -i HOME="$H" PATH=/usr/bin:/bin LOGNAME="$RUN_USER" \
		USER="$RUN_USER" SENDER=tester@localhost \
		RECIPIENT=desk@workorders.example "$@" \
		<"$msg" >"$out.out" 2>"$out.err"
	RC=$?
}
own() { chown "$RUN_USER" "$@"; }
# Empties the audit file; never creates it (it must stay m2wo's).
clear_audit() { if [ -e "$AUDIT" ]; then : >"$AUDIT"; fi; }
exists() { [ -e "$1" ]; }
show() { { cat "$1.out" "$1.err"; sim dump; } 2>&1 | diag; }

# ------------------------------------------------------------------ procmail

PROCMAILRC=$H/procmailrc
cat >"$PROCMAILRC" <<EOF
SHELL=/bin/sh
MAILDIR=$H
DEFAULT=$H/mbox
ORGMAIL=$H/mbox
LOGFILE=$H/procmail.log

:0 w
| $BIN -c $CONF

# Reached only when m2wo failed: hand its exit code to the MTA (75: try
# again later; 65, 67: bounce) instead of filing the message.
EXITCODE=\$?
:0
/dev/null
EOF
# The recipe without the last three lines, to show why they are there.
BARERC=$H/procmailrc-bare
sed '/^# Reached only/,$d' "$PROCMAILRC" >"$BARERC"
own "$PROCMAILRC" "$BARERC"
chmod 644 "$PROCMAILRC" "$BARERC"

# procmail runs with -m (mail filter mode, rcfile on the command line):
# without it procmail creates the system mailbox /var/mail/$LOGNAME at start.
# The recipes behave the same either way (ORGMAIL is the only difference).
if have procmail; then
	P=$T/procmail
	sim reset
	mkmsg "$T/msg/p-ok" p-ok "$JAN"
	deliver "$P" "$T/msg/p-ok" procmail -m "$PROCMAILRC"
	is "$RC" 0 "procmail: a service request exits 0" || show "$P"
	is "$(sim workorders)" 1 "procmail: one work order"
	! exists "$H/mbox"
	ok $? "procmail: nothing filed in the mailbox"

	sim reset
	sim fault '{"http_status": 503, "count": 100}'
	mkmsg "$T/msg/p-503" p-503 "$JAN"
	deliver "$P" "$T/msg/p-503" procmail -m "$PROCMAILRC"
	is "$RC" 75 "procmail: HTTP 503 gives EX_TEMPFAIL (75) to the MTA" ||
		show "$P"
	is "$(sim workorders)" 0 "procmail: HTTP 503: no work order"
	! exists "$H/mbox"
	ok $? "procmail: HTTP 503: nothing filed in the mailbox"
	sim reset
	deliver "$P" "$T/msg/p-503" procmail -m "$PROCMAILRC"
	is "$RC" 0 "procmail: the MTA's retry exits 0" || show "$P"
	is "$(sim workorders)" 1 "procmail: the retry makes one work order"

	sim reset
	mkmsg "$T/msg/p-unmatched" p-unmatched 'Someone <someone@elsewhere.example>'
	deliver "$P" "$T/msg/p-unmatched" procmail -m "$PROCMAILRC"
	is "$RC" 67 "procmail: unmatched mail gives EX_NOUSER (67): the MTA bounces"
	is "$(sim workorders)" 0 "procmail: unmatched: no work order"

	# procmail clears the environment unless -p: only then does m2wo see
	# SENDER and RECIPIENT.
	sim reset
	clear_audit
	mkmsg "$T/msg/p-env" p-env "$JAN"
	deliver "$P" "$T/msg/p-env" procmail -p -m "$PROCMAILRC"
	is "$RC" 0 "procmail -p: exits 0" || show "$P"
	is "$(audit_count sender=tester@localhost recipient=desk@workorders.example outcome=created)" 1 \
		"procmail -p: m2wo's audit record has the envelope"

	# A bare ":0 w" recipe: procmail files the message in DEFAULT and exits
	# 0 when m2wo fails, with or without -t; the MTA never retries.
	for opt in "" -t; do
		rm -f "$H/mbox"
		sim reset
		sim fault '{"http_status": 503, "count": 100}'
		deliver "$P" "$T/msg/p-503" procmail $opt -m "$BARERC"
		is "$RC" 0 "procmail${opt:+ $opt} with a bare \":0 w\" recipe exits 0 on m2wo's 75"
		exists "$H/mbox"
		ok $? "procmail${opt:+ $opt} with a bare \":0 w\" recipe files the message instead"
	done
	rm -f "$H/mbox"
else
	skip "procmail" "procmail is not installed"
fi

# ------------------------------------------------------------------ maildrop

MAILFILTER=$H/mailfilter
cat >"$MAILFILTER" <<EOF
SHELL="/bin/sh"
DEFAULT="$H/mbox"

to "| $BIN -c $CONF"
EOF
own "$MAILFILTER"
chmod 600 "$MAILFILTER"   # maildrop refuses a filter file others can read

if have maildrop; then
	M=$T/maildrop
	sim reset
	clear_audit
	mkmsg "$T/msg/m-ok" m-ok "$JAN"
	deliver "$M" "$T/msg/m-ok" maildrop "$MAILFILTER"
	is "$RC" 0 "maildrop: a service request exits 0" || show "$M"
	is "$(sim workorders)" 1 "maildrop: one work order"
	is "$(audit_count sender=tester@localhost recipient=desk@workorders.example outcome=created)" 1 \
		"maildrop: m2wo's audit record has the envelope"

	sim reset
	sim fault '{"http_status": 503, "count": 100}'
	mkmsg "$T/msg/m-503" m-503 "$JAN"
	deliver "$M" "$T/msg/m-503" maildrop "$MAILFILTER"
	is "$RC" 75 "maildrop: HTTP 503 gives EX_TEMPFAIL (75) to the MTA" ||
		show "$M"
	head -n 1 "$M.out" | grep -Eq "^4\.[0-9]+\.[0-9]+ ($TEMPFAIL_TEXTS)\$"
	ok $? "maildrop: m2wo's 4.x.y line reaches the MTA" || show "$M"
	is "$(sim workorders)" 0 "maildrop: HTTP 503: no work order"
	sim reset
	deliver "$M" "$T/msg/m-503" maildrop "$MAILFILTER"
	is "$RC" 0 "maildrop: the MTA's retry exits 0" || show "$M"
	is "$(sim workorders)" 1 "maildrop: the retry makes one work order"

	sim reset
	mkmsg "$T/msg/m-unmatched" m-unmatched 'Someone <someone@elsewhere.example>'
	deliver "$M" "$T/msg/m-unmatched" maildrop "$MAILFILTER"
	is "$RC" 67 "maildrop: unmatched mail gives EX_NOUSER (67): the MTA bounces"
	is "$(head -n 1 "$M.out")" "5.1.1 no mail configuration accepts this message" \
		"maildrop: m2wo's 5.1.1 line reaches the MTA"
	is "$(sim workorders)" 0 "maildrop: unmatched: no work order"
	! exists "$H/mbox"
	ok $? "maildrop: nothing filed in the mailbox"
else
	skip "maildrop" "maildrop is not installed"
fi

! grep -rFq -e "$TOKEN" -e "$SOFTWARE_TOKEN" "$T/procmail".* "$T/maildrop".* \
	"$AUDIT" 2>/dev/null
ok $? "no token in any output or the audit file"
finish
