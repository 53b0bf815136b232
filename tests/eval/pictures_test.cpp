// piade/eval/pictures.h and the picture <-> tensor conversions of
// piade/datasets/image_files.h: colour scales, overlays, one image's
// picture, maps back at the picture's size, atomic PNG files, the ROC and
// other line-plot SVGs (checked by Python's XML parser), and that a picture handed
// over in memory becomes the same network input as the same picture read
// from a file.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "piade/datasets/error.h"
#include "piade/datasets/image_files.h"
#include "piade/core/error.h"
#include "piade/eval/pictures.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace {

namespace fs = std::filesystem;

using piade::test::ScratchDir;

cv::Vec3b jet(int level) {
  cv::Mat one(1, 1, CV_8U, cv::Scalar(level)), colored;
  cv::applyColorMap(one, colored, cv::COLORMAP_JET);
  return colored.at<cv::Vec3b>(0, 0);
}

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const piade::Error& e) {
    return e.what();
  } catch (const piade::DatasetError& e) {  // image_to_tensor (datasets)
    return e.what();
  }
  return "(no error)";
}

TEST(ColorizeMap, FixedRangeMapsLoToBlueHiToRedAndClampsOutside) {
  cv::Mat map = (cv::Mat_<float>(1, 5) << -1.0f, 0.0f, 0.5f, 1.0f, 3.0f);
  const cv::Mat colored = piade::colorize_map(map, 0.0, 1.0);
  ASSERT_EQ(colored.type(), CV_8UC3);
  ASSERT_EQ(colored.size(), map.size());
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 0), jet(0));  // below lo: as lo
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 1), jet(0));
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 2), jet(128));  // 127.5, rounded half to even by cvRound
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 3), jet(255));
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 4), jet(255));  // above hi: as hi
  // JET: the bottom is blue, the top red (BGR order).
  EXPECT_GT(jet(0)[0], 100);
  EXPECT_EQ(jet(0)[2], 0);
  EXPECT_GT(jet(255)[2], 100);
  EXPECT_EQ(jet(255)[0], 0);
}

TEST(ColorizeMap, AValueHasOneColourWhateverElseIsInTheMap) {
  // The scale is the caller's, not the map's own min..max: 0.3 looks the
  // same in a calm map and in one with a strong defect.
  cv::Mat calm(4, 4, CV_32F, cv::Scalar(0.3f));
  cv::Mat defect = calm.clone();
  defect.at<float>(2, 2) = 5.0f;
  const cv::Mat a = piade::colorize_map(calm, 0.0, 2.0);
  const cv::Mat b = piade::colorize_map(defect, 0.0, 2.0);
  EXPECT_EQ(a.at<cv::Vec3b>(0, 0), b.at<cv::Vec3b>(0, 0));
  EXPECT_EQ(a.at<cv::Vec3b>(0, 0), jet(38));  // 0.3 / 2 * 255 = 38.25
  EXPECT_NE(b.at<cv::Vec3b>(2, 2), b.at<cv::Vec3b>(0, 0));
  // A double map is accepted and gives the same colours.
  cv::Mat as_double;
  defect.convertTo(as_double, CV_64F);
  EXPECT_EQ(cv::norm(piade::colorize_map(as_double, 0.0, 2.0), b, cv::NORM_INF), 0.0);
}

TEST(ColorizeMap, RefusesEmptyRangesAndNonFloatMaps) {
  cv::Mat map(2, 2, CV_32F, cv::Scalar(0));
  EXPECT_NE(message_of([&] { piade::colorize_map(map, 1.0, 1.0); }).find("colour range [1, 1] is empty"),
            std::string::npos);
  EXPECT_NE(message_of([&] { piade::colorize_map(map, 2.0, 1.0); }).find("give hi > lo"), std::string::npos);
  EXPECT_NE(message_of([&] { piade::colorize_map(cv::Mat(2, 2, CV_8U), 0, 1); }).find("expected one float channel"),
            std::string::npos);
  EXPECT_NE(message_of([&] { piade::colorize_map(cv::Mat(), 0, 1); }).find("an empty map"), std::string::npos);
}

TEST(Overlay, BlendsTheColouredMapOverGrayOrColourPictures) {
  cv::Mat gray(6, 8, CV_8U, cv::Scalar(100));
  cv::Mat colored(3, 4, CV_8UC3, cv::Scalar(0, 0, 200));  // smaller: resized to the picture
  const cv::Mat half = piade::overlay(gray, colored, 0.5);
  ASSERT_EQ(half.type(), CV_8UC3);
  ASSERT_EQ(half.size(), gray.size());
  EXPECT_EQ(half.at<cv::Vec3b>(3, 3), cv::Vec3b(50, 50, 150));
  EXPECT_EQ(piade::overlay(gray, colored, 0.0).at<cv::Vec3b>(0, 0), cv::Vec3b(100, 100, 100));
  EXPECT_EQ(piade::overlay(gray, colored, 1.0).at<cv::Vec3b>(5, 7), cv::Vec3b(0, 0, 200));
  cv::Mat bgra(6, 8, CV_8UC4, cv::Scalar(10, 20, 30, 255));
  EXPECT_EQ(piade::overlay(bgra, colored, 0.0).at<cv::Vec3b>(1, 1), cv::Vec3b(10, 20, 30));
  EXPECT_NE(message_of([&] { piade::overlay(gray, colored, 1.5); }).find("alpha must be in [0, 1]"), std::string::npos);
  EXPECT_NE(message_of([&] { piade::overlay(cv::Mat(6, 8, CV_16U), colored); }).find("expected an 8-bit image"),
            std::string::npos);
}

// A 1x8x8 input (all 200), reconstruction (all 50), a map rising left to
// right, and a mask over the right half.
piade::PictureParts parts_8x8() {
  piade::PictureParts parts;
  parts.image = torch::full({1, 8, 8}, 200, torch::kUInt8);
  parts.reconstruction = torch::full({1, 8, 8}, 50, torch::kUInt8);
  parts.map = cv::Mat(8, 8, CV_32F);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) parts.map.at<float>(y, x) = float(x) / 7.0f;
  parts.map_max = 1.0;
  return parts;
}

// The largest run of columns of `picture`'s row `y` that equal `colour`.
int run_of(const cv::Mat& picture, int y, const cv::Vec3b& colour) {
  int best = 0, run = 0;
  for (int x = 0; x < picture.cols; ++x) {
    run = picture.at<cv::Vec3b>(y, x) == colour ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

TEST(ImagePicture, PanelsAreEnlargedCaptionedAndGetATextBand) {
  piade::PictureParts parts = parts_8x8();
  // Three panels of 8 x 16 = 128 pixels (whole factor 16), the map's with
  // its colour bar; no band without text.
  const cv::Mat bare = piade::image_picture(parts);
  ASSERT_EQ(bare.type(), CV_8UC3);
  EXPECT_GT(bare.cols, 3 * 128 + 2 * 2 + 12);  // + the colour bar and its labels
  EXPECT_GT(bare.rows, 128);                   // + the captions
  EXPECT_LT(bare.rows, 128 + 40);
  // The input panel: 200 gray over its whole 128-pixel width, at the bottom.
  EXPECT_EQ(run_of(bare, bare.rows - 1, cv::Vec3b(200, 200, 200)), 128);
  EXPECT_EQ(run_of(bare, bare.rows - 1, cv::Vec3b(50, 50, 50)), 128);

  // With a mask and a pixel threshold: two more panels; with text: a band
  // under them, one line each.
  parts.mask = cv::Mat::zeros(8, 8, CV_8U);
  parts.mask(cv::Rect(4, 0, 4, 8)).setTo(255);
  parts.pixel_threshold = 0.5;  // x >= 4 (4/7 > 0.5)
  parts.text = {"score 1.5", "label anomalous, decision anomalous", "threshold 1 (stored, score > threshold)"};
  const cv::Mat full = piade::image_picture(parts);
  EXPECT_GT(full.cols, 5 * 128);
  EXPECT_GT(full.rows, bare.rows + 3 * 12);  // three lines of text
  // The panels' last row: the input panel (200) ends where the band starts.
  int bottom_of_panels = full.rows - 1;
  while (bottom_of_panels > 0 && full.at<cv::Vec3b>(bottom_of_panels, 0) != cv::Vec3b(200, 200, 200)) --bottom_of_panels;
  // Ground truth and prediction agree here: half of each panel marked.
  // Green over the darkened input (0.3 * 67 + 0.7 * colour).
  const int middle = bottom_of_panels - 64;
  EXPECT_EQ(run_of(full, middle, cv::Vec3b(20, 160, 20)), 64);
  EXPECT_EQ(run_of(full, middle, cv::Vec3b(20, 20, 199)), 62);  // red, less the green outline
  // The text band is dark gray with white writing.
  const cv::Mat band = full(cv::Rect(0, bottom_of_panels + 1, full.cols, full.rows - bottom_of_panels - 1));
  EXPECT_GT(band.rows, 3 * 12);
  double brightest = 0;
  cv::minMaxLoc(band.reshape(1), nullptr, &brightest);
  EXPECT_GT(brightest, 200);
  EXPECT_EQ(band.at<cv::Vec3b>(band.rows - 1, band.cols - 1), cv::Vec3b(32, 32, 32));

  // A 28-pixel image is enlarged 5 times (140 >= 128); a 200-pixel one not.
  parts = parts_8x8();
  parts.image = torch::full({1, 28, 28}, 9, torch::kUInt8);
  parts.reconstruction = parts.image.clone();
  EXPECT_EQ(run_of(piade::image_picture(parts), 150, cv::Vec3b(9, 9, 9)), 140);
  parts.image = torch::full({3, 200, 200}, 9, torch::kUInt8);
  parts.reconstruction = parts.image.clone();
  const cv::Mat large = piade::image_picture(parts);
  EXPECT_EQ(run_of(large, large.rows - 1, cv::Vec3b(9, 9, 9)), 200);
}

TEST(ImagePicture, RefusesPartsThatDoNotFit) {
  piade::PictureParts parts = parts_8x8();
  parts.reconstruction = torch::zeros({3, 8, 8}, torch::kUInt8);
  EXPECT_NE(message_of([&] { piade::image_picture(parts); }).find("differ in shape"), std::string::npos);
  parts = parts_8x8();
  parts.mask = cv::Mat::zeros(4, 4, CV_8U);
  EXPECT_NE(message_of([&] { piade::image_picture(parts); }).find("the mask is 4x4 CV_8UC1 but the image 8x8"),
            std::string::npos);
  parts = parts_8x8();
  parts.map_max = 0;
  EXPECT_NE(message_of([&] { piade::image_picture(parts); }).find("must be a positive number, got 0"),
            std::string::npos);
  parts = parts_8x8();
  parts.map = cv::Mat(8, 8, CV_8U);
  EXPECT_NE(message_of([&] { piade::image_picture(parts); }).find("one float channel"), std::string::npos);
}

TEST(MapAtOriginalSize, ResizesOrPlacesTheCropBack) {
  cv::Mat map(4, 4, CV_32F, cv::Scalar(1.0f));
  // Straight resize: every pixel of a 30x50 picture.
  cv::Mat plain = piade::map_at_original_size(map, 30, 50);
  ASSERT_EQ(plain.size(), cv::Size(50, 30));
  EXPECT_EQ(cv::countNonZero(plain != 1.0f), 0);
  // Resized to 8 then the center 4 cropped (offset 2): the map covers the
  // middle half of each direction of a 40x80 picture, 0 elsewhere.
  const cv::Mat cropped = piade::map_at_original_size(map, 40, 80, 8);
  ASSERT_EQ(cropped.size(), cv::Size(80, 40));
  EXPECT_EQ(cv::countNonZero(cropped), 20 * 40);
  EXPECT_EQ(cropped.at<float>(10, 20), 1.0f);
  EXPECT_EQ(cropped.at<float>(29, 59), 1.0f);
  EXPECT_EQ(cropped.at<float>(9, 20), 0.0f);
  EXPECT_EQ(cropped.at<float>(10, 60), 0.0f);
  EXPECT_NE(message_of([&] { piade::map_at_original_size(cv::Mat(), 4, 4); }).find("cannot bring"),
            std::string::npos);
}

TEST(WritePngAtomic, WritesAPngThatReadsBackAndNamesTheFileOnFailure) {
  ScratchDir dir;
  cv::Mat picture(5, 7, CV_8UC3);
  cv::randu(picture, 0, 255);
  const fs::path file = dir.path() / "picture.png";
  piade::write_png_atomic(file, picture);
  const cv::Mat back = cv::imread(file.string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(cv::norm(back, picture, cv::NORM_INF), 0.0);
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename(), "picture.png") << "left behind: " << entry.path();
  const fs::path missing = dir.path() / "no" / "such" / "dir.png";
  EXPECT_NE(message_of([&] { piade::write_png_atomic(missing, picture); }).find(missing.string() + ": cannot write"),
            std::string::npos);
  EXPECT_NE(message_of([&] { piade::write_png_atomic(file, cv::Mat()); }).find("cannot encode as PNG"),
            std::string::npos);
}

// Python's XML parser on the SVG: the element count and the texts.
std::string parse_with_python(const fs::path& svg) {
  const std::string script =
      "import sys, xml.etree.ElementTree as E\n"
      "root = E.parse(sys.argv[1]).getroot()\n"
      "ns = '{http://www.w3.org/2000/svg}'\n"
      "assert root.tag == ns + 'svg', root.tag\n"
      "print(len(root.findall(ns + 'polyline')[0].get('points').split()))\n"
      "print('|'.join(t.text for t in root.iter(ns + 'text')))\n";
  const fs::path program = svg.parent_path() / "parse_svg.py";
  std::ofstream(program) << script;
  const piade::test::CommandResult run = piade::test::run_reference_python(program, {svg.string()});
  return (run.status == 0 ? "" : "FAILED: ") + run.output;
}

TEST(RocSvg, IsWellFormedXmlWithTheCurveTheAurocAndAnEscapedTitle) {
  const std::vector<double> fpr = {0.0, 0.0, 0.5, 0.5, 1.0};
  const std::vector<double> tpr = {0.0, 0.5, 0.5, 1.0, 1.0};
  const std::string svg = piade::roc_svg(fpr, tpr, 0.75, "fmnist <class 0> & friends");
  ScratchDir dir;
  const fs::path file = dir.path() / "roc.svg";
  std::ofstream(file) << svg;
  const std::string parsed = parse_with_python(file);
  ASSERT_EQ(parsed.rfind("FAILED", 0), std::string::npos) << parsed << "\n" << svg;
  std::istringstream lines(parsed);
  std::string count, texts;
  std::getline(lines, count);
  std::getline(lines, texts);
  EXPECT_EQ(count, "5");  // one SVG point per curve point
  EXPECT_NE(texts.find("fmnist <class 0> & friends"), std::string::npos) << texts;
  EXPECT_NE(texts.find("ROC (AUROC = 0.7500)"), std::string::npos) << texts;
  EXPECT_NE(texts.find("false positive rate"), std::string::npos) << texts;
  EXPECT_NE(texts.find("true positive rate"), std::string::npos) << texts;
  EXPECT_NE(texts.find("|0.2|"), std::string::npos) << texts;  // a tick label
  // The curve starts at the lower left and ends at the upper right corner
  // of the 380-pixel plot at (70, 50).
  EXPECT_NE(svg.find("points=\"70.00,430.00 70.00,240.00 "), std::string::npos) << svg;
  EXPECT_NE(svg.find(" 450.00,50.00\""), std::string::npos) << svg;
}

TEST(RocSvg, RefusesCurvesThatAreNotRates) {
  EXPECT_NE(message_of([] { piade::roc_svg({0, 1}, {0}, 0.5, "t"); }).find("2 false positive rates but 1 true"),
            std::string::npos);
  EXPECT_NE(message_of([] { piade::roc_svg({}, {}, 0.5, "t"); }).find("no points"), std::string::npos);
  EXPECT_NE(message_of([] { piade::roc_svg({0, 1.5}, {0, 1}, 0.5, "t"); }).find("point 1 (1.5, 1) is outside [0, 1]"),
            std::string::npos);
}

TEST(LinePlotSvg, LabelsTheAxesTheAreaAndTheReferenceAndScalesX) {
  piade::PlotFrame frame;
  frame.title = "PRO <up to 0.3>";
  frame.x_label = "false positive rate";
  frame.y_label = "per-region overlap";
  frame.x_max = 0.3;
  frame.area_name = "PRO";
  const std::string svg = piade::line_plot_svg({{"PRO", {0.0, 0.15, 0.3}, {0.0, 0.5, 1.0}, 0.625}}, frame);
  ScratchDir dir;
  const fs::path file = dir.path() / "pro.svg";
  std::ofstream(file) << svg;
  const std::string parsed = parse_with_python(file);
  ASSERT_EQ(parsed.rfind("FAILED", 0), std::string::npos) << parsed << "\n" << svg;
  EXPECT_NE(parsed.find("PRO <up to 0.3>"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("|per-region overlap|"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("|PRO (PRO = 0.6250)"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("|0.06|"), std::string::npos) << parsed;  // ticks every 0.3 / 5
  EXPECT_NE(parsed.find("|0.30|"), std::string::npos) << parsed;
  EXPECT_EQ(svg.find("chance"), std::string::npos);  // no reference line given
  // x = 0.3 is the right edge of the plot, as 1 is on an ROC chart.
  EXPECT_NE(svg.find("points=\"70.00,430.00 260.00,240.00 450.00,50.00\""), std::string::npos) << svg;

  frame.reference = piade::ReferenceLine{0, 0.25, 0.3, 0.25, "chance (AP = 0.25)"};
  EXPECT_NE(piade::line_plot_svg({}, frame).find(">chance (AP = 0.25)<"), std::string::npos);
  EXPECT_NE(message_of([&] { piade::line_plot_svg({{"c", {0.5}, {0.5}, 0}}, frame); })
                .find("point 0 (0.5, 0.5) is outside [0, 0.3] x [0, 1]"),
            std::string::npos);
  frame.x_max = 0;
  EXPECT_NE(message_of([&] { piade::line_plot_svg({}, frame); }).find("must end in (0, 1]"), std::string::npos);
}

TEST(CheckpointMapMax, ReadsTheRecordedScaleOnly) {
  EXPECT_FALSE(piade::checkpoint_map_max(nlohmann::json::object()).has_value());
  EXPECT_FALSE(piade::checkpoint_map_max({{"map_stats", {{"max_p99", 0.0}}}}).has_value());
  EXPECT_DOUBLE_EQ(*piade::checkpoint_map_max({{"map_stats", {{"max_p99", 0.25}}}}), 0.25);
}

// A picture in memory and the same picture in a file become the same
// network input: gray models get cvtColor's gray of colour pictures, colour
// models gray pictures repeated, both resized alike.
TEST(ImageToTensor, EqualsReadingTheSameFile) {
  ScratchDir dir;
  cv::Mat color(37, 50, CV_8UC3);
  cv::randu(color, 0, 255);
  cv::GaussianBlur(color, color, cv::Size(5, 5), 0);  // something like a photo
  cv::Mat gray(20, 20, CV_8U);
  cv::randu(gray, 0, 255);
  const fs::path color_file = dir.path() / "color.png", gray_file = dir.path() / "gray.png";
  ASSERT_TRUE(cv::imwrite(color_file.string(), color));
  ASSERT_TRUE(cv::imwrite(gray_file.string(), gray));
  for (int64_t channels : {1, 3})
    for (int64_t size : {16, 28, 64}) {
      piade::DecodeOptions options;
      options.channels = channels;
      options.image_size = size;
      const piade::ImageSet files = piade::read_images({color_file.string(), gray_file.string()}, options);
      EXPECT_TRUE(torch::equal(files.images[0], piade::image_to_tensor(color, options)))
          << channels << " channels, size " << size;
      EXPECT_TRUE(torch::equal(files.images[1], piade::image_to_tensor(gray, options)))
          << channels << " channels, size " << size;
      // What cv::imread gives by default (BGR even for a gray file) too.
      EXPECT_TRUE(torch::equal(files.images[1],
                               piade::image_to_tensor(cv::imread(gray_file.string()), options)));
    }
  // With a resize and a center crop.
  piade::DecodeOptions crop;
  crop.channels = 3;
  crop.image_size = 24;
  crop.resize = 30;
  EXPECT_TRUE(torch::equal(piade::read_images({color_file.string()}, crop).images[0],
                           piade::image_to_tensor(color, crop)));
}

TEST(ImageToTensor, ConvertsBackToTheSamePictureAndRefusesOthers) {
  cv::Mat color(16, 16, CV_8UC3);
  cv::randu(color, 0, 255);
  piade::DecodeOptions options;
  options.channels = 3;
  options.image_size = 16;
  const torch::Tensor rgb = piade::image_to_tensor(color, options);
  ASSERT_EQ(rgb.sizes(), torch::IntArrayRef({3, 16, 16}));
  EXPECT_EQ(rgb[0][2][5].item<int>(), color.at<cv::Vec3b>(2, 5)[2]);  // R first
  EXPECT_EQ(cv::norm(piade::tensor_to_image(rgb), color, cv::NORM_INF), 0.0);

  EXPECT_NE(message_of([&] { piade::image_to_tensor(cv::Mat(), options); }).find("the picture is empty"),
            std::string::npos);
  EXPECT_NE(message_of([&] { piade::image_to_tensor(cv::Mat(4, 4, CV_16UC1), options); })
                .find("expected 8-bit pixels (CV_8U), got CV_16UC1"),
            std::string::npos);
  EXPECT_NE(message_of([&] { piade::image_to_tensor(cv::Mat(4, 4, CV_8UC2), options); })
                .find("expected 1 (gray), 3 (BGR) or 4 (BGRA) channels, got 2"),
            std::string::npos);
}

}  // namespace
