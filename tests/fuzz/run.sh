#!/usr/bin/env bash
# Builds m2wo's libFuzzer harnesses (tests/fuzz/fuzz-*.c) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer against the library
# sources, replays the regression inputs, then runs each harness for
# SECONDS (default 60) from its seed corpus. Exits non-zero on any crash.
#
#   tests/fuzz/run.sh [SECONDS]        build, replay, fuzz
#   tests/fuzz/run.sh --build          build only
#   tests/fuzz/run.sh --replay         build and replay tests/fuzz/regress
#
# FUZZ_OUT (default $TMPDIR/m2wo-fuzz) holds the build, the working corpus
# and any crash-* files; FUZZ_JOBS harnesses run at once (default 2);
# FUZZ_ARGS adds libFuzzer options. Needs clang with libFuzzer (Debian:
# clang libclang-rt-14-dev) and the -dev packages of the five libraries.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/m2wo-fuzz}
jobs=${FUZZ_JOBS:-2}
cc=${CC_FUZZ:-clang}
mode=fuzz
secs=60
case "${1:-}" in
--build) mode=build ;;
--replay) mode=replay ;;
'') ;;
*[!0-9]*) echo "usage: $0 [SECONDS | --build | --replay]" >&2; exit 2 ;;
*) secs=$1 ;;
esac

harnesses="message config"
# The library's sources, as Makefile.am lists them (src_libm2wo_a_SOURCES).
lib_sources=$(awk '/^src_libm2wo_a_SOURCES/ { on = 1 }
	on { for (i = 1; i <= NF; i++) if ($i ~ /^src\/.*\.c$/) {
		sub(/^src\//, "", $i); sub(/\.c$/, "", $i); print $i } }
	on && !/\\$/ { on = 0 }' "$top/Makefile.am")
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
flags="-std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter -fno-omit-frame-pointer $san -I$out -I$top/include"
pkgs="gmime-3.0 glib-2.0 libpcre2-8 libcurl json-c libxml-2.0"

build() {
	command -v "$cc" >/dev/null || {
		echo "$0: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
		exit 77
	}
	mkdir -p "$out/obj"
	# The few lines of config.h the library reads; configure is not needed.
	printf '#define PACKAGE_VERSION "fuzz"\n#define SYSCONFDIR "/etc"\n' \
		>"$out/config.h"
	printf '#define LOCALSTATEDIR "/var"\n' >>"$out/config.h"
	printf '#define M2WO_LIBXML2_SONAME "libxml2.so.2"\n' >>"$out/config.h"
	local objs="" s
	for s in $lib_sources; do
		if [ ! "$out/obj/$s.o" -nt "$top/src/$s.c" ] ||
		   [ "$top/include/m2wo.h" -nt "$out/obj/$s.o" ]; then
			# shellcheck disable=SC2046,SC2086
			$cc $flags -fsanitize=fuzzer-no-link $(pkg-config --cflags $pkgs) \
				-c "$top/src/$s.c" -o "$out/obj/$s.o"
		fi
		objs="$objs $out/obj/$s.o"
	done
	for h in $harnesses; do
		# shellcheck disable=SC2046,SC2086
		$cc $flags -fsanitize=fuzzer $(pkg-config --cflags $pkgs) \
			"$here/fuzz-$h.c" $objs $(pkg-config --libs $pkgs) \
			-o "$out/fuzz-$h"
	done
}

# The seed corpus: the fixtures, the seeds kept here and the regressions.
seed() {
	mkdir -p "$out/corpus/message" "$out/corpus/config"
	cp -n "$top"/tests/fixtures/*.eml "$here"/seeds/message/* \
		"$out/corpus/message/" 2>/dev/null || true
	cp -n "$here"/seeds/config/* "$out/corpus/config/" 2>/dev/null || true
	cp -n "$top/etc/m2wo.conf" "$out/corpus/config/example.conf"
	[ -f "$top/tests/fixtures/m2wo.conf.body" ] &&
		cp -n "$top/tests/fixtures/m2wo.conf.body" \
			"$out/corpus/config/fixtures.conf"
	for h in $harnesses; do
		cp -n "$here"/regress/"$h"/* "$out/corpus/$h/" 2>/dev/null || true
	done
}

# Every regression input once; a crash fails the run.
replay() {
	local h files
	for h in $harnesses; do
		[ -d "$here/regress/$h" ] || continue
		files=$(find "$here/regress/$h" -type f ! -name '.*' | sort)
		[ -n "$files" ] || continue
		# shellcheck disable=SC2086
		"$out/fuzz-$h" -runs=1 $files >"$out/replay-$h.log" 2>&1 || {
			echo "replay $h: FAILED (see $out/replay-$h.log)"
			return 1
		}
		echo "replay $h: $(echo "$files" | wc -l) inputs ok"
	done
}

fuzz_one() {
	local h=$1
	cd "$out"
	# shellcheck disable=SC2086
	"$out/fuzz-$h" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$out/$h-" \
		-dict="$here/$h.dict" \
		${FUZZ_ARGS:-} "$out/corpus/$h" >"$out/fuzz-$h.log" 2>&1
}

build
[ "$mode" = build ] && exit 0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
replay
[ "$mode" = replay ] && exit 0
seed
status=0
pids=""
running=0
for h in $harnesses; do
	fuzz_one "$h" &
	pids="$pids $!:$h"
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
for p in $pids; do
	pid=${p%%:*} h=${p#*:}
	if wait "$pid"; then r=0; else r=$?; fi
	stats=$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: ' \
		"$out/fuzz-$h.log" | tail -3 | tr '\n' ' ')
	if [ "$r" -ne 0 ] || grep -q -E \
		'^==[0-9]+==ERROR|runtime error|deadly signal' "$out/fuzz-$h.log"
	then
		echo "fuzz $h: CRASH (see $out/fuzz-$h.log, $out/$h-*)"
		status=1
	else
		echo "fuzz $h: ok ($stats)"
	fi
done
exit $status
