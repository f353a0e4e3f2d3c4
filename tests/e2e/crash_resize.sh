#!/usr/bin/env bash
# e2e, crash points: nubod is killed (SIGKILL, from inside, see
# util/crashpoint.h) at each named step of a live resize — before a vCPU is
# added, right after, once QEMU matches but before it is recorded — around
# a memory DIMM's plug and unplug, and after a live disk growth, then
# started again. Each time it must converge: the operation ends, the VM
# runs on in the same QEMU and boot, the guest has exactly the vCPUs and
# memory asked (never a vCPU or DIMM added twice), and the disk has the
# size asked.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../crash-lib.sh"

# Types that differ in vCPUs alone: each resize adds exactly one, live;
# then in memory alone, by 256 MiB.
cat >"$T_DIR/nubod.json" <<'JSON'
{"types": [
  {"name": "v1", "vcpus": 1, "memory_mib": 256}, {"name": "v2", "vcpus": 2, "memory_mib": 256},
  {"name": "v3", "vcpus": 3, "memory_mib": 256}, {"name": "v4", "vcpus": 4, "memory_mib": 256},
  {"name": "v5", "vcpus": 5, "memory_mib": 256}, {"name": "v5m", "vcpus": 5, "memory_mib": 512},
  {"name": "v5g", "vcpus": 5, "memory_mib": 768}
]}
JSON
FLAGS=(--config "$T_DIR/nubod.json")
crash_build_ok || { ok 1 "a nubod built with -Dcrashpoints=true"; echo "1..$T_N"; exit 1; }
nubod_start "${FLAGS[@]}" || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
"$NUBO" vm create r1 --type v1 --max-type v5g --wait >/dev/null 2>&1
ok $? "a VM starts with room for five vCPUs and 768 MiB"

on() { "$NUBO" vm ssh r1 -- "$@" 2>>"$T_DIR/ssh.err"; }
vm_field() { "$NUBO" vm show r1 --json | jq -r ".$1"; }
nproc_is() { [ "$(on nproc)" = "$1" ]; }

crash_at() { # crash_at STEP WHAT BODY: arms STEP, resizes, waits for the death and the end
	local step=$1 what=$2 body=$3
	op=
	crash_arm "$step" "${FLAGS[@]}" || { ok 1 "$what: nubod starts armed at $step"; return 1; }
	local r
	r=$(api POST /v1/vms/r1/resize "$body")
	op=$(body_of "$r" | jq -r '.operation.id // empty')
	crash_wait_dead 120
	ok $? "$what: nubod dies at $step"
	crash_restart "${FLAGS[@]}"
	# The reconciler may reach the step (and die) before the answer went
	# out: the resize was committed first, and the VM names it.
	[ -n "$op" ] || op=$(vm_field operation)
	[ -n "$op" ] && [ "$op" != null ] || { ok 1 "$what: the resize is accepted" "$r"; return 1; }
	wait_for 180 op_ended "$op"
	ok $? "$what, killed at $step: the operation ends after the restart" "$(op_state "$op")"
}

pid=$(vm_field pid)
boot=$(on cat /proc/sys/kernel/random/boot_id)
crash_trace_start "${FLAGS[@]}"
out=$("$NUBO" vm resize r1 --type v2 --wait 2>&1)
ok $? "a traced live resize to 2 vCPUs" "$out"
wait_for 60 nproc_is 2
ok $? "the guest has 2 vCPUs"
is "$(crash_steps resize. | tr '\n' ' ')" "resize.cpu-quota-raised resize.cpu-moved " \
	"a live vCPU resize passes its named steps"

n=2
for step in resize.cpu-quota-raised:1 resize.cpu-moved:1 resize.cpu-moved:2; do
	n=$((n + 1))
	crash_at "$step" "resize to $n vCPUs" "{\"type\":\"v$n\"}" || continue
	is "$(op_state "$op")" succeeded "resize to $n vCPUs, killed at $step: it succeeds"
	wait_for 60 nproc_is "$n"
	is "$(on nproc)" "$n" "resize to $n vCPUs, killed at $step: the guest has exactly $n"
	is "$(vm_field live_vcpus)" "$n" "resize to $n vCPUs: nubo records $n"
	is "$(vm_field state)/$(vm_field pid)" "running/$pid" "resize to $n vCPUs: the VM runs on in the same QEMU"
	is "$(on cat /proc/sys/kernel/random/boot_id)" "$boot" "resize to $n vCPUs: without a reboot"
done

memtotal() { on free -m | awk '/^Mem:/ {print $2}'; }
m0=$(memtotal)
like "$m0" '^[0-9]+$' "free -m shows the guest's memory (${m0:-?} MiB)"
m0=${m0:-999999}   # unknown: the checks below must fail, not pass against 0
memtotal_near() { local m; m=$(memtotal); [ -n "$m" ] && [ "$m" -ge $(($1 - 16)) ] && [ "$m" -le $(($1 + 16)) ]; }
for case in resize.memory-limit-raised:1:v5m:512:256 resize.memory-moved:1:v5g:768:512 \
	resize.memory-moved:1:v5m:512:768; do
	IFS=: read -r step nth type mib from <<<"$case"
	crash_at "$step:$nth" "memory $from → $mib MiB" "{\"type\":\"$type\"}" || continue
	is "$(op_state "$op")" succeeded "memory to $mib MiB, killed at $step: it succeeds"
	is "$(vm_field live_memory_mib)" "$mib" "memory to $mib MiB: nubo records $mib"
	wait_for 60 memtotal_near $((m0 + mib - 256))
	ok $? "memory to $mib MiB: the guest has exactly $((mib - 256)) MiB more than it booted with ($(memtotal) MiB)"
	is "$(vm_field state)/$(vm_field pid)" "running/$pid" "memory to $mib MiB: the VM runs on in the same QEMU"
	is "$(on cat /proc/sys/kernel/random/boot_id)" "$boot" "memory to $mib MiB: without a reboot"
done

crash_at resize.disk-grown "disk to 2G" '{"disk_size":"2G"}'
is "$(op_state "$op")" succeeded "disk to 2G, killed once grown: it succeeds"
is "$(on cat /sys/class/block/vda/size)" 4194304 "the guest sees a 2 GiB disk"
is "$(vm_field state)/$(vm_field pid)" "running/$pid" "the VM runs on in the same QEMU"

echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
