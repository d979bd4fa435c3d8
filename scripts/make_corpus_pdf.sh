#!/usr/bin/env bash
# Rebuilds the corpus PDFs from their groff (ms macros + tbl) sources in scripts/corpus-src/
# (kept out of corpora/ so that indexing corpora/ does not index the sources too):
#   corvid-q3-2020-results.ms -> corpora/reports/corvid-q3-2020-results.pdf (tables in columns, 2 pages)
#   halvorsen-2019-fleet.ms   -> corpora/reports/halvorsen-2019-fleet.pdf   (two-column text)
# The PDFs are committed; this script only documents how they were made. Needs Debian's
# "groff" package (gropdf, tbl): apt-get install groff. Not needed to build or test ragd.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in corvid-q3-2020-results halvorsen-2019-fleet; do
  src=scripts/corpus-src/$name.ms
  out=corpora/reports/$name.pdf
  groff -t -ms -Tpdf -P-p11i,8.5i "$src" > "$out.tmp"
  mv "$out.tmp" "$out"
  echo "wrote $out"
done
