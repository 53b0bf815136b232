#include "piade/datasets/prefetch.h"

#include <algorithm>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {

Prefetcher::Prefetcher(const ImageSet& set, std::vector<std::vector<int64_t>> batches, int64_t depth)
    : set_(set), batches_(std::move(batches)), depth_(std::max<int64_t>(depth, 1)) {
  if (set_.streamed() && !batches_.empty()) producer_ = std::thread([this] { produce(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (producer_.joinable()) producer_.join();
}

void Prefetcher::produce() {
  produce_batches();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
}

void Prefetcher::produce_batches() {
  for (std::size_t b = 0; b < batches_.size(); ++b) {
    {
      // A slot is free before decoding starts, so that decoded-but-not-taken
      // batches, the one being decoded included, never exceed depth.
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || int64_t(ready_.size()) < depth_; });
      if (stop_) return;
    }
    std::pair<torch::Tensor, std::exception_ptr> item;
    try {
      item.first = set_.images_at(batches_[b]);
    } catch (...) {
      item.second = std::current_exception();
    }
    const bool failed = item.second != nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(item));
      ++decoded_;
      peak_ahead_ = std::max(peak_ahead_, int64_t(ready_.size()));
    }
    changed_.notify_all();
    if (failed) return;  // the consumer stops at this batch
  }
}

torch::Tensor Prefetcher::next() {
  if (taken_ >= int64_t(batches_.size()))
    throw DatasetError(fmt::format("prefetcher: all {} batches were taken", batches_.size()));
  if (!set_.streamed()) {
    torch::Tensor images = set_.images_at(batches_[std::size_t(taken_)]);
    std::lock_guard<std::mutex> lock(mutex_);
    ++taken_;
    decoded_ = taken_;
    return images;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (ready_.empty())
    throw DatasetError(fmt::format("prefetcher: batch {} of {} was not decoded (an earlier batch failed)",
                                   taken_ + 1, batches_.size()));
  auto [images, error] = std::move(ready_.front());
  ready_.pop_front();
  ++taken_;
  lock.unlock();
  changed_.notify_all();
  if (error) std::rethrow_exception(error);
  return images;
}

int64_t Prefetcher::decoded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return decoded_;
}

int64_t Prefetcher::taken() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return taken_;
}

int64_t Prefetcher::peak_ahead() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_ahead_;
}

}  // namespace piade
