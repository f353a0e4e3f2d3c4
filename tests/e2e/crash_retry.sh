#!/usr/bin/env bash
# e2e, crash points: a snapshot that cannot finish after a crash. nubod dies
# once a stopped VM's disk is frozen into the snapshot's layer; after the
# restart the step that follows (a new top in the VM's folder) keeps failing,
# because the folder is made immutable. The guest's data is in the layer, so
# nubod must not undo: it tries again, and says so on the operation ("retrying:
# why", a phase "retrying"), where `--wait` shows it and `--wait-timeout`
# stops waiting. Once the folder is writable again the snapshot finishes,
# the reason is cleared, and the VM boots with everything it wrote.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../crash-lib.sh"

crash_build_ok || { ok 1 "a nubod built with -Dcrashpoints=true"; echo "1..$T_N"; exit 1; }
nubod_start || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
"$NUBO" vm create r1 --type nano --wait >/dev/null 2>&1
ok $? "a VM starts"
"$NUBO" vm ssh r1 -- "echo kept > /root/kept && sync" 2>>"$T_DIR/ssh.err"
ok $? "the guest writes a file"
"$NUBO" vm stop r1 --wait >/dev/null 2>&1
ok $? "the VM stops"

vm_dir="$T_STATE/vms/$("$NUBO" vm show r1 --json | jq -r .id)"
[ -f "$vm_dir/root.qcow2" ]
ok $? "the VM's disk is $vm_dir/root.qcow2"
# Made immutable below; never leave it so, even when a check fails.
t_on_exit "chattr -i '$vm_dir' 2>/dev/null"

crash_arm snapshot.frozen
seq=$(events_last_seq)
r=$(api POST /v1/snapshots '{"vm":"r1","name":"stuck"}')
op=$(body_of "$r" | jq -r '.operation.id // empty')
crash_wait_dead 120
ok $? "nubod dies once the disk is frozen into the snapshot's layer"
[ ! -e "$vm_dir/root.qcow2" ]
ok $? "the VM has no root.qcow2 at that moment: its data is all in the layer"
chattr +i "$vm_dir"
ok $? "the VM's folder is made immutable (chattr +i)"
crash_restart
# nubod may have died before it answered: the request is in the event log.
[ -n "$op" ] || op=$(crash_created_op "$seq")
[ -n "$op" ]
ok $? "the snapshot's operation is known" "$r"

op_error() { body_of "$(api GET "/v1/operations/$op")" | jq -r '.error // ""'; }
retrying() { case $(op_error) in "retrying: "*) return 0 ;; *) return 1 ;; esac; }
wait_for 30 retrying
ok $? "the operation says it is retrying" "$(op_error)"
like "$(op_error)" "^retrying: .*top-" "with the failing step's own error"
is "$(op_state "$op")" running "it is still running, not failed"
body_of "$(api GET "/v1/operations/$op")" | jq -e '[.phases[].name] | index("retrying")' >/dev/null
ok $? "a phase \"retrying\" marks when the retries began"
out=$("$NUBO" --wait-timeout 3s operation wait "$op" 2>&1)
is "$?" 124 "nubo --wait-timeout 3s operation wait stops waiting with exit status 124"
like "$out" "retrying: " "and shows why the operation is being retried" 
like "$out" "$op is still running after 3.0s" "and that it goes on"
sleep 2
is "$(op_state "$op")" running "the snapshot never gives up on the guest's data"
[ -f "$T_STATE/snapshots/$(body_of "$(api GET "/v1/operations/$op")" | jq -r .target)/disk.qcow2" ]
ok $? "the layer holding the disk is still there"

chattr -i "$vm_dir"
wait_for 60 op_ended "$op"
ok $? "once the folder is writable, the snapshot finishes"
is "$(op_state "$op")" succeeded "it succeeds"
is "$(op_error)" "" "and its error is cleared"
is "$("$NUBO" snapshot show stuck --json | jq -r .state)" ready "the snapshot is ready"
is "$(chains_ok)" "" "every qcow2 is sound and its chain whole"
"$NUBO" vm start r1 --wait >/dev/null 2>&1
ok $? "the VM starts on its new top"
is "$("$NUBO" vm ssh r1 -- cat /root/kept 2>>"$T_DIR/ssh.err")" kept "the guest reads the file it wrote before the snapshot"
"$NUBO" vm delete r1 --wait >/dev/null 2>&1
ok $? "the VM is deleted"

echo "1..$T_N"
