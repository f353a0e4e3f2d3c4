#!/usr/bin/env bash
# e2e, random kills: each round asks nubod for one operation on a VM and
# kills it with kill -9 at a random moment (0 to NUBO_CRASH_WINDOW_MS,
# default 150 ms) after the request was sent, then starts it again. The
# operations take turns:
#
#   snapshot-running  snapshot of the running VM
#   attach            hot-plug of a volume into the running VM
#   image-running     image made from the running VM
#   detach            hot-unplug of the volume
#   snapshot-stopped  snapshot of the stopped VM
#   delete            delete of a snapshot (its layer merged away)
#   image-stopped     image made from the stopped VM
#   restore           restore of the stopped VM to a snapshot
#
# Each round must converge: the operation ends (never stuck) and what it
# made is whole or was never recorded; the guest reads every line it wrote
# (after a restore: what the snapshot held); every qcow2 is sound with its
# backing chain whole; QEMU has the volume plugged in exactly when the store
# says it is attached. At the end every snapshot left restores to what it held.
#
# make test runs NUBO_CRASH_ROUNDS (default 8: each operation once) rounds.
# By hand, for the figures in docs/testing.md:
#   NUBO_CRASH_ROUNDS=400 NUBO_BIN=build/src/cmd bash tests/e2e/crash_random.sh
# NUBO_CRASH_OPS="restore delete" takes turns among those only;
# NUBO_CRASH_SEED=N replays the kill delays and the snapshots picked (the
# seed is printed first).
set -u
. "$(dirname "$0")/../lib.sh"

rounds=${NUBO_CRASH_ROUNDS:-8}
window=${NUBO_CRASH_WINDOW_MS:-150}
all_kinds="snapshot-running attach image-running detach snapshot-stopped delete image-stopped restore"
read -ra kinds <<<"${NUBO_CRASH_OPS:-$all_kinds}"
for k in "${kinds[@]}"; do
	case " $all_kinds " in *" $k "*) ;; *) echo "NUBO_CRASH_OPS: unknown operation $k (known: $all_kinds)" >&2; exit 2 ;; esac
done
seed=${NUBO_CRASH_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$seed
echo "# seed $seed (NUBO_CRASH_SEED=$seed replays the same delays and picks)"

nubod_start || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
"$NUBO" vm create r1 --type nano --wait >/dev/null 2>&1
ok $? "a VM starts"
"$NUBO" volume create rv --size 16M --wait >/dev/null 2>&1
ok $? "a volume is created"
vm_id=$("$NUBO" vm show r1 --json | jq -r .id)
vol_id=$("$NUBO" volume show rv --json | jq -r .id)

on() { "$NUBO" vm ssh r1 -- "$@" 2>>"$T_DIR/ssh.err"; }
vm_state() { "$NUBO" vm show r1 --json | jq -r .state; }
vm_to() { # vm_to running|stopped: brings the VM there (not killed)
	[ "$(vm_state)" = "$1" ] && return 0
	"$NUBO" vm "$([ "$1" = running ] && echo start || echo stop)" r1 --wait >/dev/null 2>&1
}
vol_state() { "$NUBO" volume show rv --json | jq -r '.state + " " + (.vm // "-")'; }
snap_state() { body_of "$(api GET "/v1/snapshots/$1")" | jq -r '.state // "absent"'; }
image_state() { body_of "$(api GET "/v1/images/$1")" | jq -r '.state // "absent"'; }
op_error() { body_of "$(api GET "/v1/operations/$1")" | jq -r '.error // empty'; }
# settled 'COMMAND' STATE...: whether COMMAND prints one of the STATEs.
settled() {
	local now s
	now=$(eval "$1")
	shift
	for s in "$@"; do [ "$now" = "$s" ] && return 0; done
	return 1
}
# volumes_agree: QEMU has the volume plugged in exactly when the store says
# it is attached to the running VM (QMP answers "none" or "node device").
volumes_agree() {
	case "$(vol_state) / $(qemu_volume "$vm_id" "$vol_id")" in
	"in-use r1 / node device" | "available - / none") return 0 ;;
	*) return 1 ;;
	esac
}

written=""              # the lines the guest's /root/log holds, in order
snaps=() snap_log=()    # snapshots ready, oldest first, and the log each holds
all_ops=()
declare -A n_rounds n_unrec n_mid n_after n_conv n_bad
for k in "${kinds[@]}"; do n_rounds[$k]=0 n_unrec[$k]=0 n_mid[$k]=0 n_after[$k]=0 n_conv[$k]=0 n_bad[$k]=0; done
reasons=""

for r in $(seq 1 "$rounds"); do
	kind=${kinds[$(((r - 1) % ${#kinds[@]}))]}
	bad=""
	# --- set up (not killed) ---
	case $kind in
	restore | delete)
		if [ ${#snaps[@]} -eq 0 ]; then   # something to restore or delete
			vm_to running && on "echo $r.pre >> /root/log && sync" && written="$written$r.pre "
			"$NUBO" snapshot create r1 --name "pre$r" --wait >/dev/null 2>&1 &&
				snaps+=("pre$r") snap_log+=("$written")
		fi
		pick=$((RANDOM % ${#snaps[@]}))
		target=${snaps[$pick]}
		;;
	esac
	case $kind in
	*-stopped | restore | delete)
		vm_to running && on "echo $r >> /root/log && sync" && written="$written$r "
		vm_to stopped || bad="the VM does not stop"
		;;
	*)
		vm_to running || bad="the VM does not start"
		on "echo $r >> /root/log && sync" && written="$written$r "
		;;
	esac
	case $kind in
	attach) [ "$(vol_state)" = "available -" ] || "$NUBO" volume detach rv --wait >/dev/null 2>&1 ;;
	detach) [ "$(vol_state)" = "in-use r1" ] || "$NUBO" volume attach rv --vm r1 --wait >/dev/null 2>&1 ;;
	esac
	case $kind in
	snapshot-*) req=(POST /v1/snapshots "{\"vm\":\"r1\",\"name\":\"rnd$r\"}") ;;
	image-*) req=(POST /v1/images "{\"name\":\"img$r\",\"from_vm\":\"r1\"}") ;;
	attach) req=(POST /v1/volumes/rv/attach '{"vm":"r1"}') ;;
	detach) req=(POST /v1/volumes/rv/detach) ;;
	delete) req=(DELETE "/v1/snapshots/$target") ;;
	restore) req=(POST /v1/vms/r1/restore "{\"snapshot\":\"$target\"}") ;;
	esac

	# --- the request, and the kill 0 to $window ms after it was sent ---
	seq=$(events_last_seq)
	api "${req[@]}" >"$T_DIR/resp" &
	pid=$!
	sleep "$(printf '0.%03d' $((RANDOM % (window + 1))))"
	nubod_kill9
	wait $pid
	log_at_kill=$(wc -c <"$T_LOG")
	nubod_start || { ok 1 "round $r: nubod starts again"; break; }
	op=$(body_of "$(cat "$T_DIR/resp")" | jq -r '.operation.id // empty' 2>/dev/null)
	[ -n "$op" ] || op=$(crash_created_op "$seq")
	if [ -z "$op" ]; then
		when="before the request was recorded" n_unrec[$kind]=$((n_unrec[$kind] + 1))
	elif head -c "$log_at_kill" "$T_LOG" | grep -Eq "operation $op .* (succeeded|failed)"; then
		when="after the operation ended" n_after[$kind]=$((n_after[$kind] + 1))
	else
		when="while the operation ran" n_mid[$kind]=$((n_mid[$kind] + 1))
	fi

	# --- converged: the operation ends, and its work is whole or not there ---
	result=absent
	if [ -n "$op" ]; then
		all_ops+=("$op")
		if wait_for 180 op_ended "$op"; then
			result=$(op_state "$op")
			[ "$result" = succeeded ] || bad="$bad the operation failed: $(op_error "$op")"
		else
			bad="$bad the operation is stuck $(op_state "$op")"
		fi
	fi
	case $kind in
	snapshot-*)
		wait_for 60 settled "snap_state rnd$r" ready absent || bad="$bad the snapshot is stuck $(snap_state "rnd$r")"
		[ "$(snap_state "rnd$r")" = ready ] && snaps+=("rnd$r") snap_log+=("$written")
		;;
	image-*)
		wait_for 60 settled "image_state img$r" ready absent || bad="$bad the image is stuck $(image_state "img$r")"
		[ "$result" != succeeded ] || [ "$(image_state "img$r")" = ready ] || bad="$bad the image is $(image_state "img$r")"
		chains=$(chains_ok)   # the image's file too, before it goes
		[ -z "$chains" ] || bad="$bad$chains"
		if [ "$(image_state "img$r")" != absent ]; then
			out=$("$NUBO" image delete "img$r" 2>&1) || bad="$bad the image does not delete: $out"
		fi
		;;
	attach | detach)
		want="available -"
		{ [ $kind = attach ] && [ "$result" = succeeded ]; } || { [ $kind = detach ] && [ "$result" != succeeded ]; } &&
			want="in-use r1"
		wait_for 60 settled vol_state "$want" || bad="$bad the volume is $(vol_state), expected $want"
		;;
	delete)
		if [ "$result" = succeeded ]; then
			[ "$(snap_state "$target")" = absent ] || bad="$bad the deleted snapshot is $(snap_state "$target")"
			snaps=("${snaps[@]:0:$pick}" "${snaps[@]:$((pick + 1))}")
			snap_log=("${snap_log[@]:0:$pick}" "${snap_log[@]:$((pick + 1))}")
		fi
		;;
	restore)
		[ "$result" = succeeded ] && written=${snap_log[$pick]}
		;;
	esac
	# Each snapshot is a layer under the disk for good: with the VM stopped,
	# the oldest beyond the last 6 are deleted (merged, not killed), so the
	# chain stays short over hundreds of rounds (at ~130 layers a nano VM
	# no longer boots within its memory).
	if [ "$(vm_state)" = stopped ]; then
		while [ ${#snaps[@]} -gt 6 ]; do
			"$NUBO" snapshot delete "${snaps[0]}" --wait >/dev/null 2>&1 || { bad="$bad merging ${snaps[0]} failed"; break; }
			snaps=("${snaps[@]:1}") snap_log=("${snap_log[@]:1}")
		done
	fi
	vm_to running || bad="$bad the VM does not start"
	got=$(on cat /root/log | tr '\n' ' ')
	[ "$got" = "$written" ] || bad="$bad the guest reads '$got', wrote '$written'"
	chains=$(chains_ok)
	[ -z "$chains" ] || bad="$bad$chains"
	wait_for 60 volumes_agree || bad="$bad store and QEMU disagree on the volume: $(vol_state) / $(qemu_volume "$vm_id" "$vol_id")"

	n_rounds[$kind]=$((n_rounds[$kind] + 1))
	if [ -z "$bad" ]; then
		n_conv[$kind]=$((n_conv[$kind] + 1))
	else
		n_bad[$kind]=$((n_bad[$kind] + 1)) reasons="$reasons# round $r ($kind):$bad"$'\n'
	fi
	is "$bad" "" "round $r ($kind, killed $when): converged"
done

# --- every snapshot left restores to what it held (at most 4, spread) ---
vm_to stopped
step=$(((${#snaps[@]} + 3) / 4))
for j in "${!snaps[@]}"; do
	[ $((j % step)) -eq 0 ] || continue
	"$NUBO" vm restore r1 --snapshot "${snaps[$j]}" --wait >/dev/null 2>&1 && vm_to running
	is "$(on cat /root/log | tr '\n' ' ')" "${snap_log[$j]}" "snapshot ${snaps[$j]} restores to what it held"
	vm_to stopped
done
stuck=""
for o in "${all_ops[@]}"; do op_ended "$o" || stuck="$stuck $o"; done
is "$stuck" "" "no operation is left running"

ran=0
for k in "${kinds[@]}"; do ran=$((ran + n_rounds[$k])); done
echo "# $ran rounds run of $rounds, seed $seed, kills 0 to $window ms after the request:"
echo "# | operation | rounds | killed before the request was recorded / while it ran / after it ended | converged | not converged |"
for k in "${kinds[@]}"; do
	echo "# | $k | ${n_rounds[$k]} | ${n_unrec[$k]} / ${n_mid[$k]} / ${n_after[$k]} | ${n_conv[$k]} | ${n_bad[$k]} |"
done
printf '%s' "$reasons"
echo "1..$T_N"
