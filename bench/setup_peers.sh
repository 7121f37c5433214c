#!/bin/sh
# Install the tools the benchmarks compare us with, outside the project's own environment.
#
# - Python peers go into bench/.venv-peers (git-ignored), never into .venv: they are not project
#   dependencies. Versions are pinned to the ones docs/benchmarks.md reports.
# - Debian tools (as root, or say what to install): GDCM's gdcmanon, PixelMed (Clunie's Java
#   toolkit; Debian's dicom3tools ships no anonymiser), DCMTK's storescu, Orthanc + DICOMweb.
#
# Usage: sh bench/setup_peers.sh      (from the repository root; safe to run again)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv-peers"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet \
    "dicognito==0.19.0" "deid==0.4.13" "dicom-anonymizer==2.1.0" "dicomweb-client==0.61.2" \
    "py-spy==0.4.3"

packages="libgdcm-tools libpixelmed-java dcmtk orthanc orthanc-dicomweb openssl"
missing=""
for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = "0" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "missing Debian packages:$missing (sudo apt-get install$missing)" >&2
        exit 1
    fi
fi
echo "peers ready: $venv, $(gdcmanon --version 2>&1 | head -1), pixelmed $(dpkg-query -W -f='${Version}' libpixelmed-java)"
