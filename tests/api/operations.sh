#!/usr/bin/env bash
# API tests of operations: GET /v1/operations/{id}, and long-polling it with
# ?wait=SECONDS[&after=REVISION]: the 400s, an answer at once when there is
# news (or the operation is over), a held request answered the moment the
# operation changes, one that runs out answering the unchanged state, held
# requests answered when nubod stops, and `nubo operation wait` following
# with one request per change instead of polling.
#
# In dry-run every operation ends within a few reconciler ticks, too fast to
# tell a held request from one answered at once. So the test also records
# operations that nothing here advances (as if another host ran them) by
# writing their rows into the store, and ends one the way a user does: a
# new action on its VM supersedes it, which nubod records (and announces).
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run --debug || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"

# lp PATH: a GET that prints "STATUS SECONDS BODY" (SECONDS as curl measured them)
lp() {
	local out
	out=$(curl -s --unix-socket "$T_SOCK" -w '\n%{http_code} %{time_total}' "http://nubo$1")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
secs_of() { local r=${1#* }; printf '%s' "${r%% *}"; }
lp_body() { local r=${1#* }; printf '%s' "${r#* }"; }
# within SECONDS LOW HIGH: LOW <= SECONDS < HIGH
within() { awk -v s="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(s >= lo && s < hi) }'; }

# foreign_op VM_NAME: records a running operation on the VM that nothing
# advances, makes it the VM's current one, and prints its id.
foreign_op() {
	local id vm
	id=op-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	vm=$(body_of "$(api GET /v1/vms/$1)" | jq -r .id)
	t_sql "INSERT INTO operations (id, kind, target, target_name, state, error, phases, created_at, finished_at,
		  progress_done, progress_total) VALUES ('$id', 'start', '$vm', '$1', 'running', NULL, '[]',
		  $(date +%s%3N), 0, 0, 0);
		 UPDATE vms SET op_id = '$id' WHERE id = '$vm';" || return 1
	printf '%s' "$id"
}

# A finished operation: building the tiny image (immediate in dry-run).
r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
is "$(status_of "$r")" 202 "image build is accepted"
built=$(body_of "$r" | jq -r .operation.id)
like "$(body_of "$r" | jq -r .operation.revision)" '^[0-9a-f]{16}$' "an operation carries a revision of 16 hex digits"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$built | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the build succeeds"
r=$(api GET /v1/operations/$built)
is "$(status_of "$r")" 200 "GET without wait answers 200"
is "$(body_of "$r" | jq -c 'keys')" '["created_at","error","finished_at","id","kind","phases","progress","revision","state","target","target_name"]' \
	"the operation's fields"
done_rev=$(body_of "$r" | jq -r .revision)

# --- bad parameters ---
for bad in abc -1 61 60.5 '' 1e3 0x10 nan 5s; do
	r=$(api GET "/v1/operations/$built?wait=$bad")
	is "$(status_of "$r")" 400 "wait=\"$bad\" is 400"
	like "$(body_of "$r" | jq -r .error.message)" "^wait \"$bad\" must be a number of seconds from 0 to 60" "its error names wait and \"$bad\""
done
r=$(api GET "/v1/operations/$built?wait=5&after=xyz")
is "$(status_of "$r")" 400 "after that is not a revision is 400"
like "$(body_of "$r" | jq -r .error.message)" '^after "xyz" is not an operation revision' "its error names after and the value"
r=$(api GET "/v1/operations/$built?after=$done_rev")
is "$(status_of "$r")" 400 "after without wait is 400"
like "$(body_of "$r" | jq -r .error.message)" "^after \"$done_rev\" needs wait=SECONDS" "its error says wait is needed"
r=$(lp "/v1/operations/op-000000000000?wait=1")
is "$(status_of "$r")" 404 "waiting on an unknown operation is 404, at once"

# --- a finished operation answers at once ---
r=$(lp "/v1/operations/$built?wait=30&after=$done_rev")
is "$(status_of "$r")" 200 "waiting on a finished operation answers 200"
within "$(secs_of "$r")" 0 10
ok $? "at once, not after the 30 s wait" "took $(secs_of "$r") s"
is "$(lp_body "$r" | jq -r .revision)" "$done_rev" "with the state it has"

# --- following a VM create: each answer brings news, none waits its 20 s out ---
r=$(api POST /v1/vms '{"name":"web1"}')
is "$(status_of "$r")" 202 "create is accepted"
op=$(body_of "$r" | jq -r .operation.id)
rev=$(body_of "$r" | jq -r .operation.revision)
state=running; n=0; slow=0; stale=0
while [ "$state" = running ] && [ $n -lt 10 ]; do
	r=$(lp "/v1/operations/$op?wait=20&after=$rev")
	n=$((n + 1))
	within "$(secs_of "$r")" 0 15 || slow=$((slow + 1))
	[ "$(lp_body "$r" | jq -r .revision)" = "$rev" ] && stale=$((stale + 1))
	rev=$(lp_body "$r" | jq -r .revision)
	state=$(lp_body "$r" | jq -r .state)
done
is "$state" succeeded "long-polling follows the create to its end"
is "$slow" 0 "every answer came as soon as a phase was recorded, not when its wait ran out"
is "$stale" 0 "every answer brought a new revision"
is "$(lp_body "$r" | jq -r '[.phases[].name] | join(",")')" "scheduled,disk,boot,ssh-ready" "the last answer holds every phase"
ok $((n > 5)) "in at most one request per phase and the end ($n)"

# --- an operation that does not change ---
fop=$(foreign_op web1)
ok $? "a running operation is recorded for web1" "$fop"
rev0=$(body_of "$(api GET /v1/operations/$fop)" | jq -r .revision)
r=$(lp "/v1/operations/$fop?wait=1&after=$rev0")
is "$(status_of "$r")" 200 "a wait that runs out answers 200"
within "$(secs_of "$r")" 0.9 5
ok $? "after about the 1 s asked for" "took $(secs_of "$r") s"
is "$(lp_body "$r" | jq -r '[.state, .revision, (.phases | length)] | join(" ")')" "running $rev0 0" "with the unchanged state"
r=$(lp "/v1/operations/$fop?wait=1")
within "$(secs_of "$r")" 0.9 5
ok $? "without after, it waits for a change from what it read first" "took $(secs_of "$r") s"
r=$(lp "/v1/operations/$fop?wait=30&after=0123456789abcdef")
within "$(secs_of "$r")" 0 10
ok $? "after a revision the operation no longer has, it answers at once" "took $(secs_of "$r") s"
is "$(lp_body "$r" | jq -r .revision)" "$rev0" "with the current revision"
r=$(lp "/v1/operations/$fop?wait=0&after=$rev0")
within "$(secs_of "$r")" 0 0.9
ok $? "wait=0 answers at once" "took $(secs_of "$r") s"

# --- a held request answers the moment the operation changes ---
lp "/v1/operations/$fop?wait=20&after=$rev0" >"$T_DIR/held.out" &
held=$!
sleep 1
kill -0 $held 2>/dev/null
ok $? "the request is held while nothing changes"
stop=$(api POST /v1/vms/web1/stop '{}')
is "$(status_of "$stop")" 202 "a stop of web1 supersedes its operation"
wait $held
r=$(cat "$T_DIR/held.out")
is "$(status_of "$r")" 200 "the held request answers 200"
within "$(secs_of "$r")" 0.9 15
ok $? "once the operation changed, long before its 20 s ran out" "took $(secs_of "$r") s"
is "$(lp_body "$r" | jq -r '[.state, .error] | join(": ")')" \
	"failed: superseded by stop ($(body_of "$stop" | jq -r .operation.id))" "with the new state"
[ "$(lp_body "$r" | jq -r .revision)" != "$rev0" ]
ok $? "and a new revision"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/web1 | jq -e '.state==\"stopped\"' >/dev/null"
ok $? "web1 stops"

# --- nubo operation wait: one request per change, not a poll every 150 ms ---
fop=$(foreign_op web1)
"$NUBO" operation wait "$fop" >"$T_DIR/cli.out" 2>&1 &
cli=$!
sleep 1.5
n=$(grep -c "GET /v1/operations/$fop " "$T_LOG")
[ "$n" -ge 1 ] && [ "$n" -le 2 ]
ok $? "the CLI holds its request instead of polling ($n requests in 1.5 s, 1 or 2 expected)"
kill -0 $cli 2>/dev/null
ok $? "nubo operation wait is still following"
"$NUBO" operation wait "$fop" >"$T_DIR/int.out" 2>&1 &
intr=$!
sleep 0.5
kill -INT $intr
for i in $(seq 1 40); do kill -0 $intr 2>/dev/null || break; sleep 0.05; done
kill -0 $intr 2>/dev/null
ok $((! $?)) "Ctrl-C stops waiting at once, even while a request is held"
wait $intr
is "$?" 130 "with exit status 130"
like "$(cat "$T_DIR/int.out")" "stopped waiting; $fop goes on in nubod" "and says the operation goes on"
# --wait-timeout bounds the wait, not the operation.
t0=$(date +%s.%N)
"$NUBO" --wait-timeout 2s operation wait "$fop" >"$T_DIR/to.out" 2>&1
rc=$?
t1=$(date +%s.%N)
took=$(awk "BEGIN { print $t1 - $t0 }")
is "$rc" 124 "--wait-timeout 2s stops following a running operation with exit status 124"
within "$took" 1.9 8
ok $? "after about 2 s, even while a request is held" "took $took s"
like "$(cat "$T_DIR/to.out")" "$fop is still running after 2.0s \\(--wait-timeout\\); it goes on in nubod" \
	"and says the operation goes on"
is "$(body_of "$(api GET /v1/operations/$fop)" | jq -r .state)" running "the operation is still running"
NUBO_WAIT_TIMEOUT=1s "$NUBO" operation wait "$fop" >/dev/null 2>&1
is "$?" 124 "NUBO_WAIT_TIMEOUT does the same"
out=$("$NUBO" --wait-timeout 5 operation wait "$fop" 2>&1)
is "$?" 2 "a --wait-timeout without a unit is a usage error"
like "$out" '--wait-timeout "5" is not a duration' "naming the flag and the value"
start=$(body_of "$(api POST /v1/vms/web1/start '{}')" | jq -r .operation.id)
for i in $(seq 1 100); do kill -0 $cli 2>/dev/null || break; sleep 0.05; done
kill -0 $cli 2>/dev/null
ok $((! $?)) "it ends as soon as the operation does"
wait $cli
is "$?" 1 "with exit status 1 for a failed operation"
like "$(cat "$T_DIR/cli.out")" "start web1 failed: superseded by start" "and its reason"

# --- nubod stopping answers held requests ---
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$start | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "web1 starts again"
fop=$(foreign_op web1)
rev3=$(body_of "$(api GET /v1/operations/$fop)" | jq -r .revision)
lp "/v1/operations/$fop?wait=30&after=$rev3" >"$T_DIR/stop.out" &
held=$!
sleep 0.5
kill -0 $held 2>/dev/null
ok $? "a request is held"
kill -TERM "$NUBOD_PID"
for i in $(seq 1 100); do kill -0 $held 2>/dev/null || break; sleep 0.05; done
kill -0 $held 2>/dev/null
ok $((! $?)) "nubod's stop answers it at once"
wait $held
r=$(cat "$T_DIR/stop.out")
is "$(status_of "$r")" 200 "with 200"
is "$(lp_body "$r" | jq -r '[.state, .revision] | join(" ")')" "running $rev3" "and the state as it is"
nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
grep -Eq "Sanitizer|runtime error" "$T_LOG"
ok $((! $?)) "no sanitizer report in nubod's log"
