#!/usr/bin/env bash
# API tests for access control: the unix socket's mode and group, the HTTPS
# listener (nubod --listen) with a self-signed certificate, and API tokens:
# every request over TCP without a valid token is refused the same way, a
# revoked token stops working at once, and no secret is ever stored or shown
# after its creation. The CLI is checked over --url with --cacert.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

TLS=$T_DIR/tls
mkdir -p "$TLS"
# cert.pem is for 127.0.0.1; other.pem is a second, unrelated certificate.
for n in cert other; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/$n.key" -out "$TLS/$n.pem" >/dev/null 2>&1
done
chmod 600 "$TLS"/*.key
openssl x509 -in "$TLS/cert.pem" -noout && openssl x509 -in "$TLS/other.pem" -noout
ok $? "openssl makes self-signed certificates"

PORT=$(free_port)
URL=https://127.0.0.1:$PORT

# --- nubod refuses a TCP listener it cannot secure ---
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen 127.0.0.1:$PORT 2>&1)
is "$?" 2 "nubod --listen without --tls-cert/--tls-key exits 2"
like "$out" 'needs --tls-cert FILE and --tls-key FILE' "it says which flags are missing"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" 2>&1)
is "$?" 2 "nubod --listen with a certificate but no key exits 2"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --tls-cert "$TLS/cert.pem" --tls-key "$TLS/cert.key" 2>&1)
is "$?" 2 "--tls-cert and --tls-key without --listen exit 2"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen 127.0.0.1:$PORT \
	--tls-cert "$TLS/cert.pem" --tls-key "$TLS/other.key" 2>&1)
is "$?" 1 "a key that does not match the certificate stops nubod"
like "$out" "--tls-cert $TLS/cert.pem and --tls-key $TLS/other.key do not go together" "the error names both files"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen 127.0.0.1:$PORT \
	--tls-cert "$TLS/cert.key" --tls-key "$TLS/cert.key" 2>&1)
is "$?" 1 "a certificate file that holds no certificate stops nubod"
like "$out" "--tls-cert $TLS/cert.key is not a PEM certificate" "the error names the file"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --listen 127.0.0.1:http-alt \
	--tls-cert "$TLS/cert.pem" --tls-key "$TLS/cert.key" 2>&1)
like "$out" 'the port "http-alt" must be a number from 1 to 65535' "a bad --listen port is named"
[ ! -e "$T_DIR/s2.sock" ]
ok $? "a nubod that refused to start left no socket"

nubod_start --dry-run --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" --tls-key "$TLS/cert.key" ||
	{ ok 1 "nubod starts with --listen"; exit 1; }
ok 0 "nubod starts with --listen and TLS"
like "$(cat "$T_LOG")" "listening on https://127.0.0.1:$PORT" "nubod logs its HTTPS address"

# --- the unix socket: mode 0660, group nubo when it exists ---
is "$(stat -c %a "$T_SOCK")" 660 "the socket's mode is 0660"
if getent group nubo >/dev/null; then
	is "$(stat -c %G "$T_SOCK")" nubo "the socket belongs to group nubo"
else
	is "$(stat -c %G "$T_SOCK")" "$(id -gn)" "without a group nubo the socket keeps nubod's group"
	like "$(cat "$T_LOG")" 'group "nubo" does not exist' "and nubod says so"
fi

# tapi METHOD PATH [BODY] [TOKEN]: over HTTPS; prints "STATUS BODY"
tapi() {
	local out
	out=$(curl -s --cacert "$TLS/cert.pem" -X "$1" ${3:+-d "$3"} ${4:+-H "Authorization: Bearer $4"} \
		-w '\n%{http_code}' "$URL$2")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
# theader PATH: the response headers of an unauthenticated GET
theader() { curl -s --cacert "$TLS/cert.pem" -o /dev/null -D - "$URL$1"; }
token_count() { body_of "$(api GET /v1/tokens)" | jq '.tokens | length'; }

# --- every way of not having a valid token gets the same 401 ---
r=$(tapi GET /v1/vms)
is "$(status_of "$r")" 401 "no token: 401"
is "$(body_of "$r" | jq -r .error.code)" unauthorized "with code unauthorized"
refusal=$(body_of "$r")
like "$(theader /v1/vms | tr -d '\r')" '^WWW-Authenticate: Bearer' "a 401 carries WWW-Authenticate: Bearer"
WRONG=nubo_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
r=$(tapi GET /v1/vms "" "$WRONG")
is "$(status_of "$r")" 401 "a well-formed token nubod never made: 401"
is "$(body_of "$r")" "$refusal" "the answer is the same as without a token"
r=$(tapi GET /v1/vms "" "not-a-token")
is "$(status_of "$r") $(body_of "$r")" "401 $refusal" "a malformed token: the same 401"
r=$(curl -s --cacert "$TLS/cert.pem" -H "Authorization: Basic dXNlcjpwYXNz" -w '\n%{http_code}' "$URL/v1/vms")
is "${r##*$'\n'}" 401 "another scheme (Basic): 401"
is "$(status_of "$(tapi GET /v1/nothing-here)")" 401 "an unknown path over TCP is refused before routing"
r=$(head -c 2000000 /dev/zero | tr '\0' 'a' | curl -s --cacert "$TLS/cert.pem" -X POST --data-binary @- \
	-o /dev/null -w '%{http_code}' "$URL/v1/vms")
is "$r" 401 "a large body without a token is refused with 401, not read"

# --- tokens are made over the socket (trusted) ---
is "$(token_count)" 0 "no token exists at first"
r=$(tapi POST /v1/tokens '{"name":"sneaky"}')
is "$(status_of "$r")" 401 "making a token over TCP without a token: 401"
is "$(token_count)" 0 "and no token was made"
r=$(api POST /v1/tokens '{"name":"ci-bot"}')
is "$(status_of "$r")" 201 "POST /v1/tokens over the socket: 201"
S1=$(body_of "$r" | jq -r .secret)
like "$S1" '^nubo_[0-9a-f]{64}$' "the secret is nubo_ and 64 hex digits"
like "$(body_of "$r" | jq -r .token.id)" '^tok-[0-9a-f]{12}$' "the token has an id"
is "$(body_of "$r" | jq -r .token.last_used_at)" null "a new token was never used"

r=$(tapi GET /v1/vms "" "$S1")
is "$(status_of "$r")" 200 "a valid token: 200"
is "$(body_of "$r" | jq -c .vms)" '[]' "with the API's answer"
r=$(curl -s --cacert "$TLS/cert.pem" -H "authorization: bearer   $S1  " -w '\n%{http_code}' "$URL/v1/types")
is "${r##*$'\n'}" 200 "the scheme is case-insensitive and spaces around the token are allowed"
like "$(body_of "$(api GET /v1/tokens/ci-bot)" | jq -r .last_used_at)" '^20[0-9-]+T' "a used token records when"

# --- token management over TCP with a token ---
r=$(tapi POST /v1/tokens '{"name":"deploy"}' "$S1")
is "$(status_of "$r")" 201 "a token makes another over TCP"
S2=$(body_of "$r" | jq -r .secret)
[ "$S1" != "$S2" ]
ok $? "each token has its own secret"
is "$(status_of "$(tapi POST /v1/tokens '{"name":"deploy"}' "$S1")")" 409 "a duplicate name is 409"
like "$(body_of "$(api POST /v1/tokens '{"name":"deploy"}')")" 'a token named \\"deploy\\" already exists' "the conflict names the token"
r=$(api POST /v1/tokens '{"name":"CI_Bot"}')
is "$(status_of "$r")" 400 "an invalid name is 400"
like "$(body_of "$r" | jq -r .error.message)" 'name "CI_Bot"' "the error names the field and the value"
is "$(status_of "$(api POST /v1/tokens '{}')")" 400 "a missing name is 400"
r=$(api POST /v1/tokens '{"name":"x","secret":"nubo_mine"}')
is "$(status_of "$r")" 400 "a client cannot choose the secret"
like "$(body_of "$r" | jq -r .error.message)" 'unknown field "secret"' "the error names the field"
is "$(token_count)" 2 "two tokens exist"

# --- secrets are never shown again, nor stored ---
H1=$(printf '%s' "$S1" | sha256sum | cut -d' ' -f1)
list=$(body_of "$(tapi GET /v1/tokens "" "$S1")")
is "$(printf '%s' "$list" | jq -r '[.tokens[].name] | join(",")')" "ci-bot,deploy" "GET /v1/tokens lists them by name"
is "$(printf '%s' "$list" | jq -r '[.tokens[] | keys[]] | unique | join(",")')" "created_at,id,last_used_at,name" \
	"a listed token has id, name and times only"
printf '%s' "$list" | grep -qe "$H1" -e "${S1#nubo_}"
ok $((! $?)) "the list holds neither a secret nor a hash"
show=$(body_of "$(tapi GET /v1/tokens/deploy "" "$S1")")
is "$(printf '%s' "$show" | jq -r .name)" deploy "GET /v1/tokens/NAME shows one"
id=$(printf '%s' "$show" | jq -r .id)
is "$(status_of "$(tapi GET /v1/tokens/$id "" "$S1")")" 200 "a token is found by id too"
is "$(status_of "$(tapi GET /v1/tokens/nope "" "$S1")")" 404 "an unknown token is 404"
is "$(t_sql "SELECT hash FROM tokens WHERE name = 'ci-bot'")" "$H1" "the store keeps the secret's SHA-256"
{ t_store_dump; cat "$T_LOG"; } | grep -qa -e "${S1#nubo_}" -e "${S2#nubo_}"
ok $((! $?)) "no secret is in the store's files or nubod's log"

# --- revocation ---
r=$(tapi DELETE /v1/tokens/deploy "" "$S1")
is "$(status_of "$r")" 200 "DELETE /v1/tokens/NAME revokes"
is "$(body_of "$r" | jq -r .token.name)" deploy "and answers with the token"
r=$(tapi GET /v1/vms "" "$S2")
is "$(status_of "$r") $(body_of "$r")" "401 $refusal" "a revoked token: the same 401"
is "$(status_of "$(tapi DELETE /v1/tokens/deploy "" "$S1")")" 404 "revoking it again is 404"
# The first refusal of an interval has a line of its own; the rest are summed
# up, by address and reason, when the interval ends (10 s).
wait_for 12 grep -Eq '→ 401: a token that does not exist or was revoked|127\.0\.0\.1 ×[0-9]+ \([^)]*a token that does not exist or was revoked ×' "$T_LOG"
ok $? "the log (only) says why a request was refused"

# --- the CLI over --url ---
out=$("$NUBO" --url "$URL" --cacert "$TLS/cert.pem" --token "$S1" vm list 2>&1)
is "$?" 0 "nubo --url --cacert --token vm list exits 0"
like "$out" '^No VMs\.' "and shows nubod's (empty) list of VMs"
cidr=$(body_of "$(api GET /v1/networks/default)" | jq -r .cidr)
out=$("$NUBO" --url "$URL" --cacert "$TLS/cert.pem" --token "$S1" network list 2>&1)
like "$out" "default +${cidr//./\\.} " "nubo --url network list shows what nubod holds (default, $cidr)"
out=$("$NUBO" --url "$URL" --cacert "$TLS/cert.pem" --token "$S1" token list 2>&1)
like "$out" '^NAME +ID +AGE +LAST USED' "nubo token list prints a table"
like "$out" 'ci-bot +tok-' "with the token"
printf '%s' "$out" | grep -q "${S1#nubo_}"
ok $((! $?)) "and no secret"
out=$(NUBO_URL=$URL NUBO_TOKEN=$S1 NUBO_CACERT=$TLS/cert.pem "$NUBO" token show ci-bot 2>&1)
like "$out" 'Name: +ci-bot' "NUBO_URL, NUBO_TOKEN and NUBO_CACERT work too"
# A profile holds the same three: URL, a token file and the certificate to trust.
printf '%s\n' "$S1" >"$T_DIR/tls.token"
chmod 600 "$T_DIR/tls.token"
out=$(env -u NUBO_SOCKET "$NUBO" profile add tls --url "$URL" --token-file "$T_DIR/tls.token" --cacert "$TLS/cert.pem" 2>&1)
ok $? "nubo profile add tls --url --token-file --cacert" "$out"
out=$(env -u NUBO_SOCKET "$NUBO" --profile tls network list 2>&1)
like "$out" "default +${cidr//./\\.} " "nubo --profile tls reaches nubod over HTTPS, trusting the profile's cacert"
env -u NUBO_SOCKET "$NUBO" profile add tls-other --url "$URL" --token-file "$T_DIR/tls.token" --cacert "$TLS/other.pem" >/dev/null 2>&1
out=$(env -u NUBO_SOCKET "$NUBO" --profile tls-other network list 2>&1)
like "$out" "cannot trust nubod's certificate at $URL: .*checked against --cacert $TLS/other.pem" \
	"a profile whose cacert did not sign nubod's certificate is refused, naming it"
out=$("$NUBO" --url "$URL" --token "$S1" vm list 2>&1)
is "$?" 1 "without --cacert a self-signed certificate is refused"
like "$out" "cannot trust nubod's certificate at $URL" "the error says the certificate is not trusted"
like "$out" 'give that certificate with --cacert FILE' "and what to do"
out=$("$NUBO" --url "$URL" --cacert "$TLS/other.pem" --token "$S1" vm list 2>&1)
like "$out" "checked against --cacert $TLS/other.pem" "the wrong --cacert is named"
out=$("$NUBO" --url "$URL" --cacert "$TLS/nope.pem" --token "$S1" vm list 2>&1)
like "$out" "cannot use --cacert $TLS/nope.pem" "a missing --cacert file is named"
out=$("$NUBO" --url "$URL" --cacert "$TLS/cert.pem" vm list 2>&1)
is "$?" 1 "without a token the CLI fails"
like "$out" 'needs an API token: give --token T or set NUBO_TOKEN' "and says how to give one"
out=$("$NUBO" --url "$URL" --cacert "$TLS/cert.pem" --token "$S2" vm list 2>&1)
like "$out" 'refused the token: it is wrong or was revoked; check --token or NUBO_TOKEN' "a revoked token: the CLI says to check it"
out=$("$NUBO" --url "http://127.0.0.1:$PORT" --token "$S1" vm list 2>&1)
is "$?" 1 "http:// to the TLS port fails"
like "$out" 'use an https:// URL' "and says to use https://"

out=$("$NUBO" --url "$URL" --cacert "$TLS/cert.pem" --token "$S1" token create laptop 2>&1)
is "$?" 0 "nubo token create works over HTTPS"
S3=$(printf '%s' "$out" | grep -oE 'nubo_[0-9a-f]{64}')
is "$(printf '%s\n' "$S3" | wc -l)" 1 "it prints the secret once"
like "$out" 'shown this once only' "and warns that it will not be shown again"
is "$(status_of "$(tapi GET /v1/host "" "$S3")")" 200 "the printed secret works"
S4=$("$NUBO" token create script --json | jq -r .secret)
like "$S4" '^nubo_[0-9a-f]{64}$' "token create --json gives the secret to scripts (over the socket, no token)"
out=$("$NUBO" token delete laptop 2>&1)
like "$out" 'Revoked token laptop' "nubo token delete revokes"
is "$(status_of "$(tapi GET /v1/host "" "$S3")")" 401 "and the secret stops working"
out=$("$NUBO" token create ci-bot 2>&1)
is "$?" 1 "a duplicate name fails in the CLI"
like "$out" 'a token named "ci-bot" already exists' "with the API's message"

# --- tokens survive a restart; revoked ones stay revoked ---
nubod_stop
nubod_start --dry-run --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" --tls-key "$TLS/cert.key" ||
	{ ok 1 "nubod restarts"; exit 1; }
is "$(status_of "$(tapi GET /v1/vms "" "$S1")")" 200 "after a restart the token still works"
is "$(status_of "$(tapi GET /v1/vms "" "$S2")")" 401 "and the revoked one is still refused"

nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
grep -Eq "Sanitizer|runtime error" "$T_LOG"
ok $((! $?)) "no sanitizer report in nubod's log"
