#!/usr/bin/env bash
# API tests: a balancer's targets. Each has a connection count (0 in
# dry-run, see tests/unit/test_lb.c for the count). A target follows its VM's id. Deleting the VM takes the target
# out of its balancers once it has drained (an event on the balancer, a
# ruleset without it; tests/api/lb-drain.sh checks the drain); a VM made again under the same name is a new VM and
# does not join until it is added (a stack re-adds it as its spec says).
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
lb_rules() { last_ruleset | grep -E 'ip daddr [0-9.]+ tcp dport [0-9]+ ct state new dnat' || true; }
targets() { body_of "$(api GET /v1/lbs/vd)" | jq -r '[.targets[].vm] | join(",")'; }
running() { curl -s --unix-socket "$T_SOCK" http://nubo/v1/vms | jq -e "[.vms[] | select(.state==\"running\")] | length == $1" >/dev/null; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the tiny image is built (dry-run)"
is "$(status_of "$(api POST /v1/networks '{"name":"vdnet","cidr":"10.243.7.0/28"}')")" 201 "a network"
for vm in vd1 vd2; do
	api POST /v1/vms "{\"name\":\"$vm\",\"nics\":[{\"network\":\"vdnet\"}]}" >/dev/null
done
wait_for 10 running 2
ok $? "two VMs run (dry-run)"
r=$(api POST /v1/lbs '{"name":"vd","network":"vdnet","listen":["80"],"targets":["vd1","vd2"],"drain":"1s"}')
is "$(status_of "$r")" 201 "a balancer over both"
in_rules() { lb_rules | grep -q "$1"; }
wait_for 10 in_rules 'mod 2 map'
ok $? "both are in the rotation"
# Connection counts come from the host's conntrack on the checker's thread;
# dry-run reads none, so every target has 0, and lb show has the column.
is "$(body_of "$(api GET /v1/lbs/vd)" | jq -c '[.targets[].connections]')" "[0,0]" "each target has a connection count: 0 in dry-run"
like "$("$NUBO" lb show vd 2>&1)" 'VM +PORT +STATE +HEALTH +CONNS' "lb show has a CONNS column"
like "$("$NUBO" lb show vd 2>&1)" 'vd1 +- +active +[a-z]+ +0 ' "with the state and the count"
ip1=$(body_of "$(api GET /v1/vms/vd1)" | jq -r .ip)
ip2=$(body_of "$(api GET /v1/vms/vd2)" | jq -r .ip)
old1=$(body_of "$(api GET /v1/vms/vd1)" | jq -r .id)

# --- the VM is deleted: its target leaves with it ----------------------------------
is "$(status_of "$(api DELETE /v1/vms/vd1)")" 202 "vd1 is deleted"
gone() { [ "$(status_of "$(api GET /v1/vms/vd1)")" = 404 ]; }
wait_for 10 gone
ok $? "and is gone"
is "$(targets)" "vd2" "its target left the balancer with it"
like "$(body_of "$(api GET '/v1/events?name=vd/vd1')" | jq -r '.events[] | "\(.kind) \(.name) \(.what)"')" 'lb vd/vd1 deleted' \
	"with an event on the balancer"
not_in_rules() { ! lb_rules | grep -q "$ip1 \. 80"; }
wait_for 10 not_in_rules
ok $? "and the ruleset no longer sends to $ip1"
like "$(lb_rules)" "dport 80 ct state new dnat ip to numgen inc mod 1 map \\{ 0 : $ip2 \\. 80 \\}" \
	"the rule goes to vd2 alone"

# --- made again under the same name: a new VM, not a target until added ----------------
api POST /v1/vms '{"name":"vd1","nics":[{"network":"vdnet"}]}' >/dev/null
wait_for 10 running 2
ok $? "vd1 runs again"
sleep 1
is "$(targets)" "vd2" "the new vd1 does not join on its own"
is "$(status_of "$(api POST /v1/lbs/vd/targets '{"target":"vd1"}')")" 201 "it joins when added"
is "$(targets)" "vd1,vd2" "and is listed"
new1=$(body_of "$(api GET /v1/lbs/vd)" | jq -r '.targets[] | select(.vm=="vd1") | .vm_id')
is "$new1" "$(body_of "$(api GET /v1/vms/vd1)" | jq -r .id)" "as the new VM's id"
[ "$new1" != "$old1" ]; ok $? "not the deleted one's"

# --- a balancer deleted after its targets' VMs are gone -----------------------------
is "$(status_of "$(api DELETE /v1/vms/vd2)")" 202 "vd2 is deleted"
gone2() { [ "$(status_of "$(api GET /v1/vms/vd2)")" = 404 ]; }
wait_for 10 gone2
is "$(targets)" "vd1" "its target left too"
is "$(status_of "$(api DELETE /v1/lbs/vd)")" 202 "the balancer is deleted (202: vd1's connections are cut next)"
lb_gone() { [ "$(status_of "$(api GET /v1/lbs/vd)")" = 404 ]; }
wait_for 10 lb_gone
ok $? "then it is gone"
api DELETE /v1/vms/vd1 >/dev/null
wait_for 10 gone

nubod_stop
ok $? "nubod exits cleanly"
echo "1..$T_N"
