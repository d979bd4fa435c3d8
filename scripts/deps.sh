#!/usr/bin/env bash
# Installs the Debian 12 packages ragd needs and builds FAISS's C API from
# Debian's faiss source package. Idempotent: a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="build-essential pkg-config dpkg-dev libsqlite3-dev libcurl4-openssl-dev libpcre2-dev
libfaiss-dev libopenblas-dev liblapacke-dev libxml2-dev libpoppler-glib-dev libutf8proc-dev
libmicrohttpd-dev libjansson-dev libssl-dev libstemmer-dev libxxhash-dev curl poppler-utils"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
updated=0
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  $SUDO apt-get update -q
  updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

# FAISS C API: Debian ships the headers but not the library, so build it
# from the c_api/ sources of the matching source package.
lib=build/faiss/libfaiss_c.a
[ -f "$lib" ] && exit 0
mkdir -p build/faiss
src=$(ls -d build/faiss/faiss-*/ 2>/dev/null | head -n1 || true)
if [ -z "$src" ]; then
  # A deb-src entry derived from the machine's own apt sources.
  srclist=/etc/apt/sources.list.d/ragd-deb-src.sources
  if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    tmp=$(mktemp)
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] && sed -e 's/^Types: *deb *$/Types: deb-src/' "$f" >> "$tmp" && echo >> "$tmp"
    done
    if [ -f /etc/apt/sources.list ]; then
      grep -E '^deb ' /etc/apt/sources.list | sed -e 's/^deb /deb-src /' > "${tmp}.list" || true
      [ -s "${tmp}.list" ] && $SUDO cp "${tmp}.list" /etc/apt/sources.list.d/ragd-deb-src.list
    fi
    [ -s "$tmp" ] && $SUDO cp "$tmp" "$srclist"
    rm -f "$tmp" "${tmp}.list"
    updated=0
  fi
  [ "$updated" = 1 ] || $SUDO apt-get update -q
  ver=$(dpkg-query -W -f='${source:Version}' libfaiss-dev)
  (cd build/faiss && apt-get source --download-only -q "faiss=$ver" && dpkg-source -x --no-check faiss_*.dsc)
  src=$(ls -d build/faiss/faiss-*/ | head -n1)
fi
echo "deps: building FAISS C API from $src"
objs=""
for f in "$src"c_api/*.cpp "$src"c_api/impl/*.cpp; do
  [ -f "$f" ] || continue
  o=build/faiss/$(basename "$f" .cpp).o
  g++ -std=c++17 -O2 -fPIC -fopenmp -I"$src" -c "$f" -o "$o"
  objs="$objs $o"
done
ar rcs "$lib.tmp" $objs && mv "$lib.tmp" "$lib"
echo "deps: $lib ready"
