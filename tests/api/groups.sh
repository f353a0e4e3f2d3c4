#!/usr/bin/env bash
# API tests: auto-scaling groups against a real nubod and store, host layer
# in dry-run. Every bad input is refused naming the field and value and
# leaves nothing behind; a group keeps its count (a VM deleted behind its
# back or in error is replaced), joins its balancer, scales on CPU fed
# through the dry-run hook (STATE/dry-run-cpu/, see host/cgroup.h), refreshes
# one VM at a time never below min healthy, spares protected VMs, deletes
# its VMs with it, and converges after kill -9 with no extra VM.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
err_of() { body_of "$1" | jq -r .error.message; }
grp() { body_of "$(api GET "/v1/groups/$1")"; }
# the group's VMs (names with its prefix) in the store, sorted
vms_of() { body_of "$(api GET '/v1/vms?limit=1000')" | jq -r --arg p "$1-" '[.vms[] | select(.name | startswith($p)) | .name] | sort | join(" ")'; }
count_vms() { local v; v=$(vms_of "$1"); [ -z "$v" ] && echo 0 || wc -w <<<"$v"; }
# settled NAME N: N live members, all healthy, and exactly N VMs of the group
settled() { [ "$(grp "$1" | jq -r '"\(.live) \(.healthy) \(.members | length)"')" = "$2 $2 $2" ] && [ "$(count_vms "$1")" = "$2" ]; }
events_of() { body_of "$(api GET "/v1/events?name=$1&limit=1000")" | jq -r '.events[] | select(.kind=="group") | .what'; }

for img in tiny tiny2; do
	r=$(api POST /v1/images "{\"name\":\"$img\",\"recipe\":\"tiny\"}")
	op=$(body_of "$r" | jq -r .operation.id)
	wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
	ok $? "image $img is built (dry-run)"
done
is "$(status_of "$(api POST /v1/networks '{"name":"front","cidr":"10.242.0.0/24"}')")" 201 "a second network"

# --- bad input ------------------------------------------------------------------
bad() { # bad STATUS BODY REGEX DESCRIPTION
	local r; r=$(api POST /v1/groups "$2")
	is "$(status_of "$r")" "$1" "$4: $1"
	like "$(err_of "$r")" "$3" "$4: the error names it"
}
base='"name":"web","type":"nano","min":2,"max":4'
bad 400 '{"min":1,"max":2}' 'field "name" is required' "no name"
bad 400 '{"name":"Web!","min":1,"max":2}' 'name "Web!"' "a bad name"
bad 400 "{\"name\":\"$(printf 'a%.0s' $(seq 1 60))\",\"min\":1,\"max\":2}" 'at most 57.*suffix' "a name with no room for the suffix"
bad 400 '{"name":"web","max":2}' 'field "min" is required' "no min"
bad 400 '{"name":"web","min":1}' 'field "max" is required' "no max"
bad 400 '{"name":"web","min":3,"max":2}' 'min 3 is above max 2' "min above max"
bad 400 '{"name":"web","min":1,"max":2,"desired":3}' 'desired 3 is outside min 1 and max 2' "desired above max"
bad 400 '{"name":"web","min":1,"max":200}' 'field "max" must be a whole number from 1 to 100; got 200' "max too large"
bad 400 '{"name":"web","min":"two","max":2}' 'field "min" must be a whole number.*"two"' "min as text"
bad 400 "{$base,\"target_cpu\":150}" 'field "target_cpu" must be a whole number from 0 to 100; got 150' "a CPU target above 100"
bad 400 "{$base,\"grace\":\"5\"}" 'grace "5" is not a duration' "a grace without a unit"
bad 400 "{$base,\"cooldown\":\"48h\"}" 'cooldown "48h" is out of range' "a cooldown too long"
bad 422 '{"name":"web","min":1,"max":2,"type":"huge"}' 'type "huge" does not exist' "an unknown type"
bad 422 "{$base,\"image\":\"nope\"}" 'image "nope" does not exist' "an unknown image"
bad 404 "{$base,\"network\":\"nope\"}" 'network "nope"' "an unknown network"
bad 404 "{$base,\"firewalls\":[\"nope\"]}" 'firewalls\[0\]' "an unknown firewall"
bad 404 "{$base,\"lb\":\"nope\"}" 'lb "nope"' "an unknown balancer"
bad 400 "{$base,\"lb\":\"web:x\"}" 'lb "web:x"' "a bad balancer port"
bad 400 "{$base,\"ssh_keys\":[\"not a key\"]}" 'ssh_keys\[0\]' "a bad key"
bad 400 "{$base,\"colour\":\"blue\"}" 'colour' "an unknown field"
is "$(status_of "$(api POST /v1/lbs '{"name":"fweb","network":"front","listen":["80"]}')")" 201 "a balancer on front"
bad 422 "{$base,\"lb\":\"fweb\"}" 'lb "fweb" is on network front.*default' "a balancer on another network"
is "$(body_of "$(api GET /v1/groups)" | jq '.groups | length')" 0 "refused groups left nothing behind"
is "$(t_sql 'SELECT COUNT(*) FROM group_members')" 0 "and no member"
is "$(count_vms web)" 0 "and no VM"

# --- create, join the balancer ---------------------------------------------------
is "$(status_of "$(api POST /v1/lbs '{"name":"web","listen":["80"],"interval":"200ms","timeout":"100ms","drain":"1s"}')")" 201 \
	"a balancer on default"
r=$(api POST /v1/groups "{$base,\"desired\":3,\"lb\":\"web\",\"grace\":\"1s\",\"drain\":\"2s\",\"warmup\":\"0s\"}")
is "$(status_of "$r")" 201 "a group is created with 201"
is "$(body_of "$r" | jq -r '"\(.min) \(.desired) \(.max) \(.image) \(.type) \(.network) \(.lb) \(.template)"')" \
	"2 3 4 tiny nano default web 1" "with its size and template"
is "$(status_of "$(api POST /v1/groups "{$base}")")" 409 "a taken name is 409"
wait_for 20 settled web 3
ok $? "three VMs come up and are healthy" "$(grp web | jq -c '[.members[] | [.name, .state, .vm_state, .healthy]]')"
like "$(vms_of web)" '^web-[0-9a-f]{5} web-[0-9a-f]{5} web-[0-9a-f]{5}$' "named web-<suffix>"
is "$(body_of "$(api GET /v1/lbs/web)" | jq -r '[.targets[].vm] | sort | join(" ")')" "$(vms_of web)" \
	"each joined the balancer"
is "$(body_of "$(api GET /v1/lbs/web)" | jq -r '[.targets[].health] | unique | join(",")')" "healthy" \
	"and is healthy there"
out=$("$NUBO" group show web --socket "$T_SOCK" 2>&1)
like "$out" 'Size: +min 2, desired 3, max 4 \(3 live, 3 healthy\)' "nubo group show gives the size" "$out"
like "$("$NUBO" group list --socket "$T_SOCK" 2>&1)" 'web +tiny +nano +2 +3 +4 +3/3 +web' "nubo group list has it"

# --- set -------------------------------------------------------------------------
r=$(api PATCH /v1/groups/web '{"desired":5}')
is "$(status_of "$r")" 400 "desired above max is 400"
like "$(err_of "$r")" 'desired 5 is outside min 2 and max 4' "and says so"
r=$(api PATCH /v1/groups/web '{}')
is "$(status_of "$r")" 400 "a set without a size is 400"
is "$(status_of "$(api PATCH /v1/groups/nope '{"desired":2}')")" 404 "an unknown group is 404"
out=$("$NUBO" group set web --desired 4 --socket "$T_SOCK" 2>&1)
ok $? "nubo group set --desired 4" "$out"
wait_for 20 settled web 4
ok $? "the group grows to 4"

# --- replacement ------------------------------------------------------------------
victim=$(vms_of web | cut -d' ' -f2)
is "$(status_of "$(api DELETE "/v1/vms/$victim")")" 202 "a VM of the group is deleted behind its back"
gone_and_replaced() { ! vms_of web | grep -qw "$victim" && settled web 4; }
wait_for 20 gone_and_replaced
ok $? "it is replaced: 4 VMs again, without it" "$(vms_of web)"
like "$(events_of web)" "replace $victim: its VM is gone" "the event log says why"
! body_of "$(api GET /v1/lbs/web)" | jq -r '.targets[].vm' | grep -qw "$victim"
ok $? "it left the balancer"

# a VM in error (its QEMU died, as the instance reconciler records it)
victim=$(vms_of web | cut -d' ' -f3)
[ -n "$victim" ]
ok $? "the group has a third VM ($victim)"
t_sql "UPDATE vms SET state='error', reason='QEMU (pid 1) exited unexpectedly' WHERE name='$victim'" >/dev/null
wait_for 20 gone_and_replaced
ok $? "a VM in error is deleted and replaced" "$(vms_of web)"
like "$(events_of web)" "replace $victim: its VM is in error: QEMU \(pid 1\) exited unexpectedly" "with its reason"

# --- a VM the balancer marks unhealthy, past the grace period ---------------------------
# checks every hour, so the health written below stays until the group acts
is "$(status_of "$(api POST /v1/lbs '{"name":"slow","listen":["80"],"interval":"60m","timeout":"1s","rise":1,"drain":"1s"}')")" 201 \
	"a balancer that checks once an hour"
r=$(api POST /v1/groups '{"name":"hc","type":"nano","min":1,"max":1,"lb":"slow","grace":"1s"}')
is "$(status_of "$r")" 201 "a group of one behind it, grace 1s"
wait_for 20 settled hc 1
ok $? "its VM is up and healthy on the balancer"
sick=$(vms_of hc)
t_sql "UPDATE lb_targets SET health='unhealthy', reason='HTTP 500' WHERE vm_name='$sick'" >/dev/null
sick_replaced() { ! vms_of hc | grep -qw "$sick" && settled hc 1; }
wait_for 20 sick_replaced
ok $? "the VM the balancer marks unhealthy is replaced" "$(vms_of hc)"
like "$(events_of hc)" "replace $sick: unhealthy on lb slow past the grace period: HTTP 500" "with the balancer's reason"
api DELETE /v1/groups/hc >/dev/null

# --- protect and scale-in order -----------------------------------------------------
r=$(api POST /v1/vms/nope/protect '{}')
is "$(status_of "$r")" 404 "protecting an unknown VM is 404"
api POST /v1/vms '{"name":"loner","type":"nano"}' >/dev/null
r=$(api POST /v1/vms/loner/protect '{}')
is "$(status_of "$r")" 422 "protecting a VM of no group is 422"
like "$(err_of "$r")" 'VM loner belongs to no group' "and says so"
# members are listed oldest first
oldest=$(grp web | jq -r '.members[0].name') newest=$(grp web | jq -r '.members[-1].name')
is "$(grp web | jq -r '[.members[] | select(.state=="active")] | length')" 4 "four VMs before the scale-in"
out=$("$NUBO" vm protect "$oldest" --socket "$T_SOCK" 2>&1)
ok $? "nubo vm protect the oldest VM" "$out"
is "$(grp web | jq -r --arg n "$oldest" '.members[] | select(.name==$n) | .protected')" true "it is protected"
api PATCH /v1/groups/web '{"desired":2}' >/dev/null
draining() { [ -n "$(grp web | jq -r '.members[] | select(.state=="draining") | .name' | head -1)" ]; }
wait_for 10 draining
ok $? "a VM that goes drains first"
d=$(grp web | jq -r '.members[] | select(.state=="draining") | .name' | head -1)
is "$(body_of "$(api GET "/v1/vms/$d")" | jq -r .state)" running "while it drains its VM still runs ($d)"
! body_of "$(api GET /v1/lbs/web)" | jq -r '.targets[] | select(.state == "active") | .vm' | grep -qw "$d"
ok $? "and is out of the balancer's rotation already (draining there)"
wait_for 20 settled web 2
ok $? "scaled in to 2"
is "$(vms_of web)" "$(printf '%s\n' "$oldest" "$newest" | sort | paste -sd' ')" \
	"the protected VM (the oldest) and the newest stay: the oldest unprotected ones went first"
like "$(events_of web | grep -c '^scale-in ')" '^2$' "two scale-in decisions were recorded"
out=$("$NUBO" vm unprotect "$oldest" --socket "$T_SOCK" 2>&1)
ok $? "nubo vm unprotect" "$out"
is "$(grp web | jq -r --arg n "$oldest" '.members[] | select(.name==$n) | .protected')" false "it is no longer protected"

# --- rolling update -------------------------------------------------------------------
r=$(api POST /v1/groups/web/update '{"image":"nope"}')
is "$(status_of "$r")" 422 "an update to an unknown image is 422"
is "$(grp web | jq -r .template)" 1 "and changes nothing"
min_healthy=9
watch_roll() {
	local h
	h=$(grp web | jq -r '.healthy')
	[ "$h" -lt "$min_healthy" ] && min_healthy=$h
	[ "$(grp web | jq -r '[.members[] | select(.template==2 and .healthy)] | length')" = 2 ] && settled web 2
}
out=$("$NUBO" group update web --image tiny2 --socket "$T_SOCK" 2>&1)
like "$out" 'template 2 \(image tiny2' "nubo group update --image tiny2" "$out"
wait_for 40 watch_roll
ok $? "every VM is replaced by one of the new template" "$(grp web | jq -c '[.members[] | [.name, .template, .state, .healthy]]')"
[ "$min_healthy" -ge 2 ]
ok $? "never fewer than min (2) healthy while it rolled (saw $min_healthy)"
is "$(body_of "$(api GET '/v1/vms?limit=1000')" | jq -r '[.vms[] | select(.name | startswith("web-")) | .image] | unique | join(",")')" \
	"tiny2" "the group's VMs run tiny2"
left=$(events_of web | grep '^rolling update: ' | sed -E 's/.*, ([0-9]+) healthy left.*/\1/' | sort -n | head -1)
is "$left" 2 "each rolling step left min healthy (the event log's figures)"
is "$(events_of web | grep -c '^rolling update: ')" 2 "one step per old VM"

# --- target tracking (CPU through the dry-run hook) -----------------------------------
mkdir -p "$T_STATE/dry-run-cpu"
r=$(api POST /v1/groups '{"name":"cpu","type":"nano","min":2,"max":3,"target_cpu":60,"warmup":"0s","cooldown":"3s","grace":"1s"}')
is "$(status_of "$r")" 201 "a group with a CPU target of 60%"
wait_for 20 settled cpu 2
ok $? "it starts at min, 2"
for id in $(grp cpu | jq -r '.members[].vm_id'); do echo 89 >"$T_STATE/dry-run-cpu/$id"; done
wait_for 20 sh -c "[ \"\$(curl -s --unix-socket $T_SOCK http://nubo/v1/groups/cpu | jq -r .desired)\" = 3 ]"
ok $? "at 89% it scales out at once"
like "$(grp cpu | jq -r '[.members[].cpu | numbers | floor] | unique | join(",")')" '^(88|89)(,(88|89))?$' \
	"group show gives each VM's last reading"
like "$(events_of cpu)" 'scale-out: desired 2→3 \(average CPU (88\.9|89\.0|89\.1)% of 2 VMs is above the target 60%: ceil\(2 × (88\.9|89\.0|89\.1) / 60\) = 3, at most max 3\)' \
	"by ceil(2 × 89 / 60) = 3, with the figures in the event"
detail=$(body_of "$(api GET '/v1/events?name=cpu&limit=1000')" | jq -c '[.events[] | select(.what | startswith("scale-out")) | .detail][0]')
is "$(jq -r '"\(.decision) \(.counted) \(.desired_before) \(.desired) \(.target_cpu)"' <<<"$detail")" "scale-out 2 2 3 60" \
	"the event's detail holds the figures"
wait_for 20 settled cpu 3
ok $? "the third VM comes up"
sleep 5
is "$(grp cpu | jq -r .desired)" 3 "at max it stays (no decision beyond max)"
# idle: one VM at a time, each after 3 s below target
for id in $(grp cpu | jq -r '.members[].vm_id'); do echo 10 >"$T_STATE/dry-run-cpu/$id"; done
start=$SECONDS
wait_for 30 sh -c "[ \"\$(curl -s --unix-socket $T_SOCK http://nubo/v1/groups/cpu | jq -r .desired)\" = 2 ]"
ok $? "at 10% it scales in after the cooldown"
[ $((SECONDS - start)) -ge 3 ]
ok $? "not before the cooldown (3 s)"
like "$(events_of cpu)" 'scale-in: desired 3→2 \(average CPU (9\.9|10\.0|10\.1)% of 3 VMs stayed below the target 60% for [3-9] s\)' \
	"one VM, with the figures"
wait_for 20 settled cpu 2
ok $? "and stops at min"
sleep 4
is "$(grp cpu | jq -r .desired)" 2 "never below min"
api DELETE /v1/groups/cpu >/dev/null

# --- kill -9 mid scale-out ---------------------------------------------------------------
for delay in 0 0.05 0.15; do
	api PATCH /v1/groups/web '{"desired":4}' >/dev/null
	sleep "$delay"
	nubod_kill9
	nubod_start --dry-run
	wait_for 30 settled web 4
	ok $? "kill -9 ${delay}s into a scale-out: 4 VMs, all members" "$(vms_of web) / $(grp web | jq -c '[.members[].name]')"
	api PATCH /v1/groups/web '{"desired":2}' >/dev/null
	wait_for 30 settled web 2
	ok $? "and back to 2"
done
# a VM made just before the crash, its member still 'creating': adopted, not doubled
one=$(vms_of web | cut -d' ' -f1)
[ -n "$one" ]
ok $? "the group has a VM ($one)"
nubod_stop
id_before=$(t_sql "SELECT id FROM vms WHERE name='$one'")
like "$id_before" '^vm-' "its id ($id_before)"
t_sql "UPDATE group_members SET state='creating', vm_id='' WHERE name='$one'" >/dev/null
nubod_start --dry-run
wait_for 20 settled web 2
ok $? "a member left in creating whose VM exists is adopted"
is "$(t_sql "SELECT id FROM vms WHERE name='$one'")" "$id_before" "the same VM"
is "$(t_sql "SELECT state FROM group_members WHERE name='$one'")" active "now active"
# an intent recorded before the crash, its VM never made: made under that name
nubod_stop
gid=$(t_sql "SELECT id FROM scaling_groups WHERE name='web'")
now=$(($(date +%s) * 1000))
t_sql "INSERT INTO group_members (id, group_id, name, template_gen, image, state, created_at) VALUES ('gm-intent00001', '$gid', 'web-zzzzz', 2, 'tiny2', 'creating', $now)" >/dev/null
t_sql "UPDATE scaling_groups SET desired = 3 WHERE id = '$gid'" >/dev/null
nubod_start --dry-run
wait_for 20 settled web 3
ok $? "an intent without its VM: the VM is made"
like "$(vms_of web)" 'web-zzzzz' "under the recorded name"

# --- delete ------------------------------------------------------------------------------
out=$("$NUBO" group delete web --wait --socket "$T_SOCK" 2>&1)
ok $? "nubo group delete --wait" "$out"
is "$(status_of "$(api GET /v1/groups/web)")" 404 "the group is gone"
is "$(count_vms web)" 0 "with its VMs"
is "$(t_sql 'SELECT COUNT(*) FROM group_members')" 0 "and its members"
is "$(body_of "$(api GET /v1/lbs/web)" | jq '.targets | length')" 0 "and its balancer targets"
is "$(body_of "$(api GET /v1/vms/loner)" | jq -r .name)" loner "other VMs stay"
like "$(body_of "$(api GET '/v1/events?name=web&limit=1000')" | jq -r '.events[] | select(.kind=="group") | .what')" 'deleting' \
	"the event log has the delete"
