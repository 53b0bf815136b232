// `piade bench` and its PyTorch eager counterpart (benchmarks/eager): the
// bench JSON schema, and that the Python model given piade's weights (via
// safetensors) computes the same scores, term by term, and the same shapes
// as piade, so that a speed comparison compares the same work.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade::test {
namespace {

namespace fs = std::filesystem;

TEST(Bench, WritesTimingsAndMemoryInItsJsonSchema) {
  ScratchDir dir;
  const CommandResult bench = run_piade_command(
      {"bench", "--image-size", "32", "--channels", "1", "--batch-size", "4", "--warmup", "0", "--repeats", "3",
       "--threads", "1", "--loss", "mse,ssim", "--set", "routing.vectors=1", "--out", (dir / "bench.json").string(),
       "--save-model", (dir / "model.safetensors").string()});
  ASSERT_EQ(bench.status, 0) << bench.output;
  const nlohmann::json report = nlohmann::json::parse(read_text(dir / "bench.json"));
  EXPECT_EQ(report.at("format"), "piade-bench-1");
  EXPECT_EQ(report.at("implementation"), "piade");
  EXPECT_EQ(report.at("device"), "cpu");
  EXPECT_EQ(report.at("precision"), "fp32");
  EXPECT_EQ(report.at("threads"), 1);
  EXPECT_EQ(report.at("batch_size"), 4);
  EXPECT_EQ(report.at("image"), (nlohmann::json{{"channels", 1}, {"height", 32}, {"width", 32}}));
  EXPECT_EQ(report.at("pipeline").at("routing").at("params").at("vectors"), "1");
  for (const char* part : {"score", "train_step"}) {
    const nlohmann::json& timing = report.at(part);
    const auto seconds = timing.at("seconds_per_batch").get<std::vector<double>>();
    ASSERT_EQ(seconds.size(), 3u) << part;
    for (double s : seconds) EXPECT_GT(s, 0) << part;
    // Images per second is the batch over the median batch time; min and
    // max come from the slowest and the fastest batch.
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_DOUBLE_EQ(timing.at("seconds_per_batch_median").get<double>(), sorted[1]) << part;
    EXPECT_DOUBLE_EQ(timing.at("images_per_second").get<double>(), 4 / sorted[1]) << part;
    EXPECT_DOUBLE_EQ(timing.at("images_per_second_min").get<double>(), 4 / sorted[2]) << part;
    EXPECT_DOUBLE_EQ(timing.at("images_per_second_max").get<double>(), 4 / sorted[0]) << part;
    EXPECT_EQ(timing.at("repeats"), 3);
    EXPECT_EQ(timing.at("warmup"), 0);
    EXPECT_TRUE(timing.at("peak_device_memory_bytes").is_null()) << "the CPU has no device allocator";
  }
  EXPECT_GT(report.at("peak_host_memory_bytes").get<double>(), 1e6);
  EXPECT_TRUE(fs::exists(dir / "model.safetensors"));

  const CommandResult score_only =
      run_piade_command({"bench", "--image-size", "32", "--channels", "1", "--batch-size", "2", "--warmup", "0",
                         "--repeats", "1", "--mode", "score", "--loss", "mse", "--out", (dir / "score.json").string()});
  ASSERT_EQ(score_only.status, 0) << score_only.output;
  const nlohmann::json only = nlohmann::json::parse(read_text(dir / "score.json"));
  EXPECT_TRUE(only.contains("score"));
  EXPECT_FALSE(only.contains("train_step"));

  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"bench", "--mode", "infer"}, "--mode: 'infer' is not score, train or score,train"},
           {{"bench", "--repeats", "0"}, "--repeats: must be at least 1"},
           {{"bench", "--batch-size", "1"}, "--batch-size: must be at least 2"},
           {{"bench", "--channels", "2"}, "--channels: must be 1 or 3"},
           {{"bench", "--amp", "fp16"}, "--amp: 'fp16' is not a precision; use off (fp32) or bf16"}}) {
    const CommandResult refused = run_piade_command(args);
    EXPECT_EQ(refused.status, 1) << refused.output;
    EXPECT_NE(refused.output.find(message), std::string::npos) << refused.output;
  }
}

// An .npy file (version 1.0, little-endian float32, C order) of `tensor`.
void write_npy(const fs::path& file, const torch::Tensor& tensor) {
  std::string shape;
  for (int64_t size : tensor.sizes()) shape += std::to_string(size) + ", ";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  std::ofstream out(file, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t length = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&length), 2);
  out << header;
  const torch::Tensor data = tensor.contiguous().to(torch::kFloat);
  out.write(reinterpret_cast<const char*>(data.data_ptr<float>()), static_cast<std::streamsize>(data.numel() * 4));
}

// score's CSV: per row the values of `columns` (path first).
std::vector<std::map<std::string, double>> read_scores(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> columns;
  std::stringstream header(line);
  for (std::string column; std::getline(header, column, ',');) columns.push_back(column);
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::map<std::string, double> values;
    std::string field;
    for (std::size_t c = 0; std::getline(row, field, ','); ++c)
      if (c > 0 && c < columns.size() && !field.empty()) values[columns[c]] = std::stod(field);
    rows.push_back(values);
  }
  return rows;
}

TEST(EagerTwin, ScoresEveryTermAsPiadeDoesWithTheSameWeights) {
  ScratchDir dir;
  // A model with every built-in loss, trained one epoch so that its
  // reconstructions are not trivial, at a size with an uneven decoder plan.
  const CommandResult train = run_piade_command(
      {"train", "--dataset", "fmnist", "--normal-class", "1", "--max-train", "16", "--epochs", "1", "--batch-size", "8",
       "--channels", "3", "--image-size", "40", "--loss", "mse,ssim,perceptual", "--threads", "1",
       "--progress=false", "--out", (dir / "model").string()});
  ASSERT_EQ(train.status, 0) << train.output;
  const CommandResult exported = run_piade_command({"export", "--checkpoint", (dir / "model").string(), "--out",
                                                    (dir / "model.safetensors").string()});
  ASSERT_EQ(exported.status, 0) << exported.output;

  // Pictures at the network's size, so that decoding changes nothing; the
  // same pixels as the network input in [-1,1] for Python.
  torch::manual_seed(3);
  const int n = 5;
  const torch::Tensor pixels = torch::randint(0, 256, {n, 3, 40, 40}, torch::kUInt8);
  std::vector<std::string> args = {"score", "--checkpoint", (dir / "model").string(), "--threads", "1",
                                   "--out", (dir / "scores.csv").string()};
  for (int i = 0; i < n; ++i) {
    const torch::Tensor hwc = pixels[i].permute({1, 2, 0}).contiguous();
    cv::Mat rgb(40, 40, CV_8UC3, hwc.data_ptr<uint8_t>()), bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    const fs::path file = dir / ("image" + std::to_string(i) + ".png");
    ASSERT_TRUE(cv::imwrite(file.string(), bgr));
    args.push_back(file.string());
  }
  const CommandResult scored = run_piade_command(args);
  ASSERT_EQ(scored.status, 0) << scored.output;
  write_npy(dir / "input.npy", pixels.to(torch::kFloat) / 255 * 2 - 1);
  const CommandResult python = piade::test::run_reference_python(
      std::string(PIADE_TEST_SOURCE_DIR) + "/benchmarks/eager/check_equivalence.py",
      {(dir / "model.safetensors").string(), (dir / "input.npy").string(), (dir / "eager.json").string()});
  ASSERT_EQ(python.status, 0) << python.output;

  const nlohmann::json eager = nlohmann::json::parse(read_text(dir / "eager.json"));
  EXPECT_EQ(eager.at("shapes").at("reconstruction"), (nlohmann::json{n, 3, 40, 40}));
  const auto piade_rows = read_scores(dir / "scores.csv");
  ASSERT_EQ(piade_rows.size(), static_cast<std::size_t>(n));
  auto expect_close = [](double piade, double python, const std::string& what) {
    EXPECT_NEAR(python, piade, 1e-4 * std::abs(piade) + 1e-7) << what;
  };
  for (int i = 0; i < n; ++i) {
    const auto& row = piade_rows[static_cast<std::size_t>(i)];
    expect_close(row.at("score"), eager.at("total")[i].get<double>(), "score of image " + std::to_string(i));
    for (const char* term : {"mse", "ssim", "perceptual"})
      expect_close(row.at(term), eager.at("terms").at(term)[i].get<double>(),
                   std::string(term) + " of image " + std::to_string(i));
    EXPECT_EQ(row.at("vector"), eager.at("vector_index")[i].get<double>());
  }
}

}  // namespace
}  // namespace piade::test
