#!/usr/bin/env bash
# e2e, random kills: nubod is killed with kill -9 at a random moment (0 to
# NUBO_CRASH_WINDOW_MS, default 150 ms) after asking for a snapshot of a
# running VM, or of a stopped one every fourth round, then started again.
# Each round it must converge: the snapshot's operation ends, the guest reads
# every line it wrote, every qcow2 is sound with its chain whole; at the end
# every snapshot taken restores to what it held.
#
# make test runs NUBO_CRASH_ROUNDS (default 6) rounds; by hand, for the
# figures in docs/testing.md:  NUBO_CRASH_ROUNDS=300 bash tests/e2e/crash_random.sh
set -u
. "$(dirname "$0")/../lib.sh"

rounds=${NUBO_CRASH_ROUNDS:-6}
window=${NUBO_CRASH_WINDOW_MS:-150}
nubod_start || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
"$NUBO" vm create r1 --type nano --wait >/dev/null 2>&1
ok $? "a VM starts"

on() { "$NUBO" vm ssh r1 -- "$@" 2>>"$T_DIR/ssh.err"; }

written=""
snaps=() snap_log=()
cut=0 after=0 failed_rounds=0   # kills before the snapshot was taken / after
for r in $(seq 1 "$rounds"); do
	offline=$((r % 4 == 0))
	if [ $offline = 1 ]; then
		"$NUBO" vm stop r1 --wait >/dev/null 2>&1
	else
		on "echo $r >> /root/log && sync" && written="$written$r "
	fi
	# The request goes out in the background; the kill lands 0 to $window
	# ms after it was sent, before or after its answer.
	api POST /v1/snapshots "{\"vm\":\"r1\",\"name\":\"rnd$r\"}" >"$T_DIR/resp" &
	req=$!
	sleep "$(printf '0.%03d' $((RANDOM % (window + 1))))"
	nubod_kill9
	wait $req
	# Cut midway when nubod had not logged the snapshot taken.
	if grep -q "snapshot rnd$r of VM r1 .* taken" "$T_LOG"; then
		when=after after=$((after + 1))
	else
		when=midway cut=$((cut + 1))
	fi
	nubod_start || { ok 1 "round $r: nubod starts again"; break; }
	# Converged: the snapshot is ready, or it is not there at all (the
	# request died before it was recorded); never stuck "creating".
	snap_state() { body_of "$(api GET "/v1/snapshots/rnd$r")" | jq -r '.state // "absent"'; }
	snap_settled() { case $(snap_state) in ready | absent) return 0 ;; *) return 1 ;; esac; }
	bad=""
	wait_for 120 snap_settled || bad="the snapshot is stuck $(snap_state)"
	op=$(body_of "$(cat "$T_DIR/resp")" | jq -r '.operation.id // empty' 2>/dev/null)
	if [ -n "$op" ]; then
		wait_for 60 op_ended "$op" || bad="$bad the operation is stuck"
		[ "$(op_state "$op")" = failed ] &&
			bad="$bad failed: $(body_of "$(api GET "/v1/operations/$op")" | jq -r .error)"
	fi
	[ "$(snap_state)" = ready ] && { snaps+=("rnd$r"); snap_log+=("$written"); }
	# Each snapshot is a layer under the disk for good: with the VM
	# stopped, the oldest beyond the last 6 are deleted (merged), so the
	# chain stays short over hundreds of rounds (at ~130 layers a nano VM
	# no longer boots within its memory).
	if [ $offline = 1 ]; then
		while [ ${#snaps[@]} -gt 6 ]; do
			"$NUBO" snapshot delete "${snaps[0]}" --wait >/dev/null 2>&1 || { bad="$bad merging ${snaps[0]} failed"; break; }
			snaps=("${snaps[@]:1}") snap_log=("${snap_log[@]:1}")
		done
		"$NUBO" vm start r1 --wait >/dev/null 2>&1 || bad="$bad the VM does not start"
	fi
	got=$(on cat /root/log | tr '\n' ' ')
	[ "$got" = "$written" ] || bad="$bad the guest reads '$got', wrote '$written'"
	chains=$(chains_ok)
	[ -z "$chains" ] || bad="$bad$chains"
	[ -z "$bad" ] || failed_rounds=$((failed_rounds + 1))
	is "$bad" "" "round $r ($([ $offline = 1 ] && echo stopped || echo running) VM, killed $when): converged"
done

"$NUBO" vm stop r1 --wait >/dev/null 2>&1
step=$(((${#snaps[@]} + 7) / 8))   # at most 8 restores, spread over the rounds
for j in "${!snaps[@]}"; do
	[ $((j % step)) -eq 0 ] || continue
	"$NUBO" vm restore r1 --snapshot "${snaps[$j]}" --wait >/dev/null 2>&1 && "$NUBO" vm start r1 --wait >/dev/null 2>&1
	is "$(on cat /root/log | tr '\n' ' ')" "${snap_log[$j]}" "snapshot ${snaps[$j]} restores to what it held"
	"$NUBO" vm stop r1 --wait >/dev/null 2>&1
done
echo "# $rounds rounds: $cut kills before the snapshot was taken, $after after; $failed_rounds rounds did not converge"
echo "1..$T_N"
