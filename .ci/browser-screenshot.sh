#!/usr/bin/env bash
# A screenshot of a report's neuron browser, written beside the report as browser.png (CI keeps
# it as an artifact; docs/browser.png is one):
#
#   .ci/browser-screenshot.sh REPORT_DIR [LAYER NEURON]
#
# Headless Chromium draws only the top of a page, so the report is framed in a page whose
# viewport is the browser section: the report opens on the neuron's address and scrolls there.
set -euo pipefail
report=$(cd "$1" && pwd)
layer=${2:-0}
neuron=${3:-0}
chromium=${NEURON_CENSUS_CHROMIUM:-chromium}
slug=$(ls "$report/data" | head -1)
frame="$report/.browser-frame.html"
profile=$(mktemp -d)
trap 'rm -rf "$profile" "$frame"' EXIT
cat > "$frame" <<HTML
<!doctype html><html><body style="margin:0">
<iframe src="index.html#m=$slug&l=$layer&n=$neuron" style="border:0;width:1280px;height:2000px"></iframe>
</body></html>
HTML
"$chromium" --headless --no-sandbox --disable-gpu --no-first-run --disable-sync \
  --disable-background-networking --disable-component-update --hide-scrollbars \
  --virtual-time-budget=10000 --user-data-dir="$profile" --window-size=1280,2000 \
  --screenshot="$report/browser.png" "file://$frame" 2>/dev/null
size=$(stat -c %s "$report/browser.png")
echo "$report/browser.png: $size bytes"
# A blank page compresses to a few kB; the browser with its table and curves does not.
test "$size" -gt 30000
