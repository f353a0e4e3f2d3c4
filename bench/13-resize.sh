#!/usr/bin/env bash
# Benchmark 13 (run by hand, not by run.sh): a live resize until the guest
# sees it, against the same resize done offline (issue 15). A private nubod
# runs one tiny VM of type r1 (1 vCPU, 256 MiB) with ceiling r2m (2 vCPUs,
# 512 MiB). Inside it a shell loop prints `nproc` and MemTotal every 0.1 s
# over one SSH session; the host stamps each line as it arrives. Each of
# BENCH_N (3) runs measures, from the CLI's call:
#   cpu live     resize r1 → r2: until the guest's nproc says 2
#   mem live     resize r2 → r2m: until MemTotal has grown by the 256 MiB DIMM
#   mem unplug   resize r2m → r2: until MemTotal is back (the DIMM unplugged)
#   restart      resize r1 → r2m --restart (the peer: stop, change, start):
#                until a new SSH session sees nproc 2 and the larger MemTotal
# and the ratios live ÷ restart, run by run. The loop's 0.1 s is the
# resolution of the live figures.
#
#   bench/13-resize.sh [BUILD_DIR]        (root) prints markdown tables
#
# Everything it makes (nubod, the VM, network, /tmp/nubo-rzbench.*) is
# removed at the end, also after a failure or Ctrl-C.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd) || exit 1
N=${BENCH_N:-3}
die() { echo "13-resize: $*" >&2; exit 1; }
say() { echo "# $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

[ "$(id -u)" = 0 ] || die "the VM needs a bridge and a tap: run as root"
[ -x "$BUILD/src/cmd/nubod" ] || die "no nubod in $BUILD: build first"
W=$(mktemp -d /tmp/nubo-rzbench.XXXXXX)
chmod 755 "$W" # dnsmasq re-reads its hosts file as nobody
NUBOD=$BUILD/src/cmd/nubod NUBO=$BUILD/src/cmd/nubo
export NUBO_SOCKET=$W/nubod.sock XDG_CONFIG_HOME=$W/config
PIDS=() WATCH=
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in $WATCH "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait "${PIDS[@]}" 2>/dev/null   # nubod gone before --destroy takes its state
	# --destroy stops the VM, which also ends a watcher's SSH session
	"$NUBOD" --state-dir "$W/state" --socket "$NUBO_SOCKET" --destroy >>"$W/nubod.log" 2>&1
	wait 2>/dev/null
	[ -n "${BENCH_KEEP:-}" ] && say "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$W/nubod.json" <<'JSON'
{"types": [
  {"name": "r1", "vcpus": 1, "memory_mib": 256},
  {"name": "r2", "vcpus": 2, "memory_mib": 256},
  {"name": "r2m", "vcpus": 2, "memory_mib": 512}
]}
JSON
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
"$NUBOD" --state-dir "$W/state" --socket "$NUBO_SOCKET" --config "$W/nubod.json" >>"$W/nubod.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -sf --unix-socket "$NUBO_SOCKET" http://nubo/v1/types >/dev/null && break; sleep 0.05; done
curl -sf --unix-socket "$NUBO_SOCKET" http://nubo/v1/types >/dev/null || die "nubod did not start (see $W/nubod.log)"
ssh-keygen -q -t ed25519 -N "" -C rzbench -f "$W/id" || die "ssh-keygen failed"
say "building tiny and booting b13"
"$NUBO" image build tiny --wait >"$W/image.log" 2>&1 || die "nubo image build tiny failed: $(tail -3 "$W/image.log")"
"$NUBO" vm create b13 --type r1 --max-type r2m --ssh-key "$W/id.pub" --wait >"$W/create.log" 2>&1 ||
	die "b13 did not boot: $(tail -3 "$W/create.log")"
on() { "$NUBO" vm ssh b13 -- "$@" 2>>"$W/ssh.err"; }
resize() { "$NUBO" vm resize b13 "$@" >>"$W/resize.log" 2>&1 || die "nubo vm resize b13 $* failed: $(tail -3 "$W/resize.log")"; }

# The guest's view, "MS NPROC MEMTOTAL_MIB" per line, stamped on arrival.
# The loop in the guest ends when /run/b13-stop appears, and the SSH
# session with it (killing the host's end would leave ssh writing into a
# closed pipe only when the next line comes).
watch_start() {
	: >"$W/watch.log"
	on 'rm -f /run/b13-stop; while [ ! -e /run/b13-stop ]; do
		echo "$(nproc) $(awk "/MemTotal/ {print int(\$2 / 1024)}" /proc/meminfo)"; sleep 0.1; done' |
		while read -r n m; do echo "$(now_ms) $n $m"; done >>"$W/watch.log" &
	WATCH=$!
	for _ in $(seq 1 300); do [ -s "$W/watch.log" ] && return; sleep 0.1; done
	die "no answer from the watcher in b13"
}
watch_stop() { on touch /run/b13-stop; wait "$WATCH" 2>/dev/null; WATCH=; }
# until_seen T0 AWK_TEST: ms from T0 to the first line after T0 that passes
# the test (fields: $2 nproc, $3 MemTotal), for up to 120 s; or "timeout".
until_seen() {
	local t0=$1 test=$2 t
	while :; do
		t=$(awk -v t0="$t0" "\$1 >= t0 && ($test) { print \$1 - t0; exit }" "$W/watch.log")
		[ -n "$t" ] && { echo "$t"; return; }
		[ $(($(now_ms) - t0)) -gt 120000 ] && { echo timeout; return; }
		sleep 0.05
	done
}

m0=$(on "awk '/MemTotal/ {print int(\$2 / 1024)}' /proc/meminfo")
[ -n "$m0" ] || die "cannot read MemTotal in b13"
say "b13 boots with $m0 MiB in MemTotal"
echo $'run\tcpu_live_ms\tmem_live_ms\tmem_unplug_ms\trestart_ms' >"$W/runs.tsv"
for i in $(seq 1 "$N"); do
	watch_start
	t0=$(now_ms); resize --type r2; cpu=$(until_seen "$t0" '$2 == 2')
	t0=$(now_ms); resize --type r2m; mem=$(until_seen "$t0" "\$3 >= $m0 + 200")
	t0=$(now_ms); resize --type r2; del=$(until_seen "$t0" "\$3 <= $m0 + 16")
	watch_stop
	resize --type r1 --restart --wait
	t0=$(now_ms)
	resize --type r2m --restart --wait
	while :; do
		read -r n m < <(on 'echo "$(nproc) $(awk "/MemTotal/ {print int(\$2 / 1024)}" /proc/meminfo)"')
		[ "${n:-0}" = 2 ] && [ "${m:-0}" -ge $((m0 + 200)) ] && { rst=$(($(now_ms) - t0)); break; }
		[ $(($(now_ms) - t0)) -gt 300000 ] && { rst=timeout; break; }
		sleep 0.1
	done
	resize --type r1 --restart --wait
	printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$cpu" "$mem" "$del" "$rst" >>"$W/runs.tsv"
	say "run $i/$N: cpu live $cpu ms, memory live $mem ms, memory unplug $del ms, restart $rst ms"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---------------------------------------------------------------------------------
stat() {
	grep -v timeout | sort -g | awk -v f="${1:-%.0f}" '{ v[NR] = $1 } END {
		if (!NR) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf f " (" f "–" f ")\n", m, v[1], v[NR] }'
}
column_of() { tail -n +2 "$W/runs.tsv" | cut -f"$1"; }
ratio() { tail -n +2 "$W/runs.tsv" | awk -F'\t' -v c="$1" '$c != "timeout" && $5 != "timeout" && $5 > 0 { printf "%.3f\n", $c / $5 }'; }
timeouts() { column_of "$1" | grep -c timeout; }

echo "### Live resize until the guest sees it, against a restart (issue 15)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, accel $(curl -s --unix-socket "$NUBO_SOCKET" http://nubo/v1/host | jq -r .accel);"
echo "load average $LOAD_BEFORE before, $LOAD_AFTER after. One tiny VM (r1: 1 vCPU, 256 MiB; ceiling r2m: 2 vCPUs,"
echo "512 MiB), $N runs. Times from the CLI's call until the guest shows the change (nproc and MemTotal read"
echo "every 0.1 s in the guest); restart: \`--restart\` to r2m until a new SSH session sees both. Median (min–max)."
echo
echo "| change | ms | ÷ restart (run by run) | timeouts |"
echo "|---|---:|---:|---:|"
echo "| cpu live: nproc 1 → 2 | $(column_of 2 | stat) | $(ratio 2 | stat %.3f) | $(timeouts 2) |"
echo "| memory live: +256 MiB DIMM | $(column_of 3 | stat) | $(ratio 3 | stat %.3f) | $(timeouts 3) |"
echo "| memory unplug: −256 MiB DIMM | $(column_of 4 | stat) | $(ratio 4 | stat %.3f) | $(timeouts 4) |"
echo "| restart (the peer): 1 → 2 vCPUs and +256 MiB | $(column_of 5 | stat) | 1 | $(timeouts 5) |"
echo
echo "Raw:"
echo
echo '```'
cat "$W/runs.tsv"
echo '```'
