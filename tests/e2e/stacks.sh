#!/usr/bin/env bash
# e2e: the examples/ web-tier stack on real VMs. apply makes it and the app
# answers (with the database's address its user data was given), on each VM
# and through the stack's balancer, over the web VMs and the group's; a VM
# deleted behind the stack's back shows in plan as drift and apply repairs
# it, with the balancer's target following the new VM and traffic through
# the balancer reaching it; destroy leaves nothing of the stack.
set -u
. "$(dirname "$0")/../lib.sh"
EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"

# The example as it is, but on a subnet and host port of this run's own, so
# that runs beside each other never collide.
n=$((RANDOM % 200 + 20)) port=$((RANDOM % 20000 + 30000))
sed -e "s/10\.77\.0\./10.$n.0./g" -e "s/18080:80/$port:80/" "$EXAMPLES/web-tier.yaml" >"$T_DIR/web-tier.yaml"
cp "$EXAMPLES/web-user-data.sh" "$T_DIR/"
F=$T_DIR/web-tier.yaml

out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply makes the web tier" "$out"
ip_of() { "$NUBO" vm show "$1" --json | jq -r .ip; }
# serves VM: the app's answer over HTTP from the host, once its user data ran
serves() { local ip; ip=$(ip_of "$1"); wait_for 180 sh -c "curl -sf -m 2 http://$ip/ >/dev/null" && curl -sf -m 2 "http://$ip/"; }
out=$(serves webtier-web1)
like "$out" "^ok db=10\.$n\.0\.10 " "web1 answers on port 80 with the database's address from \${vm.webtier-db.ip}"
out=$(serves webtier-web2)
like "$out" "^ok db=10\.$n\.0\.10 " "so does web2"
out=$(curl -sf -m 5 "http://127.0.0.1:$port/")
like "$out" "^ok db=" "the host's port $port forwards to web1"
# the balancer: its address on the private network spreads over both web VMs and the group's
vip=$("$NUBO" lb show webtier-lb --json | jq -r .vip)
hosts() { for _ in 1 2 3 4 5 6 7 8 9; do curl -sf -m 2 "http://$vip/" | sed -n 's/.*host=//p'; done | sort -u | tr '\n' ' '; }
wait_for 240 bash -c "$(declare -f hosts); vip=$vip; hosts | grep -q webtier-app-"
ok $? "the group's VM answers through the balancer at $vip" "$(hosts)"
like "$(hosts)" 'webtier-app-[0-9a-f]+ webtier-web1 webtier-web2' "and so do both web VMs: it spreads over the three"
"$NUBO" plan -f "$F" >/dev/null 2>&1
is $? 0 "a plan right after apply has no changes"

# web2 deleted behind the stack's back: the balancer loses its target with
# it; apply makes a new web2 and points the balancer's target at it
old_id=$("$NUBO" vm show webtier-web2 --json | jq -r .id)
# lb_target VM: the id of the VM the balancer's target VM stands for ("" if none)
lb_target() { "$NUBO" lb show webtier-lb --json | jq -r --arg vm "$1" '[.targets[] | select(.vm == $vm) | .vm_id] | join(",")'; }
is "$(lb_target webtier-web2)" "$old_id" "the balancer's target webtier-web2 is the VM $old_id"
"$NUBO" vm delete webtier-web2 --wait >/dev/null 2>&1
is "$(lb_target webtier-web2)" "" "deleting the VM took it out of the balancer"
out=$("$NUBO" plan -f "$F" 2>&1); rc=$?
is "$rc" 2 "after a VM is deleted behind the stack's back, plan has changes"
like "$out" '! vm/webtier-web2: deleted outside the stack' "plan shows it as drift"
like "$out" '\+ +vm/webtier-web2 +create' "and apply will make it again"
like "$out" '~ +lb/webtier-lb +update in place' "and put it back behind the balancer, in place"
like "$out" 'targets: \["webtier-web1"\] → \["webtier-web1","webtier-web2"\]' "showing the balancer's targets, old and new"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply repairs it" "$out"
new_id=$("$NUBO" vm show webtier-web2 --json | jq -r .id)
ok $([ -n "$new_id" ] && [ "$new_id" != "$old_id" ]; echo $?) "webtier-web2 is a new VM ($old_id → $new_id)"
is "$(lb_target webtier-web2)" "$new_id" "the balancer's target webtier-web2 is the new VM"
out=$(serves webtier-web2)
like "$out" "^ok db=10\.$n\.0\.10 " "the new web2 answers"
wait_for 240 bash -c "$(declare -f hosts); vip=$vip; hosts | grep -q webtier-web2"
ok $? "traffic through the balancer at $vip reaches the new web2" "$(hosts)"
"$NUBO" plan -f "$F" >/dev/null 2>&1
is $? 0 "after the repair, plan has no changes"

out=$("$NUBO" destroy -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "destroy" "$out"
wait_for 60 sh -c "[ \"\$($NUBO vm list --json | jq '.vms | length')\" = 0 ]"
ok $? "no VM is left"
wait_for 30 sh -c "[ \"\$($NUBO network list --json | jq -r '[.networks[].name] | join(\",\")')\" = default ]"
ok $? "no network but default is left"
is "$("$NUBO" firewall list --json | jq -r '[.firewalls[].name] | join(",")')" "default" "no firewall but default is left"
is "$("$NUBO" stack list --json | jq '.stacks | length')" 0 "and no stack"
curl -sf -m 2 "http://127.0.0.1:$port/" >/dev/null
is $? 7 "the forward is gone (connection refused)"

echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
