#!/usr/bin/env bash
# `nubo completion bash`, driven as bash drives it (COMP_WORDS, COMP_CWORD,
# then the candidates in COMPREPLY): nouns, verbs and flags from the
# command tables, names of VMs, images, networks and firewalls from a
# running nubod, files for file flags; and nothing, quietly, when nubod is
# not there. The man page nubo(1) lists every command `nubo --help` does.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run
export PATH=$PWD/$NUBO_BIN:$PATH   # the script calls `nubo completion names` as the user's shell would

nubo completion bash >"$T_DIR/nubo.bash"
ok $? "nubo completion bash prints a script"
bash -n "$T_DIR/nubo.bash"
ok $? "the script is valid bash"

# complete WORD...: the candidates for the last word, sorted, on one line.
complete_words() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _nubo; printf "%s\n" "${COMPREPLY[@]}" | sort | xargs' \
		_ "$T_DIR/nubo.bash" "$@"
}

# Every noun `nubo --help` lists is completed, and nothing else (besides help):
# a noun added to the tables is completed without touching the script.
nouns=$(nubo --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | sort -u | xargs)
short=$(nubo --help | sed -n '/^Short forms:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | xargs)
is "$(complete_words nubo '')" "$(printf '%s\n' help $nouns $short | sort | xargs)" "nubo <TAB>: every noun and short form of nubo --help"
is "$(complete_words nubo vm s)" "set set-firewall show ssh start stats stop" "nubo vm s<TAB>: the vm verbs that start with s"
like "$(complete_words nubo vm create web --)" '(^| )--image .*--ssh-key .*--wait( |$)' "nubo vm create web --<TAB>: its flags"
like "$(complete_words nubo vm create web --)" '(^| )--profile( |$)' "... and the global ones"
is "$(complete_words nubo firewall rule '')" "add delete list" "nubo firewall rule <TAB>: the words of its usage"
is "$(complete_words nubo version --j)" "--json" "nubo version (a noun alone) completes its flags"
like "$(complete_words nubo events --)" '(^| )--follow( |$)' "nubo events (a noun alone) completes its flags"
is "$(complete_words nubo plan --)" "$(complete_words nubo stack plan --)" "a short form (plan) completes its command's flags"

# Live names, from a nubod that answers.
nubod_start --dry-run || { ok 1 "nubod starts"; echo "1..$T_N"; exit 1; }
nubo image build tiny --wait >/dev/null
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1nubotestkey test@nubo'
for vm in web1 web2 db1; do
	api POST /v1/vms "{\"name\":\"$vm\",\"ssh_keys\":[\"$KEY\"]}" >/dev/null
done
api POST /v1/networks '{"name":"backend","cidr":"10.251.7.0/24"}' >/dev/null
api POST /v1/firewalls '{"name":"webfw"}' >/dev/null
is "$(complete_words nubo vm show '')" "db1 web1 web2" "nubo vm show <TAB>: the VMs' names, from nubod"
is "$(complete_words nubo vm stop we)" "web1 web2" "nubo vm stop we<TAB>: the VMs whose name starts with we"
is "$(complete_words nubo vm create new --image '')" "$(nubo image list --json | jq -r '.images[].name' | sort | xargs)" \
	"nubo vm create new --image <TAB>: the images' names"
like "$(complete_words nubo vm create new --network '')" '(^| )backend( |$)' "--network <TAB>: the networks' names"
is "$(complete_words nubo vm set-firewall web1 w)" "webfw" "nubo vm set-firewall VM <TAB>: the firewalls' names"
like "$(complete_words nubo vm create new --type '')" '(^| )small( |$)' "--type <TAB>: the machine types"
is "$(complete_words nubo vm create '')" "" "nubo vm create <TAB>: a new name, nothing to offer"
is "$(NUBO_SOCKET= complete_words nubo --socket "$T_SOCK" vm show d)" "db1" "--socket before the noun is passed on to the name lookup"

# Files for a flag that takes a file.
touch "$T_DIR/key-one.pub"
is "$(complete_words nubo vm create new --ssh-key "$T_DIR/key-o")" "$T_DIR/key-one.pub" "--ssh-key <TAB>: files"

# No nubod: no names, no error on the terminal.
nubod_stop
out=$(complete_words nubo vm show '' 2>&1)
is "$out" "" "with nubod stopped, nubo vm show <TAB> offers nothing and prints nothing"

# zsh gets the same functions through bashcompinit.
z=$(nubo completion zsh)
like "$(head -1 <<<"$z")" '^#compdef nubo$' "nubo completion zsh starts with #compdef nubo"
like "$z" 'bashcompinit' "... and loads zsh's bash completion emulation"

# The man page: every command of nubo --help, and the global flags.
man=$(nubo --man)
like "$(head -2 <<<"$man")" '^\.TH NUBO 1 ' "nubo --man prints a man page (roff)"
missing=
while read -r noun verb; do
	sed 's/\\-/-/g' <<<"$man" | grep -q "^\\\\fBnubo $noun${verb:+ $verb}\\\\fR" || missing+=" $noun $verb;"
done < <(nubo --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { v = ($2 ~ /^[a-z-]+$/ && $2 != "Show") ? $2 : ""; print $1, v }')
is "$missing" "" "the man page has every command of nubo --help"
like "$man" '\\-\\-profile' "the man page lists the global flags"

echo "1..$T_N"
