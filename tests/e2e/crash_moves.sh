#!/usr/bin/env bash
# e2e, crash points: `nubo vm move` of a stopped VM with an attached volume,
# from h2 to h1 (two real nubods on one machine and one private PostgreSQL
# database, as tests/e2e/hosts-move-images.sh), with h1's nubod killed
# (SIGKILL, util/crashpoint.h) at each named step of the move on the host
# that takes the VM:
#   move.copied    the disk and the volume's file are whole in h1's folder,
#                  nothing recorded yet
#   move.switched  the store says the VM and its volume are h1's, and the
#                  volume's file is not yet in h1's volumes/
# Each time h1 starts again unarmed and the move must end: its operation
# succeeds, the VM is h1's with its id, address and MAC, the volume is h1's
# and attached, the disk reads as it did and the volume's file is the same
# byte for byte (and passes qemu-img check), nothing is left in a .move
# folder, and h2 removes its files. Then the VM moves back to h2 for the
# next step.
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../crash-lib.sh"

crash_build_ok || { ok 1 "a nubod built with -Dcrashpoints=true"; echo "1..$T_N"; exit 1; }
. "$(dirname "$0")/../hosts2-lib.sh"
h2_api() { curl -s --unix-socket "$H2_SOCK" -X "$1" ${3:+-d "$3"} "http://nubo$2"; }
state_dir_of() { if [ "$1" = h1 ]; then echo "$T_STATE"; else echo "$H2_STATE"; fi; }

h1_start || { ok 1 "h1 starts"; echo "1..$T_N"; exit 1; }
ok 0 "h1 starts (a nubod with crash points)"
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait (on h1)" "$out"
h2_start
ok $? "h2 starts on the same database"
out=$(h2 vm create mv --type nano --host h2 --wait 2>&1) && out=$(h2 vm stop mv --wait 2>&1)
ok $? "a VM made on h2 and stopped" "$out"
out=$(h2 volume create mvol --size 16M --wait 2>&1) && out=$(h2 volume attach mvol --vm mv --wait 2>&1)
ok $? "a volume made on h2 and attached to it" "$out"
VM=$(h2 vm show mv --json | jq -r .id) VOL=$(h2 volume show mvol --json | jq -r .id)
qemu-io -f qcow2 -c "write -P 0x6d 1M 2M" "$H2_STATE/volumes/$VOL.qcow2" >/dev/null
ok $? "2 MiB of data are written on the volume (qemu-io)"
before=$(h2 vm show mv --json | jq -c '{id, ip, mac}')
cp "$H2_STATE/vms/$VM/root.qcow2" "$T_DIR/root.qcow2"
cp "$H2_STATE/volumes/$VOL.qcow2" "$T_DIR/vol.qcow2"

# where HOST: the VM's host and state, and the volume's host and VM, as one line.
where() { printf '%s %s' "$(h2 vm show mv --json | jq -r '.host + "/" + .state')" \
	"$(h2 volume show mvol --json | jq -r '.host + "/" + (.vm // "-")')"; }
# moved_to HOST FROM WHAT: the checks of a move that ended on HOST from FROM.
moved_to() {
	local to=$1 from=$2 what=$3 dir from_dir
	dir=$(state_dir_of "$to") from_dir=$(state_dir_of "$from")
	is "$(where)" "$to/stopped $to/mv" "$what: the VM and its volume are $to's"
	is "$(h2 vm show mv --json | jq -c '{id, ip, mac}')" "$before" "$what: the same id, IP and MAC"
	out=$(qemu-img compare -f qcow2 -F qcow2 "$T_DIR/root.qcow2" "$dir/vms/$VM/root.qcow2" 2>&1)
	ok $? "$what: the disk on $to reads as it did (qemu-img compare)" "$out"
	cmp -s "$T_DIR/vol.qcow2" "$dir/volumes/$VOL.qcow2"
	ok $? "$what: $to's volumes/ holds the volume's file, byte for byte"
	out=$(qemu-img check -q "$dir/volumes/$VOL.qcow2" 2>&1) && out=$(qemu-img check -q "$dir/vms/$VM/root.qcow2" 2>&1)
	ok $? "$what: both pass qemu-img check" "$out"
	[ ! -e "$dir/vms/$VM.move" ] && [ ! -e "$dir/vms/$VM/$VOL.qcow2" ]
	ok $? "$what: nothing is left of the copy on $to" "$(ls -A "$dir/vms/" 2>&1)"
	wait_for 15 sh -c "[ ! -e '$from_dir/vms/$VM' ] && [ ! -e '$from_dir/volumes/$VOL.qcow2' ]"
	ok $? "$what: $from removes its files of the VM and the volume"
}

# The first move, unarmed, with a trace: the steps it passes on h1.
crash_trace_start "${H1_FLAGS[@]}"
out=$(h2 vm move mv --to h1 --wait 2>&1)
ok $? "nubo vm move mv --to h1 --wait" "$out"
steps=$(crash_steps move.)
is "$(echo $steps)" "move.copied move.switched" "the move passes move.copied and move.switched on h1"
moved_to h1 h2 "unarmed"
nubod_stop
h1_start

for step in $steps; do
	out=$(h2 vm move mv --to h2 --wait 2>&1)
	ok $? "$step: the VM moves back to h2 first" "$out"
	crash_arm "$step" "${H1_FLAGS[@]}" || { ok 1 "$step: h1 starts armed"; continue; }
	op=$(h2_api POST /v1/vms/mv/move '{"to":"h1"}' | jq -r '.operation.id // empty')
	[ -n "$op" ]
	ok $? "$step: a move to h1 is accepted"
	crash_wait_dead 120
	ok $? "$step: h1's nubod dies at $step"
	crash_restart "${H1_FLAGS[@]}"
	wait_for 120 sh -c "h2_state=\$(curl -s --unix-socket '$H2_SOCK' http://nubo/v1/operations/$op | jq -r .state); [ \"\$h2_state\" = succeeded ] || [ \"\$h2_state\" = failed ]"
	is "$(h2_api GET "/v1/operations/$op" | jq -r .state)" succeeded "$step: the move's operation succeeds after the restart"
	moved_to h1 h2 "$step"
done

is "$(t_sql "SELECT count(*) FROM operations WHERE state NOT IN ('succeeded', 'failed')")" 0 "no operation is left running"
out=$(h2 vm delete mv --wait 2>&1)
ok $? "the VM deletes" "$out"
out=$(h2 volume delete mvol --wait 2>&1)
ok $? "the volume deletes" "$out"
