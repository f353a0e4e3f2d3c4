#!/usr/bin/env bash
# API tests of the event log (GET /v1/events), on whichever engine the run
# uses (tests/pg.sh for PostgreSQL): a VM's life in dry-run as events in
# order, each with a higher number; `nubo events --follow` in a terminal
# (script) printing a VM's create, phases and delete as they happen;
# filters and paging; the 400s; a
# long-poll answered by a change and one whose wait runs out; pruning; and,
# on PostgreSQL, a change made through a second nubod on the same database
# waking the first one's long-poll and its firewall reconciler.
#
# No check measures time: a held request is shown answered by a change by
# waiting (up to 20 s) for the answer of a request that would otherwise be
# held for 60.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run --debug || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"

ev() { body_of "$(api GET "/v1/events$1")"; }                    # ev QUERY: the answer's body
head_seq() { ev "?limit=1000&after=${1:-0}" | jq .last_seq; }
op_done() { # op_done OP_ID: waits for it to succeed
	wait_for 20 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$1 | jq -e '.state==\"succeeded\"' >/dev/null"
}
act() { # act METHOD PATH [BODY]: runs an action and waits for its operation
	local op
	op=$(body_of "$(api "$@")" | jq -r '.operation.id')
	op_done "$op"
}

act POST /v1/images '{"name":"tiny","recipe":"tiny"}'
ok $? "the image builds"

# --- a VM's life, in order ---
start=$(head_seq)
act POST /v1/vms '{"name":"web1","type":"nano"}'; ok $? "web1 is created"
act POST /v1/vms/web1/stop; ok $? "web1 stops"
act POST /v1/vms/web1/start; ok $? "web1 starts"
act DELETE /v1/vms/web1; ok $? "web1 is deleted"
r=$(api GET "/v1/events?after=$start&kind=vm&name=web1")
is "$(status_of "$r")" 200 "GET /v1/events answers 200"
is "$(body_of "$r" | jq -c '.events[0] | keys')" '["at","detail","id","kind","name","seq","what"]' "an event's fields"
# the steps every run takes (in-between states may come and go with the reconciler's ticks)
is "$(body_of "$r" | jq -r '.events[].what | sub(", updated: .*"; "") | select(test("^(created|deleted|power: .*|state: .*→(running|stopped))$"))' | paste -sd'|')" \
	"created|state: pending→running|power: running→stopped|state: stopping→stopped|power: stopped→running|state: pending→running|power: running→deleted|deleted" \
	"web1's events: created, running, stopped, running again, deleted, in that order"
is "$(body_of "$r" | jq '[.events[].seq] as $s | $s == ($s | sort) and ($s | unique | length) == ($s | length) and $s[0] > '"$start")" true \
	"their numbers rise, each once, after the number read before"
is "$(body_of "$r" | jq -r '[.events[].kind] | unique | join(",")')" vm "kind=vm gives VMs only"
is "$(body_of "$r" | jq -r '.last_seq >= .events[-1].seq')" true "last_seq is at least the last event's number"
ops=$(ev "?after=$start&kind=operation&name=web1")
is "$(echo "$ops" | jq -r '[.events[].what | select(startswith("created"))] | join("|")')" \
	"created (create)|created (stop)|created (start)|created (delete)" "web1's operations are events too, under its name"
like "$(echo "$ops" | jq -r '[.events[].what] | join("|")')" 'phase: boot\|.*state: running→succeeded' "with their phases and their end"
is "$(ev "?after=$start&kind=token" | jq '.events | length')" 0 "no token events where no token changed"

# --- paging: limit, then on from last_seq ---
all=$(ev "?after=$start&limit=1000" | jq -c '[.events[].seq]')
p1=$(ev "?after=$start&limit=3")
is "$(echo "$p1" | jq -c '[.events[].seq]')" "$(echo "$all" | jq -c '.[0:3]')" "limit=3 gives the first three"
is "$(echo "$p1" | jq .last_seq)" "$(echo "$all" | jq '.[2]')" "and last_seq is the third's number"
p2=$(ev "?after=$(echo "$p1" | jq .last_seq)&limit=3")
is "$(echo "$p2" | jq -c '[.events[].seq]')" "$(echo "$all" | jq -c '.[3:6]')" "after=last_seq goes on with the next three"

# --- bad parameters: 400, naming the parameter and the value ---
for q in after=x after=-1 after=1.5 after=99999999999999999999 wait=abc wait=61 kind=foo limit=0 limit=1001 limit=x name=; do
	r=$(api GET "/v1/events?$q")
	is "$(status_of "$r")" 400 "$q is 400"
	like "$(body_of "$r" | jq -r .error.message)" "^${q%%=*} \"${q#*=}\" " "its error names ${q%%=*} and \"${q#*=}\""
done

# --- long-polls ---
now=$(head_seq)
r=$(api GET "/v1/events?after=$now&kind=token&wait=1")
is "$(status_of "$r")" 200 "a long-poll whose wait runs out answers 200"
is "$(body_of "$r" | jq '.events | length')" 0 "with no events"
is "$(body_of "$r" | jq ".last_seq >= $now")" true "and a last_seq to go on from"
curl -s --unix-socket "$T_SOCK" "http://nubo/v1/events?after=$now&kind=firewall&wait=60" >"$T_DIR/held" &
held=$!
T_BG_PIDS+=("$held")
sleep 0.5
kill -0 "$held" 2>/dev/null
ok $? "a long-poll with nothing new is held"
is "$(status_of "$(api POST /v1/firewalls '{"name":"lp"}')")" 201 "a firewall is created meanwhile"
wait_for 20 sh -c "! kill -0 $held 2>/dev/null"
ok $? "the held request is answered by the change, long before its 60 s"
is "$(jq -r '[.events[] | "\(.kind) \(.name) \(.what)"] | join("|")' "$T_DIR/held")" "firewall lp created" "with the new event"
rid=$(body_of "$(api POST /v1/firewalls/lp/rules '{"proto":"tcp","port":"8080"}')" | jq -r .id)
is "$(ev "?after=$now&name=lp" | jq -r '.events[-1] | "\(.what) \(.detail.rule)"')" "rule added: tcp 8080 from 0.0.0.0/0 $rid" \
	"a rule's addition is an event of its firewall, with the rule's id"

# --- pruning: old events, and operations of resources that are gone ---
old=$(( $(date +%s%3N) - 8 * 86400000 ))
t_sql "INSERT INTO events (at, kind, resource_id, name, what) VALUES ($old, 'vm', 'vm-old', 'ancient', 'created');
       INSERT INTO operations (id, kind, target, target_name, state, phases, created_at, finished_at)
         VALUES ('op-prunedgone', 'create', 'vm-gone', 'gone', 'succeeded', '[]', $old, $old),
                ('op-freshgone', 'create', 'vm-gone2', 'gone2', 'succeeded', '[]', $(date +%s%3N), $(date +%s%3N));" >/dev/null
ok $? "an 8-day-old event and finished operations of VMs that are gone are stored"
nubod_stop; nubod_start --dry-run --debug
ok $? "nubod restarts"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket $T_SOCK 'http://nubo/v1/events?name=ancient' | jq '.events | length')\" = 0 ]"
ok $? "the 8-day-old event is pruned (the default keeps 7 days)"
is "$(status_of "$(api GET /v1/operations/op-prunedgone)")" 404 "an operation of a deleted VM, finished long ago, is pruned"
is "$(status_of "$(api GET /v1/operations/op-freshgone)")" 200 "one that just finished is kept for its grace period"
is "$(ev "?after=$start&kind=vm&name=web1" | jq '.events | length > 0')" true "newer events are kept"

# --- a second nubod on the same PostgreSQL database ---
if [ ${#T_DB_FLAGS[@]} -gt 0 ]; then
	sock2=$T_DIR/nubod2.sock
	"$NUBOD" --state-dir "$T_DIR/state2" --socket "$sock2" "${T_DB_FLAGS[@]}" --dry-run --debug >>"$T_DIR/nubod2.log" 2>&1 &
	T_BG_PIDS+=("$!")
	wait_for 10 sh -c "curl -sf --unix-socket $sock2 http://nubo/v1/types >/dev/null"
	ok $? "a second nubod starts on the same database"
	now=$(head_seq)
	heard=$(grep -c "the event log shows a change the rules depend on" "$T_LOG")
	notified=$(grep -c "woken by NOTIFY nubo_events" "$T_LOG")
	curl -s --unix-socket "$T_SOCK" "http://nubo/v1/events?after=$now&kind=firewall&wait=60" >"$T_DIR/held2" &
	held=$!
	T_BG_PIDS+=("$held")
	sleep 0.5
	kill -0 "$held" 2>/dev/null
	ok $? "the first nubod holds a long-poll"
	r=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock2" -X POST -d '{"proto":"udp","port":"5353"}' \
		http://nubo/v1/firewalls/lp/rules)
	is "$r" 201 "a rule is added through the second nubod"
	wait_for 20 sh -c "! kill -0 $held 2>/dev/null"
	ok $? "the first nubod's held request is answered by it, long before its 60 s"
	is "$(jq -r '.events[-1].what' "$T_DIR/held2")" "rule added: udp 5353 from 0.0.0.0/0" "with the rule the other nubod added"
	wait_for 10 sh -c "[ \$(grep -c 'woken by NOTIFY nubo_events' '$T_LOG') -gt $notified ]"
	ok $? "the first nubod was woken by the other's NOTIFY (not only by looking every second)"
	wait_for 20 sh -c "[ \$(grep -c 'the event log shows a change the rules depend on' '$T_LOG') -gt $heard ]"
	ok $? "and the first nubod's firewall reconciler re-applies its rules for it"
else
	echo "# skipped the second nubod: SQLite is one nubod's store"
fi

# --- nubo events --follow, in a terminal, as the changes happen ---
act POST /v1/vms '{"name":"web2","type":"nano"}'; ok $? "web2 is created"
script -qfec "$NUBO events --follow --name web2" /dev/null >"$T_DIR/follow" 2>&1 &
follower=$!
wait_for 10 grep -q "web2: created" "$T_DIR/follow"
ok $? "nubo events --follow prints web2's creation first"
act POST /v1/vms/web2/stop; ok $? "web2 stops"
act DELETE /v1/vms/web2; ok $? "web2 is deleted"
wait_for 10 grep -q "vm  *web2: deleted" "$T_DIR/follow"
ok $? "the follower prints web2's deletion as it happens"
kill -0 $follower 2>/dev/null
ok $? "and goes on following"
kill $follower 2>/dev/null
wait $follower 2>/dev/null
lines=$(tr -d '\r' <"$T_DIR/follow" | sed -n 's/^ *[0-9][0-9]*  [0-9T:.Z-]*  *\([a-z]*\) *web2: \(.*\)$/\1 \2/p' | sed 's/, updated: .*//' | paste -sd'|')
like "$lines" '^vm created\|.*operation phase: boot\|.*vm state: pending→running\|.*vm state: running→stopping\|.*vm state: stopping→stopped\|.*vm deleted' \
	"in a terminal it shows the create, each phase and the delete, in order"

nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
echo "1..$T_N"
