#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed".
#
#   unit  cmocka, no root                      tests/unit
#   api   a real nubod (host in dry-run)       tests/api/*.sh
#   api-pg  the same on a private PostgreSQL    tests/pg.sh
#   e2e   real QEMU, dnsmasq, nftables (root)  tests/e2e/*.sh
#   asan  unit and api again, built with AddressSanitizer and UBSan
#   fuzz  every libFuzzer harness for FUZZ_SECONDS (8) each   tests/fuzz
#
# Every suite speaks TAP ("ok N - what" / "not ok N - what"); this script
# counts the lines. NUBO_SUITES="unit api" runs a subset.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
suites=${NUBO_SUITES:-unit api api-pg e2e asan fuzz}
results=$(mktemp -d /tmp/nubo-test.XXXXXX)
trap 'rm -rf "$results"' EXIT

run_suite() { # name command...
	local name=$1; shift
	echo "=== $name"
	local t0=$SECONDS
	"$@" 2>&1 | tee "$results/$name.tap" | grep -E '^(not ok|ok|#|Bail out)' || true
	echo "--- $name: $(grep -c '^ok' "$results/$name.tap") passed, $(grep -c '^not ok' "$results/$name.tap") failed ($((SECONDS - t0)) s)"
}

unit_tests() { # build dir
	local exe rc=0
	for exe in "$1"/tests/unit/test_*; do
		[ -x "$exe" ] && [ -f "$exe" ] || continue
		CMOCKA_MESSAGE_OUTPUT=TAP "$exe" || rc=1
	done
	return $rc
}

api_tests() { # build dir
	local t
	for t in tests/api/*.sh; do NUBO_BIN="$1/src/cmd" bash "$t"; done
}

e2e_tests() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
		echo "# e2e skipped: needs root and /dev/net/tun"
		return 0
	fi
	local t
	for t in tests/e2e/*.sh; do NUBO_BIN="$build/src/cmd" bash "$t"; done
}

asan_tests() {
	local b=build-asan
	if [ ! -f $b/build.ninja ]; then
		meson setup $b -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >/dev/null ||
			{ echo "not ok 1 - configure the sanitizer build"; return; }
	fi
	ninja -C $b >/dev/null || { echo "not ok 1 - the sanitizer build compiles"; return; }
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	unit_tests $b
	api_tests $b
}

for s in $suites; do
	case $s in
	unit) run_suite unit unit_tests "$build" ;;
	api) run_suite api api_tests "$build" ;;
	api-pg) export -f api_tests; run_suite api-pg tests/pg.sh api_tests "$build" ;;
	e2e) run_suite e2e e2e_tests ;;
	asan) run_suite asan asan_tests ;;
	fuzz) run_suite fuzz tests/fuzz/run.sh ;;
	*) echo "unknown suite $s" >&2; exit 2 ;;
	esac
done

passed=$(cat "$results"/*.tap | grep -c '^ok')
failed=$(cat "$results"/*.tap | grep -c '^not ok')
if [ "$failed" -gt 0 ]; then
	echo
	echo "Failures:"
	grep -h -B1 -A6 '^not ok' "$results"/*.tap | sed 's/^/  /'
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
