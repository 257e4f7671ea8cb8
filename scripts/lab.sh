#!/usr/bin/env bash
# Starts JupyterLab on notebooks/ with the gonb kernel (from .venv/, see scripts/install-tools.sh).
#
# Environment:
#   LAB_IP     address to listen on (default 127.0.0.1; the Docker image uses 0.0.0.0)
#   LAB_PORT   port (default 8888)
#   LAB_TOKEN  access token (default: a fresh random one, printed in the URL)
# When Jupyter came from Debian (no JupyterLab), the classic notebook server is started instead.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
# gopls (GOSDE_GOPLS=1 make tools) gives completion and hover; only interactive kernels get it.
export PATH="$GOSDE_LSP_BIN:$PATH"

ip="${LAB_IP:-127.0.0.1}"
port="${LAB_PORT:-8888}"
token="${LAB_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
app=lab path=lab cfg=ServerApp
if ! jupyter lab --version >/dev/null 2>&1; then
	app=notebook path=tree cfg=NotebookApp # Debian's classic notebook 6
fi
host="$ip"
[ "$host" = 0.0.0.0 ] && host=127.0.0.1
echo "gosde: open http://$host:$port/$path?token=$token"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec jupyter "$app" --no-browser --ip="$ip" --port="$port" --notebook-dir="$REPO/notebooks" \
	--$cfg.token="$token" --$cfg.port_retries=0 "${extra[@]}"
