#!/usr/bin/env bash
# The OpenAPI document (src/api/openapi.json) against the real thing:
# - GET /v1/openapi.json serves the repository's bytes, over the unix socket
#   and, with a token only, over HTTPS;
# - Redocly CLI lints it (tools/openapi, installed by scripts/install-deps.sh)
#   and fails a broken copy;
# - every json example of docs/api.md, load-balancers.md, usage.md and console.md validates
#   against the schema its marker names (tests/api/openapi_check.py), and a
#   wrong example is caught;
# - the answers of a dry-run nubod to calls on every kind of resource, errors
#   included, are documented (path, method, status, content type) and
#   validate against their schemas, and so do the bodies sent.
# That every routed path is in the document and the reverse is checked by the
# unit test tests/unit/test_openapi.c, on the route tables themselves.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPEC=$ROOT/src/api/openapi.json
CHECK=$ROOT/tests/api/openapi_check.py
REDOCLY=$ROOT/tools/openapi/node_modules/.bin/redocly
PY=/usr/bin/python3   # Debian's, with python3-jsonschema
RECORDS=$T_DIR/records.jsonl
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

# --- the document is valid OpenAPI 3.1 ----------------------------------------
if [ -x "$REDOCLY" ]; then
	out=$("$REDOCLY" lint --config "$ROOT/tools/openapi/redocly.yaml" "$SPEC" 2>&1)
	ok $? "redocly lint (recommended-strict) passes src/api/openapi.json" "$out"
	# a copy with a reference to nothing and an operation without responses
	jq '.paths["/v1/vms"].get.responses["200"].content["application/json"].schema["$ref"] = "#/components/schemas/Nothing"
	    | del(.paths["/v1/types"].get.responses)' "$SPEC" >"$T_DIR/broken.json"
	out=$("$REDOCLY" lint --config "$ROOT/tools/openapi/redocly.yaml" "$T_DIR/broken.json" 2>&1)
	is "$?" 1 "redocly lint fails a broken copy"
	like "$out" "Can't resolve \\\$ref" "it names the dangling reference"
else
	ok 1 "Redocly CLI is installed in tools/openapi (scripts/install-deps.sh runs npm ci there)"
fi
"$PY" -c 'import jsonschema' 2>/dev/null
ok $? "python3-jsonschema is installed (scripts/install-deps.sh)"

# --- examples in the docs -------------------------------------------------------
# check_lines FILE: one check per line of openapi_check.py's output
check_lines() {
	local verdict what why
	while IFS=$'\t' read -r verdict what why; do
		case $verdict in
		ok) ok 0 "$what" ;;
		fail) ok 1 "$what" "$why" ;;
		esac
	done <"$1"
}
"$PY" "$CHECK" examples "$SPEC" "$ROOT/docs/api.md" "$ROOT/docs/load-balancers.md" "$ROOT/docs/usage.md" "$ROOT/docs/console.md" "$ROOT/docs/metrics.md" \
	>"$T_DIR/examples.out" 2>&1
ok $? "openapi_check.py reads the docs' examples" "$(cat "$T_DIR/examples.out")"
check_lines "$T_DIR/examples.out"
n=$(awk -F'\t' '$1 == "count" {print $2}' "$T_DIR/examples.out")
[ "${n:-0}" -ge 20 ]
ok $? "the docs hold the 20 or more json examples checked above (found ${n:-none})"

# a wrong example, an unmarked one and a marker of nothing are each caught
cat >"$T_DIR/wrong.md" <<'EOF'
<!-- openapi: GET /v1/vms/{vm} 200 -->
```json
{"id": "vm-1", "name": "web1", "vcpus": "one"}
```

```json
{"name": "x"}
```

<!-- openapi: GET /v1/nothing 200 -->
```json
{}
```
EOF
"$PY" "$CHECK" examples "$SPEC" "$T_DIR/wrong.md" >"$T_DIR/wrong.out" 2>&1
is "$(cut -f1 "$T_DIR/wrong.out" | tr '\n' ' ')" "fail fail fail count " "three bad examples, three failures"
like "$(sed -n 1p "$T_DIR/wrong.out")" "vcpus.*is not of type 'integer'|'[a-z_]+' is a required property" \
	"a field of the wrong type or a missing one is named"
like "$(sed -n 2p "$T_DIR/wrong.out")" "without a marker" "an unmarked block is refused"
like "$(sed -n 3p "$T_DIR/wrong.out")" "no operation GET /v1/nothing" "a marker of no operation is refused"

# --- nubod serves it --------------------------------------------------------------
TLS=$T_DIR/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/cert.key" -out "$TLS/cert.pem" >/dev/null 2>&1
chmod 600 "$TLS/cert.key"
PORT=$(free_port)
: >"$T_DIR/qboot.rom"
printf '{"qboot": "%s"}\n' "$T_DIR/qboot.rom" >"$T_DIR/nubod.json"
nubod_start --dry-run --config "$T_DIR/nubod.json" --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" \
	--tls-key "$TLS/cert.key" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run, with HTTPS"

head=$(curl -s --unix-socket "$T_SOCK" -D - -o "$T_DIR/served.json" http://nubo/v1/openapi.json)
like "$head" '^HTTP/1.1 200' "GET /v1/openapi.json answers 200 on the unix socket"
like "$head" $'Content-Type: application/json\r' "as application/json"
cmp -s "$T_DIR/served.json" "$SPEC"
ok $? "the bytes served are src/api/openapi.json's"
is "$(jq -r .openapi "$T_DIR/served.json")" 3.1.0 "it is an OpenAPI 3.1 document"

code=$(curl -s --cacert "$TLS/cert.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/v1/openapi.json")
is "$code" 401 "over HTTPS without a token it is 401, like every path"
secret=$(curl -s --unix-socket "$T_SOCK" -d '{"name":"oa-reader"}' http://nubo/v1/tokens | jq -r .secret)
curl -s --cacert "$TLS/cert.pem" -H "Authorization: Bearer $secret" -o "$T_DIR/served-tls.json" \
	"https://127.0.0.1:$PORT/v1/openapi.json"
cmp -s "$T_DIR/served-tls.json" "$SPEC"
ok $? "with a token it serves the same bytes over HTTPS"
"$NUBO" openapi >"$T_DIR/cli.json"
ok $? "nubo openapi succeeds"
cmp -s "$T_DIR/cli.json" "$SPEC"
ok $? "nubo openapi prints the document as nubod serves it"
NUBO_TOKEN=$secret "$NUBO" --url "https://127.0.0.1:$PORT" --cacert "$TLS/cert.pem" openapi | cmp -s - "$SPEC"
ok $? "nubo openapi over --url with a token prints it too"
out=$(NUBO_TOKEN= NUBO_SOCKET= "$NUBO" --url "https://127.0.0.1:$PORT" --cacert "$TLS/cert.pem" openapi 2>&1)
is "$?" 1 "nubo openapi over --url without a token fails"
like "$out" "a valid API token is required" "and says a token is required"

# --- real answers against the document ---------------------------------------------
# rec METHOD PATH [BODY]: as lib.sh's api ("STATUS BODY"), and records the
# request and the answer for openapi_check.py responses. REC_TO=(curl's
# arguments for another way in) and REC_URL send it there instead; a BODY
# that starts with @ is read from that file.
REC_TO=(--unix-socket "$T_SOCK")
REC_URL=http://nubo
rec() {
	local out tail status type body
	out=$(curl -s "${REC_TO[@]}" -X "$1" ${3:+--data-binary "$3"} -w '\n%{http_code} %{content_type}' "$REC_URL$2")
	tail=${out##*$'\n'}
	body=${out%$'\n'*}
	status=${tail%% *}
	type=${tail#* }
	printf '%s' "$body" >"$T_DIR/rec-body"   # too long for an argument (the document)
	local request=${3:-}
	[ "${request:0:1}" = @ ] && request=   # a file: not checked as a request
	jq -cn --arg m "$1" --arg p "$2" --argjson s "$status" --arg t "$type" --rawfile b "$T_DIR/rec-body" \
		--arg r "$request" \
		'{method: $m, path: $p, status: $s, type: $t, body: $b, request: (if $r == "" then null else $r end)}' \
		>>"$RECORDS"
	printf '%s %s' "$status" "$body"
}
# done_op ANSWER: waits for the operation of an answer to end
done_op() {
	local op
	op=$(body_of "$1" | jq -r '.operation.id // empty')
	[ -n "$op" ] && wait_for 15 op_ended "$op"
}
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1nubotestkey test@nubo'

rec GET /v1/types >/dev/null
rec GET /v1/host >/dev/null
rec GET /v1/version >/dev/null
rec GET /v1/openapi.json >/dev/null
rec GET /v1/nowhere >/dev/null || true   # not documented: see below
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T_DIR/big.json"
is "$(status_of "$(rec POST /v1/vms "@$T_DIR/big.json")")" 413 "a body over 1 MiB is 413"
REC_TO=(--cacert "$TLS/cert.pem")
REC_URL=https://127.0.0.1:$PORT
is "$(status_of "$(rec GET /v1/vms)")" 401 "over HTTPS without a token: 401"
REC_TO=(--cacert "$TLS/cert.pem" -H "Authorization: Bearer $secret")
is "$(status_of "$(rec GET /v1/host)")" 200 "over HTTPS with a token: 200"
REC_TO=(--unix-socket "$T_SOCK")
REC_URL=http://nubo

r=$(rec POST /v1/images '{"name":"tiny","recipe":"tiny"}')
is "$(status_of "$r")" 202 "an image build is accepted"
done_op "$r"
op=$(body_of "$r" | jq -r .operation.id)
r=$(rec GET "/v1/operations/$op")
rev=$(body_of "$r" | jq -r .revision)
rec GET "/v1/operations/$op?wait=0.2&after=$rev" >/dev/null
rec GET "/v1/operations/$op?after=$rev" >/dev/null
rec GET /v1/operations/op-000000000000 >/dev/null
rec GET /v1/images >/dev/null
rec GET /v1/images/tiny >/dev/null
rec POST /v1/images '{"name":"tiny","recipe":"tiny"}' >/dev/null
rec POST /v1/images '{"name":"x","recipe":"nope"}' >/dev/null
# an upload: the image file as the body, its name and sha256 in the query
qemu-img create -q -f qcow2 "$T_DIR/up.qcow2" 16M
REC_TO=(--unix-socket "$T_SOCK" -H 'Content-Type: application/octet-stream')
r=$(rec POST "/v1/images?name=oa-up&sha256=$(sha256sum "$T_DIR/up.qcow2" | cut -d' ' -f1)" @"$T_DIR/up.qcow2")
done_op "$r"
rec POST "/v1/images?name=oa-up2&sha256=$(printf '0%.0s' {1..64})" @"$T_DIR/up.qcow2" >/dev/null   # 422
REC_TO=(--unix-socket "$T_SOCK")

rec POST /v1/networks '{"name":"oa-back","cidr":"10.219.3.0/24","nat":false}' >/dev/null
rec POST /v1/networks '{"name":"oa-back","cidr":"10.219.3.0/24"}' >/dev/null
rec POST /v1/networks '{"name":"oa-bad","cidr":"8.8.8.0/24"}' >/dev/null
rec GET /v1/networks >/dev/null
rec GET /v1/networks/oa-back >/dev/null

rec POST /v1/firewalls '{"name":"oa-web","description":"the web tier"}' >/dev/null
rec POST /v1/firewalls/oa-web/rules '{"proto":"tcp","port":80}' >/dev/null
r=$(rec POST /v1/firewalls/oa-web/rules '{"proto":"tcp","port":"8000-8100","from":"192.168.0.0/16"}')
rule=$(body_of "$r" | jq -r .id)
rec POST /v1/firewalls/oa-web/rules '{"proto":"icmp","from_firewall":"oa-web"}' >/dev/null
rec POST /v1/firewalls/oa-web/rules '{"proto":"tcp","port":"x"}' >/dev/null
rec GET /v1/firewalls >/dev/null
rec GET /v1/firewalls/oa-web >/dev/null
rec GET /v1/firewalls/oa-web/rules >/dev/null
rec DELETE "/v1/firewalls/oa-web/rules/$rule" >/dev/null

r=$(rec POST /v1/vms "{\"name\":\"oa1\",\"type\":\"nano\",\"ssh_keys\":[\"$KEY\"],\"firewalls\":[\"oa-web\",\"default\"],
	\"nics\":[{\"network\":\"default\"},{\"network\":\"oa-back\",\"ip\":\"10.219.3.10\"}],\"user_data\":\"#!/bin/sh\\n\"}")
is "$(status_of "$r")" 202 "a VM is accepted"
done_op "$r"
rec POST /v1/vms '{"name":"oa1"}' >/dev/null
rec POST /v1/vms '{"name":"oa2","colour":"red"}' >/dev/null
rec POST /v1/vms '{"name":"oa2","type":"huge"}' >/dev/null
rec POST /v1/vms '{"name":"oa2","type":"large","max_type":"large"}' >/dev/null
rec GET /v1/vms >/dev/null
rec GET '/v1/vms?limit=1' >/dev/null
rec GET '/v1/vms?limit=0' >/dev/null
rec GET /v1/vms/oa1 >/dev/null
rec GET /v1/vms/nope >/dev/null
rec GET /v1/vms/BAD >/dev/null
rec GET /v1/vms/oa1/console >/dev/null
rec PUT /v1/vms/oa1/firewalls '{"firewalls":["default"]}' >/dev/null
rec POST /v1/vms/oa1/forwards '{"ports":"18931:80"}' >/dev/null
rec POST /v1/vms/oa1/forwards '{"ports":"18932:53/udp"}' >/dev/null
rec GET /v1/vms/oa1/forwards >/dev/null
rec DELETE /v1/vms/oa1/forwards/18931 >/dev/null
rec DELETE /v1/vms/oa1/forwards/18932/udp >/dev/null
rec DELETE /v1/vms/oa1/forwards/18933 >/dev/null
rec POST /v1/vms/oa1/reboot '{"force":true}' >/dev/null
r=$(rec POST /v1/vms/oa1/stop '{"force":true}')
done_op "$r"
rec POST /v1/vms/oa1/stop >/dev/null
rec POST /v1/vms/oa1/resize '{"type":"micro"}' >/dev/null
rec POST /v1/vms/oa1/resize '{}' >/dev/null
rec POST /v1/vms/oa1/move '{"to":"nope"}' >/dev/null
rec POST /v1/vms/oa1/move '{}' >/dev/null

r=$(rec POST /v1/volumes '{"name":"oa-data","size":"1G"}')
done_op "$r"
r=$(rec POST /v1/volumes/oa-data/attach '{"vm":"oa1"}')
done_op "$r"
rec POST /v1/volumes/oa-data/attach '{"vm":"oa1"}' >/dev/null
rec GET /v1/volumes >/dev/null
rec GET /v1/volumes/oa-data >/dev/null
r=$(rec POST /v1/volumes/oa-data/detach)
done_op "$r"
rec POST /v1/volumes/oa-data/detach '{}' >/dev/null

r=$(rec POST /v1/snapshots '{"vm":"oa1","name":"oa-snap"}')
done_op "$r"
r=$(rec POST /v1/snapshots '{"volume":"oa-data","name":"oa-vsnap"}')
done_op "$r"
rec POST /v1/snapshots '{"vm":"oa1","volume":"oa-data"}' >/dev/null
rec GET /v1/snapshots >/dev/null
rec GET /v1/snapshots/oa-snap >/dev/null
r=$(rec POST /v1/vms/oa1/restore '{"snapshot":"oa-snap"}')
done_op "$r"
r=$(rec POST /v1/vms/oa1/start)
done_op "$r"
rec POST /v1/vms/oa1/start '{}' >/dev/null

# the web console's session (over TCP only) and a serial console ticket
rec POST /v1/session '{"token":"nubo_x"}' >/dev/null   # the unix socket has no login: 400
rec GET /v1/session >/dev/null                         # nor a session: 404
rec DELETE /v1/session >/dev/null
REC_TO=(--cacert "$TLS/cert.pem" -c "$T_DIR/jar" -b "$T_DIR/jar")
REC_URL=https://127.0.0.1:$PORT
r=$(rec POST /v1/session "{\"token\":\"$secret\"}")
is "$(status_of "$r")" 201 "a console session opens over HTTPS"
rec POST /v1/session '{"token":"nubo_0000000000000000000000000000000000000000000000000000000000000000"}' >/dev/null
csrf=$(body_of "$(rec GET /v1/session)" | jq -r .csrf)
is "$(status_of "$(rec POST /v1/vms/oa1/console/tickets)")" 403 "without its CSRF token a session's POST is 403"
REC_TO+=(-H "X-CSRF-Token: $csrf")
is "$(status_of "$(rec POST /v1/vms/oa1/console/tickets)")" 409 "no console socket (dry-run): 409"
sock=$T_STATE/vms/$(body_of "$(api GET /v1/vms/oa1)" | jq -r .id)/console.sock
socat "UNIX-LISTEN:$sock,fork" EXEC:cat 2>/dev/null &   # a stand-in for QEMU's serial socket
T_BG_PIDS+=($!)
wait_for 5 test -S "$sock"
is "$(status_of "$(rec POST /v1/vms/oa1/console/tickets)")" 201 "with a console socket: a ticket"
kill "${T_BG_PIDS[-1]}"
rec POST /v1/vms/nope/console/tickets >/dev/null
is "$(status_of "$(rec DELETE /v1/session)")" 200 "the session closes"
REC_TO=(--unix-socket "$T_SOCK")
REC_URL=http://nubo

rec POST /v1/lbs '{"name":"oa-lb","listen":["80","443:8443"],"targets":["oa1"],"check":"http:/healthz","drain":"10s"}' >/dev/null
rec POST /v1/lbs '{"name":"oa-lb2"}' >/dev/null
rec GET /v1/lbs >/dev/null
rec GET /v1/lbs/oa-lb >/dev/null
rec PATCH /v1/lbs/oa-lb '{"drain":"5s"}' >/dev/null
rec PATCH /v1/lbs/oa-lb '{"drain":"soon"}' >/dev/null
rec POST /v1/lbs/oa-lb/targets '{"target":"oa1"}' >/dev/null
rec DELETE /v1/lbs/oa-lb/targets/oa1 >/dev/null
rec POST /v1/lbs/oa-lb/targets '{"target":"oa1:8080"}' >/dev/null
rec DELETE /v1/lbs/oa-lb >/dev/null

rec POST /v1/groups '{"name":"oa-grp","type":"nano","min":1,"max":2,"target_cpu":60,"grace":"1s"}' >/dev/null
rec POST /v1/groups '{"name":"oa-grp2","min":3,"max":2}' >/dev/null
rec GET /v1/groups >/dev/null
rec PATCH /v1/groups/oa-grp '{"desired":2}' >/dev/null
oa_member() { body_of "$(api GET /v1/groups/oa-grp)" | jq -re '.members[] | select(.vm_id != "") | .name' | head -1; }
wait_for 15 oa_member >/dev/null
m=$(oa_member)
rec GET /v1/groups/oa-grp >/dev/null
is "$(status_of "$(rec POST "/v1/vms/$m/protect")")" 200 "a group's VM is protected"
rec DELETE "/v1/vms/$m/protect" >/dev/null
rec POST /v1/vms/oa1/protect >/dev/null
# after the member's calls: a rolling update replaces members
rec POST /v1/groups/oa-grp/update '{"image":"nope"}' >/dev/null
rec POST /v1/groups/oa-grp/update '{"type":"small"}' >/dev/null
is "$(status_of "$(rec DELETE /v1/groups/oa-grp)")" 202 "a group is deleted"
wait_for 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $T_SOCK http://nubo/v1/groups/oa-grp)\" = 404 ]"
ok $? "with its VMs"

rec POST /v1/tokens '{"name":"oa-bot"}' >/dev/null
rec POST /v1/tokens '{"name":"oa-bot"}' >/dev/null
rec GET /v1/tokens >/dev/null
rec GET /v1/tokens/oa-bot >/dev/null
rec DELETE /v1/tokens/oa-bot >/dev/null

DOC='{"stack":"oa-stack","networks":{"oa-snet":{"cidr":"10.219.4.0/24","nat":false}},
 "firewalls":{"oa-sfw":{"rules":[{"proto":"tcp","port":22,"from":"0.0.0.0/0"}]}},
 "vms":{"oa-svm":{"type":"nano","networks":["oa-snet"],"firewalls":["oa-sfw"],"user_data":"echo ${vm.oa1x.ip}"}}}'
rec POST /v1/stacks/oa-stack/plan "{\"document\":$DOC}" >/dev/null   # a reference to no VM: 4xx
DOC=${DOC/\$\{vm.oa1x.ip\}/hello}
r=$(rec POST /v1/stacks/oa-stack/plan "{\"document\":$DOC}")
is "$(status_of "$r")" 200 "a stack is planned"
r=$(rec POST /v1/stacks/oa-stack/lock "{\"document\":$DOC}")
lease=$(body_of "$r" | jq -r .lease)
rec POST /v1/stacks/oa-stack/lock "{\"document\":$DOC}" >/dev/null
steps=$(body_of "$r" | jq -c '.plan.steps[]')
applied=0
while read -r step; do
	[ -n "$step" ] || continue
	res=$(jq -r .resource <<<"$step")
	phase=$(jq -r .phase <<<"$step")
	for _ in $(seq 1 50); do
		r=$(rec POST /v1/stacks/oa-stack/apply "{\"document\":$DOC,\"lease\":\"$lease\",\"resource\":\"$res\",\"phase\":\"$phase\"}")
		[ "$(body_of "$r" | jq -r .done)" = true ] && { applied=$((applied + 1)); break; }
		[ "$(status_of "$r")" = 200 ] || break
		sleep 0.2
	done
done <<<"$steps"
is "$applied" 3 "the stack's three steps are applied"
rec POST /v1/stacks/oa-stack/unlock "{\"lease\":\"$lease\"}" >/dev/null
rec POST /v1/stacks/oa-stack/unlock '{"lease":"nope"}' >/dev/null
rec GET /v1/stacks >/dev/null
rec GET /v1/stacks/oa-stack >/dev/null
rec GET /v1/stacks/oa-none >/dev/null
rec POST /v1/stacks/oa-stack/adopt '{"resource":"network/oa-back"}' >/dev/null
rec POST /v1/stacks/oa-stack/adopt '{"resource":"network/oa-back"}' >/dev/null

host=$(body_of "$(rec GET /v1/host)" | jq -r .name)
rec GET /v1/hosts >/dev/null
rec GET "/v1/hosts/$host" >/dev/null
rec GET /v1/hosts/nope >/dev/null
rec POST "/v1/hosts/$host/drain" >/dev/null
rec POST "/v1/hosts/$host/drain" '{"move":true}' >/dev/null   # one host: nowhere to move to
rec POST "/v1/hosts/$host/undrain" >/dev/null
rec DELETE "/v1/hosts/$host" >/dev/null   # it beats and holds VMs: 409

rec GET /v1/usage >/dev/null
rec GET '/v1/usage?by=type&from=2026-01-01' >/dev/null
rec GET '/v1/usage?since=2026-01-01' >/dev/null
rec GET /v1/budget >/dev/null
rec PUT /v1/budget '{"monthly":50}' >/dev/null
rec PUT /v1/budget '{"monthly":-1}' >/dev/null
rec PUT /v1/budget '{"monthly":null}' >/dev/null

rec GET /v1/vms/oa1/stats >/dev/null
rec GET '/v1/vms/oa1/stats?since=2h&step=10m' >/dev/null
rec GET '/v1/vms/oa1/stats?step=3' >/dev/null
rec GET /v1/vms/oa-none/stats >/dev/null
rec GET /v1/vms/oa1/idle-stop >/dev/null
rec PUT /v1/vms/oa1/idle-stop '{"after":"30m","cpu":"5%","net_bps":2048}' >/dev/null
rec PUT /v1/vms/oa1/idle-stop '{"after":"1s"}' >/dev/null
rec DELETE /v1/vms/oa1/idle-stop >/dev/null
rec GET /metrics >/dev/null

rec GET '/v1/events?limit=5' >/dev/null
rec GET '/v1/events?after=1&kind=vm&name=oa1&wait=0' >/dev/null
rec GET '/v1/events?kind=bogus' >/dev/null

r=$(rec DELETE /v1/snapshots/oa-vsnap)
done_op "$r"
r=$(rec DELETE /v1/volumes/oa-data)
done_op "$r"
rec DELETE /v1/firewalls/oa-web >/dev/null
r=$(rec DELETE /v1/vms/oa1)
done_op "$r"
rec DELETE /v1/vms/oa1 >/dev/null
rec DELETE /v1/networks/default >/dev/null
rec DELETE /v1/images/tiny >/dev/null
rec DELETE /v1/images/oa-none >/dev/null

# GET /v1/nowhere is in no operation: the check says so (it is an error of
# the router, in the Error shape, which the next check reads).
is "$(jq -r 'select(.path == "/v1/nowhere") | "\(.status) \(.body | fromjson | .error.code)"' "$RECORDS")" \
	"404 not_found" "an unknown path is 404 in the error shape"
jq -c 'select(.path != "/v1/nowhere")' "$RECORDS" >"$T_DIR/routed.jsonl"
"$PY" "$CHECK" responses "$SPEC" "$T_DIR/routed.jsonl" >"$T_DIR/responses.out" 2>&1
ok $? "openapi_check.py reads the answers" "$(cat "$T_DIR/responses.out")"
check_lines "$T_DIR/responses.out"
ops=$(awk -F'\t' '$1 == "ok" {split($2, a, " → "); print a[1]}' "$T_DIR/responses.out" | sort -u | wc -l)
all=$(jq '[.paths[] | keys[] | select(. != "parameters")] | length' "$SPEC")
[ "$ops" -eq "$all" ]
ok $? "the answers cover every operation of the document ($ops of $all; an operation below needs a call above)" \
	"$(comm -13 <(awk -F'\t' '$1 == "ok" {split($2, a, " → "); print a[1]}' "$T_DIR/responses.out" | sort -u) \
		<(jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | select(. != "parameters") | "\(ascii_upcase) \($p)"' "$SPEC" | sort -u))"

# and the check can fail: a field the document does not know, a status it
# does not list, and a request body with a field it does not know
jq -c 'select(.path == "/v1/vms/oa1" and .method == "GET") | .body |= (fromjson | .colour = "red" | tojson)' \
	"$RECORDS" | head -1 >"$T_DIR/wrong.jsonl"
jq -cn '{method: "GET", path: "/v1/types", status: 418, type: "application/json", body: "{}", request: null}' \
	>>"$T_DIR/wrong.jsonl"
jq -cn '{method: "POST", path: "/v1/tokens", status: 201, type: "application/json", request: "{\"name\":\"a\",\"x\":1}",
	body: "{\"token\":{\"id\":\"tok-1\",\"name\":\"a\",\"created_at\":\"…\",\"last_used_at\":null},\"secret\":\"nope\"}"}' \
	>>"$T_DIR/wrong.jsonl"
"$PY" "$CHECK" responses "$SPEC" "$T_DIR/wrong.jsonl" >"$T_DIR/wrong-resp.out" 2>&1
is "$(cut -f1 "$T_DIR/wrong-resp.out" | tr '\n' ' ')" "fail fail fail " "three wrong answers, three failures"
like "$(sed -n 1p "$T_DIR/wrong-resp.out")" "Additional properties are not allowed \('colour'" "an unknown field is named"
like "$(sed -n 2p "$T_DIR/wrong-resp.out")" "status 418 is not documented" "an undocumented status is named"
like "$(sed -n 3p "$T_DIR/wrong-resp.out")" "request: .*'x' was unexpected.*secret.*does not match" \
	"a wrong request body and a wrong secret are named"
