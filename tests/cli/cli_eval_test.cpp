// `piade eval` as a user runs it: on Debian's Fashion-MNIST (the one-class
// protocol), and on a small generated MVTec-style category with masks. The
// metrics it writes are checked against scikit-learn recomputing them from
// its own scores.csv.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <regex>
#include <set>
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
using ::testing::Not;

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

std::string read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::path& file : files_in(dir)) names.push_back(file.filename().string());
  return names;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Every picture of an eval: named by outcome (gallery.h), one image per
// picture, readable: wider than four enlarged panels (at least 128 pixels
// each) and taller than a panel plus the three lines of text.
void expect_readable_pictures(const fs::path& pictures, std::size_t count) {
  const std::vector<std::string> names = names_in(pictures);
  ASSERT_EQ(names.size(), count);
  const std::regex pattern("(true_positive|false_negative)_[A-Za-z0-9_-]+_[A-Za-z0-9_-]+\\.png|"
                           "(false_positive|true_negative)_good_[A-Za-z0-9_-]+\\.png");
  for (const std::string& name : names) {
    EXPECT_TRUE(std::regex_match(name, pattern)) << name;
    const cv::Mat image = cv::imread((pictures / name).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(image.empty()) << name;
    EXPECT_GT(image.cols, 4 * 128) << name;
    EXPECT_GT(image.rows, 128 + 3 * 12) << name;
  }
}

// One row of eval's scores.csv.
struct ScoreRow {
  std::string id;
  int label = 0;
  double score = 0;
};

std::vector<ScoreRow> score_rows(const fs::path& scores_csv) {
  std::vector<ScoreRow> rows;
  const std::vector<std::string> all = lines(scores_csv);
  for (std::size_t i = 1; i < all.size(); ++i) {
    std::istringstream fields(all[i]);
    ScoreRow row;
    std::string label, score;
    std::getline(fields, row.id, ',');
    std::getline(fields, label, ',');
    std::getline(fields, score, ',');
    row.label = std::stoi(label);
    row.score = std::stod(score);
    rows.push_back(row);
  }
  return rows;
}

// The report in a real browser: chromium loads it headless, runs its check
// script and dumps the DOM. Empty when it ran; otherwise why not.
struct BrowserRun {
  std::string skipped;  // why chromium could not run here
  int exit_code = 0;
  std::string dom, log;
};

BrowserRun open_in_chromium(const fs::path& page) {
  BrowserRun run;
  const piade::test::RunResult found = piade::test::run_command_apart("command -v chromium");
  if (found.exit_code != 0) {
    run.skipped = "chromium is not installed (apt-get install chromium; tools/debian-packages.txt lists it)";
    return run;
  }
  const piade::test::ScratchDir profile;
  // --vmodule logs each file:// load, so a page that fetched anything but
  // itself shows it.
  const piade::test::RunResult result = piade::test::run_command_apart(
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
      piade::test::shell_quote(profile.path().string()) +
      " --virtual-time-budget=10000 --enable-logging=stderr --v=0 --vmodule=file_url_loader_factory=1 --dump-dom " +
      piade::test::shell_quote("file://" + fs::absolute(page).string()));
  run.exit_code = result.exit_code;
  run.dom = result.out;
  run.log = result.err;
  if (result.exit_code != 0 && result.out.empty())
    run.skipped = "chromium could not start here (exit " + std::to_string(result.exit_code) + "):\n" + result.err;
  return run;
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

  // The other curve and the report; no pixel curves without masks.
  EXPECT_THAT(read_all(out / "pr.svg"), HasSubstr("(AP = "));
  EXPECT_FALSE(fs::exists(out / "pixel_roc.svg"));
  EXPECT_FALSE(fs::exists(out / "pro.svg"));
  EXPECT_TRUE(fs::exists(out / "report.html"));
  // 30 normal and 270 anomalous images: no warning about them.
  EXPECT_THAT(eval.output, Not(HasSubstr("not reliable")));

  // 3 normal and 3 anomalous pictures, named by their outcome at the stored
  // threshold, the worst errors first: the false positives drawn are the
  // highest-scoring normal images above it, the false negatives the
  // lowest-scoring anomalous ones below it (checked against scores.csv).
  expect_readable_pictures(out / "pictures", 6);
  ASSERT_TRUE(metrics.contains("stored_threshold"));
  const double threshold = metrics["stored_threshold"].get<double>();
  std::vector<ScoreRow> normal, anomalous;
  for (const ScoreRow& row : score_rows(out / "scores.csv")) (row.label ? anomalous : normal).push_back(row);
  std::stable_sort(normal.begin(), normal.end(), [](const ScoreRow& a, const ScoreRow& b) { return a.score > b.score; });
  std::stable_sort(anomalous.begin(), anomalous.end(),
                   [](const ScoreRow& a, const ScoreRow& b) { return a.score < b.score; });
  const auto record = [](const std::string& id) { return id.substr(id.rfind('#') + 1); };
  std::set<std::string> expected_fp, expected_fn, drawn_fp, drawn_fn;
  for (std::size_t i = 0; i < 3; ++i) {
    if (normal[i].score > threshold) expected_fp.insert(record(normal[i].id));
    if (anomalous[i].score <= threshold) expected_fn.insert(record(anomalous[i].id));
  }
  int good = 0;
  for (const std::string& name : names_in(out / "pictures")) {
    good += name.find("_good_") != std::string::npos;
    // "<outcome>_<kind>_<record>.png"
    const std::string id = name.substr(name.rfind('_') + 1, name.size() - name.rfind('_') - 5);
    if (starts_with(name, "false_positive_")) drawn_fp.insert(id);
    if (starts_with(name, "false_negative_")) drawn_fn.insert(id);
  }
  EXPECT_EQ(good, 3);
  EXPECT_EQ(drawn_fp, expected_fp);
  EXPECT_EQ(drawn_fn, expected_fn);
  // An anomalous image is named by its Fashion-MNIST class.
  for (const std::string& name : names_in(out / "pictures")) {
    if (name.find("_good_") == std::string::npos) {
      EXPECT_THAT(name, ::testing::MatchesRegex("(true_positive|false_negative)_(T-shirt_top|pullover|dress|coat|"
                                                "sandal|shirt|sneaker|bag|ankle_boot)_[0-9]+\\.png"));
    }
  }
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

// Which routed vector each test image was decoded from, per label: in
// metrics.json, its printout and report.html, and the counts agree with the
// per-image vector column of scores.csv.
TEST_F(CliEvalFashionMnist, ReportsTheShareOfImagesDecodedFromEachVector) {
  const fs::path out = dir_ / "shares";
  const CommandResult eval = run_piade({"eval", "--checkpoint", (dir_ / "run").string(), "--max-test", "100",
                                        "--pictures", "0", "--threads", "2", "--out", out.string()});
  ASSERT_EQ(eval.status, 0) << eval.output;
  const nlohmann::json metrics = read_json(out / "metrics.json");
  std::map<int, std::vector<double>> counted = {{0, {0, 0}}, {1, {0, 0}}};
  const std::vector<std::string> rows = lines(out / "scores.csv");
  ASSERT_EQ(rows.size(), 101u);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const int label = rows[i][rows[i].find(',') + 1] - '0';
    const int vector = std::stoi(rows[i].substr(rows[i].rfind(',') + 1));
    ASSERT_TRUE(vector == 0 || vector == 1) << rows[i];
    counted[label][std::size_t(vector)] += 1;
  }
  for (const auto& [key, label] : {std::pair<const char*, int>{"vector_share_normal", 0}, {"vector_share_anomalous", 1}}) {
    ASSERT_TRUE(metrics.contains(key)) << key;
    const std::vector<double> shares = metrics[key].get<std::vector<double>>();
    ASSERT_EQ(shares.size(), 2u) << key;  // the paper's two vectors
    double sum = 0;
    for (std::size_t k = 0; k < shares.size(); ++k) {
      EXPECT_GE(shares[k], 0) << key;
      EXPECT_LE(shares[k], 1) << key;
      const double total = counted[label][0] + counted[label][1];
      EXPECT_DOUBLE_EQ(shares[k], counted[label][k] / total) << key << " " << k;
      sum += shares[k];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12) << key;
  }
  EXPECT_THAT(eval.output, ::testing::ContainsRegex("decoded vector share: normal 0: [0-9.]+, 1: [0-9.]+; "
                                                    "anomalous 0: [0-9.]+, 1: [0-9.]+"));
  EXPECT_THAT(read_all(out / "report.html"), HasSubstr("vector_share_anomalous"));
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
// with a bright square defect whose mask marks it. One training run and one
// evaluation (two pictures per label) shared by every test here.
class CliEvalMvtec : public ::testing::Test {
 protected:
  static cv::Mat good(int seed) {
    cv::Mat image(48, 48, CV_8UC3);
    cv::RNG rng(static_cast<uint64_t>(seed));
    rng.fill(image, cv::RNG::UNIFORM, 90, 110);
    cv::GaussianBlur(image, image, cv::Size(5, 5), 0);
    return image;
  }
  static cv::Mat defective(int i, cv::Mat* mask) {
    cv::Mat image = good(200 + i);
    *mask = cv::Mat::zeros(48, 48, CV_8UC1);
    const cv::Rect defect(6 + 8 * i, 10, 10, 10);
    image(defect).setTo(cv::Scalar(250, 250, 250));
    (*mask)(defect).setTo(255);
    return image;
  }
  static void write(const fs::path& file, const cv::Mat& image) {
    fs::create_directories(file.parent_path());
    ASSERT_TRUE(cv::imwrite(file.string(), image)) << file;
  }

  static void SetUpTestSuite() {
    scratch_ = std::make_unique<piade::test::ScratchDir>();
    root_ = scratch_->path();
    const fs::path category = root_ / "data" / "tile";
    for (int i = 0; i < 24; ++i) write(category / "train" / "good" / cv::format("%03d.png", i), good(i));
    for (int i = 0; i < 4; ++i) write(category / "test" / "good" / cv::format("%03d.png", i), good(100 + i));
    for (int i = 0; i < 4; ++i) {
      cv::Mat mask;
      write(category / "test" / "crack" / cv::format("%03d.png", i), defective(i, &mask));
      write(category / "ground_truth" / "crack" / cv::format("%03d_mask.png", i), mask);
    }
    const CommandResult train =
        run_piade({"train", "--dataset", "mvtec", "--data-root", (root_ / "data").string(), "--category", "tile",
                   "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--backbone", "resnet18", "--loss", "mse",
                   "--threads", "2", "--progress=false", "--out", (root_ / "run").string()});
    ASSERT_EQ(train.status, 0) << train.output;
    eval_ = run_piade({"eval", "--checkpoint", (root_ / "run").string(), "--pictures", "2", "--threads", "2", "--out",
                       (root_ / "eval").string()});
    ASSERT_EQ(eval_.status, 0) << eval_.output;
  }
  static void TearDownTestSuite() { scratch_.reset(); }

  static inline std::unique_ptr<piade::test::ScratchDir> scratch_;
  static inline fs::path root_;
  static inline CommandResult eval_;
};

TEST_F(CliEvalMvtec, MasksGivePixelAurocAndPro) {
  const fs::path out = root_ / "eval";
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
  EXPECT_THAT(eval_.output, HasSubstr("pixel AUROC"));
}

TEST_F(CliEvalMvtec, WritesEveryCurveAndReadablePicturesNamedByOutcome) {
  const fs::path out = root_ / "eval";
  for (const char* name : {"roc.svg", "pr.svg", "pixel_roc.svg", "pro.svg"}) {
    const std::string svg = read_all(out / name);
    EXPECT_THAT(svg, HasSubstr("<svg")) << name;
    EXPECT_THAT(svg, HasSubstr("</svg>")) << name;
  }
  const nlohmann::json metrics = read_json(out / "metrics.json");
  char text[64];
  std::snprintf(text, sizeof text, "pixel ROC (AUROC = %.4f)", metrics["pixel_auroc"].get<double>());
  EXPECT_THAT(read_all(out / "pixel_roc.svg"), HasSubstr(text));
  std::snprintf(text, sizeof text, "PRO (normalised PRO area = %.4f)", metrics["pro_auc"].get<double>());
  EXPECT_THAT(read_all(out / "pro.svg"), HasSubstr(text));
  EXPECT_THAT(read_all(out / "pro.svg"), HasSubstr(">0.30<"));  // the x axis ends at --max-fpr
  // Two per label; anomalous ones are named by their defect directory, and
  // with masks each picture has five panels.
  expect_readable_pictures(out / "pictures", 4);
  int crack = 0;
  for (const std::string& name : names_in(out / "pictures")) {
    crack += name.find("_crack_") != std::string::npos;
    EXPECT_GT(cv::imread((out / "pictures" / name).string()).cols, 5 * 128) << name;
  }
  EXPECT_EQ(crack, 2);
}

TEST_F(CliEvalMvtec, WarnsThatFourImagesOfALabelAreTooFew) {
  EXPECT_THAT(eval_.output, HasSubstr("piade: warning: only 4 normal and 4 anomalous test images (fewer than 10 of a "
                                      "label): the metrics are not reliable"));
  EXPECT_THAT(read_all(root_ / "eval" / "report.html"), HasSubstr("the metrics are not reliable"));
}

TEST_F(CliEvalMvtec, WarnsWhenTheScoresLookInverted) {
  // The same category with its labels swapped: the defective images as
  // test/good, the good ones as test/crack.
  const fs::path category = root_ / "swapped" / "tile";
  write(category / "train" / "good" / "000.png", good(0));
  for (int i = 0; i < 4; ++i) {
    cv::Mat mask;
    write(category / "test" / "good" / cv::format("%03d.png", i), defective(i, &mask));
    write(category / "test" / "crack" / cv::format("%03d.png", i), good(100 + i));
  }
  const CommandResult result =
      run_piade({"eval", "--checkpoint", (root_ / "run").string(), "--data-root", (root_ / "swapped").string(),
                 "--pictures", "0", "--threads", "2", "--out", (root_ / "swapped_eval").string()});
  ASSERT_EQ(result.status, 0) << result.output;
  const double auroc = read_json(root_ / "swapped_eval" / "metrics.json")["image_auroc"].get<double>();
  ASSERT_LT(auroc, 0.5) << "the fixture's model should rank the white squares highest";
  EXPECT_THAT(result.output, HasSubstr("is below 0.5: scores look inverted: the wrong --normal-class, or the wrong "
                                       "checkpoint?"));
  // The original order gives no such warning.
  EXPECT_THAT(eval_.output, Not(HasSubstr("scores look inverted")));
}

// The report opens in a real browser (Debian's chromium, headless) with
// nothing but itself: every picture decodes from its data: URI, and no
// other file is fetched.
TEST_F(CliEvalMvtec, ReportOpensInABrowserWithEveryPicture) {
  const fs::path page = root_ / "eval" / "report.html";
  const std::string html = read_all(page);
  EXPECT_THAT(html, HasSubstr("<h2>Metrics</h2>"));
  EXPECT_EQ(std::regex_search(html, std::regex("<(link|iframe)|src=\"(?!data:)")), false);
  const BrowserRun browser = open_in_chromium(page);
  if (!browser.skipped.empty()) GTEST_SKIP() << browser.skipped;
  ASSERT_EQ(browser.exit_code, 0) << browser.log;
  EXPECT_THAT(browser.log, Not(HasSubstr("Failed to load resource")));
  EXPECT_THAT(browser.log, Not(HasSubstr("ERR_FILE_NOT_FOUND")));
  // Only the page itself was read from disk.
  const std::regex file_load("FileURLLoader::Start: (\\S+)");
  std::vector<std::string> loaded;
  for (std::sregex_iterator it(browser.log.begin(), browser.log.end(), file_load), end; it != end; ++it)
    loaded.push_back((*it)[1]);
  EXPECT_EQ(loaded, std::vector<std::string>{"file://" + fs::absolute(page).string()}) << browser.log;
  // The page's own check, run on the load event: every <img> decoded, and
  // there is one per picture written, four charts inline.
  const std::size_t pictures = files_in(root_ / "eval" / "pictures").size();
  ASSERT_EQ(pictures, 4u);
  EXPECT_THAT(browser.dom, HasSubstr("<span id=\"images-loaded\">" + std::to_string(pictures) +
                                     "</span> of <span id=\"images-total\">" + std::to_string(pictures) + "</span>"))
      << browser.dom.substr(browser.dom.size() > 2000 ? browser.dom.size() - 2000 : 0);
  std::size_t charts = 0;
  for (auto at = browser.dom.find("<svg"); at != std::string::npos; at = browser.dom.find("<svg", at + 1)) ++charts;
  EXPECT_EQ(charts, 4u);
}

}  // namespace
