#!/usr/bin/env bash
# System libraries biostress needs beyond Python packages: Pango and fonts for the PDF reports (WeasyPrint), and
# Chromium for the browser tests of the web tool (Playwright drives /usr/bin/chromium; it never downloads a browser).
# Run by 'make setup' (and so by 'make demo' and 'make test'). Installs with apt-get when it can (root, Debian/Ubuntu);
# otherwise it says what to install and goes on (the HTML reports still work; the PDF step then fails with a clear
# message naming the missing library).
set -u
need=()
ldconfig -p 2>/dev/null | grep -q "libpango-1.0.so.0" || need+=(libpango-1.0-0 libpangoft2-1.0-0)
ldconfig -p 2>/dev/null | grep -q "libharfbuzz.so.0" || need+=(libharfbuzz0b)
fc-list 2>/dev/null | grep -qi "dejavu" || need+=(fonts-dejavu-core fontconfig)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "biostress: installing ${need[*]} (PDF reports, browser tests)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null) \
    || echo "biostress: could not install ${need[*]}; PDF reports / browser tests need them" >&2
else
  echo "biostress: for PDF reports and browser tests install: ${need[*]} (e.g. sudo apt-get install ${need[*]})" >&2
fi
exit 0
