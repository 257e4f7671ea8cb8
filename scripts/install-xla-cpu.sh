#!/usr/bin/env bash
# Installs a PJRT CPU plugin for GoMLX's XLA backend from a pinned PyPI wheel,
# so that gosde programs can run on XLA instead of the embedded pure-Go backend
# (10-40x faster than simplego's own kernels on the micro-benchmarks in docs/bench/backend.md;
# on gosde's benchmark rows the embedded backend is as fast or faster, docs/benchmarks.md).
# Linux x86-64 only.
#
# It downloads one wheel (pip download --no-deps, hash-checked), extracts only
# its plugin .so into $GOSDE_XLA_DIR and prints the GOMLX_BACKEND value to use:
#
#   eval "$(scripts/install-xla-cpu.sh)"       # exports GOMLX_BACKEND=xla:/abs/path.so
#   scripts/install-xla-cpu.sh --check         # also runs a matmul+gradient test on it
#
# Run it again at any time: when the plugin is in place it only prints the line.
# The wheels (both checked with go-xla v0.1.4, gomlx v0.26.0; see docs/backends.md):
#   lammps   lammps-jax-pjrt-cpu==0.11.2  XLA's CPU plugin built from jax 0.11.2's XLA,
#            PJRT C API 0.115 (newer than go-xla's 0.83: the supported direction). Default.
#   openxla  xla-cpu-pjrt==0.0.1          "The OpenXLA Authors", PJRT C API 0.81.
#
# Environment:
#   GOSDE_XLA_CPU_WHEEL  lammps (default) or openxla
#   GOSDE_XLA_DIR        install directory (default: <repo>/.tools/xla/cpu)
#   PYTHON               the Python whose pip downloads the wheel (default: python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${GOSDE_XLA_DIR:-$REPO/.tools/xla/cpu}"
PYTHON="${PYTHON:-python3}"
CHOICE="${GOSDE_XLA_CPU_WHEEL:-lammps}"
CHECK=0

log() { printf 'install-xla-cpu: %s\n' "$*" >&2; }
die() { printf 'install-xla-cpu: ERROR: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
	case "$arg" in
	--check) CHECK=1 ;;
	-h | --help) sed -n '2,23p' "$0"; exit 0 ;;
	*) die "unknown argument $arg (want --check or --help)" ;;
	esac
done

case "$CHOICE" in
lammps)
	PKG=lammps-jax-pjrt-cpu VERSION=0.11.2
	WHEEL=lammps_jax_pjrt_cpu-0.11.2-py3-none-manylinux_2_27_x86_64.whl
	SHA256=1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1
	MEMBER=lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so
	;;
openxla)
	PKG=xla-cpu-pjrt VERSION=0.0.1
	WHEEL=xla_cpu_pjrt-0.0.1-py3-none-manylinux_2_27_x86_64.whl
	SHA256=55837b6b7b47daa717f2d9a5a03563ea0ceaa338d06a81a1e2d3f060d960decc
	MEMBER=xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so
	;;
*) die "GOSDE_XLA_CPU_WHEEL=$CHOICE: want lammps or openxla" ;;
esac

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "the pinned wheels are for Linux x86-64, this is $(uname -s)-$(uname -m)"

SO="$DIR/$(basename "$MEMBER")"
STAMP="$SO.sha256-of-wheel"

if [ -f "$SO" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$SHA256" ]; then
	log "$PKG==$VERSION already installed at $SO"
else
	command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed for pip download)"
	mkdir -p "$DIR"
	TMP="$(mktemp -d "$DIR/.download.XXXXXX")"
	trap 'rm -rf "$TMP"' EXIT
	log "downloading $PKG==$VERSION (about 63 MB) ..."
	"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
		--platform manylinux_2_27_x86_64 --python-version 3 --implementation py --abi none \
		-d "$TMP" "$PKG==$VERSION" >&2 || die "pip download $PKG==$VERSION failed"
	[ -f "$TMP/$WHEEL" ] || die "pip did not produce $WHEEL (got: $(ls "$TMP"))"
	got="$(sha256sum "$TMP/$WHEEL" | cut -d' ' -f1)"
	[ "$got" = "$SHA256" ] || die "$WHEEL: sha256 $got, want $SHA256"
	log "extracting $MEMBER ..."
	"$PYTHON" - "$TMP/$WHEEL" "$MEMBER" "$TMP/plugin.so" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
	chmod 0755 "$TMP/plugin.so"
	mv -f "$TMP/plugin.so" "$SO" # atomic within $DIR
	printf '%s\n' "$SHA256" >"$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"
	log "installed $SO"
fi

if [ "$CHECK" = 1 ]; then
	log "checking: go test ./pkg/backend -run TestConfiguredBackend with GOMLX_BACKEND=xla:$SO (cgo build, ~40 s cold)"
	(cd "$REPO" && GOMLX_BACKEND="xla:$SO" go test -count=1 ./pkg/backend/ -run 'TestConfiguredBackend|TestPadForward|TestReverseForward' >&2) ||
		die "the plugin did not pass the check"
	log "check passed"
fi

printf 'export GOMLX_BACKEND=xla:%s\n' "$SO"
