#!/usr/bin/env bash
# API tests: one nubod per state directory. nubod holds a lock on
# STATE/nubod.lock for its whole life; a second nubod, or a --destroy, on the
# same directory is refused at once, names the pid that holds it, and changes
# nothing: the first keeps serving from an intact store.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
first=$NUBOD_PID
is "$(tr -d '\n' <"$T_STATE/nubod.lock")" "$first" "the lock file holds nubod's pid"
r=$(api POST /v1/volumes '{"name":"keep","size":"16M"}')
is "$(status_of "$r")" 202 "a volume is created"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "its creation succeeds"
db_rows() { t_sql "select count(*) from volumes"; }

# A second nubod on the same state, on another socket: refused before it
# opens the store, adopts anything or listens.
# (timeout only keeps a broken lock from hanging the script: a second nubod
# that is not refused would serve until killed, and exit 124 here.)
other=$T_DIR/other.sock
out=$(timeout 30 "$NUBOD" --state-dir "$T_STATE" --socket "$other" --dry-run 2>&1)
is "$?" 1 "a second nubod on the same state directory exits 1"
like "$out" "state directory $T_STATE is in use by nubod pid $first, which holds $T_STATE/nubod.lock; stop it first" \
	"it says which nubod holds the directory"
[ ! -e "$other" ]
ok $? "it never made its socket"
[[ "$out" != *"INFO"* ]]
ok $? "it did nothing before refusing (it logged nothing)" "$out"
is "$(tr -d '\n' <"$T_STATE/nubod.lock")" "$first" "the lock file still holds the first nubod's pid"
is "$(body_of "$(api GET /v1/volumes)" | jq -r '[.volumes[].name] | join(",")')" keep "the first nubod keeps serving"

# --destroy beside the live nubod: refused, the store and files intact.
out=$(timeout 30 "$NUBOD" --state-dir "$T_STATE" --socket "$other" --dry-run --destroy 2>&1)
is "$?" 1 "nubod --destroy beside a live nubod exits 1"
like "$out" "in use by nubod pid $first, .*then run --destroy again: nothing was changed" "it names the pid and says nothing changed"
[[ "$out" != *"destroyed"* ]]
ok $? "it does not claim to have destroyed anything" "$out"
{ [ ${#T_DB_FLAGS[@]} -gt 0 ] || [ -f "$T_STATE/nubo.db" ]; } && [ -d "$T_STATE/volumes" ] && [ -f "$T_STATE/nubod.lock" ]
ok $? "the store, the state's folders and the lock file are still there"
is "$(db_rows)" 1 "the store still holds the volume"
r=$(api POST /v1/volumes '{"name":"after","size":"16M"}')
is "$(status_of "$r")" 202 "the first nubod still accepts creates"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "and carries them out"
is "$(db_rows)" 2 "into the same store"

# The lock lives and dies with the process: a killed nubod leaves nothing stale.
nubod_kill9
nubod_start --dry-run
ok $? "after a kill -9 a new nubod starts on the directory at once"
[ "$(tr -d '\n' <"$T_STATE/nubod.lock")" = "$NUBOD_PID" ] && [ "$NUBOD_PID" != "$first" ]
ok $? "it holds the lock under its own pid"
is "$(db_rows)" 2 "with the store as it was"
nubod_stop
ok $? "it stops cleanly"
out=$("$NUBOD" --state-dir "$T_STATE" --socket "$other" --dry-run --destroy 2>&1)
ok $? "--destroy with no nubod running succeeds" "$out"
[ ! -e "$T_STATE" ]
ok $? "it removes the whole state directory, lock file included" "$(ls -A "$T_STATE" 2>&1)"

echo "1..$T_N"
