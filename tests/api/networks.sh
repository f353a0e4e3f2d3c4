#!/usr/bin/env bash
# API tests: networks, firewalls, port forwards and VMs with several NICs,
# against a real nubod and store with the host layer in dry-run. Every bad
# input is refused with a status naming the field and value, and leaves
# nothing behind; the nftables ruleset nubod applies follows every change.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1nubotestkey test@nubo'
err_of() { body_of "$1" | jq -r .error.message; }
# The last ruleset nubod handed to `nft -f -`, as the dry-run log shows it.
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
DRY_LOG=$T_STATE/dry-run.log

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the tiny image is built (dry-run)"

# --- networks -----------------------------------------------------------------
r=$(api GET /v1/networks)
is "$(body_of "$r" | jq -r '[.networks[].name] | join(",")')" "default" "a fresh nubod has the default network"
is "$(body_of "$r" | jq -r '.networks[0].nat')" "true" "the default network has NAT"

r=$(api POST /v1/networks '{"name":"backend","cidr":"10.231.0.0/24","nat":false}')
is "$(status_of "$r")" 201 "a network is created with 201"
is "$(body_of "$r" | jq -r '"\(.cidr) \(.gateway) \(.nat) \(.state)"')" "10.231.0.0/24 10.231.0.1 false available" \
	"it shows its subnet, gateway (.1), NAT and state"
is "$(status_of "$(api POST /v1/networks '{"name":"backend","cidr":"10.232.0.0/24"}')")" 409 "a taken name is 409"
r=$(api POST /v1/networks '{"name":"over","cidr":"10.231.0.128/25"}')
is "$(status_of "$r")" 409 "an overlapping CIDR is 409"
like "$(err_of "$r")" 'cidr "10.231.0.128/25" overlaps network backend' "the error names the CIDR and the network"
for bad in '10.231.1.0' '10.231.1.0/33' '10.231.1.1/24' '8.8.8.0/24' '10.0.0.0/8' '10.231.1.0/30' 'x/24'; do
	r=$(api POST /v1/networks "{\"name\":\"bad\",\"cidr\":\"$bad\"}")
	is "$(status_of "$r")" 400 "cidr $bad is refused with 400"
	like "$(err_of "$r")" "cidr \"$bad\"" "and the error names the value ($bad)"
done
is "$(status_of "$(api POST /v1/networks '{"name":"Bad_Name","cidr":"10.233.0.0/24"}')")" 400 "a bad name is 400"
is "$(status_of "$(api POST /v1/networks '{"name":"x","cidr":"10.233.0.0/24","nat":"yes"}')")" 400 "nat must be a boolean"
is "$(status_of "$(api POST /v1/networks '{"name":"x"}')")" 400 "a network needs a cidr"
is "$(body_of "$(api GET /v1/networks)" | jq '.networks | length')" 2 "refused networks left nothing behind"

# --- VMs with NICs ----------------------------------------------------------------
r=$(api POST /v1/vms "{\"name\":\"db1\",\"ssh_keys\":[\"$KEY\"],\"nics\":[{\"network\":\"backend\",\"ip\":\"10.231.0.10\"}]}")
is "$(status_of "$r")" 202 "a VM on a network with a fixed IP is accepted"
is "$(body_of "$r" | jq -r '.vm.ip + " " + .vm.network')" "10.231.0.10 backend" "it has the IP it asked for"
r=$(api POST /v1/vms "{\"name\":\"db2\",\"nics\":[{\"network\":\"backend\",\"ip\":\"10.231.0.10\"}]}")
is "$(status_of "$r")" 409 "a taken IP is 409"
like "$(err_of "$r")" 'nics\[0\]\.ip "10\.231\.0\.10" is already in use on network backend' "the error names the field, IP and network"
r=$(api POST /v1/vms "{\"name\":\"db2\",\"nics\":[{\"network\":\"backend\",\"ip\":\"10.232.0.10\"}]}")
is "$(status_of "$r")" 400 "an IP outside the subnet is 400"
like "$(err_of "$r")" 'nics\[0\]\.ip "10\.232\.0\.10" is not a usable address in network backend' "the error says why"
is "$(status_of "$(api POST /v1/vms '{"name":"db2","nics":[{"network":"backend","ip":"10.231.0.1"}]}')")" 400 "the gateway's IP is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"db2","nics":[{"network":"backend","ip":"10.231.0.255"}]}')")" 400 "the broadcast address is 400"
r=$(api POST /v1/vms '{"name":"db2","nics":[{"network":"nope"}]}')
is "$(status_of "$r")" 404 "an unknown network is 404"
like "$(err_of "$r")" 'nics\[0\]\.network: network "nope" does not exist' "the error names the field and value"
is "$(status_of "$(api POST /v1/vms '{"name":"db2","nics":[{"network":"backend"},{"network":"backend"}]}')")" 400 "two NICs on one network is 400"
is "$(status_of "$(api POST /v1/vms '{"name":"db2","nics":"backend"}')")" 400 "nics must be a list"
is "$(status_of "$(api POST /v1/vms '{"name":"db2","nics":[{"network":"backend","mtu":9000}]}')")" 400 "an unknown NIC field is 400"
is "$(body_of "$(api GET /v1/vms)" | jq '.vms | length')" 1 "refused VMs left nothing behind"

r=$(api POST /v1/vms "{\"name\":\"app1\",\"nics\":[{\"network\":\"default\"},{\"network\":\"backend\"}]}")
is "$(status_of "$r")" 202 "a VM with two NICs is accepted"
is "$(body_of "$r" | jq -r '[.vm.nics[].network] | join(",")')" "default,backend" "one NIC per network, in order"
is "$(body_of "$r" | jq -r '.vm.nics[1].ip')" "10.231.0.2" "the second NIC gets the next free address of its network"
is "$(body_of "$r" | jq -r '[.vm.nics[].mac] | unique | length')" 2 "each NIC has its own MAC"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/app1 | jq -e '.state==\"running\"' >/dev/null"
ok $? "the two-NIC VM runs (dry-run)"
# app1's taps: nt<prefix><id> for its first NIC, nt<prefix:4><id><n> for the others.
app1=$(body_of "$(api GET /v1/vms/app1)" | jq -r '.id | sub("vm-"; "")')
prefix=$(t_sql "select value from meta where key='host_prefix'")
is "$(grep -oE "^ip tuntap add dev nt[0-9a-z]+" "$DRY_LOG" | grep -E "nt$prefix${app1:0:6}\$|nt${prefix:0:4}${app1:0:6}1\$" | sort -u | wc -l)" 2 \
	"a tap was made for each of app1's two NICs"
like "$(cat "$T_STATE"/networks/*/hosts | tr '\n' ' ')" 'set:secondary,10\.231\.0\.2,app1' \
	"the second NIC's DHCP reservation gives no default route"

r=$(api DELETE /v1/networks/backend)
is "$(status_of "$r")" 409 "a network with NICs cannot be deleted"
like "$(err_of "$r")" 'in use by 2 NICs' "the error says how many NICs use it"
is "$(status_of "$(api DELETE /v1/networks/default)")" 409 "the default network cannot be deleted"

# --- firewalls ---------------------------------------------------------------------
r=$(api GET /v1/firewalls/default)
is "$(status_of "$r")" 200 "the default firewall exists"
is "$(body_of "$r" | jq -r '[.rules[] | "\(.proto):\(.port // "-"):\(.from // ("fw=" + .from_firewall))"] | join(" ")')" \
	"tcp:22:0.0.0.0/0 icmp:-:0.0.0.0/0 all:-:fw=default" "it allows SSH and ping from anywhere and all from its members"
is "$(body_of "$(api GET /v1/vms/db1)" | jq -r '.firewalls | join(",")')" "default" "a VM made without firewalls is in default"

is "$(status_of "$(api POST /v1/firewalls '{"name":"web","description":"public web"}')")" 201 "a firewall is created"
is "$(status_of "$(api POST /v1/firewalls '{"name":"web"}')")" 409 "a taken firewall name is 409"
r=$(api POST /v1/firewalls/web/rules '{"proto":"tcp","port":80,"from":"0.0.0.0/0"}')
is "$(status_of "$r")" 201 "a rule is added with 201"
rule80=$(body_of "$r" | jq -r .id)
like "$rule80" '^fwr-' "rules have ids"
is "$(status_of "$(api POST /v1/firewalls/web/rules '{"proto":"tcp","port":"8000-8100","from":"192.168.0.0/16"}')")" 201 "a port range from a CIDR"
is "$(status_of "$(api POST /v1/firewalls/web/rules '{"proto":"tcp","port":5432,"from_firewall":"default"}')")" 201 "a rule from another firewall's members"
for bad in '{"proto":"tcp","port":0}|port "0"' '{"proto":"tcp","port":65536}|port "65536"' \
	'{"proto":"tcp","port":"80-70"}|port "80-70"' '{"proto":"sctp"}|proto "sctp"' \
	'{"proto":"icmp","port":80}|port "80"' '{"proto":"tcp","from":"10.0.0.0/33"}|from "10.0.0.0/33"' \
	'{"proto":"tcp","from":"1.2.3.4/8"}|from "1.2.3.4/8"' \
	'{"proto":"tcp","from":"0.0.0.0/0","from_firewall":"web"}|give one source'; do
	body=${bad%%|*}; msg=${bad#*|}
	r=$(api POST /v1/firewalls/web/rules "$body")
	is "$(status_of "$r")" 400 "rule $body is 400"
	like "$(err_of "$r")" "$msg" "and the error names $msg"
done
r=$(api POST /v1/firewalls/web/rules '{"proto":"tcp","from_firewall":"nope"}')
is "$(status_of "$r")" 404 "a rule from an unknown firewall is 404"
like "$(err_of "$r")" 'from_firewall: firewall "nope" does not exist' "the error names the field and value"
is "$(status_of "$(api POST /v1/firewalls/nope/rules '{"proto":"tcp"}')")" 404 "a rule on an unknown firewall is 404"
is "$(body_of "$(api GET /v1/firewalls/web/rules)" | jq '.rules | length')" 3 "refused rules left nothing behind"

r=$(api POST /v1/vms "{\"name\":\"www1\",\"firewalls\":[\"web\",\"default\"]}")
is "$(status_of "$r")" 202 "a VM joins firewalls at create"
is "$(body_of "$r" | jq -r '.vm.firewalls | join(",")')" "web,default" "in the order given"
r=$(api POST /v1/vms '{"name":"www2","firewalls":["nope"]}')
is "$(status_of "$r")" 404 "an unknown firewall at create is 404"
like "$(err_of "$r")" 'firewalls\[0\]: firewall "nope" does not exist' "the error names the field and value"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/www1 | jq -e '.state==\"running\"' >/dev/null"
ok $? "www1 runs (dry-run)"

# The applied ruleset: www1's chain allows 80 from anywhere; SSH from default.
wait_for 5 sh -c "grep -q 'tcp dport 80 accept' '$DRY_LOG'"
ok $? "the rule is applied to nftables"
www1=$(body_of "$(api GET /v1/vms/www1)" | jq -r '.id | sub("vm-"; "")')
rs=$(last_ruleset)
chain=$(printf '%s' "$rs" | awk "/chain vm_$www1 /,/^\t}/")
like "$chain" 'tcp dport 80 accept' "www1's chain allows port 80"
like "$chain" 'ip saddr 192\.168\.0\.0/16 tcp dport 8000-8100 accept' "and the range from the CIDR"
like "$chain" 'tcp dport 22 accept' "and SSH (default firewall)"
like "$chain" 'drop' "and drops everything else"
fw_default=$(body_of "$(api GET /v1/firewalls/default)" | jq -r '.id | sub("fw-"; "")')
like "$(printf '%s' "$chain" | grep 5432)" "ip saddr @fw_$fw_default tcp dport 5432 accept" \
	"a from-firewall rule matches the source firewall's set"
like "$(printf '%s' "$rs" | awk "/set fw_$fw_default /,/^\t}/" | tr '\n' ' ')" 'elements = \{ .*10\.231\.0\.10' \
	"which holds its members' addresses"

n_rulesets=$(grep -c '^<<<# Written by nubo' "$DRY_LOG")
r=$(api PUT /v1/vms/www1/firewalls '{"firewalls":["default"]}')
is "$(status_of "$r")" 200 "set-firewall answers 200"
is "$(body_of "$r" | jq -r '.firewalls | join(",")')" "default" "with the new firewalls"
# Wait for a ruleset applied after the change, then read www1's chain in it.
rulesets() { grep -c '^<<<# Written by nubo' "$DRY_LOG"; }
wait_for 5 sh -c "[ \$(grep -c '^<<<# Written by nubo' '$DRY_LOG') -gt $n_rulesets ]"
ok $? "a new ruleset is applied after set-firewall"
chain=$(last_ruleset | awk "/chain vm_$www1 /,/^\t}/")
like "$chain" 'tcp dport 22 accept' "www1's chain is still there and allows SSH (default)" "$chain"
printf '%s' "$chain" | grep -q 'dport 80 accept'
ok $((! $?)) "the ruleset no longer allows port 80 to www1" "$chain"
is "$(status_of "$(api PUT /v1/vms/www1/firewalls '{"firewalls":[]}')")" 400 "an empty firewall list is 400"
is "$(status_of "$(api PUT /v1/vms/www1/firewalls '{"firewalls":["default","default"]}')")" 400 "a firewall twice is 400"
is "$(status_of "$(api PUT /v1/vms/nope/firewalls '{"firewalls":["default"]}')")" 404 "set-firewall on an unknown VM is 404"

r=$(api DELETE /v1/firewalls/default)
is "$(status_of "$r")" 409 "the default firewall cannot be deleted"
is "$(status_of "$(api DELETE "/v1/firewalls/web/rules/$rule80")")" 204 "a rule is deleted with 204"
is "$(status_of "$(api DELETE "/v1/firewalls/web/rules/$rule80")")" 404 "a deleted rule is 404"
api PUT /v1/vms/www1/firewalls '{"firewalls":["web"]}' >/dev/null
r=$(api DELETE /v1/firewalls/web)
is "$(status_of "$r")" 409 "a firewall with members cannot be deleted"
like "$(err_of "$r")" 'has 1 member VM' "the error says so"
api PUT /v1/vms/www1/firewalls '{"firewalls":["default"]}' >/dev/null
is "$(status_of "$(api DELETE /v1/firewalls/web)")" 204 "an unused firewall is deleted"

# --- port forwards -------------------------------------------------------------------
# nubod refuses a host port that a program on the host listens on, so the
# ports are taken free, never fixed: a fixed one fails whenever something
# else on the machine holds it.
P1=$(free_port) P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
r=$(api POST /v1/vms/www1/forwards "{\"ports\":\"$P1:80\"}")
is "$(status_of "$r")" 201 "a port forward is created"
is "$(body_of "$r" | jq -r '"\(.host_port) \(.guest_port) \(.proto)"')" "$P1 80 tcp" "it shows host port, VM port and protocol"
r=$(api POST /v1/vms/db1/forwards "{\"ports\":\"$P1:22\"}")
is "$(status_of "$r")" 409 "a host port already forwarded is 409"
for bad in '0:80' '18081:70000' '18081' 'a:b' '18081:80/sctp'; do
	r=$(api POST /v1/vms/www1/forwards "{\"ports\":\"$bad\"}")
	is "$(status_of "$r")" 400 "ports $bad is 400"
done
wait_for 5 sh -c "grep -q 'tcp dport $P1 dnat ip to' '$DRY_LOG'"
ok $? "the forward is in the applied ruleset"
is "$(body_of "$(api GET /v1/vms/www1/forwards)" | jq -r '.forwards[0].host_port')" "$P1" "forwards are listed per VM"
n_rulesets=$(rulesets)
is "$(status_of "$(api DELETE /v1/vms/www1/forwards/$P1)")" 204 "unexpose answers 204"
is "$(body_of "$(api GET /v1/vms/www1/forwards)" | jq -c .forwards)" "[]" "the VM lists no forward any more"
wait_for 5 sh -c "[ \$(grep -c '^<<<# Written by nubo' '$DRY_LOG') -gt $n_rulesets ]"
ok $? "a new ruleset is applied after unexpose"
rs=$(last_ruleset)
like "$rs" 'table inet nubo_' "it is a whole ruleset" "$rs"
printf '%s' "$rs" | grep -q "dport $P1 dnat"
ok $((! $?)) "and no longer forwards port $P1"
is "$(status_of "$(api DELETE /v1/vms/www1/forwards/$P1)")" 404 "a second unexpose is 404"

# --- the next free address: the lowest one no NIC or balancer holds -------------------------
# backend holds .2 (app1) and .10 (db1); gap1 takes .3 by hand, so gap2 gets .4.
is "$(status_of "$(api POST /v1/vms '{"name":"gap1","nics":[{"network":"backend","ip":"10.231.0.3"}]}')")" 202 \
	"a VM takes 10.231.0.3 by hand"
is "$(body_of "$(api POST /v1/vms '{"name":"gap2","nics":[{"network":"backend"}]}')" | jq -r '.vm.nics[0].ip')" \
	"10.231.0.4" "the next VM gets the lowest address left free (.4, past .2 and .3)"

# --- delete ------------------------------------------------------------------------------
for vm in db1 app1 www1 gap1 gap2; do api DELETE /v1/vms/$vm >/dev/null; done
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq -e '.vms | length == 0' >/dev/null"
ok $? "the VMs are deleted"
backend_br=$(body_of "$(api GET /v1/networks/backend)" | jq -r .bridge)
like "$backend_br" '^nb' "the backend network has a bridge ($backend_br)"
is "$(status_of "$(api DELETE /v1/networks/backend)")" 202 "a network without NICs is deleted"
wait_for 5 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/networks/backend | jq -e '.error' >/dev/null"
ok $? "and is gone"
grep -q "^ip link del dev $backend_br\$" "$DRY_LOG"
ok $? "its bridge $backend_br was removed"

# --- the CLI ------------------------------------------------------------------------------
out=$("$NUBO" network create front --cidr 10.234.0.0/24 2>&1)
like "$out" 'Created network front: 10\.234\.0\.0/24, gateway 10\.234\.0\.1, NAT' "nubo network create"
like "$("$NUBO" network list)" 'front +10\.234\.0\.0/24 +10\.234\.0\.1 +yes' "nubo network list"
out=$("$NUBO" network create front2 --cidr 10.234.0.0/25 2>&1); rc=$?
is "$rc" 1 "nubo network create with an overlapping CIDR exits 1"
like "$out" 'overlaps network front' "and says why"
like "$("$NUBO" firewall create app 2>&1)" 'Created firewall app' "nubo firewall create"
like "$("$NUBO" firewall rule add app --proto tcp --port 443 --from 10.0.0.0/8 2>&1)" 'Added rule fwr-.* tcp 443 from 10\.0\.0\.0/8' "nubo firewall rule add"
like "$("$NUBO" firewall show app)" 'tcp +443 +10\.0\.0\.0/8' "nubo firewall show lists the rules"
out=$("$NUBO" vm create web9 --network front --ip 10.234.0.9 --network default --firewall app,default 2>&1)
like "$out" 'Creating VM web9' "nubo vm create --network --ip --firewall"
is "$(body_of "$(api GET /v1/vms/web9)" | jq -r '"\(.nics[0].ip) \(.nics[1].network) \(.firewalls | join(","))"')" \
	"10.234.0.9 default app,default" "the VM has the NICs and firewalls asked for"
like "$("$NUBO" vm expose web9 "$P2:443" 2>&1)" "Host port $P2/tcp now reaches port 443 of VM web9" "nubo vm expose"
like "$("$NUBO" vm ports web9)" "$P2 +443 +tcp" "nubo vm ports"
like "$("$NUBO" vm unexpose web9 "$P2" 2>&1)" 'no longer forwarded' "nubo vm unexpose"
out=$("$NUBO" vm ports web9 2>&1)
ok $? "nubo vm ports web9 still answers" "$out"
printf '%s' "$out" | grep -qw "$P2"
ok $((! $?)) "and no longer lists host port $P2" "$out"
like "$("$NUBO" vm set-firewall web9 default 2>&1)" 'now in firewall default' "nubo vm set-firewall"

# --- paging the VM list ----------------------------------------------------------------
api POST /v1/vms '{"name":"web8","type":"nano"}' >/dev/null
r=$(api GET '/v1/vms?limit=1')
is "$(body_of "$r" | jq -r '[.vms[].name] | join(",")') $(body_of "$r" | jq -r .next_page_token)" "web8 web8" \
	"a page of one VM, and the token of the next"
r=$(api GET '/v1/vms?limit=1&page_token=web8')
is "$(body_of "$r" | jq -r '[.vms[].name] | join(",")') $(body_of "$r" | jq -r .next_page_token)" "web9 null" \
	"the last page has no next token"
is "$(body_of "$(api GET /v1/vms)" | jq '.vms | length')" 2 "without a limit, a page of up to 100"
for bad in 0 1001 abc -5 ''; do
	r=$(api GET "/v1/vms?limit=$bad")
	is "$(status_of "$r")" 400 "limit=$bad is 400"
done
like "$(err_of "$(api GET '/v1/vms?limit=abc')")" 'limit "abc" must be a number from 1 to 1000' "the error names the value"
like "$("$NUBO" vm list | tr '\n' ' ')" 'web8 .* web9 ' "nubo vm list walks every page"
# The list keeps each VM's JSON until the VM changes: every change shows.
fw_of() { body_of "$(api GET /v1/vms)" | jq -r ".vms[] | select(.name==\"$1\") | .firewalls | join(\",\")"; }
is "$(fw_of web9)" "default" "the list shows web9's firewalls"
api PUT /v1/vms/web9/firewalls '{"firewalls":["app","default"]}' >/dev/null
is "$(fw_of web9)" "app,default" "a change of firewalls shows in the list at once"
api POST /v1/vms/web8/stop '{"force":true}' >/dev/null
wait_for 5 sh -c "curl -s --unix-socket $T_SOCK 'http://nubo/v1/vms?limit=1' | jq -e '.vms[0].state==\"stopped\"' >/dev/null"
ok $? "a change of state shows in the list"
is "$(body_of "$(api GET /v1/vms/web8)" | jq -c '{state, power}')" \
	"$(body_of "$(api GET '/v1/vms?limit=1')" | jq -c '.vms[0] | {state, power}')" "the list and the VM agree"

nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
grep -Eq "Sanitizer|runtime error" "$T_LOG"
ok $((! $?)) "no sanitizer report in nubod's log"
