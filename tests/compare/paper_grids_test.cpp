// benchmarks/paper/: the paper's protocols as grids, each run end to end on
// generated data in its dataset's layout (MVTec AD folders, the CIFAR-10
// binary batches, COIL-100 PNGs), cut down with --classes and --set to two
// classes, a few images (8 training, 12 test) and one epoch; their
// summary.md and report.html show the paper's numbers beside piade's with
// the difference. The grids keep the settings of their config files, which
// `piade train` accepts.
#include <fstream>
#include <map>
#include <regex>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade::test {
namespace {

namespace fs = std::filesystem;

const fs::path kPaper = PIADE_PAPER_DIR;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void write_png(const fs::path& file, const cv::Mat& image) {
  fs::create_directories(file.parent_path());
  ASSERT_TRUE(cv::imwrite(file.string(), image)) << file;
}

// A size x size colour image of `base` BGR colour with seeded noise, so that
// no two images are the same.
cv::Mat noisy(int size, cv::Scalar base, int seed) {
  cv::Mat image(size, size, CV_8UC3, base), noise(size, size, CV_8UC3);
  cv::RNG(seed).fill(noise, cv::RNG::UNIFORM, 0, 40);
  return image + noise;
}

// What every test run is cut down to: a few images, one epoch.
std::vector<std::string> quick(const fs::path& grid, const fs::path& data, const fs::path& out,
                               const std::string& classes) {
  return {"compare",         grid.string(),        "--set", "data-root=" + data.string(), "--classes", classes,
          "--set",           "epochs=1",           "--set", "batch-size=8",               "--set",     "max-train=8",
          "--set",           "max-test=12",        "--out", out.string(),                 "--jobs",    "2"};
}

// The metric of the run of `normal_class` in DIR/results.json.
double metric_of(const fs::path& out, const std::string& normal_class, const std::string& metric) {
  const nlohmann::json results = nlohmann::json::parse(read_text(out / "results.json"));
  for (const auto& run : results.at("runs"))
    if (run.at("class") == normal_class) return run.at("metrics").at(metric).get<double>();
  ADD_FAILURE() << "no run of class " << normal_class;
  return 0;
}

// The summary.md row of `normal_class`: published value, then the run's and
// its difference (one configuration).
std::string row(const std::string& normal_class, double published, double value) {
  return fmt::format("| {} | {:.4f} | {:.4f} | {:+.4f} |", normal_class, published, value, value - published);
}

// KEY = VALUE lines of a config or grid file up to its first [section].
std::map<std::string, std::string> base_settings(const fs::path& file) {
  std::map<std::string, std::string> settings;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') break;
    const auto eq = line.find('=');
    const auto trim = [](std::string text) {
      text.erase(0, text.find_first_not_of(' '));
      return text.erase(text.find_last_not_of(' ') + 1);
    };
    settings[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return settings;
}

TEST(PaperGrids, EachGridRunsItsConfigFileWhichPiadeTrainAccepts) {
  for (const std::string dataset : {"mvtec", "cifar10", "coil100"}) {
    const fs::path config = kPaper / (dataset + ".ini"), grid = kPaper / (dataset + "-grid.ini");
    const auto settings = base_settings(config);
    EXPECT_EQ(settings.at("dataset"), dataset);
    EXPECT_EQ(settings.at("epochs"), "400");  // Table 1
    EXPECT_EQ(settings.at("batch-size"), "120");
    EXPECT_EQ(base_settings(grid), settings) << grid << " and " << config << " differ";
    const CommandResult shown = run_piade_command({"train", "--config", config.string(), "--show-config"});
    EXPECT_EQ(shown.status, 0) << shown.output;
    // The authors' variants the file shows as comments ("#   key = value")
    // are settings piade knows, and fit together (weights files aside).
    std::vector<std::string> variant{"train", "--config", config.string(), "--show-config"};
    std::ifstream in(config);
    const std::regex commented(R"(^#   ([a-z][a-z0-9_.-]*) = (\S+).*)");
    std::smatch match;
    for (std::string line; std::getline(in, line);)
      if (std::regex_match(line, match, commented) && match[1].str().find("weights") == std::string::npos)
        variant.insert(variant.end(), {"--set", match[1].str() + "=" + match[2].str()});
    EXPECT_GE(variant.size(), 4u + 2 * 6) << config << ": the authors' switches are not shown";
    const CommandResult authors = run_piade_command(variant);
    EXPECT_EQ(authors.status, 0) << authors.output;
    EXPECT_NE(authors.output.find("train_vector = longest"), std::string::npos) << authors.output;
  }
}

TEST(PaperGrids, MvtecRunsOnMvtecFoldersAndShowsTable4BesideEachCategory) {
  ScratchDir dir;
  const fs::path data = dir / "mvtec", out = dir / "out";
  // Two categories as MVTec AD lays them out; 200 x 200 images, which the
  // grid resizes to 156 and crops to 120.
  for (const auto& [category, colour] : {std::pair<std::string, cv::Scalar>{"bottle", {40, 90, 140}},
                                         std::pair<std::string, cv::Scalar>{"hazelnut", {120, 60, 30}}}) {
    const fs::path root = data / category;
    for (int i = 0; i < 8; ++i) write_png(root / "train/good" / fmt::format("{:03d}.png", i), noisy(200, colour, i));
    for (int i = 0; i < 3; ++i) {
      write_png(root / "test/good" / fmt::format("{:03d}.png", i), noisy(200, colour, 100 + i));
      cv::Mat defect = noisy(200, colour, 200 + i), mask(200, 200, CV_8UC1, cv::Scalar(0));
      defect(cv::Rect(60 + 10 * i, 70, 50, 40)).setTo(cv::Scalar(255, 255, 255));
      mask(cv::Rect(60 + 10 * i, 70, 50, 40)).setTo(cv::Scalar(255));
      write_png(root / "test/crack" / fmt::format("{:03d}.png", i), defect);
      write_png(root / "ground_truth/crack" / fmt::format("{:03d}_mask.png", i), mask);
    }
  }
  const CommandResult result = run_piade_command(quick(kPaper / "mvtec-grid.ini", data, out, "bottle,hazelnut"));
  ASSERT_EQ(result.status, 0) << result.output;
  const std::string summary = read_text(out / "summary.md");
  // Table 4, bottle: TNR 0.87, TPR 1.00, their mean 0.935; hazelnut 0.89,
  // 0.97, 0.93.
  EXPECT_TRUE(contains(summary, "## best_balanced against the published numbers (mvtec-paper.csv)")) << summary;
  EXPECT_TRUE(contains(summary, row("bottle", 0.935, metric_of(out, "bottle", "best_balanced")))) << summary;
  EXPECT_TRUE(contains(summary, row("hazelnut", 0.93, metric_of(out, "hazelnut", "best_balanced")))) << summary;
  EXPECT_TRUE(contains(summary, row("bottle", 0.87, metric_of(out, "bottle", "best_tnr")))) << summary;
  EXPECT_TRUE(contains(summary, row("hazelnut", 0.97, metric_of(out, "hazelnut", "best_tpr")))) << summary;
  // The mean over the two categories run: (0.935 + 0.93) / 2.
  EXPECT_TRUE(contains(summary, "| **mean** | 0.9325 |")) << summary;
  const std::string report = read_text(out / "report.html");
  EXPECT_TRUE(contains(report, "<h2>best_tpr against the published numbers (mvtec-paper.csv)</h2>"));
  EXPECT_TRUE(contains(report, "<td>bottle</td><td>0.9350</td>"));
}

// CIFAR-10's binary batches: record = label byte + 32 x 32 x 3 planes; each
// class its own colour with noise.
std::string cifar_records(int per_class, int seed) {
  std::string bytes;
  cv::RNG rng(seed);
  for (int i = 0; i < per_class; ++i)
    for (int label = 0; label < 10; ++label) {
      bytes.push_back(char(label));
      for (int plane = 0; plane < 3; ++plane)
        for (int p = 0; p < 1024; ++p) bytes.push_back(char(20 * label + 40 * plane % 60 + rng.uniform(0, 30)));
    }
  return bytes;
}

TEST(PaperGrids, Cifar10RunsOnTheBinaryBatchesAndShowsTable2BesideEachClass) {
  ScratchDir dir;
  const fs::path data = dir / "cifar-10-batches-bin", out = dir / "out";
  fs::create_directories(data);
  for (int b = 1; b <= 5; ++b)
    std::ofstream(data / fmt::format("data_batch_{}.bin", b), std::ios::binary) << cifar_records(2, b);
  std::ofstream(data / "test_batch.bin", std::ios::binary) << cifar_records(3, 0);
  const CommandResult result = run_piade_command(quick(kPaper / "cifar10-grid.ini", data, out, "0,1"));
  ASSERT_EQ(result.status, 0) << result.output;
  const std::string summary = read_text(out / "summary.md");
  // Table 2: class 0 0.751, class 1 0.550; mean of the two 0.6505; the
  // table's own mean over ten classes 0.675 is stated apart.
  EXPECT_TRUE(contains(summary, "## image_auroc against the published numbers (cifar10-paper.csv)")) << summary;
  EXPECT_TRUE(contains(summary, row("0", 0.751, metric_of(out, "0", "image_auroc")))) << summary;
  EXPECT_TRUE(contains(summary, row("1", 0.550, metric_of(out, "1", "image_auroc")))) << summary;
  const double mean = (metric_of(out, "0", "image_auroc") + metric_of(out, "1", "image_auroc")) / 2;
  EXPECT_TRUE(contains(summary, fmt::format("| **mean** | 0.6505 | {:.4f} | {:+.4f} |", mean, mean - 0.6505)))
      << summary;
  EXPECT_TRUE(contains(summary, "states a published mean of 0.6750")) << summary;
  EXPECT_TRUE(contains(read_text(out / "report.html"), "<td>0</td><td>0.7510</td>"));
}

TEST(PaperGrids, Coil100RunsOnObjectPngsAndShowsTable3sMeanOnly) {
  ScratchDir dir;
  const fs::path data = dir / "coil-100", out = dir / "out";
  // Two objects, 72 views of 128 x 128 each (5 degrees apart), as COIL-100 unpacks.
  for (int object = 1; object <= 2; ++object)
    for (int angle = 0; angle < 360; angle += 5)
      write_png(data / fmt::format("obj{}__{}.png", object, angle),
                noisy(128, cv::Scalar(70 * object, 200 - 50 * object, 100), object * 1000 + angle));
  const CommandResult result = run_piade_command(quick(kPaper / "coil100-grid.ini", data, out, "1,2"));
  ASSERT_EQ(result.status, 0) << result.output;
  const std::string summary = read_text(out / "summary.md");
  // Table 3 gives only the mean over objects, 0.998: the table has the
  // mean row alone, against the mean over the objects run.
  const double mean = (metric_of(out, "1", "image_auroc") + metric_of(out, "2", "image_auroc")) / 2;
  EXPECT_TRUE(contains(summary, fmt::format("| **mean** | 0.9980 | {:.4f} | {:+.4f} |", mean, mean - 0.998)))
      << summary;
  EXPECT_TRUE(contains(summary, "only the published mean over classes (Table 3)")) << summary;
  EXPECT_FALSE(contains(summary, "\n| 1 |")) << summary;  // no per-object row
  // The reference travels with the grid's copy: --status reads DIR/grid.ini.
  EXPECT_TRUE(fs::exists(out / "coil100-paper.csv"));
  const CommandResult status = run_piade_command({"compare", out.string(), "--status"});
  EXPECT_EQ(status.status, 0) << status.output;
}

}  // namespace
}  // namespace piade::test
