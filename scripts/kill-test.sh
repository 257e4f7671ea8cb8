#!/usr/bin/env bash
# kill-test.sh: train with checkpointing, kill the process with SIGKILL at
# random moments, and check after each kill that a valid checkpoint and
# history remain and that the next run resumes from them.
#
#   scripts/kill-test.sh [-n N] [-c "mnist latentsde spirals"] [-w WORKDIR] [-max SECONDS]
#
# For each training command, in a fresh output directory, N times:
#   1. start the command (a small setting: it would run for much longer than
#      -max seconds), resuming from the directory when it holds a checkpoint;
#   2. after a random delay in [0.2, -max] seconds, kill -9 it;
#   3. fail if it had exited by itself (a refused or failed resume), if a
#      checkpoint file does not verify (magic, version, SHA-256, structure),
#      if its history does not hold every step 1..step, if history.json
#      (latentsde) is not valid or disagrees with the checkpoint, or if the
#      newest checkpoint's step went backwards.
# Then one last run trains a few more steps to completion (exit status 0).
# mnist uses the first 64 training images of the MNIST files (the GoMNIST
# module in the Go module cache, as the tests do).
# Prints one line per kill and a summary per command; exits 1 on any failure.
set -euo pipefail

N=50
COMMANDS="mnist latentsde spirals"
WORK=""
MAX=3
while [[ $# -gt 0 ]]; do
	case "$1" in
	-n) N="$2"; shift 2 ;;
	-c) COMMANDS="$2"; shift 2 ;;
	-w) WORK="$2"; shift 2 ;;
	-max) MAX="$2"; shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "kill-test.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
	esac
done
if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then
	echo "kill-test.sh: -n must be a positive integer, got $N" >&2
	exit 1
fi
if ! [[ "$MAX" =~ ^[0-9]+(\.[0-9]+)?$ ]] || awk -v m="$MAX" 'BEGIN { exit !(m < 0.5) }'; then
	echo "kill-test.sh: -max must be a number of seconds ≥ 0.5, got $MAX" >&2
	exit 1
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "$WORK" ]]; then
	WORK="$(mktemp -d "${TMPDIR:-/tmp}/gosde-kill-test.XXXXXX")"
fi
mkdir -p "$WORK"
export GOMLX_NO_AUTO_INSTALL=1
echo "building into $WORK"
(cd "$ROOT" && go build -o "$WORK/gosde" ./cmd/gosde && go build -o "$WORK/ckverify" ./internal/checkpoint/ckverify)

# args COMMAND DIR [final]: the command line of a training run in DIR; with
# "final", a target a few steps past the newest checkpoint ($STEP).
args() {
	local cmd="$1" dir="$2" final="${3:-}"
	case "$cmd" in
	mnist)
		# 64 images in batches of 2: 32 steps per epoch.
		local epochs=100000
		[[ -n "$final" ]] && epochs=$(((STEP + 3) / 32 + 1))
		echo mnist --out "$dir" --train-limit 64 --test-limit 16 --checkpoint-every 3 --epochs "$epochs" --progress=false
		;;
	latentsde)
		local steps=1000000
		[[ -n "$final" ]] && steps=$((STEP + 3))
		echo latentsde --out "$dir" --steps "$steps" --paths 16 --obs 6 --hidden 8 --save-every 2 --samples 4
		;;
	spirals)
		local iters=1000000
		[[ -n "$final" ]] && iters=$((STEP + 3))
		echo spirals --out "$dir" --iters "$iters" --batch 4 --spirals 40 --save-every 2
		;;
	*)
		echo "kill-test.sh: unknown command $cmd (want mnist, latentsde or spirals)" >&2
		return 1
		;;
	esac
}

# verify DIR: check the directory's checkpoints and history; sets STEP to
# the newest checkpoint's step (0 when there is none yet).
verify() {
	local dir="$1" out rc=0
	out="$("$WORK/ckverify" -contiguous -history "$dir/history.json" "$dir" 2>&1)" || rc=$?
	if [[ $rc -eq 2 ]]; then
		STEP=0
		return 0
	fi
	if [[ $rc -ne 0 ]]; then
		echo "  BROKEN: $out"
		return 1
	fi
	STEP="$(awk '{ print $2 }' <<<"$out")"
}

failures=0
for cmd in $COMMANDS; do
	dir="$WORK/$cmd"
	rm -rf "$dir"
	mkdir -p "$dir"
	args "$cmd" "$dir" >/dev/null
	prev=0 broken=0 refused=0 empty=0
	for ((i = 1; i <= N; i++)); do
		delay="$(awk -v s="$RANDOM$i" -v m="$MAX" 'BEGIN { srand(s); printf "%.2f", 0.2 + rand() * (m - 0.2) }')"
		# shellcheck disable=SC2046
		"$WORK/gosde" $(args "$cmd" "$dir") >"$WORK/$cmd.log" 2>&1 &
		pid=$!
		sleep "$delay"
		status="killed"
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		else
			status="exited"
		fi
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		if [[ "$status" == "exited" || $rc -ne 137 ]]; then
			echo "$cmd kill $i: the run ended by itself (status $rc) before the kill at ${delay}s:"
			tail -n 5 "$WORK/$cmd.log" | sed 's/^/  /'
			refused=$((refused + 1))
			continue
		fi
		if ! verify "$dir"; then
			broken=$((broken + 1))
			echo "$cmd kill $i at ${delay}s: BROKEN"
			continue
		fi
		if [[ "$STEP" -lt "$prev" ]]; then
			echo "$cmd kill $i at ${delay}s: newest checkpoint went back from step $prev to $STEP"
			broken=$((broken + 1))
		fi
		[[ "$STEP" -eq 0 ]] && empty=$((empty + 1))
		echo "$cmd kill $i at ${delay}s: checkpoint at step $STEP ok"
		prev="$STEP"
	done
	# The last run resumes and finishes a few steps later.
	verify "$dir" || broken=$((broken + 1))
	final_rc=0
	# shellcheck disable=SC2046
	"$WORK/gosde" $(args "$cmd" "$dir" final) >"$WORK/$cmd.final.log" 2>&1 || final_rc=$?
	if [[ $final_rc -ne 0 ]]; then
		echo "$cmd: the final resumed run failed (status $final_rc):"
		tail -n 5 "$WORK/$cmd.final.log" | sed 's/^/  /'
		refused=$((refused + 1))
	else
		verify "$dir" || broken=$((broken + 1))
		echo "$cmd: final resumed run finished at step $STEP"
	fi
	echo "SUMMARY $cmd: $N kills, $broken broken checkpoints or histories, $refused failed resumes, $empty kills before the first checkpoint"
	failures=$((failures + broken + refused))
done
[[ $failures -eq 0 ]]
