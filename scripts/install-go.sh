#!/usr/bin/env bash
# Installs Go (pinned) into $GOSDE_GOROOT (default /usr/local/go) unless a Go at least
# as new as 1.26 is already on PATH. The toolchain comes from the Go module proxy
# (golang.org/toolchain, the same archives `GOTOOLCHAIN` downloads), checked against
# pinned SHA-256 sums; machines that reach only the proxy can install it too.
# Used by .ci/run and docker/Dockerfile*. Prints the Go it uses.
set -euo pipefail

GO_VERSION="${GO_VERSION:-1.26.8}"
GOROOT_DIR="${GOSDE_GOROOT:-/usr/local/go}"
PROXY="${GOSDE_GO_PROXY:-https://proxy.golang.org}"
declare -A SHA256=(
	[1.26.8-amd64]=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
	[1.26.8-arm64]=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
)

log() { printf 'install-go: %s\n' "$*" >&2; }

for g in "$(command -v go || true)" "$GOROOT_DIR/bin/go"; do
	if [ -n "$g" ] && [ -x "$g" ]; then
		minor="$("$g" env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
		if [ "$minor" -ge 26 ] 2>/dev/null; then
			log "using $("$g" env GOVERSION) ($g)"
			exit 0
		fi
	fi
done

case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) log "no pinned Go for $(uname -m): install Go $GO_VERSION from https://go.dev/dl/"; exit 1 ;;
esac
want="${SHA256[$GO_VERSION-$arch]:-}"
[ -n "$want" ] || { log "no pinned checksum for Go $GO_VERSION linux-$arch"; exit 1; }

missing=()
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mod="v0.0.1-go$GO_VERSION.linux-$arch"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log "downloading Go $GO_VERSION linux-$arch from $PROXY"
curl -fsSL --retry 3 -o "$tmp/go.zip" "$PROXY/golang.org/toolchain/@v/$mod.zip"
echo "$want  $tmp/go.zip" | sha256sum -c --quiet - || { log "checksum mismatch"; exit 1; }
unzip -q "$tmp/go.zip" -d "$tmp/x"
rm -rf "$GOROOT_DIR"
mkdir -p "$(dirname "$GOROOT_DIR")"
mv "$tmp/x/golang.org/toolchain@$mod" "$GOROOT_DIR"
log "installed $("$GOROOT_DIR/bin/go" version) in $GOROOT_DIR (add $GOROOT_DIR/bin to PATH)"
