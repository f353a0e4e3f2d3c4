#!/usr/bin/env bash
# e2e: images and VM moves between hosts (docs/cluster.md). Two real nubods, h1 and h2, on
# one machine and one private PostgreSQL database, each with its own state
# directory and --listen-http on loopback (where the other fetches its
# files). tiny is built on h1 only; a VM pinned to h2 makes h2 fetch it from
# h1's nubod with the cluster's secret, check its SHA-256 and boot it. The
# peer route refuses a request without the secret; a fetch cut off goes on
# with a Range, a wrong file is fetched again; while the only host holding
# the image is down, no VM of it is admitted; nubo vm move copies a stopped
# VM's disk and its volume's file from h2 to h1 (going on after a cut-off),
# where they read as they did and it keeps its address; a kill between the
# switch and the volume's file put in place converges at the next start;
# nubo image delete through h1 removes h2's copy too.
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hosts2-lib.sh"

h1_start || { ok 1 "h1 starts"; exit 1; }
ok 0 "h1 starts with --listen-http 127.0.0.1:$P1"
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait (on h1)" "$out"
h2_start
ok $? "h2 starts on the same database with --listen-http 127.0.0.1:$P2"
IMG=$("$NUBO" image show tiny --json | jq -r .id)
is "$(t_sql "SELECT string_agg(host, ',') FROM image_copies WHERE image_id = '$IMG'")" h1 "the store names h1 as holding tiny"
SUM=$(sha256sum "$T_STATE/images/$IMG/disk.qcow2" | cut -d' ' -f1)
is "$(t_sql "SELECT files FROM images WHERE id = '$IMG'" | jq -r '.[] | select(.name == "disk.qcow2") | .sha256')" \
	"$SUM" "the store records disk.qcow2's SHA-256"
is "$(h2 host show h1 --json | jq -r .peer_url)" "http://127.0.0.1:$P1" "h1's peer URL is its --listen-http"

# --- the peer route ---------------------------------------------------------------
URL=http://127.0.0.1:$P1/v1/peer/images/$IMG/disk.qcow2
SECRET=$(t_sql "SELECT value FROM meta WHERE key = 'peer_secret'")
like "$SECRET" '^nubo_[0-9a-f]{64}$' "the cluster's secret is in the store"
is "$(curl -s -o /dev/null -w '%{http_code}' "$URL")" 403 "the peer route refuses a request without the secret"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Nubo-Peer: nubo_$(printf '0%.0s' $(seq 64))" "$URL")" 403 \
	"and one with a wrong secret"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SECRET" "$URL")" 403 \
	"the secret is no API token, and an API token is no secret"
is "$(curl -s -H "X-Nubo-Peer: $SECRET" "$URL" | sha256sum | cut -d' ' -f1)" "$SUM" "with the secret it gives the file"
size=$(stat -c %s "$T_STATE/images/$IMG/disk.qcow2")
r=$(curl -s -H "X-Nubo-Peer: $SECRET" -H "Range: bytes=$((size - 10))-" -w ' %{http_code}' "$URL" | wc -c)
is "$r" 14 "a Range gets the rest of the file (206)"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Nubo-Peer: $SECRET" "http://127.0.0.1:$P1/v1/peer/images/$IMG/..%2fnubo.db")" \
	404 "no path leads out of the image's files"

# --- while the only holder is down, nothing of its image is admitted ---------------------
nubod_kill9
wait_for 15 sh -c "[ \"\$(NUBO_SOCKET='$H2_SOCK' '$NUBO' host show h1 --json | jq -r .state)\" = down ]"
ok $? "h1 is down after a kill -9"
out=$(h2 vm create early --type nano 2>&1)
ok $((! $?)) "a VM of tiny is refused while h1, its only holder, is down" "$out"
like "$out" 'image tiny is only on host h1' "the refusal names the image and its host"
h1_start
ok $? "h1 starts again"

# --- a VM on h2 fetches the image ---------------------------------------------------
out=$(h2 vm create far --type nano --host h2 --wait 2>&1)
ok $? "a VM pinned to h2 boots (h2 fetched tiny from h1)" "$out"
grep -q "image tiny: fetched from host h1, its checksums match" "$H2_LOG"
ok $? "h2's log says it fetched tiny from h1 and checked it"
is "$(sha256sum "$H2_STATE/images/$IMG/disk.qcow2" | cut -d' ' -f1)" "$SUM" "h2's copy is h1's, byte for byte"
is "$(t_sql "SELECT string_agg(host, ',' ORDER BY host) FROM image_copies WHERE image_id = '$IMG'")" h1,h2 \
	"the store names both hosts as holding tiny"
# Its console says the guest came up. (Not over SSH: both nubods of this
# machine put the default network's one bridge name on it, and h1's ruleset
# stands between this shell and h2's VMs; tests/cluster gives each host its
# own network namespace.)
FAR=$(h2 vm show far --json | jq -r .id)
wait_for 30 grep -q "nubo-tiny: ssh ready" "$H2_STATE/vms/$FAR/console.log"
ok $? "the guest booted from the fetched image (its console says ssh ready)"
h2 vm delete far --wait >/dev/null 2>&1

# --- a fetch cut off goes on; a wrong file is fetched again --------------------------
kill "$H2_PID"; wait "$H2_PID" 2>/dev/null; H2_PID=
# h2 loses its copy as a kill mid-fetch leaves it: half of the disk in a .part
rm -rf "$H2_STATE/images/$IMG"
t_sql "DELETE FROM image_copies WHERE image_id = '$IMG' AND host = 'h2'"
mkdir -p "$H2_STATE/images/$IMG.fetch"
head -c $((size / 2)) "$T_STATE/images/$IMG/disk.qcow2" >"$H2_STATE/images/$IMG.fetch/disk.qcow2.part"
h2_start
ok $? "h2 starts again"
out=$(h2 vm create again --type nano --host h2 --wait 2>&1)
ok $? "a VM on h2 boots after the cut-off fetch" "$out"
grep -q "GET /v1/peer/images/$IMG/disk.qcow2 → 206 ($((size - size / 2)) bytes from $((size / 2)))" "$T_LOG"
ok $? "h2 asked h1 for the rest of disk.qcow2 only (206 from byte $((size / 2)))"
is "$(sha256sum "$H2_STATE/images/$IMG/disk.qcow2" | cut -d' ' -f1)" "$SUM" "the resumed copy is whole"
h2 vm delete again --wait >/dev/null 2>&1
kill "$H2_PID"; wait "$H2_PID" 2>/dev/null; H2_PID=
rm -rf "$H2_STATE/images/$IMG"
t_sql "DELETE FROM image_copies WHERE image_id = '$IMG' AND host = 'h2'"
mkdir -p "$H2_STATE/images/$IMG.fetch"
head -c "$size" /dev/urandom >"$H2_STATE/images/$IMG.fetch/disk.qcow2.part"   # all there, all wrong
h2_start
out=$(h2 vm create third --type nano --host h2 --wait 2>&1)
ok $? "a VM on h2 boots after a fetch whose file was wrong" "$out"
grep -q "not $SUM as the store records: removed, the next try starts over" "$H2_LOG"
ok $? "h2 found the wrong checksum and started over"
is "$(sha256sum "$H2_STATE/images/$IMG/disk.qcow2" | cut -d' ' -f1)" "$SUM" "the copy fetched again is whole"

# --- nubo vm move: the disk and a volume go to h1, cut off once on the way -----------
h2 vm stop third --wait >/dev/null 2>&1
ok $? "third is stopped on h2"
out=$(h2 volume create tvol --size 16M --wait 2>&1) && out=$(h2 volume attach tvol --vm third --wait 2>&1)
ok $? "volume tvol is made on h2 and attached to third" "$out"
TID=$(h2 vm show third --json | jq -r .id) VID=$(h2 volume show tvol --json | jq -r .id)
qemu-io -f qcow2 -c "write -P 0x5a 1M 2M" "$H2_STATE/volumes/$VID.qcow2" >/dev/null
ok $? "2 MiB of data are written on it (qemu-io)"
before=$(h2 vm show third --json | jq -c '{id, ip, mac}')
cp "$H2_STATE/vms/$TID/root.qcow2" "$T_DIR/third-root.qcow2"   # its data as it was, on h2's image
cp "$H2_STATE/volumes/$VID.qcow2" "$T_DIR/tvol.qcow2"
# h1 holds half of the disk and of the volume's file, as a kill of either nubod mid-copy leaves them
root_size=$(stat -c %s "$H2_STATE/vms/$TID/root.qcow2") vol_size=$(stat -c %s "$H2_STATE/volumes/$VID.qcow2")
mkdir -p "$T_STATE/vms/$TID.move"
head -c $((root_size / 2)) "$H2_STATE/vms/$TID/root.qcow2" >"$T_STATE/vms/$TID.move/root.qcow2.part"
head -c $((vol_size / 2)) "$H2_STATE/volumes/$VID.qcow2" >"$T_STATE/vms/$TID.move/$VID.qcow2.part"
out=$("$NUBO" vm move third --to h1 --wait 2>&1)
ok $? "nubo vm move third --to h1 --wait" "$out"
is "$(h2 vm show third --json | jq -r '.host + "/" + .state')" h1/stopped "third is on h1, stopped"
is "$(h2 vm show third --json | jq -c '{id, ip, mac}')" "$before" "its id, IP and MAC are the same"
is "$(h2 volume show tvol --json | jq -r '.host + "/" + .vm')" h1/third "tvol is on h1, attached to third"
grep -q "GET /v1/peer/vms/$TID/root.qcow2 → 206 ($((root_size - root_size / 2)) bytes from $((root_size / 2)))" "$H2_LOG"
ok $? "h1 asked h2 for the rest of the disk only (206)"
grep -q "GET /v1/peer/vms/$TID/$VID.qcow2 → 206 ($((vol_size - vol_size / 2)) bytes from $((vol_size / 2)))" "$H2_LOG"
ok $? "and for the rest of the volume's file only (206)"
cmp -s "$T_DIR/tvol.qcow2" "$T_STATE/volumes/$VID.qcow2"
ok $? "h1's volumes/ holds the volume's file, byte for byte"
is "$(stat -c %a "$T_STATE/volumes/$VID.qcow2")" 600 "closed to other users, as a volume made there is"
wait_for 10 sh -c "[ ! -e '$H2_STATE/volumes/$VID.qcow2' ]"
ok $? "h2 removes its file of the volume once it is h1's"
# A kill of h1's nubod after the switch, before the volume's file is put in
# place, leaves the file in the VM's folder: the next start puts it there.
nubod_stop
mv "$T_STATE/volumes/$VID.qcow2" "$T_STATE/vms/$TID/$VID.qcow2"
h1_start
ok $? "h1 starts again with the volume's file left in the VM's folder"
[ -f "$T_STATE/volumes/$VID.qcow2" ] && [ ! -e "$T_STATE/vms/$TID/$VID.qcow2" ]
ok $? "its start put the file in volumes/ before anything else"
cmp -s "$T_DIR/tvol.qcow2" "$T_STATE/volumes/$VID.qcow2"
ok $? "whole"
out=$(qemu-img compare -f qcow2 -F qcow2 "$T_DIR/third-root.qcow2" "$T_STATE/vms/$TID/root.qcow2" 2>&1)
ok $? "the disk on h1 reads as it did on h2 (qemu-img compare)" "$out"
like "$(qemu-img info --output=json "$T_STATE/vms/$TID/root.qcow2" | jq -r '.["backing-filename"]')" \
	"^$T_STATE/images/$IMG/disk.qcow2\$" "it is an overlay on h1's own copy of the image"
wait_for 10 sh -c "[ ! -e '$H2_STATE/vms/$TID' ]"
ok $? "h2 removes its files of the VM once it is h1's"
# (Not started on h1 here: on one machine h2's dnsmasq already serves the
# default network's one bridge. tests/cluster gives each host its own
# network namespace.)
"$NUBO" vm delete third --wait >/dev/null 2>&1
"$NUBO" volume delete tvol --wait >/dev/null 2>&1

# --- delete on every host ------------------------------------------------------------
# A folder in images/ the store never knew (another store's, or put there by
# hand) is not an image this cloud deleted: the sweep keeps it.
mkdir -p "$H2_STATE/images/img-f0reign0" && echo keep >"$H2_STATE/images/img-f0reign0/disk.qcow2"
out=$("$NUBO" image delete tiny 2>&1)
ok $? "nubo image delete tiny through h1" "$out"
[ ! -e "$T_STATE/images/$IMG" ]
ok $? "h1's files are gone"
wait_for 10 sh -c "[ ! -e '$H2_STATE/images/$IMG' ]"
ok $? "h2's reconciler removes its own copy"
is "$(t_sql "SELECT count(*) FROM image_copies WHERE image_id = '$IMG'")" 0 "no copy is recorded any more"
[ -s "$H2_STATE/images/img-f0reign0/disk.qcow2" ]
ok $? "a folder of images/ no image of the store was deleted from is kept"
grep -q "images/img-f0reign0 has no image in the store and none was deleted: left alone" "$H2_LOG"
ok $? "and h2 says so in its log"
