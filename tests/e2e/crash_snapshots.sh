#!/usr/bin/env bash
# e2e, crash points: nubod is killed (SIGKILL, from inside, see
# util/crashpoint.h) at each named step of a snapshot of a running and of a
# stopped VM, of an image made from a VM, of a restore and of a snapshot
# delete (merge), and started again. Each time it must converge: the
# operation ends (never stuck), every line the guest wrote before is still
# there, every qcow2 passes qemu-img check with its backing chain present,
# and at the end every snapshot still restores to what it held.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../crash-lib.sh"

crash_build_ok || { ok 1 "a nubod built with -Dcrashpoints=true"; echo "1..$T_N"; exit 1; }
nubod_start || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
"$NUBO" vm create c1 --type nano --wait >/dev/null 2>&1
ok $? "a VM starts"

on() { "$NUBO" vm ssh c1 -- "$@" 2>>"$T_DIR/ssh.err"; }
vm_field() { "$NUBO" vm show c1 --json | jq -r ".$1"; }

# The guest's record of what it wrote: one line per marker, in order.
written=""
mark() { # mark N: the guest appends N to /root/log and syncs
	on "echo $1 >> /root/log && sync" && written="$written$1 "
}
log_in_guest() { on cat /root/log | tr '\n' ' '; }

snaps=()      # snapshots taken: name and the log the guest had then
snap_log=()

# --- a running VM: learn the steps, then die at each --------------------------
mark 0
crash_trace_start
out=$("$NUBO" snapshot create c1 --name traced --wait 2>&1)
ok $? "a traced snapshot of the running VM" "$out"
snaps+=(traced); snap_log+=("$written")
is "$(crash_steps snapshot. | tr '\n' ' ')" \
	"snapshot.next-made snapshot.next-added snapshot.switched snapshot.frozen snapshot.top-made snapshot.top-renamed " \
	"a running VM's snapshot passes its named steps in order"
running_steps=$(crash_steps snapshot.)

i=1
pid=$(vm_field pid)
for step in $running_steps; do
	mark "$i"
	crash_at "$step" "live snapshot $i" POST /v1/snapshots "{\"vm\":\"c1\",\"name\":\"live$i\"}" || continue
	is "$(op_state "$op")" succeeded "live snapshot $i, killed at $step: the snapshot is taken"
	snaps+=("live$i"); snap_log+=("$written")
	is "$(vm_field state)/$(vm_field pid)" "running/$pid" "live snapshot $i: the VM runs on in the same QEMU"
	is "$(log_in_guest)" "$written" "live snapshot $i: the guest reads every line it wrote"
	mark "$i.after"
	is "$(chains_ok)" "" "live snapshot $i: every qcow2 is sound and its chain whole"
	i=$((i + 1))
done

# An image made from the running VM (drive-backup), killed once it is copied.
crash_trace_start
crash_at image.disk-copied "image from the running VM" POST /v1/images '{"name":"gold","from_vm":"c1"}'
is "$("$NUBO" image show gold --json | jq -r .state)" ready "the image from the running VM is ready after the restart"
is "$(chains_ok)" "" "image from the running VM: every qcow2 is sound"

# --- a stopped VM ---------------------------------------------------------------
"$NUBO" vm stop c1 --wait >/dev/null 2>&1
ok $? "the VM stops"
crash_trace_start
out=$("$NUBO" snapshot create c1 --name traced-off --wait 2>&1)
ok $? "a traced snapshot of the stopped VM" "$out"
snaps+=(traced-off); snap_log+=("$written")
is "$(crash_steps snapshot. | tr '\n' ' ')" "snapshot.frozen snapshot.top-made snapshot.top-renamed " \
	"a stopped VM's snapshot passes its named steps in order"
for step in $(crash_steps snapshot.); do
	crash_at "$step" "offline snapshot $i" POST /v1/snapshots "{\"vm\":\"c1\",\"name\":\"off$i\"}" || continue
	is "$(op_state "$op")" succeeded "offline snapshot $i, killed at $step: the snapshot is taken"
	snaps+=("off$i"); snap_log+=("$written")
	is "$(chains_ok)" "" "offline snapshot $i: every qcow2 is sound and its chain whole"
	i=$((i + 1))
done
# A start asked right behind a snapshot that nubod dies in: the start waits
# for the snapshot (taken offline, finished after the restart), then boots
# on the new top. (When a tick falls between the two requests, the start
# comes after the restart instead; the checks are the same.)
crash_arm snapshot.frozen
seq=$(events_last_seq)
r=$(api POST /v1/snapshots '{"vm":"c1","name":"before-start"}')
api POST /v1/vms/c1/start >/dev/null
op=$(body_of "$r" | jq -r '.operation.id // empty')
crash_wait_dead 120
ok $? "a snapshot with a start behind it: nubod dies at snapshot.frozen"
crash_restart
[ -n "$op" ] || op=$(crash_created_op "$seq")
ops+=("$op")
wait_for 180 op_ended "$op"
is "$(op_state "$op")" succeeded "the snapshot with a start behind it is taken after the restart"
snaps+=(before-start); snap_log+=("$written")
"$NUBO" vm start c1 --wait >/dev/null 2>&1
ok $? "the VM starts after the snapshots"
is "$(log_in_guest)" "$written" "after the offline snapshots the guest reads every line it wrote"
mark "$i.started"
"$NUBO" vm stop c1 --wait >/dev/null 2>&1

# An image from the stopped VM (from the file).
crash_at image.disk-copied "image from the stopped VM" POST /v1/images '{"name":"gold2","from_vm":"c1"}'
is "$("$NUBO" image show gold2 --json | jq -r .state)" ready "the image from the stopped VM is ready after the restart"

# --- restore --------------------------------------------------------------------
crash_trace_start
k=2   # live snapshot 1 is snaps[2]
crash_at restore.top-made "restore" POST /v1/vms/c1/restore "{\"snapshot\":\"${snaps[$k]}\"}"
is "$(op_state "$op")" succeeded "restore, killed once the new top is made: it succeeds after the restart"
"$NUBO" vm start c1 --wait >/dev/null 2>&1
is "$(log_in_guest)" "${snap_log[$k]}" "the restored VM reads what it held at ${snaps[$k]}"
written=${snap_log[$k]}
mark restored
"$NUBO" vm stop c1 --wait >/dev/null 2>&1

# --- delete (merge) -------------------------------------------------------------
# The VM sits on snaps[k]; deleting it rebases the VM's disk, deleting the
# one below it rebases a layer, and the layer goes last.
for pair in "merge.disk-rebased:$k" "merge.layer-rebased:$((k - 1))" "merge.layer-removed:$((k + 1))"; do
	step=${pair%%:*} j=${pair#*:}
	name=${snaps[$j]}
	# The file a merge rebases first gets a leaked cluster, as a qemu-img
	# rebase killed midway leaves (crash_random.sh found it): the merge
	# that finishes must free it (the chains_ok check below).
	case $step in
	merge.disk-rebased) leaky=$T_STATE/vms/$(vm_field id)/root.qcow2 ;;
	merge.layer-rebased) leaky=$T_STATE/snapshots/$(t_sql "SELECT s.id FROM snapshots s JOIN snapshots p
		ON s.parent = p.id WHERE p.name = '$name'" | head -1)/disk.qcow2 ;;
	*) leaky= ;;
	esac
	if [ -n "$leaky" ]; then
		qcow2_leak "$leaky"
		qemu-img check -q "$leaky" >/dev/null 2>&1
		is $? 3 "delete $name: the file it rebases has a leaked cluster first"
	fi
	crash_at "$step" "delete $name" DELETE "/v1/snapshots/$name"
	is "$(op_state "$op")" succeeded "delete $name, killed at $step: the merge finishes after the restart"
	"$NUBO" snapshot show "$name" >/dev/null 2>&1
	ok $((! $?)) "delete $name: the snapshot is gone"
	snaps[$j]=""
	is "$(chains_ok)" "" "delete $name: every qcow2 is sound and its chain whole"
done
"$NUBO" vm start c1 --wait >/dev/null 2>&1
is "$(log_in_guest)" "$written" "after the merges the guest reads every line it wrote"
"$NUBO" vm stop c1 --wait >/dev/null 2>&1

# --- every snapshot left still restores to what it held ---------------------------
for j in "${!snaps[@]}"; do
	name=${snaps[$j]}
	[ -n "$name" ] || continue
	"$NUBO" vm restore c1 --snapshot "$name" --wait >/dev/null 2>&1 &&
		"$NUBO" vm start c1 --wait >/dev/null 2>&1
	is "$(log_in_guest)" "${snap_log[$j]}" "snapshot $name restores to what it held"
	"$NUBO" vm stop c1 --wait >/dev/null 2>&1
done
stuck=""
for o in "${ops[@]}"; do op_ended "$o" || stuck="$stuck $o"; done
is "$stuck" "" "no operation is left running"
is "$(chains_ok)" "" "every qcow2 is sound and its chain whole at the end"

echo "1..$T_N"
