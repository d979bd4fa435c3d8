#!/usr/bin/env bash
# Rebuilds the corpus PDFs from the groff (ms macros + tbl) sources beside them:
#   corpora/reports/corvid-q3-2020-results.ms -> .pdf   (tables laid out in columns, two pages)
#   corpora/reports/halvorsen-2019-fleet.ms   -> .pdf   (two-column text layout)
# The PDFs are committed; this script only documents how they were made. Needs Debian's
# "groff" package (gropdf, tbl): apt-get install groff. Not needed to build or test ragd.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in corvid-q3-2020-results halvorsen-2019-fleet; do
  src=corpora/reports/$name.ms
  out=corpora/reports/$name.pdf
  groff -t -ms -Tpdf -P-p11i,8.5i "$src" > "$out.tmp"
  mv "$out.tmp" "$out"
  echo "wrote $out"
done
