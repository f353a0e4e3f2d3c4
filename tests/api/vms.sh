#!/usr/bin/env bash
# API tests: a real nubod and a real SQLite store, the host layer in dry-run.
# Every error case of the VM API, idempotent actions, and concurrent creates.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

# qboot, the firmware of direct boots, is a file of the test's own, so that
# what the argv holds does not depend on the host's QEMU.
: >"$T_DIR/qboot.rom"
printf '{"qboot": "%s"}\n' "$T_DIR/qboot.rom" >"$T_DIR/nubod.json"
printf '{"qboot": "%s"}\n' "$T_DIR/missing/qboot.rom" >"$T_DIR/nubod-noqboot.json"
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
DRY_LOG=$T_STATE/dry-run.log
# qemu_argv VM: the QEMU command line nubod ran for VM (by name), from the dry-run log.
qemu_argv() {
	local id
	id=$(body_of "$(api GET "/v1/vms/$1")" | jq -r .id)
	grep "^qemu-system-x86_64 -name $id " "$DRY_LOG" | tail -n 1
}
vm_running() { wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/$1 | jq -e '.state==\"running\"' >/dev/null"; }

# vm_count: how many VMs the API lists
vm_count() { body_of "$(api GET /v1/vms)" | jq '.vms | length'; }
vm_dirs() { ls "$T_STATE/vms" 2>/dev/null | wc -l; }
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1nubotestkey test@nubo'

r=$(api GET /v1/types)
is "$(status_of "$r")" 200 "GET /v1/types answers 200"
is "$(body_of "$r" | jq -r '[.types[].name] | join(",")')" "nano,micro,small,medium,large" "the catalog ships nano through large"
is "$(body_of "$r" | jq -r '.types[] | select(.name=="large") | "\(.vcpus)/\(.memory_mib)"')" "4/8192" "large is 4 vCPU / 8 GiB"

r=$(api POST /v1/vms '{"name":"early"}')
is "$(status_of "$r")" 422 "creating a VM before any image exists is 422"
like "$(body_of "$r" | jq -r .error.message)" 'image "tiny" does not exist.*nubo image build tiny' "the error says how to build the image"

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
is "$(status_of "$r")" 202 "image build is accepted"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the image build operation succeeds"
r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
is "$(status_of "$r")" 409 "building an image name that exists is 409"
r=$(api POST /v1/images '{"name":"x","recipe":"nope"}')
is "$(status_of "$r")" 422 "an unknown recipe is 422"
like "$(body_of "$r" | jq -r .error.message)" 'recipe "nope" does not exist; available recipes: .*tiny' "the error lists the recipes"

r=$(api POST /v1/vms "{\"name\":\"web1\",\"type\":\"small\",\"ssh_keys\":[\"$KEY\"]}")
is "$(status_of "$r")" 202 "create is accepted with 202"
is "$(body_of "$r" | jq -r .vm.state)" pending "a new VM is pending"
like "$(body_of "$r" | jq -r .vm.ip)" '^10\.[0-9]+\.[0-9]+\.2$' "the VM gets the first free IP of the default network"
like "$(body_of "$r" | jq -r .vm.mac)" '^52:54:00:' "the VM gets a locally administered MAC"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the create operation succeeds"
r=$(api GET /v1/operations/$op)
is "$(body_of "$r" | jq -r '[.phases[].name] | join(",")')" "scheduled,disk,boot,ssh-ready" "create reports its phases in order"
r=$(api GET /v1/vms/web1)
is "$(body_of "$r" | jq -r .state)" running "the VM is running"
# What the probe found on this machine (tcg here, kvm where the CPU has it).
host_accel=$(body_of "$(api GET /v1/host)" | jq -r .accel)
like "$host_accel" '^(kvm|tcg)$' "GET /v1/host reports the accelerator the probe found"
is "$(body_of "$r" | jq -r .accel)" "$host_accel" "the VM records the accelerator it was started with, the host's"
id=$(body_of "$r" | jq -r .id)
is "$(status_of "$(api GET /v1/vms/$id)")" 200 "a VM is found by id as well as by name"

# --- errors that must leave nothing behind ---
before=$(vm_count); dirs_before=$(vm_dirs)
r=$(api POST /v1/vms '{"name":"web1"}')
is "$(status_of "$r")" 409 "a duplicate name is 409"
like "$(body_of "$r" | jq -r .error.message)" 'web1' "the conflict names the VM"
for bad in '' 'Web1' 'a_b' '-a' 'a-' '1abc' "$(printf 'a%.0s' $(seq 1 64))"; do
	r=$(api POST /v1/vms "{\"name\":\"$bad\"}")
	is "$(status_of "$r")" 400 "invalid name '${bad:0:20}' is 400"
done
like "$(body_of "$(api POST /v1/vms '{"name":"Web1"}')" | jq -r .error.message)" 'name "Web1"' "the error names the field and the value"
r=$(api POST /v1/vms '{"name":"x1","type":"huge"}')
is "$(status_of "$r")" 422 "an unknown type is 422"
like "$(body_of "$r" | jq -r .error.message)" 'type "huge" does not exist; valid types: nano, micro, small, medium, large' "the error names the value and lists the valid types"
r=$(api POST /v1/vms '{"name":"x1","image":"windows"}')
is "$(status_of "$r")" 422 "an unknown image is 422"
like "$(body_of "$r" | jq -r .error.message)" 'image "windows" does not exist; available images: tiny' "the error lists the images"
r=$(api POST /v1/vms '{"name":"x1",')
is "$(status_of "$r")" 400 "malformed JSON is 400"
like "$(body_of "$r" | jq -r .error.code)" invalid_argument "with code invalid_argument"
r=$(api POST /v1/vms '{"name":"x1","colour":"blue"}')
is "$(status_of "$r")" 400 "an unknown field is 400"
like "$(body_of "$r" | jq -r .error.message)" 'unknown field "colour"' "the error names the unknown field"
is "$(status_of "$(api POST /v1/vms '{"name":5}')")" 400 "a name that is not a string is 400"
is "$(status_of "$(api POST /v1/vms '[1,2]')")" 400 "a body that is not an object is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"x1","ssh_keys":"nope"}')")" 400 "ssh_keys that is not a list is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"x1","ssh_keys":["not a key"]}')")" 400 "an ssh key that is not a public key is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"x1","name":"x2"}')")" 400 "duplicate keys are 400"
r=$(api POST /v1/vms '{"name":"x1","disk_size":"lots"}')
is "$(status_of "$r")" 400 "a disk_size that is not a size is 400"
like "$(body_of "$r" | jq -r .error.message)" 'disk_size "lots" is not a size' "the error names the field and value"
is "$(status_of "$(api POST /v1/vms '{"name":"x1","disk_size":"17T"}')")" 400 "a disk_size past 16T is 400"
is "$(vm_count)" "$before" "no VM row is left by the failed creates"
is "$(vm_dirs)" "$dirs_before" "no VM directory is left by the failed creates"

r=$(api POST /v1/vms '{"name":"sized","type":"nano","disk_size":"20G"}')
is "$(status_of "$r")" 202 "a create with disk_size is accepted"
is "$(body_of "$r" | jq .vm.disk_size_bytes)" 21474836480 "disk_size 20G is 20 GiB"
api DELETE /v1/vms/sized >/dev/null

# --- image imports: bad input is refused before anything is recorded ---
imgs_before=$(body_of "$(api GET /v1/images)" | jq '.images | length')
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"relative.qcow2"}')")" 400 "an import file that is not an absolute path is 400"
r=$(api POST /v1/images '{"name":"imp","file":"/nonexistent/x.qcow2"}')
is "$(status_of "$r")" 422 "an unreadable import file is 422"
like "$(body_of "$r" | jq -r .error.message)" 'file /nonexistent/x.qcow2 cannot be read' "the error names the file"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","sha256":"xyz"}')")" 400 "a malformed sha256 is 400"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","recipe":"tiny"}')")" 400 "recipe and file together are 400"
is "$(status_of "$(api POST /v1/images '{"name":"imp","recipe":"tiny","user":"me"}')")" 400 "user without file is 400"
r=$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","boot":"direct"}')
is "$(status_of "$r")" 400 "direct boot without a kernel is 400"
like "$(body_of "$r" | jq -r .error.message)" '^boot direct needs kernel: ' "the error names the missing kernel"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","boot":"direct","initrd":"/etc/hostname"}')")" 400 \
	"direct boot with an initrd but no kernel is 400"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","boot":"direct","kernel":"/etc/hostname","initrd":"rel/initrd"}')")" 400 \
	"a relative initrd path is 400"
r=$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","boot":"direct","kernel":"/etc/hostname","initrd":"/nonexistent/initrd"}')
is "$(status_of "$r")" 422 "an unreadable initrd is 422"
like "$(body_of "$r" | jq -r .error.message)" 'initrd /nonexistent/initrd cannot be read' "the error names the initrd"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","boot":"direct","kernel":"vmlinuz"}')")" 400 \
	"a relative kernel path is 400"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","boot":"bios"}')")" 400 "an unknown boot mode is 400"
is "$(status_of "$(api POST /v1/images '{"name":"imp","file":"/etc/hostname","kernel":"/etc/hostname"}')")" 400 "a kernel without boot direct is 400"
is "$(body_of "$(api GET /v1/images)" | jq '.images | length')" "$imgs_before" "no image row is left by the refused imports"

# A checksum pasted in upper case (as some sites print them) is the same checksum.
H=$(sha256sum /etc/hostname | cut -d' ' -f1)
r=$(api POST /v1/images "{\"name\":\"upper\",\"file\":\"/etc/hostname\",\"sha256\":\"${H^^}\"}")
is "$(status_of "$r")" 202 "an upper-case sha256 is accepted"
is "$(body_of "$r" | jq -r .image.sha256)" "$H" "and kept in lower case"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/images/upper | jq -e '.state!=\"importing\"' >/dev/null"
api DELETE /v1/images/upper >/dev/null

# --- direct boot: the initrd is optional, qboot is the firmware ---
r=$(api POST /v1/images '{"name":"dk","file":"/etc/hostname","boot":"direct","kernel":"/etc/os-release","cmdline":"console=ttyS0 root=/dev/vda rw"}')
is "$(status_of "$r")" 202 "a direct import with a kernel and no initrd is accepted"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/images/dk | jq -e '.state==\"ready\"' >/dev/null"
ok $? "the import without an initrd becomes ready"
dk_id=$(body_of "$(api GET /v1/images/dk)" | jq -r .id)
r=$(api POST /v1/images '{"name":"dki","file":"/etc/hostname","boot":"direct","kernel":"/etc/os-release","initrd":"/etc/hostname"}')
is "$(status_of "$r")" 202 "a direct import with a kernel and an initrd is accepted"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/images/dki | jq -e '.state==\"ready\"' >/dev/null"
dki_id=$(body_of "$(api GET /v1/images/dki)" | jq -r .id)
# A dry-run import copies nothing (tests/e2e/storage.sh imports for real):
# put the files where the import copies them. A start goes by what the image
# directory holds.
mkdir -p "$T_STATE/images/$dk_id" "$T_STATE/images/$dki_id"
: >"$T_STATE/images/$dk_id/vmlinuz"
: >"$T_STATE/images/$dki_id/vmlinuz"
: >"$T_STATE/images/$dki_id/initrd.img"
is "$(status_of "$(api POST /v1/vms '{"name":"dk1","type":"nano","image":"dk"}')")" 202 "a VM of the image without an initrd is accepted"
vm_running dk1
ok $? "it runs (dry-run)"
argv=$(qemu_argv dk1)
like "$argv" " -bios $T_DIR/qboot.rom -kernel $T_STATE/images/$dk_id/vmlinuz -append 'console=ttyS0 root=/dev/vda rw' " \
	"its QEMU starts the kernel from qboot, with the image's command line"
[[ "$argv" != *" -initrd "* ]]
ok $? "its QEMU gets no -initrd" "$argv"
api POST /v1/vms '{"name":"dki1","type":"nano","image":"dki"}' >/dev/null
vm_running dki1
like "$(qemu_argv dki1)" " -bios $T_DIR/qboot.rom -kernel $T_STATE/images/$dki_id/vmlinuz -initrd $T_STATE/images/$dki_id/initrd.img " \
	"a VM of an image with an initrd gets -initrd"
r=$(api POST /v1/images '{"name":"fw","file":"/etc/hostname"}')
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/images/fw | jq -e '.state==\"ready\"' >/dev/null"
api POST /v1/vms '{"name":"fw1","type":"nano","image":"fw"}' >/dev/null
vm_running fw1
argv=$(qemu_argv fw1)
like "$argv" ' -device virtio-blk-pci,drive=root,bootindex=1 ' "a VM of a firmware-boot image boots from its disk"
[[ "$argv" != *" -bios "* && "$argv" != *" -kernel "* ]]
ok $? "and gets QEMU's own firmware (SeaBIOS), not qboot" "$argv"
for v in dk1 dki1 fw1; do api DELETE /v1/vms/$v >/dev/null; done
wait_for 10 sh -c "[ \$(curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq '[.vms[] | select(.name==\"dk1\" or .name==\"dki1\" or .name==\"fw1\")] | length') = 0 ]"
ok $? "the direct-boot test VMs are deleted"
for i in dki fw; do api DELETE /v1/images/$i >/dev/null; done

# --- volumes ---
r=$(api POST /v1/volumes '{"name":"v1","size":"1G"}')
is "$(status_of "$r")" 202 "a volume create is accepted"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/volumes/v1 | jq -e '.state==\"available\"' >/dev/null"
ok $? "the volume becomes available"
is "$(status_of "$(api POST /v1/volumes '{"name":"v1","size":"1G"}')")" 409 "a duplicate volume name is 409"
is "$(status_of "$(api POST /v1/volumes '{"name":"v2"}')")" 400 "a volume without size is 400"
like "$(body_of "$(api POST /v1/volumes '{"name":"v2","size":"1K"}')" | jq -r .error.message)" 'size 1K must be between 1M and 16T' "a tiny volume is refused with the range"
is "$(status_of "$(api POST /v1/volumes/v1/attach '{}')")" 400 "attach without a VM is 400"
is "$(status_of "$(api POST /v1/volumes/v1/attach '{"vm":"nope"}')")" 404 "attach to an unknown VM is 404"
is "$(status_of "$(api POST /v1/volumes/nope/attach '{"vm":"web1"}')")" 404 "attach of an unknown volume is 404"
is "$(status_of "$(api POST /v1/volumes/v1/detach)")" 200 "detaching a detached volume is a 200 no-op"
is "$(status_of "$(api POST /v1/volumes/v1/attach '{"vm":"web1"}')")" 202 "attach is accepted"
is "$(status_of "$(api POST /v1/volumes/v1/attach '{"vm":"web1"}')")" 200 "attaching it again is a 200 no-op"
is "$(status_of "$(api DELETE /v1/volumes/v1)")" 409 "an attached volume cannot be deleted"
for i in 2 3 4 5; do api POST /v1/volumes "{\"name\":\"v$i\",\"size\":\"1M\"}" >/dev/null; done
wait_for 10 sh -c "[ \$(curl -s --unix-socket $T_SOCK http://nubo/v1/volumes | jq '[.volumes[] | select(.state==\"available\")] | length') = 4 ]"
for i in 2 3 4; do api POST /v1/volumes/v$i/attach '{"vm":"web1"}' >/dev/null; done
r=$(api POST /v1/volumes/v5/attach '{"vm":"web1"}')
is "$(status_of "$r")" 409 "a fifth volume on one VM is 409"
like "$(body_of "$r" | jq -r .error.message)" 'already has 4 volumes' "the error gives the limit"
for i in 1 2 3 4; do api POST /v1/volumes/v$i/detach >/dev/null; done
wait_for 10 sh -c "[ \$(curl -s --unix-socket $T_SOCK http://nubo/v1/volumes | jq '[.volumes[] | select(.state==\"available\")] | length') = 5 ]"
ok $? "detached volumes are available again"
for i in 1 2 3 4 5; do api DELETE /v1/volumes/v$i >/dev/null; done
wait_for 10 sh -c "[ \$(curl -s --unix-socket $T_SOCK http://nubo/v1/volumes | jq '.volumes | length') = 0 ]"
ok $? "deleted volumes disappear"

# --- snapshots ---
is "$(status_of "$(api POST /v1/snapshots '{}')")" 400 "a snapshot without a VM is 400"
is "$(status_of "$(api POST /v1/snapshots '{"vm":"web1","volume":"v1"}')")" 400 "a snapshot of a VM and a volume at once is 400"
is "$(status_of "$(api POST /v1/snapshots '{"vm":"nope"}')")" 404 "a snapshot of an unknown VM is 404"
is "$(status_of "$(api POST /v1/snapshots '{"vm":"web1","name":"Bad Name"}')")" 400 "an invalid snapshot name is 400"
r=$(api POST /v1/snapshots '{"vm":"web1","name":"snap1"}')
is "$(status_of "$r")" 202 "a snapshot of a running VM is accepted"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/snapshots/snap1 | jq -e '.state==\"ready\"' >/dev/null"
ok $? "the snapshot becomes ready"
is "$(status_of "$(api POST /v1/snapshots '{"vm":"web1","name":"snap1"}')")" 409 "a duplicate snapshot name is 409"
r=$(api POST /v1/vms/web1/restore '{"snapshot":"snap1"}')
is "$(status_of "$r")" 409 "restoring a running VM is 409"
is "$(status_of "$(api POST /v1/vms/web1/restore '{}')")" 400 "restore without a snapshot is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"fs1","from_snapshot":"snap1","image":"tiny"}')")" 400 "from_snapshot with image is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"fs1","from_snapshot":"nope"}')")" 422 "from an unknown snapshot is 422"
r=$(api POST /v1/vms '{"name":"fs1","type":"nano","from_snapshot":"snap1"}')
is "$(status_of "$r")" 202 "a VM from a snapshot is accepted"
r=$(api POST /v1/vms/fs1/restore '{"snapshot":"snap1"}')
is "$(status_of "$r")" 409 "a VM cannot be restored to another VM's snapshot"
api DELETE /v1/vms/fs1 >/dev/null
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $T_SOCK http://nubo/v1/vms/fs1)\" = 404 ]"
r=$(api DELETE /v1/snapshots/snap1)
is "$(status_of "$r")" 202 "a snapshot delete is accepted"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"failed\"' >/dev/null"
ok $? "deleting a snapshot under a running VM's disk fails"
like "$(body_of "$(api GET /v1/operations/$op)" | jq -r .error)" 'part of the disk of VM web1, which is running' "with the reason"
is "$(body_of "$(api GET /v1/snapshots/snap1)" | jq -r .state)" ready "and the snapshot is kept"

# A disk lies on at most 64 snapshot layers (a much longer chain stops
# booting): snap1 and 63 more.
snap_ready() { [ "$(body_of "$(api GET "/v1/snapshots/$1")" | jq -r .state)" = ready ]; }
for i in $(seq 1 63); do
	[ "$(status_of "$(api POST /v1/snapshots "{\"vm\":\"web1\",\"name\":\"deep$i\"}")")" = 202 ] &&
		wait_for 10 snap_ready "deep$i" || break
done
is "$i/$(body_of "$(api GET /v1/snapshots)" | jq '[.snapshots[] | select(.name | startswith("deep"))] | length')" 63/63 \
	"63 more snapshots of one VM are taken, each on the last"
r=$(api POST /v1/snapshots '{"vm":"web1","name":"deep64"}')
is "$(status_of "$r")" 409 "a 65th snapshot layer under one disk is refused"
like "$(body_of "$r" | jq -r .error.message)" "VM web1's disk already lies on 64 snapshots, the most nubo keeps" "saying why and what to do"
is "$(status_of "$(api GET /v1/snapshots/deep64)")" 404 "and is not recorded"

# --- capacity ---
host=$(body_of "$(api GET /v1/host)")
alloc=$(echo "$host" | jq .vcpus_allocatable)
like "$alloc" '^[0-9]+$' "GET /v1/host reports allocatable vCPUs"
used=$(echo "$host" | jq .vcpus_used)
is "$used" 1 "the running small VM holds 1 vCPU"
# fill the vCPUs with large VMs (4 vCPU each) until one does not fit
n=0; last=
while :; do
	n=$((n + 1))
	last=$(api POST /v1/vms "{\"name\":\"big$n\",\"type\":\"large\"}")
	[ "$(status_of "$last")" = 202 ] || break
	[ $n -gt 64 ] && break
done
is "$(status_of "$last")" 507 "a create that does not fit is 507"
like "$(body_of "$last" | jq -r .error.message)" 'insufficient capacity: .* needs 4 vCPU and 8192 MiB; the host has [0-9]+ of [0-9]+ vCPUs and [0-9]+ of [0-9]+ MiB free' "the capacity error gives the numbers"
is "$(status_of "$(api GET /v1/vms/big$n)")" 404 "the refused VM was not recorded"
# stopped VMs do not hold capacity: stop one large VM, then the create fits
r=$(api POST /v1/vms/big1/stop '{"force":true}')
is "$(status_of "$r")" 202 "stop is accepted"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/big1 | jq -e '.state==\"stopped\"' >/dev/null"
ok $? "the VM stops"
is "$(status_of "$(api POST /v1/vms "{\"name\":\"big$n\",\"type\":\"large\"}")")" 202 "a stopped VM's capacity is free again"
is "$(status_of "$(api POST /v1/vms/big1/start)")" 507 "starting a VM that no longer fits is 507"
for i in $(seq 1 $n); do api DELETE /v1/vms/big$i >/dev/null; done
wait_for 10 sh -c "[ \$(curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq '.vms | length') = 1 ]"
ok $? "deleted VMs disappear"

# --- idempotent actions and the state table ---
r=$(api POST /v1/vms/web1/start)
is "$(status_of "$r")" 200 "starting a running VM is a 200 no-op"
is "$(body_of "$r" | jq -r .operation.state)" succeeded "with an operation that has already succeeded"
r=$(api POST /v1/vms/web1/stop)
is "$(status_of "$r")" 202 "stopping a running VM is accepted"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the stop operation succeeds"
is "$(body_of "$(api GET /v1/operations/$op)" | jq -r '[.phases[].name] | join(",")')" "powerdown,stopped" "stop reports powerdown then stopped"
r=$(api POST /v1/vms/web1/stop)
is "$(status_of "$r")" 200 "stopping a stopped VM is a 200 no-op"
is "$(status_of "$(api POST /v1/vms/web1/reboot)")" 409 "rebooting a stopped VM is 409"
is "$(status_of "$(api POST /v1/vms/web1/stop '{"force":"yes"}')")" 400 "force that is not a boolean is 400"
is "$(status_of "$(api POST /v1/vms/web1/start '{"force":true}')")" 400 "start takes no force field"
r=$(api POST /v1/vms/web1/start)
is "$(status_of "$r")" 202 "starting a stopped VM is accepted"
ip_before=$(body_of "$r" | jq -r .vm.ip)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/web1 | jq -e '.state==\"running\"' >/dev/null"
ok $? "the VM runs again"
is "$(body_of "$(api GET /v1/vms/web1)" | jq -r .ip)" "$ip_before" "it keeps its IP"
r=$(api POST /v1/vms/web1/reboot)
is "$(status_of "$r")" 202 "rebooting a running VM is accepted"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the reboot operation succeeds"
is "$(body_of "$(api GET /v1/operations/$op)" | jq -r '[.phases[].name] | join(",")')" "powerdown,stopped,boot,ssh-ready" "reboot reports its phases"

# --- lookups and routes ---
is "$(status_of "$(api GET /v1/vms/nope)")" 404 "an unknown VM is 404"
is "$(status_of "$(api POST /v1/vms/nope/stop)")" 404 "stopping an unknown VM is 404"
is "$(status_of "$(api GET /v1/operations/op-000000000000)")" 404 "an unknown operation is 404"
is "$(status_of "$(api GET /v1/nothing)")" 404 "an unknown endpoint is 404"
is "$(status_of "$(api PUT /v1/vms)")" 405 "a wrong method is 405"
# The console endpoint answers the log's last 256 KiB: a log longer than that
# (dry-run runs no QEMU to write one) comes back as exactly its tail.
console=$T_STATE/vms/$id/console.log
{ echo "FIRST LINE, beyond the tail"; head -c 300000 /dev/urandom | base64; echo "LAST LINE"; } >"$console"
code=$(curl -s --unix-socket "$T_SOCK" -o "$T_DIR/console.out" -w '%{http_code}' http://nubo/v1/vms/web1/console)
is "$code" 200 "the console endpoint answers 200"
tail -c 262144 "$console" | cmp -s - "$T_DIR/console.out"
ok $? "it answers the last 256 KiB of a longer console log, byte for byte" "$(wc -c <"$T_DIR/console.out") bytes; ends: $(tail -c 40 "$T_DIR/console.out")"
is "$(status_of "$(api DELETE /v1/images/tiny)")" 409 "an image in use cannot be deleted"

# --- concurrent creates of one name: exactly one wins ---
pids=()
for i in $(seq 1 12); do
	curl -s -o /dev/null -w '%{http_code}\n' --unix-socket "$T_SOCK" -X POST -d '{"name":"race","type":"nano"}' http://nubo/v1/vms >"$T_DIR/race.$i" &
	pids+=($!)
done
wait "${pids[@]}"
codes=$(cat "$T_DIR"/race.* | sort | uniq -c | awk '{print $2":"$1}' | paste -sd' ')
is "$codes" "202:1 409:11" "12 concurrent creates of one name: one 202, eleven 409"
is "$(body_of "$(api GET /v1/vms)" | jq '[.vms[] | select(.name=="race")] | length')" 1 "exactly one VM named race exists"

# --- the store survives a restart, and so do operations ---
# (now with a qboot that is not there: direct boots fall back to SeaBIOS)
nubod_kill9
nubod_start --dry-run --config "$T_DIR/nubod-noqboot.json"
ok $? "nubod restarts on the same state"
is "$(body_of "$(api GET /v1/vms/web1)" | jq -r .ip)" "$ip_before" "the VM and its IP survive the restart"
like "$(grep 'qboot:' "$T_LOG" | tail -n 1)" "qboot: $T_DIR/missing/qboot.rom cannot be read \(No such file or directory\); direct boots use SeaBIOS" \
	"nubod says at startup that direct boots use SeaBIOS without qboot"
api POST /v1/vms '{"name":"dk2","type":"nano","image":"dk"}' >/dev/null
vm_running dk2
argv=$(qemu_argv dk2)
like "$argv" " -no-shutdown -kernel $T_STATE/images/$dk_id/vmlinuz " "without qboot a direct boot has no -bios"
api DELETE /v1/vms/dk2 >/dev/null

# --- delete ---
r=$(api DELETE /v1/vms/web1)
is "$(status_of "$r")" 202 "delete is accepted"
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $T_SOCK http://nubo/v1/vms/web1)\" = 404 ]"
ok $? "a deleted VM is gone"
[ ! -e "$T_STATE/vms/$id" ]
ok $? "its directory is removed"

# A clean exit: under the sanitizer build this is where leaks are reported.
nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
grep -Eq "Sanitizer|runtime error" "$T_LOG"
ok $((! $?)) "no sanitizer report in nubod's log"
