#!/usr/bin/env bash
# e2e: a stop whose guest ignores ACPI power-down. nubod asks the guest to
# power off (QMP system_powerdown), waits stop_timeout_s (5 s here, from
# --config), then kills QEMU: the VM is stopped with the reason, no QEMU is
# left, and it starts again. The guest is tiny with its power-button handler
# removed (acpid runs /etc/acpi/PWRF/00000080 on the button), so the button
# does nothing.
set -u
. "$(dirname "$0")/../lib.sh"

printf '{"stop_timeout_s": 5}\n' >"$T_DIR/nubod.json"
nubod_start --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts with stop_timeout_s 5"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
show() { "$NUBO" vm show "$1" --json | jq -r ".$2"; }
on() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"; }

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
out=$("$NUBO" vm create deaf --type nano --ssh-key "$T_DIR/id.pub" --wait 2>&1)
ok $? "nubo vm create deaf --wait" "$out"
pid=$(show deaf pid)
vm_id=$(show deaf id)
is "$(on deaf 'rm /etc/acpi/PWRF/00000080 && echo removed')" removed "the guest's power-button handler is removed"
boot0=$(on deaf cat /proc/sys/kernel/random/boot_id)
like "$boot0" '^[0-9a-f-]{36}$' "the guest answers over SSH"

out=$("$NUBO" vm stop deaf --wait 2>&1)
ok $? "nubo vm stop deaf --wait ends" "$out"
is "$(show deaf state)" stopped "the VM is stopped"
is "$(show deaf reason)" "forced off after the power-down timeout" "forced off, with the reason"
grep -q "vm deaf: the guest did not power off within 5 s; forcing" "$T_LOG"
ok $? "nubod logs that it forced the VM off after 5 s"
grep -q "vm deaf ($vm_id): stop accepted\$" "$T_LOG"
ok $? "the stop was accepted as a power-down, not as a forced stop"
# QEMU is detached (double fork), so whoever reaps orphans here may leave it
# a zombie for a moment: dead either way.
st=$(ps -o stat= -p "$pid")
[ -z "$st" ] || [ "${st:0:1}" = Z ]
ok $? "its QEMU (pid $pid) is gone${st:+ (state $st)}"
pgrep -f -- "-name $vm_id" >/dev/null
ok $((! $?)) "no QEMU runs for it"

out=$("$NUBO" vm start deaf --wait 2>&1)
ok $? "the VM starts again" "$out"
boot1=$(on deaf cat /proc/sys/kernel/random/boot_id)
[ -n "$boot1" ] && [ "$boot1" != "$boot0" ]
ok $? "it answers over SSH, with a new boot id"
# A forced stop (--force) does not wait for the guest at all.
out=$("$NUBO" vm stop deaf --force --wait 2>&1)
ok $? "nubo vm stop deaf --force --wait" "$out"
is "$(show deaf state)" stopped "a forced stop stops the VM"
out=$("$NUBO" vm delete deaf --wait 2>&1)
ok $? "the VM is deleted" "$out"
