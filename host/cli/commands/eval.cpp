// `piade eval`: scores a dataset's test split with a trained checkpoint and
// writes what a user needs to trust the numbers: metrics.json (image AUROC,
// AUPR, the paper's best TPR/TNR, F1-max, counts, and with masks pixel AUROC
// and PRO), scores.csv (with score_normalized), the ROC and PR curves (CSV
// and SVG; with masks the pixel ROC and PRO curves as SVG), one picture per
// image for the worst errors and a sample of the rest, and report.html with
// all of it. With --calibrate it also chooses the checkpoint's decision
// threshold on these scores and writes it into the checkpoint.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "piade/core/checkpoint.h"
#include "cli/cli.h"
#include "piade/core/csv.h"
#include "cli/data_options.h"
#include "cli/logging.h"
#include "cli/run_dir.h"
#include "piade/eval/calibration.h"
#include "piade/eval/gallery.h"
#include "piade/eval/metrics.h"
#include "piade/eval/pictures.h"
#include "piade/eval/report_html.h"
#include "piade/core/scoring.h"
#include "piade/core/trainer.h"
#include "piade/datasets/image_files.h"
#include "piade/sdk/log.h"

namespace piade {
namespace {

struct EvalSettings {
  int64_t batch_size = 0;
  int64_t pictures = 0;  // per class
  double max_fpr = 0;
  uint64_t seed = 0;
};

// The pictures eval draws (gallery.h's choice), each with its file.
struct PictureJob {
  ChosenPicture chosen;
  std::string file;  // under pictures/
};

// Names per gallery.h, made unique with _2, _3, ... (e.g. two test folders
// with the same file names).
std::vector<PictureJob> name_pictures(const std::vector<ChosenPicture>& chosen, const ImageSet& test,
                                      const std::vector<std::string>& test_classes) {
  std::vector<PictureJob> jobs;
  std::set<std::string> taken;
  for (const ChosenPicture& picture : chosen) {
    const std::size_t i = static_cast<std::size_t>(picture.index);
    const int label = static_cast<int>(test.labels[picture.index].item<int64_t>());
    const std::string name = picture_file_name(picture.outcome,
                                               image_kind(test.ids[i], label, i < test_classes.size() ? test_classes[i] : ""),
                                               image_stem(test.ids[i]));
    std::string unique = name;
    for (int k = 2; taken.count(unique); ++k) unique = fmt::format("{}_{}.png", name.substr(0, name.size() - 4), k);
    taken.insert(unique);
    jobs.push_back({picture, unique});
  }
  return jobs;
}

// The report's groups, errors first, with what each outcome means.
std::vector<ReportGroup> report_groups() {
  return {{"False positives", "normal images judged anomalous, highest score first", {}},
          {"False negatives", "anomalous images judged normal, lowest score first", {}},
          {"True positives", "anomalous images judged anomalous (a seeded sample)", {}},
          {"True negatives", "normal images judged normal (a seeded sample)", {}}};
}

std::size_t group_of(Outcome outcome) {
  switch (outcome) {
    case Outcome::false_positive: return 0;
    case Outcome::false_negative: return 1;
    case Outcome::true_positive: return 2;
    case Outcome::true_negative: return 3;
  }
  return 0;
}

// What the numbers cannot say by themselves.
std::vector<std::string> eval_warnings(const ImageMetrics& image) {
  std::vector<std::string> warnings;
  if (image.auroc < 0.5)
    warnings.push_back(fmt::format("image AUROC {:.4f} is below 0.5: scores look inverted: the wrong --normal-class, "
                                   "or the wrong checkpoint?",
                                   image.auroc));
  constexpr int64_t kFew = 10;
  if (image.n_normal < kFew || image.n_anomalous < kFew)
    warnings.push_back(fmt::format("only {} normal and {} anomalous test images (fewer than {} of a label): the "
                                   "metrics are not reliable",
                                   image.n_normal, image.n_anomalous, kFew));
  return warnings;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string metric_text(double value) { return fmt::format("{:.4f}", value); }

}  // namespace

po::options_description eval_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("DIR"),
       "output directory: metrics.json, scores.csv, roc.csv, pr.csv, roc.svg, pr.svg, with masks pixel_roc.svg and "
       "pro.svg, pictures/, report.html (required)")
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

  // Per-pixel maps are gathered batch by batch for the pixel measures; the
  // pictures need every score first (the worst errors are drawn), so their
  // few images are scored again at the end.
  const bool with_masks = test.masks.defined() && test.masks.any().item<bool>();
  std::vector<torch::Tensor> maps;
  const auto no_map = [&](const char* what) {
    return Error(fmt::format("none of this checkpoint's loss terms ({}) gives a per-pixel map, which {} need; "
                             "evaluate with --pictures 0{}",
                             fmt::join(model->loss_names(), ", "), what, with_masks ? " and without masks" : ""));
  };
  const auto visit = [&](int64_t, const BatchScores& scores) {
    if (!scores.map.defined()) throw no_map("pixel measures and pictures");
    maps.push_back(scores.map.to(torch::kCPU, torch::kFloat));
  };
  spdlog::info("evaluating {} on {} ({} normal, {} anomalous)", data.description, count_of(test.size(), "test image"),
               (test.labels == 0).sum().item<int64_t>(), (test.labels == 1).sum().item<int64_t>());
  Progress progress("scoring", test.size(), "images", command_line.get<bool>("progress"));
  const Autocast amp(device, precision);
  const ScoreTable scores =
      // A streamed test set (above --memory-budget) is decoded batch by batch.
      score_all(model, test, preprocess_config, settings.batch_size, device, [&](int64_t first, const BatchScores& batch) {
        if (with_masks) visit(first, batch);
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
  // Which routed vector each group was decoded from: the longest is decoded
  // at test time, possibly one the decoder never saw in training (sec. 3.1).
  const torch::Tensor chosen_vectors = scores.vector_index.to(torch::kCPU, torch::kLong).contiguous();
  const VectorShares shares =
      vector_shares(std::vector<int64_t>(chosen_vectors.data_ptr<int64_t>(),
                                         chosen_vectors.data_ptr<int64_t>() + chosen_vectors.numel()),
                    labels, model->vector_shape().count);
  metrics["vector_share_normal"] = shares.normal;
  metrics["vector_share_anomalous"] = shares.anomalous;
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
  std::optional<PixelMetrics> pixel;
  if (with_masks) {
    const torch::Tensor all_maps = torch::cat(maps);
    const torch::Tensor masks = test.masks.squeeze(1);
    if (all_maps.sizes() != masks.sizes())
      throw Error(fmt::format("the masks are {}x{} but the anomaly maps {}x{}; decode at the checkpoint's size",
                              masks.size(1), masks.size(2), all_maps.size(1), all_maps.size(2)));
    maps.clear();
    pixel = pixel_metrics(all_maps, masks, settings.max_fpr);
    metrics["pixel_auroc"] = pixel->pixel_auroc;
    metrics["pro_auc"] = pixel->pro_auc;
    metrics["pro_max_fpr"] = pixel->max_fpr;
    metrics["n_regions"] = pixel->n_regions;
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
  const std::vector<std::string> warnings = eval_warnings(image);
  for (const std::string& warning : warnings) warn(warning);

  // The decision the pictures show: the stored threshold, as deployed, else
  // the F1-max one.
  const Decision decision = !std::isnan(threshold.value)
                                ? Decision{threshold.value, false, threshold.method}
                                : Decision{image.f1_threshold, true, "F1-max"};
  EvalReport report;
  report.title = data.description;
  report.warnings = warnings;
  report.groups = report_groups();
  const std::vector<PictureJob> jobs =
      name_pictures(choose_pictures(score_values, labels, decision, settings.pictures, settings.seed), test,
                    data.test_classes);
  std::vector<fs::path> pictures;
  if (!jobs.empty()) {
    std::vector<int64_t> indices;
    for (const PictureJob& job : jobs) indices.push_back(job.chosen.index);
    // The colour scale and the pixel threshold: the checkpoint's map scale
    // (map_stats.max_p99, a value that 99% of the training images reach
    // nowhere); without it each picture's own maximum and no predicted mask.
    const std::optional<double> map_max = checkpoint_map_max(meta);
    score_all(model, test.select(indices), preprocess_config,
              settings.batch_size, device, [&](int64_t first, const BatchScores& batch) {
                if (!batch.map.defined()) throw no_map("pictures");
                for (int64_t j = 0; j < batch.total.size(0); ++j) {
                  const PictureJob& job = jobs[std::size_t(first + j)];
                  const int64_t i = job.chosen.index;
                  PictureParts parts;
                  // The network's input (preprocess may have resized it), as it was scored.
                  parts.image = to_uint8(batch.reconstruction.images[j]).cpu();
                  parts.reconstruction = to_uint8(batch.reconstruction.reconstructions[j]).cpu();
                  parts.map = map_to_mat(batch.map[j]);
                  double largest = 0;
                  cv::minMaxLoc(parts.map, nullptr, &largest);
                  parts.map_max = map_max.value_or(std::max(largest, 1e-12));
                  parts.pixel_threshold = map_max;
                  if (test.masks.defined()) {
                    parts.mask = tensor_to_image(test.masks[i]);
                    const cv::Size size(int(parts.image.size(2)), int(parts.image.size(1)));
                    if (parts.mask.size() != size) cv::resize(parts.mask, parts.mask, size, 0, 0, cv::INTER_NEAREST);
                  }
                  const double normalized = normalize_score(score_values[std::size_t(i)], normalization);
                  parts.text = picture_text(score_values[std::size_t(i)],
                                            std::isnan(normalized) ? std::nullopt : std::optional<double>(normalized),
                                            labels[std::size_t(i)], decision);
                  const fs::path file = out / "pictures" / job.file;
                  write_png_atomic(file, image_picture(parts));
                  pictures.push_back(file);
                  report.groups[group_of(job.chosen.outcome)].figures.push_back(
                      {fmt::format("{}: {} (score {:.6g})", job.file, test.ids[std::size_t(i)], score_values[std::size_t(i)]),
                       read_bytes(file)});
                }
              });
  }

  // The curves: image ROC and PR, and with masks pixel ROC and PRO.
  std::vector<std::pair<std::string, std::string>> charts = {
      {"roc.svg", roc_svg(image.roc.x, image.roc.y, image.auroc, data.description)}};
  PlotFrame pr_frame;
  pr_frame.title = data.description;
  pr_frame.x_label = "recall";
  pr_frame.y_label = "precision";
  pr_frame.area_name = "AP";
  const double positives = static_cast<double>(image.n_anomalous) / static_cast<double>(labels.size());
  pr_frame.reference = ReferenceLine{0, positives, 1, positives, fmt::format("chance (AP = {:.4f})", positives)};
  charts.emplace_back("pr.svg", line_plot_svg({{"PR", image.pr.x, image.pr.y, image.aupr}}, pr_frame));
  if (pixel) {
    PlotFrame roc_frame;
    roc_frame.title = data.description + ", per pixel";
    roc_frame.reference = ReferenceLine{0, 0, 1, 1, "chance (AUROC = 0.5)"};
    charts.emplace_back("pixel_roc.svg", line_plot_svg({{"pixel ROC", pixel->roc.x, pixel->roc.y, pixel->pixel_auroc}},
                                                       roc_frame));
    PlotFrame pro_frame;
    pro_frame.title = fmt::format("{}, per region up to FPR {:g}", data.description, pixel->max_fpr);
    pro_frame.y_label = "per-region overlap (PRO)";
    pro_frame.x_max = pixel->max_fpr;
    pro_frame.area_name = "normalised PRO area";
    charts.emplace_back("pro.svg", line_plot_svg({{"PRO", pixel->pro.x, pixel->pro.y, pixel->pro_auc}}, pro_frame));
  }
  for (const auto& [name, svg] : charts) {
    write_file_atomic(out / name, svg);
    report.charts.push_back(svg);
  }
  report.metrics = nlohmann::ordered_json::parse(metrics.dump());
  write_file_atomic(out / "report.html", eval_report_html(report));
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
  const auto share_text = [](const std::vector<double>& group) {
    std::vector<std::string> parts;
    for (std::size_t k = 0; k < group.size(); ++k) parts.push_back(fmt::format("{}: {:.4f}", k, group[k]));
    return fmt::format("{}", fmt::join(parts, ", "));
  };
  fmt::print("decoded vector share: normal {}; anomalous {}\n", share_text(shares.normal),
             share_text(shares.anomalous));
  if (chosen)
    fmt::print("threshold {:.8g} ({}; was {:.8g}, {}) written to {}: TPR {}, TNR {} on these images\n",
               chosen->threshold, threshold.method, previous.value, previous.method.empty() ? "none" : previous.method,
               file.string(), metric_text(chosen->tpr), metric_text(chosen->tnr));
  fmt::print("metrics: {}\n", (out / "metrics.json").string());
  fmt::print("pictures: {} ({} pictures, curves {}/*.svg)\n", (out / "pictures").string(), pictures.size(),
             out.string());
  fmt::print("report: {}\n", (out / "report.html").string());
  return 0;
}

}  // namespace piade
