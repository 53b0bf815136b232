// The tensor shapes that pipeline parts report to each other before any
// forward(), so that each part can size its layers when it is built.
#pragma once

#include <cstdint>
#include <string>

namespace piade {

/// One image: channels x height x width (the batch dimension is left out).
struct ImageShape {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
};

/// A backbone's feature map for one image: channels x height x width.
struct FeatureShape {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
};

/// Primary capsules for one image: `count` vectors of `dim` elements.
struct CapsuleShape {
  int64_t count = 0;
  int64_t dim = 0;
};

/// Routed instantiation vectors for one image: `count` vectors of `dim`.
struct VectorShape {
  int64_t count = 0;
  int64_t dim = 0;
};

inline bool operator==(const ImageShape& a, const ImageShape& b) {
  return a.channels == b.channels && a.height == b.height && a.width == b.width;
}
inline bool operator==(const FeatureShape& a, const FeatureShape& b) {
  return a.channels == b.channels && a.height == b.height && a.width == b.width;
}
inline bool operator==(const CapsuleShape& a, const CapsuleShape& b) {
  return a.count == b.count && a.dim == b.dim;
}
inline bool operator==(const VectorShape& a, const VectorShape& b) {
  return a.count == b.count && a.dim == b.dim;
}

}  // namespace piade
