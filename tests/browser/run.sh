#!/usr/bin/env bash
# Browser test (`make browser-test`): starts JupyterLab from .venv/ on 127.0.0.1 with a
# token, opens notebooks/00-quickstart.ipynb in headless Debian chromium driven by
# playwright-core, runs all cells through the UI and waits for the PNG plot.
# Screenshot: out/browser/quickstart.png (quickstart-failed.png on failure);
# JupyterLab's log: out/browser/lab.log.
#
# Installs what it needs: chromium (apt; `apt-get update` only when missing) and
# playwright-core (npm, pinned) into .tools/browser/. Needs `make tools` first.
# Leaves notebooks/ as it found it (autosave off, checkpoints outside the repo,
# the notebook restored if anything wrote to it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
cd "$REPO"

PLAYWRIGHT_VERSION=1.65.1
NB=00-quickstart.ipynb
OUT="$REPO/out/browser"
NODE_DIR="$REPO/.tools/browser"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
start=$SECONDS
log() { printf 'browser-test: %s\n' "$*" >&2; }

# ---- chromium and node
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	log "apt-get install ${missing[*]}"
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# ---- playwright-core (the driver only; it downloads no browser)
have="$(node -p "require('$NODE_DIR/node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
if [ "$have" != "$PLAYWRIGHT_VERSION" ]; then
	log "npm install playwright-core@$PLAYWRIGHT_VERSION into $NODE_DIR"
	mkdir -p "$NODE_DIR"
	npm install --silent --no-audit --no-fund --no-save --prefix "$NODE_DIR" \
		"playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi
log "tools ready after $((SECONDS - start)) s"

# ---- JupyterLab on a free port, isolated settings
mkdir -p "$OUT"
tmp="$(mktemp -d)"
cp "notebooks/$NB" "$tmp/$NB.orig"
mkdir -p "$tmp/settings/@jupyterlab/docmanager-extension" "$tmp/workspaces" "$tmp/checkpoints"
echo '{"autosave": false}' >"$tmp/settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
# No "news" and update pop-ups.
mkdir -p "$tmp/settings/@jupyterlab/apputils-extension"
echo '{"fetchNews": "false", "checkForUpdates": false}' >"$tmp/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
jupyter lab --no-browser --ip=127.0.0.1 --port="$port" --ServerApp.port_retries=0 \
	--ServerApp.token="$token" --notebook-dir="$REPO/notebooks" \
	--LabApp.user_settings_dir="$tmp/settings" --LabApp.workspaces_dir="$tmp/workspaces" \
	--FileCheckpoints.checkpoint_dir="$tmp/checkpoints" "${extra[@]}" >"$OUT/lab.log" 2>&1 &
lab_pid=$!
cleanup() {
	kill "$lab_pid" 2>/dev/null || true
	wait "$lab_pid" 2>/dev/null || true
	if ! cmp -s "$tmp/$NB.orig" "notebooks/$NB"; then
		log "restoring notebooks/$NB (it was modified)"
		cp "$tmp/$NB.orig" "notebooks/$NB"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
	curl -fs -o /dev/null "http://127.0.0.1:$port/api/status?token=$token" && break
	kill -0 "$lab_pid" 2>/dev/null || { tail -20 "$OUT/lab.log" >&2; log "JupyterLab exited"; exit 1; }
	sleep 0.5
done
log "JupyterLab up on port $port after $((SECONDS - start)) s"

# ---- the test (TIMEOUT_S: seconds to wait for the plot, default 300)
rm -f "$OUT/quickstart.png" "$OUT/quickstart-failed.png"
NODE_PATH="$NODE_DIR/node_modules" LAB_URL="http://127.0.0.1:$port" LAB_TOKEN="$token" \
	NOTEBOOK="$NB" SHOT="$OUT/quickstart.png" CHROMIUM="$CHROMIUM" \
	node "$REPO/tests/browser/quickstart.js"
log "total $((SECONDS - start)) s"
