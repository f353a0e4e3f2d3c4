#!/usr/bin/env bash
# e2e, crash points: nubod is killed (SIGKILL, from inside, see
# util/crashpoint.h) at each named step of a volume's hot-plug into a running
# VM and of its hot-unplug, and started again. Each time it must converge:
# the operation ends (never stuck), the guest has a /dev/vdX with the
# volume's serial exactly when the store says the volume is in use, the data
# on the volume is intact, the next detach (or attach) works, and the
# volume's qcow2 passes qemu-img check. Then what no crash point reaches: a
# plug QEMU refuses fails its operation instead of looping, and a delete
# refuses a volume some QEMU has plugged in behind the store's back.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../crash-lib.sh"

crash_build_ok || { ok 1 "a nubod built with -Dcrashpoints=true"; echo "1..$T_N"; exit 1; }
nubod_start || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
"$NUBO" vm create c1 --type nano --wait >/dev/null 2>&1
ok $? "a VM starts"
vm_id=$("$NUBO" vm show c1 --json | jq -r .id)
vm_pid=$("$NUBO" vm show c1 --json | jq -r .pid)
"$NUBO" volume create data --size 64M --wait >/dev/null 2>&1
ok $? "a volume is created"
vol=$("$NUBO" volume show data --json | jq -r .id)
vol_file=$T_STATE/volumes/$vol.qcow2

on() { "$NUBO" vm ssh c1 -- "$@" 2>>"$T_DIR/ssh.err"; }
op_error() { body_of "$(api GET "/v1/operations/$1")" | jq -r '.error // empty'; }
vol_state() { "$NUBO" volume show "${1:-data}" --json | jq -r '.state + " " + (.vm // "-")'; }
# The guest's device with serial $1 ("" if none): e.g. vdc.
dev_of() { on "for d in /sys/block/vd*; do [ \"\$(cat \$d/serial 2>/dev/null)\" = $1 ] && echo \${d##*/}; done"; }
# agree: what the guest has and what the store says, as one line.
agree() {
	local dev st
	dev=$(dev_of "$vol")
	st=$(vol_state)
	if [ -n "$dev" ]; then printf 'guest has it, store: %s' "$st"; else printf 'guest has none, store: %s' "$st"; fi
}
# The guest notices a hot-plugged device a moment after QEMU has it, so a
# check first waits (wait_for) for the expected line, then compares.
agree_is() { [ "$(agree)" = "$1" ]; }
agrees() { wait_for 60 agree_is "$1"; is "$(agree)" "$1" "$2"; }
ATTACHED="guest has it, store: in-use c1"
DETACHED="guest has none, store: available -"
marker() { on "dd if=/dev/$(dev_of "$vol") bs=8 count=1 2>/dev/null"; }
img_ok() { qemu-img check -U -q "$vol_file" 2>&1; }

# --- learn the steps of an attach and a detach, and put a marker on the volume ---
crash_trace_start
out=$("$NUBO" volume attach data --vm c1 --wait 2>&1)
ok $? "a traced attach to the running VM" "$out"
agrees "$ATTACHED" "the guest has the volume and the store says so"
on "printf precious | dd of=/dev/$(dev_of "$vol") bs=8 count=1 conv=sync,fsync 2>/dev/null"
is "$(marker | tr -d '\000')" precious "a marker is written on the volume"
out=$("$NUBO" volume detach data --wait 2>&1)
ok $? "a traced detach from the running VM" "$out"
agrees "$DETACHED" "the guest no longer has it and the store says so"
is "$(crash_steps volume.attach. | tr '\n' ' ')" \
	"volume.attach.node-added volume.attach.device-added volume.attach.recorded " \
	"an attach passes its named steps in order"
is "$(crash_steps volume.detach. | tr '\n' ' ')" \
	"volume.detach.unplug-requested volume.detach.device-gone volume.detach.node-deleted volume.detach.recorded " \
	"a detach passes its named steps in order"
attach_steps=$(crash_steps volume.attach.)
detach_steps=$(crash_steps volume.detach.)

# --- die at each step of an attach --------------------------------------------
for step in $attach_steps; do
	crash_at "$step" "attach" POST /v1/volumes/data/attach '{"vm":"c1"}' || continue
	is "$(op_state "$op")" succeeded "attach, killed at $step: the attach succeeds after the restart" "$(op_error "$op")"
	if [ "$step" = volume.attach.device-added ]; then
		grep -q "volume data: VM c1 has it plugged in (slot [0-9]), which the store did not record" "$T_LOG"
		ok $? "attach, killed at $step: the restarted nubod read it from QEMU before its first pass"
	fi
	agrees "$ATTACHED" "attach, killed at $step: the guest has the volume and the store says so"
	is "$(marker | tr -d '\000')" precious "attach, killed at $step: the data on it is intact"
	is "$(img_ok)" "" "attach, killed at $step: the volume passes qemu-img check"
	out=$("$NUBO" volume detach data --wait 2>&1)
	ok $? "attach, killed at $step: a detach then works" "$out"
	agrees "$DETACHED" "attach, killed at $step: after the detach, neither has it"
done

# --- die at each step of a detach ---------------------------------------------
for step in $detach_steps; do
	out=$("$NUBO" volume attach data --vm c1 --wait 2>&1)
	ok $? "detach at $step: the volume is attached first" "$out"
	crash_at "$step" "detach" POST /v1/volumes/data/detach || continue
	is "$(op_state "$op")" succeeded "detach, killed at $step: the detach succeeds after the restart" "$(op_error "$op")"
	agrees "$DETACHED" "detach, killed at $step: the guest no longer has it and the store says so"
	is "$(img_ok)" "" "detach, killed at $step: the volume passes qemu-img check"
	out=$("$NUBO" volume attach data --vm c1 --wait 2>&1)
	ok $? "detach, killed at $step: an attach then works" "$out"
	is "$(marker | tr -d '\000')" precious "detach, killed at $step: the data on it is intact"
	out=$("$NUBO" volume detach data --wait 2>&1)
	ok $? "detach, killed at $step: and a detach again" "$out"
done
is "$("$NUBO" vm show c1 --json | jq -r '.state + " " + (.pid|tostring)')" "running $vm_pid" \
	"the VM ran on in the same QEMU through every crash"

# --- a plug QEMU refuses ends its operation, and nothing loops --------------------
mv "$vol_file" "$T_DIR/hidden.qcow2"
out=$("$NUBO" volume attach data --vm c1 --wait 2>&1)
is "$?" 1 "an attach whose file QEMU cannot open fails"
like "$out" "volume data was not attached to VM c1: .*$vol" "it says which volume, which VM and QEMU's reason"
agrees "$DETACHED" "the volume stays detached, and the guest has nothing of it"
mv "$T_DIR/hidden.qcow2" "$vol_file"
out=$("$NUBO" volume attach data --vm c1 --wait 2>&1)
ok $? "with its file back, the attach works" "$out"
"$NUBO" volume detach data --wait >/dev/null 2>&1

# --- a volume some QEMU has plugged in is never deleted ------------------------------
# Plugged into c1 by hand over QMP, behind the store's back (as a nubod cut
# off right after device_add would leave it, had it not been restarted).
vm_qmp "$vm_id" "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"qcow2\",\"node-name\":\"$vol\",\"file\":{\"driver\":\"file\",\"filename\":\"$vol_file\"}}}" \
	"{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\"dev-$vol\",\"drive\":\"$vol\",\"bus\":\"hp3\",\"serial\":\"$vol\"}}" \
	>"$T_DIR/qmp.out"
wait_for 60 agree_is "guest has it, store: available -"
ok $? "the volume is plugged into the guest while the store says available" "$(cat "$T_DIR/qmp.out")"
r=$(api DELETE /v1/volumes/data)
op=$(body_of "$r" | jq -r '.operation.id // empty')
wait_for 60 op_ended "$op"
is "$(op_state "$op")" failed "its delete fails"
like "$(op_error "$op")" "volume data was not deleted: VM c1 has it plugged in \(slot 3\)" "with the reason"
[ -f "$vol_file" ]
ok $? "the volume's file is still there"
agrees "$ATTACHED" "the store now records it where it is"
is "$(marker | tr -d '\000')" precious "the guest still reads its data"
out=$("$NUBO" volume detach data --wait 2>&1)
ok $? "it detaches" "$out"
out=$("$NUBO" volume delete data --wait 2>&1)
ok $? "and then deletes" "$out"
[ ! -e "$vol_file" ]
ok $? "its file is gone"

stuck=""
for o in "${ops[@]}"; do op_ended "$o" || stuck="$stuck $o"; done
is "$stuck" "" "no operation is left running"
grep -c "Duplicate nodes" "$T_LOG" >"$T_DIR/dups"
is "$(cat "$T_DIR/dups")" 0 "no blockdev-add was ever retried on a node QEMU had"

echo "1..$T_N"
