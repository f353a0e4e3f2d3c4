#!/usr/bin/env bash
# api: deleting a load balancer on two hosts (docs/load-balancers.md),
# two dry-run nubods h1 and h2 on one PostgreSQL database, a target on
# each (each host's dry-run log holds the `conntrack -D` it ran):
#
#   DELETE through h1 is 202; while it is being deleted a create of its
#   name, a PATCH and a target's add or removal are 409 naming it, and
#   a second DELETE is 202 again; every host cuts both targets'
#   connections in its own table, then it is gone → h2 killed (-9) before
#   a delete: h1 cuts and deletes its own target, h2's stays and so does
#   the balancer, deleting; h2 restarted cuts, deletes its target, and the
#   balancer is gone.
#
# Always on PostgreSQL: in the SQLite api suite it starts a private cluster
# of its own (lib.sh does, with NUBO_TEST_DATABASE=postgres and no
# NUBO_TEST_PG_DIR).
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hosts-lib.sh"
conf "$T_DIR/h1.json"
conf "$T_DIR/h2.json"
err_of() { body_of "$1" | jq -r .error.message; }

hstart h1 || { ok 1 "h1 starts"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "image tiny is built (through h1)"
hstart h2 || { ok 1 "h2 starts"; exit 1; }
ok 0 "h2 starts on the same database"
NET=10.247.$(($$ % 200 + 20))
is "$(status_of "$(hapi h1 POST /v1/networks "{\"name\":\"hn\",\"cidr\":\"$NET.0/28\"}")")" 201 "a network ($NET.0/28)"
is "$(create h1 a1 '"host":"h1","nics":[{"network":"hn"}]') $(create h1 a2 '"host":"h2","nics":[{"network":"hn"}]')" \
	"202 202" "a1 is made on h1, a2 on h2"
wait_for 20 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms | jq -r '[.vms[] | select(.state==\"running\")] | length')\" = 2 ]"
ok $? "both run (dry-run)"
ip1=$(body_of "$(hapi h1 GET /v1/vms/a1)" | jq -r .ip)
ip2=$(body_of "$(hapi h1 GET /v1/vms/a2)" | jq -r .ip)
# cuts H VIP IP: the conntrack -D lines host H ran for a target
cuts() { grep -c "^conntrack -D -p tcp --orig-dst $2 --reply-src $3\$" "${STATE[$1]}/dry-run.log" 2>/dev/null; }
gone() { [ "$(status_of "$(hapi h2 GET "/v1/lbs/$1")")" = 404 ]; }
# mk NAME: a balancer over a1 and a2, both healthy (each checked by its own host)
mk() {
	local r
	r=$(hapi h1 POST /v1/lbs "{\"name\":\"$1\",\"network\":\"hn\",\"listen\":[\"80\"],\"targets\":[\"a1\",\"a2\"],\"interval\":\"200ms\",\"timeout\":\"100ms\",\"rise\":1}")
	[ "$(status_of "$r")" = 201 ] || { echo "# $r" >&2; return 1; }
	wait_for 10 sh -c "curl -s --unix-socket '$T_SOCK' http://nubo/v1/lbs/$1 | jq -e '[.targets[].health] == [\"healthy\",\"healthy\"]' >/dev/null" || return 1
	body_of "$r" | jq -r .vip
}

# --- a delete: refusals meanwhile, a cut on every host --------------------------------------------
VIP=$(mk hl)
ok $? "balancer hl over a1 (h1) and a2 (h2), both healthy ($VIP)"
r=$(hapi h1 DELETE /v1/lbs/hl)
is "$(status_of "$r") $(body_of "$r" | jq -r .state)" "202 deleting" "DELETE through h1 is 202, deleting"
# each target's row waits (3 s) until every host has had a pass to cut: time to be refused
r=$(hapi h2 POST /v1/lbs '{"name":"hl","network":"hn","listen":["80"]}')
is "$(status_of "$r")" 409 "a balancer of its name is refused meanwhile (409)"
like "$(err_of "$r")" '^load balancer hl is being deleted: its connections are being cut; create it again once it is gone' \
	"saying it is being deleted"
r=$(hapi h2 PATCH /v1/lbs/hl '{"drain":"1s"}')
like "$(status_of "$r") $(err_of "$r")" '^409 load balancer hl is being deleted$' "PATCH is 409"
like "$(status_of "$(hapi h2 POST /v1/lbs/hl/targets '{"target":"a1"}')")" '^409$' "adding a target is 409"
like "$(status_of "$(hapi h2 DELETE /v1/lbs/hl/targets/a1)")" '^409$' "removing one is 409"
is "$(status_of "$(hapi h2 DELETE /v1/lbs/hl)")" 202 "a second DELETE is 202 again"
like "$("$NUBO" lb list)" 'hl +hn +[0-9.]+ +80 +\(deleting\)' "nubo lb list says it is deleting"
all_cut() { [ "$(cuts h1 "$VIP" "$ip1")$(cuts h1 "$VIP" "$ip2")$(cuts h2 "$VIP" "$ip1")$(cuts h2 "$VIP" "$ip2")" = 1111 ]; }
wait_for 10 all_cut
ok $? "h1 and h2 each cut both targets' connections in their own table"
wait_for 15 gone hl
ok $? "then it is gone"
is "$(status_of "$(hapi h2 POST /v1/lbs '{"name":"hl","network":"hn","listen":["80"]}')")" 201 "and its name is free"
hapi h2 DELETE /v1/lbs/hl >/dev/null

# --- kill -9 of a target's host: the delete waits for it ----------------------------------------------
VIP=$(mk hk)
ok $? "balancer hk over a1 and a2 ($VIP)"
c1=$(cuts h1 "$VIP" "$ip1") c2=$(cuts h2 "$VIP" "$ip2")
kill -9 "${PID[h2]}" && wait "${PID[h2]}" 2>/dev/null
PID[h2]=
is "$(status_of "$(hapi h1 DELETE /v1/lbs/hk)")" 202 "h2 is killed (-9); hk is deleted through h1"
a1_gone() { [ "$(body_of "$(hapi h1 GET /v1/lbs/hk)" | jq -r '[.targets[].vm] | join(",")')" = a2 ]; }
wait_for 15 a1_gone
ok $? "h1 cuts and deletes its own target, a1"
[ "$(cuts h1 "$VIP" "$ip1")" -gt "$c1" ]
ok $? "(h1 ran conntrack -D for it)"
sleep 5
is "$(body_of "$(hapi h1 GET /v1/lbs/hk)" | jq -r '.state + " " + ([.targets[] | .vm + ":" + .state] | join(","))')" \
	"deleting a2:draining" "a2's target stays for its host, and the balancer with it, deleting"
hstart h2 || { ok 1 "h2 starts again"; exit 1; }
wait_for 15 gone hk
ok $? "h2 restarted: the balancer is gone"
[ "$(cuts h2 "$VIP" "$ip2")" -gt "$c2" ]
ok $? "once h2 had cut a2's connections"
is "$(t_sql "SELECT COUNT(*) FROM load_balancers") $(t_sql "SELECT COUNT(*) FROM lb_targets") $(t_sql "SELECT COUNT(*) FROM lb_listeners")" \
	"0 0 0" "no row is left"

hstop h2
nubod_stop
ok $? "nubod exits cleanly"
