// `piade score`: rebuilds the pipeline from a checkpoint (or model file)
// alone and writes one CSV row per image (score, score normalised to [0, 1],
// each loss term, decoded vector, decision), and with --maps a colour
// picture of each image's anomaly map at its own size (with --strips, a
// picture of the image, its reconstruction and its map).
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>

#include "piade/datasets/image_files.h"
#include "piade/core/checkpoint.h"
#include "cli/cli.h"
#include "piade/core/csv.h"
#include "cli/data_options.h"
#include "cli/logging.h"
#include "piade/eval/gallery.h"
#include "piade/eval/pictures.h"
#include "piade/core/scoring.h"
#include "piade/core/trainer.h"

namespace piade {
namespace {

// One picture name per input: its file stem, or, for stems that occur more
// than once, stem_1, stem_2, ... in input order (skipping any name that is
// itself the stem of another input), so that no two inputs share a file.
std::vector<std::string> picture_names(const std::vector<std::string>& paths) {
  std::map<std::string, int> count;
  std::vector<std::string> stems;
  for (const std::string& path : paths) {
    stems.push_back(fs::path(path).stem().string());
    ++count[stems.back()];
  }
  std::set<std::string> taken;
  for (const auto& [stem, n] : count)
    if (n == 1) taken.insert(stem);
  std::vector<std::string> names;
  for (const std::string& stem : stems) {
    if (count[stem] == 1) {
      names.push_back(stem);
      continue;
    }
    std::string name;
    for (int k = 1; name.empty() || taken.count(name); ++k) name = fmt::format("{}_{}", stem, k);
    taken.insert(name);
    names.push_back(name);
  }
  return names;
}

// --maps DIR [--strips]: DIR/<name>_map.png, the anomaly map at the input
// file's own size in JET colours on the scale [0, hi], and
// DIR/<name>_strip.png, the image's picture (pictures.h's image_picture).
class MapWriter {
 public:
  struct Settings {
    bool strips = false;
    std::optional<double> hi;               // the colour scale's top; none: the largest value
    std::optional<double> pixel_threshold;  // the predicted mask's; none: no such panel
    Decision decision;                      // the image decision the text states
    ScoreNormalization normalization;       // score_normalized on the picture
    bool labelled = false;                  // images_.labels are 0/1 truths (a dataset's test split)
    int64_t resize = 0;                     // the decoder's resize before the crop (0: none)
  };
  MapWriter(fs::path dir, const ImageSet& images, Settings settings)
      : dir_(std::move(dir)), images_(images), names_(picture_names(images.ids)), settings_(std::move(settings)),
        hi_(settings_.hi) {}

  // Each batch as it is scored: written at once when the scale is known,
  // kept until the end otherwise (the scale is then the largest value).
  void add(int64_t first, const BatchScores& scores, const std::vector<std::string>& loss_names) {
    if (!scores.map.defined())
      throw Error(fmt::format("--maps: none of this checkpoint's loss terms ({}) gives a per-pixel map",
                              fmt::join(loss_names, ", ")));
    const torch::Tensor reconstructions = to_uint8(scores.reconstruction.reconstructions).cpu();
    const int64_t height = images_.images.size(2), width = images_.images.size(3);
    for (int64_t j = 0; j < scores.map.size(0); ++j) {
      cv::Mat map = map_to_mat(scores.map[j]);
      if (map.rows != height || map.cols != width)
        cv::resize(map, map, cv::Size(int(width), int(height)), 0, 0, cv::INTER_LINEAR);
      Pending picture{first + j, map, settings_.strips ? reconstructions[j].clone() : torch::Tensor(),
                      scores.total[j].item<double>()};
      if (hi_) {
        write(picture);
      } else {
        double max = 0;
        cv::minMaxLoc(map, nullptr, &max);
        largest_ = std::max(largest_, max);
        pending_.push_back(std::move(picture));
      }
    }
  }

  // Writes what was kept and DIR/maps.csv (path,map[,strip]); returns the
  // scale used.
  double finish() {
    if (!hi_) hi_ = largest_ > 0 ? largest_ : 1.0;
    for (const Pending& picture : pending_) write(picture);
    pending_.clear();
    std::string index = settings_.strips ? "path,map,strip\n" : "path,map\n";
    for (std::size_t i = 0; i < names_.size(); ++i) {
      index += csv_field(images_.ids[i]) + "," + csv_field(names_[i] + "_map.png");
      index += settings_.strips ? "," + csv_field(names_[i] + "_strip.png") + "\n" : "\n";
    }
    write_file_atomic(dir_ / "maps.csv", index);
    return *hi_;
  }

 private:
  struct Pending {
    int64_t index;
    cv::Mat map;                   // CV_32F at the network size
    torch::Tensor reconstruction;  // [C,H,W] uint8, with --strips
    double score;
  };

  void write(const Pending& picture) const {
    const std::size_t i = std::size_t(picture.index);
    const std::string& name = names_[i];
    // The map file at the input's own size (file inputs); the network's
    // size for datasets of one fixed size.
    cv::Mat map = picture.map;
    if (i < images_.original_sizes.size())
      map = map_at_original_size(map, images_.original_sizes[i].height, images_.original_sizes[i].width,
                                 settings_.resize);
    write_png_atomic(dir_ / (name + "_map.png"), colorize_map(map, 0.0, *hi_));
    if (!settings_.strips) return;
    PictureParts parts;
    parts.image = images_.images[picture.index];
    parts.reconstruction = picture.reconstruction;
    parts.map = picture.map;
    parts.map_max = *hi_;
    parts.pixel_threshold = settings_.pixel_threshold;
    if (images_.masks.defined()) parts.mask = tensor_to_image(images_.masks[picture.index]);
    const int label = settings_.labelled ? int(images_.labels[picture.index].item<int64_t>()) : -1;
    const double normalized = normalize_score(picture.score, settings_.normalization);
    parts.text = picture_text(picture.score, std::isnan(normalized) ? std::nullopt : std::optional<double>(normalized),
                              label, settings_.decision);
    write_png_atomic(dir_ / (name + "_strip.png"), image_picture(parts));
  }

  fs::path dir_;
  const ImageSet& images_;
  std::vector<std::string> names_;
  Settings settings_;
  std::optional<double> hi_;
  double largest_ = 0;
  std::vector<Pending> pending_;
};

}  // namespace

po::options_description score_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("FILE"),
       "CSV file to write (default: standard output)")
      ((prefix + "maps").c_str(), po::value<std::string>()->value_name("DIR"),
       "write DIR/<stem>_map.png per image: its anomaly map at the input image's own size in JET colours, 0 blue "
       "to --map-max red (and DIR/maps.csv, path to file)")
      ((prefix + "strips").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "with --maps, also DIR/<stem>_strip.png: input | reconstruction | anomaly map | predicted mask, with the "
       "score and decision")
      ((prefix + "map-max").c_str(), po::value<double>()->value_name("X"),
       "top of the colour scale (default: the checkpoint's map_stats.max_p99, the 99th percentile of the "
       "training images' largest map values; for older checkpoints the largest value among the images scored)")
      ((prefix + "threshold").c_str(), po::value<double>()->value_name("T"),
       "decision threshold for this run: score > T is anomalous, and T is 0.5 in score_normalized (default: the "
       "checkpoint's, calibrated by `piade eval --calibrate` or the 99th percentile of the training scores)");
  return options;
}

int commands::score(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("score"));
  if (!parsed) return 0;
  CommandLine& command_line = *parsed;
  if (!command_line.values.count("checkpoint")) throw Error("--checkpoint DIR is required");
  // Without inputs, a dataset's test split is scored: the one given, or
  // the checkpoint's.
  const bool score_dataset = command_line.positional.empty();
  apply_threads(command_line);
  const torch::Device device = parse_device(command_line.get<std::string>("device"));
  const Precision precision = parse_precision(command_line.get<std::string>("amp"));
  const int64_t batch_size = command_line.get<int64_t>("batch-size");
  if (batch_size < 1) throw Error("--batch-size: must be at least 1");
  const bool strips = command_line.get<bool>("strips");
  if (strips && !command_line.values.count("maps")) throw Error("--strips: needs --maps DIR");
  std::optional<double> map_max;
  if (command_line.values.count("map-max")) {
    map_max = command_line.get<double>("map-max");
    if (!(*map_max > 0) || !std::isfinite(*map_max))
      throw Error(fmt::format("--map-max: must be a positive number, got {}", *map_max));
  }

  std::optional<double> threshold_given;
  if (command_line.values.count("threshold")) {
    threshold_given = command_line.get<double>("threshold");
    if (!std::isfinite(*threshold_given))
      throw Error(fmt::format("--threshold: must be a finite number, got {}", *threshold_given));
  }

  const fs::path file = checkpoint_file(command_line.get<std::string>("checkpoint"));
  const nlohmann::json meta = read_checkpoint_meta(file);
  const PluginRegistry registry = load_plugins(command_line);
  PiadeModel model = restore_model(registry, file, meta, device);

  // Decoded as training decoded its images (image_files.h's conversion,
  // which piade::Detector shares).
  const Preprocess preprocess_config = checkpoint_preprocess(meta);
  DecodeOptions decode;
  decode.channels = preprocess_config.channels;
  decode.image_size = preprocess_config.image_size;
  decode.resize = preprocess_config.resize;
  decode.skip_bad = command_line.get<bool>("skip-bad");
  ImageSet images;
  check_checkpoint_geometry(command_line, meta, file.string());
  if (score_dataset) {
    if (!command_line.given_by_user("dataset"))
      spdlog::info("no images given: scoring the test split of the checkpoint's dataset ({})",
                   command_line.get<std::string>("dataset"));
    images = load_dataset(command_line, command_line.get<uint64_t>("seed"), DatasetSplits::test_only).test;
  } else {
    std::vector<SkippedItem> skipped;
    images = read_images(list_images(command_line.positional), decode, &skipped);
    warn_skipped(fmt::format("--skip-bad: skipped {}", count_of(int64_t(skipped.size()), "unreadable image")), skipped);
  }

  const StoredThreshold stored = stored_threshold(meta);
  const double threshold = threshold_given.value_or(stored.value);
  if (threshold_given) spdlog::info("decision threshold {:.8g} (--threshold, for this run)", threshold);
  const ScoreNormalization normalization = score_normalization(meta.value("score_stats", nlohmann::json()), threshold);
  if (!normalization.note.empty()) warn(fmt::format("{}: {}", file.string(), normalization.note));

  std::optional<MapWriter> maps;
  ScoreVisitor visit;
  if (command_line.values.count("maps")) {
    const fs::path dir = command_line.get<std::string>("maps");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir)) throw Error(fmt::format("--maps: cannot create the directory '{}'", dir.string()));
    if (!map_max) map_max = checkpoint_map_max(meta);
    MapWriter::Settings writer;
    writer.strips = strips;
    writer.hi = map_max;
    // The predicted mask marks map > the checkpoint's map scale
    // (map_stats.max_p99), whatever --map-max says of the colours.
    writer.pixel_threshold = checkpoint_map_max(meta);
    writer.decision = Decision{threshold, false, threshold_given ? "--threshold" : stored.method};
    writer.normalization = normalization;
    writer.labelled = score_dataset;
    writer.resize = decode.resize;
    maps.emplace(dir, images, writer);
    visit = [&](int64_t first, const BatchScores& scores) { maps->add(first, scores, model->loss_names()); };
  }
  Progress progress("scoring", images.size(), "images", command_line.get<bool>("progress"));
  const Autocast amp(device, precision);
  const ScoreTable scores =
      score_all(model, images.images, preprocess_config, batch_size, device, [&](int64_t first, const BatchScores& batch) {
        if (visit) visit(first, batch);
        progress.update(first + batch.total.size(0));
      },
      images.ids);
  progress.finish();

  std::ostringstream csv;
  csv << "path,score,score_normalized";
  for (const std::string& name : model->loss_names()) csv << "," << name;
  csv << ",vector,anomalous\n";
  for (int64_t i = 0; i < images.size(); ++i) {
    const double total = scores.total[i].item<double>();
    const double normalized = normalize_score(total, normalization);
    csv << csv_field(images.ids[static_cast<std::size_t>(i)]) << "," << fmt::format("{:.8g}", total) << ","
        << (std::isnan(normalized) ? "" : fmt::format("{:.8g}", normalized));
    for (const torch::Tensor& term : scores.terms) csv << "," << fmt::format("{:.8g}", term[i].item<double>());
    csv << "," << scores.vector_index[i].item<int64_t>() << "," << (std::isnan(threshold) ? "" : total > threshold ? "1" : "0")
        << "\n";
  }
  if (maps) {
    const bool from_checkpoint = map_max.has_value() && !command_line.values.count("map-max");
    const double hi = maps->finish();
    spdlog::info("wrote {}{} to {} (colour scale 0 to {:.6g}, {})", count_of(images.size(), "anomaly map"),
               strips ? " and strips" : "", command_line.get<std::string>("maps"), hi,
               command_line.values.count("map-max") ? "--map-max"
               : from_checkpoint                    ? "the checkpoint's map_stats.max_p99"
                                                    : "the largest value among these images");
  }
  if (command_line.values.count("out")) {
    write_file_atomic(command_line.get<std::string>("out"), csv.str());
    spdlog::info("scored {}: {}", count_of(images.size(), "image"), command_line.get<std::string>("out"));
  } else {
    fmt::print("{}", csv.str());
  }
  return 0;
}

}  // namespace piade
