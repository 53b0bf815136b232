// Pictures of what the model sees: colourised anomaly maps, overlays on the
// input, one picture per image (input | reconstruction | anomaly map with
// its colour bar | ground truth | predicted mask, and a text band) and PNG
// files written atomically. Used by `piade score --maps`, `piade eval` and
// piade::Detector; the metrics themselves are computed elsewhere
// (piade/eval/metrics.h), which images to draw and their text is
// piade/eval/gallery.h's, and curves are drawn by piade/eval/roc_svg.h,
// which needs neither LibTorch nor OpenCV.
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

/// The parts of one image's picture (image_picture()).
struct PictureParts {
  /// [C,H,W] uint8 (C = 1 gray or 3 RGB, the network's order), one shape.
  torch::Tensor image, reconstruction;
  /// The anomaly map, one float channel (CV_32F; resized bilinearly to H x W
  /// when its size differs).
  cv::Mat map;
  /// The top of the colour scale (its bottom is 0), as colorize_map's `hi`.
  double map_max = 1;
  /// The predicted mask marks the pixels where map > pixel_threshold; none:
  /// no predicted-mask panel.
  std::optional<double> pixel_threshold;
  /// The ground-truth mask, 8-bit [H,W] (nonzero = defect, as ImageSet's
  /// masks); empty: no ground-truth panel.
  cv::Mat mask;
  /// The text band's lines (picture_text() of piade/eval/gallery.h).
  std::vector<std::string> text;
};

/// One picture of one image, as a BGR CV_8UC3: panels side by side, 2
/// pixels apart, each with a caption above: "input", "reconstruction",
/// "anomaly map" (JET on [0, map_max]) with a colour bar labelled 0 and
/// map_max, "ground truth" (the mask in green over the darkened input, "no
/// defect" written in its corner when it is empty) when there is a mask, and "map > t" (the predicted mask in red over the
/// darkened input, the ground truth outlined in green, and the share of
/// pixels marked, or "no pixel", written in its corner) when there is a
/// pixel threshold; under them the text band, one line per `text` entry.
/// Panels are enlarged by a whole factor (nearest neighbour, pixels stay
/// visible) until they are at least `min_panel` pixels tall, so that a
/// 28-pixel image and its text are readable. Throws piade::Error for images
/// of different shapes, a map that is not one float channel, a mask of
/// another size, or map_max <= 0.
cv::Mat image_picture(const PictureParts& parts, int min_panel = 128);

/// An anomaly map at the network size (S x S, float) brought back to its
/// picture's own `height` x `width` (ImageSet::original_sizes), bilinearly.
/// When the picture was first resized to `resize` x `resize` and
/// center-cropped to S (resize > S, as the decoder does), the map covers the
/// crop's part of the picture only, and the border the network never saw is
/// 0. Throws piade::Error for an empty map or size.
cv::Mat map_at_original_size(const cv::Mat& map, int64_t height, int64_t width, int64_t resize = 0);

/// Encodes `picture` as PNG and writes it atomically (temporary file and
/// rename). Throws piade::Error naming the file.
void write_png_atomic(const fs::path& file, const cv::Mat& picture);

/// The upper end of the anomaly-map colour scale a checkpoint records
/// (`map_stats.max_p99`: the 99th percentile over the training images of
/// each image's largest map value), if it has one. The lower end is 0.
std::optional<double> checkpoint_map_max(const nlohmann::json& meta);

}  // namespace piade
