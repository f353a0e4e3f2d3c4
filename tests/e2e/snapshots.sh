#!/usr/bin/env bash
# e2e: snapshots. Of a running VM (it keeps running), change, restore, and
# the old content is back; a VM from a snapshot; deleting a snapshot that
# disks are built on is refused while they run and merges them when stopped,
# with no data lost; every qcow2 left passes qemu-img check.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "the tiny image builds" "$out"
is "$("$NUBO" image show tiny --json | jq -r .state)" ready "it is ready"
on() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"; }
state() { "$NUBO" vm show "$1" --json | jq -r .state; }

out=$("$NUBO" vm create s1 --type nano --wait 2>&1)
ok $? "a VM starts" "$out"
is "$(state s1)" running "it is running"
on s1 'echo one > /root/f && sync'
pid=$("$NUBO" vm show s1 --json | jq .pid)
out=$("$NUBO" snapshot create s1 --name before --wait 2>&1)
ok $? "nubo snapshot create s1 --name before (running) --wait" "$out"
is "$(state s1)/$("$NUBO" vm show s1 --json | jq .pid)" "running/$pid" "the VM kept running in the same QEMU"
layers=$(find "$T_STATE/snapshots" -name '*.qcow2' -exec stat -c '%U:%G %a' {} + | sort -u)
is "$layers" "root:nubo-qemu 640" "the frozen layer is root's, readable by QEMU's group only"
grep -Eq "snapshot before of VM s1 \(running\) taken in [0-9]+ ms" "$T_LOG"
ok $? "nubod logs how long the live snapshot took"
on s1 'echo two > /root/f && sync'
is "$(on s1 cat /root/f)" two "the VM goes on writing after the snapshot"

out=$("$NUBO" vm restore s1 --snapshot before 2>&1)
is "$?" 1 "a running VM cannot be restored"
like "$out" "stop it before restoring" "the error says to stop it"
"$NUBO" vm stop s1 --wait >/dev/null 2>&1
out=$("$NUBO" vm restore s1 --snapshot before --wait 2>&1)
ok $? "nubo vm restore s1 --snapshot before --wait" "$out"
"$NUBO" vm start s1 --wait >/dev/null 2>&1
is "$(on s1 cat /root/f)" one "after the restore the old content is back"

out=$("$NUBO" vm create s2 --type nano --from-snapshot before --wait 2>&1)
ok $? "a new VM starts from the snapshot" "$out"
is "$(on s2 cat /root/f)" one "it has the snapshot's content"
on s2 'echo three > /root/f && sync'

out=$("$NUBO" snapshot create s1 --name later --wait 2>&1)
ok $? "a second snapshot of s1" "$out"
on s1 'echo four > /root/f && sync'

out=$("$NUBO" snapshot delete before --wait 2>&1)
is "$?" 1 "deleting a snapshot under running VMs is refused"
like "$out" "part of the disk of VM s[12], which is running" "with the reason"
is "$("$NUBO" snapshot show before --json | jq -r .state)" ready "and the snapshot is still there"
"$NUBO" vm stop s1 --wait >/dev/null 2>&1
"$NUBO" vm stop s2 --wait >/dev/null 2>&1
out=$("$NUBO" snapshot delete before --wait 2>&1)
ok $? "with the VMs stopped, the snapshot is deleted (merged)" "$out"
"$NUBO" snapshot show before >/dev/null 2>&1
ok $((! $?)) "it is gone"
"$NUBO" vm start s1 --wait >/dev/null 2>&1
"$NUBO" vm start s2 --wait >/dev/null 2>&1
is "$(on s1 cat /root/f)/$(on s2 cat /root/f)" "four/three" "both VMs kept every byte after the merge"
"$NUBO" vm stop s1 --wait >/dev/null 2>&1
"$NUBO" vm restore s1 --snapshot later --wait >/dev/null 2>&1
"$NUBO" vm start s1 --wait >/dev/null 2>&1
is "$(on s1 cat /root/f)" one "the later snapshot still restores (its layer was rebased, not lost)"

"$NUBO" vm stop s1 --wait >/dev/null 2>&1
"$NUBO" vm stop s2 --wait >/dev/null 2>&1
bad=0
for f in $(find "$T_STATE" -name '*.qcow2'); do
	qemu-img check -q "$f" >/dev/null 2>&1 || { bad=$((bad + 1)); echo "# qemu-img check failed: $f"; }
done
is "$bad" 0 "every qcow2 passes qemu-img check"
out=$("$NUBO" image delete tiny 2>&1)
is "$?" 1 "an image under snapshots cannot be deleted"
