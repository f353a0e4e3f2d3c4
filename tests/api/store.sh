#!/usr/bin/env bash
# API tests of the store, on whichever engine the run uses (tests/pg.sh for
# PostgreSQL): admission under a burst of concurrent creates, and, on
# PostgreSQL, a database that goes away while nubod runs and comes back.
set -u
# The outage below stops the server: on PostgreSQL this script takes a
# private cluster of its own (tests/lib.sh starts one when none is given),
# never the one the suite's other scripts use at the same moment.
unset NUBO_TEST_PG_DIR NUBO_TEST_PG_PORT
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
op=$(body_of "$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the image builds"

# --- 200 concurrent creates of one name: exactly one wins ---
create_many() { # NAME_PREFIX COUNT TYPE SAME: COUNT creates at once; prints "code:count …"
	local i name
	for i in $(seq 1 "$2"); do
		name=$1; [ "$4" = same ] || name=$1$i
		curl -s -o /dev/null -w '%{http_code}\n' --unix-socket "$T_SOCK" -X POST \
			-d "{\"name\":\"$name\",\"type\":\"$3\"}" http://nubo/v1/vms &
	done | sort | uniq -c | awk '{print $2":"$1}' | paste -sd' '
}
is "$(create_many race 200 nano same)" "202:1 409:199" "200 concurrent creates of one name: one 202, 199 409"
is "$(body_of "$(api GET /v1/vms)" | jq '[.vms[] | select(.name=="race")] | length')" 1 "exactly one VM named race exists"

# --- a burst that overfills the host: never oversubscribed ---
host=$(body_of "$(api GET /v1/host)")
alloc=$(echo "$host" | jq .vcpus_allocatable)
want=$(( (alloc / 4) + 8 ))   # large VMs have 4 vCPUs: 8 more than fit
codes=$(create_many big "$want" large distinct)
like "$codes" '507:[0-9]+' "a burst of $want large creates: some are refused for capacity ($codes)"
host=$(body_of "$(api GET /v1/host)")
used=$(echo "$host" | jq .vcpus_used)
ok $(( used > alloc )) "the host is not oversubscribed: $used of $alloc vCPUs"
admitted=$(printf '%s' "$codes" | tr ' ' '\n' | awk -F: '$1==202 {print $2}')
listed=$(body_of "$(api GET '/v1/vms?limit=1000')" | jq '[.vms[] | select(.name|startswith("big"))] | length')
is "$listed" "${admitted:-0}" "every admitted VM, and only those, is stored"

# --- the database goes away and comes back (PostgreSQL) ---
if [ ${#T_DB_FLAGS[@]} -gt 0 ]; then
	source "$(dirname "$0")/../pg.sh"
	pg_server_stop
	ok $? "the PostgreSQL server stops"
	r=$(api GET /v1/vms)
	is "$(status_of "$r")" 503 "with the database down, the API answers 503"
	is "$(body_of "$r" | jq -r .error.code)" unavailable "with the code unavailable"
	like "$(body_of "$r" | jq -r .error.message)" "^the database at postgres://nubo@/$T_PG_DB\\?host=.* is unreachable: " \
		"and a message that names the database"
	is "$(status_of "$(api POST /v1/vms '{"name":"while-down","type":"nano"}')")" 503 "a create is 503 too"
	pg_server_start
	ok $? "the PostgreSQL server starts again"
	wait_for 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $T_SOCK http://nubo/v1/vms)\" = 200 ]"
	ok $? "nubod reconnects: the API answers 200 again"
	is "$(body_of "$(api GET /v1/vms)" | jq '[.vms[] | select(.name=="race")] | length')" 1 "nothing was lost"
	is "$(status_of "$(api GET /v1/vms/while-down)")" 404 "and nothing half-written"
	is "$(status_of "$(api POST /v1/vms '{"name":"after","type":"nano"}')")" 202 "creates work again"
	grep -q "unreachable" "$T_LOG"
	ok $? "nubod's log says the database was unreachable"
	grep -q "reachable again" "$T_LOG"
	ok $? "and that it is back"
else
	echo "# skipped the database outage: SQLite cannot go away"
fi

nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
echo "1..$T_N"
