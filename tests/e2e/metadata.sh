#!/usr/bin/env bash
# e2e: the metadata service at 169.254.169.254 with real VMs (tiny, no seed).
#
#   a VM made with --no-seed gets its key, hostname and user-data from the
#   service and answers SSH → inside it the answers match the VM → IMDSv2:
#   after a token, no token is 401 and the token 200 → a second VM sees only
#   its own data → the second VM, sending from the first one's address,
#   gets nothing → the port is closed to anything but the bridge.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e-md -f "$T_DIR/id" || exit 1
show() { "$NUBO" vm show "$1" --json | jq -r ".$2"; }
on_vm() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"; }
MD=http://169.254.169.254/latest
# In the guest: a token for TTL seconds (busybox nc; the body is the last line).
TOKEN_CMD="printf 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n' | timeout 15 nc 169.254.169.254 80 | tail -n 1"

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"

printf '#!/bin/sh\necho "user-data ran as $(id -un)" > /root/ud-ran\n' >"$T_DIR/ud.sh"
out=$("$NUBO" vm create md1 --no-seed --ssh-key "$T_DIR/id.pub" --user-data "$T_DIR/ud.sh" --wait 2>&1)
ok $? "nubo vm create md1 --no-seed --wait" "$out"
id1=$(show md1 id)
ip1=$(show md1 ip)
mac1=$(show md1 mac)
is "$(show md1 seed)" false "md1 has no seed"
[ ! -e "$T_STATE/vms/$id1/seed.iso" ]
ok $? "no seed.iso was made for md1"

# SSH works with the key the guest read from the service.
is "$(on_vm md1 hostname)" md1 "md1 answers SSH with its key, and its hostname came from the service"
on_vm md1 'findfs LABEL=cidata' >/dev/null
ok $((! $?)) "the guest has no cidata disk"
like "$("$NUBO" vm console md1)" "configured from the metadata service \(instance $id1\)" \
	"the console says the boot read the service"
wait_for 60 sh -c "'$NUBO' vm ssh md1 -- cat /root/ud-ran 2>/dev/null | grep -q 'user-data ran as root'"
ok $? "md1 ran its user-data from the service"

# Inside the guest, with a token: every answer is md1's.
tok=$(on_vm md1 "$TOKEN_CMD")
like "$tok" '^[0-9a-f]{64}$' "PUT /latest/api/token gives a token"
get1() { on_vm md1 "wget -q -O - --header 'X-aws-ec2-metadata-token: $tok' $MD/$1"; }
is "$(get1 meta-data/instance-id)" "$id1" "instance-id is md1's id"
is "$(get1 meta-data/local-ipv4)" "$ip1" "local-ipv4 is md1's address"
is "$(get1 meta-data/hostname)" md1 "hostname is md1"
is "$(get1 meta-data/local-hostname)" md1 "local-hostname is md1"
is "$(get1 meta-data/mac)" "$mac1" "mac is md1's"
is "$(get1 meta-data/instance-type)" small "instance-type is small"
is "$(get1 meta-data/public-keys/)" "0=e2e-md" "public-keys/ lists the key by its comment"
is "$(get1 meta-data/public-keys/0/openssh-key)" "$(cat "$T_DIR/id.pub")" "openssh-key is the key given"
is "$(get1 user-data)" "$(cat "$T_DIR/ud.sh")" "user-data is the file given"
like "$(on_vm md1 "wget -q -O - --header 'X-aws-ec2-metadata-token: $tok' $MD/meta-data/nope 2>&1")" "404" \
	"an unknown path is 404"

# IMDSv2: md1 asked for a token at boot, so a request without one is 401.
like "$(on_vm md1 "wget -O - $MD/meta-data/instance-id 2>&1")" "401 Unauthorized" \
	"without a token: 401"
wrong=$(printf '%s' "$tok" | tr 0-9a-f 1-9a-f0)   # every digit changed
like "$(on_vm md1 "wget -O - --header 'X-aws-ec2-metadata-token: $wrong' $MD/meta-data/instance-id 2>&1")" \
	"401 Unauthorized" "with a wrong token: 401"
like "$(on_vm md1 "printf 'PUT /latest/api/token HTTP/1.0\r\n\r\n' | nc 169.254.169.254 80 | head -n 1")" \
	"400 Bad Request" "a token request without a TTL: 400"
like "$(on_vm md1 "printf 'DELETE /latest/meta-data/ HTTP/1.0\r\nX-aws-ec2-metadata-token: $tok\r\n\r\n' | nc 169.254.169.254 80 | head -n 1")" \
	"405 Method Not Allowed" "a DELETE: 405"

# A second VM sees only its own data; md1's token is not valid for it.
out=$("$NUBO" vm create md2 --no-seed --ssh-key "$T_DIR/id.pub" --wait 2>&1)
ok $? "nubo vm create md2 --no-seed --wait" "$out"
id2=$(show md2 id)
tok2=$(on_vm md2 "$TOKEN_CMD")
is "$(on_vm md2 "wget -q -O - --header 'X-aws-ec2-metadata-token: $tok2' $MD/meta-data/instance-id")" "$id2" \
	"md2 reads its own instance-id"
out=$(on_vm md2 "wget -O - --header 'X-aws-ec2-metadata-token: $tok' $MD/meta-data/instance-id 2>&1")
like "$out" "401 Unauthorized" "md1's token is refused to md2"
like "$(on_vm md2 "wget -O - --header 'X-aws-ec2-metadata-token: $tok2' $MD/user-data 2>&1")" "404 Not Found" \
	"md2 has no user-data: 404"

# A nubod killed and restarted listens again for the VMs it adopts; tokens
# were in its memory only, so the guest asks for a new one.
nubod_kill9
nubod_start
ok $? "nubod restarts"
like "$(on_vm md1 "wget -O - --header 'X-aws-ec2-metadata-token: $tok' $MD/meta-data/instance-id 2>&1")" \
	"401 Unauthorized" "after the restart the old token is 401"
tok=$(on_vm md1 "$TOKEN_CMD")
is "$(on_vm md1 "wget -q -O - --header 'X-aws-ec2-metadata-token: $tok' $MD/meta-data/instance-id")" "$id1" \
	"a new token reads md1's instance-id again"

# From the host itself and from outside the bridge the port is closed.
gw=$(ip -4 -o addr show dev "$("$NUBO" network show default --json | jq -r .bridge)" |
	awk '{print $4}' | cut -d/ -f1)
is "$gw" "$("$NUBO" network show default --json | jq -r .gateway)" "the default bridge holds the gateway address"
ss -ltn | grep -q " $gw:8775 "
ok $? "the metadata service listens on $gw:8775"
# nubod's input chain drops it: curl times out (28), where a refused or
# failed connection would be 7 and an answer 0.
curl -s -m 3 "http://$gw:8775/latest/meta-data/instance-id" >/dev/null
is "$?" 28 "the metadata port does not answer the host itself (dropped: curl times out)"

# md2 borrows md1's address: as an extra address, the source of its requests
# to the service. It also claims the address towards the host (ARP). It must
# get nothing of md1's: the bridge drops every frame from md2's tap whose
# source is not md2's own address, and the service checks address and MAC.
ip2=$(show md2 ip)
# busybox arping exits 0 when answered, 1 when not (an ssh failure is 255)
on_vm md2 "arping -q -c 1 -s $ip2 -I eth0 $gw" >/dev/null
is "$?" 0 "md2's ARP request from its own address is answered"
on_vm md2 "ip addr add $ip1/32 dev eth0 && ip route add 169.254.169.254/32 via $gw dev eth0 src $ip1 && ip route get 169.254.169.254" |
	grep -q "src $ip1"
ok $? "md2 takes md1's address and routes the service's address from it (the setup)"
on_vm md2 "arping -q -c 1 -s $ip1 -I eth0 $gw" >/dev/null
is "$?" 1 "md2's ARP claim for md1's address gets no answer (dropped at the bridge)"
out=$(on_vm md2 "timeout 15 wget -O - $MD/meta-data/instance-id 2>&1; echo; $TOKEN_CMD; echo;
	timeout 15 wget -O - --header 'X-aws-ec2-metadata-token: $tok' $MD/meta-data/instance-id 2>&1; echo; echo requests-done")
like "$out" 'requests-done$' "md2 made its requests from md1's address" "$out"
printf '%s' "$out" | grep -q "$id1"
ok $((! $?)) "md2 gets no answer with md1's data, even with md1's token" "$out"
printf '%s' "$out" | grep -Eq '^[0-9a-f]{64}$'
ok $((! $?)) "and no token" "$out"
grep -q "address $ip1 and MAC $(show md2 mac)" "$T_LOG"
ok $((! $?)) "no request from md1's address with md2's MAC even reached nubod"

for vm in md1 md2; do
	out=$("$NUBO" vm delete "$vm" --wait 2>&1)
	ok $? "nubo vm delete $vm --wait" "$out"
done
nubod_stop
ok $? "nubod exits cleanly"
prefix=$(t_sql "select value from meta where key='host_prefix'")
nft list table inet "nubo_$prefix" >/dev/null
ok $? "nubod's table nubo_$prefix is there before --destroy"
"$NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" "${T_DB_FLAGS[@]}" --destroy >>"$T_LOG" 2>&1
ok $? "nubod --destroy succeeds"
nft list tables 2>/dev/null | grep -q "nubo_$prefix"
ok $((! $?)) "no nftables table is left"
ss -ltn | grep -q "$gw:8775"
ok $((! $?)) "nothing listens on the metadata port any more"
