// Pictures of what the model sees: colourised anomaly maps, overlays on the
// input, input | reconstruction | overlay strips and PNG files written
// atomically. Used by `piade score --maps`, `piade eval` and
// piade::Detector; the metrics themselves are computed elsewhere
// (host/metrics.h), this module only draws them. The ROC curve SVG lives in
// host/roc_svg.h, which needs neither LibTorch nor OpenCV.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include "piade/eval/roc_svg.h"  // roc_svg(), once declared here

namespace piade {

namespace fs = std::filesystem;

/// A per-pixel anomaly map [H,W] (CV_32F; CV_64F is accepted) as a BGR
/// picture (CV_8UC3) in OpenCV's JET colours: `lo` and below dark blue, `hi`
/// and above dark red, linear in between. The range is fixed by the caller,
/// not taken from the map, so that pictures of different images compare.
/// Throws piade::Error for another type or an empty range (hi <= lo).
cv::Mat colorize_map(const cv::Mat& map, double lo, double hi);

/// One anomaly map, [H,W] floating point on any device, as a new CV_32F
/// cv::Mat (a copy: it outlives the tensor).
cv::Mat map_to_mat(const torch::Tensor& map);

/// `colored` (CV_8UC3, resized bilinearly when its size differs) blended
/// over `image` (8-bit gray, BGR or BGRA): alpha * colored + (1 - alpha) *
/// image, as BGR CV_8UC3 at the image's size. Throws piade::Error for other
/// types or an alpha outside [0, 1].
cv::Mat overlay(const cv::Mat& image, const cv::Mat& colored, double alpha = 0.5);

struct StripOptions {
  /// A caption above each panel ("input", "reconstruction", "overlay").
  bool labels = true;
  /// Panels are enlarged by a whole factor (nearest neighbour, pixels stay
  /// visible) until they are at least this tall; 0 = network size.
  int min_height = 128;
  /// The overlay's blend factor, as overlay().
  double alpha = 0.5;
};

/// input | reconstruction | overlay of `colored` (colorize_map's output at
/// the network size) on the input, side by side, 2 pixels apart, as one BGR
/// picture. `image` and `reconstruction` are [C,H,W] uint8 (C = 1 gray or 3
/// RGB, the network's order) of one shape.
cv::Mat strip(const torch::Tensor& image, const torch::Tensor& reconstruction, const cv::Mat& colored,
              const StripOptions& options = {});

/// Encodes `picture` as PNG and writes it atomically (temporary file and
/// rename). Throws piade::Error naming the file.
void write_png_atomic(const fs::path& file, const cv::Mat& picture);

/// The upper end of the anomaly-map colour scale a checkpoint records
/// (`map_stats.max_p99`: the 99th percentile over the training images of
/// each image's largest map value), if it has one. The lower end is 0.
std::optional<double> checkpoint_map_max(const nlohmann::json& meta);

}  // namespace piade
