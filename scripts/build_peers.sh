#!/usr/bin/env bash
# Builds the benchmark peer jpeg-recompress (jpeg-archive, linked statically against mozjpeg) from source into
# build/peers/, for bench/peers.py. A benchmark peer, never a dependency of the function: nothing here is
# packaged, imported or needed by tests.
#
# Sources, by default, are git clones of the upstream repositories at the pinned commits below. To build from
# local source trees instead (no network), point MOZJPEG_SRC and/or JPEG_ARCHIVE_SRC at them; the pinned
# commit is then checked only if the tree is a git checkout (PEERS_ALLOW_OTHER_COMMIT=1 skips that check).
# MOZJPEG_URL / JPEG_ARCHIVE_URL clone from a mirror instead; the pinned commits still apply.
# Compiler output goes to build/peers/build.log; its tail is printed where a step fails.
#
# Needs: git (for the default clones), cmake >= 3.10, make, a C compiler, and nasm (or yasm) for mozjpeg's
# SIMD code. Nothing is installed by this script; it stops and names what is missing (Debian/Ubuntu:
# apt-get install cmake make gcc nasm). PEERS_NO_SIMD=1 builds without nasm: slower, so its timings are not
# comparable with a SIMD build's.
set -euo pipefail

MOZJPEG_URL=${MOZJPEG_URL:-https://github.com/mozilla/mozjpeg.git}
MOZJPEG_COMMIT=6c9f0897afa1c2738d7222a0a9ab49e8b536a267        # tag v4.1.5
JPEG_ARCHIVE_URL=${JPEG_ARCHIVE_URL:-https://github.com/danielgtaylor/jpeg-archive.git}
# Tag v2.2.0 plus the upstream fixes after it (GCC >= 10 link fix in util.h, smallfry heap overflow); the tag
# itself no longer links with GCC 10+ (-fno-common).
JPEG_ARCHIVE_COMMIT=5ae3e1187937227e8d90329fdd8334960f74c825

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${PEERS_DIR:-$ROOT/build/peers}
JOBS=${PEERS_JOBS:-2}

LOG=$OUT/build.log

die() { echo "build_peers: $*" >&2; exit 1; }

# logged COMMAND...: runs it with its output in $LOG, and stops with the log's tail where it fails.
logged() {
    "$@" >>"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "failed: $* (full log: $LOG)"; }
}

require_tools() {
    local missing=()
    for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if [ "${PEERS_NO_SIMD:-0}" != 1 ] && ! command -v nasm >/dev/null && ! command -v yasm >/dev/null; then
        missing+=("nasm (or yasm; or set PEERS_NO_SIMD=1)")
    fi
    [ ${#missing[@]} -eq 0 ] || die "missing build tools: ${missing[*]} (Debian/Ubuntu: apt-get install cmake make gcc nasm git)"
}

# source_tree NAME URL COMMIT OVERRIDE -> prints the source directory to build from.
source_tree() {
    local name=$1 url=$2 commit=$3 override=$4 dir
    if [ -n "$override" ]; then
        [ -d "$override" ] || die "$name source $override is not a directory"
        dir=$(cd "$override" && pwd)
    else
        dir=$OUT/src/$name
        if [ ! -d "$dir/.git" ]; then
            command -v git >/dev/null || die "git is needed to clone $url (or set the source env var)"
            rm -rf "$dir"
            git clone --quiet "$url" "$dir" >&2 || die "could not clone $url (or set the source env var)"
        fi
        git -C "$dir" checkout --quiet "$commit" >&2 || die "$name: commit $commit not found in $dir"
    fi
    check_commit "$name" "$dir" "$commit"
    echo "$dir"
}

check_commit() {
    local name=$1 dir=$2 want=$3 have
    [ "${PEERS_ALLOW_OTHER_COMMIT:-0}" = 1 ] && return 0
    have=$(git -C "$dir" rev-parse HEAD 2>/dev/null) || return 0   # not a git tree: trusted as given
    [ "$have" = "$want" ] || die "$name source $dir is at $have, pinned $want (PEERS_ALLOW_OTHER_COMMIT=1 to accept)"
}

build_mozjpeg() {
    local src=$1 simd=ON
    [ "${PEERS_NO_SIMD:-0}" = 1 ] && simd=OFF
    logged cmake -S "$src" -B "$OUT/mozjpeg-build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$OUT/mozjpeg" -DCMAKE_INSTALL_LIBDIR="$OUT/mozjpeg/lib" \
        -DENABLE_SHARED=0 -DENABLE_STATIC=1 -DBUILD_SHARED_LIBS=0 \
        -DWITH_TURBOJPEG=0 -DPNG_SUPPORTED=0 -DWITH_SIMD=$simd -DREQUIRE_SIMD=$simd
    logged cmake --build "$OUT/mozjpeg-build" --parallel "$JOBS"
    logged cmake --install "$OUT/mozjpeg-build"
}

# jpeg-archive builds in its own tree, so a copy is built: a user's source tree is never written to.
build_jpeg_archive() {
    local src=$1 work=$OUT/jpeg-archive-build
    rm -rf "$work"
    mkdir -p "$work"
    (cd "$src" && tar --exclude=.git -cf - .) | tar -xf - -C "$work"
    logged make -C "$work" -j "$JOBS" MOZJPEG_PREFIX="$OUT/mozjpeg" jpeg-recompress
    mkdir -p "$OUT/bin"
    cp "$work/jpeg-recompress" "$OUT/bin/jpeg-recompress.new"
    mv "$OUT/bin/jpeg-recompress.new" "$OUT/bin/jpeg-recompress"   # a running copy is not overwritten in place
}

main() {
    require_tools cmake make "${CC:-cc}"
    mkdir -p "$OUT"
    : >"$LOG"
    local mozjpeg_src archive_src
    mozjpeg_src=$(source_tree mozjpeg "$MOZJPEG_URL" "$MOZJPEG_COMMIT" "${MOZJPEG_SRC:-}")
    archive_src=$(source_tree jpeg-archive "$JPEG_ARCHIVE_URL" "$JPEG_ARCHIVE_COMMIT" "${JPEG_ARCHIVE_SRC:-}")
    echo "build_peers: mozjpeg from $mozjpeg_src"
    build_mozjpeg "$mozjpeg_src"
    echo "build_peers: jpeg-archive from $archive_src"
    build_jpeg_archive "$archive_src"
    "$OUT/bin/jpeg-recompress" --version
    echo "build_peers: built $OUT/bin/jpeg-recompress"
}

main "$@"
