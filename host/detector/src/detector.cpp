// piade::Detector (include/piade/detector.h): the library side of the
// embedding API. It reuses the host's pieces as `piade score` does
// (restore_model, image_to_tensor, score_all) so that both give the same
// numbers, and turns every error into DetectorError.
#include "piade/detector.h"

#include <atomic>
#include <cmath>
#include <mutex>
#include <optional>

#include <boost/dll/runtime_symbol_info.hpp>
#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <torch/cuda.h>
#include <torch/utils.h>

#include "piade/datasets/error.h"
#include "piade/datasets/image_files.h"
#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/eval/pictures.h"
#include "piade/core/scoring.h"
#include "piade/core/trainer.h"
#include "piade/sdk/log.h"

namespace piade {
namespace {

constexpr const char* kContext = "piade::Detector";

// Runs `body`, reporting any error as a DetectorError, on one line (a
// c10::Error without its C++ backtrace).
template <class Body>
auto guarded(Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const DetectorError&) {
    throw;
  } catch (const std::exception& e) {
    throw DetectorError(fmt::format("{}: {}", kContext, one_line_message(e)));
  }
}

// The checkpoint or model file `path` names, with messages for a library
// user (the command line's speak of --checkpoint).
fs::path find_checkpoint(const fs::path& path) {
  std::error_code ec;
  if (path.empty()) throw DetectorError(fmt::format("{}: no checkpoint given", kContext));
  if (!fs::exists(path, ec))
    throw DetectorError(fmt::format("{}: checkpoint '{}' does not exist; give a model file (`piade export "
                                    "--format model`), the directory `piade train --out` wrote, or its "
                                    "checkpoint.pt",
                                    kContext, path.string()));
  if (fs::is_directory(path, ec) && !fs::exists(path / "checkpoint.pt", ec))
    throw DetectorError(fmt::format("{}: checkpoint directory '{}' holds no checkpoint.pt; give the "
                                    "directory `piade train --out` wrote, or the file",
                                    kContext, path.string()));
  return checkpoint_file(path);
}

torch::Device checked_device(const torch::Device& device) {
  if (device.is_cpu()) return device;
  if (!device.is_cuda())
    throw DetectorError(fmt::format("{}: device '{}' is not supported; use cpu or cuda", kContext, device.str()));
  if (!torch::cuda::is_available())
    throw DetectorError(fmt::format("{}: device '{}' asked for, but this LibTorch has no usable CUDA device; "
                                    "use the CPU or a CUDA build of piade",
                                    kContext, device.str()));
  if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
    throw DetectorError(fmt::format("{}: device '{}' does not exist; this machine has {} CUDA device(s)",
                                    kContext, device.str(), torch::cuda::device_count()));
  return device;
}

}  // namespace

struct Detector::Impl {
  std::string file;
  PluginRegistry registry;  // the parts it built keep their own libraries loaded
  PiadeModel model{nullptr};
  torch::Device device{torch::kCPU};
  Preprocess preprocess;
  DecodeOptions decode;
  int64_t batch_size = 32;
  bool reconstructions = false;
  std::atomic<double> threshold{std::nan("")};  // set_threshold() may race detect()
  std::string threshold_method;                 // guarded by `method_mutex`
  mutable std::mutex method_mutex;
  nlohmann::json score_stats;                   // the normalisation's min and max
  std::optional<double> map_max;
  std::mutex mutex;  // one forward pass at a time
};

Detector::Detector(const std::string& checkpoint, DetectorOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  if (options.batch_size < 1)
    throw DetectorError(fmt::format("{}: batch_size must be at least 1, got {}", kContext, options.batch_size));
  std::vector<fs::path> dirs;
  for (const std::string& dir : options.plugin_dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw DetectorError(fmt::format("{}: plugin_dirs: '{}' is not a directory", kContext, dir));
    dirs.emplace_back(dir);
  }
  impl.device = checked_device(options.device);
  const fs::path file = find_checkpoint(checkpoint);
  guarded([&] {
    // Process-wide: only when asked (DetectorOptions::threads).
    if (options.threads > 0) torch::set_num_threads(options.threads);
    // A missing plugin's message says how to add one in this API's terms.
    impl.registry.set_plugin_dir_hint("add its directory to DetectorOptions::plugin_dirs or set PIADE_PLUGIN_PATH");
    // The built-in plugins are found next to this library, not next to the
    // program that loaded it.
    impl.registry.scan(plugin_search_path(dirs, fs::path(boost::dll::this_line_location().string())));
    const nlohmann::json meta = read_checkpoint_meta(file);
    impl.model = restore_model(impl.registry, file, meta, impl.device);
    impl.model->eval();
    impl.preprocess = checkpoint_preprocess(meta);
    impl.decode.channels = impl.preprocess.channels;
    impl.decode.image_size = impl.preprocess.image_size;
    impl.decode.resize = impl.preprocess.resize;
    const StoredThreshold stored = stored_threshold(meta);
    impl.threshold = options.threshold.value_or(stored.value);
    impl.threshold_method = options.threshold ? "option" : stored.method;
    impl.score_stats = meta.value("score_stats", nlohmann::json());
    const std::string note = score_normalization(impl.score_stats, impl.threshold).note;
    if (!note.empty()) warn_once(fmt::format("{}: {}", file.string(), note));
    impl.map_max = checkpoint_map_max(meta);
  });
  impl.file = file.string();
  impl.batch_size = options.batch_size;
  impl.reconstructions = options.reconstructions;
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;

Detection Detector::detect(const cv::Mat& image) {
  return std::move(detect_pictures(std::vector<cv::Mat>{image}, /*one_picture=*/true).front());
}

std::vector<Detection> Detector::detect(const std::vector<cv::Mat>& images) {
  return detect_pictures(images, /*one_picture=*/false);
}

std::vector<Detection> Detector::detect_pictures(const std::vector<cv::Mat>& images, bool one_picture) {
  if (!impl_) throw DetectorError(fmt::format("{}: used after being moved from", kContext));
  Impl& impl = *impl_;
  if (images.empty()) return {};
  const std::lock_guard<std::mutex> lock(impl.mutex);
  return guarded([&] {
    std::vector<torch::Tensor> inputs;
    inputs.reserve(images.size());
    for (std::size_t i = 0; i < images.size(); ++i) {
      try {
        inputs.push_back(image_to_tensor(images[i], impl.decode));
      } catch (const DatasetError& e) {
        // "image 0" would puzzle the caller of detect(image), who gave no index.
        if (one_picture) throw DetectorError(fmt::format("{}: detect: {}", kContext, e.what()));
        throw DetectorError(fmt::format("{}: image {}: {}", kContext, i, e.what()));
      }
    }
    std::vector<Detection> detections(images.size());
    const std::vector<std::string>& names = impl.model->loss_names();
    const ScoreTable scores = score_all(
        impl.model, torch::stack(inputs), impl.preprocess, impl.batch_size, impl.device,
        [&](int64_t first, const BatchScores& batch) {
          torch::Tensor reconstructions;
          if (impl.reconstructions) reconstructions = to_uint8(batch.reconstruction.reconstructions).cpu();
          for (int64_t j = 0; j < batch.total.size(0); ++j) {
            const std::size_t i = static_cast<std::size_t>(first + j);
            Detection& detection = detections[i];
            if (batch.map.defined())
              cv::resize(map_to_mat(batch.map[j]), detection.anomaly_map, images[i].size(), 0, 0, cv::INTER_LINEAR);
            if (reconstructions.defined()) detection.reconstruction = tensor_to_image(reconstructions[j]);
          }
        });
    const double threshold = impl.threshold;  // one threshold for the whole call
    const ScoreNormalization normalization = score_normalization(impl.score_stats, threshold);
    for (std::size_t i = 0; i < images.size(); ++i) {
      Detection& detection = detections[i];
      const auto n = static_cast<int64_t>(i);
      detection.score = scores.total[n].item<double>();
      detection.score_normalized = normalize_score(detection.score, normalization);
      detection.anomalous = !std::isnan(threshold) && detection.score > threshold;
      for (std::size_t t = 0; t < names.size(); ++t)
        detection.terms.emplace_back(names[t], scores.terms[t][n].item<double>());
      detection.vector = scores.vector_index[n].item<int64_t>();
    }
    return detections;
  });
}

double Detector::threshold() const { return impl_->threshold; }
void Detector::set_threshold(double threshold) {
  const std::lock_guard<std::mutex> lock(impl_->method_mutex);
  impl_->threshold = threshold;
  impl_->threshold_method = "set_threshold";
}
std::string Detector::threshold_method() const {
  const std::lock_guard<std::mutex> lock(impl_->method_mutex);
  return impl_->threshold_method;
}
int64_t Detector::image_channels() const { return impl_->model->image_shape().channels; }
int64_t Detector::image_height() const { return impl_->model->image_shape().height; }
int64_t Detector::image_width() const { return impl_->model->image_shape().width; }
const std::vector<std::string>& Detector::loss_names() const { return impl_->model->loss_names(); }
const std::string& Detector::checkpoint_file() const { return impl_->file; }
double Detector::map_max() const { return impl_->map_max.value_or(std::nan("")); }

cv::Mat Detector::colorize(const cv::Mat& anomaly_map) const {
  return guarded([&] {
    if (anomaly_map.empty())
      throw DetectorError(fmt::format("{}: colorize: the anomaly map is empty (no loss term of this checkpoint "
                                      "gives one)",
                                      kContext));
    double hi = map_max();
    if (std::isnan(hi)) {
      cv::minMaxLoc(anomaly_map, nullptr, &hi);
      if (!(hi > 0)) hi = 1.0;
    }
    return colorize_map(anomaly_map, 0.0, hi);
  });
}

cv::Mat Detector::overlay(const cv::Mat& image, const Detection& detection, double alpha) const {
  return guarded([&] {
    if (detection.anomaly_map.empty())
      throw DetectorError(fmt::format("{}: overlay: the detection has no anomaly map (no loss term of this "
                                      "checkpoint gives one)",
                                      kContext));
    return piade::overlay(image, colorize(detection.anomaly_map), alpha);
  });
}

}  // namespace piade
