#!/usr/bin/env bash
# e2e: `nubo vm resize` under real QEMU and the tiny image.
#
#   create c1 with ceiling c2m → resize to c2: nproc 1 → 2, same boot
#   → back to c1: nproc 1, same boot under KVM; under TCG refused live
#   (QEMU 7.2 cannot unplug a vCPU there), done with --restart, and grown
#   live again → to c2m: free -m grows by a hot-plugged DIMM, same boot →
#   back to c2 while the guest refuses to eject memory: the operation fails
#   with its reason, the VM keeps running with the DIMM and shows c2m →
#   back to c2: the DIMM is unplugged and free -m shrinks → grow the root
#   disk live: the guest's disk and df grow, same boot → --restart to
#   micro: new memory, same id, IP, MAC and data → stopped, resized to
#   small, started: the same again.
set -u
. "$(dirname "$0")/../lib.sh"

# c1 and c2 differ in vCPUs only, c2 and c2m in memory only.
cat >"$T_DIR/nubod.json" <<'JSON'
{"types": [
  {"name": "c1", "vcpus": 1, "memory_mib": 256},
  {"name": "c2", "vcpus": 2, "memory_mib": 256},
  {"name": "c2m", "vcpus": 2, "memory_mib": 512}
]}
JSON
nubod_start --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
show() { "$NUBO" vm show "$1" --json | jq -r ".$2"; }
showj() { "$NUBO" vm show "$1" --json | jq -r "$2"; }
on_vm() { "$NUBO" vm ssh web1 -- "$@" 2>>"$T_DIR/ssh.err"; }
# until_vm SECONDS EXPECTED CMD: waits until CMD's output in the VM is EXPECTED
# (the guest needs a moment to online a CPU; this is a wait, not a timing check).
until_vm() {
	local limit=$1 want=$2; shift 2
	wait_for "$limit" sh -c "[ \"\$(\"$NUBO\" vm ssh web1 -- $* 2>/dev/null)\" = \"$want\" ]"
}

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
out=$("$NUBO" vm create web1 --type c1 --max-type c2m --ssh-key "$T_DIR/id.pub" --wait 2>&1)
ok $? "nubo vm create web1 --type c1 --max-type c2m --wait" "$out"
is "$(on_vm nproc)" 1 "nproc is 1 in a c1 VM"
pid=$(show web1 pid)
boot0=$(on_vm cat /proc/sys/kernel/random/boot_id)
like "$boot0" '^[0-9a-f-]{36}$' "the guest has a boot id"
like "$(tr '\0' ' ' </proc/"$pid"/cmdline)" ' -smp 1,maxcpus=2 ' "QEMU runs with room for a second vCPU"
like "$(tr '\0' ' ' </proc/"$pid"/cmdline)" ' -m 256,slots=16,maxmem=512M ' "and for 256 MiB more memory"
# The VM's CPU quota (cgroup v1 or v2), in microseconds per period.
quota() {
	local g
	g=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print "/sys/fs/cgroup/cpu" $3; exit} $1 == "0" {print "/sys/fs/cgroup" $3}' /proc/"$pid"/cgroup | head -1)
	if [ -f "$g/cpu.cfs_quota_us" ]; then cat "$g/cpu.cfs_quota_us"; else cut -d' ' -f1 "$g/cpu.max"; fi
}
q1=$(quota)
like "$q1" '^[0-9]+$' "the VM has a CPU quota ($q1)"

out=$("$NUBO" vm resize web1 --type c2 --wait 2>&1)
ok $? "nubo vm resize web1 --type c2 --wait" "$out"
until_vm 60 2 nproc
is "$(on_vm nproc)" 2 "nproc is 2 after the live resize"
is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "without a reboot"
is "$(show web1 pid)" "$pid" "in the same QEMU"
is "$(show web1 vcpus)" 2 "the VM shows 2 vCPUs"
q2=$(quota)
[ "${q2:-0}" -gt "$q1" ]
ok $? "its CPU quota grew with it ($q1 → $q2)"

# Fewer vCPUs: live under KVM. Under TCG, QEMU 7.2 stops the VM when the
# guest releases a vCPU, so nubo refuses and --restart does it offline.
if [ "$(show web1 accel)" = kvm ]; then
	out=$("$NUBO" vm resize web1 --type c1 --wait 2>&1)
	ok $? "nubo vm resize web1 --type c1 --wait (live under KVM)" "$out"
	until_vm 60 1 nproc
	is "$(on_vm nproc)" 1 "nproc is 1 again after resizing down"
	is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "still without a reboot"
	is "$(quota)" "$q1" "and the CPU quota is back to one vCPU's"
else
	out=$("$NUBO" vm resize web1 --type c1 2>&1)
	is "$?" 1 "under TCG, removing a vCPU live is refused"
	like "$out" 'vCPUs can be added live but not removed.*--restart' "with the reason and the way out"
	is "$(on_vm nproc)" 2 "and the VM runs on with 2 vCPUs"
	out=$("$NUBO" vm resize web1 --type c1 --restart --wait 2>&1)
	ok $? "nubo vm resize web1 --type c1 --restart --wait" "$out"
	is "$(on_vm nproc)" 1 "nproc is 1 after the restart"
	boot0=$(on_vm cat /proc/sys/kernel/random/boot_id)
	pid=$(show web1 pid)
	is "$(quota)" "$q1" "and the new QEMU's CPU quota is one vCPU's"
	out=$("$NUBO" vm resize web1 --type c2 --wait 2>&1)
	ok $? "and it grows live again afterwards" "$out"
	until_vm 60 2 nproc
	is "$(on_vm nproc)" 2 "nproc is 2 again, live"
	is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "without a reboot"
fi

# --- memory: a DIMM plugged in and out ----------------------------------------
memtotal() { "$NUBO" vm ssh web1 -- free -m 2>/dev/null | awk '/^Mem:/ {print $2}'; }
m0=$(memtotal)
like "$m0" '^[0-9]+$' "free -m shows the guest's memory ($m0 MiB)"
m0=${m0:-999999}   # unknown: the checks below must fail, not pass against 0
out=$("$NUBO" vm resize web1 --type c2m --wait 2>&1)
ok $? "nubo vm resize web1 --type c2m --wait" "$out"
wait_for 60 sh -c "[ \"\$(\"$NUBO\" vm ssh web1 -- free -m 2>/dev/null | awk '/^Mem:/ {print \$2}')\" -ge $((m0 + 200)) ]"
m1=$(memtotal)
[ "${m1:-0}" -ge $((m0 + 200)) ]
ok $? "free -m grew by the DIMM's 256 MiB ($m0 → $m1 MiB)"
is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "without a reboot"
is "$(show web1 pid)" "$pid" "in the same QEMU"
is "$(showj web1 '"\(.memory_mib) \(.live_memory_mib)"')" "512 512" "the VM shows 512 MiB"

# The guest refuses to give the DIMM back: Linux answers an eject request
# with ACPI _OST status 0x80 while its memory hot-remove is turned off. The
# resize fails with the guest's reason; the VM runs on, whole, with the
# memory it has, and says so.
on_vm 'echo 0 > /sys/firmware/acpi/hotplug/memory/enabled'
is "$(on_vm cat /sys/firmware/acpi/hotplug/memory/enabled)" 0 "the guest turns its memory hot-remove off"
out=$("$NUBO" vm resize web1 --type c2 --wait 2>&1)
is "$?" 1 "a shrink the guest refuses fails"
like "$out" 'guest refused to give back memory DIMM dimm0 \(ACPI status 0x80: it does not eject memory' \
	"with the guest's reason ($out)"
like "$out" 'the VM stays at c2m \(512 MiB\).*--restart' "and what the VM keeps, and the way out"
is "$(show web1 state) $(show web1 pid)" "running $pid" "the VM runs on in the same QEMU"
is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "without a reboot"
m=$(memtotal)
[ "${m:-0}" -ge $((m0 + 200)) ]
ok $? "the guest keeps the DIMM's memory ($m MiB)"
is "$(showj web1 '"\(.type) \(.vcpus) \(.memory_mib) \(.live_memory_mib)"')" "c2m 2 512 512" \
	"the VM shows what the guest has: c2m, 512 MiB"
on_vm 'echo 1 > /sys/firmware/acpi/hotplug/memory/enabled'
is "$(on_vm cat /sys/firmware/acpi/hotplug/memory/enabled)" 1 "the guest turns its memory hot-remove on again"
out=$("$NUBO" vm resize web1 --type c2 --wait 2>&1)
ok $? "nubo vm resize web1 --type c2 --wait (the DIMM unplugged)" "$out"
wait_for 60 sh -c "[ \"\$(\"$NUBO\" vm ssh web1 -- free -m 2>/dev/null | awk '/^Mem:/ {print \$2}')\" -le $((m0 + 16)) ]"
m2=$(memtotal)
[ "${m2:-99999}" -le $((m0 + 16)) ] && [ "${m2:-0}" -ge $((m0 - 16)) ]
ok $? "free -m is back to the boot memory ($m1 → $m2 MiB)"
is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "still without a reboot"
is "$(showj web1 '"\(.type) \(.memory_mib) \(.live_memory_mib)"')" "c2 256 256" "the VM shows c2, 256 MiB"

out=$("$NUBO" vm resize web1 --type small 2>&1)
is "$?" 1 "more memory than the ceiling on a running VM fails without --restart"
like "$out" 'above the VM.s ceiling of 512 MiB.*--restart' "and says why and what to do"

# --- the root disk grows live ------------------------------------------------
df0=$(on_vm df -k / | awk 'NR==2 {print $2}')
like "$df0" '^[0-9]+$' "df shows the root file system's size ($df0 KiB)"
out=$("$NUBO" vm resize web1 --disk-size 2G --wait 2>&1)
ok $? "nubo vm resize web1 --disk-size 2G --wait" "$out"
is "$(on_vm cat /sys/class/block/vda/size)" 4194304 "the guest sees a 2 GiB disk"
wait_for 60 sh -c "[ \"\$(\"$NUBO\" vm ssh web1 -- df -k / 2>/dev/null | awk 'NR==2 {print \$2}')\" -gt $((df0 * 3 / 2)) ]"
df1=$(on_vm df -k / | awk 'NR==2 {print $2}')
[ "${df1:-0}" -gt $((df0 * 3 / 2)) ]
ok $? "its file system grew with it ($df0 → $df1 KiB)"
is "$(on_vm cat /proc/sys/kernel/random/boot_id)" "$boot0" "without a reboot"
out=$("$NUBO" vm resize web1 --disk-size 1G 2>&1)
is "$?" 1 "shrinking the disk is refused"
like "$out" 'never shrinks a disk' "with the reason"

# --- offline: --restart keeps id, IP, MAC and data ---------------------------
ip=$(show web1 ip) mac=$(show web1 mac) id=$(show web1 id)
on_vm 'echo kept > /root/persist && sync'
ok $? "a file is written in the VM"
out=$("$NUBO" vm resize web1 --type micro --restart --wait 2>&1)
ok $? "nubo vm resize web1 --type micro --restart --wait" "$out"
is "$(show web1 state)" running "web1 runs again"
is "$(show web1 id) $(show web1 ip) $(show web1 mac)" "$id $ip $mac" "with the same id, IP and MAC"
is "$(on_vm cat /root/persist)" kept "and its data"
boot1=$(on_vm cat /proc/sys/kernel/random/boot_id)
[ -n "$boot1" ] && [ "$boot1" != "$boot0" ]
ok $? "after a real restart (new boot id)"
mem=$(on_vm cat /proc/meminfo | awk '/MemTotal/ {print $2}')
[ "${mem:-0}" -gt 300000 ]
ok $? "the guest has the new memory ($mem KiB)"
is "$(on_vm cat /sys/class/block/vda/size)" 4194304 "and keeps its grown disk"

# --- offline: a stopped VM takes the new type at its next start --------------
out=$("$NUBO" vm stop web1 --wait 2>&1)
ok $? "nubo vm stop web1 --wait" "$out"
out=$("$NUBO" vm resize web1 --type small --wait 2>&1)
ok $? "nubo vm resize web1 --type small --wait (stopped: done at once)" "$out"
is "$(showj web1 '"\(.state) \(.type) \(.memory_mib) \(.max_memory_mib)"')" "stopped small 1024 1024" \
	"it stays stopped, with the new type and a ceiling raised to it"
out=$("$NUBO" vm start web1 --wait 2>&1)
ok $? "nubo vm start web1 --wait" "$out"
is "$(show web1 id) $(show web1 ip) $(show web1 mac)" "$id $ip $mac" "it starts with the same id, IP and MAC"
is "$(on_vm cat /root/persist)" kept "and its data"
mem2=$(on_vm cat /proc/meminfo | awk '/MemTotal/ {print $2}')
[ "${mem2:-0}" -gt 800000 ]
ok $? "and the new type's memory ($mem2 KiB)"

out=$("$NUBO" vm delete web1 --wait 2>&1)
ok $? "nubo vm delete web1" "$out"
echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
