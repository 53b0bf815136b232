// An in-memory image set: what every dataset format loads into, and what
// training and evaluation read.
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

namespace piade {

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
  torch::Tensor images;          ///< [N,C,H,W] uint8, as decoded
  torch::Tensor labels;          ///< [N] int64: class label, or 1 = anomalous / 0 = normal
  std::vector<std::string> ids;  ///< one per image: a path, or "<file>#<index>"
  /// [N,1,H,W] uint8 0/255 aligned with images, or undefined when the dataset
  /// has no masks (normal test images then get all-zero masks).
  torch::Tensor masks;
  /// One per image, aligned with `images`: the file's size before decoding
  /// (image files); empty for formats of one fixed size (IDX, CIFAR-10),
  /// whose images are the size of `images` or were resized and cropped alike.
  std::vector<ImageSize> original_sizes;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  /// The subset at `indices` (in that order), masks and original sizes included.
  ImageSet select(const std::vector<int64_t>& indices) const;
};

}  // namespace piade
