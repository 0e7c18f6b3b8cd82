#!/usr/bin/env bash
# Installs, from Debian's packages, what the PDF edition needs (`make pdf`,
# tests/test_pdf.py); .ci/run calls it. Run as root. Does nothing when every
# package is installed; otherwise one `apt-get update` and one quiet install
# of the missing ones, without recommended packages.
#
#   texlive-xetex              xelatex (Jupyter Book's LaTeX builder uses it for Unicode)
#   texlive-latex-extra        Sphinx's LaTeX packages (fncychap, tabulary, ...) and,
#                              through texlive-pictures, tikz/pgfplots for jupyterBook.cls
#   texlive-fonts-recommended  rsfs and zapfding, which jupyterBook.cls and Sphinx load
#   latexmk                    runs xelatex until the references settle (Sphinx's Makefile)
#   fonts-freefont-otf         FreeSerif, FreeSans, FreeMono: the text and code fonts
#                              (±, ×, −, …, Greek, arrows)
#   fonts-lmodern              Latin Modern Math, the math font (unicode-math)
#   librsvg2-bin               rsvg-convert: the chapters' SVG figures to PDF
#   poppler-utils              pdftotext and pdfinfo, for tests/test_pdf.py
set -euo pipefail

PACKAGES=(
    texlive-xetex
    texlive-latex-extra
    texlive-fonts-recommended
    latexmk
    fonts-freefont-otf
    fonts-lmodern
    librsvg2-bin
    poppler-utils
)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install_tex.sh: not a Debian/Ubuntu system; install TeX Live with xelatex, latexmk," \
         "the FreeFont OpenType fonts, rsvg-convert and pdftotext yourself" >&2
    exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install_tex.sh: run as root to install: ${missing[*]}" >&2
    exit 1
fi
echo "install_tex.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install_tex.sh: apt-get failed" >&2
    exit 1
fi
