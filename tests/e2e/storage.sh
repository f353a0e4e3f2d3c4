#!/usr/bin/env bash
# e2e: disks and images. --disk-size is what the guest sees; qcow2 and raw
# files import; a wrong checksum or an unsupported format leaves no image
# behind; every qcow2 nubo leaves passes `qemu-img check`.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "the tiny image builds" "$out"
is "$("$NUBO" image show tiny --json | jq .virtual_size_bytes)" 1073741824 "tiny records its virtual size (1 GiB)"

# --disk-size: the root disk is bigger and the guest's filesystem grows into it
out=$("$NUBO" vm create big --type nano --disk-size 3G --wait 2>&1)
ok $? "nubo vm create --disk-size 3G --wait" "$out"
is "$("$NUBO" vm show big --json | jq .disk_size_bytes)" 3221225472 "the VM records its disk size"
size_kib=$("$NUBO" vm ssh big -- df -k / 2>/dev/null | awk 'NR==2 {print $2}')
[ -n "$size_kib" ] && [ "$size_kib" -gt 2900000 ]
ok $? "the guest's root filesystem is about 3 GiB (${size_kib:-?} KiB)"
out=$("$NUBO" vm create small1 --type nano --disk-size 100M 2>&1)
is "$?" 1 "a disk smaller than the image is refused"
like "$out" 'disk_size 100M is outside what image tiny allows: from 1G' "the error gives the allowed range"

# imports of a qcow2 and a raw file made here
qemu-img create -q -f qcow2 "$T_DIR/a.qcow2" 64M
qemu-img create -q -f raw "$T_DIR/b.raw" 32M
qemu-img create -q -f vmdk "$T_DIR/c.vmdk" 16M
sum=$(sha256sum "$T_DIR/a.qcow2" | cut -d' ' -f1)
out=$("$NUBO" image import qa --file "$T_DIR/a.qcow2" --sha256 "$sum" --user cloud --wait 2>&1)
ok $? "a qcow2 file imports with its checksum" "$out"
j=$("$NUBO" image show qa --json)
is "$(echo "$j" | jq -r .state)/$(echo "$j" | jq -r .boot)/$(echo "$j" | jq -r .user)" ready/firmware/cloud "it is ready, boots by firmware, logs in as the given user"
is "$(echo "$j" | jq .virtual_size_bytes)" 67108864 "its virtual size is the file's (64 MiB)"
out=$("$NUBO" image import rb --file "$T_DIR/b.raw" --wait 2>&1)
ok $? "a raw file imports" "$out"
rb_id=$("$NUBO" image show rb --json | jq -r .id)
is "$(qemu-img info --output=json "$T_STATE/images/$rb_id/disk.qcow2" | jq -r .format)" qcow2 "a raw import is stored as qcow2"

# A direct-boot import: tiny's own disk, kernel and (if tiny has one) initrd,
# imported back; a VM boots from it, from qboot when QEMU has it.
tiny_dir="$T_STATE/images/$("$NUBO" image show tiny --json | jq -r .id)"
initrd=()
[ -f "$tiny_dir/initrd.img" ] && initrd=(--initrd "$tiny_dir/initrd.img")
out=$("$NUBO" image import tiny2 --file "$tiny_dir/disk.qcow2" --boot direct --kernel "$tiny_dir/vmlinuz" \
	"${initrd[@]}" --cmdline "$(jq -r .cmdline "$tiny_dir/image.json")" --wait 2>&1)
ok $? "an image imports for direct boot with its kernel${initrd:+ and initrd}" "$out"
j=$("$NUBO" image show tiny2 --json)
is "$(echo "$j" | jq -r .boot)" direct "it boots direct"
is "$(echo "$j" | jq -r .os)" "imported qcow2 image, booted with its own kernel${initrd:+ and initrd}" "its os says what it boots with"
tiny2_dir="$T_STATE/images/$(echo "$j" | jq -r .id)"
is "$(ls "$tiny2_dir" | grep -Ec '^(vmlinuz|initrd.img)$')" "$((1 + ${#initrd[@]} / 2))" "exactly the boot files given are copied in"
out=$("$NUBO" vm create direct1 --type nano --image tiny2 --wait 2>&1)
ok $? "a VM boots from the direct-boot import" "$out"
pid=$(cat "$T_STATE/vms/$("$NUBO" vm show direct1 --json | jq -r .id)/qemu.pid" 2>/dev/null)
argv=$(tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>/dev/null)
if [ -r /usr/share/qemu/qboot.rom ]; then
	like "$argv" " -bios /usr/share/qemu/qboot.rom -kernel $tiny2_dir/vmlinuz " "its QEMU starts the kernel from qboot"
else
	like "$argv" " -no-shutdown -kernel $tiny2_dir/vmlinuz " "its QEMU starts the kernel from SeaBIOS (no qboot here)"
fi
if [ ${#initrd[@]} -gt 0 ]; then like "$argv" " -initrd $tiny2_dir/initrd.img " "with the initrd"
else [[ "$argv" != *" -initrd "* ]]; ok $? "without an initrd" "$argv"; fi
"$NUBO" vm delete direct1 --wait >/dev/null 2>&1
"$NUBO" image delete tiny2 >/dev/null
out=$("$NUBO" image import x --file "$T_DIR/a.qcow2" --boot direct 2>&1)
is "$?" 1 "direct boot without a kernel is refused"
like "$out" "boot direct needs kernel: " "the error says what is missing"

# Imports over HTTP from servers on this machine's loopback.
mkdir -p "$T_DIR/www" && cp "$T_DIR/a.qcow2" "$T_DIR/www/"
port=$((20000 + RANDOM % 20000))
busybox httpd -f -p "127.0.0.1:$port" -h "$T_DIR/www" & T_BG_PIDS+=($!)
cut_port=$((port + 1))
# A server that promises a million bytes and sends a thousand.
printf '%s\n' "printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 1000000\\r\\n\\r\\n'" 'head -c 1000 /dev/zero' >"$T_DIR/cut.sh"
socat "TCP-LISTEN:$cut_port,bind=127.0.0.1,reuseaddr,fork" SYSTEM:"sh $T_DIR/cut.sh" & T_BG_PIDS+=($!)
sleep 0.3
out=$("$NUBO" image import qu --url "http://127.0.0.1:$port/a.qcow2" --sha256 "$sum" --wait 2>&1)
ok $? "an image imports from a URL with its checksum" "$out"
like "$out" "download +[0-9.]+s" "the download is a phase of the import"
out=$("$NUBO" image import q404 --url "http://127.0.0.1:$port/missing.qcow2" --wait 2>&1)
is "$?" 1 "an import from a URL that answers 404 fails"
like "$out" "cannot download http://127.0.0.1:$port/missing.qcow2: .*404" "the error gives the URL and the status"
out=$("$NUBO" image import qcut --url "http://127.0.0.1:$cut_port/x.qcow2" --wait 2>&1)
is "$?" 1 "a truncated download fails"
like "$out" "was cut short after 1000 bytes" "the error says it was cut short"
"$NUBO" image show q404 >/dev/null 2>&1 || "$NUBO" image show qcut >/dev/null 2>&1
ok $((! $?)) "no image is left by the failed downloads"
out=$("$NUBO" image delete qu 2>&1)
ok $? "the downloaded image can be deleted" "$out"
"$NUBO" image show qu >/dev/null 2>&1
is "$?" 1 "and is gone"

out=$("$NUBO" image import bad --file "$T_DIR/a.qcow2" --sha256 "$(printf '0%.0s' $(seq 64))" --wait 2>&1)
is "$?" 1 "an import with a wrong checksum fails"
like "$out" "checksum mismatch" "the error says the checksum did not match"
"$NUBO" image show bad >/dev/null 2>&1
ok $((! $?)) "no image is left by the failed import"
out=$("$NUBO" image import vm1 --file "$T_DIR/c.vmdk" --wait 2>&1)
is "$?" 1 "a vmdk import fails"
like "$out" "is a vmdk image; nubo imports qcow2 and raw" "the error names the format"
out=$("$NUBO" image import nofile --file "$T_DIR/missing.qcow2" 2>&1)
is "$?" 2 "a missing file is refused by the CLI before any request"
is "$(ls "$T_STATE/images" | wc -l)" 3 "only the three good images have directories"

# Volumes: hot-plugged into a running VM, data kept across detach and the
# deletion of the VM, readable from another VM.
on() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"; }
out=$("$NUBO" volume create data --size 256M --wait 2>&1)
ok $? "nubo volume create data --size 256M --wait" "$out"
vol_id=$("$NUBO" volume show data --json | jq -r .id)
out=$("$NUBO" volume attach data --vm big --wait 2>&1)
ok $? "the volume is attached to the running VM" "$out"
is "$(on big cat /sys/block/vdc/serial)" "$vol_id" "it appears in the guest at once as /dev/vdc, serial = the volume's id"
on big 'mke2fs -q /dev/vdc && mkdir -p /mnt/d && mount /dev/vdc /mnt/d && echo precious > /mnt/d/f && umount /mnt/d'
ok $? "a filesystem and a file are written on it"
out=$("$NUBO" volume delete data 2>&1)
is "$?" 1 "an attached volume cannot be deleted"
like "$out" "attached to a VM; detach it first" "the error says why"
out=$("$NUBO" volume detach data --wait 2>&1)
ok $? "the volume is detached from the running VM" "$out"
is "$(on big 'if test -e /dev/vdc; then echo present; else echo absent; fi')" absent "the device is gone from the guest"
out=$("$NUBO" vm create other --type nano --wait 2>&1)
ok $? "a second VM starts" "$out"
other_ip=$("$NUBO" vm show other --json | jq -r .ip)
"$NUBO" volume attach data --vm other --wait >/dev/null 2>&1
is "$(on other 'mkdir -p /mnt/d && mount /dev/vdc /mnt/d && cat /mnt/d/f')" precious "the second VM reads the data"
out=$("$NUBO" snapshot create --volume data --name datasnap --wait 2>&1)
ok $? "a snapshot of the volume, attached to a running VM" "$out"
on other 'echo changed > /mnt/d/f && sync'
out=$("$NUBO" volume create data2 --from-snapshot datasnap --wait 2>&1)
ok $? "a volume is made from the snapshot" "$out"
"$NUBO" volume attach data2 --vm big --wait >/dev/null 2>&1
is "$(on big 'mkdir -p /mnt/e && mount /dev/vdc /mnt/e && cat /mnt/e/f && umount /mnt/e')" precious "it holds the data as it was at the snapshot"
out=$("$NUBO" volume detach data2 --wait 2>&1) && out=$("$NUBO" volume delete data2 --wait 2>&1)
ok $? "the volume made from the snapshot is detached and deleted" "$out"
"$NUBO" volume show data2 >/dev/null 2>&1
is "$?" 1 "and is gone"
out=$("$NUBO" snapshot delete datasnap --wait 2>&1)
ok $? "the volume snapshot is deleted" "$out"
"$NUBO" snapshot show datasnap >/dev/null 2>&1
is "$?" 1 "and is gone"
on other umount /mnt/d
out=$("$NUBO" vm delete other --wait 2>&1)
ok $? "the second VM is deleted" "$out"
"$NUBO" vm show other >/dev/null 2>&1
is "$?" 1 "and is gone"
is "$("$NUBO" volume show data --json | jq -r '.state + " " + (.vm // "-")')" "available -" "the volume outlives the VM it was attached to"

# Templates: an image made from a running VM, then from a stopped one; VMs boot from both.
on big 'echo golden > /root/golden && sync'
out=$("$NUBO" image create golden --from-vm big --wait 2>&1)
ok $? "nubo image create golden --from-vm big (running) --wait" "$out"
is "$("$NUBO" vm show big --json | jq -r .state)" running "the VM kept running during the copy"
out=$("$NUBO" vm create clone --type nano --image golden --wait 2>&1)
ok $? "a VM boots from the image made of a running VM" "$out"
is "$(on clone cat /root/golden)" golden "it has the source VM's files"
"$NUBO" vm delete clone --wait >/dev/null 2>&1
"$NUBO" vm stop big --wait >/dev/null 2>&1
out=$("$NUBO" image create golden2 --from-vm big --wait 2>&1)
ok $? "an image is made from a stopped VM" "$out"
out=$("$NUBO" vm start big --wait 2>&1)
ok $? "the source VM starts again" "$out"
is "$("$NUBO" vm show big --json | jq -r .state)" running "it is running"
out=$("$NUBO" vm create clone2 --type nano --image golden2 --wait 2>&1)
ok $? "a VM boots from the image made of a stopped VM" "$out"
is "$(on clone2 cat /root/golden)" golden "it has the source VM's files too"
"$NUBO" vm delete clone2 --wait >/dev/null 2>&1

# An ephemeral disk: there while the VM runs, empty at every start, gone on stop.
out=$("$NUBO" vm create scratch --type nano --ephemeral 64M --wait 2>&1)
ok $? "nubo vm create --ephemeral 64M --wait" "$out"
scratch_id=$("$NUBO" vm show scratch --json | jq -r .id)
is "$("$NUBO" vm show scratch --json | jq -r .ip)" "$other_ip" "a deleted VM's address goes to the next VM, whose DHCP gets it at once"
is "$(on scratch cat /sys/block/vdc/serial)" ephemeral "the guest sees the ephemeral disk as /dev/vdc"
is "$(on scratch cat /sys/block/vdc/size)" 131072 "it is 64 MiB"
on scratch 'echo marker | dd of=/dev/vdc 2>/dev/null; sync'
is "$(on scratch head -c 6 /dev/vdc)" marker "data written to it is there while the VM runs"
"$NUBO" vm stop scratch --wait >/dev/null 2>&1
[ ! -e "$T_STATE/vms/$scratch_id/ephemeral.qcow2" ]
ok $? "a stop removes the ephemeral disk"
"$NUBO" vm start scratch --wait >/dev/null 2>&1
is "$(on scratch head -c 6 /dev/vdc | tr -d '\\000')" "" "after a start the ephemeral disk is empty again"
out=$("$NUBO" vm delete scratch --wait 2>&1)
ok $? "the VM with an ephemeral disk is deleted" "$out"
"$NUBO" vm show scratch >/dev/null 2>&1
is "$?" 1 "and is gone"

# Every qcow2 nubo keeps is consistent (checked with the VM stopped: a
# running QEMU holds its disk's lock).
out=$("$NUBO" vm stop big --wait 2>&1)
ok $? "the VM stops" "$out"
is "$("$NUBO" vm show big --json | jq -r .state)" stopped "it is stopped"
bad=0
for f in $(find "$T_STATE" -name '*.qcow2'); do
	qemu-img check -q "$f" >/dev/null 2>&1 || { bad=$((bad + 1)); echo "# qemu-img check failed: $f"; }
done
is "$bad" 0 "every qcow2 under the state directory passes qemu-img check"

out=$("$NUBO" volume delete data --wait 2>&1)
ok $? "the volume is deleted" "$out"
[ ! -e "$T_STATE/volumes/$vol_id.qcow2" ]
ok $? "its file is gone"
"$NUBO" volume show data >/dev/null 2>&1
is "$?" 1 "and so is its record"
out=$("$NUBO" image delete qa 2>&1)
ok $? "an unused image can be deleted" "$out"
"$NUBO" image show qa >/dev/null 2>&1
is "$?" 1 "and is gone"
out=$("$NUBO" image delete tiny 2>&1)
is "$?" 1 "an image in use cannot be deleted"
is "$("$NUBO" image show tiny --json | jq -r .state)" ready "and is still there"
out=$("$NUBO" vm delete big --wait 2>&1)
ok $? "the VM is deleted" "$out"
"$NUBO" vm show big >/dev/null 2>&1
is "$?" 1 "and is gone"
