#!/usr/bin/env bash
# API tests: load balancers and auto-scaling groups in stack files, through
# the nubo CLI against a real nubod and store with the host layer in
# dry-run: plan for create, update in place, replace and delete, with the
# cost of a group's VMs; the steps' order (a balancer after its network and
# target VMs, a group after its balancer, deleted in reverse); no churn from
# a group's own members or count; drift; destroy; bad input located at
# file:line:col; and the web tier of examples/ with its balancer and group.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run
EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)

# storage prices of this run's own, so the plan's cost of disks can be checked
echo '{"prices": {"disk_gib_hour": 0.001, "volume_gib_hour": 0.002}}' >"$T_DIR/conf.json"
nubod_start --dry-run --config "$T_DIR/conf.json" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the tiny image is built (dry-run)"

F=$T_DIR/lbs.yaml
# write_stack LISTEN TARGETS GROUP_EXTRA [EXTRA [LB_EXTRA]]: the stack, with what the tests vary
# (the balancer drains for 1s unless LB_EXTRA says otherwise: a group's VM is deleted once drained)
write_stack() {
	cat >"$F" <<YAML
stack: lbs
networks:
  lbs-net: {cidr: 10.237.0.0/24, nat: false}
firewalls:
  lbs-web: {rules: [{proto: tcp, port: 80, from: 10.237.0.0/24}]}
vms:
  lbs-web1: {type: nano, networks: [lbs-net], firewalls: [lbs-web]}
  lbs-web2: {type: nano, networks: [lbs-net], firewalls: [lbs-web]}
${4:-}
lbs:
  lbs-lb:
    network: lbs-net
    listen: [$1]
    targets: [$2]
    check: http:/healthz
${5:-    drain: 1s}
groups:
  lbs-app:
    type: nano
    network: lbs-net
    firewalls: [lbs-web]
    min: 2
    max: 4
    lb: lbs-lb
    user_data: "#!/bin/sh\necho WEB1=\${vm.lbs-web1.ip} > /etc/app.env\n"
$3
YAML
}
plan() { "$NUBO" plan -f "$F" "$@" 2>&1; }
lb_targets() { body_of "$(api GET /v1/lbs/lbs-lb)" | jq -r '[.targets[] | select(.state == "active") | .vm] | sort | join(" ")'; }
group_vms() { body_of "$(api GET '/v1/vms?limit=1000')" | jq -r '[.vms[] | select(.name | startswith("lbs-app-")) | .name] | sort | join(" ")'; }
# settled N: the group has N live, healthy members and N VMs, each a target of the balancer
settled() {
	[ "$(body_of "$(api GET /v1/groups/lbs-app)" | jq -r '"\(.live) \(.healthy)"')" = "$1 $1" ] &&
		[ "$(group_vms | wc -w)" = "$1" ] &&
		[ "$(body_of "$(api GET /v1/lbs/lbs-lb)" | jq '[.targets[] | select(.vm | startswith("lbs-app-"))] | length')" = "$1" ]
}

# --- create ------------------------------------------------------------------------
write_stack 80 "lbs-web1, lbs-web2" ""
out=$(plan); rc=$?
is "$rc" 2 "plan exits 2"
like "$out" '\+ +lb/lbs-lb +create' "plan shows the balancer to create"
like "$out" '\+ +group/lbs-app +create' "and the group"
like "$out" 'Plan: 6 to create, 0 to update in place, 0 to replace, 0 to delete' "with a summary count"
j=$(plan --json)
is "$(jq -r '[.changes[].resource] | join(" ")' <<<"$j")" \
	"network/lbs-net firewall/lbs-web vm/lbs-web1 vm/lbs-web2 lb/lbs-lb group/lbs-app" \
	"--json lists the balancer after its VMs and the group after the balancer"
is "$(jq -r '.steps as $s | [$s[] | select(.resource == "lb/lbs-lb" or .resource == "group/lbs-app") |
	"\(.resource)<\([.after[] | $s[.].resource] | sort | join(","))"] | join(" ")' <<<"$j")" \
	"lb/lbs-lb<network/lbs-net,vm/lbs-web1,vm/lbs-web2 group/lbs-app<firewall/lbs-web,lb/lbs-lb,network/lbs-net,vm/lbs-web1" \
	"the balancer waits for its network and target VMs; the group for its balancer, network, firewall and the VM its user data names"
is "$(jq -c '.changes[] | select(.resource == "lb/lbs-lb") | .spec' <<<"$j")" \
	'{"network":"lbs-net","listen":["80"],"targets":["lbs-web1","lbs-web2"],"check":"http:/healthz","interval":"5s","timeout":"2s","rise":2,"fall":3,"algorithm":"round-robin","drain":"1s","host_port":false}' \
	"the balancer's spec has nubod's defaults filled in"
# the group costs its desired count of VMs, each a nano with a root disk of tiny's size
h2=$(jq .cost.hourly_change <<<"$j")
write_stack 80 "lbs-web1, lbs-web2" "    desired: 3"
h3=$(plan --json | jq .cost.hourly_change)
nano=$(body_of "$(api GET /v1/types)" | jq '.types[] | select(.name == "nano") | .price_per_hour')
disk=$(body_of "$(api GET /v1/images/tiny)" | jq '.virtual_size_bytes / 1073741824 * 0.001')
vm=$(jq -n "$nano + $disk")
is "$(jq -n "($h3 - $h2 - $vm) | fabs < 0.000001")" true "a group's cost counts its desired VMs ($h2 → $h3 per hour, a VM $vm)"
is "$(jq -n "($h2 - 4 * $vm) | fabs < 0.000001")" true "two VMs and a group of min 2 cost four VMs an hour, machine and disk"
cat >"$T_DIR/vol.yaml" <<'YAML'
stack: vol
volumes: {vol-data: {size: 2G}}
vms: {vol-vm: {type: nano, disk_size: 3G}}
YAML
is "$("$NUBO" plan -f "$T_DIR/vol.yaml" --json | jq "(.cost.hourly_change - (2 * 0.002 + 3 * 0.001 + $nano)) | fabs < 0.000001")" true \
	"a volume costs its size at the volume price, a VM's disk_size at the disk price"

write_stack 80 "lbs-web1, lbs-web2" ""
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply --yes succeeds" "$out"
like "$out" 'lb/lbs-lb: +created' "with progress for the balancer"
like "$out" 'group/lbs-app: +created' "and the group"
lb=$(body_of "$(api GET /v1/lbs/lbs-lb)")
is "$(jq -r '"\(.network) \([.listeners[].port] | join(",")) \(.check) \(.check_path)"' <<<"$lb")" "lbs-net 80 http /healthz" \
	"the balancer is on its network with its listener and check"
g=$(body_of "$(api GET /v1/groups/lbs-app)")
is "$(jq -r '"\(.min) \(.max) \(.desired) \(.lb) \(.network) \(.type)"' <<<"$g")" "2 4 2 lbs-lb lbs-net nano" "the group as the file says"
like "$(t_sql "SELECT user_data FROM scaling_groups WHERE name = 'lbs-app'")" 'WEB1=10\.237\.0\.[0-9]+' \
	"\${vm.lbs-web1.ip} in the group's user data became the VM's address"
wait_for 20 settled 2
ok $? "the group's two VMs come up and join the balancer" "$(body_of "$(api GET /v1/lbs/lbs-lb)" | jq -c '[.targets[] | [.vm, .health]]')"
is "$(lb_targets)" "$(printf '%s\n' lbs-web1 lbs-web2 $(group_vms) | sort | tr '\n' ' ' | sed 's/ $//')" \
	"the balancer's targets: the stack's VMs and the group's"

out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "a second apply succeeds"
like "$out" 'No changes: stack lbs is up to date' "and changes nothing: the group's members in the balancer are no churn"
"$NUBO" group set lbs-app --desired 3 >/dev/null 2>&1 || api PATCH /v1/groups/lbs-app '{"desired":3}' >/dev/null
wait_for 20 settled 3
plan >/dev/null; is $? 0 "a group's count the file leaves out is the group's own: no change when it moves"

# --- update in place ------------------------------------------------------------------
write_stack 80 "lbs-web1" "    desired: 2"
out=$(plan); rc=$?
is "$rc" 2 "changed targets and count are changes"
like "$out" '~ +lb/lbs-lb +update in place' "a balancer's targets change in place"
like "$out" 'targets: \["lbs-web1","lbs-web2"\] → \["lbs-web1"\]' "showing old and new, without the group's members"
like "$out" '~ +group/lbs-app +update in place' "a group's count changes in place"
like "$out" 'desired: 3 → 2' "showing old and new"
unlike=$(grep -c 'max:\|min:\|image:' <<<"$out" || true)
is "$unlike" 0 "and nothing the file did not change"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply changes them in place" "$out"
is "$(body_of "$(api GET /v1/groups/lbs-app)" | jq -r '"\(.desired) \(.id)"')" "2 $(jq -r .id <<<"$g")" "the same group, with desired 2"
wait_for 20 settled 2
ok $? "which it scales in to"
is "$(lb_targets)" "$(printf '%s\n' lbs-web1 $(group_vms) | sort | tr '\n' ' ' | sed 's/ $//')" \
	"lbs-web2 left the balancer; the group's VMs stayed"
plan >/dev/null; is $? 0 "then no changes"
# the drain time changes in place; host_port replaces
write_stack 80 "lbs-web1" "    desired: 2" "" "    drain: 0"
out=$(plan)
like "$out" '~ +lb/lbs-lb +update in place' "a new drain time changes the balancer in place"
like "$out" 'drain: "1s" → "0(ms|s)"' "showing old and new"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc|$(body_of "$(api GET /v1/lbs/lbs-lb)" | jq -r .drain_ms)" "0|0" "apply sets it (drain_ms 0)" "$out"
write_stack 80 "lbs-web1" "    desired: 2" "" "    drain: 0
    host_port: true"
like "$(plan)" '-/\+ +lb/lbs-lb +replace \(forced by host_port\)' "host_port replaces the balancer"
write_stack 80 "lbs-web1" "    desired: 2" "" "    drain: soon"
out=$(plan); rc=$?
like "$rc $out" '^1 .*lbs\.lbs-lb\.drain "soon" is not a duration' "a bad drain is refused, by its path"
write_stack 80 "lbs-web1" "    desired: 2"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
plan >/dev/null; is $? 0 "back to a drain of 1s"

# --- replace ----------------------------------------------------------------------------
write_stack 8080 "lbs-web1" "    desired: 2"
out=$(plan)
like "$out" '-/\+ +lb/lbs-lb +replace \(forced by listen\)' "a new listener replaces the balancer and says why"
like "$out" '-/\+ +group/lbs-app +replace \(forced by lb\)' "and the group registered with it goes with it"
j=$(plan --json)
is "$(jq -r '[.steps[] | "\(.phase) \(.resource)"] | join(", ")' <<<"$j")" \
	"delete group/lbs-app, delete lb/lbs-lb, create lb/lbs-lb, create group/lbs-app" \
	"the group goes before its balancer and comes back after it"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply replaces them" "$out"
is "$(body_of "$(api GET /v1/lbs/lbs-lb)" | jq -r '[.listeners[].port] | join(",")')" 8080 "the new balancer listens on 8080"
wait_for 20 settled 2
ok $? "the new group's VMs joined the new balancer"
plan >/dev/null; is $? 0 "then no changes"

# a target VM made again: the balancer's target follows it
write_stack 8080 "lbs-web1" "    desired: 2" "  lbs-web1x: {type: nano}"
sed -i 's/lbs-web1: {type: nano, networks: \[lbs-net\]/lbs-web1: {type: small, image: tiny, networks: [{network: lbs-net, ip: 10.237.0.50}]/' "$F"
out=$(plan)
like "$out" '-/\+ +vm/lbs-web1 +replace' "a new fixed address replaces a target VM"
like "$out" '~ +lb/lbs-lb +update in place' "and updates the balancer's targets in place"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply does both" "$out"
is "$(body_of "$(api GET /v1/lbs/lbs-lb)" | jq -r --arg id "$(body_of "$(api GET /v1/vms/lbs-web1)" | jq -r .id)" \
	'[.targets[] | select(.vm == "lbs-web1") | .vm_id == $id] | "\(length) \(all)"')" "1 true" \
	"the balancer has the new lbs-web1 as a target, and not the old"
plan >/dev/null; is $? 0 "a second apply would change nothing"

# --- drift --------------------------------------------------------------------------------
"$NUBO" lb target remove lbs-lb lbs-web1 >/dev/null 2>&1 || api DELETE /v1/lbs/lbs-lb/targets/lbs-web1 >/dev/null
out=$(plan); rc=$?
is "$rc" 2 "a target removed behind the stack's back is a change"
like "$out" '! lb/lbs-lb: changed outside the stack' "shown as drift"
like "$out" '~ +lb/lbs-lb +update in place' "that apply puts back"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
is "$(body_of "$(api GET /v1/lbs/lbs-lb)" | jq -r '[.targets[] | select(.vm == "lbs-web1")] | length')" 1 "apply put it back"
"$NUBO" group set lbs-app --max 3 >/dev/null 2>&1 || api PATCH /v1/groups/lbs-app '{"max":3}' >/dev/null
out=$(plan)
like "$out" '! group/lbs-app: changed outside the stack' "a group's max set behind the stack's back is drift"
like "$out" 'max: 3 → 4' "put back in place"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
plan >/dev/null; is $? 0 "apply repaired it"

# --- delete -------------------------------------------------------------------------------
write_stack 8080 "lbs-web1" "    desired: 2"
sed -i '/^lbs:/,$d' "$F"
out=$(plan)
like "$out" '- +group/lbs-app +delete' "a group dropped from the file is deleted"
like "$out" '- +lb/lbs-lb +delete' "and so is a balancer"
is "$(plan --json | jq -r '[.steps[] | select(.phase == "delete") | .resource] | join(" ")')" \
	"group/lbs-app lb/lbs-lb vm/lbs-web1x" \
	"the group goes first, then the balancer, then the VM"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
is "$(status_of "$(api GET /v1/lbs/lbs-lb)") $(status_of "$(api GET /v1/groups/lbs-app)")" "404 404" "apply deleted both"
is "$(group_vms)" "" "and the group's VMs"

# --- destroy --------------------------------------------------------------------------------
write_stack 80 "lbs-web1, lbs-web2" ""
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
wait_for 20 settled 2
api POST /v1/lbs '{"name":"bystander","listen":["80"]}' >/dev/null
out=$("$NUBO" destroy -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "destroy succeeds" "$out"
is "$(body_of "$(api GET /v1/lbs)" | jq -r '[.lbs[].name] | join(",")')" bystander "destroy deleted the stack's balancer and only it"
is "$(body_of "$(api GET /v1/groups)" | jq '.groups | length')" 0 "and its group"
is "$(body_of "$(api GET '/v1/vms?limit=1000')" | jq '.vms | length')" 0 "and every VM, the group's too"
api DELETE /v1/lbs/bystander >/dev/null

# --- bad input ---------------------------------------------------------------------------------
bad() { # bad DESCRIPTION REGEX <<<YAML
	cat >"$T_DIR/bad.yaml"
	local out rc
	out=$("$NUBO" plan -f "$T_DIR/bad.yaml" 2>&1); rc=$?
	is "$rc" 1 "$1: plan exits 1"
	like "$out" "$2" "$1: the error names file:line:col, the field and the value"
}
bad "an unknown target" 'bad\.yaml:4:[0-9]+: lbs\.l\.targets\[1\]: vm "nope" is neither in this stack nor in nubo' <<'YAML'
stack: x
vms: {a: {}}
lbs:
  l: {listen: [80], targets: [a, nope]}
YAML
bad "an unknown balancer of a group" 'bad\.yaml:3:[0-9]+: groups\.g\.lb: lb "nope" is neither in this stack nor in nubo' <<'YAML'
stack: x
groups:
  g: {min: 1, max: 2, lb: nope}
YAML
bad "a bad listener" 'bad\.yaml:3:[0-9]+: lbs\.l\.listen\[1\] "80:x" is not PORT or PORT:TARGET_PORT' <<'YAML'
stack: x
lbs:
  l: {listen: [443, "80:x"]}
YAML
bad "no listener" 'bad\.yaml:3:[0-9]+: lbs\.l\.listen: has 0 ports' <<'YAML'
stack: x
lbs:
  l: {targets: []}
YAML
bad "an unknown field" 'bad\.yaml:3:[0-9]+: lbs\.l\.port: unknown field "port"; a load balancer has: network, listen' <<'YAML'
stack: x
lbs:
  l: {port: 80}
YAML
bad "a bad check" 'bad\.yaml:3:[0-9]+: lbs\.l\.check "ping" is not a health check' <<'YAML'
stack: x
lbs:
  l: {listen: 80, check: ping}
YAML
bad "rise out of range" 'bad\.yaml:3:[0-9]+: lbs\.l\.rise: 0 is out of range: 1 to 10' <<'YAML'
stack: x
lbs:
  l: {listen: 80, rise: 0}
YAML
bad "a target off the balancer's network" 'bad\.yaml:7:[0-9]+: lbs\.l\.targets\[0\]: VM a has no NIC on network n' <<'YAML'
stack: x
networks: {n: {cidr: 10.238.0.0/24}}
vms: {a: {}}
lbs:
  l:
    network: n
    targets: [a]
    listen: 80
YAML
bad "min above max" 'bad\.yaml:3:[0-9]+: groups\.g: min 3 is above max 2' <<'YAML'
stack: x
groups:
  g: {min: 3, max: 2}
YAML
bad "a count as text" 'bad\.yaml:3:[0-9]+: groups\.g\.max: must be a whole number from 1 to 100, not a string' <<'YAML'
stack: x
groups:
  g: {min: 1, max: two}
YAML
bad "no max" 'bad\.yaml:3:[0-9]+: groups\.g\.max: is required' <<'YAML'
stack: x
groups:
  g: {min: 1}
YAML
bad "a group on another network than its balancer" 'bad\.yaml:6:[0-9]+: groups\.g\.lb: lb l is on network n, and the group.s VMs would be on default' <<'YAML'
stack: x
networks: {n: {cidr: 10.239.0.0/24}}
lbs:
  l: {network: n, listen: 80}
groups:
  g: {min: 1, max: 2, lb: l}
YAML
bad "an unknown machine type" 'bad\.yaml:3:[0-9]+: groups\.g\.type: unknown machine type "huge"' <<'YAML'
stack: x
groups:
  g: {min: 1, max: 2, type: huge}
YAML
bad "a bad reference in a group's user data" 'bad\.yaml:3:[0-9]+: groups\.g\.user_data: \$\{vm\.nope\.ip\}: there is no VM nope' <<'YAML'
stack: x
groups:
  g: {min: 1, max: 2, user_data: "${vm.nope.ip}"}
YAML
is "$(body_of "$(api GET /v1/stacks)" | jq '.stacks | length')" 0 "files with errors made no stack"

# --- examples/web-tier.yaml: a web tier behind a balancer --------------------------------------
ex=$EXAMPLES/web-tier.yaml
out=$("$NUBO" apply -f "$ex" --yes 2>&1); rc=$?
is "$rc" 0 "examples/web-tier.yaml applies" "$out"
is "$(body_of "$(api GET /v1/lbs/webtier-lb)" | jq -r '"\(.network) \([.targets[].vm | select(startswith("webtier-web"))] | sort | join(","))"')" \
	"webtier-back webtier-web1,webtier-web2" "its balancer is on the private network, in front of both web VMs"
like "$(t_sql "SELECT user_data FROM scaling_groups WHERE name = 'webtier-app'")" 'DB=10\.77\.0\.10' \
	"its group's user data, from web-user-data.sh, has the database's fixed address"
wait_for 20 sh -c "[ \"\$(curl -s --unix-socket $T_SOCK http://nubo/v1/lbs/webtier-lb | jq '[.targets[] | select(.vm | startswith(\"webtier-app-\"))] | length')\" = 1 ]"
ok $? "the group's VM joined the balancer"
"$NUBO" plan -f "$ex" >/dev/null 2>&1
is $? 0 "a second plan has no changes"
out=$("$NUBO" destroy -f "$ex" --yes 2>&1); rc=$?
is "$rc" 0 "examples/web-tier.yaml destroys" "$out"
is "$(body_of "$(api GET /v1/lbs)" | jq '.lbs | length') $(body_of "$(api GET /v1/groups)" | jq '.groups | length')" "0 0" \
	"leaving no balancer and no group"

echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
