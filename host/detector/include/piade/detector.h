// piade::Detector: a trained piade model inside your own program (an
// inspection station, a service), without the command line. Load a
// checkpoint written by `piade train` or a model file written by `piade
// export --format model`, hand it pictures as cv::imread gives them, get a
// score (raw and normalised to [0, 1]), a decision and a per-pixel anomaly
// map:
//
//   #include <piade/detector.h>
//
//   piade::Detector detector("fmnist0.piade");           // model file, run directory or checkpoint.pt
//   piade::Detection d = detector.detect(cv::imread("part.png"));
//   if (d.anomalous) cv::imwrite("part_overlay.png", detector.overlay(cv::imread("part.png"), d));
//
// CMake: find_package(PiadeSDK 0.3 REQUIRED COMPONENTS detector) and link
// piade::detector (examples/detector is a complete program).
//
// A picture is scored exactly as `piade score` scores the same file: the
// same conversion to the network's channels and size (the checkpoint's
// preprocessing), the same model, the same threshold (the one `piade eval
// --calibrate` chose, or training's 99th percentile). This header needs only
// the standard library, OpenCV's core and LibTorch's c10 (for c10::Device,
// which is torch::Device); everything else stays inside the library.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <c10/core/Device.h>
#include <opencv2/core/mat.hpp>

#if defined(_WIN32)
#define PIADE_DETECTOR_API
#else
#define PIADE_DETECTOR_API __attribute__((visibility("default")))
#endif

namespace piade {

/// Every error the Detector reports: a missing or unreadable checkpoint, a
/// model file whose checksum does not match (a damaged file), a plugin the
/// checkpoint needs that is missing or of another version, an unusable
/// device, or a picture that is empty or of another type. what() is one
/// line naming the file, option or picture at fault.
class PIADE_DETECTOR_API DetectorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DetectorOptions {
  /// Where the network runs: c10::kCPU (torch::kCPU), or a CUDA device
  /// (c10::Device("cuda:0")) with a CUDA build of LibTorch and piade.
  c10::Device device = c10::kCPU;
  /// Plugin directories searched first, before PIADE_PLUGIN_PATH
  /// (colon-separated) and the built-in plugins installed with this library
  /// (<prefix>/lib/piade/plugins, or <build>/plugins in a build tree), as
  /// `piade --plugin-dir` does. Each must be a directory. A checkpoint
  /// whose plugin is not found says which file it needs (the checkpoint
  /// records it) and why a file found was refused.
  std::vector<std::string> plugin_dirs;
  /// Pictures per forward pass in detect(std::vector): memory grows with it.
  int64_t batch_size = 32;
  /// LibTorch's CPU threads. 0 (the default) leaves the setting as the
  /// program has it (at::get_num_threads()): a library does not change
  /// what the rest of the program runs with. N > 0 sets N when the Detector
  /// is built, and that for the whole process, as at::set_num_threads()
  /// does. (Negative values, once "leave it", mean the same as 0.)
  int threads = 0;
  /// Also return the network's reconstruction of each picture
  /// (Detection::reconstruction).
  bool reconstructions = false;
  /// The decision threshold for this Detector instead of the checkpoint's
  /// (as `piade score --threshold`); set_threshold() changes it later.
  std::optional<double> threshold;
};

/// What the model makes of one picture.
struct Detection {
  /// The anomaly score: the weighted sum of the loss terms (paper eq. 5),
  /// higher meaning less normal; `piade score`'s `score` column.
  double score = 0;
  /// `score` normalised to [0, 1] as anomalib does, the threshold mapping to
  /// 0.5: clip((score - threshold()) / (max - min) + 0.5, 0, 1), min and max
  /// being the training images' scores the checkpoint records (for older
  /// checkpoints without them, 0 and twice the threshold, said once on
  /// stderr when the Detector is built). Monotone in the
  /// score; above 0.5 exactly when anomalous, but for scores clipped to 0
  /// or 1. NaN while the threshold is NaN. `piade score`'s
  /// `score_normalized` column.
  double score_normalized = 0;
  /// score > Detector::threshold(); false while the threshold is NaN.
  bool anomalous = false;
  /// Each loss term's unweighted value, by name, in the checkpoint's order
  /// (`piade score`'s columns after `score`).
  std::vector<std::pair<std::string, double>> terms;
  /// The routed instantiation vector that was decoded (`vector` column).
  int64_t vector = 0;
  /// Per-pixel anomaly map, CV_32F, at the picture's own rows x cols: the
  /// weighted sum of the terms' maps at the network size, resized
  /// bilinearly. Its mean at the network size is the score when every term
  /// has a map whose mean is the term (mse, ssim). Empty when no term has a
  /// map.
  cv::Mat anomaly_map;
  /// The reconstruction at the network size, CV_8UC1 (gray) or CV_8UC3
  /// (BGR), when DetectorOptions::reconstructions; empty otherwise.
  cv::Mat reconstruction;
};

/// A trained model, its plugins and its decision threshold. detect(),
/// threshold() and set_threshold() may be called from several threads (the
/// detect() calls take turns). Movable, not copyable; a moved-from Detector
/// may only be destroyed or assigned to (detect() then throws).
class PIADE_DETECTOR_API Detector {
 public:
  /// Loads a model file (`piade export --format model`, checksum verified)
  /// or a checkpoint: the directory `piade train --out` wrote, or its
  /// checkpoint.pt. Rebuilds the pipeline from the plugins it names (refusing
  /// missing ones or other versions) and loads the weights onto
  /// options.device. Throws DetectorError.
  explicit Detector(const std::string& checkpoint, DetectorOptions options = {});
  ~Detector();
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  /// Scores one picture: 8-bit (CV_8U) gray, BGR or BGRA, as cv::imread
  /// gives it, of any size (converted to the network's channels and resized
  /// as training did). Throws DetectorError for an empty picture or another
  /// depth or channel count ("piade::Detector: detect: the picture is
  /// empty ...").
  Detection detect(const cv::Mat& image);
  /// Scores pictures in batches of options.batch_size; the result is the
  /// same as detect() on each. Throws DetectorError naming the first bad
  /// picture by its index.
  std::vector<Detection> detect(const std::vector<cv::Mat>& images);

  /// The decision threshold: DetectorOptions::threshold if given, else the
  /// checkpoint's (the one `piade eval --calibrate` wrote, or the 99th
  /// percentile of the training images' scores), until set_threshold(); NaN
  /// when the training run never finished. Detection::score_normalized maps
  /// it to 0.5.
  double threshold() const;
  void set_threshold(double threshold);
  /// How the checkpoint's threshold was chosen: "training-p99", "f1",
  /// "balanced", "percentile:P", "" for none; "option" when
  /// DetectorOptions::threshold replaced it, "set_threshold" after that call.
  std::string threshold_method() const;

  /// The network's input: channels (1 gray, 3 RGB), height and width.
  int64_t image_channels() const;
  int64_t image_height() const;
  int64_t image_width() const;
  /// The loss terms' names, in the order of Detection::terms.
  const std::vector<std::string>& loss_names() const;
  /// The checkpoint or model file that was loaded.
  const std::string& checkpoint_file() const;

  /// The top of the anomaly-map colour scale (its bottom is 0): the
  /// checkpoint's map statistics (99th percentile of the training images'
  /// largest map values), the same scale `piade score --maps` uses; NaN for
  /// a checkpoint without them.
  double map_max() const;
  /// An anomaly map (Detection::anomaly_map, CV_32F) as a picture for a
  /// person: BGR CV_8UC3 at the map's size in JET colours, 0 (and below)
  /// dark blue to map_max() (and above) dark red, so that maps of different
  /// pictures compare; on the map's own maximum when map_max() is NaN. The
  /// colours of `piade score --maps`. Throws DetectorError for an empty map
  /// or one that is not one float channel.
  cv::Mat colorize(const cv::Mat& anomaly_map) const;
  /// A picture for a person: colorize(detection.anomaly_map) blended over
  /// `image` (the picture given to detect()), BGR at its size.
  cv::Mat overlay(const cv::Mat& image, const Detection& detection, double alpha = 0.5) const;

 private:
  /// detect()'s work; `one_picture`: errors do not name the picture's index.
  std::vector<Detection> detect_pictures(const std::vector<cv::Mat>& images, bool one_picture);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace piade
