// `piade eval`: scores a dataset's test split with a trained checkpoint and
// writes what a user needs to trust the numbers: metrics.json (image AUROC,
// AUPR, the paper's best TPR/TNR, F1-max, counts, and with masks pixel AUROC
// and PRO), scores.csv, the ROC and PR curves (CSV, and the ROC as SVG), and
// input | reconstruction | overlay strips for a sample of test images. With
// --calibrate it also chooses the checkpoint's decision threshold on these
// scores and writes it into the checkpoint.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"
#include "piade/core/csv.h"
#include "cli/data_options.h"
#include "cli/logging.h"
#include "cli/run_dir.h"
#include "piade/eval/calibration.h"
#include "piade/eval/metrics.h"
#include "piade/eval/pictures.h"
#include "piade/core/scoring.h"
#include "piade/core/trainer.h"

namespace piade {
namespace {

struct EvalSettings {
  int64_t batch_size = 0;
  int64_t pictures = 0;  // per class
  double max_fpr = 0;
  uint64_t seed = 0;
};

// A seeded sample of up to `count` indices with label `label`, ascending.
std::vector<int64_t> sample_indices(const torch::Tensor& labels, int64_t label, int64_t count, uint64_t seed) {
  std::vector<int64_t> indices;
  const auto accessor = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < labels.size(0); ++i)
    if (accessor[i] == label) indices.push_back(i);
  std::mt19937_64 generator(seed * 7919u + static_cast<uint64_t>(label));
  std::shuffle(indices.begin(), indices.end(), generator);
  if (static_cast<int64_t>(indices.size()) > count) indices.resize(static_cast<std::size_t>(count));
  std::sort(indices.begin(), indices.end());
  return indices;
}

// A file name made from an image id: its stem for paths, the record index
// for "<file>#<index>" ids; only characters safe everywhere.
std::string picture_name(const std::string& id) {
  std::string name = id;
  const auto hash = name.rfind('#');
  if (hash != std::string::npos) {
    name = name.substr(hash + 1);
  } else {
    fs::path path(name);
    name = path.parent_path().filename().string() + "_" + path.stem().string();
  }
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return name;
}

std::string metric_text(double value) { return fmt::format("{:.4f}", value); }

}  // namespace

po::options_description eval_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("DIR"),
       "output directory: metrics.json, scores.csv, roc.csv, pr.csv, roc.svg, pictures/ (required)")
      ((prefix + "overwrite").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "replace an earlier evaluation in --out (its files are removed first)")
      ((prefix + "calibrate").c_str(), po::value<std::string>()->value_name("METHOD"),
       "choose the decision threshold on this evaluation and write it into the checkpoint: f1 (the F1-max "
       "threshold), balanced (maximising TPR + TNR) or percentile:P (the P-th percentile of the normal test "
       "images' scores)");
  return options;
}

int commands::eval(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("eval"));
  if (!parsed) return 0;
  CommandLine& command_line = *parsed;
  expect_no_positional(command_line);
  if (!command_line.values.count("checkpoint")) throw Error("--checkpoint DIR is required");
  if (!command_line.values.count("out")) throw Error("--out DIR is required");
  EvalSettings settings;
  settings.batch_size = command_line.get<int64_t>("batch-size");
  settings.pictures = command_line.get<int64_t>("pictures");
  settings.max_fpr = command_line.get<double>("max-fpr");
  settings.seed = command_line.get<uint64_t>("seed");
  if (settings.batch_size < 1) throw Error("--batch-size: must be at least 1");
  if (settings.pictures < 0) throw Error("--pictures: must not be negative");
  if (!(settings.max_fpr > 0 && settings.max_fpr <= 1)) throw Error("--max-fpr: must be in (0, 1]");
  std::optional<ThresholdMethod> calibrate;
  if (command_line.values.count("calibrate")) {
    try {
      calibrate = parse_threshold_method(command_line.get<std::string>("calibrate"));
    } catch (const Error& e) {
      throw Error(fmt::format("--calibrate: {}", e.what()));
    }
  }
  apply_threads(command_line);
  const torch::Device device = parse_device(command_line.get<std::string>("device"));
  const Precision precision = parse_precision(command_line.get<std::string>("amp"));

  const fs::path file = checkpoint_file(command_line.get<std::string>("checkpoint"));
  const nlohmann::json meta = read_checkpoint_meta(file);
  check_checkpoint_geometry(command_line, meta, file.string());
  const PluginRegistry registry = load_plugins(command_line);
  PiadeModel model = restore_model(registry, file, meta, device);
  const Preprocess preprocess_config = preprocess_settings(command_line);

  const OneClassSplit data = load_dataset(command_line, settings.seed, DatasetSplits::test_only);
  const ImageSet& test = data.test;
  const fs::path out = command_line.get<std::string>("out");
  prepare_out_dir(out, RunKind::eval, command_line.get<bool>("overwrite"), /*resume=*/false);
  fs::create_directories(out / "pictures");

  // Pictures and per-pixel maps are gathered batch by batch, so memory holds
  // one batch of reconstructions at a time.
  const std::vector<int64_t> normal_sample = sample_indices(test.labels, 0, settings.pictures, settings.seed);
  const std::vector<int64_t> anomalous_sample = sample_indices(test.labels, 1, settings.pictures, settings.seed);
  // Pixel measures need ground truth with at least one defect pixel.
  const bool with_masks = test.masks.defined() && test.masks.any().item<bool>();
  const double map_max = checkpoint_map_max(meta).value_or(0.0);
  std::vector<torch::Tensor> maps;
  std::vector<fs::path> pictures;
  const auto visit = [&](int64_t first, const BatchScores& scores) {
    if (!scores.map.defined())
      throw Error(fmt::format("none of this checkpoint's loss terms ({}) gives a per-pixel map, which {} "
                              "need; evaluate with --pictures 0{}",
                              fmt::join(model->loss_names(), ", "), with_masks ? "pixel measures and pictures" : "pictures",
                              with_masks ? " and without masks" : ""));
    if (with_masks) maps.push_back(scores.map.to(torch::kCPU, torch::kFloat));
    const int64_t n = scores.total.size(0);
    for (const auto* sample : {&normal_sample, &anomalous_sample}) {
      for (auto it = std::lower_bound(sample->begin(), sample->end(), first);
           it != sample->end() && *it < first + n; ++it) {
        const int64_t i = *it - first;
        const cv::Mat map_mat = map_to_mat(scores.map[i]);
        double largest = 0;
        cv::minMaxLoc(map_mat, nullptr, &largest);
        // Without the checkpoint's scale, each picture uses its own maximum.
        const double hi = map_max > 0 ? map_max : std::max(largest, 1e-12);
        const cv::Mat picture = strip(to_uint8(scores.reconstruction.images[i]).cpu(),
                                      to_uint8(scores.reconstruction.reconstructions[i]).cpu(),
                                      colorize_map(map_mat, 0.0, hi));
        const std::string kind = sample == &normal_sample ? "normal" : "anomalous";
        const fs::path path = out / "pictures" /
                              fmt::format("{}_{:05}_{}.png", kind, *it, picture_name(test.ids[std::size_t(*it)]));
        write_png_atomic(path, picture);
        pictures.push_back(path);
      }
    }
  };
  const bool visit_batches = with_masks || !normal_sample.empty() || !anomalous_sample.empty();
  spdlog::info("evaluating {} on {} ({} normal, {} anomalous)", data.description, count_of(test.size(), "test image"),
               (test.labels == 0).sum().item<int64_t>(), (test.labels == 1).sum().item<int64_t>());
  Progress progress("scoring", test.size(), "images", command_line.get<bool>("progress"));
  const Autocast amp(device, precision);
  const ScoreTable scores =
      score_all(model, test.images, preprocess_config, settings.batch_size, device, [&](int64_t first, const BatchScores& batch) {
        if (visit_batches) visit(first, batch);
        progress.update(first + batch.total.size(0));
      });
  progress.finish();
  spdlog::info("scored {} in {}", count_of(test.size(), "image"), clock_text(progress.elapsed()));

  const torch::Tensor totals = scores.total.to(torch::kDouble).contiguous();
  const std::vector<double> score_values(totals.data_ptr<double>(), totals.data_ptr<double>() + totals.numel());
  std::vector<int> labels;
  for (int64_t i = 0; i < test.size(); ++i) labels.push_back(static_cast<int>(test.labels[i].item<int64_t>()));
  const ImageMetrics image = image_metrics(score_values, labels);

  nlohmann::json metrics = {
      {"image_auroc", image.auroc},
      {"aupr", image.aupr},
      {"best_tpr", image.best_tpr},
      {"best_tnr", image.best_tnr},
      {"best_balanced", image.best_balanced},
      {"best_threshold", image.best_threshold},
      {"f1_max", image.f1_max},
      {"f1_threshold", image.f1_threshold},
      {"n_normal", image.n_normal},
      {"n_anomalous", image.n_anomalous},
      {"checkpoint", file.string()},
      {"dataset", command_line.get<std::string>("dataset")},
      {"description", data.description},
  };
  // The decision a deployed model makes: the checkpoint's threshold, or the
  // one --calibrate chooses here (written into the checkpoint just before
  // metrics.json, so that a failed evaluation leaves the checkpoint as it was).
  const StoredThreshold previous = stored_threshold(meta);
  StoredThreshold threshold = previous;
  std::optional<Calibration> chosen;
  nlohmann::json calibration;
  if (calibrate) {
    chosen = calibrate_threshold(*calibrate, image, score_values, labels);
    calibration = calibration_record(*chosen, data.description, command_line.get<std::string>("dataset"),
                                     image.n_normal, image.n_anomalous, utc_time_now(), previous);
    metrics["calibration"] = calibration;
    threshold = {chosen->threshold, calibrate->text(), calibration["rule"].get<std::string>()};
  }
  const ScoreNormalization normalization = score_normalization(meta.value("score_stats", nlohmann::json()),
                                                               threshold.value);
  if (!normalization.note.empty()) warn(fmt::format("{}: {}", file.string(), normalization.note));
  if (!std::isnan(threshold.value)) {
    const auto [tpr, tnr] = decision_rates(score_values, labels, threshold.value);
    metrics["stored_threshold"] = threshold.value;
    metrics["stored_threshold_method"] = threshold.method;
    metrics["stored_threshold_rule"] = threshold.rule;
    metrics["stored_threshold_tpr"] = tpr;
    metrics["stored_threshold_tnr"] = tnr;
  }
  // score_normalized in scores.csv: the threshold maps to 0.5.
  metrics["normalization"] = normalization.to_json();
  if (with_masks) {
    const torch::Tensor all_maps = torch::cat(maps);
    const torch::Tensor masks = test.masks.squeeze(1);
    if (all_maps.sizes() != masks.sizes())
      throw Error(fmt::format("the masks are {}x{} but the anomaly maps {}x{}; decode at the checkpoint's size",
                              masks.size(1), masks.size(2), all_maps.size(1), all_maps.size(2)));
    const PixelMetrics pixel = pixel_metrics(all_maps, masks, settings.max_fpr);
    metrics["pixel_auroc"] = pixel.pixel_auroc;
    metrics["pro_auc"] = pixel.pro_auc;
    metrics["pro_max_fpr"] = pixel.max_fpr;
    metrics["n_regions"] = pixel.n_regions;
  }

  std::ostringstream csv;
  csv << "id,label,score,score_normalized";
  for (const std::string& name : model->loss_names()) csv << "," << name;
  csv << ",vector\n";
  for (int64_t i = 0; i < test.size(); ++i) {
    const double normalized = normalize_score(score_values[std::size_t(i)], normalization);
    csv << csv_field(test.ids[std::size_t(i)]) << "," << labels[std::size_t(i)] << ","
        << fmt::format("{:.8g}", score_values[std::size_t(i)]) << ","
        << (std::isnan(normalized) ? "" : fmt::format("{:.8g}", normalized));
    for (const torch::Tensor& term : scores.terms) csv << "," << fmt::format("{:.8g}", term[i].item<double>());
    csv << "," << scores.vector_index[i].item<int64_t>() << "\n";
  }
  write_file_atomic(out / "scores.csv", csv.str());
  write_file_atomic(out / "roc.csv", curve_csv(image.roc, "fpr", "tpr"));
  write_file_atomic(out / "pr.csv", curve_csv(image.pr, "recall", "precision"));
  write_file_atomic(out / "roc.svg", roc_svg(image.roc.x, image.roc.y, image.auroc, data.description));
  if (chosen) update_checkpoint_meta(file, [&](nlohmann::json& stored) { stored["calibration"] = calibration; });
  // Written last: its presence says the evaluation finished.
  write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");

  std::string pixel_text;
  if (with_masks)
    pixel_text = fmt::format(", pixel AUROC {}, PRO {}", metric_text(metrics["pixel_auroc"].get<double>()),
                             metric_text(metrics["pro_auc"].get<double>()));
  fmt::print("image AUROC {} (AUPR {}, best TPR {} / TNR {}, F1-max {}{}) on {} normal and {} anomalous images\n",
             metric_text(image.auroc), metric_text(image.aupr), metric_text(image.best_tpr),
             metric_text(image.best_tnr), metric_text(image.f1_max), pixel_text, image.n_normal,
             image.n_anomalous);
  if (chosen)
    fmt::print("threshold {:.8g} ({}; was {:.8g}, {}) written to {}: TPR {}, TNR {} on these images\n",
               chosen->threshold, threshold.method, previous.value, previous.method.empty() ? "none" : previous.method,
               file.string(), metric_text(chosen->tpr), metric_text(chosen->tnr));
  fmt::print("metrics: {}\n", (out / "metrics.json").string());
  fmt::print("pictures: {} ({} strips, ROC curve {})\n", (out / "pictures").string(), pictures.size(),
             (out / "roc.svg").string());
  return 0;
}

}  // namespace piade
