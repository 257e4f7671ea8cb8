#!/usr/bin/env bash
# Rebuilds docs/benchmarks.md from the per-topic sections in docs/bench/*.md.
# Each section carries its own command, machine and date.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
{
	cat <<'HDR'
# Benchmarks

Every figure below was produced by the command printed beside it, on the machine it names.
Unless a section says otherwise the machine is the project's development machine: 2 cores
(AMD EPYC), 24 GiB, no GPU, Go 1.26, GoMLX v0.26.0. No GPU was lent to this project's session, so
GPU figures are not measured (the recipe is in docs/backends.md and docs/mnist.md).
Several sections were measured while other jobs shared the two cores; they say so, and give CPU
time where wall time was unreliable.

This file is generated from `docs/bench/*.md` by `scripts/merge-benchmarks.sh`; edit those.

HDR
	for f in perf peers sde backend adjoint latentsde spirals mnist; do
		[ -f "docs/bench/$f.md" ] || continue
		sed 's/^# /## /' "docs/bench/$f.md"
		echo
	done
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
