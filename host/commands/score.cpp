// `piade score`: rebuilds the pipeline from a checkpoint alone and writes one
// CSV row per image (score, each loss term, decoded vector, decision).
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "datasets/image_files.h"
#include "host/checkpoint.h"
#include "host/cli.h"
#include "host/trainer.h"

namespace piade {
namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

int commands::score(const std::vector<std::string>& args) {
  po::options_description options = common_options();
  options.add_options()
      ("checkpoint", po::value<std::string>(), "checkpoint directory or file from `piade train`")
      ("out", po::value<std::string>(), "CSV file to write (default: standard output)")
      ("batch-size", po::value<int64_t>()->default_value(64), "images per forward pass")
      ("skip-bad", po::value<bool>()->default_value(false)->implicit_value(true), "skip unreadable images, and say how many");
  CommandLine command_line = parse_options(args, options);
  if (print_help_if_asked(command_line, "piade score --checkpoint DIR IMAGE_OR_DIR... [--out FILE.csv]", options))
    return 0;
  if (!command_line.values.count("checkpoint")) throw Error("score: --checkpoint is required");
  if (command_line.positional.empty()) throw Error("score: give at least one image or directory");
  apply_threads(command_line);
  const torch::Device device = parse_device(command_line.get<std::string>("device"));
  const int64_t batch_size = command_line.get<int64_t>("batch-size");
  if (batch_size < 1) throw Error("--batch-size: must be at least 1");

  const fs::path file = checkpoint_file(command_line.get<std::string>("checkpoint"));
  const nlohmann::json meta = read_checkpoint_meta(file);
  const PluginRegistry registry = load_plugins(command_line);
  PiadeModel model = restore_model(registry, file, meta, device);
  const ImageShape image = model->image_shape();

  int64_t skipped = 0;
  const ImageSet images = read_images(list_images(command_line.positional), image.channels, image.height,
                                      command_line.get<bool>("skip-bad"), &skipped);
  if (skipped > 0) warn(fmt::format("skipped {} unreadable image(s)", skipped));
  Preprocess preprocess_config{image.height, image.channels};
  const BatchScores scores = score_all(model, images.images, preprocess_config, batch_size, device);
  const double threshold = meta.contains("score_stats") ? meta["score_stats"]["threshold"].get<double>() : NAN;

  std::ostringstream csv;
  csv << "path,score";
  for (const std::string& name : model->loss_names()) csv << "," << name;
  csv << ",vector,anomalous\n";
  for (int64_t i = 0; i < images.size(); ++i) {
    const double total = scores.total[i].item<double>();
    csv << csv_field(images.ids[static_cast<std::size_t>(i)]) << "," << fmt::format("{:.8g}", total);
    for (const torch::Tensor& term : scores.terms) csv << "," << fmt::format("{:.8g}", term[i].item<double>());
    csv << "," << scores.vector_index[i].item<int64_t>() << "," << (std::isnan(threshold) ? "" : total > threshold ? "1" : "0")
        << "\n";
  }
  if (command_line.values.count("out")) {
    write_file_atomic(command_line.get<std::string>("out"), csv.str());
    fmt::print(stderr, "scored {} images: {}\n", images.size(), command_line.get<std::string>("out"));
  } else {
    fmt::print("{}", csv.str());
  }
  return 0;
}

}  // namespace piade
