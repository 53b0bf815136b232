#!/usr/bin/env bash
# Sets piade up on a Debian 12 machine and runs one job:
#   tools/setup.sh demo   install, build, then train + evaluate on Fashion-MNIST
#   tools/setup.sh test   install, build, then run the whole test suite (ctest)
#                         and fuzz the parsers (tools/fuzz.sh; PIADE_FUZZ_SECONDS
#                         per target, default 60; 0 skips it)
#   tools/setup.sh build  install and build only
# Installs the Debian packages of tools/debian-packages.txt that are missing
# (as root, or through sudo). Build directory: $PIADE_BUILD_DIR (default build).
set -euo pipefail

mode=${1:-demo}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PIADE_BUILD_DIR:-$root/build}
jobs=$(nproc)

say() { printf '\n== %s\n' "$*"; }

install_packages() {
  local wanted missing=()
  mapfile -t wanted < <(grep -v '^\s*#' "$root/tools/debian-packages.txt" | grep -v '^\s*$')
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "all ${#wanted[@]} Debian packages present"
    return
  fi
  say "installing ${#missing[@]} missing Debian packages: ${missing[*]}"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build_piade() {
  say "configuring and building piade (Release, Ninja) in $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j "$jobs"
}

case "$mode" in
  demo)
    install_packages
    build_piade
    say "running the demo"
    "$root/tools/demo.sh" "$build"
    ;;
  test)
    install_packages
    build_piade
    say "running the test suite"
    ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1500
    if [[ ${PIADE_FUZZ_SECONDS:-60} != 0 ]]; then
      say "fuzzing the parsers under the sanitizers"
      "$root/tools/fuzz.sh" "${PIADE_FUZZ_SECONDS:-60}"
    fi
    ;;
  build)
    install_packages
    build_piade
    ;;
  *)
    echo "usage: tools/setup.sh demo|test|build" >&2
    exit 2
    ;;
esac
