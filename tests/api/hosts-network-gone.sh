#!/usr/bin/env bash
# api: a network deleted through one host is taken down on the others
# (docs/cluster.md), even on a host whose nubod was stopped while it went.
# Two dry-run nubods on one PostgreSQL database: h2 brings a network up for
# its VM; the VM is deleted, h2's nubod stopped, the network deleted through
# h1 (whose nubod removes its row); at its next start h2 finds the network's
# folder in its state directory without a row, and takes the bridge, the
# vxlan device and dnsmasq down (recorded, in dry-run: the folder is what
# shows it).
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hosts-lib.sh"
for h in h1 h2; do conf "$T_DIR/$h.json"; done

hstart h1 || { ok 1 "h1 starts"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "image tiny is built (through h1)"
hstart h2
ok $? "h2 starts on the same database"
n=$((RANDOM % 200 + 20))
is "$(status_of "$(hapi h1 POST /v1/networks "{\"name\":\"gone\",\"cidr\":\"10.$n.5.0/24\"}")")" 201 "network gone is created"
NET=$(body_of "$(hapi h1 GET /v1/networks/gone)" | jq -r .id)
is "$(create h1 g1 '"host":"h2","nics":[{"network":"gone"}]')" 202 "g1 is created on h2, on gone"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/g1 | jq -r .state)\" = running ]"
ok $? "g1 runs on h2"
[ -d "${STATE[h2]}/networks/$NET" ]
ok $? "h2 brought gone up (its folder networks/$NET)"
hapi h1 DELETE /v1/vms/g1 >/dev/null
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' -o /dev/null -w '%{http_code}' http://nubo/v1/vms/g1)\" = 404 ]"
ok $? "g1 is deleted"
hstop h2
is "$(status_of "$(hapi h1 DELETE /v1/networks/gone)")" 202 "gone is deleted through h1 while h2's nubod is stopped"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' -o /dev/null -w '%{http_code}' http://nubo/v1/networks/gone)\" = 404 ]"
ok $? "h1 removes its row"
[ -d "${STATE[h2]}/networks/$NET" ]
ok $? "h2's folder of it is still there"
hstart h2
ok $? "h2 starts again"
wait_for 10 sh -c "[ ! -e '${STATE[h2]}/networks/$NET' ]"
ok $? "h2 takes its side of gone down at its start (its folder is gone)"
grep -q "network $NET: deleted by another host; taken down here" "$T_DIR/h2.log"
ok $? "h2's log says so"
delete_all
