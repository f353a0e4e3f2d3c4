#!/usr/bin/env bash
# Benchmark 14 (run by hand, not by run.sh): request → SSH of a VM placed
# through a remote host's API, against the same VM created through its own
# host's API (issue 13). A cloud of three hosts on one machine, each a
# network namespace with its own nubod on one private PostgreSQL
# (tests/cluster-lib.sh, the cluster suite's set-up). Each of BENCH_N (5)
# rounds creates two tiny nano VMs pinned to h2, one at a time, in turns
# (which goes first alternates):
#
#   local    nubo vm create … --host h2 through h2's API
#   remote   the same through h1's API: h1 admits it, h2 hears of it
#            through the event log (LISTEN/NOTIFY) and starts it
#
# and times each from the CLI's call until h2's nubod launched its QEMU (the
# time stamp of h2's log line) and until its SSH port answers with a
# banner, probed every 50 ms from h2's namespace; then deletes both. The
# figures are remote ÷ local, round by round: the launch isolates what the
# remote path adds (admission on h1, the event log to h2), the banner is
# what a user waits for, a tiny boot under TCG included.
#
#   bench/14-remote.sh [BUILD_DIR]     (root) prints a markdown table
#
# Everything (namespaces, nubods, PostgreSQL, /tmp/nubo-t.*) is removed at
# the end, also after a failure or Ctrl-C (cluster-lib.sh's clean-up).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd) || exit 1
N=${BENCH_N:-5}
say() { echo "# $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
[ "$(id -u)" = 0 ] || { echo "14-remote: needs root (network namespaces)" >&2; exit 1; }
export NUBO_BIN=$BUILD/src/cmd
. "$SRC/tests/cluster-lib.sh" >/dev/null
# cluster-lib's checks print TAP; a bench only says what failed.
fail() { echo "14-remote: $*" >&2; exit 1; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
cl_setup >/dev/null || fail "cannot set up the namespaces"
cl_start_all >/dev/null || fail "the nubods did not start"
say "building tiny on h1"
cl_image_tiny || fail "tiny was not built"
n=$((RANDOM % 200 + 20))
cnubo h1 network create bn --cidr "10.$n.9.0/24" >/dev/null 2>&1 || fail "network bn"
# A first VM on h2 brings bn's bridge, dnsmasq and segment up there, so no
# round pays for it.
cl_vm h2 warm --host h2 --network bn >"$T_DIR/warm.log" 2>&1 || fail "the warm-up VM did not boot: $(tail -3 "$T_DIR/warm.log")"

# log_ms NAME: the ms time stamp of h2's "vm NAME: QEMU started" line.
log_ms() {
	local ts
	ts=$(grep -m1 "INFO  vm $1: QEMU started" "${CL_LOG[h2]}" | cut -d' ' -f1)
	[ -n "$ts" ] && date -d "$ts" +%s%3N
}

# one VIA NAME: prints "LAUNCH_MS SSH_MS", from the call until h2 launched
# NAME's QEMU and until its SSH banner.
one() {
	local via=$1 name=$2 t0 ip i launched
	t0=$(now_ms)
	cnubo "$via" vm create "$name" --type nano --host h2 --network bn --ssh-key "$T_DIR/id.pub" >"$T_DIR/$name.out" 2>&1 ||
		fail "nubo vm create $name through $via: $(cat "$T_DIR/$name.out")"
	ip=$(cl_vm_field "$name" ip)
	for i in $(seq 1 2400); do
		if cin h2 timeout 1 bash -c "exec 3<>/dev/tcp/$ip/22 && head -c 4 <&3" 2>/dev/null | grep -q SSH-; then
			i=$(now_ms)
			launched=$(log_ms "$name") || fail "no QEMU start of $name in h2's log"
			echo "$((launched - t0)) $((i - t0))"
			return 0
		fi
		sleep 0.05
	done
	fail "$name ($ip) never answered SSH"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
declare -a LOC REM RAT LLOC LREM LRAT
for r in $(seq 1 "$N"); do
	if [ $((r % 2)) -eq 1 ]; then
		l=$(one h2 "l$r") || exit 1
		m=$(one h1 "r$r") || exit 1
	else
		m=$(one h1 "r$r") || exit 1
		l=$(one h2 "l$r") || exit 1
	fi
	LLOC+=("${l% *}") LREM+=("${m% *}") LRAT+=("$(ratio "${m% *}" "${l% *}")")
	LOC+=("${l#* }") REM+=("${m#* }") RAT+=("$(ratio "${m#* }" "${l#* }")")
	say "round $r: local launch ${l% *} ms, SSH ${l#* } ms; remote launch ${m% *} ms, SSH ${m#* } ms"
	cnubo h2 vm delete "l$r" --wait >/dev/null 2>&1
	cnubo h2 vm delete "r$r" --wait >/dev/null 2>&1
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {printf "%s / %s / %s", a[1], a[int((NR + 1) / 2)], a[NR]}'; }
echo "| round | launch: local (via h2) ms | remote (via h1) ms | remote ÷ local | SSH: local ms | remote ms | remote ÷ local |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for i in "${!LOC[@]}"; do
	echo "| $((i + 1)) | ${LLOC[$i]} | ${LREM[$i]} | ${LRAT[$i]} | ${LOC[$i]} | ${REM[$i]} | ${RAT[$i]} |"
done
echo "| min / median / max | $(stats "${LLOC[@]}") | $(stats "${LREM[@]}") | $(stats "${LRAT[@]}") |" \
	"$(stats "${LOC[@]}") | $(stats "${REM[@]}") | $(stats "${RAT[@]}") |"
echo
echo "Accel: $(body_of "$(capi h2 GET /v1/hosts/h2)" | jq -r .accel); load average before: $LOAD_BEFORE, after: $LOAD_AFTER; $(nproc) CPUs."
T_FAILED=0
exec >/dev/null   # lib.sh's plan line at exit is not part of the table
