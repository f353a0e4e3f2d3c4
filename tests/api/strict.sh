#!/usr/bin/env bash
# API tests for strict parsing (issue 12, part 3): a path segment that does
# not decode to a valid name, sizes that are not digits and a unit, string
# fields past their length limit, and a request that carries both
# Content-Length and Transfer-Encoding are all refused with 400 before
# anything is done, and the store is left as it was.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
DRY_LOG=$T_STATE/dry-run.log
msg_of() { body_of "$1" | jq -r .error.message; }
fw_names() { body_of "$(api GET /v1/firewalls)" | jq -r '[.firewalls[].name] | sort | join(",")'; }
# raw TEXT: sends TEXT as it is over the unix socket, prints what comes back
raw() { printf '%b' "$1" | timeout 5 socat -t 2 - "UNIX-CONNECT:$T_SOCK"; }

# --- path segments ---
for n in odd2 victim; do
	is "$(status_of "$(api POST /v1/firewalls "{\"name\":\"$n\"}")")" 201 "firewall $n is created"
done
r=$(api DELETE '/v1/firewalls/odd2%00.bak')
is "$(status_of "$r")" 400 "an encoded NUL in a path segment is 400"
like "$(msg_of "$r")" 'path segment "odd2%00.bak"' "the error names the segment as sent"
is "$(fw_names)" "default,odd2,victim" "nothing was deleted"
r=$(api GET '/v1/firewalls/odd2%2F..%2Fvictim')
is "$(status_of "$r")" 400 "a segment that decodes to a slash is 400"
like "$(msg_of "$r")" 'path segment "odd2%2F..%2Fvictim" is not a valid name' "the error says why"
r=$(api GET '/v1/firewalls/odd%zz')
is "$(status_of "$r")" 400 "a malformed percent escape is 400"
like "$(msg_of "$r")" '%zz' "the error quotes the escape"
r=$(api GET '/v1/firewalls/Odd2')
is "$(status_of "$r")" 400 "a segment with characters no name has is 400"
r=$(api GET '/v1/firewalls/odd%32')
is "$(status_of "$r")" 200 "a percent escape of a name character is decoded"
is "$(body_of "$r" | jq -r .name)" odd2 "to the name it spells"
r=$(api GET '/v1/nothing%00here')
is "$(status_of "$r")" 400 "an encoded NUL is 400 on any path"
r=$(api GET "/v1/firewalls/$(printf 'a%.0s' $(seq 300))")
is "$(status_of "$r")" 400 "a segment longer than any name or id is 400"
like "$(msg_of "$r")" 'is 300 bytes long' "the error gives its length"
is "$(status_of "$(api GET '/v1/types?x=%00')")" 200 "the query string is not a path segment"

# --- sizes ---
i=0
for s in 0x10G 1e3M '5 G' 1e-3G ' 5G' 5G. .5G 1.5.5G 5GG 5Gi -1G +1G inf nan 1,5G 5g0 1.0000001G ''; do
	i=$((i + 1))
	r=$(api POST /v1/volumes "{\"name\":\"bad$i\",\"size\":\"$s\"}")
	is "$(status_of "$r")" 400 "size \"$s\" is refused"
done
like "$(msg_of "$(api POST /v1/volumes '{"name":"bad","size":"0x10G"}')")" 'size "0x10G" is not a size' \
	"the error names the field and value"
r=$(api POST /v1/volumes '{"name":"frac","size":"0.001G"}')
is "$(status_of "$r")" 202 "a size with a decimal part is accepted"
bytes=$(body_of "$r" | jq .volume.size_bytes)
is "$bytes" 1074176 "0.001G is recorded rounded up to whole 512-byte sectors"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/volumes/frac | jq -e '.state==\"available\"' >/dev/null"
ok $? "the volume is created"
created=$(grep -E '^qemu-img create -q -f qcow2 .* [0-9]+$' "$DRY_LOG" | tail -n 1 | awk '{print $NF}')
is "$created" "$bytes" "qemu-img is asked for the very size recorded"
r=$(api POST /v1/volumes '{"name":"onehalf","size":"1.5G"}')
is "$(body_of "$r" | jq .volume.size_bytes)" 1610612736 "1.5G is 1.5 GiB exactly"
r=$(api POST /v1/volumes '{"name":"kib","size":"1536KiB"}')
is "$(body_of "$r" | jq .volume.size_bytes)" 1572864 "KiB is a unit too"

# --- string lengths ---
long=$(head -c 5000 /dev/zero | tr '\0' a)
r=$(api POST /v1/vms "{\"name\":\"x1\",\"ssh_key_file\":\"/$long\"}")
is "$(status_of "$r")" 400 "an ssh_key_file of 5001 bytes is 400"
like "$(msg_of "$r")" 'field "ssh_key_file" is 5001 bytes long; the limit is 4096' "the error names the field and the limit"
r=$(api POST /v1/firewalls "{\"name\":\"$long\"}")
like "$(msg_of "$r")" 'field "name" is 5000 bytes long; the limit is' "a long name is refused by its length"
r=$(api POST /v1/vms "{\"name\":\"x1\",\"firewalls\":[\"$long\"]}")
like "$(msg_of "$r")" 'field "firewalls\[0\]" is 5000 bytes long' "a long list item is named by its index"
r=$(api POST /v1/vms "{\"name\":\"x1\",\"ssh_keys\":[\"ssh-ed25519 $long$long\"]}")
like "$(msg_of "$r")" 'field "ssh_keys\[0\]" is 10012 bytes long; the limit is 8192' "a long ssh key is refused by its length"
r=$(api POST /v1/vms "{\"name\":\"x1\",\"nics\":[{\"network\":\"$long\"}]}")
like "$(msg_of "$r")" 'field "network" is 5000 bytes long' "a long string inside a nic is refused"
r=$(api POST /v1/images "{\"name\":\"x1\",\"url\":\"http://h/$long\",\"sha256\":\"$long\"}")
is "$(status_of "$r")" 400 "a long url is 400"

# --- Content-Length with Transfer-Encoding (RFC 9112 section 6.3) ---
smuggled='DELETE /v1/firewalls/victim HTTP/1.1\r\nHost: nubo\r\nContent-Length: 0\r\n\r\n'
body='{"name":"smug"}'
out=$(raw "POST /v1/firewalls HTTP/1.1\r\nHost: nubo\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n$body\r\n0\r\n\r\n$smuggled")
like "$out" '^HTTP/1.1 400' "a request with both Content-Length and Transfer-Encoding is 400"
like "$out" 'both Content-Length and Transfer-Encoding' "the answer says why"
is "$(printf '%s' "$out" | grep -c '^HTTP/1.1')" 1 "the request behind it is not answered"
is "$(fw_names)" "default,odd2,victim" "neither request was executed"
out=$(raw "POST /v1/firewalls HTTP/1.1\r\nHost: nubo\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
like "$out" '^HTTP/1.1 (400|501)' "a transfer coding other than chunked is refused"
out=$(raw "POST /v1/firewalls HTTP/1.1\r\nHost: nubo\r\nContent-Length: ${#body}\r\n\r\n$body")
like "$out" '^HTTP/1.1 201' "a request with Content-Length alone is served"
is "$(fw_names)" "default,odd2,smug,victim" "and executed once"

nubod_stop
ok $? "nubod stops cleanly"
echo "1..$T_N"
