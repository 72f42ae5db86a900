#!/usr/bin/env bash
# bench/run.sh: m2wo's per-message cost, side by side with a bare curl POST,
# Request Tracker's rt-mailgate, a hand-written Python gateway and a C
# program that only starts the same libraries, all in one run on this
# machine. Builds an -O2 m2wo in a temporary folder, starts the OutSmart
# simulator and an RT stand-in on 127.0.0.1, generates the inputs, runs
# every figure with hyperfine (warm-up, repeated rounds, medians) and GNU
# time (peak RSS), and writes the table to bench/results/latest.md.
#
#   sudo bench/run.sh            # installs what is missing (apt-get)
#   BENCH_ROUNDS=5 bench/run.sh  # quicker, noisier
#   BENCH_KEEP=1 bench/run.sh    # keep the work folder
#   M2WO_BEFORE=/path/to/old/m2wo bench/run.sh
#                                # adds the old binary's rows, side by side
#
# Nothing here reaches beyond 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
ROUNDS=${BENCH_ROUNDS:-25}         # hyperfine rounds per group, pooled
RUNS=${BENCH_RUNS:-2}              # timed runs per command and round
WARMUP=${BENCH_WARMUP:-1}          # untimed runs per command and round
ROUNDS_BIG=${BENCH_ROUNDS_BIG:-3}  # the same for the 1-25 MB messages
RUNS_BIG=${BENCH_RUNS_BIG:-3}
CORPUS=${BENCH_CORPUS:-$TOP/../shared/corpus}
M2WO_BIN_GIVEN=${M2WO_BIN:-}       # a given binary skips the build
BEFORE=${M2WO_BEFORE:-}            # an older binary to compare with
WORK=$(mktemp -d /tmp/m2wo-bench.XXXXXX)
PIDS=()

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -z "${BENCH_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		log "work folder kept: $WORK"
	fi
}
trap cleanup EXIT

# On a shared machine other work competes for the CPU; as root, the whole
# benchmark (servers included) runs at the highest priority so that it
# measures m2wo, not the neighbours. Short rounds do the rest.
if [ "$(id -u)" -eq 0 ]; then
	renice -n -20 -p $$ >/dev/null 2>&1 || true
fi

# ------------------------------------------------------------ what it needs
log "checking packages"
bash "$TOP/tools/install-deps.sh" hyperfine time curl rt5-clients valgrind \
	util-linux >&2

# ---------------------------------------------------------------- the build
if [ -n "$M2WO_BIN_GIVEN" ]; then
	M2WO=$M2WO_BIN_GIVEN
else
	log "building m2wo -O2 in $WORK/build"
	mkdir -p "$WORK/build"
	(cd "$TOP" && tar --exclude=.git --exclude=./bench/results -cf - .) |
		tar -xf - -C "$WORK/build"
	(
		cd "$WORK/build"
		make distclean >/dev/null 2>&1 || true
		autoreconf -fi >/dev/null 2>&1
		./configure -q CFLAGS="-O2 -g" >/dev/null
		make -s -j"$(nproc)" src/m2wo >/dev/null
	) >&2
	M2WO=$WORK/build/src/m2wo
fi
FLOOR=$WORK/floor
# shellcheck disable=SC2046
cc -O2 -o "$FLOOR" "$HERE/floor.c" $(pkg-config --cflags --libs \
	gmime-3.0 glib-2.0 libpcre2-8 libcurl json-c)
# The same floor with the libraries in m2wo's search order (configure's
# M2WO_EARLY_LIBS), so that the order's gain is not counted as m2wo's.
EARLY=$(sed -n 's/^M2WO_EARLY_LDFLAGS = //p' "$WORK/build/Makefile" 2>/dev/null || true)
FLOOR_EARLY=$WORK/floor-early
# shellcheck disable=SC2046,SC2086
cc -O2 -o "$FLOOR_EARLY" "$HERE/floor.c" $EARLY $(pkg-config --cflags \
	--libs gmime-3.0 glib-2.0 libpcre2-8 libcurl json-c)

# ---------------------------------------------------------------- servers
wait_for() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	log "$1 did not appear"
	exit 1
}

log "starting the OutSmart simulator and the RT stand-in"
python3 "$TOP/tests/outsmart-sim.py" --seed "$TOP/tests/seed.json" \
	--dir "$WORK/sim" --exit-with-parent >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
python3 "$HERE/rt-side.py" --dir "$WORK/rt" >"$WORK/rt.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/sim/control-port"
wait_for "$WORK/rt/port"
PORT=$(cat "$WORK/sim/port")
CPORT=$(cat "$WORK/sim/control-port")
RTPORT=$(cat "$WORK/rt/port")
API="https://127.0.0.1:$PORT/openapi/8"
CA=$WORK/sim/cert.pem
RTCA=$WORK/rt/cert.pem
RESET="curl -s -o /dev/null -X POST http://127.0.0.1:$CPORT/reset"

# ---------------------------------------------------------------- inputs
IN=$WORK/in
python3 "$HERE/gen.py" "$IN" "$API" "$CA"
cd "$IN"
Q="token=test-token-not-real&software_token=test-software-token-not-real"
ENV_ARGS="-f jan@bakkerijdezon.example.nl -r storing@service.example -q 4BVK12"

# The work order curl posts is the one m2wo posts: m2wo's dry run prints it.
"$M2WO" -c forced.conf -n $ENV_ARGS <mail.eml >wo.json 2>/dev/null
WONO=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["WorkorderNo"])' wo.json)
CURL="curl -sS -o /dev/null --cacert $CA -H 'Accept: application/json'"
CURL_POST="$CURL -H 'Content-Type: application/json' --data-binary @wo.json '$API/PostWorkorders/?$Q'"
CURL_SAME="$CURL '$API/relations/?$Q&key%5B%5D=debtor_number&value%5B%5D=DEB1001&operator%5B%5D=li' \
 --next $CURL '$API/GetWorkorder/?$Q&workorder_no=$WONO&update_status=false' \
 --next $CURL_POST"
RTMG="env PERL_LWP_SSL_CA_FILE=$RTCA HTTPS_CA_FILE=$RTCA rt-mailgate --url https://127.0.0.1:$RTPORT --queue General --action correspond <mail.eml"
PYEQ="python3 $HERE/py-equivalent.py $API $CA token software-token <mail.eml"
PIPE_FORCED="$M2WO -c forced.conf $ENV_ARGS <mail.eml"
PIPE_RULES="$M2WO -c rules.conf $ENV_ARGS <mail.eml"
PIPE_SYSCA="$M2WO -c sysca.conf $ENV_ARGS <mail.eml"
off() { echo "$M2WO -c $1 -n --offline $ENV_ARGS <mail.eml"; }

# "before" rows: the older binary on the same figures, when given.
PIPE_BEFORE=()
OFF_BEFORE=()
SYSCA_BEFORE=()
if [ -n "$BEFORE" ]; then
	PIPE_BEFORE=(-n m2wo-forced-before "${PIPE_FORCED//$M2WO/$BEFORE}")
	OFF_BEFORE=(-n offline-10-before "$(off confs-10.conf | sed "s|$M2WO|$BEFORE|")"
		-n offline-1000-before "$(off confs-1000.conf | sed "s|$M2WO|$BEFORE|")")
	SYSCA_BEFORE=(-n m2wo-sysca-before "${PIPE_SYSCA//$M2WO/$BEFORE}")
fi

# ---------------------------------------------------------------- checks
log "checking that every contender really does its work"
python3 "$HERE/check.py" "$WORK" "$M2WO" "$ENV_ARGS" "$CURL_POST" \
	"$CURL_SAME" "$RTMG" "$PYEQ" >"$WORK/checks.json"

# ---------------------------------------------------------------- timings
# Each group is run in many short rounds (hyperfine runs its commands one
# after the other), and the runs are pooled; ratios are taken round by round
# (paired), so that a slow second on this shared machine hits every
# contender alike.
hf() {
	local name=$1 rounds=$ROUNDS round
	shift
	if [ "$name" = drop ]; then
		rounds=$(( (ROUNDS + 4) / 5 ))
	fi
	for round in $(seq "$rounds"); do
		hyperfine --style none -w "$WARMUP" -r "$RUNS" \
			--export-json "$WORK/hf-$name-$round.json" "$@" >/dev/null
	done
}

log "pipe mode: m2wo, curl, rt-mailgate, Python, floor"
hf pipe --prepare "$RESET" \
	-n floor "$FLOOR" \
	-n curl-post "$CURL_POST" \
	-n curl-same "$CURL_SAME" \
	-n m2wo-forced "$PIPE_FORCED" \
	-n m2wo-rules "$PIPE_RULES" \
	-n rt-mailgate "$RTMG" \
	-n python "$PYEQ" \
	"${PIPE_BEFORE[@]}"

# Production trusts the system's CAs (no ca_file). To time that against the
# simulator, its certificate joins a copy of the system CA store (bundle and
# hashed folder) that is mounted over /etc/ssl/certs in a private mount
# namespace: nothing on the machine changes.
log "TLS with the system CAs, no ca_file (private mount namespace)"
CURL_SYSCA="curl -sS -o /dev/null -H 'Accept: application/json' -H 'Content-Type: application/json' --data-binary @wo.json '$API/PostWorkorders/?$Q'"
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	CERTS=$WORK/system-certs
	cp -a /etc/ssl/certs "$CERTS"
	cp "$CA" "$CERTS/m2wo-bench-sim.pem"
	cat /etc/ssl/certs/ca-certificates.crt "$CA" >"$CERTS/ca-certificates.crt"
	openssl rehash "$CERTS" 2>/dev/null || true
	{
		echo "set -e"
		echo "mount --bind $(printf '%q' "$CERTS") /etc/ssl/certs"
		echo "cd $(printf '%q' "$IN")"
		printf '%q ' sh -c "$RESET; $PIPE_SYSCA" ; echo
		printf '%q ' sh -c "$RESET; $CURL_SYSCA" ; echo
		echo "for round in \$(seq $ROUNDS); do"
		printf '%q ' hyperfine --style none -w "$WARMUP" -r "$RUNS" \
			--prepare "$RESET"
		printf -- '--export-json %q-$round.json ' "$WORK/hf-sysca"
		printf '%q ' -n curl-sysca "$CURL_SYSCA" -n m2wo-sysca "$PIPE_SYSCA" \
			"${SYSCA_BEFORE[@]}"
		echo ">/dev/null; done"
		for c in "curl-sysca:$CURL_SYSCA" "m2wo-sysca:$PIPE_SYSCA" \
			${BEFORE:+"m2wo-sysca-before:${PIPE_SYSCA//$M2WO/$BEFORE}"}; do
			printf 'for i in 1 2 3; do %s; /usr/bin/time -a -o %q -f "%s %%M" sh -c %q >/dev/null 2>&1; done\n' \
				"$RESET" "$WORK/rss-sysca.txt" "${c%%:*}" "exec ${c#*:}"
		done
	} >"$WORK/sysca.sh"
	if ! unshare -m bash "$WORK/sysca.sh" >"$WORK/sysca.log" 2>&1; then
		log "system-CA figure skipped: $(tail -3 "$WORK/sysca.log" | tr '\n' ' ')"
		rm -f "$WORK"/hf-sysca-*.json "$WORK/rss-sysca.txt"
	fi
else
	log "system-CA figure skipped: needs root and unshare"
fi

log "start-up: offline dry runs with 1, 10, 50 and 1,000 configurations"
hf offline \
	-n floor "$FLOOR" \
	-n floor-early "$FLOOR_EARLY" \
	-n version "$M2WO --version" \
	-n offline-1 "$(off confs-1.conf)" \
	-n offline-10 "$(off confs-10.conf)" \
	-n offline-50 "$(off confs-50.conf)" \
	-n offline-1000 "$(off confs-1000.conf)" \
	"${OFF_BEFORE[@]}"

log "large messages: 1, 5 and 25 MB"
for round in $(seq "$ROUNDS_BIG"); do
	hyperfine --style none -w 1 -r "$RUNS_BIG" --prepare "$RESET" \
		--export-json "$WORK/hf-big-$round.json" \
		-n big-offline-1 "$M2WO -c big.conf -n --offline $ENV_ARGS <big-1M.eml" \
		-n big-offline-5 "$M2WO -c big.conf -n --offline $ENV_ARGS <big-5M.eml" \
		-n big-offline-25 "$M2WO -c big.conf -n --offline $ENV_ARGS <big-25M.eml" \
		-n big-real-1 "$M2WO -c big.conf $ENV_ARGS <big-1M.eml" \
		-n big-real-5 "$M2WO -c big.conf $ENV_ARGS <big-5M.eml" \
		-n big-real-25 "$M2WO -c big.conf $ENV_ARGS <big-25M.eml" >/dev/null
done

log "--drop over the corpus, one process"
if [ -d "$CORPUS" ]; then
	find "$CORPUS" -type f \( -name '*.eml' -o -name '*.msg' \) | sort >corpus.lst
	hf drop -i -n drop-corpus \
		"bash -c 'mapfile -t f <corpus.lst; exec $M2WO --drop -c drop.conf -n --offline \"\${f[@]}\"'"
else
	log "no corpus at $CORPUS: skipped"
	: >corpus.lst
fi

log "peak RSS (GNU time)"
python3 "$HERE/rss.py" "$WORK" "$M2WO" "$ENV_ARGS" "$RESET" "$FLOOR" \
	"$CURL_POST" "$RTMG" >"$WORK/rss.json"

: >"$WORK/profile.md"
if [ "${BENCH_PROFILE:-1}" = 1 ]; then
	log "profile of one pipe-mode run (callgrind)"
	python3 "$HERE/profile.py" "$WORK" "$M2WO" "$ENV_ARGS" "$RESET" \
		"$FLOOR" "$CURL_POST" >"$WORK/profile.md"
fi

# ---------------------------------------------------------------- report
mkdir -p "$HERE/results"
python3 "$HERE/report.py" "$WORK" "$CORPUS" >"$HERE/results/latest.md"
cat "$WORK/profile.md" >>"$HERE/results/latest.md"
cat "$HERE/results/latest.md"
log "written to bench/results/latest.md"
