#!/usr/bin/env bash
# API tests: deleting a load balancer ends the connections made through
# it, against a real nubod and store, host layer in dry-run (the dry-run
# log holds every ruleset and every `conntrack -D` nubod would have run).
#
#   a balancer with targets: DELETE is 202 with it deleting and its
#   targets draining; the ruleset has lost its VIP and host port when the
#   answer comes; then each target's connections are cut (conntrack -D for
#   the VIP and for the host port) and its rows are gone, with events;
#   without targets it is 204 and gone at once; nubo lb delete (--wait);
#   kill -9 after the mark (the store is the same after a cut), after the
#   targets' rows went, and at moments around the request: a restarted
#   nubod cuts, deletes every row and leaves no rule.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

NET=10.246.$(($$ % 200 + 20))
HP=$((31000 + $$ % 9000))
nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
err_of() { body_of "$1" | jq -r .error.message; }
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
lb_rules() { last_ruleset | grep -E 'ct state new dnat' || true; }
# cuts VIP IP / hcuts PORT IP: the conntrack -D lines nubod ran for a target
cuts() { grep -c "^conntrack -D -p tcp --orig-dst $1 --reply-src $2\$" "$T_STATE/dry-run.log" 2>/dev/null; }
hcuts() { grep -c "^conntrack -D -p tcp --orig-port-dst $1 --reply-src $2 --reply-port-src 80\$" "$T_STATE/dry-run.log" 2>/dev/null; }
gone() { [ "$(status_of "$(api GET "/v1/lbs/$1")")" = 404 ]; }
rows() { t_sql "SELECT (SELECT COUNT(*) FROM load_balancers WHERE name = '$1') || ' ' || (SELECT COUNT(*) FROM lb_listeners WHERE lb_id = '$2') || ' ' || (SELECT COUNT(*) FROM lb_targets WHERE lb_id = '$2')"; }
running() { curl -s --unix-socket "$T_SOCK" http://nubo/v1/vms | jq -e "[.vms[] | select(.state==\"running\")] | length == $1" >/dev/null; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
wait_for 10 op_ended "$(body_of "$r" | jq -r .operation.id)"
is "$(status_of "$(api POST /v1/networks "{\"name\":\"lnet\",\"cidr\":\"$NET.0/28\"}")")" 201 "a network ($NET.0/28)"
for vm in x1 x2; do
	api POST /v1/vms "{\"name\":\"$vm\",\"nics\":[{\"network\":\"lnet\"}]}" >/dev/null
done
wait_for 10 running 2
ok $? "two VMs run (dry-run)"
ip1=$(body_of "$(api GET /v1/vms/x1)" | jq -r .ip)
ip2=$(body_of "$(api GET /v1/vms/x2)" | jq -r .ip)

# mk NAME [LISTEN [EXTRA JSON]]: a balancer over x1 and x2 (a drain of 30s), once both are in its rule
mk() {
	local r vip
	r=$(api POST /v1/lbs "{\"name\":\"$1\",\"network\":\"lnet\",\"listen\":[\"${2:-80}\"],\"targets\":[\"x1\",\"x2\"],\"interval\":\"200ms\",\"timeout\":\"100ms\",\"rise\":1${3:+,$3}}")
	[ "$(status_of "$r")" = 201 ] || { echo "# $r" >&2; return 1; }
	vip=$(body_of "$r" | jq -r .vip)
	wait_for 10 sh -c "awk '/dnat/' '$T_STATE/dry-run.log' | grep -q 'ip daddr $vip tcp dport [0-9]* ct state new dnat ip to numgen inc mod 2 map'" || return 1
	echo "$vip $(body_of "$r" | jq -r .id)"
}

# --- a balancer with targets: 202, out of the rules at once, then cut and gone ---------------------
read -r VIP ID <<<"$(mk del "$HP:80" '"host_port":true')"
[ -n "${VIP:-}" ]
ok $? "balancer del over x1 and x2 on $VIP and host port $HP, both in its rules"
is "$(cuts "$VIP" "$ip1")$(cuts "$VIP" "$ip2")" 00 "nothing is cut yet"
r=$(api DELETE /v1/lbs/del)
is "$(status_of "$r")" 202 "DELETE of a balancer with targets is 202"
is "$(body_of "$r" | jq -r '.state + " " + ([.targets[].state] | join(","))')" "deleting draining,draining" \
	"with the balancer deleting and its targets draining"
ruleset=$(last_ruleset)
printf '%s' "$ruleset" | grep -q "$VIP"
is $? 1 "when it answers, the ruleset no longer has its VIP"
printf '%s' "$ruleset" | tr -d '\n\t' | grep -o 'set lb_host_ports {[^}]*}' | grep -q "$HP"
is $? 1 "nor its host port"
cut_all() { [ "$(cuts "$VIP" "$ip1")$(cuts "$VIP" "$ip2")$(hcuts "$HP" "$ip1")$(hcuts "$HP" "$ip2")" = 1111 ]; }
wait_for 10 cut_all
ok $? "each target's connections are cut once: conntrack -D for $VIP and for host port $HP, from $ip1 and $ip2"
wait_for 10 gone del
ok $? "then the balancer is gone (404)"
is "$(rows del "$ID")" "0 0 0" "with its listeners and targets"
like "$(body_of "$(api GET '/v1/events?name=del')" | jq -r '.events[] | select(.kind=="lb" and .name=="del") | .what' | paste -sd' ')" \
	'deleting.* deleted$' "the event log has deleting, then deleted"
like "$(body_of "$(api GET '/v1/events?name=del/x1')" | jq -r '.events[].what' | paste -sd' ')" \
	'state: active→draining.* deleted$' "and x1's target draining, then deleted"
is "$(status_of "$(api DELETE /v1/lbs/del)")" 404 "deleting it again is 404"
is "$(status_of "$(api POST /v1/lbs '{"name":"del","network":"lnet","listen":["80"]}')")" 201 "its name is free again"

# --- without targets: 204, gone at once ------------------------------------------------------------
is "$(status_of "$(api DELETE /v1/lbs/del)")" 204 "DELETE of a balancer without targets is 204"
is "$(status_of "$(api GET /v1/lbs/del)")" 404 "and it is gone at once"

# --- the CLI --------------------------------------------------------------------------------------
read -r VIP ID <<<"$(mk cli)"
c1=$(cuts "$VIP" "$ip1") c2=$(cuts "$VIP" "$ip2")   # a VIP is reused once free: count from here
out=$("$NUBO" lb delete cli --wait 2>&1)
ok $? "nubo lb delete cli --wait" "$out"
like "$out" '^Deleting load balancer cli: no new connection from now; its open ones are cut, then it is gone$' \
	"says it is deleting"
like "$(printf '%s' "$out" | tail -1)" '^Deleted load balancer cli$' "and, once it is gone, that it is"
is "$(status_of "$(api GET /v1/lbs/cli)") $(($(cuts "$VIP" "$ip1") - c1))$(($(cuts "$VIP" "$ip2") - c2))" "404 11" \
	"it is gone when the command returns, its targets cut"
api POST /v1/lbs '{"name":"empty","network":"lnet","listen":["80"]}' >/dev/null
is "$("$NUBO" lb delete empty 2>&1)" "Deleted load balancer empty" "nubo lb delete of one without targets"

# --- kill -9 between the steps ----------------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# After the mark: the delete's one transaction is in the store, nothing is cut,
# and the kernel still has its rules. (After a cut the store is the same.)
read -r VIP ID <<<"$(mk k1)"
c1=$(cuts "$VIP" "$ip1") c2=$(cuts "$VIP" "$ip2")
nubod_kill9
t_sql "UPDATE load_balancers SET deleted = 1 WHERE id = '$ID'" >/dev/null
t_sql "UPDATE lb_targets SET state = 'draining', drain_until = $(now_ms) WHERE lb_id = '$ID'" >/dev/null
is "$(cuts "$VIP" "$ip1") $(cuts "$VIP" "$ip2")" "$c1 $c2" "k1 is marked deleted as by a delete nubod was killed after (nothing cut)"
nubod_start --dry-run || { ok 1 "nubod starts again"; exit 1; }
k1_done() { gone k1 && [ "$(($(cuts "$VIP" "$ip1") - c1))$(($(cuts "$VIP" "$ip2") - c2))" = 11 ]; }
wait_for 10 k1_done
ok $? "a restarted nubod cuts its targets' connections and deletes it"
is "$(rows k1 "$ID")" "0 0 0" "every row of it"
lb_rules | grep -q "$VIP"
is $? 1 "and its rules are gone"

# After its targets' rows went, before its own.
read -r VIP ID <<<"$(mk k2)"
nubod_kill9
t_sql "UPDATE load_balancers SET deleted = 1 WHERE id = '$ID'" >/dev/null
t_sql "DELETE FROM lb_targets WHERE lb_id = '$ID'" >/dev/null
nubod_start --dry-run || { ok 1 "nubod starts again"; exit 1; }
wait_for 10 gone k2
ok $? "k2, killed after its targets' rows went: a restarted nubod deletes it"
is "$(rows k2 "$ID")" "0 0 0" "and its listeners"

# At moments around the request: an answered delete always ends; an
# unanswered one may not have begun, and is asked again.
for delay in 0 0.03 0.1 0.3; do
	name=k$(printf '%s' "$delay" | tr -d .)
	read -r VIP ID <<<"$(mk "$name")"
	c1=$(cuts "$VIP" "$ip1") c2=$(cuts "$VIP" "$ip2")
	(api DELETE "/v1/lbs/$name" >"$T_DIR/del.out") &
	asker=$!
	sleep "$delay"
	nubod_kill9
	wait "$asker"
	answered=$(status_of "$(cat "$T_DIR/del.out")")
	[ "$answered" = 202 ] || answered=no
	nubod_start --dry-run || { ok 1 "nubod starts again"; exit 1; }
	[ "$answered" = 202 ] || api DELETE "/v1/lbs/$name" >/dev/null
	done_k() { gone "$name" && [ "$(cuts "$VIP" "$ip1")" -gt "$c1" ] && [ "$(cuts "$VIP" "$ip2")" -gt "$c2" ]; }
	wait_for 10 done_k
	ok $? "kill -9 ${delay}s into a delete (answered: $answered): it ends, both targets cut" "$(rows "$name" "$ID")"
	is "$(rows "$name" "$ID")" "0 0 0" "no row of $name is left"
done
lb_rules | grep -q .
is $? 1 "no balancer rule is left"

nubod_stop
ok $? "nubod exits cleanly"
