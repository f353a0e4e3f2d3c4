#!/usr/bin/env bash
# api: the web console's doors, with the host in dry-run. Its files at / on
# the TCP listeners; the login that trades an API token for a session cookie
# (HttpOnly, SameSite=Strict, Secure on HTTPS only); 401 without a session,
# 403 for a session's state-changing request without its CSRF token; logout
# and token revocation end a session; --listen-http refuses a non-loopback
# address. And the serial console's WebSocket: a single-use ticket for one
# VM, and several viewers of one console (a socat echo server stands in for
# QEMU's serial socket, since dry-run starts no QEMU).
set -u
. "$(dirname "$0")/../lib.sh"
WS="python3 $(dirname "$0")/ws.py"

# --- --listen-http is for loopback addresses only -------------------------------
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen-http 0.0.0.0:8080 2>&1)
is "$?" 2 "nubod --listen-http 0.0.0.0:8080 exits 2"
like "$out" '--listen-http 0.0.0.0:8080: plain HTTP is served on a loopback address only' \
	"the refusal names the flag and the address"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen-http localhost:8080 2>&1)
is "$?" 2 "a host name is refused too (only a loopback address is sure to stay on this machine)"
[ ! -e "$T_DIR/s2" ]
ok $? "a refused --listen-http touches no state directory"

TLS=$T_DIR/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/cert.key" -out "$TLS/cert.pem" >/dev/null 2>&1
chmod 600 "$TLS/cert.key"
# Another program may take a free port before nubod binds it: then new ports.
started=1
for try in 1 2 3 4 5; do
	HTTP=$(free_port)
	HTTPS=$(free_port)
	while [ "$HTTPS" = "$HTTP" ]; do HTTPS=$(free_port); done
	nubod_start --dry-run --listen-http "127.0.0.1:$HTTP" --listen "127.0.0.1:$HTTPS" --tls-cert "$TLS/cert.pem" \
		--tls-key "$TLS/cert.key" >/dev/null && { started=0; break; }
	grep -q 'Address already in use' "$T_LOG" || break
done
ok $started "nubod starts with --listen-http and --listen"
[ $started = 0 ] || { sed 's/^/#   /' "$T_LOG" | tail -20; exit 1; }
U=http://127.0.0.1:$HTTP
S=https://127.0.0.1:$HTTPS
CURL=(curl -s --cacert "$TLS/cert.pem")

# --- the console's files -------------------------------------------------------
r=$("${CURL[@]}" -D "$T_DIR/h" "$U/")
like "$r" '<script type="module" src="/app.js">' "GET / answers the console's page"
grep -qi '^content-security-policy: default-src .none.; script-src .self.' "$T_DIR/h"
ok $? "the page carries a Content-Security-Policy that allows this origin's scripts only"
grep -qi '^x-frame-options: DENY' "$T_DIR/h"
ok $? "no other site may frame the console"
like "$("${CURL[@]}" "$S/vms/web1")" 'src="/app.js"' "a page's address (/vms/web1) answers the page, over HTTPS too"
is "$("${CURL[@]}" -o /dev/null -w '%{http_code} %{content_type}' "$U/app.js")" "200 text/javascript; charset=utf-8" \
	"the bundled script is served as JavaScript"
like "$("${CURL[@]}" "$U/app.css")" 'xterm' "the bundled style sheet holds xterm.js's"
is "$("${CURL[@]}" -o /dev/null -w '%{http_code}' --path-as-is "$U/../../etc/passwd")" 404 "a path with .. is not served"
is "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$U/nope.js")" 404 "a file that does not exist is 404"
is "$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$U/")" 405 "the files are read with GET only"

# --- login ----------------------------------------------------------------------
SECRET=$("$NUBO" token create browser --json | jq -r .secret)
like "$SECRET" '^nubo_[0-9a-f]{64}$' "a token is made for the browser"
is "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$U/v1/vms")" 401 "a request without a session or token is 401"
r=$("${CURL[@]}" -D "$T_DIR/h" -w '\n%{http_code}' -H 'Content-Type: application/json' \
	-d '{"token":"nubo_0000000000000000000000000000000000000000000000000000000000000000"}' "$U/v1/session")
is "${r##*$'\n'}" 401 "a wrong token is refused with 401"
like "$(printf '%s' "${r%$'\n'*}" | jq -r .error.message)" 'this API token is not valid' "the refusal says the token is not valid"
grep -qi '^set-cookie' "$T_DIR/h"
ok $((! $?)) "a refused login sets no cookie"
r=$("${CURL[@]}" -w '\n%{http_code}' -d '{"token": 7}' "$U/v1/session")
is "${r##*$'\n'}" 400 "a token that is not a string is 400"
like "$(printf '%s' "${r%$'\n'*}" | jq -r .error.message)" 'token' "the 400 names the field"

r=$("${CURL[@]}" -D "$T_DIR/h" -c "$T_DIR/jar" -w '\n%{http_code}' -d "{\"token\":\"$SECRET\"}" "$U/v1/session")
is "${r##*$'\n'}" 201 "the right token logs in (201)"
body=${r%$'\n'*}
CSRF=$(printf '%s' "$body" | jq -r .csrf)
like "$CSRF" '^nubo_[0-9a-f]{64}$' "the login answers the session's CSRF token"
is "$(printf '%s' "$body" | jq -r .session.token)" browser "the session names the token that opened it"
cookie=$(grep -i '^set-cookie:' "$T_DIR/h" | tr -d '\r')
like "$cookie" '^[Ss]et-[Cc]ookie: nubo_session=nubo_[0-9a-f]{64}; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict$' \
	"over plain HTTP the cookie is HttpOnly and SameSite=Strict, not Secure"
like "$(t_sql 'SELECT count(*), max(length(hash)) FROM sessions')" '^1\|64$' "the store keeps the session's hash"
cookie_value=$(printf '%s' "$cookie" | sed -E 's/.*nubo_session=([^;]*);.*/\1/')
is "$(t_sql "SELECT count(*) FROM sessions WHERE hash = '$cookie_value'")" 0 "the store never holds the cookie itself"

J=(-b "$T_DIR/jar")
is "$("${CURL[@]}" "${J[@]}" -o /dev/null -w '%{http_code}' "$U/v1/vms")" 200 "with the cookie, GET /v1/vms is 200"
is "$("${CURL[@]}" "${J[@]}" "$U/v1/session" | jq -r .csrf)" "$CSRF" "GET /v1/session gives a reloaded page its CSRF token"
r=$("${CURL[@]}" "${J[@]}" -w '\n%{http_code}' -d '{"name":"tiny","recipe":"tiny"}' "$U/v1/images")
is "${r##*$'\n'}" 403 "a session's POST without the CSRF header is 403"
like "$(printf '%s' "${r%$'\n'*}" | jq -r .error.message)" 'X-CSRF-Token' "the 403 names the header"
is "$(api GET /v1/images | sed 's/^[0-9]* //' | jq '.images | length')" 0 "and nothing was done"
r=$("${CURL[@]}" "${J[@]}" -H "X-CSRF-Token: nubo_$(printf '1%.0s' $(seq 64))" -o /dev/null -w '%{http_code}' \
	-d '{"name":"tiny","recipe":"tiny"}' "$U/v1/images")
is "$r" 403 "a wrong CSRF token is 403 too"
r=$("${CURL[@]}" "${J[@]}" -H "X-CSRF-Token: $CSRF" -w '\n%{http_code}' -d '{"name":"tiny","recipe":"tiny"}' "$U/v1/images")
is "${r##*$'\n'}" 202 "with its CSRF token, the session's POST is accepted"
op=$(printf '%s' "${r%$'\n'*}" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the image is built"
is "$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SECRET" -d '{"name":"c1","type":"nano"}' \
	"$U/v1/vms")" 202 "a bearer token needs no CSRF token (no cookie rides along)"

# Over HTTPS the cookie is Secure as well.
"${CURL[@]}" -D "$T_DIR/h2" -c "$T_DIR/jar2" -o /dev/null -d "{\"token\":\"$SECRET\"}" "$S/v1/session"
like "$(grep -i '^set-cookie:' "$T_DIR/h2" | tr -d '\r')" 'HttpOnly; SameSite=Strict; Secure$' "over HTTPS the cookie is Secure"
is "$("${CURL[@]}" -b "$T_DIR/jar2" -o /dev/null -w '%{http_code}' "$S/v1/vms")" 200 "the HTTPS session works"
is "$(t_sql 'SELECT count(*) FROM sessions')" 2 "two sessions are open"
r=$(api POST /v1/session "{\"token\":\"$SECRET\"}")
is "$(status_of "$r")" 400 "the unix socket has no login (it needs none)"

# --- the serial console ----------------------------------------------------------
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/c1 | jq -e '.state==\"running\"' >/dev/null"
ok $? "VM c1 runs (dry-run)"
vm_id=$(body_of "$(api GET /v1/vms/c1)" | jq -r .id)
r=$("${CURL[@]}" "${J[@]}" -w '\n%{http_code}' "$U/v1/vms/c1/console/tickets" -X POST)
is "${r##*$'\n'}" 403 "a ticket needs the CSRF token too"
ticket_of() { "${CURL[@]}" "${J[@]}" -H "X-CSRF-Token: $CSRF" -X POST "$U/v1/vms/$1/console/tickets"; }
t=$(ticket_of c1)
is "$(printf '%s' "$t" | jq -r .error.code)" conflict "without a console socket (no QEMU in dry-run) a ticket is 409"
like "$(printf '%s' "$t" | jq -r .error.message)" 'VM c1 has no interactive serial console: .*stop and start it' \
	"saying why and what to do"

# A stand-in for QEMU's serial socket: it echoes what it is sent.
sock=$T_STATE/vms/$vm_id/console.sock
printf 'Linux boot message\r\nlogin: ' >"$T_STATE/vms/$vm_id/console.log"
socat "UNIX-LISTEN:$sock,fork" EXEC:cat 2>>"$T_DIR/socat.err" &
T_BG_PIDS+=($!)
wait_for 5 test -S "$sock"
ok $? "a stand-in serial socket listens"
t=$(ticket_of c1)
like "$(printf '%s' "$t" | jq -r .url)" '^/v1/vms/c1/console/ws\?ticket=nubo_[0-9a-f]{64}$' "a ticket comes with its URL"
is "$(printf '%s' "$t" | jq -r .expires_in_s)" 30 "a ticket lasts 30 s"
url=$(printf '%s' "$t" | jq -r .url)
out=$($WS "$HTTP" "$url" --expect 'login: ')
ok $? "the console's recent past (console.log's tail) comes first" "$out"
out=$($WS "$HTTP" "$url")
like "$(printf '%s' "$out" | head -1)" ' 401 ' "a ticket is used up by its first use (401 on the second)"
like "$out" 'a ticket \(\?ticket=\) that is valid, unused and for VM c1' "the 401 says what a ticket must be"
out=$($WS "$HTTP" "/v1/vms/c1/console/ws")
like "$(printf '%s' "$out" | head -1)" ' 401 ' "no ticket, no console"
u1=$(ticket_of c1 | jq -r .url)
u2=$(ticket_of c1 | jq -r .url)
$WS "$HTTP" "$u1" --expect 'marker-42' --timeout 8 >"$T_DIR/viewer1" 2>&1 &
v1=$!
sleep 1
out=$($WS "$HTTP" "$u2" --send 'echo marker-42' --expect 'marker-42' --timeout 5)
ok $? "a viewer's keystrokes reach the console and its output comes back" "$out"
wait "$v1"
ok $? "a second viewer of the same console sees it too" "$(cat "$T_DIR/viewer1")"
# A viewer that stops reading holds up nobody: its output waits in its own
# queue, and once it falls 1 MiB behind it is dropped. One that stalls for
# 4 s within that gets everything once it reads again.
u4=$(ticket_of c1 | jq -r .url)
u5=$(ticket_of c1 | jq -r .url)
$WS "$HTTP" "$u4" --stall 4 --expect 'marker-77' --timeout 10 >"$T_DIR/stalled" 2>&1 &
stalled=$!
sleep 1
out=$($WS "$HTTP" "$u5" --send-bytes 400000 --send 'echo marker-77' --expect 'marker-77' --timeout 10)
ok $? "400 kB of output and a marker reach a viewer beside one that reads nothing" "$(printf '%s' "$out" | tail -c 300)"
wait "$stalled"
ok $? "the viewer that stalled for 4 s then gets all of it, the marker last" "$(tail -c 300 "$T_DIR/stalled")"
# 6 MB, more than the kernel's buffers hold for the stalled viewer: it is
# dropped once 1 MiB behind (not waited for until its socket times out),
# and the other gets all of it.
u6=$(ticket_of c1 | jq -r .url)
u7=$(ticket_of c1 | jq -r .url)
$WS "$HTTP" "$u6" --stall 10 --timeout 1 >/dev/null 2>&1 &
stalled=$!
sleep 1
out=$($WS "$HTTP" "$u7" --send-bytes 6000000 --send 'echo marker-78' --expect 'marker-78' --timeout 30)
ok $? "6 MB of output and a marker reach a viewer beside one that reads nothing" "$(printf '%s' "$out" | tail -c 300)"
grep -q "dropping a viewer that fell 1024 KiB behind" "$T_LOG"
ok $? "the viewer that fell 1 MiB behind is dropped, and nubod says so"
wait "$stalled"
# A 3 MB paste from a viewer that reads nothing meanwhile: it is dropped
# once 1 MiB behind, and the console goes on. (Keystrokes are written apart
# from the guest's output: a guest slow to take them while it prints, here
# the echo, must not stop the reader that drains it.)
u8=$(ticket_of c1 | jq -r .url)
timeout 60 $WS "$HTTP" "$u8" --send-bytes 3000000 --unpaced --timeout 5 >/dev/null 2>&1
u9=$(ticket_of c1 | jq -r .url)
out=$($WS "$HTTP" "$u9" --send 'echo marker-79' --expect 'marker-79' --timeout 10)
ok $? "after a 3 MB paste that was not read, the console still echoes a marker" "$(printf '%s' "$out" | tail -c 300)"
# nubo vm console on a terminal (script gives it one) attaches; Ctrl-] detaches.
out=$( (sleep 1; printf 'cli-marker-9\r'; sleep 1; printf '\035') | timeout 20 script -qec "$NUBO vm console c1" /dev/null)
like "$out" "Connected to VM c1's serial console; detach with Ctrl-\]" "nubo vm console on a terminal attaches"
like "$out" 'cli-marker-9' "what is typed reaches the console and its answer comes back"
like "$out" 'detached from VM c1' "Ctrl-] detaches"
out=$("$NUBO" vm console c1)
like "$out" '^Linux boot message' "in a pipe, nubo vm console prints the log as before"
is "$("$NUBO" vm console c1 --log | head -c 18)" "Linux boot message" "--log prints the log too"

u3=$(ticket_of c1 | jq -r .url)
is "$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Sec-WebSocket-Version: 13" -H 'Connection: Upgrade' \
	-H 'Upgrade: websocket' -H 'Sec-WebSocket-Key: short' "$U$u3")" 400 "a malformed Sec-WebSocket-Key is 400"
r=$(ticket_of nope)
is "$(printf '%s' "$r" | jq -r .error.code)" not_found "a ticket for a VM that does not exist is 404"

# --- logout and revocation ----------------------------------------------------------
is "$("${CURL[@]}" "${J[@]}" -o /dev/null -w '%{http_code}' -X DELETE "$U/v1/session")" 403 \
	"logging out needs the CSRF token"
"${CURL[@]}" "${J[@]}" -D "$T_DIR/h" -o /dev/null -H "X-CSRF-Token: $CSRF" -X DELETE "$U/v1/session"
like "$(grep -i '^set-cookie:' "$T_DIR/h" | tr -d '\r')" 'nubo_session=; Path=/; Max-Age=0' "logout clears the cookie"
is "$("${CURL[@]}" "${J[@]}" -o /dev/null -w '%{http_code}' "$U/v1/vms")" 401 "the logged-out cookie is refused (401)"
is "$(t_sql 'SELECT count(*) FROM sessions')" 1 "its session is gone from the store"
"$NUBO" token delete browser >/dev/null
is "$("${CURL[@]}" -b "$T_DIR/jar2" -o /dev/null -w '%{http_code}' "$S/v1/vms")" 401 \
	"revoking the token ends the sessions it opened"

# nubod's stop closes the console viewers before its listeners go.
url=$(body_of "$(api POST /v1/vms/c1/console/tickets)" | jq -r .url)
joined=$(grep -c 'a viewer joined' "$T_LOG")
$WS "$HTTP" "$url" --timeout 30 --expect never-printed >/dev/null 2>&1 &
ws_pid=$!
T_BG_PIDS+=($ws_pid)
wait_for 5 sh -c "[ \$(grep -c 'a viewer joined' '$T_LOG') -gt $joined ]"
ok $? "a viewer is attached (the ticket came over the unix socket)"
left=$(grep -c 'a viewer left' "$T_LOG")
t0=$SECONDS
nubod_stop
is "$?" 0 "nubod stops cleanly with a console viewer attached"
[ $((SECONDS - t0)) -le 5 ]
ok $? "within 5 s ($((SECONDS - t0)) s)"
[ "$(grep -c 'a viewer left' "$T_LOG")" -gt "$left" ]
ok $? "the viewer was closed first"
