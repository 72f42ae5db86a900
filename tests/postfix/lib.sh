# Shell functions shared by tests/postfix-e2e.sh and
# tests/procmail-maildrop.sh: TAP output, the OutSmart simulator, an m2wo
# configuration for it, test messages.  Sourced by bash; sets nothing up by
# itself and never touches system mail files.

PY=${PYTHON3:-python3}
SRCDIR=${M2WO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
HELPER="$SRCDIR/tests/postfix/e2e.py"
TOKEN=test-token-not-real
SOFTWARE_TOKEN=test-software-token-not-real
JAN='Jan de Vries <jan@bakkerijdezon.example.nl>'
# The texts of m2wo's 4.x.y lines (SPEC: outcome tempfail).
TEMPFAIL_TEXTS='OutSmart API unreachable|m2wo configuration error|m2wo deadline exceeded|m2wo internal error|daily work-order limit reached|disk full or unwritable'
n=0
failed=0
SIM_PID=""

# ------------------------------------------------------------------ TAP

skip_all() { echo "1..0 # SKIP $*"; exit 77; }
diag() { sed 's/^/# /'; }
ok() {   # ok STATUS NAME: STATUS 0 passes
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
	return "$1"
}
is() {   # is GOT WANT NAME
	[ "$1" = "$2" ]
	ok $? "$3" || printf 'got:  %s\nwant: %s\n' "$1" "$2" | diag
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
bail() { echo "Bail out! $*"; exit 1; }
# remove_scratch DIR: removes a test's scratch folder, unless M2WO_KEEP_TMP
# asks to keep it for a look after a failure.
remove_scratch() {
	[ -n "$1" ] || return 0
	if [ -n "${M2WO_KEEP_TMP:-}" ]; then
		echo "# kept $1"
	else
		rm -rf "$1"
	fi
}
finish() {
	echo "1..$n"
	echo "$((n - failed)) passed, $failed failed"
	exit 0
}

# ------------------------------------------------------------------ setup

# pipe(8) refuses user=root and user=postfix: m2wo gets its own user.
ensure_m2wo_user() {
	getent passwd m2wo >/dev/null && return 0
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin m2wo
}

# start_sim DIR: the simulator on 127.0.0.1; sets SIM_PID, SIM_PORT, SIM_DIR.
# Its certificate is made readable for the m2wo user.
start_sim() {
	SIM_DIR=$1
	"$PY" "$SRCDIR/tests/outsmart-sim.py" --seed "$SRCDIR/tests/seed.json" \
		--dir "$SIM_DIR" >"$SIM_DIR.log" 2>&1 &
	SIM_PID=$!
	for _ in $(seq 100); do
		[ -s "$SIM_DIR/control-port" ] && break
		sleep 0.1
	done
	if [ ! -s "$SIM_DIR/control-port" ]; then
		diag <"$SIM_DIR.log"
		return 1
	fi
	SIM_PORT=$(cat "$SIM_DIR/port")
	chmod 755 "$SIM_DIR"
	chmod 644 "$SIM_DIR/cert.pem"
}
stop_sim() {
	[ -n "$SIM_PID" ] || return 0
	kill "$SIM_PID" 2>/dev/null
	wait "$SIM_PID" 2>/dev/null
	SIM_PID=""
}
sim() { "$PY" "$HELPER" "$SIM_DIR" "$@"; }

# write_conf DIR OWNER AUDIT_FILE STATE_DIR: m2wo.conf for the simulator;
# sets CONF.  The file is readable by OWNER's group, the token files are
# OWNER's own with mode 0600 (m2wo refuses token files others can read).
write_conf() {
	local dir=$1 owner=$2
	CONF=$dir/m2wo.conf
	mkdir -p "$dir"
	printf '%s\n' "$TOKEN" >"$dir/token"
	printf '%s\n' "$SOFTWARE_TOKEN" >"$dir/software-token"
	chown "$owner" "$dir/token" "$dir/software-token"
	chmod 600 "$dir/token" "$dir/software-token"
	cat >"$CONF" <<EOF
[m2wo]
api_url = https://127.0.0.1:$SIM_PORT/openapi/8
token_file = $dir/token
software_token_file = $dir/software-token
ca_file = $SIM_DIR/cert.pem
audit_file = $3
state_dir = $4
request_timeout = 10
deadline = 60
on_unmatched = bounce
on_autoreply = discard

[config Bakkerij]
sender_type = Sender
sender_value = jan@bakkerijdezon.example.nl
customer_rules = FindOrAddRelationByEmail
forced.TypeOfWork = Storing
forced.PaymentMethod = op rekening
forced.ShortWorkDescription = {subject}
EOF
	chown "root:$(id -gn "$owner")" "$dir" "$CONF" 2>/dev/null ||
		chown "$owner" "$dir" "$CONF"
	chmod 750 "$dir"
	chmod 640 "$CONF"
}

audit_count() { "$PY" "$HELPER" audit "$AUDIT" "$@"; }

# ------------------------------------------------------------------ messages

MSGNO=0
# mkmsg FILE NAME FROM [HEADER...]: a service request; sets MSGID and MARK
mkmsg() {
	local file=$1 name=$2 from=$3 h
	shift 3
	MSGNO=$((MSGNO + 1))
	MSGID="e2e-$name-$$-$MSGNO@test.example"
	MARK="body-marker-$name-$$-$MSGNO"
	{
		echo "From: $from"
		echo "To: Service desk <desk@workorders.example>"
		echo "Subject: Storing oven $name"
		echo "Date: $(date -R)"
		echo "Message-ID: <$MSGID>"
		for h in "$@"; do echo "$h"; done
		echo "MIME-Version: 1.0"
		echo "Content-Type: text/plain; charset=utf-8"
		echo
		echo "De oven in de bakkerij doet het niet meer."
		echo "$MARK"
	} >"$file"
}
