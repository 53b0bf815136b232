// piade_detect: a trained piade model in a program of one's own. Loads a
// checkpoint, scores each picture given on the command line, prints one CSV
// line per picture (path, score, threshold, decision, overlay file) and
// writes DIR/<stem>_overlay.png: the anomaly map in colour over the picture.
//
//   piade_detect CHECKPOINT IMAGE... [--out DIR] [--plugin-dir DIR] [--threshold T]
//
// Exit status: 0 when every picture was scored, 1 on an error, 2 on bad usage.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <piade/detector.h>

namespace {

namespace fs = std::filesystem;

int usage() {
  std::cerr << "usage: piade_detect CHECKPOINT IMAGE... [--out DIR] [--plugin-dir DIR] [--threshold T]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> images;
  fs::path out = ".";
  piade::DetectorOptions options;
  double threshold = std::nan("");
  std::string checkpoint;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--out" && has_value) out = argv[++i];
    else if (arg == "--plugin-dir" && has_value) options.plugin_dirs.push_back(argv[++i]);
    else if (arg == "--threshold" && has_value) threshold = std::strtod(argv[++i], nullptr);
    else if (arg.rfind("--", 0) == 0) return usage();
    else if (checkpoint.empty()) checkpoint = arg;
    else images.push_back(arg);
  }
  if (checkpoint.empty() || images.empty()) return usage();

  try {
    piade::Detector detector(checkpoint, options);
    if (!std::isnan(threshold)) detector.set_threshold(threshold);
    std::cerr << "model: " << detector.image_channels() << "x" << detector.image_height() << "x"
              << detector.image_width() << ", threshold " << detector.threshold() << "\n";
    fs::create_directories(out);
    std::cout.precision(8);
    std::cout << "path,score,threshold,anomalous,overlay\n";
    for (const std::string& path : images) {
      // As cv::imread gives it (BGR or gray, any size): the Detector converts
      // it the way `piade score` converts the file.
      const cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
      if (image.empty()) {
        std::cerr << "piade_detect: " << path << ": cannot read as an image\n";
        return 1;
      }
      const piade::Detection detection = detector.detect(image);
      const fs::path overlay = out / (fs::path(path).stem().string() + "_overlay.png");
      if (!cv::imwrite(overlay.string(), detector.overlay(image, detection))) {
        std::cerr << "piade_detect: " << overlay.string() << ": cannot write\n";
        return 1;
      }
      std::cout << path << "," << detection.score << "," << detector.threshold() << ","
                << (detection.anomalous ? "anomalous" : "normal") << "," << overlay.string() << "\n";
    }
  } catch (const piade::DetectorError& e) {
    std::cerr << "piade_detect: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
