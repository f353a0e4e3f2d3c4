#!/usr/bin/env bash
# CLI profiles (~/.config/nubo/config.json; here $XDG_CONFIG_HOME, which
# lib.sh points into the test's directory) and `nubo version`:
#   - nubo profile add|list|use|remove, the first profile becoming current;
#   - --profile NAME and NUBO_PROFILE pick one; flags override it;
#   - a token file others may read is refused, with the reason and chmod 600;
#   - a token given with --token is kept in a 0600 file, never in config.json;
#   - nubo version prints the CLI's version and nubod's accel, store and host.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run
NUBO=$NUBO_BIN/nubo
CFG=$XDG_CONFIG_HOME/nubo/config.json

nubod_start --dry-run || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
VERSION=$("$NUBO" --version | awk '{print $2}')
ENGINE=sqlite
[ "${NUBO_TEST_DATABASE:-sqlite}" = postgres ] && ENGINE=postgresql

# nubo version
out=$("$NUBO" version)
ok $? "nubo version exits 0 with nubod answering"
like "$(sed -n 1p <<<"$out")" "^nubo $VERSION$" "nubo version: the CLI's version"
like "$(sed -n 2p <<<"$out")" "^nubod $VERSION \\(accel (kvm|tcg), store $ENGINE, host $(hostname)\\)$" \
	"nubo version: nubod's version, accel, store engine and host name"
is "$("$NUBO" version --json | jq -r '.nubo + " " + .nubod.version + " " + .nubod.store')" "$VERSION $VERSION $ENGINE" \
	"nubo version --json"
out=$("$NUBO" --socket "$T_DIR/nothing.sock" version 2>&1)
is "$?" 1 "nubo version without a nubod exits 1"
like "$out" "^nubo $VERSION" "... after printing the CLI's own version"

# Profiles. NUBO_SOCKET (set by lib.sh) would say where nubod is; profiles are
# tested without it, as a user without the variable has them.
unset NUBO_SOCKET
out=$("$NUBO" profile add here --socket "$T_SOCK")
ok $? "nubo profile add here --socket" "$out"
like "$out" "it is the current profile" "the first profile becomes the current one"
is "$(stat -c %a "$CFG")" 600 "config.json is mode 0600"
is "$("$NUBO" vm list --json | jq -r '.vms | length')" 0 "without flags, commands use the current profile"

# A second profile, remote, with a token file.
printf 'secret-token\n' >"$T_DIR/prod.token"
chmod 644 "$T_DIR/prod.token"
out=$("$NUBO" profile add prod --url https://127.0.0.1:9 --token-file "$T_DIR/prod.token" 2>&1)
is "$?" 2 "a token file others may read is refused when adding"
like "$out" "token file $T_DIR/prod.token is mode 0644: other users may read it.*chmod 600 $T_DIR/prod.token" \
	"... with the reason and the fix"
chmod 600 "$T_DIR/prod.token"
"$NUBO" profile add prod --url https://127.0.0.1:9 --token-file "$T_DIR/prod.token" >/dev/null
ok $? "with mode 0600 the profile is added"
chmod 640 "$T_DIR/prod.token"
out=$("$NUBO" --profile prod vm list 2>&1)
is "$?" 2 "a token file that became readable by others is refused when used"
like "$out" "profile prod: the token file .* is mode 0640" "... naming the profile, the file and its mode"
chmod 600 "$T_DIR/prod.token"

out=$("$NUBO" --profile prod vm list 2>&1)
is "$?" 1 "--profile prod reaches prod's URL (nothing listens there: exit 1)"
like "$out" "127.0.0.1:9" "... the error names prod's URL"
out=$(NUBO_PROFILE=prod "$NUBO" vm list 2>&1)
like "$out" "127.0.0.1:9" "NUBO_PROFILE=prod does the same"
is "$(NUBO_PROFILE=prod "$NUBO" --socket "$T_SOCK" vm list --json | jq -r '.vms | length')" 0 \
	"a --socket flag overrides the profile"
is "$(NUBO_PROFILE=prod "$NUBO" --profile here vm list --json | jq -r '.vms | length')" 0 \
	"--profile overrides NUBO_PROFILE"
out=$("$NUBO" --profile nope vm list 2>&1)
is "$?" 2 "an unknown profile is a usage error"
like "$out" 'no profile "nope" in .*config.json' "... naming it and the file"

# The profile's token is what nubo sends: a listener records the request.
port=$(for p in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; break; }; done)
socat -u TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr OPEN:"$T_DIR/request",creat &
T_BG_PIDS+=($!)
wait_for 5 sh -c "ss -Hltn 'sport = :$port' | grep -q ."
"$NUBO" profile add plain --url "http://127.0.0.1:$port" --token-file "$T_DIR/prod.token" >/dev/null
timeout 3 "$NUBO" --profile plain vm list >/dev/null 2>&1
like "$(tr -d '\r' <"$T_DIR/request")" '^Authorization: Bearer secret-token$' "nubo sends the profile's token"
"$NUBO" profile remove plain >/dev/null

# list, use, remove
out=$("$NUBO" profile list)
like "$(grep -E '^\*' <<<"$out")" '^\* +here ' "profile list marks the current profile"
like "$(grep prod <<<"$out")" "https://127.0.0.1:9 +$T_DIR/prod.token" "profile list shows prod's URL and token file"
"$NUBO" profile use prod >/dev/null
is "$(jq -r .current "$CFG")" prod "profile use prod makes it current"
like "$("$NUBO" vm list 2>&1)" "127.0.0.1:9" "... and commands then go to prod"
"$NUBO" profile use here >/dev/null

# --token: kept in tokens/NAME, 0600, never in config.json.
"$NUBO" profile add stage --url https://127.0.0.1:9 --token stage-secret >/dev/null
tf=$(jq -r '.profiles.stage.token_file' "$CFG")
is "$tf" "$XDG_CONFIG_HOME/nubo/tokens/stage" "profile add --token saves the token in tokens/stage"
is "$(stat -c %a "$tf")" 600 "... mode 0600"
ok "$(grep -c stage-secret "$CFG")" "config.json never holds the token"
"$NUBO" profile remove stage >/dev/null
ok $? "profile remove stage"
[ ! -e "$tf" ]
ok $? "... removes the token file nubo made for it"
is "$(jq -r '.profiles | keys | join(",")' "$CFG")" "here,prod" "... and the profile"
"$NUBO" profile remove prod >/dev/null
[ -e "$T_DIR/prod.token" ]
ok $? "removing prod keeps the token file the user gave"
out=$("$NUBO" profile remove prod 2>&1)
is "$?" 1 "removing an unknown profile fails"

echo "1..$T_N"
