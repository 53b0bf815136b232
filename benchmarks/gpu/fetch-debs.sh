#!/usr/bin/env bash
# benchmarks/gpu/fetch-debs.sh OUT_DIR
#
# What: downloads (apt-get download, nothing is installed) the Debian 12
# packages that piade's `piade` executable and its plugins need to build and
# run against a foreign LibTorch -- Boost, OpenCV (core, imgproc, imgcodecs),
# fmt, nlohmann-json and zlib headers, and every shared library they load --
# into OUT_DIR, with OUT_DIR/MANIFEST.txt (package, version, size) and
# OUT_DIR/stubs/ (see "GDAL and GDCM" below).
#
# Why: the CUDA machine (benchmarks/gpu/build-and-bench.sh) has PyTorch and
# nvcc but neither apt nor internet. The .debs travel with the repository and
# are unpacked there into a private prefix.
#
# How: run on a Debian 12 (bookworm) machine with apt access (`apt-get update`
# done; root is not needed): benchmarks/gpu/fetch-debs.sh gpu-debs
# Replaces the .deb files and stubs/ in OUT_DIR. Needs apt-get, dpkg-deb and
# binutils (readelf, nm).
#
# The runtime list is the load-time closure (DT_NEEDED, transitively) of
# libopencv_{core,imgproc,imgcodecs}.so.406, libboost_{filesystem,
# program_options}.so.1.74.0 and libfmt.so.9, found with ldd on a piade build
# and mapped to packages with `dpkg -S`. Left out on purpose: glibc and the
# GCC runtime (libstdc++, libgcc_s), which the compiler on the target brings
# and which are newer there (Ubuntu 24.04: glibc 2.39, GCC 13/14), and
# LibTorch/CUDA (from the pip wheel). The script checks the closure: every
# DT_NEEDED of every library in the packages must be in the packages, in a
# stub, or in that short list.
#
# GDAL and GDCM: Debian's libopencv_imgcodecs.so.406 has libgdal.so.32,
# libgdcmMSFF.so.3.0 and libgdcmDSED.so.3.0 as DT_NEEDED, so they must exist
# at load (and link) time, but piade never reads GDAL rasters or DICOM files.
# With them the download is about 71 MiB (GDAL/GDCM's part: about 75 more
# packages, 46 MiB: libgdal32 7.3 MiB, libicu72 8.9 MiB, poppler, hdf5,
# netcdf, proj, spatialite, ...), more than the 64 MiB that travels with the
# repository. So they are replaced by stubs: OUT_DIR/stubs/<soname>.c define
# exactly the symbols libopencv_imgcodecs imports from them (every function
# aborts with a message saying so); build-and-bench.sh compiles them. The
# symbol lists are taken from the real libgdal32/libgdcm3.0, downloaded to a
# temporary directory and deleted afterwards.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; }
die() { printf 'fetch-debs.sh: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && $1 != -h && $1 != --help ]] || { usage >&2; exit 2; }
out=$1

# Headers and CMake package files.
dev_packages=(
  libboost1.74-dev                  # Boost headers (Boost.DLL, Boost.Archive, Boost.Math), BoostConfig.cmake
  libboost-filesystem1.74-dev       # libboost_filesystem.so, boost_filesystem-config.cmake
  libboost-program-options1.74-dev  # libboost_program_options.so, its config
  libopencv-dev                     # cmake/opencv4/OpenCVConfig.cmake (its other files: tools, unused)
  libopencv-core-dev                # opencv2/core*, libopencv_core.so
  libopencv-imgproc-dev             # opencv2/imgproc*, libopencv_imgproc.so
  libopencv-imgcodecs-dev           # opencv2/imgcodecs*, libopencv_imgcodecs.so
  libfmt-dev                        # fmt headers, libfmt.so, fmt-config.cmake
  nlohmann-json3-dev                # header only, nlohmann_jsonConfig.cmake
  zlib1g-dev                        # datasets/ (find_package(ZLIB)): zlib.h, libz.so
)
# The -dev packages' libfoo.so symlinks point at these files; the versioned
# Boost/OpenCV/zlib packages are what the metapackages (libboost-dev,
# libboost-filesystem-dev, ...) would pull in.
runtime_packages=(
  libboost-filesystem1.74.0         # libboost_filesystem.so.1.74.0
  libboost-program-options1.74.0    # libboost_program_options.so.1.74.0
  libfmt9                           # libfmt.so.9
  libopencv-core406                 # libopencv_core.so.406
  libopencv-imgproc406              # libopencv_imgproc.so.406
  libopencv-imgcodecs406            # libopencv_imgcodecs.so.406
  zlib1g                            # libz.so.1 (zlib1g-dev's libz.so points at its file)
  libtbb12                          # opencv_core: parallel_for backend
  liblapack3                        # opencv_core (liblapack.so.3, in lapack/: see build-and-bench.sh)
  libblas3                          # opencv_core, liblapack (libblas.so.3, in blas/); smaller than OpenBLAS
  libgfortran5                      # liblapack
  libquadmath0                      # libgfortran
  libglx0                           # opencv_core: libGLX.so.0 (OpenGL interop, unused but DT_NEEDED)
  libglvnd0                         # libGLX: libGLdispatch.so.0
  libx11-6                          # libGLX
  libxcb1                           # libX11
  libxau6                           # libxcb
  libxdmcp6                         # libxcb
  libbsd0                           # libXdmcp
  libmd0                            # libbsd
  libjpeg62-turbo                   # opencv_imgcodecs (libjpeg.so.62; Ubuntu has libjpeg.so.8), libtiff
  libpng16-16                       # opencv_imgcodecs
  libtiff6                          # opencv_imgcodecs
  libjbig0                          # libtiff
  liblerc4                          # libtiff
  libdeflate0                       # libtiff
  liblzma5                          # libtiff (also on every dpkg system; cheap to be sure)
  libzstd1                          # libtiff (likewise)
  libwebp7                          # opencv_imgcodecs, libtiff
  libopenjp2-7                      # opencv_imgcodecs (JPEG 2000)
  libopenexr-3-1-30                 # opencv_imgcodecs (OpenEXR)
  libimath-3-1-29                   # libOpenEXR
)
# Libraries the target provides itself (glibc, GCC runtime).
system_sonames=(libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 libutil.so.1
                ld-linux-x86-64.so.2 libstdc++.so.6 libgcc_s.so.1)
# Replaced by stubs (see the header); the packages that hold the real ones.
stub_sonames=(libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0)
stub_source_packages=(libgdal32 libgdcm3.0)
multiarch=usr/lib/x86_64-linux-gnu

# --- checks
for tool in apt-get dpkg-deb readelf nm; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run this on a Debian 12 machine with apt and binutils (apt-get install binutils)"
done
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ $codename == bookworm ]] ||
    die "this machine is '${codename:-unknown}', not Debian 12 (bookworm): the package names and versions above are bookworm's"
fi
[[ $(dpkg --print-architecture) == amd64 ]] || die "the packages must be amd64; this machine is $(dpkg --print-architecture)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- download
rm -f "$out"/*.deb "$out/MANIFEST.txt"
rm -rf "$out/stubs"
printf '== downloading %d packages into %s\n' $((${#dev_packages[@]} + ${#runtime_packages[@]})) "$out"
(cd "$out" && apt-get download -q "${dev_packages[@]}" "${runtime_packages[@]}") ||
  die "apt-get download failed (see above); if a package 'has no installation candidate' or cannot be located, run 'apt-get update' first"
printf '== downloading %s (only to read their symbol tables)\n' "${stub_source_packages[*]}"
mkdir -p "$work/stub-debs" "$work/stub-root" "$work/root"
(cd "$work/stub-debs" && apt-get download -q "${stub_source_packages[@]}") || die "apt-get download ${stub_source_packages[*]} failed"

for deb in "$out"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
for deb in "$work"/stub-debs/*.deb; do dpkg-deb -x "$deb" "$work/stub-root"; done

# zlib1g and liblzma5 install into /lib/x86_64-linux-gnu (bookworm is not fully /usr-merged).
libdirs=("$work/root/$multiarch" "$work/root/$multiarch/blas" "$work/root/$multiarch/lapack" "$work/root/lib/x86_64-linux-gnu")
is_elf() { [[ -f $1 && ! -L $1 ]] && [[ $(head -c 4 "$1" | od -An -c | tr -d ' ') == '177ELF' ]]; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
dynsyms() { nm -D --defined-only "$1" | awk 'NF == 3 {sub(/@.*/, "", $3); print $3}'; }

# --- stubs: the symbols libopencv_imgcodecs imports without a version and
# that no library in the packages defines must all come from GDAL/GDCM.
imgcodecs=("$work/root/$multiarch"/libopencv_imgcodecs.so.4.*)
[[ -e ${imgcodecs[0]} ]] || die "libopencv_imgcodecs.so.4.* is not in the downloaded libopencv-imgcodecs406"
for dir in "${libdirs[@]}"; do
  for f in "$dir"/*.so*; do is_elf "$f" && dynsyms "$f"; done
done | sort -u >"$work/defined"
nm -D --undefined-only "${imgcodecs[0]}" | awk '$1 == "U" && $2 !~ /@/ {print $2}' | sort -u >"$work/imported"
comm -23 "$work/imported" "$work/defined" >"$work/missing"

mkdir -p "$out/stubs"
declare -A stub_of=()
for so in "${stub_sonames[@]}"; do
  real=$work/stub-root/$multiarch/$so
  [[ -e $real ]] || die "$so is not in ${stub_source_packages[*]}: the stub list no longer matches Debian's OpenCV"
  dynsyms "$real" | sort -u >"$work/defs-$so"
  : >"$work/syms-$so"
done
# Symbols that the other GDCM libraries (reached through libgdcmMSFF) define.
for f in "$work/stub-root/$multiarch"/libgdcm*.so.*; do is_elf "$f" && dynsyms "$f"; done | sort -u >"$work/defs-gdcm-all"
while read -r sym; do
  if grep -qxF "$sym" "$work/defs-libgdal.so.32"; then so=libgdal.so.32
  elif grep -qxF "$sym" "$work/defs-libgdcmDSED.so.3.0"; then so=libgdcmDSED.so.3.0
  elif grep -qxF "$sym" "$work/defs-gdcm-all"; then so=libgdcmMSFF.so.3.0
  else die "libopencv_imgcodecs imports '$sym', which neither the packages nor GDAL/GDCM define: a package is missing from the list"
  fi
  echo "$sym" >>"$work/syms-$so"
  stub_of[$sym]=$so
done <"$work/missing"
# Data symbols would need their real size; there are none in Debian 12's OpenCV 4.6.
while read -r type _ sym; do
  [[ $type == D* || $type == B* || $type == R* || $type == V* ]] && [[ -n ${stub_of[$sym]:-} ]] &&
    die "libopencv_imgcodecs imports the data symbol '$sym' from ${stub_of[$sym]}; the stubs only do functions"
done < <(nm -D --defined-only "$work/stub-root/$multiarch"/libgdal.so.32 "$work/stub-root/$multiarch"/libgdcm*.so.3.0 |
         awk 'NF == 3 {sub(/@.*/, "", $3); print $2, $1, $3}')

stub_versions=$(for deb in "$work"/stub-debs/*.deb; do
                  printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)"
                done | paste -sd',' - | sed 's/,/, /g')
for so in "${stub_sonames[@]}"; do
  {
    printf '/* Stand-in for %s, generated by benchmarks/gpu/fetch-debs.sh from Debian 12 %s.\n' "$so" "$stub_versions"
    printf ' * Defines the %d function(s) libopencv_imgcodecs.so.406 imports from it, so that\n' "$(wc -l <"$work/syms-$so")"
    printf ' * OpenCV loads without GDAL/GDCM and their ~46 MiB of dependencies. piade never calls\n'
    printf ' * them (they read GDAL rasters and DICOM files); if anything does, it aborts. */\n'
    printf '#include <stdio.h>\n#include <stdlib.h>\n\n'
    printf 'static void piade_stub_called(const char* name) {\n'
    printf '  fprintf(stderr, "%%s: called %%s, but this build has a stub instead of %s "\n' "$so"
    printf '          "(benchmarks/gpu: no GDAL/DICOM image support)\\n", "piade", name);\n'
    printf '  abort();\n}\n\n'
    n=0
    while read -r sym; do
      printf 'void piade_stub_%d(void) __asm__("%s");\n' "$n" "$sym"
      printf 'void piade_stub_%d(void) { piade_stub_called("%s"); }\n' "$n" "$sym"
      n=$((n + 1))
    done <"$work/syms-$so"
  } >"$out/stubs/$so.c"
done

# --- closure check: every DT_NEEDED resolves inside the packages, a stub or the system list.
declare -A have=()
for so in "${system_sonames[@]}" "${stub_sonames[@]}"; do have[$so]=system-or-stub; done
for dir in "${libdirs[@]}"; do
  for f in "$dir"/*.so*; do [[ -e $f ]] && have[$(basename "$f")]=$f; done
done
unresolved=()
for dir in "${libdirs[@]}"; do
  for f in "$dir"/*.so*; do
    is_elf "$f" || continue
    while read -r so; do
      [[ -n ${have[$so]:-} ]] || unresolved+=("$so (needed by $(basename "$f"))")
    done < <(needed "$f")
  done
done
if ((${#unresolved[@]})); then
  printf '  %s\n' "${unresolved[@]}" | sort -u >&2
  die "the libraries above are needed at load time but in no downloaded package: add their packages (dpkg -S <file>) to runtime_packages"
fi

# --- manifest
{
  printf '# Debian 12 packages for benchmarks/gpu/build-and-bench.sh (%s)\n' "$(date -u +%Y-%m-%d)"
  printf '# package version size_bytes\n'
  total=0 count=0
  for deb in "$out"/*.deb; do
    size=$(stat -c %s "$deb")
    total=$((total + size)) count=$((count + 1))
    printf '%s %s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" "$size"
  done
  printf '# total %d packages, %d bytes (%s MiB)\n' "$count" "$total" "$(awk -v b="$total" 'BEGIN {printf "%.1f", b / 1048576}')"
  printf '# stubs (compiled by build-and-bench.sh) instead of %s:\n' "$stub_versions"
  for so in "${stub_sonames[@]}"; do printf '#   stubs/%s.c: %d functions\n' "$so" "$(wc -l <"$work/syms-$so")"; done
} >"$out/MANIFEST.txt"
cat "$out/MANIFEST.txt"
printf '== done: %s (%s)\n' "$out" "$(du -sh "$out" | cut -f1)"
