#!/bin/sh
# Fetch the build-time dependencies of the C engine into cengine/third_party/ without
# touching the host's apt state and without installing anything:
#   - ONNX Runtime C headers from Debian trixie's libonnxruntime-dev (ORT_API_VERSION 21);
#     the runtime library itself is dlopen'ed at run time (see src/ort_loader.c).
#   - cJSON source (the Debian source package of the machine's own suite, with Debian's patches);
#     it is compiled into the engine (and, instrumented, into the sanitizer and fuzz builds).
# The mirror is taken from the machine's apt configuration; no host name lives in the repo.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TP="$HERE/third_party"
ORT_SUITE=trixie
ORT_PKG=libonnxruntime-dev

have_ort() { [ -f "$TP/onnxruntime/include/onnxruntime_c_api.h" ]; }
have_cjson() { [ -f "$TP/cjson/cJSON.h" ] && [ -f "$TP/cjson/cJSON.c" ]; }

if have_ort && have_cjson; then
    exit 0
fi

for tool in apt-get dpkg-deb tar patch; do
    command -v "$tool" >/dev/null 2>&1 || { echo "fetch_deps: '$tool' not found (a Debian-based system is required)" >&2; exit 1; }
done

# The machine's own suite (e.g. bookworm).
HOST_SUITE=$( (. /etc/os-release && echo "${VERSION_CODENAME:-}") 2>/dev/null || true)
[ -n "$HOST_SUITE" ] || { echo "fetch_deps: cannot read VERSION_CODENAME from /etc/os-release" >&2; exit 1; }

# First "deb" source carrying the host suite and component main: print "URI<TAB>signed-by".
find_mirror() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$HOST_SUITE" '
            $1 == "deb" {
                i = 2; opts = ""
                if ($i ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
                uri = $i; s = $(i + 1); main = 0
                for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
                if (s == suite && main) {
                    key = ""
                    if (match(opts, /signed-by=[^] ]+/)) key = substr(opts, RSTART + 10, RLENGTH - 10)
                    printf "%s\t%s\n", uri, key; exit
                }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$HOST_SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main /) {
                    split(uris, u, " "); printf "%s\t%s\n", u[1], key; found = 1; exit
                }
                types = uris = suites = comps = key = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { field = tolower($1); sub(/:$/, "", field); $1 = ""; sub(/^ +/, ""); val = $0 }
            field == "types" { types = val } field == "uris" { uris = val }
            field == "suites" { suites = val } field == "components" { comps = val }
            field == "signed-by" { key = val }
            END { if (!found) flush() }' "$f"
    done
}

MIRROR_LINE=$(find_mirror | head -n 1)
URI=$(printf '%s' "$MIRROR_LINE" | cut -f1)
KEY=$(printf '%s' "$MIRROR_LINE" | cut -f2)
[ -n "$URI" ] || { echo "fetch_deps: no apt source for suite '$HOST_SUITE' with component main found in /etc/apt" >&2; exit 1; }
OPT=""
case "$KEY" in /*) [ -f "$KEY" ] && OPT="[signed-by=$KEY] " ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cengine-deps.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs"
printf 'deb %s%s %s main\ndeb-src %s%s %s main\n' "$OPT" "$URI" "$ORT_SUITE" "$OPT" "$URI" "$HOST_SUITE" > "$WORK/sources.list"
chmod -R a+rwX "$WORK"

apt_tmp() {
    apt-get -q \
        -o Dir::Etc::sourcelist="$WORK/sources.list" \
        -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$WORK/lists" \
        -o Dir::Cache="$WORK/cache" \
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
        -o APT::Sandbox::User=root \
        -o Acquire::Languages=none \
        "$@"
}

echo "fetch_deps: reading package lists for $ORT_SUITE and $HOST_SUITE into a temporary apt state" >&2
apt_tmp update >"$WORK/update.log" 2>&1 || { tail -n 5 "$WORK/update.log" >&2; echo "fetch_deps: apt-get update (temporary lists) failed" >&2; exit 1; }

cd "$WORK/debs"
if ! have_ort; then
    apt_tmp download "$ORT_PKG/$ORT_SUITE" >/dev/null
    rm -rf "$WORK/x" && mkdir "$WORK/x"
    dpkg-deb -x ./"$ORT_PKG"_*.deb "$WORK/x"
    hdr=$(find "$WORK/x" -name onnxruntime_c_api.h | head -n 1)
    [ -n "$hdr" ] || { echo "fetch_deps: onnxruntime_c_api.h not found in $ORT_PKG" >&2; exit 1; }
    rm -rf "$TP/onnxruntime" && mkdir -p "$TP/onnxruntime/include"
    cp "$(dirname "$hdr")"/*.h "$TP/onnxruntime/include/"
    echo "fetch_deps: $(basename ./"$ORT_PKG"_*.deb) -> third_party/onnxruntime/include" >&2
fi
if ! have_cjson; then
    apt_tmp source --download-only "cjson/$HOST_SUITE" >/dev/null
    rm -rf "$WORK/x" && mkdir "$WORK/x"
    tar -xf ./cjson_*.orig.tar.* -C "$WORK/x" --strip-components=1
    tar -xf ./cjson_*.debian.tar.* -C "$WORK/x"
    if [ -f "$WORK/x/debian/patches/series" ]; then
        grep -v '^[[:space:]]*\(#\|$\)' "$WORK/x/debian/patches/series" | while read -r p _; do
            patch -s -p1 -d "$WORK/x" < "$WORK/x/debian/patches/$p"
        done
    fi
    rm -rf "$TP/cjson" && mkdir -p "$TP/cjson"
    cp "$WORK/x/cJSON.c" "$WORK/x/cJSON.h" "$WORK/x/LICENSE" "$TP/cjson/"
    echo "fetch_deps: $(basename ./cjson_*.dsc .dsc) (with Debian patches) -> third_party/cjson" >&2
fi
have_ort && have_cjson
