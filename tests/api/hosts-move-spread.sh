#!/usr/bin/env bash
# api: spread groups across hosts (docs/cluster.md). Three dry-run nubods on
# one PostgreSQL database: VMs created with one spread_group go to different
# hosts while there are hosts without one of the group, then double up
# evenly; a pin wins over the group; VMs of other groups or of none do not
# count; the group is validated and shown.
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hosts-lib.sh"
# pack on every host: without the group all VMs would go to h1 while it has
# room, so a spread across hosts is the group's doing.
for h in h1 h2 h3; do conf "$T_DIR/$h.json" pack; done

hstart h1 || { ok 1 "h1 starts"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "image tiny is built (through h1)"
hstart h2 && hstart h3
ok $? "h1, h2 and h3 start on one database"
CAP=$(body_of "$(hapi h1 GET /v1/hosts)" | jq -r '.hosts[0].vcpus_allocatable')

is "$(create h1 plain1)" 202 "plain1 (no group) is created"
is "$(create h1 plain2)" 202 "plain2 (no group) is created"
is "$(host_of plain1),$(host_of plain2)" "h1,h1" "pack without a group: the first host takes both"
delete_all

is "$(create h1 w1 '"spread_group":"web"')" 202 "w1 (group web) is created through h1"
is "$(create h2 w2 '"spread_group":"web"')" 202 "w2 (group web) is created through h2"
is "$(create h3 w3 '"spread_group":"web"')" 202 "w3 (group web) is created through h3"
is "$(host_of w1) $(host_of w2) $(host_of w3)" "h1 h2 h3" "the VMs of one group go to three different hosts"
is "$(create h1 w4 '"spread_group":"web"')" 202 "w4: a fourth of the group, with every host holding one"
is "$(host_of w4)" h1 "once every host holds one, the group doubles up (pack: the first host)"
if [ "$CAP" -ge 2 ]; then
	is "$(create h1 w5 '"spread_group":"web"')" 202 "w5 is created"
	is "$(host_of w5)" h2 "the next goes to a host holding fewest of the group, not back to h1"
fi
r=$(body_of "$(hapi h2 GET /v1/vms/w2)")
is "$(jq -r .spread_group <<<"$r")" web "GET /v1/vms/w2 has spread_group web"
like "$("$NUBO" vm show w2)" 'Spread: +web' "nubo vm show says the spread group"
delete_all

is "$(create h1 d0 '"spread_group":"other"')" 202 "d0 of group other is created"
is "$(create h1 d1 '"spread_group":"db"')" 202 "d1 of another group is created"
is "$(host_of d0)/$(host_of d1)" h1/h1 "another group's VMs do not count: pack puts d1 on h1 beside d0"
delete_all
is "$(create h1 d2 '"spread_group":"db","host":"h2"')" 202 "d2 of group db pinned to h2 is created"
is "$(create h1 d3 '"spread_group":"db","host":"h2"')" 202 "d3 of group db pinned to h2 too"
is "$(host_of d2)/$(host_of d3)" h2/h2 "a pin wins over the spread group"
is "$(create h1 d4 '"spread_group":"db"')" 202 "d4 of group db"
is "$(create h1 d5 '"spread_group":"db"')" 202 "d5 of group db"
is "$(host_of d4) $(host_of d5)" "h1 h3" "pinned members count: d4 and d5 go to the hosts without one"
delete_all
out=$("$NUBO" vm create w9 --type c1 --spread-group web 2>&1)
ok $? "nubo vm create --spread-group web" "$out"
is "$(jq -r .spread_group <<<"$("$NUBO" vm show w9 --json)")" web "the CLI's --spread-group reaches the API"

r=$(hapi h1 POST /v1/vms '{"name":"bad1","type":"c1","spread_group":"Web_1"}')
is "$(status_of "$r")" 400 "a spread_group that is not a name is refused (400)"
like "$(body_of "$r" | jq -r .error.message)" 'spread_group "Web_1" must' "the error names the field and the value"
r=$(hapi h1 POST /v1/vms '{"name":"bad2","type":"c1","spread_group":7}')
is "$(status_of "$r")" 400 "a spread_group that is not a string is refused (400)"
is "$(body_of "$(hapi h1 GET /v1/vms/bad1)" | jq -r .error.code)" not_found "nothing is left of a refused create"
delete_all
