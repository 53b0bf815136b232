// A CPU allocator that keeps large freed blocks for the next tensor of the
// same size. glibc hands every block above 32 MiB (its largest mmap
// threshold) back to the system when it is freed, and the next training
// step faults the same sizes in again, zero-filled page by page: about 100k
// page faults per step at 120x120, batch 32 (docs/BENCHMARKS.md).
#pragma once

#include <cstddef>
#include <unordered_map>
#include <vector>

#include <c10/core/Allocator.h>
#include <torch/version.h>

namespace piade {

class CachingCpuAllocator final : public c10::Allocator {
 public:
  /// Blocks of at least `min_bytes` are kept when freed, up to `capacity`
  /// bytes kept in all; the rest go to and come from `fallback`.
  CachingCpuAllocator(c10::Allocator* fallback, std::size_t min_bytes, std::size_t capacity);
  CachingCpuAllocator(const CachingCpuAllocator&) = delete;
  CachingCpuAllocator& operator=(const CachingCpuAllocator&) = delete;

  // LibTorch 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define PIADE_ALLOCATE_CONST
  void copy_data(void* destination, const void* source, std::size_t bytes) const override {
    default_copy_data(destination, source, bytes);
  }
#else
#define PIADE_ALLOCATE_CONST const
#endif
  c10::DataPtr allocate(std::size_t bytes) PIADE_ALLOCATE_CONST override;
  /// Frees what raw_allocate() gave, large or small.
  c10::DeleterFnPtr raw_deleter() const override;

  std::size_t cached_bytes() const;  ///< freed and kept, ready for reuse

 private:
  struct Block;
  static void release(void* data);
  static std::unordered_map<void*, Block*>& live();
  static c10::DeleterFnPtr& fallback_raw_deleter();

  c10::Allocator* fallback_;
  std::size_t min_bytes_;
  std::size_t capacity_;
  std::unordered_map<std::size_t, std::vector<Block*>> free_;  // by size, under the lock in the .cpp
  std::size_t cached_bytes_ = 0;
};

/// Makes a CachingCpuAllocator LibTorch's CPU allocator for the rest of the
/// process: blocks from 1 MiB, a quarter of the physical memory kept at most.
void install_caching_cpu_allocator();

}  // namespace piade
