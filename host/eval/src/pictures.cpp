#include "piade/eval/pictures.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "piade/datasets/image_files.h"
#include "piade/datasets/transforms.h"
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

// The colour bar right of a colourised map panel: JET from 0 (bottom) to
// `hi` (top), labelled at both ends, on black.
cv::Mat with_colour_bar(const cv::Mat& panel, double hi) {
  constexpr double kScale = 0.4;
  constexpr int kBar = 12, kPad = 4;
  const std::string top = fmt::format("{:.3g}", hi);
  int baseline = 0;
  const cv::Size text = cv::getTextSize(top, kCaptionFont, kScale, 1, &baseline);
  cv::Mat out(panel.rows, panel.cols + kPad + kBar + kPad + text.width + kPad, CV_8UC3, cv::Scalar::all(0));
  panel.copyTo(out(cv::Rect(0, 0, panel.cols, panel.rows)));
  cv::Mat levels(panel.rows, 1, CV_8U);
  for (int y = 0; y < panel.rows; ++y)
    levels.at<uint8_t>(y) = cv::saturate_cast<uint8_t>(255.0 * (panel.rows - 1 - y) / std::max(1, panel.rows - 1));
  cv::Mat bar;
  cv::applyColorMap(levels, bar, cv::COLORMAP_JET);
  cv::resize(bar, bar, cv::Size(kBar, panel.rows), 0, 0, cv::INTER_NEAREST);
  const int bar_x = panel.cols + kPad;
  bar.copyTo(out(cv::Rect(bar_x, 0, kBar, panel.rows)));
  const int text_x = bar_x + kBar + kPad;
  cv::putText(out, top, cv::Point(text_x, text.height + 1), kCaptionFont, kScale, cv::Scalar::all(255), 1,
              cv::LINE_AA);
  cv::putText(out, "0", cv::Point(text_x, panel.rows - baseline - 1), kCaptionFont, kScale, cv::Scalar::all(255), 1,
              cv::LINE_AA);
  return out;
}

// `lines` under `picture`, white on dark gray, the largest font (up to
// 0.5) at which the longest line fits.
cv::Mat with_text_band(const cv::Mat& picture, const std::vector<std::string>& lines) {
  if (lines.empty()) return picture;
  double scale = 0.5;
  int baseline = 0;
  for (const std::string& line : lines)
    while (scale > 0.3 && cv::getTextSize(line, kCaptionFont, scale, 1, &baseline).width > picture.cols - 12)
      scale -= 0.05;
  const int line_height = cv::getTextSize("Mg", kCaptionFont, scale, 1, &baseline).height + baseline + 8;
  cv::Mat out(picture.rows + 6 + line_height * static_cast<int>(lines.size()), picture.cols, CV_8UC3,
              cv::Scalar::all(32));
  picture.copyTo(out(cv::Rect(0, 0, picture.cols, picture.rows)));
  for (std::size_t i = 0; i < lines.size(); ++i)
    cv::putText(out, lines[i], cv::Point(6, picture.rows + 3 + line_height * static_cast<int>(i + 1) - baseline - 4),
                kCaptionFont, scale, cv::Scalar::all(255), 1, cv::LINE_AA);
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

cv::Mat image_picture(const PictureParts& parts, int min_panel) {
  if (parts.image.sizes() != parts.reconstruction.sizes())
    throw Error(fmt::format("picture: the image [{}] and its reconstruction [{}] differ in shape",
                            fmt::join(parts.image.sizes(), ","), fmt::join(parts.reconstruction.sizes(), ",")));
  if (!(parts.map_max > 0) || !std::isfinite(parts.map_max))
    throw Error(fmt::format("picture: the colour scale's top must be a positive number, got {}", parts.map_max));
  const cv::Mat input = to_bgr(tensor_to_image(parts.image), "picture");
  const cv::Size size = input.size();
  cv::Mat map = parts.map;
  if (map.empty() || map.channels() != 1 || (map.depth() != CV_32F && map.depth() != CV_64F))
    throw Error(fmt::format("picture: expected an anomaly map of one float channel (CV_32F), got {}",
                            map.empty() ? std::string("an empty map") : cv::typeToString(map.type())));
  if (map.size() != size) cv::resize(map, map, size, 0, 0, cv::INTER_LINEAR);
  if (!parts.mask.empty() && (parts.mask.size() != size || parts.mask.type() != CV_8UC1))
    throw Error(fmt::format("picture: the mask is {}x{} {} but the image {}x{}; give an 8-bit mask of its size",
                            parts.mask.cols, parts.mask.rows, cv::typeToString(parts.mask.type()), size.width,
                            size.height));

  const int factor = min_panel > size.height ? (min_panel + size.height - 1) / size.height : 1;
  const auto enlarge = [&](const cv::Mat& panel) {
    cv::Mat out = panel;
    if (factor > 1) cv::resize(panel, out, cv::Size(), factor, factor, cv::INTER_NEAREST);
    return out;
  };
  // The masks over the input at a third of its brightness, so that the
  // marked pixels stand out whatever the picture.
  const cv::Mat dark = enlarge(input) * (1.0 / 3.0);
  cv::Mat truth;
  if (!parts.mask.empty()) truth = enlarge(parts.mask != 0);
  const auto marked = [&](const cv::Mat& where, const cv::Scalar& colour) {
    cv::Mat panel = dark.clone(), solid(panel.size(), CV_8UC3, colour), blended;
    cv::addWeighted(panel, 0.3, solid, 0.7, 0.0, blended);
    blended.copyTo(panel, where);
    return panel;
  };

  // A note in a panel's lower left corner: white on a black outline,
  // legible over any colour.
  const auto note = [](cv::Mat& panel, const std::string& text) {
    const cv::Point at(4, panel.rows - 6);
    cv::putText(panel, text, at, kCaptionFont, 0.4, cv::Scalar::all(0), 3, cv::LINE_AA);
    cv::putText(panel, text, at, kCaptionFont, 0.4, cv::Scalar::all(255), 1, cv::LINE_AA);
  };

  std::vector<cv::Mat> panels = {enlarge(input), enlarge(to_bgr(tensor_to_image(parts.reconstruction), "picture")),
                                 with_colour_bar(enlarge(colorize_map(map, 0.0, parts.map_max)), parts.map_max)};
  std::vector<std::string> captions = {"input", "reconstruction", "anomaly map"};
  if (!truth.empty()) {
    panels.push_back(marked(truth, cv::Scalar(0, 200, 0)));
    if (cv::countNonZero(truth) == 0) note(panels.back(), "no defect");
    captions.push_back("ground truth");
  }
  if (parts.pixel_threshold) {
    const cv::Mat above = map > *parts.pixel_threshold;
    cv::Mat panel = marked(enlarge(above), cv::Scalar(0, 0, 255));
    if (!truth.empty()) {
      std::vector<std::vector<cv::Point>> outline;
      cv::findContours(truth.clone(), outline, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
      cv::drawContours(panel, outline, -1, cv::Scalar(0, 220, 0), 1);
    }
    // How much is marked, so that an empty prediction reads as one.
    const int marked_pixels = cv::countNonZero(above);
    note(panel, marked_pixels == 0 ? std::string("no pixel")
                                   : fmt::format("{:.1f}% of pixels", 100.0 * marked_pixels / double(above.total())));
    panels.push_back(panel);
    captions.push_back(fmt::format("map > {:.3g}", *parts.pixel_threshold));
  }
  const double scale = caption_scale(captions, panels[0].cols);
  for (std::size_t i = 0; i < panels.size(); ++i) panels[i] = with_caption(panels[i], captions[i], scale);

  constexpr int kGap = 2;
  int width = -kGap;
  for (const cv::Mat& panel : panels) width += panel.cols + kGap;
  cv::Mat row(panels[0].rows, width, CV_8UC3, cv::Scalar::all(64));
  int x = 0;
  for (const cv::Mat& panel : panels) {
    panel.copyTo(row(cv::Rect(x, 0, panel.cols, panel.rows)));
    x += panel.cols + kGap;
  }
  return with_text_band(row, parts.text);
}

cv::Mat map_at_original_size(const cv::Mat& map, int64_t height, int64_t width, int64_t resize) {
  if (map.empty() || height <= 0 || width <= 0)
    throw Error(fmt::format("anomaly map: cannot bring a {}x{} map to {}x{} pixels", map.cols, map.rows, width,
                            height));
  const int h = static_cast<int>(height), w = static_cast<int>(width);
  cv::Mat out;
  if (resize <= map.rows) {
    cv::resize(map, out, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
    return out;
  }
  // The crop is [offset, offset + S) of the resize x resize picture, in each
  // direction; in the picture's own pixels that scales by width / resize.
  const double offset = static_cast<double>(center_crop_offset(resize, map.rows));
  const auto span = [&](double from, double length, int total) {
    const int start = std::clamp(static_cast<int>(std::lround(from * total / double(resize))), 0, total - 1);
    const int end = std::clamp(static_cast<int>(std::lround((from + length) * total / double(resize))), start + 1, total);
    return std::make_pair(start, end - start);
  };
  const auto [x, crop_width] = span(offset, map.cols, w);
  const auto [y, crop_height] = span(offset, map.rows, h);
  out = cv::Mat::zeros(h, w, map.type());
  cv::resize(map, out(cv::Rect(x, y, crop_width, crop_height)), cv::Size(crop_width, crop_height), 0, 0,
             cv::INTER_LINEAR);
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
