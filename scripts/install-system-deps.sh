#!/usr/bin/env bash
# System packages the tests need beyond the Python ones: headless Chromium and its driver, to
# check that the Snakemake HTML report renders (tests/test_report.py). Debian/Ubuntu (apt-get).
#
# Idempotent: installs only the packages that are missing, and says what it does, as root or with
# sudo (without a password prompt). Without apt-get, or without root and sudo, it prints what to
# install and exits 0: the tests that need Chromium then skip, naming the reason (with CI=true
# they fail).
set -euo pipefail

PACKAGES=(chromium chromium-driver)

missing=()
for package in "${PACKAGES[@]}"; do
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        echo "install-system-deps: $package is installed"
    else
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: no apt-get here; please install: ${missing[*]}" >&2
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install-system-deps: neither root nor sudo; please install: ${missing[*]}" >&2
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "+ ${SUDO[*]:+${SUDO[*]} }apt-get update"
"${SUDO[@]}" apt-get update -qq
echo "+ ${SUDO[*]:+${SUDO[*]} }apt-get install -y --no-install-recommends ${missing[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-system-deps: done"
