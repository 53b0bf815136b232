#!/usr/bin/env bash
# benchmarks/gpu/build-and-bench.sh DEBS_DIR [OUT_DIR]
#
# What: builds piade (the `piade` executable and the built-in plugins) against
# the LibTorch of the pip torch that python3 imports, with Boost, OpenCV, fmt
# and nlohmann-json taken from the Debian 12 packages in DEBS_DIR (made by
# benchmarks/gpu/fetch-debs.sh), then runs `piade bench` on the GPU: batch 32
# and 256, 120 x 120 RGB, fp32 and (if piade bench has --amp) bf16. Writes the
# JSON of each run and summary.md (a table plus the versions) to OUT_DIR
# (default gpu-results).
#
# Why: the CUDA machine has PyTorch, nvcc, CMake and ninja but no apt and no
# internet, so the other libraries come as .debs, unpacked (never installed)
# into BUILD/prefix.
#
# How: from the repository root on the CUDA machine,
#   benchmarks/gpu/build-and-bench.sh gpu-debs gpu-results
# Environment: PYTHON (default python3, then /opt/torch/.venv/bin/python3),
# PIADE_GPU_BUILD_DIR (default build-gpu), PIADE_GPU_JOBS (default nproc).
# Testing on a machine without a GPU: PIADE_GPU_DRY_CPU=1 skips the CUDA checks
# and runs one small CPU bench instead; PIADE_GPU_TORCH_PREFIX overrides the
# LibTorch CMake prefix (Debian's python3-torch has none where torch.utils says).
#
# Requires a torch built with the C++11 ABI (torch.compiled_with_cxx11_abi()):
# Debian's Boost, OpenCV and fmt use it. PyTorch's x86-64 pip wheels do from
# 2.7 on (earlier ones, and the "pre-cxx11" LibTorch zips, do not).
#
# Time: the piade build (64 steps) took 20.5 minutes with one job (nice 19) on
# the 2-core Debian machine where this was written, against its CPU LibTorch;
# expect a few minutes with 16 jobs. The benches should take about a minute.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; }
die() { printf 'build-and-bench.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }
started=$SECONDS

[[ $# -ge 1 && $# -le 2 && $1 != -h && $1 != --help ]] || { usage >&2; exit 2; }
self=$(readlink -f "${BASH_SOURCE[0]}")
root=$(cd "$(dirname "$self")/../.." && pwd)
[[ -d $1 ]] || die "DEBS_DIR '$1' is not a directory: make it with benchmarks/gpu/fetch-debs.sh on a Debian 12 machine"
debs=$(cd "$1" && pwd)
out=${2:-gpu-results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"
build=${PIADE_GPU_BUILD_DIR:-$root/build-gpu}
mkdir -p "$build"
build=$(cd "$build" && pwd)
prefix=$build/prefix
dry=${PIADE_GPU_DRY_CPU:-0}
jobs=${PIADE_GPU_JOBS:-$(nproc)}
multiarch=usr/lib/x86_64-linux-gnu
# blas/ and lapack/ hold libblas.so.3 and liblapack.so.3: dpkg would link them
# into the multiarch directory through update-alternatives, which dpkg-deb -x
# does not run. zlib1g and liblzma5 use /lib (bookworm is not fully /usr-merged).
libdirs=("$prefix/$multiarch" "$prefix/$multiarch/blas" "$prefix/$multiarch/lapack" "$prefix/lib/x86_64-linux-gnu")
libpath=$(IFS=:; echo "${libdirs[*]}")

# --- PyTorch
python=${PYTHON:-python3}
if ! "$python" -c 'import torch' 2>/dev/null; then
  if [[ -z ${PYTHON:-} && -x /opt/torch/.venv/bin/python3 ]]; then
    python=/opt/torch/.venv/bin/python3
  fi
  "$python" -c 'import torch' || die "'$python' cannot import torch: set PYTHON to the python3 that has PyTorch"
fi
say "PyTorch ($python)"
declare -A torch=()
while IFS='=' read -r key value; do torch[$key]=$value; done < <("$python" - <<'EOF'
import os, sys, torch
available = torch.cuda.is_available()
print("version=" + torch.__version__)
print("cuda=" + (torch.version.cuda or ""))
print("cxx11_abi=" + str(int(torch.compiled_with_cxx11_abi())))
print("cmake_prefix=" + torch.utils.cmake_prefix_path)
print("lib=" + os.path.join(os.path.dirname(torch.__file__), "lib"))
print("include=" + os.path.join(os.path.dirname(torch.__file__), "include"))
print("available=" + str(int(available)))
print("gpu=" + (torch.cuda.get_device_name(0) if available else ""))
print("bin=" + os.path.dirname(sys.executable))
EOF
)
[[ -n ${torch[bin]:-} ]] || die "could not query torch with $python (see the Python error above)"
printf 'torch %s, CUDA %s, GPU: %s\n' "${torch[version]}" "${torch[cuda]:-none}" "${torch[gpu]:-none}"
[[ ${torch[cxx11_abi]} == 1 ]] ||
  die "torch ${torch[version]} was built with the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0), but Debian's Boost, OpenCV and fmt use the C++11 ABI, so piade cannot link against both: use a torch whose torch.compiled_with_cxx11_abi() is True (x86-64 pip wheels from 2.7 on)"
if [[ $dry != 1 ]]; then
  [[ -n ${torch[cuda]} ]] || die "torch ${torch[version]} is a CPU-only build: install a CUDA wheel (e.g. +cu130)"
  if [[ ${torch[available]} != 1 ]]; then
    if command -v nvidia-smi >/dev/null; then nvidia-smi >&2 || true; fi
    die "torch.cuda.is_available() is False: no usable GPU or driver (see nvidia-smi above)"
  fi
fi
torch_prefix=${PIADE_GPU_TORCH_PREFIX:-${torch[cmake_prefix]}}
[[ -d $torch_prefix ]] || die "LibTorch CMake prefix '$torch_prefix' does not exist (set PIADE_GPU_TORCH_PREFIX)"

# --- tools: CMake and ninja may live next to python (pip) rather than on PATH
find_tool() { command -v "$1" 2>/dev/null || { [[ -x ${torch[bin]}/$1 ]] && echo "${torch[bin]}/$1"; } || true; }
cmake=$(find_tool cmake)
[[ -n $cmake ]] || die "cmake not found on PATH nor in ${torch[bin]} (pip install cmake)"
ninja=$(find_tool ninja)
for tool in "${CC:-cc}" "${CXX:-c++}" readelf ldd; do
  command -v "$tool" >/dev/null || die "'$tool' not found (a C/C++ compiler and binutils are needed)"
done
if ! command -v dpkg-deb >/dev/null; then
  command -v ar >/dev/null || die "neither dpkg-deb nor ar (binutils) found: cannot unpack the .debs"
fi
cuda_args=()
if [[ $dry != 1 ]]; then
  nvcc=$(command -v nvcc || true)
  if [[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]]; then nvcc=/usr/local/cuda/bin/nvcc; fi
  [[ -n $nvcc ]] || die "nvcc not found on PATH nor in /usr/local/cuda/bin: LibTorch's CMake files need the CUDA toolkit"
  nvcc=$(readlink -f "$nvcc")
  cuda_root=$(dirname "$(dirname "$nvcc")")
  printf 'nvcc: %s (%s)\n' "$nvcc" "$("$nvcc" --version | tail -1)"
  # TORCH_CUDA_ARCH_LIST keeps LibTorch's CMake from probing the GPU; H200 is sm_90.
  export TORCH_CUDA_ARCH_LIST=9.0
  cuda_args=(-DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=90
             -DCUDAToolkit_ROOT="$cuda_root" -DCUDA_TOOLKIT_ROOT_DIR="$cuda_root")
fi
printf 'cmake: %s (%s), generator: %s\n' "$cmake" "$("$cmake" --version | head -1)" "${ninja:-Unix Makefiles}"

# --- unpack the .debs (skipped when they have not changed, so a rerun does not rebuild everything)
debfiles=("$debs"/*.deb)
[[ -e ${debfiles[0]} ]] || die "no .deb files in $debs: run benchmarks/gpu/fetch-debs.sh there first"
[[ -d $debs/stubs ]] || die "$debs/stubs is missing: make DEBS_DIR with benchmarks/gpu/fetch-debs.sh"
[[ $prefix != *'#'* ]] || die "the build directory '$build' contains '#', which the sed below cannot take"
stamp=$( (cd "$debs" && ls -l -- *.deb stubs; cat "$self") | cksum)
if [[ -f $prefix/.stamp && $(cat "$prefix/.stamp") == "$stamp" ]]; then
  say "prefix $prefix is up to date"
else
  say "unpacking ${#debfiles[@]} packages into $prefix"
  rm -rf "$prefix"
  mkdir -p "$prefix"
  for deb in "${debfiles[@]}"; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$prefix"
    else
      tmp=$(mktemp -d)
      (cd "$tmp" && ar x "$deb")
      case $(echo "$tmp"/data.tar*) in
        *.xz) tar -xJf "$tmp"/data.tar.xz -C "$prefix" ;;
        *.zst) zstd -dc "$tmp"/data.tar.zst | tar -x -C "$prefix" ;;
        *.gz) tar -xzf "$tmp"/data.tar.gz -C "$prefix" ;;
        *) tar -xf "$tmp"/data.tar -C "$prefix" ;;
      esac
      rm -rf "$tmp"
    fi
  done

  # Absolute symlinks (zlib1g-dev: libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13)
  # would point at the system; point them into the prefix.
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    [[ -e $prefix$target ]] || die "$link points at $target, which is not in the prefix"
    ln -sfn "$prefix$target" "$link"
  done < <(find "$prefix" -type l -lname '/*' -print0)

  # Absolute paths in the CMake package files. The ones in Debian 12's are the
  # "/usr move" guards CMake writes into export files (fmt, OpenCV): they
  # compare the file's real directory with /usr/lib/x86_64-linux-gnu/cmake/...
  # and only then use /usr, so they are inert here. Boost's guard names its
  # build directory (/build/boost1.74-...), which does not exist. Rewriting
  # "/usr... into the prefix keeps the guards inert and consistent, and lets
  # the check below assert that no package file names a system path.
  configs=("$prefix/$multiarch/cmake" "$prefix/usr/share/cmake")
  absolute_path='^[^#]*"/usr[/"]'
  mapfile -t absolute < <(grep -rlE --include='*.cmake' "$absolute_path" "${configs[@]}" || true)
  for file in "${absolute[@]}"; do
    printf 'rewriting absolute paths in %s:\n' "${file#"$prefix"/}"
    grep -nE "$absolute_path" "$file" | sed 's/^/  /'
    sed -i "s#\"/usr/#\"$prefix/usr/#g; s#\"/usr\"#\"$prefix/usr\"#g" "$file"
  done
  if grep -rnE --include='*.cmake' "$absolute_path" "${configs[@]}"; then
    die "the CMake files above still name /usr"
  fi

  # OpenCVModules-release.cmake lists every OpenCV module, and CMake's export
  # file stops if a listed library file is missing; only core, imgproc and
  # imgcodecs are here, so drop the existence checks of the others.
  "$python" - "$prefix" <<'EOF'
import os, re, sys
prefix = sys.argv[1]
path = os.path.join(prefix, "usr/lib/x86_64-linux-gnu/cmake/opencv4/OpenCVModules-release.cmake")
text = open(path).read()
missing = [m.group(1) for m in re.finditer(
    r'list\(APPEND _cmake_import_check_files_for_(\S+) "\$\{_IMPORT_PREFIX\}(/\S+)" \)', text)
    if not os.path.exists(os.path.join(prefix, "usr" + m.group(2)))]
for module in missing:
    text = re.sub(r'list\(APPEND _cmake_import_check_targets %s \)\n' % re.escape(module), "", text)
    text = re.sub(r'list\(APPEND _cmake_import_check_files_for_%s [^\n]*\n' % re.escape(module), "", text)
open(path, "w").write(text)
print("OpenCV: %d modules not unpacked (their file checks removed); kept: %s" % (
    len(missing), " ".join(sorted(set(re.findall(r'_cmake_import_check_targets (\S+) ', text))))))
EOF

  # Stand-ins for GDAL/GDCM (see fetch-debs.sh): OpenCV's imgcodecs needs the
  # sonames at load time, piade never calls into them.
  for source in "$debs"/stubs/*.c; do
    soname=$(basename "$source" .c)
    "${CC:-cc}" -shared -fPIC -O1 -Wl,-soname,"$soname" -o "$prefix/$multiarch/$soname" "$source"
    printf 'stub: %s\n' "$soname"
  done
  echo "$stamp" >"$prefix/.stamp"
fi

# Every library in the prefix must find what it needs, in the prefix or on this system.
declare -A have=()
for dir in "${libdirs[@]}"; do
  for f in "$dir"/*.so*; do [[ -e $f ]] && have[$(basename "$f")]=1; done
done
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
system_libs=$("$ldconfig" -p 2>/dev/null || true)
unresolved=()
for dir in "${libdirs[@]}"; do
  for f in "$dir"/*.so*; do
    [[ -f $f && ! -L $f && $(head -c 4 "$f" | od -An -c | tr -d ' ') == '177ELF' ]] || continue
    while read -r so; do
      [[ -n ${have[$so]:-} ]] || grep -qF $'\t'"$so (libc6,x86-64)" <<<"$system_libs" || unresolved+=("$so (needed by $(basename "$f"))")
    done < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  done
done
if ((${#unresolved[@]})); then
  printf '  %s\n' "${unresolved[@]}" | sort -u >&2
  die "these libraries are in neither the .debs nor this system: add their Debian packages to fetch-debs.sh (runtime_packages) and fetch again"
fi

# --- C++ standard: piade asks for C++17, PyTorch's headers move to C++20 (the
# 2.13 headers stop with "C++20 or later compatible compiler is required to use
# ATen"). If this torch's need it, compile piade as C++20: the file below is
# included right after project() and changes the flag CMake uses for C++17.
standard_file=$build/cxx-standard.cmake
echo '# written by benchmarks/gpu/build-and-bench.sh: C++17 is enough for this torch' >"$standard_file"
torch_include=${torch[include]}
if [[ -f $torch_include/ATen/ATen.h ]]; then
  probe_standard() {
    printf '#include <ATen/ATen.h>\n' |
      "${CXX:-c++}" -x c++ -std="$1" -fsyntax-only -I"$torch_include" -I"$torch_include/torch/csrc/api/include" - \
        2>"$build/probe-$1.log"
  }
  if probe_standard c++17; then
    printf 'torch headers compile as C++17\n'
  elif probe_standard c++20; then
    printf 'torch headers need C++20 (%s): compiling piade with -std=c++20\n' "$(grep -m1 error "$build/probe-c++17.log" || true)"
    printf 'set(CMAKE_CXX17_STANDARD_COMPILE_OPTION "-std=c++20")\nset(CMAKE_CXX17_EXTENSION_COMPILE_OPTION "-std=gnu++20")\n' \
      >"$standard_file"
  else
    printf 'warning: <ATen/ATen.h> compiles neither as C++17 nor as C++20 (see %s); building anyway\n' "$build/probe-c++20.log"
  fi
else
  printf 'no torch headers at %s/ATen: C++ standard probe skipped\n' "$torch_include"
fi

# --- configure
say "configuring in $build"
cmake_dir=$prefix/$multiarch/cmake
rpath_link="-Wl,-rpath-link,$libpath"
generator=(-G "Unix Makefiles")
[[ -z $ninja ]] || generator=(-G Ninja -DCMAKE_MAKE_PROGRAM="$ninja")
policy=()
# CMake 4 refuses cmake_minimum_required(VERSION < 3.5) in any package file it reads.
[[ $("$cmake" --version | head -1 | awk '{print $3}') != [4-9].* ]] || policy=(-DCMAKE_POLICY_VERSION_MINIMUM=3.5)
# The prefix comes first in CMAKE_PREFIX_PATH and each package's _DIR is set,
# so system copies (if any) are never picked; the check after this verifies it.
"$cmake" -S "$root" -B "$build" "${generator[@]}" "${policy[@]}" \
  -DCMAKE_PROJECT_INCLUDE="$standard_file" \
  -DCMAKE_BUILD_TYPE=Release -DPIADE_BUILD_TESTS=OFF -DPIADE_BUILD_BENCHMARKS=OFF -DPIADE_BUILD_EXAMPLES=OFF \
  -DCMAKE_PREFIX_PATH="$prefix/usr;$cmake_dir;$torch_prefix" \
  -DBoost_DIR="$cmake_dir/Boost-1.74.0" -Dboost_headers_DIR="$cmake_dir/boost_headers-1.74.0" \
  -Dboost_filesystem_DIR="$cmake_dir/boost_filesystem-1.74.0" \
  -Dboost_program_options_DIR="$cmake_dir/boost_program_options-1.74.0" -DBoost_NO_SYSTEM_PATHS=ON \
  -DOpenCV_DIR="$cmake_dir/opencv4" -Dfmt_DIR="$cmake_dir/fmt" \
  -Dnlohmann_json_DIR="$prefix/usr/share/cmake/nlohmann_json" \
  -DZLIB_INCLUDE_DIR="$prefix/usr/include" -DZLIB_LIBRARY="$prefix/$multiarch/libz.so" \
  -DCMAKE_EXE_LINKER_FLAGS="$rpath_link" -DCMAKE_SHARED_LINKER_FLAGS="$rpath_link" \
  -DCMAKE_MODULE_LINKER_FLAGS="$rpath_link" \
  "${cuda_args[@]}"

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
printf '\nresolved from CMakeCache.txt:\n'
for var in Torch_DIR Boost_DIR boost_filesystem_DIR boost_program_options_DIR boost_headers_DIR OpenCV_DIR \
           fmt_DIR nlohmann_json_DIR ZLIB_LIBRARY CMAKE_CXX_COMPILER CMAKE_CUDA_COMPILER; do
  printf '  %-26s %s\n' "$var" "$(cache "$var")"
done
for var in Boost_DIR boost_filesystem_DIR boost_program_options_DIR boost_headers_DIR OpenCV_DIR fmt_DIR \
           nlohmann_json_DIR ZLIB_LIBRARY; do
  [[ $(cache "$var") == "$prefix"/* ]] || die "$var is '$(cache "$var")', not in $prefix"
done
# No compile or link line may name a system copy of these libraries.
build_files=("$build/build.ninja")
[[ -n $ninja ]] || mapfile -t build_files < <(find "$build" -name flags.make -o -name link.txt)
if grep -hoE '(^|[ ;:="])((-I|-isystem ?)/usr/include/opencv4|/usr/lib/x86_64-linux-gnu/lib(opencv|boost|fmt|z)[._][^ ]*)' \
     "${build_files[@]}" | sort -u | grep .; then
  die "the build lines above use system libraries instead of $prefix"
fi
if [[ $dry != 1 ]] && ! grep -qr -- '-DPIADE_WITH_CUDA=1' "${build_files[@]}"; then
  die "LibTorch's CMake files found no CUDA (PIADE_WITH_CUDA is not 1): see the 'Caffe2: CUDA' lines above"
fi

# --- build: the host and every built-in plugin (plugins/<kind>/<name> -> <kind>_<name>)
targets=(piade)
for file in "$root"/plugins/*/*/CMakeLists.txt; do
  dir=${file%/CMakeLists.txt}
  id=${dir#"$root/plugins/"}
  targets+=("${id/\//_}")
done
say "building ${targets[*]} with $jobs jobs"
"$cmake" --build "$build" --target "${targets[@]}" -j "$jobs"
say "built"

# --- run
piade=$build/bin/piade
# The prefix only for piade's own runs, not for the compiler or CMake.
runtime=(env LD_LIBRARY_PATH="$libpath:${torch[lib]}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
printf 'ldd %s (OpenCV, Boost, fmt, GDAL/GDCM stubs, zlib, torch):\n' "$piade"
ldd_out=$("${runtime[@]}" ldd "$piade")
grep -E 'opencv|boost|fmt|gdal|gdcm|libz\.|libtorch|libc10|not found' <<<"$ldd_out" | sed 's/^\s*/  /' || true
if grep -q 'not found' <<<"$ldd_out"; then die "piade has unresolved libraries (above)"; fi
# A library that the prefix has must be loaded from the prefix.
outside=()
while read -r name _ path _; do
  [[ -n ${have[$name]:-} && $path != "$prefix"/* ]] && outside+=("$name => $path")
done < <(grep '=>' <<<"$ldd_out")
((${#outside[@]} == 0)) || die "these libraries resolve outside $prefix: ${outside[*]}"

say "piade plugins"
"${runtime[@]}" "$piade" plugins || die "piade plugins failed: the plugins do not load (see above)"

if [[ $dry == 1 ]]; then
  batches=(4)
  bench_args=(--device cpu --image-size 32 --channels 3 --warmup 0 --repeats 1 --mode score)
else
  batches=(32 256)
  bench_args=(--device cuda --image-size 120 --channels 3 --warmup 3 --repeats 10 --mode "score,train")
fi
precisions=(fp32)
if "${runtime[@]}" "$piade" bench --help 2>&1 | grep -q -- '--amp'; then
  precisions+=(bf16)
else
  printf 'piade bench has no --amp option yet: the bf16 runs are skipped\n'
fi
failed=()
runs=()
for precision in "${precisions[@]}"; do
  for batch in "${batches[@]}"; do
    json=$out/bench-$precision-b$batch.json
    amp=()
    [[ $precision == fp32 ]] || amp=(--amp "$precision")
    say "piade bench ${bench_args[*]} --batch-size $batch ${amp[*]}"
    rm -f "$json"
    # A hung run must not eat the machine's time: 5 minutes is far more than one needs.
    if timeout 300 "${runtime[@]}" "$piade" bench "${bench_args[@]}" --batch-size "$batch" "${amp[@]}" --out "$json"; then
      runs+=("$precision:$batch:$json")
    else
      failed+=("$precision batch $batch")
    fi
  done
done

# --- summary
say "summary"
gpu_line=${torch[gpu]:-none}
if command -v nvidia-smi >/dev/null; then
  gpu_line=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1 | sed 's/, / (driver /; s/$/)/') ||
    gpu_line="${torch[gpu]} (nvidia-smi failed)"
fi
# The compilers' versions, as CMake recorded them (no CUDA file when CUDA was not enabled).
cuda_version=$(cat "$build"/CMakeFiles/*/CMakeCUDACompiler.cmake 2>/dev/null |
               sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")/\1/p' | head -1) || true
cxx_version=$(cat "$build"/CMakeFiles/*/CMakeCXXCompiler.cmake 2>/dev/null |
              sed -n 's/^set(CMAKE_CXX_COMPILER_ID "\(.*\)")/\1/p; s/^set(CMAKE_CXX_COMPILER_VERSION "\(.*\)")/\1/p' |
              head -2 | paste -sd' ' -) || true
commit=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
SUMMARY_GPU=$gpu_line SUMMARY_TORCH="${torch[version]} (CUDA ${torch[cuda]:-none})" \
SUMMARY_TOOLS="nvcc ${cuda_version:-not used}, ${cxx_version:-unknown compiler}" SUMMARY_COMMIT=$commit \
SUMMARY_BENCH="${bench_args[*]}" "$python" - "$out/summary.md" "$dry" "${runs[@]}" <<'EOF'
import json, os, sys
path, dry, runs = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
env = os.environ
lines = [
    "# piade bench on %s" % ("the CPU (dry run of benchmarks/gpu)" if dry else "the GPU"),
    "",
    "- GPU: " + env["SUMMARY_GPU"],
    "- torch " + env["SUMMARY_TORCH"] + ", " + env["SUMMARY_TOOLS"],
    "- piade " + env["SUMMARY_COMMIT"] + ", built by benchmarks/gpu/build-and-bench.sh against Debian 12 Boost, OpenCV, fmt",
    "- piade bench " + env["SUMMARY_BENCH"] + ": median of the timed batches, min to max in brackets",
    "",
    "| batch | precision | score img/s | train img/s | peak device memory GiB (score / train) |",
    "|---:|---|---:|---:|---:|",
]


def rate(part):
    if not part:
        return "-"
    return "%.1f (%.1f to %.1f)" % (part["images_per_second"], part["images_per_second_min"],
                                    part["images_per_second_max"])


for run in runs:
    precision, batch, file = run.split(":", 2)
    with open(file) as f:
        report = json.load(f)
    parts = [report.get(name) for name in ("score", "train_step")]
    # peak_device_memory_bytes: per part, null on the CPU; older piade: absent.
    peaks = ["%.2f" % (part["peak_device_memory_bytes"] / 2**30)
             if part and isinstance(part.get("peak_device_memory_bytes"), (int, float)) else "-"
             for part in parts]
    lines.append("| %s | %s | %s | %s | %s |" % (
        batch, report.get("precision", precision), rate(parts[0]), rate(parts[1]),
        "n/a" if peaks == ["-", "-"] else " / ".join(peaks)))
text = "\n".join(lines) + "\n"
with open(path, "w") as f:
    f.write(text)
print(text)
EOF
printf 'results in %s (%ds in all)\n' "$out" $((SECONDS - started))
if ((${#failed[@]})); then
  die "these bench runs failed: ${failed[*]}"
fi
