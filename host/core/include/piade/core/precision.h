// Mixed precision (--amp): which arithmetic a forward pass runs in.
//
// With bf16, LibTorch's autocast runs convolutions and matrix products in
// bfloat16 (8 exponent bits: no loss scaling needed, unlike fp16) and keeps
// reductions and the parameters in fp32. The loss terms always run in fp32
// (PiadeModel::score suspends autocast for them): SSIM's variances
// E[x^2] - E[x]^2 and the perceptual term's feature difference cancel
// almost every bf16 bit.
#pragma once
#include <string>

#include <torch/types.h>

namespace piade {

enum class Precision { fp32, bf16 };

/// "off" or "fp32" -> fp32, "bf16" -> bf16; anything else is a piade::Error
/// naming --amp.
Precision parse_precision(const std::string& text);
/// "fp32" or "bf16", as reports and checkpoints write it.
const char* precision_name(Precision precision);

/// Autocasts to `precision` on `device`'s type (CPU or CUDA) while alive;
/// does nothing for fp32. Leaving the outermost one drops autocast's cache
/// of bf16 weight copies, so an optimizer step must come after it.
class Autocast {
 public:
  Autocast(const torch::Device& device, Precision precision);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Float;
};

/// Turns autocast off on the CPU and CUDA while alive (for work that must
/// stay fp32 inside an Autocast), then restores what was on.
class AutocastSuspended {
 public:
  AutocastSuspended();
  ~AutocastSuspended();
  AutocastSuspended(const AutocastSuspended&) = delete;
  AutocastSuspended& operator=(const AutocastSuspended&) = delete;

 private:
  bool cpu_was_enabled_ = false;
  bool cuda_was_enabled_ = false;
};

}  // namespace piade
