#!/usr/bin/env bash
# Benchmark 4: burst. 10 VMs of type nano (1 vCPU, 256 MiB) asked for at once;
# the time until all of them answer SSH, against 10 plain QEMUs started at
# once (each with its own overlay, seed and tap, all in parallel).
set -uo pipefail
. "$BENCH_SRC/lib.sh"

COUNT=${BENCH_BURST:-10}
OUT=$BENCH_DIR/data/04-burst.tsv
WORK=$BENCH_DIR/b04
mkdir -p "$WORK"
image_env tiny
MEM=$(api_get /v1/types | jq -r '.types[] | select(.name == "nano") | .memory_mib')
echo $'peer\trun\tall_qemu\tall_guest_ready\tfirst_ssh\tmedian_ssh\tall_ssh\tall_nubo_ssh\tall_done\tfailed' >"$OUT"

# summarise WATCH_TSV PEER RUN [NUBO_SSH_LIST DONE_LIST]: one row of $OUT.
# The watch columns: label ip file pidfile console kernel0 ssh attempts mark:ready
summarise() {
	local q g s ns dn
	q=$(tail -n +2 "$1" | cut -f4 | summ)
	g=$(tail -n +2 "$1" | cut -f9 | summ)
	s=$(tail -n +2 "$1" | cut -f7 | summ)
	ns=$( ([ -n "${4:-}" ] && tr ' ' '\n' <<<"$4") | summ)
	dn=$( ([ -n "${5:-}" ] && tr ' ' '\n' <<<"$5") | summ)
	awk -v p="$2" -v r="$3" -v q="$q" -v g="$g" -v s="$s" -v ns="$ns" -v dn="$dn" -v n="$COUNT" '
		function all(x, f) { split(x, v, " "); return (v[4] == n) ? sprintf("%.0f", v[3]) : "-" }
		BEGIN { split(s, b, " ")
		printf "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%d\n", p, r, all(q), all(g), b[2], b[1], all(s), all(ns), all(dn), n - b[4] }' >>"$OUT"
}

run_nubo() {
	local i=$1 d=$WORK/nubo-$1 t0 w k names=() targets=()
	mkdir -p "$d"
	for k in $(seq 1 "$COUNT"); do
		names+=("b4-$i-$k")
		targets+=("n$k:nubo=$NUBO_SOCKET,name=b4-$i-$k,state=$NUBO_STATE")
	done
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 300 --mark 'ssh ready on' "${targets[@]}" >"$d/watch.tsv" &
	w=$!
	for k in $(seq 1 "$COUNT"); do
		("$NUBO" vm create "b4-$i-$k" --type nano --ssh-key "$BENCH_KEY.pub" --wait >"$d/create-$k.out" 2>&1
			echo $(($(now_ms) - t0)) >"$d/done-$k") &
	done
	wait $w
	wait
	local nssh=() dns=() op c
	for k in $(seq 1 "$COUNT"); do
		op=$(api_get "/v1/vms/b4-$i-$k" | jq -r .operation)
		api_get "/v1/operations/$op" >"$d/op-$k.json"
		c=$(iso_ms "$(jq -r .created_at "$d/op-$k.json")")
		nssh+=("$(jq -r --argjson c "$c" --argjson t "$t0" '[.phases[] | select(.name == "ssh-ready") | .at_ms + $c - $t][0] // "nan"' "$d/op-$k.json")")
		dns+=("$(cat "$d/done-$k")")
	done
	summarise "$d/watch.tsv" nubo "$i" "${nssh[*]}" "${dns[*]}"
	nubo_retire "${names[@]}"
}

run_plain() {
	local i=$1 d=$WORK/plain-$1 t0 w k targets=()
	for k in $(seq 1 "$COUNT"); do
		targets+=("p$k:ip=$(peer_ip 2 "$k"),console=$d/$k/console.log,pidfile=$d/$k/qemu.pid")
	done
	mkdir -p "$d"
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 300 --mark 'ssh ready on' "${targets[@]}" >"$d/watch.tsv" &
	w=$!
	for k in $(seq 1 "$COUNT"); do
		plain_boot "$d/$k" "bt${BENCH_ID}b$k" "$(peer_mac 2 "$k")" "$MEM" &
	done
	wait $w
	wait
	summarise "$d/watch.tsv" plain "$i"
	for k in $(seq 1 "$COUNT"); do
		plain_stop "$d/$k" "bt${BENCH_ID}b$k" "$(proc_start "$(cat "$d/$k/qemu.pid" 2>/dev/null)")" &
	done
	wait
}

for i in $(seq 1 "$BENCH_N"); do
	if [ $((i % 2)) -eq 1 ]; then run_nubo "$i"; sleep 2; run_plain "$i"; else run_plain "$i"; sleep 2; run_nubo "$i"; fi
	sleep 2
	say "run $i/$BENCH_N: $(awk -F'\t' -v r="$i" '$2 == r { printf "%s all SSH at %s ms  ", $1, $7 }' "$OUT")"
done

where "$OUT" peer nubo >"$WORK/nubo.tsv"
where "$OUT" peer plain >"$WORK/plain.tsv"
r() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$(fmt_s "$(col "$WORK/nubo.tsv" "$2" | summ)")" "$(fmt_s "$(col "$WORK/plain.tsv" "$2" | summ)")" \
		"$(fmt_x "$(pair_ratio "$WORK/nubo.tsv" "$2" "$WORK/plain.tsv" "$2" | summ)")"
}
{
	printf "time since the request ($COUNT VMs)\tnubo\tplain QEMU\tnubo ÷ plain\n"
	r "all $COUNT QEMUs started" all_qemu
	r "all $COUNT guests have an address and sshd (console)" all_guest_ready
	r "first VM answers SSH" first_ssh
	r "median VM answers SSH" median_ssh
	r "**all $COUNT answer SSH**" all_ssh
	r "nubo: all $COUNT ssh-ready phases" all_nubo_ssh
	r "nubo: all $COUNT commands returned" all_done
} >"$WORK/table.tsv"
failed_n=$(col "$WORK/nubo.tsv" failed | awk '{ s += $1 } END { print s + 0 }')
failed_p=$(col "$WORK/plain.tsv" failed | awk '{ s += $1 } END { print s + 0 }')
{
	echo "## 4. Burst: $COUNT VMs at once"
	echo
	echo "$COUNT VMs of type nano ($MEM MiB, 1 vCPU) asked for at the same moment: nubo with"
	echo "$COUNT concurrent \`nubo vm create --wait\`; plain QEMU with $COUNT concurrent start-ups"
	echo "(overlay, seed, tap, QEMU each). Same SSH probe for every VM. N=$BENCH_N runs."
	echo
	md_table <"$WORK/table.tsv"
	echo
	echo "VMs that never answered within 300 s: nubo $failed_n, plain QEMU $failed_p (over all runs)."
} >"$BENCH_DIR/out/04-burst.md"
echo
term_table <"$WORK/table.tsv"
