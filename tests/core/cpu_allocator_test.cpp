// The host's caching CPU allocator: large blocks come back for the next
// tensor of their size, small ones and overflow go to the fallback.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include "piade/core/cpu_allocator.h"

namespace {
using piade::CachingCpuAllocator;

constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST(CachingCpuAllocator, AFreedLargeBlockServesTheNextOfItsSize) {
  CachingCpuAllocator allocator(c10::GetCPUAllocator(), kMiB, 64 * kMiB);
  void* first = nullptr;
  {
    c10::DataPtr block = allocator.allocate(4 * kMiB);
    first = block.get();
    static_cast<char*>(first)[4 * kMiB - 1] = 7;  // the whole block is usable
  }
  EXPECT_EQ(allocator.cached_bytes(), 4 * kMiB);
  c10::DataPtr again = allocator.allocate(4 * kMiB);
  EXPECT_EQ(again.get(), first);
  EXPECT_EQ(allocator.cached_bytes(), 0u);
  // Another size gets a block of its own.
  c10::DataPtr other = allocator.allocate(5 * kMiB);
  EXPECT_NE(other.get(), first);
}

TEST(CachingCpuAllocator, SmallBlocksAndBlocksPastTheCapacityAreNotKept) {
  CachingCpuAllocator allocator(c10::GetCPUAllocator(), kMiB, 6 * kMiB);
  { c10::DataPtr small = allocator.allocate(kMiB / 2); }
  EXPECT_EQ(allocator.cached_bytes(), 0u);
  {
    c10::DataPtr a = allocator.allocate(4 * kMiB);
    c10::DataPtr b = allocator.allocate(4 * kMiB);
  }
  EXPECT_EQ(allocator.cached_bytes(), 4 * kMiB);  // the second would pass 6 MiB
}

TEST(CachingCpuAllocator, TensorsBuiltOnItKeepTheirValues) {
  CachingCpuAllocator allocator(c10::GetCPUAllocator(), kMiB, 256 * kMiB);
  c10::Allocator* previous = c10::GetCPUAllocator();
  c10::SetCPUAllocator(&allocator, /*priority=*/100);
  {
    torch::manual_seed(0);
    const torch::Tensor a = torch::randn({512, 1024});  // 2 MiB
    const torch::Tensor expected = a.clone();
    const torch::Tensor b = torch::mm(a, a.t());
    EXPECT_TRUE(a.equal(expected));
    EXPECT_EQ(b.sizes(), (torch::IntArrayRef{512, 512}));
  }
  // Many threads freeing and taking blocks at once.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 50; ++i) {
        torch::Tensor x = torch::full({1 << 19}, static_cast<float>(i));  // 2 MiB
        ASSERT_EQ(x.sum().item<double>(), static_cast<double>(i) * (1 << 19));
      }
    });
  for (std::thread& thread : threads) thread.join();
  EXPECT_GT(allocator.cached_bytes(), 0u);
  c10::SetCPUAllocator(previous, /*priority=*/100);
}

}  // namespace
