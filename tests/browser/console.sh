#!/usr/bin/env bash
# browser: the web console in Debian's chromium, headless, driven by
# playwright-core (tests/browser/console.mjs) against a real nubod with a
# real tiny VM under QEMU. Logs in (a wrong token refused), creates a
# firewall and a VM in it from the forms and sees the VM reach running
# without a reload, adds a rule on the firewall's page and finds it in
# force from the host (and gone once deleted), types uname -a
# in its serial console and reads Linux, has a second viewer watch, checks
# 401 without a session and 403 without the CSRF token, stops the VM from
# its page and logs out. Screenshots of every page go to
# NUBO_TEST_OUT (default build/test-output)/browser/. Needs root.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../browser-lib.sh"
rm -f "$SHOTS"/0*.png

console_nubod_start
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
SECRET=$("$NUBO" token create browser --json | jq -r .secret)
ssh-keygen -q -t ed25519 -N "" -C browser -f "$T_DIR/id" || exit 1

VM=web-$$
export SECRET VM KEY_PUB="$(cat "$T_DIR/id.pub")" SSH_KEY="$T_DIR/id" NUBO=$(realpath "$NUBO")
run_node 240 console.mjs

shots=$(ls "$SHOTS"/0*.png 2>/dev/null | wc -l)
[ "$shots" -ge 7 ]
ok $? "a screenshot of every page is in $SHOTS ($shots)"
is "$(t_sql 'SELECT count(*) FROM sessions')" 0 "the logout left no session in the store"
like "$("$NUBO" vm console "$VM" --log)" 'Linux version' "the serial log is kept as before (console.log, beside the socket)"
like "$("$NUBO" vm console "$VM" --log)" "$VM login: root" "and it holds what was typed through the browser's console"
out=$("$NUBO" vm delete "$VM" --wait 2>&1)
ok $? "the VM is deleted" "$out"
