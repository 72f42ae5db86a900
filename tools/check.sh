#!/usr/bin/env bash
# Installs what is missing, builds m2wo and runs its whole test suite. The
# last line counts every test case that ran: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh || exit 1
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
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
