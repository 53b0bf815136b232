#include "piade/core/precision.h"

#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/version.h>

#include "piade/core/error.h"
#include "piade/sdk/log.h"

namespace piade {
namespace {

// LibTorch 2.4 replaced the per-backend autocast functions (is_enabled for
// CUDA, is_cpu_enabled, set_autocast_gpu_dtype, ...) by ones that take the
// device type, and deprecated the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
void set_autocast_enabled(c10::DeviceType type, bool on) { at::autocast::set_autocast_enabled(type, on); }
c10::ScalarType autocast_dtype(c10::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
void set_autocast_dtype(c10::DeviceType type, c10::ScalarType dtype) {
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
bool autocast_enabled(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(c10::DeviceType type, bool on) {
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
}
c10::ScalarType autocast_dtype(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(c10::DeviceType type, c10::ScalarType dtype) {
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

/// Whether the CPU has bf16 arithmetic (AVX512-BF16 or AMX); without it
/// oneDNN emulates bf16, about ten times slower than fp32.
bool cpu_has_bf16() {
  static const bool has = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream flags(line.substr(line.find(':') + 1));
      for (std::string flag; flags >> flag;)
        if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
      return false;
    }
    return false;
  }();
  return has;
}

}  // namespace

Precision parse_precision(const std::string& text) {
  if (text == "off" || text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  throw Error(fmt::format("--amp: '{}' is not a precision; use off (fp32) or bf16", text));
}

const char* precision_name(Precision precision) {
  return precision == Precision::bf16 ? "bf16" : "fp32";
}

Autocast::Autocast(const torch::Device& device, Precision precision) {
  if (precision == Precision::fp32) return;
  if (!device.is_cpu() && !device.is_cuda())
    throw Error(fmt::format("--amp: mixed precision needs a CPU or CUDA device, not {}", device.str()));
  if (device.is_cpu() && !cpu_has_bf16())
    warn_once("--amp bf16: this CPU has no bf16 instructions (avx512_bf16, amx_bf16), so bf16 is "
              "emulated and runs about ten times slower than fp32; use --amp off here");
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast_enabled(device_type_, true);
  set_autocast_dtype(device_type_, c10::ScalarType::BFloat16);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!active_) return;
  // The cache holds bf16 copies of the weights, valid until they change.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_type_, was_enabled_);
  set_autocast_dtype(device_type_, previous_dtype_);
}

AutocastSuspended::AutocastSuspended()
    : cpu_was_enabled_(autocast_enabled(c10::DeviceType::CPU)),
      cuda_was_enabled_(autocast_enabled(c10::DeviceType::CUDA)) {
  set_autocast_enabled(c10::DeviceType::CPU, false);
  set_autocast_enabled(c10::DeviceType::CUDA, false);
}

AutocastSuspended::~AutocastSuspended() {
  set_autocast_enabled(c10::DeviceType::CPU, cpu_was_enabled_);
  set_autocast_enabled(c10::DeviceType::CUDA, cuda_was_enabled_);
}

}  // namespace piade
