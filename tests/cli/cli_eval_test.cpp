// `piade eval` as a user runs it: on Debian's Fashion-MNIST (the one-class
// protocol), and on a small generated MVTec-style category with masks. The
// metrics it writes are checked against scikit-learn recomputing them from
// its own scores.csv.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using piade::test::CommandResult;

CommandResult run_piade(const std::vector<std::string>& args) { return piade::test::run_piade_command(args); }

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

std::vector<std::string> lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  return all;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// scikit-learn's image measures recomputed from eval's own scores.csv.
nlohmann::json sklearn_metrics(const fs::path& scores_csv) {
  const std::string script =
      "import csv, json, sys\n"
      "import numpy as np\n"
      "from sklearn.metrics import roc_auc_score, average_precision_score, roc_curve\n"
      "rows = list(csv.DictReader(open(sys.argv[1])))\n"
      "y = np.array([int(r['label']) for r in rows]); s = np.array([float(r['score']) for r in rows])\n"
      "fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)\n"
      "print(json.dumps({'auroc': roc_auc_score(y, s), 'ap': average_precision_score(y, s),\n"
      "                  'balanced': float(np.max((tpr + 1 - fpr) / 2)), 'n': len(rows)}))\n";
  const CommandResult result = piade::test::run_reference_python_code(script, {scores_csv.string()});
  EXPECT_EQ(result.status, 0) << result.output;
  return nlohmann::json::parse(result.output);
}

class CliEvalFashionMnist : public ::testing::Test {
 protected:
  // One small training run shared by every test here.
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
        << "Debian's dataset-fashion-mnist is missing; tools/setup.sh installs it";
    scratch_ = std::make_unique<piade::test::ScratchDir>();
    dir_ = scratch_->path();
    const CommandResult train = run_piade({"train", "--dataset", "fmnist", "--normal-class", "1", "--max-train", "96",
                                "--epochs", "2", "--batch-size", "32", "--backbone", "resnet18", "--loss",
                                "mse,ssim", "--threads", "2", "--progress=false", "--out",
                                (dir_ / "run").string()});
    ASSERT_EQ(train.status, 0) << train.output;
  }
  static void TearDownTestSuite() { scratch_.reset(); }
  static inline std::unique_ptr<piade::test::ScratchDir> scratch_;
  static fs::path dir_;
};
fs::path CliEvalFashionMnist::dir_;

TEST_F(CliEvalFashionMnist, WritesMetricsThatScikitLearnAgreesWith) {
  const fs::path out = dir_ / "eval";
  // No --dataset: the checkpoint's (Fashion-MNIST, class 1) is evaluated.
  const CommandResult eval = run_piade({"eval", "--checkpoint", (dir_ / "run").string(), "--max-test", "300", "--pictures",
                             "3", "--threads", "2", "--out", out.string()});
  ASSERT_EQ(eval.status, 0) << eval.output;
  const nlohmann::json metrics = read_json(out / "metrics.json");
  for (const char* key : {"image_auroc", "aupr", "best_tpr", "best_tnr", "f1_max", "n_normal", "n_anomalous"})
    EXPECT_TRUE(metrics.contains(key)) << key;
  EXPECT_EQ(metrics["description"], "Fashion-MNIST class 1 (trouser)");
  // --max-test keeps the protocol's 1:9 ratio.
  EXPECT_EQ(metrics["n_normal"], 30);
  EXPECT_EQ(metrics["n_anomalous"], 270);
  EXPECT_FALSE(metrics.contains("pixel_auroc"));  // no masks in Fashion-MNIST

  const std::vector<std::string> rows = lines(out / "scores.csv");
  ASSERT_EQ(rows.size(), 301u);
  EXPECT_EQ(rows[0], "id,label,score,score_normalized,mse,ssim,vector");
  const nlohmann::json reference = sklearn_metrics(out / "scores.csv");
  EXPECT_NEAR(metrics["image_auroc"].get<double>(), reference["auroc"].get<double>(), 1e-9);
  EXPECT_NEAR(metrics["aupr"].get<double>(), reference["ap"].get<double>(), 1e-9);
  EXPECT_NEAR((metrics["best_tpr"].get<double>() + metrics["best_tnr"].get<double>()) / 2,
              reference["balanced"].get<double>(), 1e-9);

  // The curves: ROC from (0,0) to (1,1), PR ending at recall 0.
  const std::vector<std::string> roc = lines(out / "roc.csv");
  ASSERT_GE(roc.size(), 3u);
  EXPECT_EQ(roc[0], "threshold,fpr,tpr");
  EXPECT_EQ(roc[1], "inf,0,0");
  EXPECT_THAT(roc.back(), ::testing::EndsWith(",1,1"));
  EXPECT_EQ(lines(out / "pr.csv")[0], "threshold,recall,precision");
  std::ifstream svg_in(out / "roc.svg");
  const std::string svg((std::istreambuf_iterator<char>(svg_in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(svg, HasSubstr("<svg"));
  char auroc_text[64];
  std::snprintf(auroc_text, sizeof auroc_text, "AUROC = %.4f", metrics["image_auroc"].get<double>());
  EXPECT_THAT(svg, HasSubstr(auroc_text));

  // 3 normal and 3 anomalous strips: input | reconstruction | overlay.
  const std::vector<fs::path> pictures = files_in(out / "pictures");
  ASSERT_EQ(pictures.size(), 6u);
  int normal = 0;
  for (const fs::path& picture : pictures) {
    normal += picture.filename().string().rfind("normal_", 0) == 0;
    const cv::Mat image = cv::imread(picture.string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(image.empty()) << picture;
    EXPECT_GT(image.cols, 3 * image.rows / 2) << "three panels side by side: " << picture;
  }
  EXPECT_EQ(normal, 3);
  EXPECT_THAT(eval.output, HasSubstr("image AUROC "));
  EXPECT_THAT(eval.output, HasSubstr("pictures: " + (out / "pictures").string()));
}

TEST_F(CliEvalFashionMnist, SameSeedSameNumbers) {
  const std::vector<std::string> args = {"eval", "--checkpoint", (dir_ / "run").string(), "--max-test", "100",
                                         "--pictures", "0", "--threads", "1", "--out"};
  std::vector<std::string> first = args, second = args;
  first.push_back((dir_ / "a").string());
  second.push_back((dir_ / "b").string());
  ASSERT_EQ(run_piade(first).status, 0);
  ASSERT_EQ(run_piade(second).status, 0);
  EXPECT_EQ(lines(dir_ / "a" / "scores.csv"), lines(dir_ / "b" / "scores.csv"));
  EXPECT_TRUE(files_in(dir_ / "a" / "pictures").empty());
}

// `piade score --dataset` scores the same test subset eval does (same seed),
// with the same numbers.
TEST_F(CliEvalFashionMnist, ScoreOnTheDatasetAgreesWithEval) {
  const std::string run = (dir_ / "run").string();
  ASSERT_EQ(run_piade({"eval", "--checkpoint", run, "--max-test", "50", "--pictures", "0", "--out",
                       (dir_ / "e").string()}).status, 0);
  const CommandResult score = run_piade({"score", "--checkpoint", run, "--dataset", "fmnist", "--max-test", "50",
                                         "--out", (dir_ / "s.csv").string()});
  ASSERT_EQ(score.status, 0) << score.output;
  const std::vector<std::string> evaluated = lines(dir_ / "e" / "scores.csv"), scored = lines(dir_ / "s.csv");
  ASSERT_EQ(evaluated.size(), 51u);
  ASSERT_EQ(scored.size(), 51u);
  EXPECT_EQ(scored[0], "path,score,score_normalized,mse,ssim,vector,anomalous");
  for (std::size_t i = 1; i < scored.size(); ++i) {
    // id,label,score,score_normalized,... against path,score,score_normalized,...:
    // the same image, the same score, normalised around the same threshold.
    const std::size_t id_end = evaluated[i].find(','), label_end = evaluated[i].find(',', id_end + 1);
    const std::string id = evaluated[i].substr(0, id_end);
    const std::size_t scores_end = evaluated[i].find(',', evaluated[i].find(',', label_end + 1) + 1);
    const std::string eval_scores = evaluated[i].substr(label_end + 1, scores_end - label_end - 1);
    const std::size_t scored_end = scored[i].find(',', scored[i].find(',', id.size() + 1) + 1);
    EXPECT_EQ(scored[i].substr(0, scored_end), id + "," + eval_scores) << i;
  }
}

TEST_F(CliEvalFashionMnist, RefusesAnotherGeometryAndMissingInput) {
  const std::string run = (dir_ / "run").string();
  CommandResult result = run_piade({"eval", "--checkpoint", run, "--image-size", "32", "--out", (dir_ / "x").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_THAT(result.output, HasSubstr("--image-size: "));
  EXPECT_THAT(result.output, HasSubstr("was trained with --image-size 28"));
  EXPECT_FALSE(fs::exists(dir_ / "x" / "metrics.json"));

  result = run_piade({"eval", "--checkpoint", run});
  EXPECT_EQ(result.status, 1);
  EXPECT_THAT(result.output, HasSubstr("eval: --out DIR is required"));

  result = run_piade({"eval", "--checkpoint", (dir_ / "nothing").string(), "--out", (dir_ / "x").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_THAT(result.output, HasSubstr((dir_ / "nothing").string()));
}

// A generated MVTec AD category: textured "good" images, and test images
// with a bright square defect whose mask marks it.
class CliEvalMvtec : public ::testing::Test {
 protected:
  void SetUp() override { root_ = scratch_.path(); }

  static cv::Mat good(int seed) {
    cv::Mat image(48, 48, CV_8UC3);
    cv::RNG rng(static_cast<uint64_t>(seed));
    rng.fill(image, cv::RNG::UNIFORM, 90, 110);
    cv::GaussianBlur(image, image, cv::Size(5, 5), 0);
    return image;
  }
  void write(const fs::path& file, const cv::Mat& image) {
    fs::create_directories(file.parent_path());
    ASSERT_TRUE(cv::imwrite(file.string(), image)) << file;
  }

  piade::test::ScratchDir scratch_;
  fs::path root_;
};

TEST_F(CliEvalMvtec, MasksGivePixelAurocAndPro) {
  const fs::path category = root_ / "data" / "tile";
  for (int i = 0; i < 24; ++i) write(category / "train" / "good" / cv::format("%03d.png", i), good(i));
  for (int i = 0; i < 4; ++i) write(category / "test" / "good" / cv::format("%03d.png", i), good(100 + i));
  for (int i = 0; i < 4; ++i) {
    cv::Mat image = good(200 + i), mask = cv::Mat::zeros(48, 48, CV_8UC1);
    const cv::Rect defect(6 + 8 * i, 10, 10, 10);
    image(defect).setTo(cv::Scalar(250, 250, 250));
    mask(defect).setTo(255);
    write(category / "test" / "crack" / cv::format("%03d.png", i), image);
    write(category / "ground_truth" / "crack" / cv::format("%03d_mask.png", i), mask);
  }
  const fs::path run = root_ / "run", out = root_ / "eval";
  CommandResult result = run_piade({"train", "--dataset", "mvtec", "--data-root", (root_ / "data").string(), "--category",
                         "tile", "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--backbone",
                         "resnet18", "--loss", "mse", "--threads", "2", "--progress=false", "--out", run.string()});
  ASSERT_EQ(result.status, 0) << result.output;
  result = run_piade({"eval", "--checkpoint", run.string(), "--pictures", "1", "--out", out.string()});
  ASSERT_EQ(result.status, 0) << result.output;
  const nlohmann::json metrics = read_json(out / "metrics.json");
  EXPECT_EQ(metrics["description"], "MVTec AD tile");
  EXPECT_EQ(metrics["n_normal"], 4);
  EXPECT_EQ(metrics["n_anomalous"], 4);
  EXPECT_EQ(metrics["n_regions"], 4);
  for (const char* key : {"pixel_auroc", "pro_auc"}) {
    ASSERT_TRUE(metrics.contains(key)) << key;
    EXPECT_GE(metrics[key].get<double>(), 0.0);
    EXPECT_LE(metrics[key].get<double>(), 1.0);
  }
  // A white square on mid-gray texture is far from anything seen in
  // training: the MSE map finds it.
  EXPECT_GT(metrics["pixel_auroc"].get<double>(), 0.8);
  EXPECT_THAT(result.output, HasSubstr("pixel AUROC"));
  EXPECT_EQ(files_in(out / "pictures").size(), 2u);
}

}  // namespace
