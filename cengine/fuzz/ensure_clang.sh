#!/bin/sh
# Make sure a clang that can link libFuzzer (-fsanitize=fuzzer) is present, installing the Debian
# packages only when it is missing: clang, then the compiler-rt package of its major version.
set -eu
CC=${1:-clang}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fuzzprobe.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$WORK/p.c"
probe() { command -v "$CC" >/dev/null 2>&1 && "$CC" -fsanitize=fuzzer -o "$WORK/p" "$WORK/p.c" >/dev/null 2>&1; }

probe && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "ensure_clang: $CC with libFuzzer not found and apt-get is unavailable" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y -q --no-install-recommends "$@" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }; }
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "ensure_clang: installing clang (Debian package) for libFuzzer" >&2
    install clang
fi
if ! probe; then
    major=$("$CC" -dumpversion | cut -d. -f1)
    echo "ensure_clang: installing libclang-rt-$major-dev (libFuzzer runtime)" >&2
    install "libclang-rt-$major-dev"
fi
probe || { echo "ensure_clang: $CC still cannot link -fsanitize=fuzzer" >&2; exit 1; }
