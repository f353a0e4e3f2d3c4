#!/usr/bin/env bash
# API tests of the metadata service's side of VM create: "seed": false makes
# a VM without a NoCloud seed (its guest reads 169.254.169.254), anything but
# a boolean is refused, and the setting shows in the VM. Host in dry-run.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the tiny image is built (dry-run)"

for bad in '"no"' '0' '[]' '{}'; do
	r=$(api POST /v1/vms "{\"name\":\"bad\",\"seed\":$bad}")
	is "$(status_of "$r")" 400 "seed $bad is 400"
done
like "$(body_of "$r" | jq -r .error.message)" 'field "seed" must be true or false' "the error names the field"
is "$(body_of "$(api GET /v1/vms)" | jq '.vms | length')" 0 "refused creates leave no VM"

wait_op() {
	wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$1 | jq -e '.state==\"succeeded\"' >/dev/null"
}

r=$(api POST /v1/vms '{"name":"seeded"}')
is "$(status_of "$r")" 202 "a VM without the field is accepted"
is "$(body_of "$r" | jq -r .vm.seed)" true "and has a seed"
seeded=$(body_of "$r" | jq -r .vm.id)
wait_op "$(body_of "$r" | jq -r .operation.id)"
ok $? "it starts"

r=$(api POST /v1/vms '{"name":"bare","seed":false}')
is "$(status_of "$r")" 202 "a VM with seed false is accepted"
bare=$(body_of "$r" | jq -r .vm.id)
wait_op "$(body_of "$r" | jq -r .operation.id)"
ok $? "it starts"
is "$(body_of "$(api GET /v1/vms/bare)" | jq -r .seed)" false "GET shows seed false"
r=$(api POST /v1/vms '{"name":"explicit","seed":true}')
is "$(body_of "$r" | jq -r .vm.seed)" true "seed true is the default spelled out"

# In dry-run the seed's files are written and only genisoimage is skipped.
[ -f "$T_STATE/vms/$seeded/meta-data" ]
ok $? "the seeded VM got its seed's meta-data"
[ ! -e "$T_STATE/vms/$bare/meta-data" ] && [ ! -e "$T_STATE/vms/$bare/seed.iso" ]
ok $? "the VM with seed false got no seed at all"

# The setting survives a restart (it is stored).
nubod_stop
nubod_start --dry-run
is "$(body_of "$(api GET /v1/vms/bare)" | jq -r .seed)" false "seed false is kept across a restart"
is "$(body_of "$(api GET /v1/vms/seeded)" | jq -r .seed)" true "and so is seed true"

# The CLI's --no-seed sends seed false.
"$NUBO" vm create clivm --no-seed >/dev/null 2>&1
is "$(body_of "$(api GET /v1/vms/clivm)" | jq -r .seed)" false "nubo vm create --no-seed makes a VM without a seed"

nubod_stop
grep -Eq "Sanitizer|runtime error" "$T_LOG"
ok $((!$?)) "no sanitizer report in nubod's log"
