#!/usr/bin/env bash
# Benchmark 10: what sampling costs nubod with 1,000 running VMs, simulated
# in dry-run (VM rows made by seed_store, each VM's CPU through the dry-run
# hook STATE/dry-run-cpu/all). Two nubods run side by side, each on a store
# of its own with the same VMs: one samples every 10 s (the default), the
# peer every hour, so its sampler sleeps through the window. The difference
# of their CPU time over the window is the sampler's cost (reading each VM,
# one transaction of rows, roll-ups and pruning); the difference of their
# RSS what its history in memory costs. Target (issue 15): under 1 % of a
# core. In dry-run a VM's figures come from the hook, not from its cgroup,
# taps and QMP: the host reads of a real VM (a few small files and one QMP
# question) are not in the figure.
#
# Run by hand: bench/10-metrics.sh [BUILD] [VMS] [SECONDS]. Needs no root.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
N=${2:-1000}
SECS=${3:-120}
OUT=$(mktemp -d /tmp/bench-metrics.XXXXXX)
chmod 755 "$OUT"   # dnsmasq (nobody) must reach the state folders, as in the tests
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for m in sample peer; do
		[ -d "$OUT/$m/state" ] && "$BUILD/src/cmd/nubod" --dry-run --state-dir "$OUT/$m/state" \
			--socket "$OUT/$m/sock" --destroy >>"$OUT/$m/log" 2>&1 || true
	done
	rm -rf "$OUT"
}
trap cleanup EXIT
[ -x "$BUILD/src/cmd/nubod" ] || { echo "no nubo build at $BUILD (ninja -C $BUILD first)" >&2; exit 1; }
cc -O2 -D_GNU_SOURCE -I"$SRC" -I"$SRC/src" -I"$BUILD" -o "$OUT/seed_store" "$SRC/bench/seed_store.c" \
	"$BUILD/src/store/libnubo_store.a" "$BUILD/src/model/libnubo_model.a" "$BUILD/src/util/libnubo_util.a" \
	$(pkg-config --cflags --libs sqlite3 jansson gnutls libpq) -lpthread -lm

start() { # start MODE: a dry-run nubod on MODE's state; sets PID
	local d=$OUT/$1
	"$BUILD/src/cmd/nubod" --dry-run --state-dir "$d/state" --socket "$d/sock" --config "$d/nubod.json" \
		>>"$d/log" 2>&1 &
	PID=$!
	for _ in $(seq 1 200); do
		[ -S "$d/sock" ] && curl -s --unix-socket "$d/sock" http://nubo/v1/types >/dev/null && return 0
		sleep 0.05
	done
	echo "nubod ($1) did not start:" >&2
	tail -20 "$d/log" >&2
	exit 1
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

for m in sample peer; do
	d=$OUT/$m
	mkdir -p "$d/state"
	chmod 755 "$d" "$d/state"
	if [ $m = sample ]; then
		echo '{"metrics": {"interval": "10s"}}' >"$d/nubod.json"
	else
		echo '{"metrics": {"interval": "1h", "keep": "24h", "coarse_step": "2h"}}' >"$d/nubod.json"
	fi
	start $m   # makes the store, its default network and firewall
	kill "$PID"
	wait "$PID" || true
	"$OUT/seed_store" "$d/state/nubo.db" vms "$N" >>"$d/log" 2>&1
	mkdir -p "$d/state/dry-run-cpu"
	echo 5 >"$d/state/dry-run-cpu/all"
done
start sample
SAMPLE=$PID
PIDS+=("$PID")
start peer
PEER=$PID
PIDS+=("$PID")
sleep 20   # adoption of the VMs, the first readings (baselines)
t0s=$(ticks $SAMPLE)
t0p=$(ticks $PEER)
rows0=$(sqlite3 "$OUT/sample/state/nubo.db" 'SELECT COUNT(*) FROM vm_metrics WHERE step = 10000')
sleep "$SECS"
t1s=$(ticks $SAMPLE)
t1p=$(ticks $PEER)
rows1=$(sqlite3 "$OUT/sample/state/nubo.db" 'SELECT COUNT(*) FROM vm_metrics WHERE step = 10000')
hz=$(getconf CLK_TCK)
pct() { awk -v t="$1" -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.2f", t / hz / s * 100}'; }
ps=$(pct $((t1s - t0s)))
pp=$(pct $((t1p - t0p)))
cost=$(awk -v a="$ps" -v b="$pp" 'BEGIN {printf "%.2f", a - b}')
echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $N running VMs (dry-run), ${SECS} s measured"
echo
echo "| nubod | CPU (% of a core) | RSS | points written |"
echo "|---|---|---|---|"
echo "| sampling every 10 s | $ps | $(($(rss_kib $SAMPLE) / 1024)) MiB | $((rows1 - rows0)) |"
echo "| peer: every hour | $pp | $(($(rss_kib $PEER) / 1024)) MiB | - |"
echo
echo "Sampling costs $cost % of a core for $N VMs (target: under 1 %): $(awk -v c="$cost" 'BEGIN {print (c < 1 ? "met" : "missed")}')."
want=$((N * SECS / 10))
[ $((rows1 - rows0)) -ge $((want * 9 / 10)) ] || echo "WARNING: $((rows1 - rows0)) points written, about $want expected: the sampler fell behind"
