#!/usr/bin/env bash
# Builds the libFuzzer harnesses (build-fuzz, clang, ASan + UBSan) and runs
# each for FUZZ_SECONDS (default 8), FUZZ_JOBS (default: the cores) at a
# time, printing one TAP line per harness:
#
#   tests/fuzz/run.sh                     every harness, 8 s each (the "fuzz" suite of tests/run.sh)
#   FUZZ_SECONDS=600 tests/fuzz/run.sh port api_vms   two harnesses, 10 minutes each
#
# Seeds come from tests/fuzz/corpus/NAME (read only); what a run discovers
# is kept in build-fuzz/corpus/NAME, so each run starts where the last one
# stopped. An input that crashes or fails a check is saved as
# build-fuzz/crashes/NAME-crash-*; replay it with build-fuzz/tests/fuzz/fuzz_NAME FILE.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
b=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-8}
n=0
failed=0

fail_build() {
	echo "not ok 1 - fuzz: $1"
	[ -s "$b/fuzz-build.log" ] && tail -20 "$b/fuzz-build.log" | sed 's/^/#   /'
	echo "1..1"
	exit 1
}

command -v clang >/dev/null || fail_build "clang is not installed (scripts/install-deps.sh installs it)"
mkdir -p "$b"
if [ ! -f "$b/build.ninja" ]; then
	CC=clang meson setup "$b" -Dfuzz=true -Dtests=false >"$b/fuzz-build.log" 2>&1 ||
		fail_build "configure $b (CC=clang meson setup $b -Dfuzz=true -Dtests=false)"
fi
# The folder is listed at configure time: a harness added (no executable yet) or
# removed (ninja misses its source) since then needs a reconfigure.
stale=false
ninja -C "$b" >"$b/fuzz-build.log" 2>&1 || stale=true
for src in tests/fuzz/fuzz_*.c; do
	[ -x "$b/tests/fuzz/$(basename "$src" .c)" ] || stale=true
done
if $stale; then
	{ meson setup --reconfigure "$b" && ninja -C "$b"; } >"$b/fuzz-build.log" 2>&1 || fail_build "the harnesses compile"
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do names+=("$(basename "$src" .c | sed 's/^fuzz_//')"); done
fi

# fuzz_one N NAME: runs one harness, prints its TAP line (and why it failed).
fuzz_one() {
	local n=$1 name=$2 exe=$b/tests/fuzz/fuzz_$2
	if [ ! -x "$exe" ]; then
		echo "not ok $n - fuzz $name: no harness tests/fuzz/fuzz_$name.c"
		return
	fi
	local work=$b/corpus/$name seeds=() log=$b/fuzz-$name.log rc runs input
	mkdir -p "$work"
	[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
	"$exe" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$b/crashes/$name-" "$work" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	runs=$(grep -aoE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+')
	if [ $rc -eq 0 ] && [ -n "$runs" ]; then
		echo "ok $n - fuzz $name: $runs runs, no crash"
	else
		input=$(grep -aoE "Test unit written to [^ ]+" "$log" | sed 's/Test unit written to //')
		echo "not ok $n - fuzz $name: exit $rc${input:+, input saved as $input}"
		grep -aE -A1 'check failed' "$log" | head -2 | cut -c1-300 | sed 's/^/#   /'
		grep -aE 'runtime error:|ERROR: |SUMMARY:' "$log" | head -3 | cut -c1-300 | sed 's/^/#   /'
		echo "#   full report: $log"
	fi
}

# FUZZ_JOBS harnesses at a time (default: one per core); lines in order.
jobs=${FUZZ_JOBS:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$b/crashes"
for name in "${names[@]}"; do
	n=$((n + 1))
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	fuzz_one "$n" "$name" >"$out/$n" &
done
wait
for i in $(seq 1 "$n"); do
	cat "$out/$i"
	grep -q '^not ok' "$out/$i" && failed=$((failed + 1))
done
echo "1..$n"
[ "$failed" -eq 0 ]
