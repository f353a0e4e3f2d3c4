#!/usr/bin/env bash
# The test of tests/run.sh itself: it is pointed at fake suites (fixtures/
# here, and BUILD/tests/self/fake_cmocka) that break each counting rule, and
# must end each run non-zero with a closing line that shows the failure.
# The closing line is the last line, alone: "N passed, N failed[, N skipped]".
#
#   NUBO_BUILD   the build directory (default build), for fake_cmocka
set -u
. "$(dirname "$0")/../lib.sh"
here=tests/self
build=${NUBO_BUILD:-build}
fake=$build/tests/self/fake_cmocka

# runner ENV...: runs tests/run.sh with ENV (VAR=value), sets $out and $rc
runner() {
	out=$(env "$@" tests/run.sh "$build" 2>&1)
	rc=$?
}
last() { printf '%s\n' "$out" | tail -n 1; }
closing='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'

[ -x "$fake" ]
ok $? "the fake cmocka program is built ($fake)" || exit 1
mkdir -p "$T_DIR/unit"
ln -s "$PWD/$fake" "$T_DIR/unit/test_fake"

# A cmocka program that aborts at its third of four tests.
runner NUBO_SUITES=unit NUBO_UNIT_DIR="$T_DIR/unit" FAKE_CMOCKA=abort
is "$rc" 1 "a cmocka program that aborts at its 3rd of 4 tests fails the run"
is "$(last)" "2 passed, 1 failed" "the closing line counts the abort as a failure" "$out"
like "$out" "test_fake: killed by SIGABRT; planned 4 checks, printed 2" "and the failures say why"

runner NUBO_SUITES=unit NUBO_UNIT_DIR="$T_DIR/unit" FAKE_CMOCKA=skip
is "$rc" 0 "a cmocka program that skips a test passes the run"
is "$(last)" "3 passed, 0 failed, 1 skipped" "cmocka's not-ok-SKIP line counts as skipped" "$out"

runner NUBO_SUITES=unit NUBO_UNIT_DIR="$T_DIR/unit"
is "$rc:$(last)" "0:4 passed, 0 failed" "the same program passing passes the run" "$out"

# Scripts (through the api suite) that break a rule with status 0 or with checks passed.
runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/exit
is "$rc:$(last)" "1:2 passed, 1 failed" "a script that exits non-zero after passing checks fails the run" "$out"
like "$out" "exits.sh: exited with status 3, though no check failed" "and the failures say why"

runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/plan
is "$rc:$(last)" "1:3 passed, 1 failed" "a plan of 5 with 3 checks printed fails the run" "$out"
like "$out" "short.sh: planned 5 checks, printed 3" "and the failures say why"

runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/bail
is "$rc:$(last)" "1:1 passed, 1 failed" "\"Bail out!\" fails the run" "$out"
like "$out" "bail.sh: .*Bail out! the store cannot be opened" "and the failures give the reason"

runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/unset
is "$rc:$(last)" "1:2 passed, 1 failed" "a lib.sh script that dies on an unset variable fails the run" "$out"
like "$out" "dies.sh: exited with status 1, though no check failed" "and the failures say why"
like "$out" "stopped early, with status 1, at: echo \"\\\$T_NO_SUCH_VARIABLE\"" "lib.sh names the command it died at"

runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/fails
is "$rc:$(last)" "1:1 passed, 1 failed" "a lib.sh script with a failing check is one failure, not two" "$out"
like "$out" "fails.sh: not ok 2 - two fails" "the failures list the check"

runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/pass
is "$rc:$(last)" "0:3 passed, 0 failed" "lib.sh scripts that pass, with a plan printed by lib.sh or by the script, pass the run" "$out"

runner NUBO_SUITES="unit api" NUBO_UNIT_DIR="$T_DIR/unit" NUBO_API_DIR=$here/fixtures/skip
is "$rc:$(last)" "0:4 passed, 0 failed, 1 skipped" \
	"a lib.sh script that skips itself whole (a plan of 0 with SKIP) is one skip, not a failure" "$out"

runner NUBO_SUITES=api NUBO_API_DIR=$here/fixtures/slow NUBO_PROG_LIMIT=2
is "$rc:$(last)" "1:1 passed, 1 failed" "a script still running past NUBO_PROG_LIMIT is stopped and fails the run" "$out"
like "$out" "hangs.sh: still running after NUBO_PROG_LIMIT=2 s: stopped" "and the failures say why"
like "$out" "# $here/fixtures/slow/hangs.sh: [23] s" "the time each program took is printed"
is "$(pgrep -f 'sleep 600' | wc -l)" 0 "nothing the stopped script started is left running"

# Several suites: the closing line adds them up, and stays the last line.
runner NUBO_SUITES="unit api" NUBO_UNIT_DIR="$T_DIR/unit" FAKE_CMOCKA=abort NUBO_API_DIR=$here/fixtures/bail
is "$rc:$(last)" "1:3 passed, 2 failed" "two failing suites add up in the closing line" "$out"
like "$(last)" "$closing" "the closing line is alone on the last line"

# A suite asked for that cannot run: e2e as a user other than root.
if [ "$(id -u)" -eq 0 ]; then
	out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups \
		env NUBO_SUITES="api e2e" NUBO_API_DIR=$here/fixtures/pass "$OLDPWD/tests/run.sh" "$build" 2>&1)
	rc=$?
else
	runner NUBO_SUITES="api e2e" NUBO_API_DIR=$here/fixtures/pass
fi
is "$rc:$(last)" "1:3 passed, 1 failed" "e2e asked for without root fails the run" "$out"
like "$out" "e2e: cannot run: needs root" "and the failures say why"
runner NUBO_SUITES="api" NUBO_API_DIR=$here/fixtures/none
is "$rc:$(last)" "1:0 passed, 1 failed" "a suite with no programs fails the run" "$out"

runner NUBO_SUITES="unit nosuch"
is "$rc" 2 "an unknown suite name is refused" "$out"

# like: a pattern with a newline is grep's patterns, one per line, and its
# empty line matches anything, so such a check must fail rather than pass.
probe=$(like "abc" $'zzz\n' "probe")
like "$probe" '^not ok [0-9]+ - probe' "like fails a pattern with a newline instead of matching anything" "$probe"
