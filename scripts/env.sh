# shellcheck shell=bash
# Sourced by gosde's scripts: puts the tools from scripts/install-tools.sh on PATH.
# Usage: . scripts/env.sh   (from bash; sets REPO, GOSDE_VENV, GOSDE_BIN, PATH)
REPO="${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
GOSDE_VENV="${GOSDE_VENV:-$REPO/.venv}"
if [ -z "${GOSDE_BIN:-}" ]; then
	GOSDE_BIN="$(go env GOBIN)"
	GOSDE_BIN="${GOSDE_BIN:-$(go env GOPATH)/bin}"
fi
GOSDE_LSP_BIN="${GOSDE_LSP_BIN:-$REPO/.tools/lsp/bin}" # gopls, for scripts/lab.sh only
export REPO GOSDE_VENV GOSDE_BIN GOSDE_LSP_BIN
export PATH="$GOSDE_BIN:$GOSDE_VENV/bin:$PATH"
# Never let GoMLX download a PJRT plugin behind the user's back.
export GOMLX_NO_AUTO_INSTALL="${GOMLX_NO_AUTO_INSTALL:-1}"
