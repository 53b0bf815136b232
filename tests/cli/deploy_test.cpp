// Deployment as a user does it, on the default model (se_resnet18 and every
// loss term, the perceptual loss's frozen VGG layers included) at 120 x 120:
// `piade eval --calibrate` writes a threshold that the next `piade score`
// decides with, `score_normalized` puts that threshold at 0.5, `piade score
// --threshold` overrides it for one run, and `piade export --format model`
// writes a model file at most half the checkpoint's size that scores
// bit-identically, that piade::Detector loads, and whose flipped bytes are
// found on load. One model, trained once for the whole program (see
// CMakeLists.txt).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <piade/detector.h>

#include "piade/core/checkpoint.h"
#include "piade/core/sha256.h"
#include "tests/support/files.h"
#include "tests/support/process.h"

namespace {

namespace fs = std::filesystem;

using piade::test::read_text;
using piade::test::RunResult;

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

// The built piade, without PIADE_PLUGIN_PATH: only the built-in plugins.
RunResult run(const std::vector<std::string>& args) { return piade::test::run_piade(args); }

// A CSV file as rows of column -> text.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& file) {
  const std::vector<std::string> lines = piade::test::lines(read_text(file));
  std::vector<std::map<std::string, std::string>> rows;
  if (lines.empty()) return rows;
  auto fields = [](const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string field; std::getline(in, field, ',');) out.push_back(field);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
  };
  const std::vector<std::string> header = fields(lines[0]);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> values = fields(lines[i]);
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < header.size() && c < values.size(); ++c) row[header[c]] = values[c];
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json read_json(const fs::path& file) { return nlohmann::json::parse(read_text(file)); }

// A double as text that reads back as the same double.
std::string exact_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// Checks the score CSV's decisions and normalised scores against
// `threshold`: anomalous is score > threshold, score_normalized is in
// [0, 1], above 0.5 exactly for anomalous rows, and never decreasing in the
// score. Returns the number of anomalous rows. (The CSV's 8 digits do not
// decide a score within 1e-7 of the threshold; piade decided on all of its
// digits.)
int check_decisions(const std::vector<std::map<std::string, std::string>>& rows, double threshold) {
  std::vector<std::pair<double, double>> by_score;
  int anomalous = 0;
  for (const auto& row : rows) {
    const double score = std::stod(row.at("score")), normalized = std::stod(row.at("score_normalized"));
    const bool flagged = row.at("anomalous") == "1";
    if (std::abs(score - threshold) > 1e-7 * std::abs(threshold)) {
      EXPECT_EQ(flagged, score > threshold) << row.at("path") << ": score " << score << ", threshold " << threshold;
    }
    EXPECT_EQ(normalized > 0.5, flagged) << row.at("path") << ": " << normalized;
    EXPECT_GE(normalized, 0.0);
    EXPECT_LE(normalized, 1.0);
    by_score.emplace_back(score, normalized);
    anomalous += flagged;
  }
  std::sort(by_score.begin(), by_score.end());
  for (std::size_t i = 1; i < by_score.size(); ++i)
    EXPECT_LE(by_score[i - 1].second, by_score[i].second) << "scores " << by_score[i - 1].first << ", "
                                                          << by_score[i].first;
  return anomalous;
}

std::string detector_error(const std::string& file) {
  try {
    piade::DetectorOptions options;
    options.threads = 2;
    piade::Detector detector(file, options);
  } catch (const piade::DetectorError& e) {
    return e.what();
  }
  return "(loaded)";
}

class DeployTest : public ::testing::Test {
 protected:
  static inline fs::path work_;
  static inline fs::path run_;    // the training output directory
  static inline fs::path model_;  // its model file
  static inline std::string setup_error_;

  static void SetUpTestSuite() {
    if (!fs::exists(kFashion + "/t10k-images-idx3-ubyte.gz")) {
      setup_error_ = "Debian's dataset-fashion-mnist is missing; tools/setup.sh installs it";
      return;
    }
    std::string pattern = (fs::temp_directory_path() / "piade-deploy-test-XXXXXX").string();
    work_ = fs::canonical(::mkdtemp(pattern.data()));
    run_ = work_ / "run";
    model_ = work_ / "m.piade";
    // The default pipeline; one step of training is enough to deploy it.
    const RunResult train = run({"train", "--dataset", "fmnist", "--normal-class", "1", "--image-size", "120",
                                 "--channels", "3", "--max-train", "16", "--batch-size", "16", "--epochs", "1",
                                 "--threads", "2", "--progress=false", "--out", run_.string()});
    if (train.exit_code != 0) {
      setup_error_ = "training failed:\n" + train.out + train.err;
      return;
    }
    const RunResult exported =
        run({"export", "--checkpoint", run_.string(), "--format", "model", "--out", model_.string()});
    if (exported.exit_code != 0) setup_error_ = "export failed:\n" + exported.out + exported.err;
  }

  static void TearDownTestSuite() {
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    std::error_code ec;
    if (suite != nullptr && suite->Passed()) fs::remove_all(work_, ec);
    else if (!work_.empty()) std::fprintf(stderr, "deploy test: kept %s for inspection\n", work_.c_str());
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  // `piade score` of the first `n` test images of the checkpoint's dataset.
  static RunResult score(const fs::path& checkpoint, const fs::path& out, int n,
                         const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {"score", "--checkpoint", checkpoint.string(), "--max-test", std::to_string(n),
                                     "--threads", "2", "--out", out.string()};
    args.insert(args.end(), more.begin(), more.end());
    return run(args);
  }

  static piade::DetectorOptions options() {
    piade::DetectorOptions options;
    options.threads = 2;
    return options;
  }

  // Seeded pictures of the kinds a camera gives: BGR, of another size.
  static std::vector<cv::Mat> pictures() {
    std::vector<cv::Mat> out;
    cv::RNG rng(7);
    for (int i = 0; i < 4; ++i) {
      cv::Mat picture(64 + 16 * i, 64, CV_8UC3);
      rng.fill(picture, cv::RNG::UNIFORM, 10 * i, 60 + 50 * i);
      out.push_back(picture);
    }
    return out;
  }
};

TEST_F(DeployTest, ModelFileIsAtMostHalfTheCheckpointAndScoresBitIdentically) {
  const fs::path checkpoint = run_ / "checkpoint.pt";
  const auto checkpoint_bytes = fs::file_size(checkpoint), model_bytes = fs::file_size(model_);
  std::printf("default model at 120 x 120 x 3: checkpoint.pt %ju bytes, m.piade %ju bytes (%.1f%%)\n",
              static_cast<uintmax_t>(checkpoint_bytes), static_cast<uintmax_t>(model_bytes),
              100.0 * double(model_bytes) / double(checkpoint_bytes));
  EXPECT_LE(2 * model_bytes, checkpoint_bytes);

  // The whole configuration, and where it came from.
  nlohmann::json meta = piade::read_checkpoint_meta(model_);
  EXPECT_EQ(meta.at("exported").at("from"), checkpoint.string());
  meta.erase("exported");
  EXPECT_EQ(meta, piade::read_checkpoint_meta(checkpoint));
  for (const char* key : {"pipeline", "preprocess", "config", "score_stats", "map_stats"})
    EXPECT_TRUE(meta.contains(key)) << key;

  const RunResult from_checkpoint = score(run_, work_ / "checkpoint.csv", 10);
  ASSERT_EQ(from_checkpoint.exit_code, 0) << from_checkpoint.err;
  const RunResult from_model = score(model_, work_ / "model.csv", 10);
  ASSERT_EQ(from_model.exit_code, 0) << from_model.err;
  EXPECT_EQ(read_text(work_ / "model.csv"), read_text(work_ / "checkpoint.csv"));
  EXPECT_EQ(piade::test::lines(read_text(work_ / "model.csv"))[0],
            "path,score,score_normalized,mse,ssim,perceptual,vector,anomalous");
  check_decisions(read_csv(work_ / "model.csv"), piade::checkpoint_threshold(meta));

  // `piade config --checkpoint` reads a model file's configuration too.
  const RunResult config_model = run({"config", "--checkpoint", model_.string()});
  const RunResult config_checkpoint = run({"config", "--checkpoint", run_.string()});
  ASSERT_EQ(config_model.exit_code, 0) << config_model.err;
  std::string same = config_model.out;  // but for the checkpoint's own line
  same.replace(same.find("checkpoint = " + model_.string()), 13 + model_.string().size(),
               "checkpoint = " + run_.string());
  EXPECT_EQ(same, config_checkpoint.out);
}

TEST_F(DeployTest, CalibratedThresholdDecidesTheNextScoring) {
  // A copy of the run, calibrated on its test split: 4 normal, 36 anomalous.
  const fs::path calibrated = work_ / "calibrated";
  fs::create_directories(calibrated);
  fs::copy_file(run_ / "checkpoint.pt", calibrated / "checkpoint.pt");
  const double trained = piade::checkpoint_threshold(piade::read_checkpoint_meta(run_ / "checkpoint.pt"));
  const RunResult eval = run({"eval", "--checkpoint", calibrated.string(), "--max-test", "40", "--pictures", "0",
                              "--threads", "2", "--calibrate", "percentile:50", "--out", (work_ / "e").string()});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.out.find("threshold "), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("written to " + (calibrated / "checkpoint.pt").string()), std::string::npos) << eval.out;

  const nlohmann::json metrics = read_json(work_ / "e" / "metrics.json");
  const nlohmann::json& calibration = metrics.at("calibration");
  const double threshold = calibration.at("threshold").get<double>();
  EXPECT_EQ(calibration.at("method"), "percentile:50");
  EXPECT_EQ(calibration.at("data"), "Fashion-MNIST class 1 (trouser)");
  EXPECT_EQ(calibration.at("n_normal"), 4);
  EXPECT_EQ(calibration.at("n_anomalous"), 36);
  EXPECT_EQ(calibration.at("previous_threshold").get<double>(), trained);
  EXPECT_EQ(calibration.at("previous_method"), "training-p99");
  EXPECT_FALSE(calibration.at("time").get<std::string>().empty());
  // The stored_threshold_* numbers say which threshold they used: this one.
  EXPECT_EQ(metrics.at("stored_threshold").get<double>(), threshold);
  EXPECT_EQ(metrics.at("stored_threshold_method"), "percentile:50");
  EXPECT_EQ(metrics.at("normalization").at("threshold").get<double>(), threshold);
  EXPECT_EQ(metrics.at("normalization").at("range"), "training scores");

  // The checkpoint holds it, and the rest of it is as it was.
  const nlohmann::json meta = piade::read_checkpoint_meta(calibrated / "checkpoint.pt");
  EXPECT_EQ(meta.at("calibration"), calibration);
  EXPECT_EQ(piade::checkpoint_threshold(meta), threshold);
  nlohmann::json rest = meta;
  rest.erase("calibration");
  EXPECT_EQ(rest, piade::read_checkpoint_meta(run_ / "checkpoint.pt"));

  // The same 40 images scored again: decided by the calibrated threshold,
  // with the rates the calibration reported.
  const RunResult scored = score(calibrated, work_ / "calibrated.csv", 40);
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  const auto rows = read_csv(work_ / "calibrated.csv");
  ASSERT_EQ(rows.size(), 40u);
  const auto evaluated = read_csv(work_ / "e" / "scores.csv");
  ASSERT_EQ(evaluated.size(), 40u);
  int tp = 0, tn = 0;
  std::size_t nearest = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].at("path"), evaluated[i].at("id"));
    EXPECT_EQ(rows[i].at("score_normalized"), evaluated[i].at("score_normalized")) << i;
    const bool flagged = rows[i].at("anomalous") == "1";
    tp += evaluated[i].at("label") == "1" && flagged;
    tn += evaluated[i].at("label") == "0" && !flagged;
    if (std::abs(std::stod(rows[i].at("score")) - threshold) <
        std::abs(std::stod(rows[nearest].at("score")) - threshold))
      nearest = i;
  }
  // The threshold is a normal image's score: that image is at 0.5 exactly.
  EXPECT_NEAR(std::stod(rows[nearest].at("score")), threshold, 1e-7 * threshold);
  EXPECT_EQ(rows[nearest].at("score_normalized"), "0.5");
  EXPECT_EQ(rows[nearest].at("anomalous"), "0");
  EXPECT_EQ(evaluated[nearest].at("label"), "0");
  check_decisions(rows, threshold);
  EXPECT_EQ(tp, std::lround(calibration.at("tpr").get<double>() * 36));
  EXPECT_EQ(tn, std::lround(calibration.at("tnr").get<double>() * 4));
  EXPECT_EQ(tn, 3) << "percentile 50 of 4 normal scores: the third lowest, so 3 normal images at or below it";
}

TEST_F(DeployTest, ScoreThresholdOverridesForOneRun) {
  const RunResult stored = score(model_, work_ / "stored.csv", 10);
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  std::vector<double> scores;
  for (const auto& row : read_csv(work_ / "stored.csv")) scores.push_back(std::stod(row.at("score")));
  std::sort(scores.begin(), scores.end());
  ASSERT_LT(scores[4], scores[5]);
  const double middle = (scores[4] + scores[5]) / 2;  // half the images above it

  const std::string before = read_text(model_);
  const RunResult overridden = score(model_, work_ / "overridden.csv", 10, {"--threshold", exact_text(middle)});
  ASSERT_EQ(overridden.exit_code, 0) << overridden.err;
  EXPECT_NE(overridden.err.find("(--threshold, for this run)"), std::string::npos) << overridden.err;
  EXPECT_EQ(check_decisions(read_csv(work_ / "overridden.csv"), middle), 5);
  EXPECT_EQ(read_text(model_), before) << "--threshold changes nothing in the file";

  const RunResult bad = score(model_, work_ / "bad.csv", 10, {"--threshold", "nan"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--threshold: must be a finite number"), std::string::npos) << bad.err;
}

TEST_F(DeployTest, CalibratingAModelFileAndLoadingItInTheDetector) {
  const fs::path file = work_ / "calibrated.piade";
  fs::copy_file(model_, file);
  const RunResult eval = run({"eval", "--checkpoint", file.string(), "--max-test", "20", "--pictures", "0",
                              "--threads", "2", "--calibrate", "f1", "--out", (work_ / "f1").string()});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const nlohmann::json metrics = read_json(work_ / "f1" / "metrics.json");
  const double threshold = metrics.at("calibration").at("threshold").get<double>();
  // Just below F1-max's threshold, so that `score > threshold` flags what it counted.
  EXPECT_EQ(threshold, std::nextafter(metrics.at("f1_threshold").get<double>(), 0.0));
  // The rewritten file's checksum holds, and it records the calibration.
  const std::string bytes = read_text(file);
  const std::string payload = bytes.substr(bytes.find('\n') + 1);
  EXPECT_EQ(bytes.rfind("piade-model 1 sha256 " + piade::sha256_hex(payload) + " ", 0), 0u);
  EXPECT_EQ(piade::read_checkpoint_meta(file).at("calibration").at("method"), "f1");

  piade::Detector detector(file.string(), options());
  EXPECT_EQ(detector.checkpoint_file(), file.string());
  EXPECT_EQ(detector.threshold(), threshold);
  EXPECT_EQ(detector.threshold_method(), "f1");
  EXPECT_EQ(detector.image_height(), 120);
  EXPECT_EQ(detector.loss_names(), std::vector<std::string>({"mse", "ssim", "perceptual"}));
  piade::Detector from_checkpoint(run_.string(), options());
  const std::vector<cv::Mat> images = pictures();
  const std::vector<piade::Detection> detections = detector.detect(images);
  const std::vector<piade::Detection> reference = from_checkpoint.detect(images);
  for (std::size_t i = 0; i < images.size(); ++i) {
    const piade::Detection& d = detections[i];
    EXPECT_EQ(d.score, reference[i].score) << i << ": the same weights";
    EXPECT_EQ(d.anomalous, d.score > threshold) << i;
    EXPECT_EQ(d.score_normalized > 0.5, d.anomalous) << i;
    EXPECT_GE(d.score_normalized, 0.0);
    EXPECT_LE(d.score_normalized, 1.0);
  }
  // A threshold at a picture's score puts it at 0.5 (the option, and later
  // set_threshold).
  const double first = detector.detect(images[1]).score, second = detector.detect(images[2]).score;
  piade::DetectorOptions with_threshold = options();
  with_threshold.threshold = first;
  piade::Detector overridden(file.string(), with_threshold);
  EXPECT_EQ(overridden.threshold(), first);
  EXPECT_EQ(overridden.threshold_method(), "option");
  EXPECT_EQ(overridden.detect(images[1]).score_normalized, 0.5);
  overridden.set_threshold(second);
  EXPECT_EQ(overridden.threshold_method(), "set_threshold");
  const piade::Detection at_threshold = overridden.detect(images[2]);
  EXPECT_EQ(at_threshold.score_normalized, 0.5);
  EXPECT_FALSE(at_threshold.anomalous);
}

TEST_F(DeployTest, AFlippedByteInTheModelFileIsFoundOnLoad) {
  std::string bytes = read_text(model_);
  bytes[bytes.size() / 3] = static_cast<char>(bytes[bytes.size() / 3] ^ 0x10);
  const fs::path damaged = work_ / "damaged.piade";
  piade::test::write_text(damaged, bytes);

  const RunResult scored = score(damaged, work_ / "damaged.csv", 2);
  EXPECT_EQ(scored.exit_code, 1);
  EXPECT_EQ(std::count(scored.err.begin(), scored.err.end(), '\n'), 1) << "one line: " << scored.err;
  EXPECT_NE(scored.err.find(damaged.string() + ": corrupt model file: the SHA-256 of its contents is"),
            std::string::npos)
      << scored.err;
  EXPECT_FALSE(fs::exists(work_ / "damaged.csv"));
  const RunResult config = run({"config", "--checkpoint", damaged.string()});
  EXPECT_EQ(config.exit_code, 1);
  EXPECT_NE(config.err.find(damaged.string() + ": corrupt model file"), std::string::npos) << config.err;
  const std::string message = detector_error(damaged.string());
  EXPECT_EQ(message.rfind("piade::Detector: " + damaged.string() + ": corrupt model file", 0), 0u) << message;
  EXPECT_EQ(detector_error(model_.string()), "(loaded)");
}

}  // namespace
