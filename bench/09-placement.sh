#!/usr/bin/env bash
# Benchmark 9: the scheduler (model/placement.c, the code nubod runs in its
# admission transaction) places 100,000 VMs on 10,000 simulated hosts in
# memory, with spread and with pack; the peer is a plain scan of every host
# per VM on the same load (bench/placement.c). Target (issue 13): under 1 s
# in total. Run by hand: bench/09-placement.sh [BUILD] [HOSTS] [VMS];
# figures in RESULTS-placement.md. Needs no root and no nubod.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
OUT=$(mktemp -d /tmp/bench-placement.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
[ -f "$BUILD/src/model/libnubo_model.a" ] || { echo "no nubo build at $BUILD (ninja -C $BUILD first)" >&2; exit 1; }
cc -O2 -std=c17 -D_GNU_SOURCE -I"$SRC/src" -I"$BUILD" "$SRC/bench/placement.c" \
	"$BUILD/src/model/libnubo_model.a" "$BUILD/src/util/libnubo_util.a" $(pkg-config --libs jansson) \
	-o "$OUT/placement_bench"
echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
"$OUT/placement_bench" "${2:-10000}" "${3:-100000}"
