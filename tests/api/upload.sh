#!/usr/bin/env bash
# API tests for image uploads (issue 12, part 1): POST /v1/images with the
# image as an application/octet-stream body, its name and sha256 in the
# query. The way for a caller who is not on nubod's host: nothing of the
# host is read on its behalf. The body goes to the image's folder as it
# comes, hashed on the way; a wrong digest, a body over image_upload_max_mib,
# a body that breaks off and a nubod killed mid-body each leave no image, no
# folder and no file. Host in dry-run: qemu-img info still runs on what came
# (so a disk that is not a standalone qcow2 or raw fails the import); the
# conversion is only recorded.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

TLS=$T_DIR/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/key.pem" -out "$TLS/cert.pem" >/dev/null 2>&1
chmod 600 "$TLS/key.pem"
for p in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$p" | grep -q . || break; done
PORT=$p
URL=https://127.0.0.1:$PORT

start() {
	echo '{"image_upload_max_mib": 4}' >"$T_DIR/nubod.json"
	nubod_start --dry-run --config "$T_DIR/nubod.json" --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" \
		--tls-key "$TLS/key.pem"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# up FILE QUERY [curl args...]: uploads FILE over HTTPS with the token; "STATUS BODY"
# With "Expect: 100-continue", as nubo's CLI sends it, a refusal comes
# before the body is sent: without it, the body a refusal leaves unread can
# make the closing connection reset before curl reads the answer.
up() {
	local f=$1 q=$2 out
	shift 2
	out=$(curl -s --cacert "$TLS/cert.pem" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/octet-stream' \
		-H 'Expect: 100-continue' \
		--data-binary @"$f" -w '\n%{http_code}' "$@" "$URL/v1/images?$q")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
msg_of() { body_of "$1" | jq -r .error.message; }
n_images() { body_of "$(api GET /v1/images)" | jq '.images | length'; }
# leftovers: what images/ holds beyond the folders of recorded images
leftovers() {
	local ids
	ids=$(body_of "$(api GET /v1/images)" | jq -r '.images[].id' | sort)
	comm -23 <(ls "$T_STATE/images" | sort) <(printf '%s\n' $ids | sed '/^$/d')
}

# The files: a standalone qcow2, one with a backing file, random bytes over the limit.
qemu-img create -q -f qcow2 "$T_DIR/good.qcow2" 64M
qemu-img create -q -f qcow2 -b "$T_DIR/good.qcow2" -F qcow2 "$T_DIR/overlay.qcow2"
head -c 6M /dev/urandom >"$T_DIR/big.raw"
head -c 3M /dev/urandom >"$T_DIR/mid.raw"
GOOD=$(sha "$T_DIR/good.qcow2")

start || { ok 1 "nubod starts"; exit 1; }
TOKEN=$(body_of "$(api POST /v1/tokens '{"name":"up"}')" | jq -r .secret)

# --- the right digest: an image, converted from what came ---
r=$(up "$T_DIR/good.qcow2" "name=up1&sha256=$GOOD&user=debian")
is "$(status_of "$r")" 202 "an upload with the right sha256 over HTTPS is taken"
is "$(body_of "$r" | jq -r '.image.state + " " + .image.source + " " + .image.user')" "importing upload debian" \
	"the image is importing, from an upload, with its user"
op=$(body_of "$r" | jq -r .operation.id)
id=$(body_of "$r" | jq -r .image.id)
wait_for 10 op_ended "$op"
is "$(op_state "$op")" succeeded "its import succeeds"
is "$(body_of "$(api GET /v1/images/up1)" | jq -r '.state + " " + .os')" "ready imported qcow2 image" \
	"the image is ready, its format told by qemu-img"
grep -q "qemu-img convert -f qcow2 -O qcow2 $T_STATE/images/$id/upload " "$T_STATE/dry-run.log"
ok $? "the file converted is the body as it came, in the image's folder"
[ ! -e "$T_STATE/images/$id/upload" ]
ok $? "and it is removed once converted"
is "$(body_of "$(api GET "/v1/operations/$op")" | jq -c '[.phases[].name]')" '["upload","convert","ready"]' \
	"the operation's phases are upload, convert, ready"

# --- refused with the headers: nothing is read or kept ---
r=$(up "$T_DIR/good.qcow2" "name=up1&sha256=$GOOD")
is "$(status_of "$r")" 409 "a taken name is 409"
r=$(up "$T_DIR/good.qcow2" "name=up2")
is "$(status_of "$r")" 400 "an upload without sha256 is 400"
like "$(msg_of "$r")" 'sha256 is required' "the error says sha256 is required"
r=$(up "$T_DIR/good.qcow2" "name=up2&sha256=xyz")
like "$(status_of "$r") $(msg_of "$r")" '^400 sha256 "xyz" is not 64 hex digits' "a malformed sha256 is 400, quoted"
r=$(up "$T_DIR/good.qcow2" "name=Bad_Name&sha256=$GOOD")
is "$(status_of "$r")" 400 "a bad name is 400"
r=$(up "$T_DIR/good.qcow2" "name=up2&sha256=$GOOD&file=/etc/shadow")
like "$(status_of "$r") $(msg_of "$r")" '^400 .*file' "a query parameter an upload does not take is 400, named"
r=$(up "$T_DIR/good.qcow2" "name=up2&sha256=$GOOD&boot=direct")
is "$(status_of "$r")" 400 "boot direct is 400 (an upload brings no kernel)"
out=$(curl -s --cacert "$TLS/cert.pem" -H 'Content-Type: application/octet-stream' -H 'Expect: 100-continue' \
	--data-binary @"$T_DIR/good.qcow2" \
	-w '\n%{http_code}' "$URL/v1/images?name=up2&sha256=$GOOD")
is "${out##*$'\n'}" 401 "without a token it is 401"
r=$(up "$T_DIR/big.raw" "name=up2&sha256=$(sha "$T_DIR/big.raw")")
is "$(status_of "$r")" 413 "a Content-Length over image_upload_max_mib is 413"
like "$(msg_of "$r")" 'at most 4 MiB \(image_upload_max_mib' "the error gives the limit and its setting"
is "$(n_images)" 1 "none of them recorded an image"

# --- refused at the end or on the way: nothing is kept ---
r=$(up "$T_DIR/mid.raw" "name=up3&sha256=$GOOD")
is "$(status_of "$r")" 422 "a body whose sha256 differs is 422"
like "$(msg_of "$r")" "checksum mismatch for the uploaded image: expected sha256 $GOOD, got $(sha "$T_DIR/mid.raw") \(3145728 bytes" \
	"the error gives both digests and the bytes received"
out=$(curl -s --cacert "$TLS/cert.pem" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/octet-stream' \
	-H 'Transfer-Encoding: chunked' -T - -X POST -w '\n%{http_code}' "$URL/v1/images?name=up4&sha256=$GOOD" <"$T_DIR/big.raw")
# libmicrohttpd closes the connection with the body still coming, and the
# client may see the reset before the 413 (curl then says 100, the last status it had).
like "${out##*$'\n'}" '^(413|100|000)$' "a chunked body that passes the limit is refused, or its connection cut"
grep -q 'image up4: upload refused: the image is larger than 4 MiB' "$T_LOG"
ok $? "the log says why"
r=$(up "$T_DIR/overlay.qcow2" "name=up5&sha256=$(sha "$T_DIR/overlay.qcow2")")
is "$(status_of "$r")" 202 "a qcow2 overlay with its right sha256 is taken"
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 op_ended "$op"
like "$(body_of "$(api GET "/v1/operations/$op")" | jq -r .error)" 'overlay on another file' \
	"but its import fails: qemu-img says it has a backing file"
is "$(n_images) $(leftovers | wc -l)" "1 0" "no image, folder or file is left of any of them"

# --- a body that breaks off: the client goes after 1 MiB of 3 ---
python3 - "$T_SOCK" "$GOOD" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/images?name=cut&sha256=%s HTTP/1.1\r\nHost: nubo\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Length: 3145728\r\n\r\n" % sys.argv[2].encode() + b"\0" * 1048576)
time.sleep(0.5)
s.close()
PY
wait_for 10 grep -q 'image cut: upload refused: the client went before the upload was whole' "$T_LOG"
ok $? "a client that goes before the body is whole ends the upload"
is "$(n_images) $(leftovers | wc -l)" "1 0" "and nothing of it is left"

# --- nubod killed with -9 in the middle of a body ---
python3 - "$T_SOCK" "$GOOD" >"$T_DIR/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/images?name=killed&sha256=%s HTTP/1.1\r\nHost: nubo\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Length: 3145728\r\n\r\n" % sys.argv[2].encode())
try:
    for i in range(300):   # 10 KiB a tenth of a second: half a minute at most
        s.sendall(b"\1" * 10240)
        time.sleep(0.1)
except OSError:
    pass
PY
slow=$!
T_BG_PIDS+=("$slow")
wait_for 10 sh -c "ls $T_STATE/images/*/upload 2>/dev/null | grep -q ."
part=$(ls "$T_STATE"/images/*/upload 2>/dev/null | head -1)
sleep 0.5
[ -s "$part" ]
ok $? "the body goes to disk as it comes: $(stat -c %s "$part" 2>/dev/null) bytes of it are there when nubod is killed"
is "$(t_sql "SELECT state FROM images WHERE name = 'killed'")" uploading "the image is recorded as uploading"
kop=$(t_sql "SELECT op_id FROM images WHERE name = 'killed'")
nubod_kill9
wait "$slow" 2>/dev/null
start || { ok 1 "nubod restarts"; exit 1; }
is "$(n_images) $(leftovers | wc -l)" "1 0" "after the restart, no image, folder or partial file is left of it"
[ ! -e "$part" ]
ok $? "the partial file is gone"
like "$(body_of "$(api GET "/v1/operations/$kop")" | jq -r '.state + ": " + .error')" \
	'^failed: the upload was cut off by a restart of nubod' "its operation failed and says why"

# --- on the unix socket ---
head -c 4000000 /dev/zero >"$T_DIR/zero.raw"
out=$(curl -s --unix-socket "$T_SOCK" -H 'Content-Type: application/octet-stream' --data-binary @"$T_DIR/zero.raw" \
	-w '\n%{http_code}' "http://nubo/v1/images?name=up6&sha256=$(sha "$T_DIR/zero.raw")")
is "${out##*$'\n'}" 202 "an upload on the unix socket is taken"
wait_for 10 op_ended "$(printf '%s' "${out%$'\n'*}" | jq -r .operation.id)"
is "$(body_of "$(api GET /v1/images/up6)" | jq -r '.state + " " + .os')" "ready imported raw image" "a raw image too"

# --- the CLI: nubo image import NAME --upload FILE ---
remote() { "$NUBO" --url "$URL" --cacert "$TLS/cert.pem" --token "$TOKEN" "$@"; }
out=$(remote image import cli1 --upload "$T_DIR/good.qcow2" --user alpine --wait 2>&1)
is "$?" 0 "nubo image import --upload over HTTPS exits 0"
like "$out" 'Imported image cli1 \(img-[0-9a-f]+\) in .*user alpine' "and says the image was imported"
[ "$(printf '%s' "$out" | grep -c $'\r')" -eq 0 ]
ok $? "no progress is drawn when the output is not a terminal" "$out"
is "$(body_of "$(api GET /v1/images/cli1)" | jq -r '.source + " " + .sha256')" "upload $GOOD" \
	"the CLI computed the sha256 it sent"
out=$(remote image import cli2 --upload "$T_DIR/good.qcow2" --sha256 "$(sha "$T_DIR/mid.raw")" 2>&1)
is "$?" 1 "a --sha256 the file does not have fails the command"
like "$out" '^nubo: checksum mismatch for the uploaded image' "with nubod's reason"
out=$(remote image import cli1 --upload "$T_DIR/mid.raw" 2>&1)
like "$?: $out" '^1: nubo: an image named "cli1" already exists' "a taken name is refused before the file is sent, in nubod's words"
out=$(remote image import cli2 --upload "$T_DIR/big.raw" 2>&1)
like "$?: $out" '^1: nubo: the image is 6291456 bytes; uploads are at most 4 MiB' "so is a file over the limit"
out=$(script -qec "$NUBO --url $URL --cacert $TLS/cert.pem --token $TOKEN image import cli3 --upload $T_DIR/mid.raw" /dev/null)
like "$out" 'Uploading 100% \(3M of 3M\)' "on a terminal the upload's progress is drawn"
like "$out" 'Hashing' "and the hashing before it"
out=$("$NUBO" image import cli4 --upload "$T_DIR" 2>&1)
is "$?" 2 "--upload of a folder is a usage error"
out=$("$NUBO" image import cli4 --upload "$T_DIR/good.qcow2" --boot direct 2>&1)
like "$out" 'boot goes with --file or --url' "--boot with --upload is refused by the CLI"
is "$(n_images) $(leftovers | wc -l)" "4 0" "only the images that were imported are there"

nubod_stop
ok $? "nubod stops cleanly"
echo "1..$T_N"
