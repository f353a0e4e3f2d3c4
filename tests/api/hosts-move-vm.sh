#!/usr/bin/env bash
# api: nubo vm move across hosts (docs/cluster.md). Three dry-run nubods on
# one PostgreSQL database: a stopped VM moves to another host keeping its
# id, name, IP and MAC, and starts there (launched by that host's nubod);
# what cannot move is refused with a sentence (a running VM, an unknown,
# draining or same host, snapshots of the VM or of its volume), and nothing
# changes then; a VM's volumes move with it, and while a move waits an
# attach, a detach or a snapshot of the VM or its volume is refused;
# nubo host drain --move moves the stopped VMs and names the running one.
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hosts-lib.sh"
for h in h1 h2 h3; do conf "$T_DIR/$h.json"; done

hstart h1 || { ok 1 "h1 starts"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "image tiny is built (through h1)"
hstart h2 && hstart h3
ok $? "h1, h2 and h3 start on one database"

move() {   # move THROUGH VM TO: prints the status
	status_of "$(hapi "$1" POST "/v1/vms/$2/move" "{\"to\":\"$3\"}")"
}
msg() { body_of "$(hapi "$1" POST "/v1/vms/$2/move" "{\"to\":\"$3\"}")" | jq -r .error.message; }
vm_json() { body_of "$(hapi h1 GET "/v1/vms/$1")"; }

is "$(create h1 m1 '"host":"h1"')" 202 "m1 is created on h1"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/m1 | jq -r .state)\" = running ]"
ok $? "m1 runs on h1"
is "$(move h2 m1 h2)" 409 "a running VM does not move (409)"
like "$(msg h2 m1 h2)" 'only a stopped VM moves' "the refusal says to stop it"
"$NUBO" vm stop m1 --wait >/dev/null 2>&1
ok $? "m1 is stopped"
before=$(vm_json m1 | jq -c '{id, name, ip, mac}')
is "$(move h1 m1 h9)" 422 "a move to an unknown host is refused (422)"
like "$(msg h1 m1 h9)" 'host "h9" does not exist' "the refusal names the host"
is "$(move h1 m1 h1)" 409 "a move to its own host is refused (409)"
hapi h1 POST /v1/hosts/h3/drain >/dev/null
is "$(move h1 m1 h3)" 409 "a move to a draining host is refused (409)"
like "$(msg h1 m1 h3)" 'host h3 is draining' "the refusal says it is draining"
hapi h1 POST /v1/hosts/h3/undrain >/dev/null
r=$(hapi h1 POST /v1/vms/m1/move '{"to":"h2","force":true}')
is "$(status_of "$r")" 400 "an unknown field is refused (400)"
is "$(vm_json m1 | jq -r '.host + "/" + (.move_to // "none")')" h1/none "nothing changed after the refusals"

# --- the move -------------------------------------------------------------------
r=$(hapi h3 POST /v1/vms/m1/move '{"to":"h2"}')
is "$(status_of "$r")" 202 "the move of m1 to h2 is accepted through h3's API"
is "$(body_of "$r" | jq -r .operation.kind)" move "its operation is a move"
OP=$(body_of "$r" | jq -r .operation.id)
wait_for 15 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' 'http://nubo/v1/operations/$OP' | jq -r .state)\" = succeeded ]"
ok $? "the move's operation succeeds" "$(body_of "$(hapi h1 GET "/v1/operations/$OP")")"
is "$(vm_json m1 | jq -r '.host + "/" + (.move_to // "none") + "/" + .state')" h2/none/stopped "m1 is on h2, stopped"
is "$(vm_json m1 | jq -c '{id, name, ip, mac}')" "$before" "its id, name, IP and MAC are the same"
ID=$(vm_json m1 | jq -r .id)
"$NUBO" vm start m1 --wait >/dev/null 2>&1
ok $? "m1 starts again"
wait_for 10 grep -q "qemu-system.*$ID" "${STATE[h2]}/dry-run.log"
ok $? "h2's nubod launched it"
is "$(vm_json m1 | jq -r .state)" running "m1 runs on h2"

# --- volumes move with their VM; snapshots do not move ------------------------------
"$NUBO" vm stop m1 --wait >/dev/null 2>&1
is "$(status_of "$(hapi h2 POST /v1/volumes '{"name":"data","size":"1G"}')")" 202 "a volume is made on h2"
is "$(status_of "$(hapi h2 POST /v1/volumes '{"name":"spare","size":"1G"}')")" 202 "and another, spare"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/volumes/spare | jq -r .state)\" = available ]"
is "$(status_of "$(hapi h2 POST /v1/volumes/data/attach '{"vm":"m1"}')")" 202 "data is attached to m1"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/volumes/data | jq -r .state)\" = in-use ]"
vol() { body_of "$(hapi h1 GET "/v1/volumes/$1")"; }
is "$(status_of "$(hapi h1 POST /v1/snapshots '{"volume":"data","name":"datasnap"}')")" 202 "a snapshot of data is taken"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/snapshots/datasnap | jq -r .state)\" = ready ]"
is "$(move h1 m1 h3)" 409 "a VM whose volume has snapshots does not move (409)"
like "$(msg h1 m1 h3)" 'volume data of VM m1 has snapshots \(datasnap\); a volume.s snapshots live on its host' \
	"the refusal names the volume and its snapshot"
hapi h1 DELETE /v1/snapshots/datasnap >/dev/null
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' -o /dev/null -w '%{http_code}' http://nubo/v1/snapshots/datasnap)\" = 404 ]"
is "$(status_of "$(hapi h1 POST /v1/snapshots '{"vm":"m1","name":"m1snap"}')")" 202 "a snapshot of m1 is taken"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/snapshots/m1snap | jq -r .state)\" = ready ]"
is "$(move h1 m1 h3)" 409 "a VM with snapshots does not move (409)"
like "$(msg h1 m1 h3)" 'VM m1 has snapshots \(m1snap\); snapshot layers live on their host' "the refusal names the snapshot"
hapi h1 DELETE /v1/snapshots/m1snap >/dev/null
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' -o /dev/null -w '%{http_code}' http://nubo/v1/snapshots/m1snap)\" = 404 ]"
is "$(vm_json m1 | jq -r '.host + "/" + (.move_to // "none")')" h2/none "nothing changed after the refusals"

# While h2 (the VM's host) is stopped, the move waits there: what would
# change m1's disks or volumes under the copy is refused meanwhile.
hstop h2
r=$(hapi h1 POST /v1/vms/m1/move '{"to":"h3"}')
is "$(status_of "$r")" 202 "the move of m1, with data attached, to h3 is accepted (h2's nubod stopped a moment ago)"
OP=$(body_of "$r" | jq -r .operation.id)
r=$(hapi h1 POST /v1/volumes/spare/attach '{"vm":"m1"}')
is "$(status_of "$r")" 409 "an attach to the moving VM is refused (409)"
like "$(body_of "$r" | jq -r .error.message)" "VM m1 is moving to host h3: an attach waits until the move has ended" \
	"the refusal says why"
is "$(status_of "$(hapi h1 POST /v1/volumes/data/detach)")" 409 "a detach of its volume is refused (409)"
is "$(status_of "$(hapi h1 POST /v1/snapshots '{"vm":"m1"}')")" 409 "a snapshot of it is refused (409)"
is "$(status_of "$(hapi h1 POST /v1/snapshots '{"volume":"data"}')")" 409 "and a snapshot of its volume (409)"
hstart h2
ok $? "h2 starts again"
wait_for 15 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' 'http://nubo/v1/operations/$OP' | jq -r .state)\" = succeeded ]"
ok $? "the move's operation succeeds" "$(body_of "$(hapi h1 GET "/v1/operations/$OP")")"
is "$(vm_json m1 | jq -r .host)" h3 "m1 is on h3"
is "$(vol data | jq -r '.host + "/" + .vm + "/" + .state')" h3/m1/in-use "data moved with it: on h3, attached to m1"
is "$(vol spare | jq -r .host)" h2 "spare, not attached, stayed on h2"
"$NUBO" vm start m1 --wait >/dev/null 2>&1
ok $? "m1 starts on h3"
ID=$(vm_json m1 | jq -r .id) VOL=$(vol data | jq -r .id)
wait_for 10 sh -c "grep 'qemu-system.*$ID' '${STATE[h3]}/dry-run.log' | grep -q '$VOL'"
ok $? "h3's nubod launched it with data's file"
"$NUBO" vm stop m1 --wait >/dev/null 2>&1
hapi h1 POST /v1/volumes/data/detach >/dev/null
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/volumes/data | jq -r .state)\" = available ]"
ok $? "data is detached"

# --- the CLI ------------------------------------------------------------------------
out=$("$NUBO" vm move m1 --to h1 --wait 2>&1) && out=$("$NUBO" vm move m1 --to h3 --wait 2>&1)
ok $? "nubo vm move m1 --to h1 --wait, and back to h3" "$out"
is "$(vm_json m1 | jq -r .host)" h3 "m1 is on h3"
out=$("$NUBO" vm move m1 2>&1)
is "$?" 2 "nubo vm move without --to is a usage error (exit 2)"
like "$out" 'needs --to HOST' "it says what is missing"

# --- host drain --move -------------------------------------------------------------
is "$(create h1 m2 '"host":"h3"')" 202 "m2 is created on h3"
is "$(create h1 m3 '"host":"h3"')" 202 "m3 is created on h3"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/m2 | jq -r .state)\" = running ]"
"$NUBO" vm stop m2 --wait >/dev/null 2>&1
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/m3 | jq -r .state)\" = running ]"
out=$("$NUBO" host drain h3 --move 2>&1)
ok $? "nubo host drain h3 --move" "$out"
like "$out" 'Moving m1 to h[12] \(operation op-' "it moves the stopped m1"
like "$out" 'Moving m2 to h[12] \(operation op-' "and the stopped m2"
like "$out" 'Not moving m3: it is running: a VM moves only while stopped' "and says why m3 stays"
wait_for 15 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms | jq -r '[.vms[] | select(.host == \"h3\")] | map(.name) | join(\",\")')\" = m3 ]"
ok $? "only m3 is left on h3" "$(body_of "$(hapi h1 GET /v1/vms)" | jq -c '[.vms[] | {name, host, move_to}]')"
is "$(host_state h3)" draining "h3 is draining"
r=$(hapi h1 POST /v1/hosts/h3/drain '{"move":"yes"}')
is "$(status_of "$r")" 400 "move must be a boolean (400)"
hapi h1 POST /v1/hosts/h3/undrain >/dev/null
delete_all
