// An in-memory image set: what every dataset format loads into, and what
// training and evaluation read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace piade {

struct ImageSource;  // image_files.h

/// A file or record that `skip_bad` dropped instead of throwing.
struct SkippedItem {
  std::string item;    ///< the file's path, or "<file>#<record>" as image ids
  /// The one-line error that would have been thrown without skip_bad, less
  /// its advice ("; fix or remove it, or pass `skip_bad`").
  std::string reason;
};

/// A picture's own size in pixels, before decoding brought it to the
/// network's geometry.
struct ImageSize {
  int64_t height = 0, width = 0;
  bool operator==(const ImageSize& other) const { return height == other.height && width == other.width; }
};

struct ImageSet {
  /// [N,C,H,W] uint8, as decoded; undefined for a streamed set, whose
  /// pixels are decoded batch by batch from `source` (images_at, Prefetcher).
  torch::Tensor images;
  torch::Tensor labels;          ///< [N] int64: class label, or 1 = anomalous / 0 = normal
  std::vector<std::string> ids;  ///< one per image: a path, or "<file>#<index>"
  /// [N,1,H,W] uint8 0/255 aligned with images, or undefined when the dataset
  /// has no masks (normal test images then get all-zero masks).
  torch::Tensor masks;
  /// One per image, aligned with `images`: the file's size before decoding
  /// (image files); empty for formats of one fixed size (IDX, CIFAR-10),
  /// whose images are the size of `images` or were resized and cropped alike.
  /// Empty for a streamed set too: its files' sizes are known only as they
  /// are decoded.
  std::vector<ImageSize> original_sizes;
  /// The files of a streamed set, one per row, with their settled geometry;
  /// null for a set in memory. A dataset whose decoded size is above
  /// DecodeOptions::memory_budget is streamed (issue 17).
  std::shared_ptr<const ImageSource> source;

  bool streamed() const { return source != nullptr; }
  int64_t size() const {
    return images.defined() ? images.size(0) : source && labels.defined() ? labels.size(0) : 0;
  }
  /// The subset at `indices` (in that order), masks and original sizes
  /// included; a streamed set's subset is streamed, with the files at `indices`.
  ImageSet select(const std::vector<int64_t>& indices) const;
  /// The pixels of the rows at `indices`, [k,C,H,W] uint8: index_select in
  /// memory, decoded now (in parallel) for a streamed set, which throws
  /// piade::DatasetError naming a file that cannot be decoded.
  torch::Tensor images_at(const std::vector<int64_t>& indices) const;
};

}  // namespace piade
