#!/usr/bin/env bash
# cluster: stopped VMs move between hosts and keep their IP and data
# (docs/cluster.md), three hosts in network namespaces (tests/cluster-lib.sh)
# that reach each other only over their underlay addresses, as separate
# servers do: each nubod serves its files on --listen ADDR:8443 with a
# self-signed certificate, and the others trust it by its key's pin in the
# store:
#
#   each host's row holds its peer URL and its key's pin → m1 on h1 writes
#   a file on its disk and on a volume, is stopped and moved to h2 (through
#   h3's API): same id, MAC, IP, volume; h1's files go; started on h2 it
#   has its address and both files → a host whose key is not the pinned one
#   is not trusted (the move waits) and is once the pin is right again →
#   nubo host drain h3 --move moves h3's two stopped VMs away, and they
#   start elsewhere with their data and addresses.
set -u
CL_TLS=1
. "$(dirname "$0")/../cluster-lib.sh"

cl_setup
ok $? "three host namespaces on one underlay bridge ($CL_NET.0/24)" || exit 1
cl_start_all
ok $? "three nubods start, each with --listen on its underlay address" || exit 1
for h in h1 h2 h3; do
	is "$(body_of "$(capi h2 GET "/v1/hosts/$h")" | jq -r '.peer_url + " " + .peer_pin')" \
		"https://${CL_ADDR[$h]}:$CL_TLS_PORT $(cl_pin "$h")" "$h's row holds its peer URL and its certificate's key pin"
done
cl_image_tiny
ok $? "tiny is built on h1 and its files are on h2 and h3"
n=$((RANDOM % 200 + 20))
out=$(cnubo h1 network create mv --cidr "10.$n.7.0/24" 2>&1)
ok $? "network mv is created" "$out"

vm_id() { body_of "$(capi h1 GET "/v1/vms/$1")" | jq -c '{id, mac, ip, network}'; }
# Data on the root disk and on /dev/vdc (the volume, if any), read back as
# one line: "root:WORD vol:WORD".
WRITE() { echo "echo $1 >/root/moved && sync && cat /root/moved"; }
READ='echo "root:$(cat /root/moved 2>/dev/null) vol:$(mkdir -p /mnt/v && mount /dev/vdc /mnt/v 2>/dev/null && cat /mnt/v/moved; umount /mnt/v 2>/dev/null)"'
guest_ip() { cl_answer "$1" "ip -4 -o addr show dev eth0 | awk '{print \$4}' | cut -d/ -f1"; }
move_done() {   # move_done VM HOST: the VM is on HOST with no move left
	[ "$(cl_vm_field "$1" 'host + "/" + (.move_to // "none")')" = "$2/none" ]
}

# --- vm move, with a volume ---------------------------------------------------------
out=$(cl_vm h1 m1 --host h1 --network mv)
ok $? "m1 runs on h1" "$out"
out=$(cnubo h1 volume create mdata --size 64M --wait 2>&1) && out=$(cnubo h1 volume attach mdata --vm m1 --wait 2>&1)
ok $? "volume mdata is made on h1 and attached to m1" "$out"
WORD=moved-$CL_TAG-$RANDOM
is "$(cl_answer m1 "$(WRITE $WORD)")" "$WORD" "m1 writes a file on its disk"
is "$(cl_answer m1 "mke2fs -q /dev/vdc >/dev/null 2>&1 && mkdir -p /mnt/v && mount /dev/vdc /mnt/v && echo $WORD >/mnt/v/moved && umount /mnt/v && echo written")" \
	written "and one on its volume"
out=$(cnubo h1 vm stop m1 --wait 2>&1)
ok $? "m1 is stopped" "$out"
before=$(vm_id m1)
ID=$(cl_vm_field m1 id) VOL=$(body_of "$(capi h1 GET /v1/volumes/mdata)" | jq -r .id)
out=$(cnubo h3 vm move m1 --to h2 --wait 2>&1)
ok $? "nubo vm move m1 --to h2 --wait (through h3's API)" "$out"
is "$(cl_vm_field m1 'host + "/" + .state')" h2/stopped "m1 is on h2, stopped"
is "$(vm_id m1)" "$before" "its id, MAC, IP and network are the same"
is "$(body_of "$(capi h2 GET /v1/volumes/mdata)" | jq -r '.host + "/" + .vm')" h2/m1 "mdata moved with it, attached"
grep -q "GET /v1/peer/vms/$ID/root.qcow2 → 200" "${CL_LOG[h1]}" && grep -q "GET /v1/peer/vms/$ID/$VOL.qcow2 → 200" "${CL_LOG[h1]}"
ok $? "h2 fetched the disk and the volume's file from h1's nubod over the underlay"
[ -f "${CL_STATE[h2]}/vms/$ID/root.qcow2" ] && [ -f "${CL_STATE[h2]}/volumes/$VOL.qcow2" ]
ok $? "h2 holds the disk and the volume's file"
wait_for 15 sh -c "[ ! -e '${CL_STATE[h1]}/vms/$ID' ] && [ ! -e '${CL_STATE[h1]}/volumes/$VOL.qcow2' ]"
ok $? "h1 removes its files of both"
out=$(cnubo h1 vm start m1 --wait 2>&1)
ok $? "m1 starts on h2 (asked through h1)" "$out"
is "$(cl_answer m1 "$READ")" "root:$WORD vol:$WORD" "m1 on h2 reads the file on its disk and the one on its volume"
is "$(guest_ip m1)" "$(cl_vm_field m1 ip)" "and has its address"

# --- the pin is the trust -------------------------------------------------------------
# h3's row says another key: h3's real one is not trusted, and nothing moves
# from h3 until the row is right again.
out=$(cl_vm h1 d1 --host h3 --network mv) && out=$(cl_vm h1 d2 --host h3 --network mv)
ok $? "d1 and d2 run on h3" "$out"
W1=d1-$RANDOM W2=d2-$RANDOM
is "$(cl_answer d1 "$(WRITE $W1)")$(cl_answer d2 "$(WRITE $W2)")" "$W1$W2" "d1 and d2 write a file each"
out=$(cnubo h1 vm stop d1 --wait 2>&1) && out=$(cnubo h1 vm stop d2 --wait 2>&1)
ok $? "d1 and d2 are stopped" "$out"
B1=$(vm_id d1) B2=$(vm_id d2)
PIN3=$(cl_pin h3)
t_sql "UPDATE hosts SET peer_pin = 'sha256//$(head -c 32 /dev/urandom | base64)' WHERE name = 'h3'" >/dev/null
out=$(cnubo h2 host drain h3 --move 2>&1)
ok $? "nubo host drain h3 --move (through h2's API)" "$out"
like "$out" 'Moving d1 to h[12] \(operation op-' "it moves d1"
like "$out" 'Moving d2 to h[12] \(operation op-' "and d2"
wait_for 30 sh -c "grep -qh 'pinned public key' '${CL_LOG[h1]}' '${CL_LOG[h2]}'"
ok $? "while h3's row names another key, its certificate is refused (the pinned key does not match)"
is "$(cl_vm_field d1 host)$(cl_vm_field d2 host)" h3h3 "and d1 and d2 stay on h3"
t_sql "UPDATE hosts SET peer_pin = '$PIN3' WHERE name = 'h3'" >/dev/null
wait_for 90 sh -c "[ \"\$(NUBO_SOCKET='${CL_SOCK[h1]}' '$NUBO' vm list --json | jq -r '[.vms[] | select(.name == \"d1\" or .name == \"d2\") | select(.host != \"h3\" and .move_to == null)] | length')\" = 2 ]"
ok $? "with h3's own pin back, both move off h3" "$(cnubo h1 vm list 2>&1)"
is "$(vm_id d1)$(vm_id d2)" "$B1$B2" "their ids, MACs, IPs and networks are the same"
is "$(body_of "$(capi h1 GET /v1/hosts/h3)" | jq -r '.state + "/" + (.vms | tostring)')" draining/0 "h3 is draining and holds no VM"
out=$(cnubo h3 vm start d1 --wait 2>&1) && out=$(cnubo h3 vm start d2 --wait 2>&1)
ok $? "d1 and d2 start on their new hosts ($(cl_vm_field d1 host), $(cl_vm_field d2 host))" "$out"
is "$(cl_answer d1 'cat /root/moved')/$(cl_answer d2 'cat /root/moved')" "$W1/$W2" "each reads its file"
is "$(guest_ip d1)/$(guest_ip d2)" "$(cl_vm_field d1 ip)/$(cl_vm_field d2 ip)" "and has its address"
