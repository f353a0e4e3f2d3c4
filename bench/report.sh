#!/usr/bin/env bash
# report.sh BENCH_DIR: RESULTS.md, on stdout, from what bench/run.sh and the
# benchmark scripts left in BENCH_DIR (out/*.md, out/meta.env, data/*.tsv).
# run.sh calls it; with BENCH_KEEP=1 it can be run again on a kept directory.
set -uo pipefail
BENCH_DIR=$1
BENCH_SRC=$(cd "$(dirname "$0")" && pwd)
export BENCH_DIR BENCH_SRC
. "$BENCH_DIR/out/meta.env"
echo "# nubo benchmarks"
echo
echo "Written by \`make bench\` (bench/run.sh) on $DATE; $((ELAPSED / 60)) min $((ELAPSED % 60)) s for all of it."
echo "Every figure is the median over N=$BENCH_N runs with (min–max), and every"
echo "comparison a ratio against a peer measured in the same run, on the same machine,"
echo "computed run by run and then summarised the same way."
echo
echo "## Machine"
echo
echo "| | |"
echo "|---|---|"
echo "| CPU | $CORES cores, $CPU_MODEL |"
echo "| memory | $MEM |"
echo "| accel | $ACCEL (no vmx/svm: nubod's probe) — every guest here runs under TCG |"
echo "| kernel | $KERNEL |"
echo "| QEMU | $QEMU_VERSION |"
echo "| libvirt | $LIBVIRT_VERSION: $LIBVIRT_NOTE |"
echo "| nubo | commit $COMMIT, built in $BUILD |"
echo "| load | load average $LOAD_BEFORE before, $LOAD_AFTER after; busy at the start: ${BUSY_BEFORE:-nothing else} |"
echo
echo "The machine is shared: other work running at the same time adds noise; the"
echo "interleaving spreads it over all peers alike, the spreads show it."
echo
bash "$BENCH_SRC/findings.sh" targets
echo
echo "## Method"
echo
cat "$BENCH_SRC/METHOD.md"
echo
echo "Setup costs, once per run and in no figure below: \`nubo image build tiny\` took"
echo "$(awk -v m="$IMAGE_BUILD_MS" 'BEGIN { printf "%.1f s", m / 1000 }') (kernel .deb cached); the very first VM of a fresh nubod, which also brings"
echo "up the network (bridge, dnsmasq, nftables), was answering after $(awk -v m="$COLD_MS" 'BEGIN { printf "%.2f s", m / 1000 }') (CLI time)."
echo
for b in $BENCH_ONLY; do
	f=$(ls "$BENCH_DIR"/out/0"$b"-*.md 2>/dev/null | head -n 1)
	if [ -n "$f" ]; then
		cat "$f"
	else
		rc=$(tr ' ' '\n' <<<"$RAN" | sed -n "s/^$b://p")
		echo "## Benchmark $b"
		echo
		echo "Produced no results (exit ${rc:-?}); see the output of \`make bench\`."
	fi
	echo
done
bash "$BENCH_SRC/findings.sh" findings
echo
echo "## Raw data"
echo
echo "<details><summary>Per-run values (ms from the request unless the column says otherwise)</summary>"
echo
for f in "$BENCH_DIR"/data/*.tsv; do
	[ -f "$f" ] || continue
	echo "\`$(basename "$f")\`"
	echo
	echo '```'
	cat "$f"
	echo '```'
	echo
done
echo "</details>"
