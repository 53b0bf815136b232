// piade::Detector as an inspection program uses it, checked against `piade
// score` on the same files: equal scores, terms and decisions; anomaly maps
// that are the weighted sum of the terms' maps, at the picture's size;
// batches equal single calls; errors that name the problem. And `piade
// score --maps`: one map per input at its own size, distinct names for equal
// stems, the same colours as the Detector's map on the checkpoint's fixed
// scale.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <piade/detector.h>
#include <torch/torch.h>

#include "piade/datasets/idx.h"
#include "piade/core/checkpoint.h"
#include "piade/eval/pictures.h"
#include "tests/support/fixture_plugins.h"
#include "tests/support/process.h"

namespace {

namespace fs = std::filesystem;

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

struct Result {
  int status = -1;
  std::string out, err;
};

using piade::test::read_text;

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  return parts;
}

// The built piade, without PIADE_PLUGIN_PATH: only the built-in plugins.
Result run(const std::vector<std::string>& args) {
  const piade::test::RunResult run = piade::test::run_piade(args);
  return {run.exit_code, run.out, run.err};
}

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const piade::DetectorError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a DetectorError: ") + e.what();
  }
  return "(no error)";
}

bool near(double a, double b, double relative = 1e-5) {
  return std::abs(a - b) <= relative * std::max({std::abs(a), std::abs(b), 1e-3});
}

// One tiny model and a set of picture files, made once per test process.
class DetectorTest : public ::testing::Test {
 protected:
  static inline fs::path work_;
  static inline fs::path run_;                 // the training output directory
  static inline std::vector<fs::path> files_;  // the pictures, in `piade score` order
  static inline std::string setup_error_;

  static void SetUpTestSuite() {
    if (!fs::exists(kFashion + "/t10k-images-idx3-ubyte.gz")) {
      setup_error_ = "Debian's dataset-fashion-mnist is missing; tools/setup.sh installs it";
      return;
    }
    std::string pattern = (fs::temp_directory_path() / "piade-detector-test-XXXXXX").string();
    work_ = fs::canonical(::mkdtemp(pattern.data()));
    run_ = work_ / "run";
    // mse + 2 * ssim: the map, the score and the decision are weighted sums.
    const Result train = run({"train", "--dataset", "fmnist", "--max-train", "64", "--batch-size", "16",
                                     "--epochs", "1", "--backbone", "resnet18", "--loss", "mse,ssim", "--set",
                                     "loss.ssim.weight=2", "--threads", "2", "--progress=false", "--out",
                                     run_.string()});
    if (train.status != 0) {
      setup_error_ = "training failed:\n" + train.out + train.err;
      return;
    }
    // Pictures of every kind a user may have: Fashion-MNIST test images as
    // gray PNGs, a larger colour PNG, a non-square gray one, a colour JPEG,
    // a BGRA PNG, and two files with one stem in two directories.
    const piade::ImageSet test = piade::read_idx(kFashion + "/t10k-images-idx3-ubyte.gz",
                                                 kFashion + "/t10k-labels-idx1-ubyte.gz");
    auto picture = [&](int64_t i) {
      const torch::Tensor t = test.images[i][0].contiguous();
      return cv::Mat(28, 28, CV_8U, t.data_ptr<uint8_t>()).clone();
    };
    const fs::path dir = work_ / "pictures";
    fs::create_directories(dir / "a");
    fs::create_directories(dir / "b");
    auto write = [&](const fs::path& file, const cv::Mat& image) {
      if (!cv::imwrite(file.string(), image)) setup_error_ = "cannot write " + file.string();
      files_.push_back(file);
    };
    for (int64_t i = 0; i < 4; ++i) write(dir / ("fmnist" + std::to_string(i) + ".png"), picture(i));
    cv::Mat large, color;
    cv::resize(picture(4), large, cv::Size(56, 56), 0, 0, cv::INTER_CUBIC);
    cv::merge(std::vector<cv::Mat>{large, 255 - large, large / 2}, color);
    write(dir / "color.png", color);
    cv::Mat wide;
    cv::resize(picture(5), wide, cv::Size(40, 30), 0, 0, cv::INTER_LINEAR);
    write(dir / "wide.png", wide);
    cv::Mat photo;
    cv::resize(color, photo, cv::Size(64, 48));
    write(dir / "photo.jpg", photo);
    cv::Mat bgra;
    cv::cvtColor(picture(6), bgra, cv::COLOR_GRAY2BGRA);
    write(dir / "alpha.png", bgra);
    write(dir / "a" / "shirt.png", picture(7));
    write(dir / "b" / "shirt.png", picture(8));
  }

  static void TearDownTestSuite() {
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    std::error_code ec;
    if (suite != nullptr && suite->Passed()) fs::remove_all(work_, ec);
    else if (!work_.empty()) std::fprintf(stderr, "detector test: kept %s for inspection\n", work_.c_str());
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static std::vector<std::string> file_names() {
    std::vector<std::string> names;
    for (const fs::path& file : files_) names.push_back(file.string());
    return names;
  }

  // `piade score`'s CSV for every picture, by path.
  static std::map<std::string, std::vector<std::string>> score_csv(std::string* header) {
    const Result score = run([] {
      std::vector<std::string> args = {"score", "--checkpoint", run_.string(), "--threads", "2"};
      for (const std::string& file : file_names()) args.push_back(file);
      return args;
    }());
    EXPECT_EQ(score.status, 0) << score.err;
    std::map<std::string, std::vector<std::string>> rows;
    const std::vector<std::string> lines = split(score.out, '\n');
    if (!lines.empty()) *header = lines[0];
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const std::vector<std::string> fields = split(lines[i], ',');
      rows[fields[0]] = fields;
    }
    return rows;
  }

  static piade::DetectorOptions options() {
    piade::DetectorOptions options;
    options.threads = 2;
    return options;
  }
};

TEST_F(DetectorTest, ScoresEqualPiadeScoreForTheSameFiles) {
  std::string header;
  const auto rows = score_csv(&header);
  ASSERT_EQ(header, "path,score,score_normalized,mse,ssim,vector,anomalous");
  ASSERT_EQ(rows.size(), files_.size());
  piade::Detector detector(run_.string(), options());
  EXPECT_EQ(detector.loss_names(), std::vector<std::string>({"mse", "ssim"}));
  EXPECT_EQ(detector.image_channels(), 1);
  EXPECT_EQ(detector.image_height(), 28);
  EXPECT_EQ(detector.image_width(), 28);
  EXPECT_EQ(detector.checkpoint_file(), (run_ / "checkpoint.pt").string());
  for (const fs::path& file : files_) {
    const auto& row = rows.at(file.string());
    // As a user reads it: cv::imread's default, BGR even for gray files.
    const piade::Detection d = detector.detect(cv::imread(file.string()));
    EXPECT_TRUE(near(d.score, std::stod(row[1]))) << file << ": " << d.score << " vs " << row[1];
    EXPECT_NEAR(d.score_normalized, std::stod(row[2]), 1e-6) << file;
    ASSERT_EQ(d.terms.size(), 2u);
    EXPECT_EQ(d.terms[0].first, "mse");
    EXPECT_EQ(d.terms[1].first, "ssim");
    EXPECT_TRUE(near(d.terms[0].second, std::stod(row[3]))) << file;
    EXPECT_TRUE(near(d.terms[1].second, std::stod(row[4]))) << file;
    EXPECT_EQ(d.vector, std::stoll(row[5])) << file;
    EXPECT_EQ(d.anomalous ? "1" : "0", row[6]) << file << " score " << d.score;
    EXPECT_TRUE(near(d.score, d.terms[0].second + 2 * d.terms[1].second)) << file;
  }
  // cv::IMREAD_UNCHANGED (gray stays gray, BGRA keeps its alpha) scores alike.
  std::vector<cv::Mat> unchanged;
  for (const fs::path& file : files_) unchanged.push_back(cv::imread(file.string(), cv::IMREAD_UNCHANGED));
  const std::vector<piade::Detection> detections = detector.detect(unchanged);
  for (std::size_t i = 0; i < files_.size(); ++i)
    EXPECT_TRUE(near(detections[i].score, std::stod(rows.at(files_[i].string())[1]))) << files_[i];
}

TEST_F(DetectorTest, DecisionIsScoreAboveTheThreshold) {
  piade::Detector detector(run_.string(), options());
  const nlohmann::json meta = piade::read_checkpoint_meta(run_ / "checkpoint.pt");
  EXPECT_DOUBLE_EQ(detector.threshold(), meta.at("score_stats").at("threshold").get<double>());
  std::vector<cv::Mat> images;
  for (const fs::path& file : files_) images.push_back(cv::imread(file.string()));
  std::vector<double> scores;
  for (const piade::Detection& d : detector.detect(images)) {
    EXPECT_EQ(d.anomalous, d.score > detector.threshold());
    scores.push_back(d.score);
  }
  // A threshold between the scores splits them.
  std::sort(scores.begin(), scores.end());
  const double middle = (scores[3] + scores[4]) / 2;
  detector.set_threshold(middle);
  EXPECT_EQ(detector.threshold(), middle);
  int anomalous = 0;
  for (const piade::Detection& d : detector.detect(images)) {
    EXPECT_EQ(d.anomalous, d.score > middle);
    anomalous += d.anomalous;
  }
  EXPECT_EQ(anomalous, int(images.size()) - 4);
  detector.set_threshold(std::nan(""));
  for (const piade::Detection& d : detector.detect(images)) EXPECT_FALSE(d.anomalous);
}

TEST_F(DetectorTest, AnomalyMapIsTheWeightedSumOfTheTermMapsAtThePicturesSize) {
  piade::DetectorOptions with_reconstructions = options();
  with_reconstructions.reconstructions = true;
  piade::Detector detector(run_.string(), with_reconstructions);
  std::vector<cv::Mat> images;
  for (const fs::path& file : files_) images.push_back(cv::imread(file.string(), cv::IMREAD_UNCHANGED));
  const std::vector<piade::Detection> detections = detector.detect(images);
  for (std::size_t i = 0; i < files_.size(); ++i) {
    const fs::path& file = files_[i];
    const cv::Mat& image = images[i];
    const piade::Detection& d = detections[i];
    ASSERT_EQ(d.anomaly_map.type(), CV_32F) << file;
    EXPECT_EQ(d.anomaly_map.size(), image.size()) << file;
    ASSERT_EQ(d.reconstruction.type(), CV_8UC1) << file;
    EXPECT_EQ(d.reconstruction.size(), cv::Size(28, 28)) << file;
    double lowest = 0;
    cv::minMaxLoc(d.anomaly_map, &lowest);
    EXPECT_GE(lowest, -1e-6) << file;  // squared errors and 1 - SSIM (<= 1 here)
    if (image.size() != cv::Size(28, 28)) continue;
    // At the network size the map is exactly mse + 2 * (1 - SSIM) per pixel:
    // its mean is the score.
    EXPECT_TRUE(near(cv::mean(d.anomaly_map)[0], d.score)) << file << ": " << cv::mean(d.anomaly_map)[0]
                                                           << " vs " << d.score;
    // Independently: the mse term from the picture and the reconstruction
    // (rounded to 8 bits, hence the tolerance), both in [-1, 1].
    cv::Mat x, y, gray = image;
    if (image.channels() == 4) cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
    gray.convertTo(x, CV_64F, 2.0 / 255, -1);
    d.reconstruction.convertTo(y, CV_64F, 2.0 / 255, -1);
    const double mse = cv::mean((x - y).mul(x - y))[0];
    EXPECT_NEAR(mse, d.terms[0].second, 0.02 * d.terms[0].second + 1e-3) << file;
  }
}

TEST_F(DetectorTest, ABatchGivesWhatSingleCallsGive) {
  piade::DetectorOptions small_batches = options();
  small_batches.batch_size = 3;  // 10 pictures: batches of 3, 3, 3 and 1
  piade::Detector detector(run_.string(), small_batches);
  std::vector<cv::Mat> images;
  for (const fs::path& file : files_) images.push_back(cv::imread(file.string()));
  const std::vector<piade::Detection> batch = detector.detect(images);
  ASSERT_EQ(batch.size(), images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    const piade::Detection single = detector.detect(images[i]);
    EXPECT_TRUE(near(batch[i].score, single.score)) << files_[i];
    EXPECT_EQ(batch[i].vector, single.vector) << files_[i];
    EXPECT_EQ(batch[i].anomalous, single.anomalous) << files_[i];
    ASSERT_EQ(batch[i].anomaly_map.size(), single.anomaly_map.size()) << files_[i];
    double largest = 0;
    cv::minMaxLoc(single.anomaly_map, nullptr, &largest);
    // Batched convolutions may sum in another order: equal to float precision.
    EXPECT_LE(cv::norm(batch[i].anomaly_map, single.anomaly_map, cv::NORM_INF), 1e-4 * largest) << files_[i];
  }
  EXPECT_TRUE(detector.detect(std::vector<cv::Mat>{}).empty());
}

TEST_F(DetectorTest, OverlayAndMovesWork) {
  piade::Detector first(run_.string(), options());
  const nlohmann::json meta = piade::read_checkpoint_meta(run_ / "checkpoint.pt");
  ASSERT_TRUE(meta.contains("map_stats"));
  const double recorded = meta["map_stats"]["max_p99"].get<double>();
  EXPECT_GT(recorded, 0.0);
  EXPECT_LE(recorded, meta["map_stats"]["max_max"].get<double>());
  EXPECT_EQ(first.map_max(), recorded);

  piade::Detector detector = std::move(first);
  const cv::Mat image = cv::imread(files_[4].string());  // the 56x56 colour picture
  const piade::Detection d = detector.detect(image);
  const cv::Mat picture = detector.overlay(image, d);
  EXPECT_EQ(picture.type(), CV_8UC3);
  EXPECT_EQ(picture.size(), image.size());
  const cv::Mat expected = piade::overlay(image, piade::colorize_map(d.anomaly_map, 0.0, recorded), 0.5);
  EXPECT_EQ(cv::norm(picture, expected, cv::NORM_INF), 0.0);
  EXPECT_NE(message_of([&] { first.detect(image); }).find("used after being moved from"), std::string::npos);
}

TEST_F(DetectorTest, ErrorsNameTheProblem) {
  const fs::path missing = work_ / "no-such-run";
  EXPECT_NE(message_of([&] { piade::Detector(missing.string(), options()); })
                .find("piade::Detector: checkpoint '" + missing.string() + "' does not exist"),
            std::string::npos);
  const fs::path empty = work_ / "empty-run";
  fs::create_directories(empty);
  EXPECT_NE(message_of([&] { piade::Detector(empty.string(), options()); })
                .find("checkpoint directory '" + empty.string() + "' holds no checkpoint.pt"),
            std::string::npos);
  const fs::path not_a_checkpoint = work_ / "notes.txt";
  std::ofstream(not_a_checkpoint) << "hello";
  EXPECT_NE(message_of([&] { piade::Detector(not_a_checkpoint.string(), options()); })
                .find(not_a_checkpoint.string() + ": not a readable piade checkpoint"),
            std::string::npos);
  piade::DetectorOptions bad_dir = options();
  bad_dir.plugin_dirs = {(work_ / "no-plugins").string()};
  EXPECT_NE(message_of([&] { piade::Detector(run_.string(), bad_dir); })
                .find("plugin_dirs: '" + (work_ / "no-plugins").string() + "' is not a directory"),
            std::string::npos);
  piade::DetectorOptions bad_batch = options();
  bad_batch.batch_size = 0;
  EXPECT_NE(message_of([&] { piade::Detector(run_.string(), bad_batch); }).find("batch_size must be at least 1, got 0"),
            std::string::npos);

  piade::Detector detector(run_.string(), options());
  // One picture: no index it was not given; a batch names the index.
  const std::string single = message_of([&] { detector.detect(cv::Mat()); });
  EXPECT_EQ(single.rfind("piade::Detector: detect: the picture is empty", 0), 0u) << single;
  EXPECT_EQ(single.find("image 0"), std::string::npos) << single;
  EXPECT_NE(message_of([&] { detector.detect(std::vector<cv::Mat>{cv::Mat()}); })
                .find("piade::Detector: image 0: the picture is empty"),
            std::string::npos);
  const cv::Mat good = cv::imread(files_[0].string());
  EXPECT_NE(message_of([&] { detector.detect(std::vector<cv::Mat>{good, cv::Mat(28, 28, CV_16UC1)}); })
                .find("image 1: expected 8-bit pixels (CV_8U), got CV_16UC1"),
            std::string::npos);
  EXPECT_NE(message_of([&] { detector.detect(cv::Mat(28, 28, CV_32FC3)); }).find("got CV_32FC3"), std::string::npos);
  EXPECT_NE(message_of([&] { detector.overlay(good, piade::Detection{}); }).find("has no anomaly map"),
            std::string::npos);
  // A BGR picture of another size is fine.
  EXPECT_NO_THROW(detector.detect(cv::Mat(100, 17, CV_8UC3, cv::Scalar(1, 2, 3))));
}

// A checkpoint whose recorded plugin is missing, or has another version:
// the same weights with an edited configuration.
TEST_F(DetectorTest, RefusesACheckpointWhosePluginIsMissingOrOtherwiseVersioned) {
  const fs::path file = run_ / "checkpoint.pt";
  const nlohmann::json meta = piade::read_checkpoint_meta(file);
  piade::PluginRegistry registry;
  registry.scan({PIADE_BUILD_PLUGIN_DIR});
  piade::PiadeModel model = piade::restore_model(registry, file, meta, torch::kCPU);

  nlohmann::json renamed = meta;
  renamed["pipeline"]["loss"][1]["name"] = "ssimm";
  const fs::path unknown = work_ / "unknown-plugin.pt";
  piade::save_checkpoint(unknown, model, nullptr, renamed);
  const std::string message = message_of([&] { piade::Detector(unknown.string(), options()); });
  EXPECT_NE(message.find("the checkpoint needs loss 'ssimm'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'ssim'?"), std::string::npos) << message;

  nlohmann::json versioned = meta;
  versioned["pipeline"]["loss"][0]["version"] = "9.9.9";
  const fs::path other = work_ / "other-version.pt";
  piade::save_checkpoint(other, model, nullptr, versioned);
  EXPECT_NE(message_of([&] { piade::Detector(other.string(), options()); })
                .find("was trained with loss 'mse' version 9.9.9"),
            std::string::npos);
}

// The checkpoint records the file each plugin came from; a Detector that
// cannot find one names the file and says why it was refused, or how to
// add a plugin directory in the Detector's terms.
TEST_F(DetectorTest, MissingPluginNamesItsFileTheRejectionAndTheOption) {
  const fs::path file = run_ / "checkpoint.pt";
  const nlohmann::json meta = piade::read_checkpoint_meta(file);
  EXPECT_EQ(meta["pipeline"]["loss"][0].value("file", ""), "loss_mse.so") << meta["pipeline"].dump();
  EXPECT_EQ(meta["pipeline"]["backbone"].value("file", ""), "backbone_resnet.so") << meta["pipeline"].dump();
  piade::PluginRegistry registry;
  registry.scan({PIADE_BUILD_PLUGIN_DIR});
  piade::PiadeModel model = piade::restore_model(registry, file, meta, torch::kCPU);

  // A third-party loss whose library is there but cannot be loaded.
  nlohmann::json third_party = meta;
  third_party["pipeline"]["loss"][1] = {{"name", "l1"},
                                        {"version", "0.1.0"},
                                        {"plugin", "l1"},
                                        {"file", "fixture_undefined_symbol.so"},
                                        {"params", {{"weight", "2"}}}};
  const fs::path needs_l1 = work_ / "needs-l1.pt";
  piade::save_checkpoint(needs_l1, model, nullptr, third_party);
  piade::DetectorOptions with_broken = options();
  with_broken.plugin_dirs = {piade::test::fixture_dir("undefined_symbol").string()};
  const std::string broken = message_of([&] { piade::Detector(needs_l1.string(), with_broken); });
  EXPECT_NE(broken.find("the checkpoint needs loss 'l1' 0.1.0 from fixture_undefined_symbol.so, which was rejected: " +
                        piade::test::fixture_file("undefined_symbol").string() + ": cannot be loaded ("),
            std::string::npos)
      << broken;
  EXPECT_NE(broken.find("undefined symbol: piade_fixture_missing_function"), std::string::npos) << broken;
  EXPECT_EQ(broken.find('\n'), std::string::npos) << broken;

  // The library is nowhere in the search path.
  const std::string missing = message_of([&] { piade::Detector(needs_l1.string(), options()); });
  EXPECT_NE(missing.find("the checkpoint needs loss 'l1' 0.1.0 from fixture_undefined_symbol.so, which is not "
                         "loaded: add its directory to DetectorOptions::plugin_dirs or set PIADE_PLUGIN_PATH"),
            std::string::npos)
      << missing;
}

// A library leaves the program's thread setting alone unless asked.
TEST_F(DetectorTest, LeavesTheThreadCountAloneByDefault) {
  const int before = at::get_num_threads();
  // Neither what the Detector used to set (all cores) nor what options() sets.
  const int mine = static_cast<int>(std::thread::hardware_concurrency()) + 1;
  at::set_num_threads(mine);
  {
    piade::Detector detector(run_.string());  // threads = 0: leave it
    EXPECT_EQ(at::get_num_threads(), mine);
    detector.detect(cv::imread(files_[0].string()));
    EXPECT_EQ(at::get_num_threads(), mine);
  }
  piade::DetectorOptions two;
  two.threads = 2;
  piade::Detector asked(run_.string(), two);
  EXPECT_EQ(at::get_num_threads(), 2);  // set when asked, for the process
  at::set_num_threads(before);
}

// colorize(): the map on the checkpoint's scale, 0 dark blue, map_max() and
// above dark red, at the map's size.
TEST_F(DetectorTest, ColorizeUsesTheCheckpointsMapScale) {
  piade::Detector detector(run_.string(), options());
  const double top = detector.map_max();
  ASSERT_TRUE(std::isfinite(top) && top > 0) << top;
  cv::Mat map(2, 3, CV_32F);
  map.at<float>(0, 0) = 0.0f;
  map.at<float>(0, 1) = static_cast<float>(top);
  map.at<float>(0, 2) = static_cast<float>(2 * top);  // above the scale: clipped
  map.at<float>(1, 0) = static_cast<float>(top / 2);
  map.at<float>(1, 1) = -1.0f;
  map.at<float>(1, 2) = static_cast<float>(top / 4);
  const cv::Mat colored = detector.colorize(map);
  ASSERT_EQ(colored.type(), CV_8UC3);
  ASSERT_EQ(colored.size(), map.size());
  // OpenCV's JET: level 0 is dark blue, level 255 dark red (BGR).
  const auto jet = [](int level) {
    cv::Mat colour;
    cv::applyColorMap(cv::Mat(1, 1, CV_8U, cv::Scalar(level)), colour, cv::COLORMAP_JET);
    return colour.at<cv::Vec3b>(0, 0);
  };
  ASSERT_GT(jet(0)[0], 100);  // blue
  ASSERT_GT(jet(255)[2], 100);  // red
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 0), jet(0));
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 1), jet(255));
  EXPECT_EQ(colored.at<cv::Vec3b>(0, 2), jet(255));
  EXPECT_EQ(colored.at<cv::Vec3b>(1, 1), jet(0));
  EXPECT_EQ(cv::norm(colored, piade::colorize_map(map, 0.0, top), cv::NORM_INF), 0.0);
  // A detection's map at the picture's size; overlay() blends exactly this.
  const cv::Mat image = cv::imread(files_[4].string());
  const piade::Detection d = detector.detect(image);
  EXPECT_EQ(detector.colorize(d.anomaly_map).size(), image.size());
  EXPECT_EQ(cv::norm(detector.overlay(image, d), piade::overlay(image, detector.colorize(d.anomaly_map), 0.5),
                     cv::NORM_INF),
            0.0);
  EXPECT_NE(message_of([&] { detector.colorize(cv::Mat()); }).find("colorize: the anomaly map is empty"),
            std::string::npos);
}

TEST_F(DetectorTest, ScoreMapsWritesOnePicturePerInputOnTheCheckpointsScale) {
  const fs::path maps = work_ / "maps";
  std::vector<std::string> args = {"score", "--checkpoint", run_.string(), "--threads", "2", "--maps",
                                   maps.string(), "--strips=true", "--out", (work_ / "scores.csv").string()};
  for (const std::string& file : file_names()) args.push_back(file);
  const Result score = run(args);
  ASSERT_EQ(score.status, 0) << score.err;
  EXPECT_NE(score.err.find("wrote 10 anomaly maps and strips to " + maps.string()), std::string::npos) << score.err;
  EXPECT_NE(score.err.find("the checkpoint's map_stats.max_p99"), std::string::npos) << score.err;
  // The score CSV is unchanged by --maps.
  EXPECT_EQ(split(read_text(work_ / "scores.csv"), '\n')[0], "path,score,score_normalized,mse,ssim,vector,anomalous");

  // One map and one strip per input; the two shirt.png get their own names.
  const std::vector<std::string> stems = {"fmnist0", "fmnist1", "fmnist2", "fmnist3", "color",
                                          "wide",    "photo",   "alpha",   "shirt_1", "shirt_2"};
  const std::vector<std::string> index = split(read_text(maps / "maps.csv"), '\n');
  ASSERT_EQ(index.size(), stems.size() + 1);
  EXPECT_EQ(index[0], "path,map,strip");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(maps)) files += entry.path().extension() == ".png";
  EXPECT_EQ(files, 2 * int(stems.size()));

  piade::Detector detector(run_.string(), options());
  for (std::size_t i = 0; i < stems.size(); ++i) {
    EXPECT_EQ(index[i + 1], files_[i].string() + "," + stems[i] + "_map.png," + stems[i] + "_strip.png");
    const cv::Mat map = cv::imread((maps / (stems[i] + "_map.png")).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(map.empty()) << stems[i];
    EXPECT_EQ(map.type(), CV_8UC3);
    const cv::Mat original = cv::imread(files_[i].string());
    EXPECT_EQ(map.size(), original.size()) << stems[i];  // the input's own size
    const cv::Mat strip = cv::imread((maps / (stems[i] + "_strip.png")).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(strip.empty()) << stems[i];
    // input | reconstruction | map with its colour bar | predicted mask,
    // 28 -> 140 >= 128 pixels each, with captions and three lines of text.
    EXPECT_GT(strip.cols, 4 * 28 * 5) << stems[i];
    EXPECT_GT(strip.rows, 28 * 5 + 3 * 12) << stems[i];

    // The same colours as the Detector's map of the picture, which is at the
    // picture's size too, on the checkpoint's scale (a level may differ where
    // float sums round apart).
    const piade::Detection d = detector.detect(original);
    const cv::Mat expected = piade::colorize_map(d.anomaly_map, 0.0, detector.map_max());
    ASSERT_EQ(expected.size(), map.size()) << stems[i];
    const cv::Mat unequal = map != expected;
    cv::Mat differs;
    cv::reduce(unequal.reshape(1, map.rows * map.cols), differs, 1, cv::REDUCE_MAX);
    EXPECT_LE(cv::countNonZero(differs), 8 + map.rows * map.cols / 100) << stems[i];
  }

  // A scale given by hand: everything far below it is dark blue.
  const Result huge = run({"score", "--checkpoint", run_.string(), "--maps", (work_ / "huge").string(),
                                  "--map-max", "1e9", files_[0].string()});
  ASSERT_EQ(huge.status, 0) << huge.err;
  const cv::Mat blue = cv::imread((work_ / "huge" / "fmnist0_map.png").string());
  cv::Mat jet_zero, zero(1, 1, CV_8U, cv::Scalar(0));
  cv::applyColorMap(zero, jet_zero, cv::COLORMAP_JET);
  EXPECT_EQ(cv::norm(blue, cv::Mat(28, 28, CV_8UC3, cv::Scalar(jet_zero.at<cv::Vec3b>(0, 0))), cv::NORM_INF), 0.0);
  EXPECT_NE(huge.err.find("colour scale 0 to 1e+09, --map-max"), std::string::npos) << huge.err;

  const Result strips_alone = run({"score", "--checkpoint", run_.string(), files_[0].string(), "--strips"});
  EXPECT_EQ(strips_alone.status, 1);
  EXPECT_NE(strips_alone.err.find("--strips: needs --maps DIR"), std::string::npos) << strips_alone.err;
}

}  // namespace
