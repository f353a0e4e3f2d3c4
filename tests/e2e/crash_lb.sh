#!/usr/bin/env bash
# e2e, crash points: a load balancer's delete, nubod killed at each of its
# steps: lb.delete.marked (the balancer marked deleting and its targets
# draining, before the ruleset drops it), lb.drain.cut (a target's
# connections cut, before its row goes), lb.delete.targets-gone (every
# target gone, before the balancer's row). A dry-run nubod (the steps are
# the store's and conntrack's; no QEMU): after each restart the ruleset has
# no rule of the balancer, each target's connections were cut (`conntrack
# -D` in STATE/dry-run.log) and every row of it is gone.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../crash-lib.sh"
T_DESTROY_FLAGS=--dry-run

crash_build_ok || { ok 1 "a nubod built with -Dcrashpoints=true"; exit 1; }
nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
wait_for 10 op_ended "$(body_of "$r" | jq -r .operation.id)"
NET=10.248.$(($$ % 200 + 20))
is "$(status_of "$(api POST /v1/networks "{\"name\":\"cnet\",\"cidr\":\"$NET.0/28\"}")")" 201 "a network ($NET.0/28)"
for vm in x1 x2; do api POST /v1/vms "{\"name\":\"$vm\",\"nics\":[{\"network\":\"cnet\"}]}" >/dev/null; done
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq -e '[.vms[] | select(.state==\"running\")] | length == 2' >/dev/null"
ok $? "two VMs run (dry-run)"
ip1=$(body_of "$(api GET /v1/vms/x1)" | jq -r .ip)
ip2=$(body_of "$(api GET /v1/vms/x2)" | jq -r .ip)
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
cuts() { grep -c "^conntrack -D -p tcp --orig-dst $1 --reply-src $2\$" "$T_STATE/dry-run.log" 2>/dev/null; }
rows() { t_sql "SELECT (SELECT COUNT(*) FROM load_balancers WHERE id = '$1') || ' ' || (SELECT COUNT(*) FROM lb_listeners WHERE lb_id = '$1') || ' ' || (SELECT COUNT(*) FROM lb_targets WHERE lb_id = '$1')"; }

i=0
for step in lb.delete.marked lb.drain.cut lb.delete.targets-gone; do
	i=$((i + 1))
	crash_arm "$step" --dry-run || { ok 1 "nubod starts armed at $step"; continue; }
	r=$(api POST /v1/lbs "{\"name\":\"c$i\",\"network\":\"cnet\",\"listen\":[\"80\"],\"targets\":[\"x1\",\"x2\"],\"interval\":\"200ms\",\"timeout\":\"100ms\",\"rise\":1}")
	vip=$(body_of "$r" | jq -r .vip) id=$(body_of "$r" | jq -r .id)
	in_rules() { last_ruleset | grep -q "ip daddr $vip tcp dport 80 ct state new dnat ip to numgen inc mod 2"; }
	wait_for 10 in_rules
	ok $? "c$i over x1 and x2 is in the ruleset ($vip)"
	c1=$(cuts "$vip" "$ip1") c2=$(cuts "$vip" "$ip2")
	api DELETE "/v1/lbs/c$i" >/dev/null
	crash_wait_dead 30
	ok $? "c$i's delete: nubod dies at $step"
	crash_restart --dry-run || { ok 1 "nubod starts again"; exit 1; }
	done_c() { [ "$(rows "$id")" = "0 0 0" ] && [ "$(cuts "$vip" "$ip1")" -gt "$c1" ] && [ "$(cuts "$vip" "$ip2")" -gt "$c2" ]; }
	wait_for 10 done_c
	ok $? "after the restart both targets' connections are cut and every row of c$i is gone" "$(rows "$id")"
	last_ruleset | grep -q "$vip"
	is $? 1 "and the ruleset has no rule of it"
done

nubod_stop
ok $? "nubod exits cleanly"
