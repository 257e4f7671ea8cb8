#!/usr/bin/env bash
# Starts JupyterLab with the gonb kernel on working copies of the notebooks.
#
# The lab does not open notebooks/ itself: it serves notebooks-lab/ (ignored by git), where each
# notebooks/NAME.ipynb is copied when the copy is missing or still as it was copied. A copy you
# have run or edited is kept, and a newer notebooks/NAME.ipynb is announced instead (delete your
# copy to get it). Outputs, autosaves and .ipynb_checkpoints/ therefore never touch tracked files.
# notebooks-lab/ sits next to notebooks/, so the notebooks' first cell (a Go workspace with
# "${GONB_DIR}/..") still finds the repository.
#
# Completion and hover: gopls is built into $GOSDE_LSP_BIN on first use (about a minute, once;
# GOSDE_GOPLS=0 skips it) and put on PATH for this server only.
#
# Environment:
#   LAB_IP       address to listen on (default 127.0.0.1; the Docker image uses 0.0.0.0)
#   LAB_PORT     port (default 8888)
#   LAB_TOKEN    access token (default: a fresh random one, printed in the URL)
#   GOSDE_QUICK  1 runs the notebooks' small settings (default: their full settings)
#   GOSDE_GOPLS  0 to start without gopls
# When Jupyter came from Debian (no JupyterLab), the classic notebook server is started instead.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

say() { printf 'gosde lab: %s\n' "$*"; }

# ---------------------------------------------------------------- gopls
if [ "${GOSDE_GOPLS:-1}" != 0 ] && ! [ -x "$GOSDE_LSP_BIN/gopls" ]; then
	mkdir -p "$REPO/.tools"
	say "building gopls for completion and hover (once, about a minute; GOSDE_GOPLS=0 skips it)"
	GOSDE_GOPLS=1 bash scripts/install-tools.sh >/dev/null 2>"$REPO/.tools/gopls-build.log" ||
		say "gopls could not be built (see .tools/gopls-build.log): no completion or hover"
fi
export PATH="$GOSDE_LSP_BIN:$PATH"
if [ -x "$GOSDE_LSP_BIN/gopls" ]; then
	lsp="on (gopls: Tab completes, Shift+Tab shows the documentation)"
else
	lsp="off (no gopls; 'GOSDE_GOPLS=1 make tools' installs it)"
fi

# ---------------------------------------------------------------- working copies
LAB="$REPO/notebooks-lab"
mkdir -p "$LAB/.orig"
shopt -s nullglob
for nb in notebooks/*.ipynb; do
	name="$(basename "$nb")"
	work="$LAB/$name" orig="$LAB/.orig/$name"
	if [ ! -e "$work" ] || { [ -e "$orig" ] && cmp -s "$work" "$orig"; }; then
		cp "$nb" "$work.tmp" && mv "$work.tmp" "$work"
		cp "$nb" "$orig"
	elif ! cmp -s "$nb" "${orig}" 2>/dev/null; then
		say "kept your copy notebooks-lab/$name; notebooks/$name is newer (delete your copy to get it)"
	fi
done
cp notebooks/README.md "$LAB/README.md"

# ---------------------------------------------------------------- server
ip="${LAB_IP:-127.0.0.1}"
port="${LAB_PORT:-8888}"
token="${LAB_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
app=lab path=lab cfg=ServerApp
if ! jupyter lab --version >/dev/null 2>&1; then
	app=notebook path=tree cfg=NotebookApp # Debian's classic notebook 6
fi
host="$ip"
[ "$host" = 0.0.0.0 ] && host=127.0.0.1
if [ "${GOSDE_QUICK:-0}" = 1 ]; then
	settings="quick (GOSDE_QUICK=1)"
else
	settings="full (start with GOSDE_QUICK=1 for the quick ones, or set 'quick' in a notebook's first cells)"
fi
say "serving notebooks-lab/: working copies of notebooks/*.ipynb (ignored by git; notebooks/ is not modified)"
say "completion and hover: $lsp"
say "settings: $settings"
say "a cell that panics ends its output with 'exit status 2', but GoNB v0.11.1 reports it as"
say "  finished, so Run All goes on: look for the first such cell"
say "open http://$host:$port/$path?token=$token"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec jupyter "$app" --no-browser --ip="$ip" --port="$port" --notebook-dir="$LAB" \
	--$cfg.token="$token" --$cfg.port_retries=0 "${extra[@]}"
