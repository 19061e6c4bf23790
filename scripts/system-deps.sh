#!/usr/bin/env bash
# Install the Debian packages campus-hub needs when their programs are missing.
# Usage: scripts/system-deps.sh mosquitto [python3-venv] [chromium] [cjk-font] [victoria-metrics] [ffmpeg] [palapeli-data] ...  (as root, or with sudo available)
set -euo pipefail

need=()
for what in "$@"; do
  case "$what" in
    mosquitto) command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients) ;;
    python3-venv) need+=(python3-venv) ;;
    chromium) [ -x /usr/bin/chromium ] || need+=(chromium) ;;
    cjk-font) [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei) ;;
    victoria-metrics) command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics) ;;
    ffmpeg) command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg) ;;
    palapeli-data) [ -e /usr/share/palapeli/collection/castle-maintenon.jpg ] || need+=(palapeli-data) ;;
    *) echo "system-deps: unknown dependency $what" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
  echo "system-deps: need root (or sudo) to install: ${need[*]}" >&2; exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: no apt-get here; install these yourself: ${need[*]}" >&2; exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
