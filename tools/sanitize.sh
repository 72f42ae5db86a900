#!/usr/bin/env bash
# Runs m2wo's whole test suite on a build with AddressSanitizer, LeakSanitizer
# and UndefinedBehaviorSanitizer (build-asan/, a VPATH build next to the
# sources), or, with --valgrind, every fixture message and every hostile
# input of tests/adversarial.py through valgrind (build-valgrind/). Any
# sanitizer or valgrind report fails the run. The last line counts every
# test case, as tools/check.sh does: "N passed, N failed".
#
#   tools/sanitize.sh             make check under ASan, LSan and UBSan
#   tools/sanitize.sh --valgrind  fixtures and hostile inputs under valgrind
#
# CC picks the compiler (default clang when there is one, else gcc).
# A suppression file for leaks inside system libraries would go in
# tools/lsan.supp; none is needed: the libraries' one-time allocations stay
# reachable, which LeakSanitizer does not report.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)

mode=asan
case "${1:-}" in
--valgrind) mode=valgrind ;;
'') ;;
*) echo "usage: $0 [--valgrind]" >&2; exit 2 ;;
esac

# ------------------------------------------------------------ the build

# A VPATH build needs sources that are not configured in place; after
# tools/check.sh (which builds in place) a clean copy of them is used.
source_dir() {
	if [ ! -f "$top/config.status" ]; then
		[ -x "$top/configure" ] ||
			(cd "$top" && autoreconf -fi >/dev/null 2>&1) || return 1
		echo "$top"
		return
	fi
	local copy="$top/build-src"
	if ! command -v git >/dev/null || ! git -C "$top" rev-parse >/dev/null 2>&1
	then
		echo "$0: sources configured in place and no git to copy them" \
			"clean; run make distclean first" >&2
		return 1
	fi
	rm -rf "$copy"
	mkdir -p "$copy"
	git -C "$top" ls-files -z -co --exclude-standard |
		(cd "$top" && xargs -0 cp --parents -t "$copy") || return 1
	(cd "$copy" && autoreconf -fi >/dev/null 2>&1) || return 1
	echo "$copy"
}

# build DIR CFLAGS: configure (once) and make in DIR.
build() {
	local dir=$1 cflags=$2 src
	src=$(source_dir) || return 1
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.cflags" 2>/dev/null)" != \
		"$CC $cflags $src" ]; then
		(cd "$dir" && "$src/configure" --quiet CC="$CC" CFLAGS="$cflags") ||
			return 1
		make -C "$dir" -s clean >/dev/null 2>&1
		echo "$CC $cflags $src" >"$dir/.cflags"
	fi
	make -C "$dir" -s -j"$(nproc)" >"$dir/build.log" 2>&1 || {
		tail -30 "$dir/build.log"
		return 1
	}
}

if [ -z "${CC:-}" ]; then
	if command -v clang >/dev/null; then CC=clang; else CC=gcc; fi
fi
bash tools/install-deps.sh >/dev/null 2>&1 || true

# ------------------------------------------------------------ sanitizers

run_asan() {
	local dir=$top/build-asan logs status pass fail skip n
	local flags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
	flags="$flags -fno-sanitize-recover=all"
	build "$dir" "$flags" || { echo "0 passed, 1 failed"; return 1; }
	logs=$dir/sanitizer-logs
	rm -rf "$logs"
	mkdir -p "$logs"
	# Every report also goes to a file, so that none is missed in a test
	# that only looks at the exit code.
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
	if [ -f "$top/tools/lsan.supp" ]; then
		export LSAN_OPTIONS="suppressions=$top/tools/lsan.supp:print_suppressions=0"
	fi
	export M2WO_TEST_SLOWDOWN=${M2WO_TEST_SLOWDOWN:-3}
	rm -f "$dir"/tests/*.trs "$dir"/tests/*.log
	make -C "$dir" -s -j"$(nproc)" check >/dev/null 2>&1
	status=$?
	count() { cat "$dir"/tests/*.trs 2>/dev/null | grep -c "^:test-result: $1" || true; }
	pass=$(( $(count PASS) + $(count XFAIL) ))
	fail=$(( $(count FAIL) + $(count XPASS) + $(count ERROR) ))
	skip=$(count SKIP)
	for log in "$dir"/tests/*.log; do
		[ "$log" = "$dir/tests/test-suite.log" ] && continue
		if grep -qE "^:test-result: (FAIL|XPASS|ERROR)" "${log%.log}.trs" \
			2>/dev/null; then
			echo "---- ${log#"$top"/}"
			grep -E "^(not ok|ERROR|Bail out)|^#" "$log" | head -40
		fi
	done
	n=$(find "$logs" -type f | wc -l)
	if [ "$n" -gt 0 ]; then
		echo "---- $n sanitizer reports in ${logs#"$top"/}:"
		for f in $(find "$logs" -type f | head -5); do
			echo "== $f"
			grep -E "ERROR|SUMMARY|runtime error|#[0-9] " "$f" | head -20
		done
		fail=$((fail + n))
	fi
	[ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
}

# ------------------------------------------------------------ valgrind

# The catch-all configuration of a dry run, with token files of mode 600.
write_config() {
	local dir=$1 body=$2
	mkdir -p "$dir"
	printf 'test-token-not-real\n' >"$dir/token"
	printf 'test-software-token-not-real\n' >"$dir/software-token"
	chmod 600 "$dir/token" "$dir/software-token"
	{
		printf '[m2wo]\napi_url = https://127.0.0.1:9/openapi/8\n'
		printf 'token_file = %s/token\n' "$dir"
		printf 'software_token_file = %s/software-token\n\n' "$dir"
		cat "$body"
	} >"$dir/m2wo.conf"
}

run_valgrind() {
	local dir=$top/build-valgrind work pass=0 fail=0 msg code args conf
	command -v valgrind >/dev/null || {
		echo "$0: valgrind is not installed (apt-get install valgrind)" >&2
		return 77
	}
	# DWARF 4: the valgrind of Debian 12 cannot read clang's DWARF 5.
	build "$dir" "-O1 -g -gdwarf-4" || { echo "0 passed, 1 failed"; return 1; }
	work=$(mktemp -d "${TMPDIR:-/tmp}/m2wo-valgrind.XXXXXX")
	trap 'rm -rf "$work"' RETURN
	cat >"$work/catch-all.body" <<-'EOF'
	[defaults]
	forced.TypeOfWork = Storing
	forced.PaymentMethod = op rekening
	forced.ShortWorkDescription = {subject}
	forced.WorkDescription = {mail_content}
	[config alles]
	sender_type = Any
	parse_attachments = true
	attach_original = true
	regex.customer_zip = (?m)^Postcode:\s*(\d{4}\s?[A-Za-z]{2})\s*$
	regex.customer_phone = (?m)^Tel\w*:\s*([+\d][\d \-]{6,}\d)
	EOF
	write_config "$work/catch-all" "$work/catch-all.body"
	[ -f tests/fixtures/m2wo.conf.body ] &&
		write_config "$work/fixtures" tests/fixtures/m2wo.conf.body
	mkdir -p "$work/inputs"
	cp tests/fixtures/*.eml "$work/inputs/" 2>/dev/null || true
	cp tests/fuzz/regress/message/* "$work/inputs/" 2>/dev/null || true
	# Small enough for valgrind's pace; the large ones run under ASan.
	python3 tests/adversarial.py --write "$work/inputs" 300000
	local vg="valgrind -q --error-exitcode=99 --leak-check=full"
	vg="$vg --errors-for-leak-kinds=definite --show-leak-kinds=definite"
	vg="$vg --track-origins=yes --log-file=$work/vg.log"
	for msg in "$work"/inputs/*; do
		for conf in "$work"/catch-all/m2wo.conf "$work"/fixtures/m2wo.conf; do
			[ -f "$conf" ] || continue
			args=(-f jan@example.com -r storing@installatie.example.nl)
			rm -f "$work/vg.log"
			# shellcheck disable=SC2086
			$vg "$dir/src/m2wo" -n --offline -c "$conf" "${args[@]}" \
				<"$msg" >/dev/null 2>"$work/err"
			code=$?
			case $code in
			0 | 65 | 67 | 75) pass=$((pass + 1)) ;;
			*)
				fail=$((fail + 1))
				echo "---- ${msg##*/} (${conf%/m2wo.conf}): exit $code"
				[ "$fail" -le 5 ] &&
					head -40 "$work/vg.log" "$work/err" 2>/dev/null
				;;
			esac
		done
	done
	# The configuration loader too, on what fuzzing found.
	for conf in tests/fuzz/regress/config/* tests/fixtures/m2wo.conf.body \
		etc/m2wo.conf; do
		[ -f "$conf" ] || continue
		rm -f "$work/vg.log"
		# shellcheck disable=SC2086
		$vg "$dir/src/m2wo" --check-config -c "$conf" >/dev/null 2>&1
		code=$?
		if [ "$code" -eq 0 ] || [ "$code" -eq 78 ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "---- --check-config $conf: exit $code"
			[ "$fail" -le 5 ] && head -40 "$work/vg.log" 2>/dev/null
		fi
	done
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

if [ "$mode" = valgrind ]; then
	run_valgrind
else
	run_asan
fi
