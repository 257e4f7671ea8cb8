#!/usr/bin/env bash
# Installs the tools gosde's notebooks need, pinned, and only what is missing:
#
#   - Jupyter (JupyterLab, nbconvert, nbclient) into .venv/ from PyPI, pinned by
#     scripts/requirements-jupyter.txt; when PyPI cannot be reached, Debian's
#     jupyter-nbconvert and jupyter-notebook packages instead (no JupyterLab).
#   - GoNB v0.11.1 (the Go kernel) and goimports (golang.org/x/tools v0.52.0),
#     built with the local Go into $GOSDE_BIN.
#   - gopls v0.23.0 (completion and hover in JupyterLab) with GOSDE_GOPLS=1, which
#     scripts/lab.sh (`make lab`) sets on its first start. It goes to .tools/lsp/bin,
#     which only scripts/lab.sh puts on PATH: GoNB starts gopls in every kernel it can
#     find it in, which slows headless runs down.
#   - the GoNB kernel spec (`gonb --install --raw_error`).
#   - a C compiler (gcc, from apt) when Go has none: gosde links the XLA backend with cgo.
#
# Run it again at any time: when everything is in place it takes about a second.
# It runs `apt-get update` only when it has to install a Debian package.
#
# Environment:
#   GOSDE_VENV     virtual environment for Jupyter (default: <repo>/.venv)
#   GOSDE_BIN      where Go tools are installed (default: $(go env GOBIN), else $(go env GOPATH)/bin)
#   GOSDE_JUPYTER  auto (default: PyPI, else Debian), pypi, or debian
#   GOSDE_GOPLS    1 to also install gopls into $GOSDE_LSP_BIN (default 0; `make lab` sets 1)
#   GOSDE_LSP_BIN  where gopls goes (default: <repo>/.tools/lsp/bin)
#   PYTHON         the Python that creates the venv (default: python3)
#
# Called by `make tools`, by .ci/run through `make test`, and by docker/Dockerfile*.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GONB_VERSION=v0.11.1
XTOOLS_VERSION=v0.52.0
GOPLS_VERSION=v0.23.0
MIN_GO_MINOR=26

VENV="${GOSDE_VENV:-$REPO/.venv}"
JUPYTER_MODE="${GOSDE_JUPYTER:-auto}"
PYTHON="${PYTHON:-python3}"
REQS="$REPO/scripts/requirements-jupyter.txt"

log() { printf 'install-tools: %s\n' "$*" >&2; }
die() { printf 'install-tools: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- apt
APT_UPDATED=0
apt_install() {
	command -v apt-get >/dev/null || die "need Debian packages ($*) but apt-get is not available: install them by hand"
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
		sudo="sudo"
	fi
	if [ "$APT_UPDATED" = 0 ]; then
		log "apt-get update"
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------- Go
command -v go >/dev/null || die "Go 1.$MIN_GO_MINOR or newer is required and 'go' is not on PATH (scripts/install-go.sh installs one)"
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if ! [ "$go_minor" -ge "$MIN_GO_MINOR" ] 2>/dev/null; then
	die "Go 1.$MIN_GO_MINOR or newer is required, found $(go env GOVERSION)"
fi
# gosde links GoMLX's XLA backend (cgo) on linux/amd64: Go needs a C compiler.
cc="$(go env CC)"
if ! command -v "${cc%% *}" >/dev/null; then
	apt_install gcc libc6-dev
fi
BIN="${GOSDE_BIN:-$(go env GOBIN)}"
BIN="${BIN:-$(go env GOPATH)/bin}"
mkdir -p "$BIN"
export PATH="$BIN:$PATH"

# installed_version BIN MODULE prints the version of MODULE that BIN was built from.
installed_version() {
	[ -x "$1" ] || return 0
	go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'
}

# go_tool PKG MODULE VERSION NAME [DIR] builds PKG from MODULE@VERSION into DIR/NAME
# (DIR defaults to $BIN), unless DIR/NAME was already built from that version. A throw-away tools module
# is used because `go install PKG@VERSION` asks the proxy for the version list,
# which some proxies refuse; one module per tool keeps each tool's own
# dependency versions.
go_tool() {
	local pkg="$1" mod="$2" ver="$3" name="$4" dir="${5:-$BIN}"
	if [ "$(installed_version "$dir/$name" "$mod")" = "$ver" ]; then
		log "$name $ver: already installed ($dir/$name)"
		return
	fi
	log "$name $ver: building into $dir"
	mkdir -p "$dir"
	local tmp
	tmp="$(mktemp -d)"
	(
		cd "$tmp"
		export GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir"
		go mod init gosde.local/tools >/dev/null 2>&1
		go get -tool "$pkg@$ver" >get.log 2>&1 || { cat get.log >&2; exit 1; }
		go install tool
	) || { rm -rf "$tmp"; die "building $pkg@$ver failed"; }
	rm -rf "$tmp"
	[ "$(installed_version "$dir/$name" "$mod")" = "$ver" ] || die "$dir/$name is not $mod $ver after the build"
}

go_tool github.com/janpfeifer/gonb github.com/janpfeifer/gonb "$GONB_VERSION" gonb
go_tool golang.org/x/tools/cmd/goimports golang.org/x/tools "$XTOOLS_VERSION" goimports
LSP_BIN="${GOSDE_LSP_BIN:-$REPO/.tools/lsp/bin}"
if [ "${GOSDE_GOPLS:-0}" = 1 ]; then
	go_tool golang.org/x/tools/gopls golang.org/x/tools/gopls "$GOPLS_VERSION" gopls "$LSP_BIN"
fi

# ---------------------------------------------------------------- Jupyter
STAMP="$VENV/.gosde-jupyter"
reqs_sum="$(sha256sum "$REQS" | cut -c1-16)"

jupyter_from_pypi() {
	if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
		# Debian's python3 keeps venv/ensurepip in a separate package.
		apt_install python3 python3-venv
		PYTHON=/usr/bin/python3
	fi
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV" || return 1
	"$VENV/bin/python" -m pip install -q --disable-pip-version-check --timeout 30 --retries 2 \
		--no-input -r "$REQS" || return 1
	"$VENV/bin/jupyter" nbconvert --version >/dev/null || return 1
	echo "pypi $reqs_sum" >"$STAMP"
}

jupyter_from_debian() {
	if ! [ -x /usr/bin/jupyter-nbconvert ] || ! [ -x /usr/bin/jupyter-notebook ]; then
		apt_install jupyter-nbconvert jupyter-notebook python3-ipykernel
	fi
	rm -rf "$VENV"
	mkdir -p "$VENV/bin"
	# Debian's scripts run /usr/bin/python3: link them, do not call `python3 -m`.
	local t
	for t in jupyter jupyter-nbconvert jupyter-notebook jupyter-kernelspec; do
		[ -x "/usr/bin/$t" ] && ln -sf "/usr/bin/$t" "$VENV/bin/$t"
	done
	echo "debian $reqs_sum" >"$STAMP"
}

current="$(cat "$STAMP" 2>/dev/null || true)"
case "$JUPYTER_MODE:$current" in
auto:"pypi $reqs_sum" | pypi:"pypi $reqs_sum" | debian:"debian $reqs_sum")
	[ -x "$VENV/bin/jupyter" ] && have_jupyter=1 || have_jupyter=0 ;;
*) have_jupyter=0 ;;
esac
if [ "$have_jupyter" = 1 ]; then
	log "jupyter: already installed (${current%% *}, $VENV)"
else
	case "$JUPYTER_MODE" in
	pypi) jupyter_from_pypi || die "installing Jupyter from PyPI failed" ;;
	debian) jupyter_from_debian ;;
	auto)
		if ! jupyter_from_pypi; then
			log "PyPI failed: falling back to Debian's jupyter-nbconvert/jupyter-notebook (no JupyterLab)"
			jupyter_from_debian
		fi
		;;
	*) die "GOSDE_JUPYTER must be auto, pypi or debian, not '$JUPYTER_MODE'" ;;
	esac
	log "jupyter: installed from $(cut -d' ' -f1 "$STAMP") into $VENV"
fi

# ---------------------------------------------------------------- kernel spec
force_deps=()
PATH="$LSP_BIN:$PATH" command -v gopls >/dev/null || force_deps=(--force_deps)
PATH="$LSP_BIN:$PATH" gonb --install --raw_error "${force_deps[@]}" 2>/dev/null ||
	die "'gonb --install --raw_error ${force_deps[*]}' failed"
# Debian's Jupyter has no `jupyter kernelspec`: look in Jupyter's data path instead.
"$VENV/bin/jupyter" --paths --json | "$PYTHON" -c '
import json, os, sys
sys.exit(not any(os.path.exists(os.path.join(d, "kernels", "gonb", "kernel.json"))
                 for d in json.load(sys.stdin)["data"]))' ||
	die "the gonb kernel spec is not in the data path of $VENV/bin/jupyter"

log "ready: jupyter=$(cut -d' ' -f1 "$STAMP") ($VENV/bin/jupyter), gonb $GONB_VERSION and goimports $XTOOLS_VERSION in $BIN$([ -x "$LSP_BIN/gopls" ] && echo ", gopls in $LSP_BIN")"
