#!/usr/bin/env bash
# Executes GoNB notebooks headless and checks them.
#
#   scripts/run-notebooks.sh [NOTEBOOK.ipynb...]     (default: notebooks/*.ipynb)
#
# For each notebook, writes under $GOSDE_NB_OUT (default out/notebooks/):
#   NAME.ipynb  the executed copy        NAME.html  its HTML export
#   NAME.log    nbconvert's output (kernel log, build messages)
# then runs scripts/check_notebooks.py on the executed copies, which fails on any
# error output, "exit status N" / "signal:" on stderr, unknown %magic, or a cell
# that did not run. GOSDE_QUICK=1 is set unless already set (GOSDE_QUICK=0 runs the
# full settings). Cell timeout: $GOSDE_NB_TIMEOUT seconds (default 900).
# Needs scripts/install-tools.sh to have run (`make tools`).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

OUTDIR="${GOSDE_NB_OUT:-$REPO/out/notebooks}"
TIMEOUT="${GOSDE_NB_TIMEOUT:-900}"
export GOSDE_QUICK="${GOSDE_QUICK:-1}"

command -v jupyter >/dev/null && command -v gonb >/dev/null ||
	{ echo "run-notebooks: jupyter or gonb missing: run 'make tools' (scripts/install-tools.sh)" >&2; exit 2; }

if [ $# -eq 0 ]; then
	shopt -s nullglob
	set -- notebooks/*.ipynb
	[ $# -gt 0 ] || { echo "run-notebooks: no notebooks/*.ipynb" >&2; exit 2; }
fi
mkdir -p "$OUTDIR"

executed=()
for nb in "$@"; do
	[ -f "$nb" ] || { echo "run-notebooks: $nb: no such file" >&2; exit 2; }
	name="$(basename "$nb" .ipynb)"
	out="$OUTDIR/$name.ipynb"
	log="$OUTDIR/$name.log"
	rm -f "$out" "$OUTDIR/$name.html"
	start=$SECONDS
	# --allow-errors: keep executing and write the copy even after a failing cell, so
	# that the checker can name the cell; the checker decides pass/fail.
	if jupyter nbconvert --to notebook --execute --allow-errors \
		--ExecutePreprocessor.kernel_name=gonb \
		--ExecutePreprocessor.timeout="$TIMEOUT" \
		--output-dir "$OUTDIR" --output "$name" "$nb" >"$log" 2>&1; then
		jupyter nbconvert --to html --output-dir "$OUTDIR" "$out" >>"$log" 2>&1 ||
			echo "run-notebooks: $name: HTML export failed (see $log)" >&2
		status="done"
	else
		status="nbconvert failed (see $log)"
		tail -n 15 "$log" | sed 's/^/    /' >&2
	fi
	printf 'run-notebooks: %-28s %4ds  %s\n' "$name" $((SECONDS - start)) "$status"
	executed+=("$out")
done

echo "run-notebooks: executed ${#executed[@]} notebook(s) in $SECONDS s; outputs in $OUTDIR"
python3 "$REPO/scripts/check_notebooks.py" "${executed[@]}"
