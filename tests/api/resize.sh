#!/usr/bin/env bash
# API tests of `vm resize`: a real nubod and store, the host layer in dry-run.
# Ceilings at create and QEMU's -smp and -m, every bad input with its field
# and value, the 409s (above the ceiling, memory not in whole blocks,
# capacity), and the phases of a live, a restarting and an offline resize.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

# Types of equal memory, so vCPUs alone change (live), types of one vCPU and
# other memory, and one no host holds.
cat >"$T_DIR/nubod.json" <<'JSON'
{"types": [
  {"name": "m512", "vcpus": 1, "memory_mib": 512},
  {"name": "m300", "vcpus": 1, "memory_mib": 300},
  {"name": "w", "vcpus": 2, "memory_mib": 1024},
  {"name": "c1", "vcpus": 1, "memory_mib": 256},
  {"name": "c2", "vcpus": 2, "memory_mib": 256},
  {"name": "c4", "vcpus": 4, "memory_mib": 256},
  {"name": "c8", "vcpus": 8, "memory_mib": 256},
  {"name": "huge", "vcpus": 1, "memory_mib": 1048576}
]}
JSON
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }
DRY_LOG=$T_STATE/dry-run.log
op_done() { wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$1 | jq -e '.state==\"succeeded\"' >/dev/null"; }
phases() { body_of "$(api GET "/v1/operations/$1")" | jq -r '[.phases[].name] | join(",")'; }
vm_field() { body_of "$(api GET "/v1/vms/$1")" | jq -r "$2"; }
qemu_argv() { grep "^qemu-system-x86_64 -name $(vm_field "$1" .id) " "$DRY_LOG" | tail -n 1; }
msg() { body_of "$1" | jq -r .error.message; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "the tiny image is built (dry-run)"

# --- ceilings at create -------------------------------------------------------
r=$(api POST /v1/vms '{"name":"bad","type":"c2","max_type":"c1"}')
is "$(status_of "$r")" 400 "a max_type smaller than the type is 400"
like "$(msg "$r")" 'max_type "c1" \(1 vCPU, 256 MiB\) is smaller than type "c2"' "the error names both types"
r=$(api POST /v1/vms '{"name":"bad","type":"c1","max_type":"nope"}')
is "$(status_of "$r")" 422 "an unknown max_type is 422"
like "$(msg "$r")" 'max_type "nope" does not exist; valid types: .*c4' "the error lists the types"
r=$(api POST /v1/vms '{"name":"bad","max_type":7}')
is "$(status_of "$r")" 400 "a max_type that is not a string is 400"

r=$(api POST /v1/vms '{"name":"web1","type":"c1","max_type":"c4"}')
is "$(status_of "$r")" 202 "create with max_type c4 is accepted"
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "web1 boots"
is "$(vm_field web1 '"\(.max_type) \(.max_vcpus) \(.max_memory_mib)"')" "c4 4 256" "the VM shows its ceiling"
like "$(qemu_argv web1)" ' -smp 1,maxcpus=4 -m 256 ' "QEMU boots with one vCPU and room for four"
like "$(qemu_argv web1)" 'tcg,thread=single,' "and single-threaded TCG, the one that survives a hot-add"
r=$(api POST /v1/vms '{"name":"plain","type":"c1"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
is "$(vm_field plain '"\(.max_type) \(.max_vcpus)"')" "c1 1" "without max_type the ceiling is the VM's own type"
like "$(qemu_argv plain)" ' -smp 1 -m 256 ' "and QEMU gets plain -smp 1"

# --- bad input: field and value --------------------------------------------------
r=$(api POST /v1/vms/web1/resize '{}')
is "$(status_of "$r")" 400 "a resize with nothing to change is 400"
like "$(msg "$r")" 'give "type", "disk_size" or both' "the error says what to give"
r=$(api POST /v1/vms/web1/resize '{"size":"c2"}')
is "$(status_of "$r")" 400 "an unknown field is 400"
like "$(msg "$r")" 'size' "the error names the field"
r=$(api POST /v1/vms/web1/resize '{"type":2}')
is "$(status_of "$r")" 400 "a type that is not a string is 400"
like "$(msg "$r")" 'type' "the error names type"
r=$(api POST /v1/vms/web1/resize '{"type":"c2","restart":"yes"}')
is "$(status_of "$r")" 400 "restart that is not a boolean is 400"
like "$(msg "$r")" 'restart' "the error names restart"
r=$(api POST /v1/vms/web1/resize '{"type":"xl"}')
is "$(status_of "$r")" 422 "an unknown type is 422"
like "$(msg "$r")" 'type "xl" does not exist; valid types: .*c2' "the error names the value and lists the types"
r=$(api POST /v1/vms/web1/resize '{"disk_size":"lots"}')
is "$(status_of "$r")" 400 "a disk_size that is not a size is 400"
like "$(msg "$r")" 'disk_size.*lots' "the error names the field and value"
r=$(api POST /v1/vms/nope/resize '{"type":"c2"}')
is "$(status_of "$r")" 404 "resizing a VM that does not exist is 404"
r=$(api POST /v1/vms/web1/resize 'not json')
is "$(status_of "$r")" 400 "a body that is not JSON is 400"

# --- live vCPU resize -----------------------------------------------------------
: >"$DRY_LOG.mark"
lines=$(wc -l <"$DRY_LOG")
r=$(api POST /v1/vms/web1/resize '{"type":"c2"}')
is "$(status_of "$r")" 202 "a live resize within the ceiling is accepted"
op=$(body_of "$r" | jq -r .operation.id)
is "$(body_of "$r" | jq -r .operation.kind)" resize "its operation is a resize"
op_done "$op"
ok $? "the live resize succeeds"
is "$(phases "$op")" "scheduled,cpus" "a live vCPU resize reports scheduled, cpus"
is "$(vm_field web1 '"\(.type) \(.vcpus) \(.live_vcpus) \(.state)"')" "c2 2 2 running" "web1 runs as c2 with 2 vCPUs"
like "$(tail -n +$((lines + 1)) "$DRY_LOG")" "qmp .*/qmp.sock vcpus 2" "the reconciler asked QEMU for 2 vCPUs"
ok "$(tail -n +$((lines + 1)) "$DRY_LOG" | grep -c '^qemu-system')" "and started no new QEMU"
r=$(api POST /v1/vms/web1/resize '{"type":"c2"}')
is "$(status_of "$r")" 200 "resizing to the type it has is a no-op (200)"
is "$(body_of "$r" | jq -r .operation.state)" succeeded "with a finished operation"
# Fewer vCPUs: live under KVM; under TCG QEMU 7.2 cannot unplug one, so a restart.
if [ "$(vm_field web1 .accel)" = kvm ]; then
	r=$(api POST /v1/vms/web1/resize '{"type":"c1"}')
	is "$(status_of "$r")" 202 "under KVM, removing a vCPU is live"
else
	r=$(api POST /v1/vms/web1/resize '{"type":"c1"}')
	is "$(status_of "$r")" 409 "under TCG, removing a vCPU from a running VM is 409"
	like "$(msg "$r")" 'type c1 has 1 vCPUs and the VM has 2; under TCG emulation vCPUs can be added live but not removed.*--restart' \
		"the error says why and what to do"
	r=$(api POST /v1/vms/web1/resize '{"type":"c1","restart":true}')
	is "$(status_of "$r")" 202 "with restart it is accepted"
fi
op=$(body_of "$r" | jq -r .operation.id)
op_done "$op"
is "$(vm_field web1 '"\(.vcpus) \(.live_vcpus) \(.state)"')" "1 1 running" "web1 runs with 1 vCPU again"

# --- live memory resize -----------------------------------------------------------
r=$(api POST /v1/vms '{"name":"mem1","type":"c1","max_type":"w"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "mem1 boots with a ceiling of 1024 MiB"
like "$(qemu_argv mem1)" ' -smp 1,maxcpus=2 -m 256,slots=16,maxmem=1024M ' "QEMU boots with DIMM slots up to the ceiling"
lines=$(wc -l <"$DRY_LOG")
r=$(api POST /v1/vms/mem1/resize '{"type":"m512"}')
is "$(status_of "$r")" 202 "more memory within the ceiling is live"
op=$(body_of "$r" | jq -r .operation.id)
op_done "$op"
ok $? "the live memory resize succeeds"
is "$(phases "$op")" "scheduled,memory" "it reports scheduled, memory"
is "$(vm_field mem1 '"\(.type) \(.memory_mib) \(.live_memory_mib) \(.vcpus)"')" "m512 512 512 1" "mem1 runs with 512 MiB"
like "$(tail -n +$((lines + 1)) "$DRY_LOG")" "qmp .*/qmp.sock memory 512" "the reconciler asked QEMU for 512 MiB"
ok "$(tail -n +$((lines + 1)) "$DRY_LOG" | grep -c '^qemu-system')" "and started no new QEMU"
r=$(api POST /v1/vms/mem1/resize '{"type":"c1"}')
is "$(status_of "$r")" 202 "less memory is live too"
op=$(body_of "$r" | jq -r .operation.id)
op_done "$op"
is "$(phases "$op")" "scheduled,memory" "it reports scheduled, memory"
is "$(vm_field mem1 '"\(.type) \(.memory_mib) \(.live_memory_mib)"')" "c1 256 256" "mem1 runs with 256 MiB again"
r=$(api POST /v1/vms/mem1/resize '{"type":"w"}')
is "$(status_of "$r")" 202 "memory and a vCPU together within the ceiling are live"
op=$(body_of "$r" | jq -r .operation.id)
op_done "$op"
is "$(phases "$op")" "scheduled,memory,cpus" "memory moves first, then the vCPU"
is "$(vm_field mem1 '"\(.memory_mib) \(.live_memory_mib) \(.live_vcpus)"')" "1024 1024 2" "mem1 runs with 1024 MiB and 2 vCPUs"
r=$(api POST /v1/vms/mem1/resize '{"type":"m300"}')
is "$(status_of "$r")" 409 "memory that is not a whole number of 128 MiB blocks away is 409"
like "$(msg "$r")" 'type m300 has 300 MiB of memory and the VM has 1024 MiB; running, memory moves in whole blocks of 128 MiB.*--restart' \
	"the error says why and what to do"
r=$(api POST /v1/vms/mem1/resize '{"type":"huge"}')
is "$(status_of "$r")" 409 "memory above the ceiling is 409"
like "$(msg "$r")" 'type huge has 1048576 MiB of memory, above the VM.s ceiling of 1024 MiB' "with the numbers"
r=$(api DELETE /v1/vms/mem1)
op_done "$(body_of "$r" | jq -r .operation.id)"

# --- 409s -------------------------------------------------------------------------
r=$(api POST /v1/vms/web1/resize '{"type":"c8"}')
is "$(status_of "$r")" 409 "more vCPUs than the ceiling while running is 409"
like "$(msg "$r")" 'type c8 has 8 vCPUs, above the VM.s ceiling of 4 fixed at create \(max_type c4\).*--restart' \
	"the error gives the numbers and the way out"
r=$(api POST /v1/vms/web1/resize '{"type":"small"}')
is "$(status_of "$r")" 409 "more memory than the ceiling while running is 409"
like "$(msg "$r")" 'type small has 1024 MiB of memory, above the VM.s ceiling of 256 MiB fixed at create \(max_type c4\).*--restart' \
	"the error gives the numbers and the way out"
r=$(api POST /v1/vms/web1/resize '{"type":"huge","restart":true}')
is "$(status_of "$r")" 409 "a resize the host cannot hold is 409"
like "$(msg "$r")" 'insufficient capacity: VM web1 \(type huge\) needs 1 vCPU and 1048576 MiB' "the error says what is missing"
is "$(vm_field web1 '"\(.type) \(.state) \(.power)"')" "c1 running running" "and the VM keeps its type and runs on"

# --- restart: stop, change, start -------------------------------------------------
ip=$(vm_field web1 .ip) mac=$(vm_field web1 .mac) id=$(vm_field web1 .id)
r=$(api POST /v1/vms/web1/resize '{"type":"small","restart":true}')
is "$(status_of "$r")" 202 "with restart, a memory change is accepted"
op=$(body_of "$r" | jq -r .operation.id)
op_done "$op"
ok $? "the restarting resize succeeds"
is "$(phases "$op")" "scheduled,powerdown,stopped,boot,ssh-ready" "its phases are stop then start"
is "$(vm_field web1 '"\(.id) \(.ip) \(.mac)"')" "$id $ip $mac" "the VM keeps its id, IP and MAC"
is "$(vm_field web1 '"\(.type) \(.memory_mib) \(.max_vcpus) \(.max_memory_mib)"')" "small 1024 4 1024" \
	"it runs as small; the memory ceiling rose, the vCPU ceiling stayed"
like "$(qemu_argv web1)" ' -smp 1,maxcpus=4 -m 1024 ' "QEMU restarted with the new memory"
like "$(qemu_argv web1)" "file=$T_STATE/vms/$id/root.qcow2," "on the same root disk"

# --- disks ------------------------------------------------------------------------
r=$(api POST /v1/vms '{"name":"db","type":"c1","disk_size":"2G"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
r=$(api POST /v1/vms/db/resize '{"disk_size":"1G"}')
is "$(status_of "$r")" 422 "shrinking a disk is refused (422)"
like "$(msg "$r")" 'disk_size 1G is smaller than the disk.s 2G: nubo never shrinks a disk' "with the reason"
r=$(api POST /v1/vms/db/resize '{"disk_size":"2G"}')
is "$(status_of "$r")" 200 "the size it has is a no-op"
lines=$(wc -l <"$DRY_LOG")
r=$(api POST /v1/vms/db/resize '{"disk_size":"3G"}')
is "$(status_of "$r")" 202 "growing a running VM's disk is accepted"
op=$(body_of "$r" | jq -r .operation.id)
op_done "$op"
is "$(phases "$op")" "scheduled,disk" "a live disk resize reports scheduled, disk"
like "$(tail -n +$((lines + 1)) "$DRY_LOG")" 'qmp .*/qmp.sock block_resize \{"device":"root","size":3221225472\}' \
	"QEMU grows the root device live"
is "$(vm_field db .disk_size_bytes)" 3221225472 "the VM shows the new size"

# --- offline: the spec is the resize; the next start applies it -------------------
r=$(api POST /v1/vms/db/stop '{"force":true}')
op_done "$(body_of "$r" | jq -r .operation.id)"
r=$(api POST /v1/vms/db/resize '{"type":"micro","disk_size":"4G"}')
is "$(status_of "$r")" 202 "a stopped VM takes any type (no restart needed)"
is "$(body_of "$r" | jq -r .operation.state)" succeeded "its operation is done at once"
is "$(vm_field db '"\(.type) \(.state) \(.max_type) \(.max_vcpus) \(.max_memory_mib)"')" "micro stopped micro 1 512" \
	"the VM stays stopped, its ceiling rose to micro"
lines=$(wc -l <"$DRY_LOG")
r=$(api POST /v1/vms/db/start)
op_done "$(body_of "$r" | jq -r .operation.id)"
new=$(tail -n +$((lines + 1)) "$DRY_LOG")
like "$new" "qemu-img resize -f qcow2 $T_STATE/vms/$(vm_field db .id)/root.qcow2 4294967296" "the start grows the disk file"
like "$(qemu_argv db)" ' -smp 1 -m 512 ' "and boots the new type"

echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
