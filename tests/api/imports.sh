#!/usr/bin/env bash
# API tests for image imports from a file on nubod's host (issue 12, part 1):
# over TCP a file is imported only from a folder nubod's configuration names
# in import_dirs, reached without a link out of it; over the unix socket the
# caller must be able to read the file as itself (SO_PEERCRED), so a local
# user cannot have root's files copied into an image. Host in dry-run: what
# is checked is the answer to the request, before anything is copied.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

TLS=$T_DIR/tls
mkdir -p "$TLS" "$T_DIR/imports/sub" "$T_DIR/private"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/key.pem" -out "$TLS/cert.pem" >/dev/null 2>&1
chmod 600 "$TLS/key.pem"
for p in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$p" | grep -q . || break; done
PORT=$p
URL=https://127.0.0.1:$PORT

# A root-only secret outside any import folder, an image inside one, and
# links that lead out of it.
echo "root only" >"$T_DIR/private/secret" && chmod 600 "$T_DIR/private/secret"
head -c 1M /dev/zero >"$T_DIR/imports/sub/disk.raw" && chmod 644 "$T_DIR/imports/sub/disk.raw"
ln -s "$T_DIR/private/secret" "$T_DIR/imports/link-out"
ln -s sub/disk.raw "$T_DIR/imports/link-in"
head -c 1M /dev/zero >"$T_DIR/world.raw" && chmod 644 "$T_DIR/world.raw"

start() { # start [import_dirs JSON]
	printf '{%s}\n' "${1:+\"import_dirs\": $1}" >"$T_DIR/nubod.json"
	nubod_start --dry-run --config "$T_DIR/nubod.json" --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" \
		--tls-key "$TLS/key.pem"
}
# tapi METHOD PATH BODY: over HTTPS with the token
tapi() {
	local out
	out=$(curl -s --cacert "$TLS/cert.pem" -X "$1" -d "$3" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' "$URL$2")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
msg_of() { body_of "$1" | jq -r .error.message; }

import() { printf '{"name":"img%d","file":"%s"}' "$RANDOM$RANDOM" "$1"; }

# --- over TCP, without import_dirs: no file imports at all ---
start || { ok 1 "nubod starts"; exit 1; }
TOKEN=$(body_of "$(api POST /v1/tokens '{"name":"imp"}')" | jq -r .secret)
r=$(tapi POST /v1/images "$(import "$T_DIR/private/secret")")
is "$(status_of "$r")" 400 "over TCP, importing a root-only file is refused"
like "$(msg_of "$r")" 'import_dirs' "the error says that import_dirs would allow file imports"
r=$(tapi POST /v1/images "$(import "$T_DIR/world.raw")")
is "$(status_of "$r")" 400 "so is any file, without import_dirs"
r=$(tapi POST /v1/images "{\"name\":\"k1\",\"url\":\"http://127.0.0.1:1/x.raw\",\"boot\":\"direct\",\"kernel\":\"$T_DIR/private/secret\"}")
is "$(status_of "$r")" 400 "a kernel file is held to the same rule"
is "$(body_of "$(api GET /v1/images)" | jq '.images | length')" 0 "no image was recorded"
nubod_stop

# --- over TCP, with import_dirs ---
start "[\"$T_DIR/imports\"]" || { ok 1 "nubod starts with import_dirs"; exit 1; }
TOKEN=$(body_of "$(api POST /v1/tokens '{"name":"imp2"}')" | jq -r .secret)
r=$(tapi POST /v1/images "$(import "$T_DIR/imports/sub/disk.raw")")
is "$(status_of "$r")" 202 "a file inside import_dirs is imported"
r=$(tapi POST /v1/images "$(import "$T_DIR/imports/link-in")")
is "$(status_of "$r")" 202 "so is one reached through a link that stays inside"
is "$(body_of "$r" | jq -r .image.source)" "$T_DIR/imports/sub/disk.raw" "and the image records where the link led"
r=$(tapi POST /v1/images "$(import "$T_DIR/imports/link-out")")
is "$(status_of "$r")" 400 "a link out of import_dirs is refused"
like "$(msg_of "$r")" "is not inside import_dirs" "the error names the rule"
r=$(tapi POST /v1/images "$(import "$T_DIR/imports/../private/secret")")
is "$(status_of "$r")" 400 "a path that climbs out with .. is refused"
r=$(tapi POST /v1/images "$(import "$T_DIR/private/secret")")
is "$(status_of "$r")" 400 "a path outside import_dirs is refused"
r=$(tapi POST /v1/images "$(import "$T_DIR/importsX/disk.raw")")
is "$(status_of "$r")" 400 "a folder whose name only starts like an import folder is outside it"

# --- over the unix socket: the caller's own permissions ---
r=$(api POST /v1/images "$(import "$T_DIR/private/secret")")
is "$(status_of "$r")" 202 "root on the unix socket imports a root-only file"
qemu-img create -q -f vmdk "$T_DIR/c.vmdk" 16M
r=$(api POST /v1/images "$(import "$T_DIR/c.vmdk")")
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 op_ended "$op"
like "$(body_of "$(api GET "/v1/operations/$op")" | jq -r .error)" "$T_DIR/c.vmdk is a vmdk image" \
	"a file of another format fails its import, and the error names the file as given"
if getent group nubo >/dev/null && [ "$(stat -c %G "$T_SOCK")" = nubo ]; then
	# nobody, given group nubo for this process only (nothing in /etc changes)
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --groups="$(getent group nubo | cut -d: -f3)" "$@"; }
	chmod 755 "$T_DIR/private"
	out=$(as_nobody curl -s --unix-socket "$T_SOCK" -d "$(import "$T_DIR/private/secret")" -w '\n%{http_code}' http://nubo/v1/images)
	is "${out##*$'\n'}" 422 "a local user (nobody, in group nubo) cannot import a file it cannot read"
	like "${out%$'\n'*}" "cannot be read by uid 65534" "the error names the caller"
	out=$(as_nobody curl -s --unix-socket "$T_SOCK" -d "$(import "$T_DIR/world.raw")" -w '\n%{http_code}' http://nubo/v1/images)
	is "${out##*$'\n'}" 202 "it can import a file it can read"

	# A link swapped between a file nobody may read and one it may, as fast
	# as it goes, while nobody imports through it: the check opens the file
	# as the caller and the import reads what that open gave, so every import
	# taken reads the readable file (its sha256) and never the secret.
	mkdir -p "$T_DIR/race" && head -c 64K /dev/urandom >"$T_DIR/race/own.raw" && chmod 644 "$T_DIR/race/own.raw"
	head -c 64K /dev/urandom >"$T_DIR/private/secret.raw" && chmod 600 "$T_DIR/private/secret.raw"
	chmod 755 "$T_DIR/race"
	own=$(sha256sum "$T_DIR/race/own.raw" | cut -d' ' -f1)
	( while :; do
		ln -sfn "$T_DIR/private/secret.raw" "$T_DIR/race/tmp" && mv -T "$T_DIR/race/tmp" "$T_DIR/race/link"
		ln -sfn own.raw "$T_DIR/race/tmp" && mv -T "$T_DIR/race/tmp" "$T_DIR/race/link"
	done ) &
	swapper=$!
	T_BG_PIDS+=("$swapper")
	taken=0 refused=0 ops=()
	for i in $(seq 1 40); do
		out=$(as_nobody curl -s --unix-socket "$T_SOCK" -w '\n%{http_code}' http://nubo/v1/images \
			-d "{\"name\":\"race$i\",\"file\":\"$T_DIR/race/link\",\"sha256\":\"$own\"}")
		case ${out##*$'\n'} in
		202) taken=$((taken + 1)); ops+=("$(printf '%s' "${out%$'\n'*}" | jq -r .operation.id)") ;;
		422) refused=$((refused + 1)) ;;
		esac
	done
	kill "$swapper"; wait "$swapper" 2>/dev/null
	[ "$taken" -gt 0 ] && [ "$refused" -gt 0 ] && [ $((taken + refused)) -eq 40 ]
	ok $? "through a link swapped in a loop, some imports are refused and the rest taken ($refused and $taken of 40)"
	failed=""
	for op in "${ops[@]}"; do
		wait_for 10 op_ended "$op"
		[ "$(op_state "$op")" = succeeded ] || failed="$failed $op: $(body_of "$(api GET "/v1/operations/$op")" | jq -r .error)"
	done
	is "$failed" "" "every import taken read the file its caller could read (its sha256), never the secret"
	grep -q "^sha256sum -- /proc/[0-9]*/fd/[0-9]*$" "$T_STATE/dry-run.log" 2>/dev/null ||
		grep -q "qemu-img convert -f raw -O qcow2 /proc/[0-9]*/fd/[0-9]* " "$T_STATE/dry-run.log"
	ok $? "the import reads the descriptor the check opened (/proc/PID/fd/N), not the path"
else
	ok 0 "# SKIP no group nubo owns the socket, so no other local user can connect"
fi

nubod_stop
ok $? "nubod stops cleanly"
echo "1..$T_N"
