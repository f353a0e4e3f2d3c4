#!/usr/bin/env bash
# Benchmark 6: memory per running VM. The same guest (tiny, type small: 1 vCPU,
# 1 GiB) started at the same moment under nubo, as plain QEMU and under
# libvirt; once all three answer SSH and have idled for 3 s, the RSS and PSS
# of each QEMU process are read from /proc.
set -uo pipefail
. "$BENCH_SRC/lib.sh"

OUT=$BENCH_DIR/data/06-memory.tsv
WORK=$BENCH_DIR/b06
mkdir -p "$WORK"
image_env tiny
echo $'peer\trun\trss_kib\tpss_kib\tssh_ms' >"$OUT"

for i in $(seq 1 "$BENCH_N"); do
	d=$WORK/$i
	mkdir -p "$d/plain" "$d/libvirt"
	name=b6-$i lv=bench-$BENCH_ID-b6-$i tap=bt${BENCH_ID}m$i
	targets=("nubo:nubo=$NUBO_SOCKET,name=$name,state=$NUBO_STATE"
		"plain:ip=$(peer_ip 3 "$i"),console=$d/plain/console.log,pidfile=$d/plain/qemu.pid")
	[ -n "${LIBVIRT_OK:-}" ] &&
		targets+=("libvirt:ip=$(peer_ip 4 "$i"),console=$d/libvirt/console.log,pidfile=/run/libvirt/qemu/$lv.pid")
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 180 "${targets[@]}" >"$d/watch.tsv" &
	w=$!
	"$NUBO" vm create "$name" --type small --ssh-key "$BENCH_KEY.pub" --wait >"$d/create.out" 2>&1 &
	plain_boot "$d/plain" "$tap" "$(peer_mac 3 "$i")" 1024 &
	[ -n "${LIBVIRT_OK:-}" ] && libvirt_boot "$d/libvirt" "$lv" "$(peer_mac 4 "$i")" 1024 &
	wait $w
	wait
	sleep 3
	pn=$(api_get "/v1/vms/$name" | jq -r '.pid // empty')
	pp=$(cat "$d/plain/qemu.pid" 2>/dev/null)
	pl=$(cat "/run/libvirt/qemu/$lv.pid" 2>/dev/null)
	ssh_of() { awk -F'\t' -v l="$1" '$1 == l { printf "%.0f", $7 }' "$d/watch.tsv"; }
	for p in nubo:$pn plain:$pp libvirt:$pl; do
		peer=${p%%:*} pid=${p#*:}
		[ -n "$pid" ] || continue
		read -r r s < <(rss_kib "$pid")
		printf '%s\t%s\t%s\t%s\t%s\n' "$peer" "$i" "$r" "$s" "$(ssh_of "$peer")" >>"$OUT"
	done
	say "run $i/$BENCH_N: $(awk -F'\t' -v r="$i" '$2 == r { printf "%s %.0f MiB  ", $1, $3 / 1024 }' "$OUT")"
	nubo_retire "$name"
	plain_stop "$d/plain" "$tap" "$(proc_start "$pp")"
	[ -n "${LIBVIRT_OK:-}" ] && libvirt_stop "$lv"
	sleep 1
done

for p in nubo plain libvirt; do where "$OUT" peer "$p" >"$WORK/$p.tsv"; done
mib() { awk '{ printf "%.2f\n", $1 / 1024 }'; }
{
	printf 'QEMU process (guest: tiny, 1 GiB)\tnubo\tplain QEMU\tlibvirt\tnubo ÷ plain\tlibvirt ÷ nubo\n'
	for c in rss_kib pss_kib; do
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$([ $c = rss_kib ] && echo RSS || echo PSS)" \
			"$(fmt_n "$(col "$WORK/nubo.tsv" $c | mib | summ)" "%.1f MiB")" \
			"$(fmt_n "$(col "$WORK/plain.tsv" $c | mib | summ)" "%.1f MiB")" \
			"$(fmt_n "$(col "$WORK/libvirt.tsv" $c | mib | summ)" "%.1f MiB")" \
			"$(fmt_x "$(pair_ratio "$WORK/nubo.tsv" $c "$WORK/plain.tsv" $c | summ)")" \
			"$(fmt_x "$(pair_ratio "$WORK/libvirt.tsv" $c "$WORK/nubo.tsv" $c | summ)")"
	done
} >"$WORK/table.tsv"
{
	echo "## 6. Memory per running VM"
	echo
	echo "One VM of each (tiny, 1 vCPU, 1 GiB) started at the same moment; 3 s after all three"
	echo "answer SSH, the RSS and PSS of each QEMU process (\`/proc/PID/status\`, \`smaps_rollup\`). N=$BENCH_N runs."
	echo
	md_table <"$WORK/table.tsv"
} >"$BENCH_DIR/out/06-memory.md"
echo
term_table <"$WORK/table.tsv"
