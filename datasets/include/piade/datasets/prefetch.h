// The batch source of training and scoring: the images of a given sequence
// of batches (row indices into an ImageSet), in that order. A set in memory
// is sliced as each batch is asked for; a streamed set (issue 17, datasets
// larger than memory) is decoded by a background thread with its decoder
// threads, a bounded number of batches ahead of the consumer, so memory
// stays flat however many files the set has.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "piade/datasets/dataset.h"

namespace piade {

/// Batches decoded ahead when none is given: one in use, one being decoded,
/// one waiting keeps the decoders busy without holding much.
constexpr int64_t kPrefetchDepth = 2;

class Prefetcher {
 public:
  /// `set` must outlive the Prefetcher. `depth` (>= 1): most batches
  /// decoded and not yet taken by next().
  Prefetcher(const ImageSet& set, std::vector<std::vector<int64_t>> batches, int64_t depth = kPrefetchDepth);
  /// Stops the decoding thread (after the batch it is decoding).
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  /// The images of the next batch, [k,C,H,W] uint8. Throws the
  /// piade::DatasetError of a file of that batch that could not be decoded,
  /// or piade::DatasetError when every batch was taken.
  torch::Tensor next();

  int64_t batches() const { return int64_t(batches_.size()); }
  /// Batches decoded so far (streamed sets; for sets in memory, taken ones).
  int64_t decoded() const;
  /// Batches next() has returned.
  int64_t taken() const;
  /// The most batches ever held decoded and not yet taken: never above depth.
  int64_t peak_ahead() const;

 private:
  void produce();
  void produce_batches();

  const ImageSet& set_;
  const std::vector<std::vector<int64_t>> batches_;
  const int64_t depth_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  // Decoded batches waiting for next(), in order; a failed one holds its error.
  std::deque<std::pair<torch::Tensor, std::exception_ptr>> ready_;
  int64_t decoded_ = 0, taken_ = 0, peak_ahead_ = 0;
  bool stop_ = false;
  bool done_ = false;  // the producer has returned
  std::thread producer_;
};

}  // namespace piade
