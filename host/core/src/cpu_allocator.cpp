#include "piade/core/cpu_allocator.h"

#include <mutex>

#include <unistd.h>

#include <c10/core/CPUAllocator.h>

namespace piade {
namespace {

// Every large block handed out, by address: oneDNN allocates through
// raw_allocate(), whose deleter gets only the address back. One lock for
// these and every instance's free lists.
std::mutex& lock() {
  static std::mutex* const mutex = new std::mutex;  // never destroyed: tensors may die after main()
  return *mutex;
}

}  // namespace

struct CachingCpuAllocator::Block {
  CachingCpuAllocator* owner;
  c10::DataPtr memory;  // the fallback's allocation; freeing it gives the memory back
  std::size_t bytes;
};

std::unordered_map<void*, CachingCpuAllocator::Block*>& CachingCpuAllocator::live() {
  static auto* const blocks = new std::unordered_map<void*, Block*>;
  return *blocks;
}

CachingCpuAllocator::CachingCpuAllocator(c10::Allocator* fallback, std::size_t min_bytes, std::size_t capacity)
    : fallback_(fallback), min_bytes_(min_bytes), capacity_(capacity) {
  fallback_raw_deleter() = fallback->raw_deleter();
}

c10::DataPtr CachingCpuAllocator::allocate(std::size_t bytes) PIADE_ALLOCATE_CONST {
  if (bytes < min_bytes_) return fallback_->allocate(bytes);
  auto* self = const_cast<CachingCpuAllocator*>(this);
  std::lock_guard<std::mutex> guard(lock());
  Block* block = nullptr;
  auto found = self->free_.find(bytes);
  if (found != self->free_.end() && !found->second.empty()) {
    block = found->second.back();
    found->second.pop_back();
    self->cached_bytes_ -= bytes;
  } else {
    block = new Block{self, fallback_->allocate(bytes), bytes};
    live()[block->memory.get()] = block;
  }
  void* data = block->memory.get();
  return {data, data, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
}

c10::DeleterFnPtr CachingCpuAllocator::raw_deleter() const { return &CachingCpuAllocator::release; }

void CachingCpuAllocator::release(void* data) {
  Block* dropped = nullptr;
  {
    std::lock_guard<std::mutex> guard(lock());
    auto found = live().find(data);
    if (found == live().end()) {
      // A small block, from the fallback (raw_allocate() of it ends here).
      if (fallback_raw_deleter()) fallback_raw_deleter()(data);
      return;
    }
    Block* block = found->second;
    CachingCpuAllocator& owner = *block->owner;
    if (owner.cached_bytes_ + block->bytes <= owner.capacity_) {
      owner.free_[block->bytes].push_back(block);
      owner.cached_bytes_ += block->bytes;
      return;
    }
    live().erase(found);
    dropped = block;
  }
  delete dropped;  // outside the lock: the fallback frees the memory
}

c10::DeleterFnPtr& CachingCpuAllocator::fallback_raw_deleter() {
  static c10::DeleterFnPtr deleter = nullptr;
  return deleter;
}

std::size_t CachingCpuAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> guard(lock());
  return cached_bytes_;
}

void install_caching_cpu_allocator() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  const std::size_t memory = pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                                                   : std::size_t{4} << 30;
  // Never freed: tensors may outlive main() in static destructors.
  static CachingCpuAllocator* const allocator =
      new CachingCpuAllocator(c10::GetCPUAllocator(), std::size_t{1} << 20, memory / 4);
  c10::SetCPUAllocator(allocator, /*priority=*/1);
}

}  // namespace piade
