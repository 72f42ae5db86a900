#!/usr/bin/env bash
# Installs what is missing, builds m2wo and runs its whole test suite. The
# last line counts every test case that ran: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh valgrind || exit 1
bash tools/build.sh || exit 1

make -s -j"$(nproc)" check >/dev/null 2>&1
status=$?

# Each test case is one ":test-result:" line in the .trs files (TAP).
count() { cat tests/*.trs 2>/dev/null | grep -c "^:test-result: $1" || true; }
pass=$(( $(count PASS) + $(count XFAIL) ))
fail=$(( $(count FAIL) + $(count XPASS) + $(count ERROR) ))
skip=$(count SKIP)

for log in tests/*.log; do
	[ "$log" = tests/test-suite.log ] && continue
	trs="${log%.log}.trs"
	if grep -qE "^:test-result: (FAIL|XPASS|ERROR)" "$trs" 2>/dev/null; then
		echo "---- $log"
		grep -E "^(not ok|ERROR|Bail out)|^#" "$log" | head -40
	fi
done
grep -h "^:global-test-result:" tests/*.trs | sort | uniq -c | sed 's/^/  /'
[ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
echo "plain build: $pass passed, $fail failed, $skip skipped"

# The same suite under ASan, LSan and UBSan, then the fixtures and hostile
# inputs under valgrind: each ends with its own "N passed, N failed" line,
# added to the totals here. M2WO_CHECK_QUICK=1 leaves them out.
if [ -z "${M2WO_CHECK_QUICK:-}" ]; then
	for mode in "" --valgrind; do
		out=$(bash tools/sanitize.sh $mode 2>&1)
		rc=$?
		last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
		[ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && printf '%s\n' "$out" | tail -60
		echo "sanitize.sh ${mode:-(asan)}: ${last:-no result (exit $rc)}"
		p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
		f=$(printf '%s' "$last" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
		s=$(printf '%s' "$last" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
		pass=$((pass + ${p:-0}))
		fail=$((fail + ${f:-0}))
		skip=$((skip + ${s:-0}))
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "${f:-0}" -eq 0 ]; then
			fail=$((fail + 1))
		fi
	done
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
