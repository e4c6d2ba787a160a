#!/usr/bin/env bash
# Render a report.html in headless Chromium and save a screenshot, to check by eye that the
# tables and the inlined figures display (a self-contained file: no network is needed).
#
#   scripts/check_report_html.sh [REPORT_HTML] [OUT_PNG]
#
# Without REPORT_HTML, builds a report from a tiny 2-step compare run first (~1 min on CPU).
# Needs chromium (Debian: apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
REPORT=${1:-}
OUT=${2:-report_screenshot.png}
if [[ -z "$REPORT" ]]; then
  DIR=$(mktemp -d)
  "$PY" -m hybridrl.cli compare --methods grpo,hpt --task chain_sum --model tiny --steps 4 --output-dir "$DIR" \
    --eval-size 6 --samples 4 --k 1,2,4 train_size=8 prompts_per_step=2 group_size=4 max_new_tokens=12 \
    micro_batch_size=8 lr=1e-3 progress=false >/dev/null 2>&1
  REPORT="$DIR/report.html"
fi
BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$BROWSER" ]]; then
  echo "chromium not found: apt-get install -y chromium" >&2
  exit 2
fi
PROFILE=$(mktemp -d)
"$BROWSER" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$PROFILE" --screenshot="$(realpath -m "$OUT")" --window-size=1200,3000 \
  "file://$(realpath "$REPORT")" >/dev/null 2>&1
rm -rf "$PROFILE"
test -s "$OUT" && echo "screenshot of $REPORT: $OUT"
