#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed" (and
# ", N skipped" when a check was skipped). It exits 0 only when nothing failed.
#
#   self  this runner, on fake suites that break each rule below   tests/self
#   unit  cmocka, no root                      BUILD/tests/unit/test_*
#   api   a real nubod (host in dry-run)       tests/api/*.sh
#   api-pg  the same on a private PostgreSQL    tests/api/*.sh, tests/pg.sh
#   e2e   real QEMU, dnsmasq, nftables (root)  tests/e2e/*.sh, some again on PostgreSQL
#   cluster  three hosts in network namespaces on one private PostgreSQL,
#         real QEMU, dnsmasq, nftables and VXLAN (root)  tests/cluster/*.sh
#   browser  the web console in headless chromium (playwright-core) on a
#         real nubod with a real tiny VM (root)  tests/browser/*.sh
#   asan  unit and api again, built with AddressSanitizer and UBSan
#   fuzz  every libFuzzer harness for FUZZ_SECONDS (8) each   tests/fuzz
#
# Every test program speaks TAP. A program counts its "ok" lines as passed,
# its "not ok" lines as failed, and a "# SKIP" on either (cmocka prints
# "not ok N # SKIP") as skipped, as is a "# TODO" (a known failure, written
# down where it stands; TAP does not count it as failed), and a plan
# "1..0 # SKIP reason" (a program that cannot run here) as one skip. A program also adds one failure when it
# exits non-zero without a failed check, is killed by a signal, prints no
# plan ("1..N") or a plan other than the checks it printed, or prints
# "Bail out!". A suite that was asked for and cannot run is a failure too.
# The asan suite re-runs unit and api: its counts are shown apart, and only
# its failures join the closing line (see docs/testing.md).
#
#   NUBO_SUITES="unit api"   run a subset (what is left out is not a failure)
#   NUBO_UNIT_DIR, NUBO_API_DIR, NUBO_E2E_DIR   where the unit programs and the
#                            api and e2e scripts are (tests/self points them at fakes)
#   NUBO_E2E_PG="lifecycle.sh burst.sh network.sh storage.sh"   e2e scripts the e2e suite runs again on
#                            PostgreSQL, each on a private cluster ("": none)
#   NUBO_JOBS=N              programs of the unit, api, api-pg and asan suites
#                            run N at a time (default: one per core)
#   NUBO_TINY_KERNEL=build   (the default here) a tiny image built by a test
#                            waits for tiny's own kernel on a host that has none
#                            yet, instead of booting Debian's kernel meanwhile as
#                            `make demo` does: the suites test tiny as it ships
#   NUBO_PROG_LIMIT=900      seconds a program may run; past it, it is stopped
#                            (SIGTERM to its process group, SIGKILL 60 s later)
#                            and counts as a failure, and the run goes on
#
# After each program a "# LABEL: N s" line gives its time, so that a slow
# run says where its time went.
#
# Adding a suite: write suite_NAME (it calls run_prog once per program, or
# suite_cannot_run), and add NAME to all_suites.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
export NUBO_TINY_KERNEL=${NUBO_TINY_KERNEL:-build}
all_suites="self unit api api-pg e2e cluster browser asan fuzz"
suites=${NUBO_SUITES:-$all_suites}
unit_dir=${NUBO_UNIT_DIR:-$build/tests/unit}
api_dir=${NUBO_API_DIR:-tests/api}
e2e_dir=${NUBO_E2E_DIR:-tests/e2e}
e2e_pg=${NUBO_E2E_PG-lifecycle.sh burst.sh network.sh storage.sh}   # e2e scripts run again on PostgreSQL
prog_limit=${NUBO_PROG_LIMIT:-900}
jobs=${NUBO_JOBS:-$(nproc)}
results=$(mktemp -d /tmp/nubo-test.XXXXXX)
. tests/pg.sh   # pg_cluster_start / pg_cluster_stop, for api-pg
trap 'pg_cluster_stop; rm -rf "$results"' EXIT

# Counts per suite, in files under $results so that suite functions may run
# programs in subshells: SUITE.counts holds "passed failed skipped" lines,
# SUITE.failures the failures to list at the end.
suite=
prog_n=0
prog_env=()   # VAR=value given to every program of a suite (asan sets its options)

count() { # passed failed skipped
	echo "$1 $2 $3" >>"$results/$suite.counts"
}

# suite_cannot_run REASON: the suite was asked for and cannot run; one failure.
suite_cannot_run() {
	echo "FAIL $suite cannot run: $1"
	printf '%s: cannot run: %s\n' "$suite" "$1" >>"$results/$suite.failures"
	count 0 1 0
}

# run_prog LABEL COMMAND...: runs one test program and counts it by the
# rules above. With prog_jobs=1 its TAP lines show as they come; with more,
# up to prog_jobs programs run at once and each one's lines show when it
# ends, in the order they were started (prog_wait waits for the rest).
run_prog() {
	local label=$1; shift
	prog_n=$((prog_n + 1))
	local base=$results/$suite.$prog_n
	printf '%s' "$label" >"$base.label"
	if [ "$prog_jobs" -le 1 ]; then
		prog_run "$base" "$@" | grep --line-buffered -E '^(not ok|ok|#|Bail out!)'
		prog_report "$prog_n"
		return
	fi
	while [ "$(jobs -rp | wc -l)" -ge "$prog_jobs" ]; do
		wait -n
		prog_report_done
	done
	prog_run "$base" "$@" >/dev/null &
}

# prog_run BASE COMMAND...: runs it under the time limit; its output goes to
# BASE.tap (and stdout), its exit status to BASE.rc, its seconds to BASE.secs.
prog_run() {
	local base=$1 t0=$SECONDS; shift
	timeout -k 60 "$prog_limit" "$@" 2>&1 | tee "$base.tap"
	local rc=${PIPESTATUS[0]}
	echo $((SECONDS - t0)) >"$base.secs"
	echo "$rc" >"$base.rc"
}

# prog_report_done: reports the programs that ended, in order, up to the
# first one still running. prog_wait: waits for all, and reports them.
prog_reported=0
prog_report_done() {
	while [ "$prog_reported" -lt "$prog_n" ] && [ -f "$results/$suite.$((prog_reported + 1)).rc" ]; do
		grep -E '^(not ok|ok|#|Bail out!)' "$results/$suite.$((prog_reported + 1)).tap"
		prog_report $((prog_reported + 1))
	done
}
prog_wait() {
	wait
	prog_report_done
}

# prog_report N: prints the time of program N of this suite and counts it.
prog_report() {
	prog_reported=$1
	local base=$results/$suite.$1 label rc secs
	label=$(cat "$base.label"); rc=$(cat "$base.rc"); secs=$(cat "$base.secs")
	local tap=$base.tap
	echo "# $label: $secs s"
	# passed failed skipped plans plan bail-reason
	local counts passed failed skipped plans plan bail
	counts=$(awk '
		/^(not )?ok([ \t]|$)/ {
			if (tolower($0) ~ /#[ \t]*(skip|todo)([^a-z]|$)/) s++
			else if (/^ok/) p++
			else f++
		}
		/^1\.\.[0-9]+/ { plans++; match($0, /^1\.\.[0-9]+/); plan = substr($0, 4, RLENGTH - 3)
			if (plan == 0 && tolower($0) ~ /#[ \t]*skip/) skipall = 1 }
		/^Bail out!/ && !bail { bail = "-" substr($0, 10) }
		# "1..0 # SKIP reason": the program skipped itself whole, one skip
		END { if (skipall) { s++; plan = 1 }
			printf "%d %d %d %d %s %s", p, f, s, plans, (plan == "" ? "-" : plan), (bail == "" ? "" : bail) }
	' "$tap")
	read -r passed failed skipped plans plan bail <<<"$counts"
	local printed=$((passed + failed + skipped)) problems=()
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && [ "$secs" -ge "$prog_limit" ]; then
		problems+=("still running after NUBO_PROG_LIMIT=$prog_limit s: stopped")
	elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
		problems+=("killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))")
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		problems+=("exited with status $rc, though no check failed")
	fi
	if [ "$plans" -eq 0 ]; then
		problems+=("printed no plan (1..N)")
	elif [ "$plans" -gt 1 ]; then
		problems+=("printed $plans plans")
	elif [ "$plan" -ne "$printed" ]; then
		problems+=("planned $plan checks, printed $printed")
	fi
	[ -n "$bail" ] && problems+=("Bail out!${bail#-}")
	if [ ${#problems[@]} -gt 0 ]; then
		local why
		why=$(printf '%s; ' "${problems[@]}"); why=${why%; }
		echo "FAIL $label: $why"
		failed=$((failed + 1))
		printf '%s: %s\n' "$label" "$why" >>"$results/$suite.failures"
		# where a stopped program was: the last lines it printed
		case $why in *"still running after"*) tail -n 15 "$tap" | sed 's/^/    /' >>"$results/$suite.failures" ;; esac
	fi
	if [ "$failed" -gt 0 ] && grep -q '^not ok' "$tap"; then
		# each failed check and the comment lines that follow it
		awk -v l="$label" '
			/^not ok/ && tolower($0) !~ /#[ \t]*(skip|todo)([^a-z]|$)/ { print l ": " $0; n = 8; next }
			/^#/ && n > 0 { print "    " $0; n--; next }
			{ n = 0 }' "$tap" >>"$results/$suite.failures"
	fi
	count "$passed" "$failed" "$skipped"
}

sum() { # SUITE... : "passed failed skipped" over those suites
	local s
	for s in "$@"; do cat "$results/$s.counts" 2>/dev/null; done |
		awk '{p += $1; f += $2; s += $3} END {printf "%d %d %d", p, f, s}'
}
tally() { # passed failed skipped: "N passed, N failed[, N skipped]"
	printf '%d passed, %d failed' "$1" "$2"
	[ "$3" -gt 0 ] && printf ', %d skipped' "$3"
	return 0
}

# --- the suites ------------------------------------------------------------------------

suite_self() {
	run_prog tests/self/runner.sh env NUBO_BIN="$build/src/cmd" NUBO_BUILD="$build" bash tests/self/runner.sh
}

unit_progs() { # DIR: every cmocka program in DIR
	local exe found=0
	for exe in "$1"/test_*; do
		[ -x "$exe" ] && [ -f "$exe" ] || continue
		found=1
		run_prog "$exe" env "${prog_env[@]}" CMOCKA_MESSAGE_OUTPUT=TAP "$exe"
	done
	[ $found = 1 ] || suite_cannot_run "no test programs in $1 (was it built with -Dtests=true?)"
}

api_scripts() { # BIN_DIR: every api script against that build's nubod
	local t found=0
	for t in "$api_dir"/*.sh; do
		[ -f "$t" ] || continue
		found=1
		run_prog "$t" env "${prog_env[@]}" NUBO_BIN="$1" bash "$t"
	done
	[ $found = 1 ] || suite_cannot_run "no scripts in $api_dir"
}

suite_unit() { unit_progs "$unit_dir"; }
suite_api() { api_scripts "$build/src/cmd"; }

# The api scripts again, each on a fresh database of one private PostgreSQL cluster.
suite_api_pg() {
	pg_cluster_start >"$results/pg.log" 2>&1 || { cat "$results/pg.log"; suite_cannot_run "a private PostgreSQL cluster (tests/pg.sh)"; return; }
	prog_env=(NUBO_TEST_DATABASE=postgres NUBO_TEST_PG_DIR="$NUBO_TEST_PG_DIR" NUBO_TEST_PG_PORT="$NUBO_TEST_PG_PORT")
	api_scripts "$build/src/cmd"
	prog_wait   # before the cluster stops
	prog_env=()
	pg_cluster_stop
}

suite_e2e() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
		suite_cannot_run "needs root and /dev/net/tun (leave it out with NUBO_SUITES=\"unit api ...\")"
		return
	fi
	# The crash-point scripts (crash_*.sh) kill a nubod built with -Dcrashpoints=true at named steps.
	local b=build-crash
	if [ ! -f $b/build.ninja ]; then
		meson setup $b -Dcrashpoints=true -Dtests=false >"$results/build-crash.log" 2>&1 ||
			{ tail -20 "$results/build-crash.log"; suite_cannot_run "configure $b (meson setup $b -Dcrashpoints=true -Dtests=false)"; return; }
	fi
	ninja -C $b >"$results/build-crash.log" 2>&1 ||
		{ tail -20 "$results/build-crash.log"; suite_cannot_run "the crash-point build $b compiles"; return; }
	local t found=0
	for t in "$e2e_dir"/*.sh; do
		[ -f "$t" ] || continue
		found=1
		run_prog "$t" env NUBO_BIN="$build/src/cmd" NUBO_CRASH_BIN="$b/src/cmd" bash "$t"
	done
	[ $found = 1 ] || suite_cannot_run "no scripts in $e2e_dir"
	# Some again on PostgreSQL, each on a private cluster of its own that
	# tests/lib.sh starts and removes: a VM's whole life with a kill -9 of
	# nubod, a kill -9 in a burst of creates and deletes, networks and
	# firewalls between real VMs, and disks, imports and volumes.
	for t in $e2e_pg; do
		[ -f "$e2e_dir/$t" ] || continue
		run_prog "$e2e_dir/$t (PostgreSQL)" env NUBO_TEST_DATABASE=postgres NUBO_BIN="$build/src/cmd" \
			NUBO_CRASH_BIN="$b/src/cmd" bash "$e2e_dir/$t"
	done
}

# Each script starts its own private PostgreSQL and three hosts (tests/cluster-lib.sh).
suite_cluster() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
		suite_cannot_run "needs root and /dev/net/tun (leave it out with NUBO_SUITES=\"unit api ...\")"
		return
	fi
	local t found=0
	for t in tests/cluster/*.sh; do
		[ -f "$t" ] || continue
		found=1
		run_prog "$t" env -u NUBO_TEST_PG_DIR -u NUBO_TEST_PG_PORT NUBO_BIN="$build/src/cmd" bash "$t"
	done
	[ $found = 1 ] || suite_cannot_run "no scripts in tests/cluster"
}

# Screenshots of every page land in NUBO_TEST_OUT/browser (default BUILD/test-output).
suite_browser() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
		suite_cannot_run "needs root and /dev/net/tun (leave it out with NUBO_SUITES=\"unit api ...\")"
		return
	fi
	local t found=0
	for t in tests/browser/*.sh; do
		[ -f "$t" ] || continue
		found=1
		run_prog "$t" env NUBO_BIN="$build/src/cmd" NUBO_TEST_OUT="${NUBO_TEST_OUT:-$PWD/$build/test-output}" \
			NUBO_WEB_INDEX="$build/web/index.html" bash "$t"
	done
	[ $found = 1 ] || suite_cannot_run "no scripts in tests/browser"
}

suite_asan() {
	local b=build-asan
	if [ ! -f $b/build.ninja ]; then
		meson setup $b -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >"$results/build-asan.log" 2>&1 ||
			{ tail -20 "$results/build-asan.log"; suite_cannot_run "configure the sanitizer build $b"; return; }
	fi
	ninja -C $b >"$results/build-asan.log" 2>&1 ||
		{ tail -20 "$results/build-asan.log"; suite_cannot_run "the sanitizer build $b compiles"; return; }
	prog_env=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
	unit_progs $b/tests/unit
	api_scripts $b/src/cmd
	prog_env=()
}

suite_fuzz() { run_prog tests/fuzz/run.sh tests/fuzz/run.sh; }

for s in $suites; do
	case " $all_suites " in *" $s "*) ;; *) echo "unknown suite $s (known: $all_suites)" >&2; exit 2 ;; esac
done
for suite in $suites; do
	echo "=== $suite"
	t0=$SECONDS
	: >"$results/$suite.counts"
	prog_n=0 prog_reported=0
	# Programs of the dry-run suites run side by side; e2e's VMs and the
	# fuzzers each want a core to themselves, and self times its runs.
	case $suite in unit | api | api-pg | asan) prog_jobs=$jobs ;; *) prog_jobs=1 ;; esac
	"suite_${suite//-/_}"
	prog_wait
	echo "--- $suite: $(tally $(sum "$suite")) ($((SECONDS - t0)) s)"
done

# The closing lines. asan re-runs unit and api, so its passes and skips are
# not added to the total (unless nothing else ran); its failures are.
others=()
for s in $suites; do [ "$s" = asan ] || others+=("$s"); done
read -r passed failed skipped <<<"$(sum "${others[@]}")"
read -r apassed afailed askipped <<<"$(sum asan)"
if [ "$((passed + failed + skipped))" -eq 0 ]; then
	passed=$apassed skipped=$askipped
fi
failed=$((failed + afailed))
if [ "$failed" -gt 0 ]; then
	echo
	echo "Failures:"
	for s in $suites; do
		[ -s "$results/$s.failures" ] && sed "s/^/  $s  /" "$results/$s.failures"
	done
fi
echo
case " $suites " in *" asan "*) echo "asan (unit and api again, not in the total): $(tally "$apassed" "$afailed" "$askipped")" ;; esac
tally "$passed" "$failed" "$skipped"
echo
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
