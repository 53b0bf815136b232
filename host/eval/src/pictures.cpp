#include "piade/eval/pictures.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "piade/datasets/image_files.h"
#include "piade/core/checkpoint.h"
#include "piade/core/error.h"

namespace piade {
namespace {

// 8-bit gray, BGR or BGRA -> BGR.
cv::Mat to_bgr(const cv::Mat& image, const char* context) {
  if (image.empty() || image.depth() != CV_8U)
    throw Error(fmt::format("{}: expected an 8-bit image, got {}", context,
                            image.empty() ? std::string("an empty one") : cv::typeToString(image.type())));
  cv::Mat bgr;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR); return bgr;
    case 3: return image;
    case 4: cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR); return bgr;
    default:
      throw Error(fmt::format("{}: expected 1, 3 or 4 channels, got {}", context, image.channels()));
  }
}

constexpr int kCaptionFont = cv::FONT_HERSHEY_SIMPLEX;

// The largest font scale (up to 0.45) at which every caption fits in `width`.
double caption_scale(const std::vector<std::string>& captions, int width) {
  double scale = 0.45;
  for (const std::string& text : captions) {
    int baseline = 0;
    while (scale > 0.2 && cv::getTextSize(text, kCaptionFont, scale, 1, &baseline).width > width - 4) scale -= 0.05;
  }
  return scale;
}

// A caption band above `panel`; one scale for every panel keeps the bands
// of one height.
cv::Mat with_caption(const cv::Mat& panel, const std::string& text, double scale) {
  int baseline = 0;
  const int band = cv::getTextSize("Mg", kCaptionFont, scale, 1, &baseline).height + baseline + 6;
  const cv::Size size = cv::getTextSize(text, kCaptionFont, scale, 1, &baseline);
  cv::Mat out(panel.rows + band, panel.cols, CV_8UC3, cv::Scalar::all(0));
  panel.copyTo(out(cv::Rect(0, band, panel.cols, panel.rows)));
  cv::putText(out, text, cv::Point(std::max(0, (panel.cols - size.width) / 2), band - baseline - 3), kCaptionFont,
              scale, cv::Scalar::all(255), 1, cv::LINE_AA);
  return out;
}

}  // namespace

cv::Mat map_to_mat(const torch::Tensor& map) {
  if (map.dim() != 2) throw Error(fmt::format("anomaly map: expected [H,W], got {} dimensions", map.dim()));
  const torch::Tensor values = map.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return cv::Mat(static_cast<int>(values.size(0)), static_cast<int>(values.size(1)), CV_32F, values.data_ptr<float>())
      .clone();
}

cv::Mat colorize_map(const cv::Mat& map, double lo, double hi) {
  if (map.empty() || map.channels() != 1 || (map.depth() != CV_32F && map.depth() != CV_64F))
    throw Error(fmt::format("anomaly map: expected one float channel (CV_32F), got {}",
                            map.empty() ? std::string("an empty map") : cv::typeToString(map.type())));
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi))
    throw Error(fmt::format("anomaly map: the colour range [{}, {}] is empty; give hi > lo", lo, hi));
  // lo -> 0, hi -> 255, saturating outside (convertTo rounds and clamps).
  cv::Mat levels;
  map.convertTo(levels, CV_8U, 255.0 / (hi - lo), -lo * 255.0 / (hi - lo));
  cv::Mat colored;
  cv::applyColorMap(levels, colored, cv::COLORMAP_JET);
  return colored;
}

cv::Mat overlay(const cv::Mat& image, const cv::Mat& colored, double alpha) {
  if (!(alpha >= 0 && alpha <= 1))
    throw Error(fmt::format("overlay: alpha must be in [0, 1], got {}", alpha));
  if (colored.empty() || colored.type() != CV_8UC3)
    throw Error(fmt::format("overlay: expected a coloured map (CV_8UC3), got {}",
                            colored.empty() ? std::string("an empty one") : cv::typeToString(colored.type())));
  const cv::Mat bgr = to_bgr(image, "overlay");
  cv::Mat resized = colored;
  if (colored.size() != bgr.size()) cv::resize(colored, resized, bgr.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat out;
  cv::addWeighted(resized, alpha, bgr, 1.0 - alpha, 0.0, out);
  return out;
}

cv::Mat strip(const torch::Tensor& image, const torch::Tensor& reconstruction, const cv::Mat& colored,
              const StripOptions& options) {
  if (image.sizes() != reconstruction.sizes())
    throw Error(fmt::format("strip: the image [{}] and its reconstruction [{}] differ in shape",
                            fmt::join(image.sizes(), ","), fmt::join(reconstruction.sizes(), ",")));
  const cv::Mat input = to_bgr(tensor_to_image(image), "strip");
  std::vector<cv::Mat> panels = {input, to_bgr(tensor_to_image(reconstruction), "strip"),
                                 overlay(input, colored, options.alpha)};
  const int factor = options.min_height > input.rows ? (options.min_height + input.rows - 1) / input.rows : 1;
  const std::vector<std::string> captions = {"input", "reconstruction", "overlay"};
  const double scale = caption_scale(captions, input.cols * factor);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    if (factor > 1) cv::resize(panels[i], panels[i], cv::Size(), factor, factor, cv::INTER_NEAREST);
    if (options.labels) panels[i] = with_caption(panels[i], captions[i], scale);
  }
  constexpr int kGap = 2;
  const int width = 3 * panels[0].cols + 2 * kGap;
  cv::Mat out(panels[0].rows, width, CV_8UC3, cv::Scalar::all(64));
  for (std::size_t i = 0; i < panels.size(); ++i)
    panels[i].copyTo(out(cv::Rect(static_cast<int>(i) * (panels[0].cols + kGap), 0, panels[0].cols, panels[0].rows)));
  return out;
}

void write_png_atomic(const fs::path& file, const cv::Mat& picture) {
  std::vector<unsigned char> bytes;
  try {
    if (picture.empty() || !cv::imencode(".png", picture, bytes))
      throw Error(picture.empty() ? "the picture is empty" : "OpenCV refused it");
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("{}: cannot encode as PNG ({})", file.string(), e.err));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: cannot encode as PNG ({})", file.string(), e.what()));
  }
  write_file_atomic(file, std::string(bytes.begin(), bytes.end()));
}

std::optional<double> checkpoint_map_max(const nlohmann::json& meta) {
  const auto stats = meta.find("map_stats");
  if (stats == meta.end() || !stats->is_object()) return std::nullopt;
  const auto max = stats->find("max_p99");
  if (max == stats->end() || !max->is_number()) return std::nullopt;
  const double value = max->get<double>();
  if (!(value > 0) || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace piade
