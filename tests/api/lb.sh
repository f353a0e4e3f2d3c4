#!/usr/bin/env bash
# API tests: load balancers against a real nubod and store, host layer in
# dry-run. Every bad input is refused with a status naming the field and
# value and leaves nothing behind; the VIP comes from the network's subnet
# and no VM gets it; the ruleset nubod applies carries one DNAT rule per
# listener over the targets in rotation, and health (dry-run checks pass;
# a stopped VM fails) moves targets in and out, failing open when none is
# healthy.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
err_of() { body_of "$1" | jq -r .error.message; }
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
lb_rules() { last_ruleset | grep -E 'ip daddr [0-9.]+ tcp dport [0-9]+ ct state new dnat' || true; }
lb_get() { body_of "$(api GET "/v1/lbs/$1")"; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the tiny image is built (dry-run)"

is "$(status_of "$(api POST /v1/networks '{"name":"front","cidr":"10.241.0.0/28"}')")" 201 "a network of 13 usable addresses"
for vm in web1 web2 web3; do
	api POST /v1/vms "{\"name\":\"$vm\",\"nics\":[{\"network\":\"front\"}]}" >/dev/null
done
api POST /v1/vms '{"name":"elsewhere"}' >/dev/null
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq -e '[.vms[] | select(.state==\"running\")] | length == 4' >/dev/null"
ok $? "four VMs run (dry-run): three on front, one on default"
ips=$(body_of "$(api GET /v1/vms)" | jq -r '[.vms[] | select(.network=="front") | .ip] | sort | join(",")')
is "$ips" "10.241.0.2,10.241.0.3,10.241.0.4" "web1-3 hold .2-.4"

# --- bad input ------------------------------------------------------------------
bad() { # bad STATUS BODY REGEX DESCRIPTION
	local r; r=$(api POST /v1/lbs "$2")
	is "$(status_of "$r")" "$1" "$4: $1"
	like "$(err_of "$r")" "$3" "$4: the error names it"
}
base='"name":"web","network":"front","listen":["80"]'
bad 400 '{"network":"front","listen":["80"]}' 'field "name" is required' "no name"
bad 400 "{\"name\":\"Web!\",\"network\":\"front\",\"listen\":[\"80\"]}" 'name "Web!"' "a bad name"
bad 400 '{"name":"web","network":"front"}' 'listen has 0 ports' "no listener"
bad 400 '{"name":"web","network":"front","listen":["0"]}' 'listen\[0\]' "port 0"
bad 400 '{"name":"web","network":"front","listen":["70000"]}' '70000' "port 70000"
bad 400 '{"name":"web","network":"front","listen":["80:x"]}' 'listen\[0\] "80:x"' "a bad target port"
bad 400 '{"name":"web","network":"front","listen":["80","80:8080"]}' 'listen\[1\] "80:8080": port 80 is already a listener' "a listener twice"
bad 400 '{"name":"web","network":"front","listen":[80]}' 'listen\[0\] must be a string' "a listener that is a number"
bad 404 '{"name":"web","network":"nope","listen":["80"]}' 'network "nope"' "an unknown network"
bad 404 "{$base,\"targets\":[\"web1\",\"ghost\"]}" 'targets\[1\] "ghost": VM "ghost" does not exist' "an unknown VM"
bad 422 "{$base,\"targets\":[\"elsewhere\"]}" 'targets\[0\] "elsewhere": VM elsewhere has no address on network front' "a VM on another network"
bad 400 "{$base,\"targets\":[\"web1\",\"web1\"]}" 'targets\[1\] "web1" is given twice' "a target twice"
bad 400 "{$base,\"targets\":[\"web1:0\"]}" 'targets\[0\]' "a target port 0"
bad 400 "{$base,\"check\":\"udp\"}" 'check "udp" is not a health check' "an unknown check"
bad 400 "{$base,\"check\":\"http:healthz\"}" 'check "http:healthz": the path must start with /' "a path without /"
bad 400 "{$base,\"check\":\"http:/a b\"}" 'check "http:/a b"' "a path with a space"
bad 400 "{$base,\"interval\":\"5\"}" 'interval "5" is not a duration' "an interval without a unit"
bad 400 "{$base,\"interval\":\"10ms\"}" 'interval "10ms" is out of range' "an interval too short"
bad 400 "{$base,\"interval\":\"1s\",\"timeout\":\"2s\"}" 'timeout 2000 ms is not shorter than interval 1000 ms' "a timeout longer than the interval"
bad 400 "{$base,\"rise\":0}" 'rise 0 is out of range' "rise 0"
bad 400 "{$base,\"fall\":11}" 'fall 11 is out of range' "fall 11"
bad 400 "{$base,\"rise\":\"two\"}" 'field "rise" must be a whole number of checks.*"two"' "rise as text"
bad 400 "{$base,\"algorithm\":\"random\"}" 'algorithm "random" is not an algorithm' "an unknown algorithm"
bad 400 "{$base,\"colour\":\"blue\"}" 'colour' "an unknown field"
is "$(body_of "$(api GET /v1/lbs)" | jq '.lbs | length')" 0 "refused balancers left nothing behind"
is "$(lb_rules)" "" "and no DNAT rule"

# --- create, the VIP, the ruleset ------------------------------------------------
r=$(api POST /v1/lbs "{\"name\":\"web\",\"network\":\"front\",\"listen\":[\"80\",\"443:8443\"],\"targets\":[\"web1\",\"web2:8080\"],\"interval\":\"200ms\",\"timeout\":\"100ms\"}")
is "$(status_of "$r")" 201 "a balancer is created with 201"
vip=$(body_of "$r" | jq -r .vip)
is "$vip" "10.241.0.5" "its VIP is the next free address of the network"
is "$(body_of "$r" | jq -r '[.targets[].health] | join(",")')" "unknown,unknown" "its targets start unknown"
is "$(status_of "$(api POST /v1/lbs "{$base}")")" 409 "a taken name is 409"
r=$(api POST /v1/vms '{"name":"web4","nics":[{"network":"front","ip":"10.241.0.5"}]}')
is "$(status_of "$r")" 409 "a VM cannot ask for the VIP"
r=$(api POST /v1/vms '{"name":"web4","nics":[{"network":"front"}]}')
is "$(body_of "$r" | jq -r .vm.ip)" "10.241.0.6" "a new VM on the network is given another address than the VIP"
for i in 7 8 9 10 11 12 13 14; do   # the rest of the subnet
	api POST /v1/lbs "{\"name\":\"fill$i\",\"network\":\"front\",\"listen\":[\"80\"]}" >/dev/null
done
is "$(body_of "$(api GET /v1/lbs)" | jq -r '[.lbs[].vip] | join(" ")')" \
	"10.241.0.10 10.241.0.11 10.241.0.12 10.241.0.13 10.241.0.14 10.241.0.7 10.241.0.8 10.241.0.9 10.241.0.5" \
	"each balancer takes an address of its own"
r=$(api POST /v1/lbs '{"name":"full","network":"front","listen":["80"]}')
is "$(status_of "$r")" 507 "a network with no address left cannot hold another balancer"
like "$(err_of "$r")" 'network front .* has no free IP address left' "and says so"
for i in 7 8 9 10 11 12 13 14; do api DELETE /v1/lbs/fill$i >/dev/null; done

wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/lbs/web | jq -e '[.targets[].health] == [\"healthy\",\"healthy\"]' >/dev/null"
ok $? "dry-run checks pass: both targets become healthy"
want="		ip daddr 10.241.0.5 tcp dport 443 ct state new dnat ip to numgen inc mod 2 map { 0 : 10.241.0.2 . 8443, 1 : 10.241.0.3 . 8080 }
		ip daddr 10.241.0.5 tcp dport 80 ct state new dnat ip to numgen inc mod 2 map { 0 : 10.241.0.2 . 80, 1 : 10.241.0.3 . 8080 }"
is "$(lb_rules | sort -u)" "$want" "one rule per listener over both targets (a target's own port wins), in prerouting and output"
is "$(lb_rules | wc -l)" 4 "each rule is in nat_prerouting and nat_output"
is "$(last_ruleset | grep -A2 'set lb_vips' | grep -c 'elements = { 10.241.0.5 }$')" 1 "the VIP is in lb_vips"
like "$(last_ruleset)" 'ct status dnat ct original ip daddr != @lb_vips meta l4proto tcp ct original proto-dst != @lb_host_ports accept' "so its connections meet the targets' firewalls"

# --- targets --------------------------------------------------------------------
r=$(api POST /v1/lbs/web/targets '{"target":"web3"}')
is "$(status_of "$r")" 201 "a target is added with 201"
is "$(status_of "$(api POST /v1/lbs/web/targets '{"target":"web3"}')")" 409 "the same target again is 409"
r=$(api POST /v1/lbs/web/targets '{"target":"elsewhere"}')
is "$(status_of "$r")" 422 "a VM on another network is 422"
is "$(status_of "$(api POST /v1/lbs/nope/targets '{"target":"web3"}')")" 404 "an unknown balancer is 404"
is "$(status_of "$(api POST /v1/lbs/web/targets '{}')")" 400 "a target is required"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/lbs/web | jq -e '[.targets[].health] == [\"healthy\",\"healthy\",\"healthy\"]' >/dev/null"
ok $? "the new target becomes healthy"
like "$(lb_rules)" 'dport 80 ct state new dnat ip to numgen inc mod 3 map \{ 0 : 10.241.0.2 . 80, 1 : 10.241.0.3 . 8080, 2 : 10.241.0.4 . 80 \}' \
	"and joins the rotation"

# A stopped target fails its checks: out after fall (3) failures.
api POST /v1/vms/web3/stop '{"force":true}' >/dev/null
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/lbs/web | jq -e '.targets[2].health == \"unhealthy\"' >/dev/null"
ok $? "a stopped target becomes unhealthy"
is "$(lb_get web | jq -r '.targets[2].reason')" "the VM is not running" "and says why"
like "$(lb_get web | jq -r '.targets[2].health_since')" '^20[0-9][0-9]-' "and since when"
no_web3_rule() { ! lb_rules | grep -q '10.241.0.4 . 80'; }
wait_for 5 no_web3_rule
like "$(lb_rules)" 'dport 80 ct state new dnat ip to numgen inc mod 2 map \{ 0 : 10.241.0.2 . 80, 1 : 10.241.0.3 . 8080 \}' \
	"and leaves the rotation"

# None healthy: fail open to all, with an event.
api POST /v1/vms/web1/stop '{"force":true}' >/dev/null
api POST /v1/vms/web2/stop '{"force":true}' >/dev/null
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/lbs/web | jq -e '.failing_open' >/dev/null"
ok $? "with every target unhealthy the balancer fails open"
like "$(lb_rules)" 'dport 80 ct state new dnat ip to numgen inc mod 3 map' "to all three targets"
like "$(body_of "$(api GET '/v1/events?name=web')" | jq -r '.events[] | "\(.kind) \(.what)"')" 'lb .*failing_open' \
	"and the event log says so"
api POST /v1/vms/web1/start >/dev/null
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/lbs/web | jq -e '(.failing_open|not) and .targets[0].health == \"healthy\"' >/dev/null"
ok $? "a target that comes back ends failing open"
like "$(lb_rules)" 'dport 80 ct state new dnat ip to numgen inc mod 1 map \{ 0 : 10.241.0.2 . 80 \}' "and is the rotation alone"

# Removing.
is "$(status_of "$(api DELETE /v1/lbs/web/targets/web9)")" 404 "removing an unknown VM is 404"
is "$(status_of "$(api DELETE /v1/lbs/web/targets/web4)")" 404 "removing a VM that is not a target is 404"
is "$(status_of "$(api DELETE /v1/lbs/web/targets/web1)")" 204 "a target is removed with 204"
is "$(lb_get web | jq -r '[.targets[] | select(.state == "active") | .vm] | join(",")')" "web2,web3" \
	"and is out, draining (tests/api/lb-drain.sh)"
# web2 is a target on its own port (web2:8080)
is "$(lb_get web | jq -r '.targets[] | select(.port) | "\(.vm):\(.port)"')" "web2:8080" "web2 is the target with a port of its own"
is "$(status_of "$(api DELETE "/v1/lbs/web/targets/web2:8081")")" 404 "removing web2 at a port it is not a target on is 404"
is "$(status_of "$(api DELETE "/v1/lbs/web/targets/web2:8080")")" 204 "a target is removed by NAME:PORT"
is "$(lb_get web | jq -r '[.targets[] | select(.state == "active") | .vm] | join(",")')" "web3" "and is out too"
is "$(status_of "$(api DELETE "/v1/lbs/web/targets/web3:80:80")")" 400 "a segment with two ports is 400"

# --- source hash, CLI -------------------------------------------------------------
r=$(api DELETE /v1/lbs/web)
is "$(status_of "$r") $(body_of "$r" | jq -r .state)" "202 deleting" "a balancer with targets is deleted with 202, deleting (tests/api/lb-delete.sh)"
is "$(lb_rules)" "" "its rules go at once"
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $T_SOCK http://nubo/v1/lbs/web)\" = 404 ]"
ok $? "it is gone once its targets' connections are cut"
is "$(t_sql "SELECT COUNT(*) FROM lb_targets") $(t_sql "SELECT COUNT(*) FROM lb_listeners")" "0 0" "and its targets and listeners"
is "$(status_of "$(api DELETE /v1/lbs/web)")" 404 "deleting it again is 404"
api POST /v1/vms/web2/start >/dev/null
out=$($NUBO lb create hash --network front --listen 8080:80 --targets web2 --algorithm source-hash --check http:/healthz \
	--interval 300ms --timeout 100ms --rise 1 --fall 1 2>&1)
ok $? "nubo lb create" "$out"
like "$out" 'Created load balancer hash at 10\.241\.0\.5 \(port 8080:80\) on network front, 1 target' "says what it made (the VIP is free again)"
wait_for 10 sh -c "$NUBO lb show hash | grep -Eq 'web2 +- +active +healthy'"
ok $? "nubo lb show: the target's health"
like "$(lb_rules)" 'ip daddr 10.241.0.5 tcp dport 8080 ct state new dnat ip to jhash ip saddr mod 1 map \{ 0 : 10.241.0.3 . 80 \}' \
	"source-hash renders jhash"
like "$($NUBO lb show hash)" 'Check: +http /healthz every 300 ms, timeout 100 ms, rise 1, fall 1' "show gives the check"
like "$($NUBO lb list)" 'hash +front +10\.241\.0\.5 +8080:80 +1/1 healthy +source-hash' "nubo lb list"
out=$($NUBO lb create bad --network front --listen 80 --rise x 2>&1)
is "$?" 1 "a bad flag fails"
like "$out" 'rise.*"x"' "and names the value"
out=$($NUBO lb target add hash ghost 2>&1)
like "$out" 'VM "ghost" does not exist' "nubo lb target add names an unknown VM"
$NUBO lb target add hash web3 >/dev/null 2>&1
ok $? "nubo lb target add"
$NUBO lb target remove hash web3 >/dev/null 2>&1
ok $? "nubo lb target remove"
$NUBO lb delete hash --wait >/dev/null 2>&1
ok $? "nubo lb delete --wait"
is "$(body_of "$(api GET /v1/lbs)" | jq '.lbs | length')" 0 "none is left"

# A network that holds a VIP stays.
api POST /v1/networks '{"name":"lonely","cidr":"10.242.0.0/28"}' >/dev/null
is "$(status_of "$(api POST /v1/lbs '{"name":"alone","network":"lonely","listen":["80"]}')")" 201 "a balancer with no targets"
is "$(lb_rules | grep -c 10.242.0.2)" 0 "has no DNAT rule"
r=$(api DELETE /v1/networks/lonely)
is "$(status_of "$r")" 409 "its network cannot be deleted"
like "$(err_of "$r")" 'network lonely holds the address of 1 load balancer' "and the error says why"
api DELETE /v1/lbs/alone >/dev/null
is "$(status_of "$(api DELETE /v1/networks/lonely)")" 202 "once the balancer is gone it can"

nubod_stop
ok $? "nubod exits cleanly"
echo "1..$T_N"
