#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/plot.sh - the ratio table of a benchmark CSV as a bar chart.
#
#   bench/plot.sh CSV [OUT.svg] [TITLE]
#
# CSV is what bench/run.sh and bench/swap.sh write (workload,unit,tmpfs,
# shmemfs,ratio); rows without a ratio (the machine's memcpy ceiling)
# are left out.  One bar per workload, shmemfs/tmpfs (higher is better),
# on a log scale from parity (1.0, the dashed line) to the ratio, so
# bars to the left are slower than tmpfs, bars to the right faster;
# through gnuplot into OUT.svg (default:
# the CSV's name with .svg).  Installs gnuplot-nox with apt-get if
# missing.
set -Eeuo pipefail

csv=${1:?usage: bench/plot.sh CSV [OUT.svg] [TITLE]}
out=${2:-${csv%.csv}.svg}
title=${3:-shmemfs vs kernel tmpfs (ratio, higher is better; 1 = parity)}

if ! command -v gnuplot >/dev/null; then
	echo "plot.sh: installing gnuplot-nox" >&2
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		install -y -qq gnuplot-nox >&2
fi

data=$(mktemp)
trap 'rm -f "$data"' EXIT
# label<TAB>ratio, the label with its unit; gnuplot reads tab-separated
awk -F, 'NR > 1 && $5 != "" {
	label = $1; gsub(/"/, "", label)
	printf "%s\t%s\n", label, $5 }' "$csv" > "$data"
n=$(wc -l < "$data")
[ "$n" -gt 0 ] || { echo "plot.sh: no ratios in $csv" >&2; exit 1; }

height=$((160 + 26 * n))
gnuplot <<GP
set terminal svg size 900,$height dynamic enhanced font "sans,11" background "white"
set output "$out"
set datafile separator "\t"
set title "$title" noenhanced
set style fill solid 0.8 border -1
set yrange [$n - 0.4:-0.6]
set ytics nomirror noenhanced
set grid xtics
set xlabel "shmemfs / tmpfs"
set logscale x
set xrange [*:*]
set format x "%g"
set key off
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lw 2 lc rgb "#c0392b" front
lo(r) = r < 1 ? r : 1
hi(r) = r < 1 ? 1 : r
# horizontal bars from parity to the ratio, 0.7 high
plot "$data" using 2:0:(lo(\$2)):(hi(\$2)):(\$0 - 0.35):(\$0 + 0.35):ytic(1) \
	with boxxyerror lc rgb "#3b7dd8", \
     "" using (hi(\$2)):0:(sprintf(" %.2f", \$2)) with labels left font "sans,10"
GP
echo "chart: $out"
