// The assembled PIADE pipeline (piade_core, built from a PipelineSelection with
// the built-in plugins): every ablation of the paper builds, has the right
// shapes and gradients, trains, and round-trips through checkpoints.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "piade/core/checkpoint.h"
#include "piade/core/model.h"
#include "piade/core/pipeline_config.h"
#include "piade/core/precision.h"
#include "piade/core/scoring.h"
#include "piade/core/sha256.h"
#include "piade/core/stable_hash.h"
#include "piade/core/trainer.h"
#include "piade/datasets/image_files.h"

#include "tests/support/builtin_plugins.h"
#include "tests/support/files.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

namespace fs = std::filesystem;


void ignore_warning(const std::string&) {}

using Params = std::map<std::string, std::map<std::string, std::string>>;

// The paper's pipeline with the loss terms `losses`, the backbone `backbone`
// and the plugin parameters `params` (owner -> name -> value).
PipelineConfig pipeline(std::vector<std::string> losses, const std::string& backbone = "se_resnet18",
                        const Params& params = {}) {
  PipelineSelection selection;
  selection.backbone = backbone;
  selection.losses = std::move(losses);
  selection.params = params;
  return resolve_pipeline(piade::test::builtin_plugins(), selection, ignore_warning);
}

// "mse,ssim" -> {"mse", "ssim"}.
std::vector<std::string> split_losses(const std::string& list) {
  std::vector<std::string> names;
  std::istringstream in(list);
  for (std::string name; std::getline(in, name, ',');) names.push_back(name);
  return names;
}

// Smooth synthetic "normal" images: random blobs, uint8 [N,C,S,S].
torch::Tensor synthetic_images(int64_t n, int64_t channels, int64_t size, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor low = torch::rand({n, channels, 4, 4});
  torch::Tensor up = torch::nn::functional::interpolate(
      low, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{size, size})
               .mode(torch::kBilinear)
               .align_corners(false));
  return up.mul(255).round().clamp(0, 255).to(torch::kUInt8);
}

// `n` synthetic normal images, labelled normal, with ids.
ImageSet synthetic_set(int64_t n, uint64_t seed) {
  ImageSet data;
  data.images = synthetic_images(n, 1, 28, seed);
  data.labels = torch::zeros({n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) data.ids.push_back(std::to_string(i));
  return data;
}

using State = std::map<std::string, torch::Tensor>;

// Every parameter and buffer of `model`, by name, copied.
State state_of(PiadeModel& model) {
  State state;
  for (const auto& item : model->named_parameters()) state[item.key()] = item.value().detach().clone();
  for (const auto& item : model->named_buffers())
    if (item.value().defined()) state[item.key()] = item.value().clone();
  return state;
}

// How many tensors are not bit for bit the same, and the first ("" for none).
std::string differing(const State& a, const State& b) {
  std::string first;
  int count = 0;
  for (const auto& [name, tensor] : a)
    if (!b.count(name) || !torch::equal(tensor, b.at(name))) {
      if (count++ == 0) first = name;
    }
  return count == 0 ? "" : std::to_string(count) + " tensors differ, the first " + first;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::set_num_threads(1); }
};

TEST_F(PipelineTest, ReconstructionHasTheInputShapeForEverySupportedSize) {
  const PipelineConfig config = pipeline({"mse"});
  for (int64_t size : {28, 32, 64, 120, 128, 224}) {
    for (int64_t channels : {1, 3}) {
      torch::manual_seed(0);
      PiadeModel model(piade::test::builtin_plugins(), config, ImageShape{channels, size, size}, /*restoring=*/true);
      model->eval();
      torch::NoGradGuard no_grad;
      torch::Tensor images = torch::rand({2, channels, size, size}) * 2 - 1;
      BatchScores scores = model->score(images, /*with_maps=*/true);
      EXPECT_EQ(scores.reconstruction.reconstructions.sizes(), images.sizes()) << size << " " << channels;
      EXPECT_EQ(scores.map.sizes(), (std::vector<int64_t>{2, size, size}));
      EXPECT_LE(scores.reconstruction.reconstructions.abs().max().item<float>(), 1.0f);
    }
  }
}

// The paper's ablations: {se_resnet18, resnet18} x {1, 2 vectors} x {mse,
// mse+ssim, mse+ssim+perceptual}. Each builds, scores, and back-propagates
// to every trainable parameter, never to the frozen VGG.
TEST_F(PipelineTest, EveryPaperAblationTrainsEveryTrainableParameter) {
  for (const char* backbone : {"se_resnet18", "resnet18"}) {
    for (const char* vectors : {"1", "2"}) {
      for (const char* losses : {"mse", "mse,ssim", "mse,ssim,perceptual"}) {
        SCOPED_TRACE(std::string(backbone) + " vectors=" + vectors + " loss=" + losses);
        const PipelineConfig config =
            pipeline(split_losses(losses), backbone, {{"routing", {{"vectors", vectors}}}});
        torch::manual_seed(1);
        PiadeModel model(piade::test::builtin_plugins(), config, ImageShape{1, 32, 32}, /*restoring=*/true);
        model->train();
        torch::Tensor images = torch::rand({4, 1, 32, 32}) * 2 - 1;
        BatchScores scores = model->score(images);
        ASSERT_EQ(scores.terms.size(), config.losses.size());
        EXPECT_TRUE(torch::isfinite(scores.total).all().item<bool>());
        scores.total.mean().backward();
        int trainable = 0;
        for (const auto& item : model->named_parameters()) {
          if (item.key().rfind("loss_perceptual.", 0) == 0) {
            EXPECT_FALSE(item.value().requires_grad()) << item.key();
            EXPECT_FALSE(item.value().grad().defined()) << item.key();
            continue;
          }
          ++trainable;
          ASSERT_TRUE(item.value().grad().defined()) << item.key() << " gets no gradient";
          EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
        }
        EXPECT_GT(trainable, 60);
      }
    }
  }
}

TEST_F(PipelineTest, Bf16AutocastRunsTheNetworkInBf16AndTheLossTermsInFp32) {
  const PipelineConfig config = pipeline({"mse", "ssim", "perceptual"});
  torch::manual_seed(3);
  PiadeModel model(piade::test::builtin_plugins(), config, ImageShape{3, 32, 32}, /*restoring=*/true);
  model->eval();
  const torch::Tensor images = torch::rand({4, 3, 32, 32}) * 2 - 1;
  torch::NoGradGuard no_grad;
  const BatchScores fp32 = model->score(images, /*with_maps=*/true);
  BatchScores bf16;
  {
    Autocast amp(torch::kCPU, Precision::bf16);
    EXPECT_EQ(torch::conv2d(images, torch::randn({2, 3, 3, 3})).scalar_type(), torch::kBFloat16);
    bf16 = model->score(images, /*with_maps=*/true);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled()) << "leaving the guard restores fp32";
  EXPECT_EQ(bf16.reconstruction.reconstructions.scalar_type(), torch::kFloat);
  EXPECT_EQ(bf16.total.scalar_type(), torch::kFloat);
  EXPECT_EQ(bf16.map.scalar_type(), torch::kFloat);
  // bf16 keeps 8 significant bits: the scores move by about a percent, not
  // by nothing (autocast was on) and not wholesale (the losses were fp32).
  const torch::Tensor relative = ((bf16.total - fp32.total).abs() / fp32.total).max();
  EXPECT_GT(relative.item<double>(), 1e-6);
  EXPECT_LT(relative.item<double>(), 0.05);
  for (std::size_t t = 0; t < fp32.terms.size(); ++t)
    EXPECT_TRUE(torch::allclose(bf16.terms[t], fp32.terms[t], /*rtol=*/0.1, /*atol=*/1e-4)) << t;
}

TEST_F(PipelineTest, Bf16TrainingStepsKeepFp32WeightsAndLowerTheLoss) {
  const PipelineConfig config = pipeline({"mse", "ssim"});
  torch::manual_seed(4);
  PiadeModel model(piade::test::builtin_plugins(), config, ImageShape{1, 32, 32}, /*restoring=*/true);
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const torch::Tensor images = synthetic_images(8, 1, 32, 5).to(torch::kFloat).div(127.5).sub(1);
  double first = 0, last = 0;
  for (int step = 0; step < 10; ++step) {
    const double loss = train_step(model, optimizer, images, Precision::bf16).total.mean().item<double>();
    ASSERT_TRUE(std::isfinite(loss)) << "step " << step;
    (step == 0 ? first : last) = loss;
  }
  EXPECT_LT(last, 0.8 * first);
  for (const auto& parameter : model->parameters()) EXPECT_EQ(parameter.scalar_type(), torch::kFloat);
}

TEST_F(PipelineTest, TheDecodedVectorIsTheFirstInTrainingAndTheLongestInEvaluation) {
  const PipelineConfig config = pipeline({"mse"});
  torch::manual_seed(2);
  PiadeModel model(piade::test::builtin_plugins(), config, ImageShape{1, 28, 28}, /*restoring=*/true);
  torch::Tensor images = torch::rand({6, 1, 28, 28}) * 2 - 1;
  model->train();
  EXPECT_TRUE(model->reconstruct(images).vector_index.eq(0).all().item<bool>());
  // In evaluation the index is whatever vector is longest; check against
  // the routing output directly.
  model->eval();
  torch::NoGradGuard no_grad;
  Reconstruction r = model->reconstruct(images);
  EXPECT_TRUE(r.vector_index.ge(0).logical_and(r.vector_index.lt(2)).all().item<bool>());
}

TEST_F(PipelineTest, TrainingLowersTheLossAndCheckpointsRoundTripBitForBit) {
  const PipelineConfig config = pipeline({"mse", "ssim"});
  const ImageShape shape{1, 28, 28};
  ImageSet data;
  data.images = synthetic_images(16, 1, 28, 3);
  data.labels = torch::zeros({16}, torch::kLong);
  for (int i = 0; i < 16; ++i) data.ids.push_back(std::to_string(i));
  const Preprocess pre{28, 1};
  const test::ScratchDir scratch;
  const fs::path out = scratch / "train";
  fs::create_directories(out);

  torch::manual_seed(4);
  PiadeModel model(piade::test::builtin_plugins(), config, shape);
  TrainSettings settings;
  settings.epochs = 6;
  settings.batch_size = 8;
  nlohmann::json meta = {{"pipeline", pipeline_to_json(config)}, {"preprocess", {{"image_size", 28}}}};
  const TrainResult result = train(model, data, pre, settings, torch::kCPU, out, meta, false);
  EXPECT_EQ(result.epochs_done, 6);

  // The per-epoch log: header + one row per epoch, loss going down.
  std::ifstream log(out / "train_log.csv");
  std::string header, line;
  std::getline(log, header);
  EXPECT_EQ(header, "epoch,loss,mse,ssim,images_per_second,seconds");
  std::vector<double> losses;
  while (std::getline(log, line)) losses.push_back(std::stod(line.substr(line.find(',') + 1)));
  ASSERT_EQ(losses.size(), 6u);
  EXPECT_LT(losses.back(), 0.8 * losses.front());

  const ScoreTable before = score_all(model, data.images, pre, 5, torch::kCPU);
  const nlohmann::json saved = read_checkpoint_meta(out / "checkpoint.pt");
  EXPECT_EQ(saved.at("training").at("epochs_done"), 6);
  EXPECT_TRUE(saved.contains("score_stats"));
  EXPECT_NEAR(saved["score_stats"]["mean"].get<double>(), before.total.mean().item<double>(), 1e-6);

  // A fresh model, rebuilt from the checkpoint's recorded configuration alone.
  const PipelineConfig rebuilt = pipeline_from_json(piade::test::builtin_plugins(), saved.at("pipeline"), "test");
  torch::manual_seed(99);
  PiadeModel restored(piade::test::builtin_plugins(), rebuilt, shape, /*restoring=*/true);
  load_checkpoint_state(out / "checkpoint.pt", restored, nullptr, torch::kCPU);
  const ScoreTable after = score_all(restored, data.images, pre, 5, torch::kCPU);
  EXPECT_TRUE(torch::equal(before.total, after.total));
  EXPECT_TRUE(torch::equal(before.vector_index, after.vector_index));
}

// Datasets larger than memory (issue 17): the same seeded run trained on a
// set decoded into memory and on the same files streamed (decoded batch by
// batch by the Prefetcher, above a memory budget) is the same run: the same
// batches, losses, validation losses, weights and score statistics.
TEST_F(PipelineTest, AStreamedSetTrainsExactlyAsTheSameSetInMemory) {
  const test::ScratchDir scratch;
  const torch::Tensor pixels = synthetic_images(11, 1, 28, 21);
  std::vector<ImageFile> files;
  for (int64_t i = 0; i < 11; ++i) {
    const torch::Tensor image = pixels[i][0].contiguous();
    const std::string file = (scratch / fmt::format("{:02d}.png", i)).string();
    ASSERT_TRUE(cv::imwrite(file, cv::Mat(28, 28, CV_8UC1, image.data_ptr<uint8_t>())));
    files.push_back({file, 0, ""});
  }
  DecodeOptions decode;
  decode.channels = 1;
  decode.image_size = 28;
  const ImageSet memory = load_image_files(files, decode);
  decode.memory_budget = 1;  // anything is above it
  const ImageSet streamed = load_image_files(files, decode);
  ASSERT_FALSE(memory.streamed());
  ASSERT_TRUE(streamed.streamed());

  const PipelineConfig config = pipeline({"mse"}, "resnet18");
  const Preprocess pre{28, 1};
  TrainSettings settings;
  settings.epochs = 2;
  settings.batch_size = 3;  // 9 trained images: batches of 3, 3, 3; 2 held out
  settings.val_fraction = 0.2;
  settings.seed = 5;
  auto run = [&](const ImageSet& data, const std::string& name) {
    const fs::path out = scratch / name;
    torch::manual_seed(8);
    PiadeModel model(piade::test::builtin_plugins(), config, ImageShape{1, 28, 28});
    nlohmann::json meta = {{"pipeline", pipeline_to_json(config)}, {"preprocess", {{"image_size", 28}}}};
    train(model, data, pre, settings, torch::kCPU, out, meta, false);
    return std::pair<PiadeModel, fs::path>(model, out);
  };
  const auto [in_memory, memory_dir] = run(memory, "memory");
  const auto [from_stream, stream_dir] = run(streamed, "stream");

  // The log without its last two columns (images per second, seconds).
  auto losses = [](const fs::path& dir) {
    std::vector<std::string> rows;
    for (std::string row : test::lines(test::read_text(dir / "train_log.csv"))) {
      for (int cut = 0; cut < 2; ++cut) row.erase(row.rfind(','));
      rows.push_back(row);
    }
    return rows;
  };
  EXPECT_EQ(losses(stream_dir), losses(memory_dir));
  EXPECT_EQ(losses(memory_dir).size(), 3u);
  auto expected = in_memory->named_parameters();
  for (const auto& item : from_stream->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), expected[item.key()])) << item.key();
  auto expected_buffers = in_memory->named_buffers();
  for (const auto& item : from_stream->named_buffers())
    EXPECT_TRUE(torch::equal(item.value(), expected_buffers[item.key()])) << item.key();
  EXPECT_EQ(read_checkpoint_meta(stream_dir / "checkpoint.pt").at("score_stats"),
            read_checkpoint_meta(memory_dir / "checkpoint.pt").at("score_stats"));
}

TEST_F(PipelineTest, ResumeContinuesTheSameRun) {
  const PipelineConfig config = pipeline({"mse"}, "resnet18");
  const ImageShape shape{1, 28, 28};
  ImageSet data;
  data.images = synthetic_images(12, 1, 28, 5);
  data.labels = torch::zeros({12}, torch::kLong);
  data.ids.assign(12, "x");
  const Preprocess pre{28, 1};
  nlohmann::json meta = {{"pipeline", pipeline_to_json(config)}, {"preprocess", {{"image_size", 28}}}};
  TrainSettings settings;
  settings.batch_size = 6;
  settings.checkpoint_every = 1;

  const test::ScratchDir scratch;
  const fs::path straight_dir = scratch / "straight";
  fs::create_directories(straight_dir);
  torch::manual_seed(7);
  PiadeModel straight(piade::test::builtin_plugins(), config, shape);
  settings.epochs = 3;
  train(straight, data, pre, settings, torch::kCPU, straight_dir, meta, false);

  const fs::path split_dir = scratch / "split";
  fs::create_directories(split_dir);
  torch::manual_seed(7);
  PiadeModel first(piade::test::builtin_plugins(), config, shape);
  settings.epochs = 1;
  train(first, data, pre, settings, torch::kCPU, split_dir, meta, false);
  torch::manual_seed(123);  // the resumed run must not depend on fresh init
  PiadeModel second(piade::test::builtin_plugins(), config, shape, /*restoring=*/true);
  settings.epochs = 3;
  const TrainResult resumed = train(second, data, pre, settings, torch::kCPU, split_dir, meta, true);
  EXPECT_EQ(resumed.epochs_done, 3);

  auto a = straight->named_parameters();
  auto b = second->named_parameters();
  for (const auto& item : a)
    EXPECT_TRUE(torch::allclose(item.value(), b[item.key()], 1e-6, 1e-7)) << item.key();
  // A resume with another pipeline is refused.
  nlohmann::json other = meta;
  other["pipeline"]["routing"]["params"]["vectors"] = "1";
  PiadeModel third(piade::test::builtin_plugins(), config, shape, true);
  EXPECT_THROW(train(third, data, pre, settings, torch::kCPU, split_dir, other, true), Error);
}

// The fast pipeline and 28x28 images the training tests below share.
class TrainingTest : public PipelineTest {
 protected:
  // A model of config_ initialised from `seed` (or empty, for restoring).
  PiadeModel model(uint64_t seed, bool restoring = false) {
    torch::manual_seed(seed);
    return PiadeModel(piade::test::builtin_plugins(), config_, kShape, restoring);
  }
  // The weights a checkpoint file holds (read into one model per test: each
  // build of the network takes a second or two).
  State checkpoint_state(const fs::path& file) {
    if (!reader_) reader_ = model(123, /*restoring=*/true);
    load_checkpoint_state(file, reader_, nullptr, torch::kCPU);
    return state_of(reader_);
  }
  // Training that cannot improve: at a learning rate of 1e-12 no weight moves
  // enough to change the loss by the relative 1e-4 that counts, and one batch
  // of all 8 images gives every epoch the same batch statistics. The
  // batch-norm running statistics still move each epoch, so the weights after
  // epoch 1 are not those after epoch 3.
  static TrainSettings plateau() {
    TrainSettings settings;
    settings.epochs = 10;
    settings.batch_size = 8;
    settings.lr = 1e-12;
    settings.early_stop = 2;
    settings.checkpoint_every = 1;
    return settings;
  }

  static constexpr ImageShape kShape{1, 28, 28};
  const PipelineConfig config_ = pipeline({"mse"}, "resnet18");
  const Preprocess pre_{28, 1};
  const nlohmann::json meta_ = {{"pipeline", pipeline_to_json(config_)}, {"preprocess", {{"image_size", 28}}}};
  const test::ScratchDir scratch_;
  PiadeModel reader_{nullptr};
};

TEST_F(TrainingTest, TheValidationSplitIsDisjointCoveringAndFixedBySeed) {
  const auto [train_index, val_index] = validation_split(20, 0.25, 3);
  EXPECT_EQ(val_index.size(0), 5);
  EXPECT_EQ(train_index.size(0), 15);
  const torch::Tensor both = std::get<0>(torch::cat({train_index, val_index}).sort());
  EXPECT_TRUE(torch::equal(both, torch::arange(20, torch::kLong))) << "disjoint and covering";
  const auto again = validation_split(20, 0.25, 3);
  EXPECT_TRUE(torch::equal(again.first, train_index));
  EXPECT_TRUE(torch::equal(again.second, val_index));
  EXPECT_FALSE(torch::equal(validation_split(20, 0.25, 4).second, val_index)) << "another seed, another split";
  EXPECT_EQ(validation_split(20, 0.01, 3).second.size(0), 1) << "at least one image is held out";
  EXPECT_EQ(validation_split(20, 0.0, 3).first.size(0), 20);
  EXPECT_EQ(validation_split(20, 0.0, 3).second.size(0), 0);
  EXPECT_THROW(validation_split(20, 0.6, 3), Error);
  EXPECT_THROW(validation_split(20, -0.1, 3), Error);
  try {
    validation_split(3, 0.5, 3);  // 2 held out, 1 left
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--val-fraction: holding out 2 of the 3 training images"),
              std::string::npos) << e.what();
  }
}

// The held-out third is logged as val_loss and is never trained on: training
// on the full set with the hold-out is training on the other images alone.
TEST_F(TrainingTest, AValidationHoldOutIsLoggedAndNeverTrainedOn) {
  const ImageSet data = synthetic_set(12, 6);
  TrainSettings settings;
  settings.epochs = 2;
  settings.batch_size = 4;
  settings.val_fraction = 1.0 / 3;
  const fs::path out = scratch_ / "val";
  PiadeModel held_out = model(8);
  int steps = 0;
  std::vector<EpochRecord> records;
  TrainObserver observer;
  observer.on_step = [&](const StepProgress&) { ++steps; };
  observer.on_epoch = [&](const EpochRecord& record) { records.push_back(record); };
  const TrainResult result = train(held_out, data, pre_, settings, torch::kCPU, out, meta_, false, observer);
  EXPECT_EQ(result.epochs_done, 2);
  EXPECT_EQ(steps, 2 * 2) << "8 training images in batches of 4, not 12";

  const std::vector<std::string> log = test::lines(test::read_text(out / "train_log.csv"));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "epoch,loss,mse,val_loss,images_per_second,seconds");
  ASSERT_EQ(records.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    std::vector<std::string> fields;
    std::istringstream row(log[e + 1]);
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    ASSERT_EQ(fields.size(), 6u) << log[e + 1];
    const double val_loss = std::stod(fields[3]);
    EXPECT_TRUE(std::isfinite(val_loss) && val_loss > 0) << log[e + 1];
    ASSERT_TRUE(records[e].val_loss.has_value());
    EXPECT_NEAR(*records[e].val_loss, val_loss, 1e-5 * val_loss);
  }
  const nlohmann::json saved = read_checkpoint_meta(out / "checkpoint.pt");
  EXPECT_EQ(saved["training"]["val_images"], 4);
  EXPECT_EQ(saved["training"]["val_fraction"], 1.0 / 3);
  EXPECT_EQ(saved["score_stats"]["count"], 8) << "statistics of the images trained on";

  // The same seed's training images alone, without a hold-out: the same run.
  ImageSet train_only;
  const torch::Tensor train_index = validation_split(12, settings.val_fraction, settings.seed).first;
  train_only.images = data.images.index_select(0, train_index);
  train_only.labels = torch::zeros({8}, torch::kLong);
  train_only.ids.assign(8, "x");
  settings.val_fraction = 0;
  PiadeModel alone = model(8);
  train(alone, train_only, pre_, settings, torch::kCPU, scratch_ / "alone", meta_, false);
  EXPECT_EQ(differing(state_of(held_out), state_of(alone)), "");
}

TEST_F(TrainingTest, TheObserverSeesEveryStepAndEveryEpoch) {
  const ImageSet data = synthetic_set(12, 5);
  TrainSettings settings;
  settings.epochs = 3;
  settings.batch_size = 6;
  std::vector<StepProgress> steps;
  std::vector<EpochRecord> epochs;
  TrainObserver observer;
  observer.on_step = [&](const StepProgress& step) { steps.push_back(step); };
  observer.on_epoch = [&](const EpochRecord& record) { epochs.push_back(record); };
  PiadeModel trained = model(7);
  const TrainResult result = train(trained, data, pre_, settings, torch::kCPU, scratch_ / "observed", meta_, false, observer);

  ASSERT_EQ(steps.size(), 3u * 2u);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].epoch, static_cast<int64_t>(i / 2 + 1)) << i;
    EXPECT_EQ(steps[i].batch, static_cast<int64_t>(i % 2 + 1)) << i;
    EXPECT_EQ(steps[i].epochs, 3);
    EXPECT_EQ(steps[i].batches, 2);
    EXPECT_TRUE(std::isfinite(steps[i].loss) && steps[i].loss > 0);
    ASSERT_EQ(steps[i].terms.size(), 1u);
    EXPECT_EQ(steps[i].terms[0].first, "mse");
    EXPECT_GT(steps[i].images_per_second, 0);
    EXPECT_GE(steps[i].eta_seconds, 0);
  }
  EXPECT_EQ(steps.back().eta_seconds, 0);
  ASSERT_EQ(epochs.size(), 3u);
  int64_t best = 0;
  for (std::size_t e = 0; e < epochs.size(); ++e) {
    EXPECT_EQ(epochs[e].epoch, static_cast<int64_t>(e + 1));
    EXPECT_EQ(epochs[e].epochs, 3);
    EXPECT_FALSE(epochs[e].val_loss.has_value());
    EXPECT_GT(epochs[e].seconds, 0);
    if (epochs[e].improved) best = epochs[e].epoch;
    EXPECT_EQ(epochs[e].best_epoch, best) << e;
  }
  EXPECT_TRUE(epochs[0].improved);
  EXPECT_EQ(result.best_epoch, best);
  EXPECT_EQ(result.last_loss, epochs.back().loss);
  EXPECT_FALSE(result.stopped_early);
  EXPECT_FALSE(fs::exists(scratch_ / "observed" / "best.pt"));
}

TEST_F(TrainingTest, EarlyStoppingOnAPlateauKeepsTheFirstEpochsWeights) {
  const ImageSet data = synthetic_set(8, 9);
  const fs::path out = scratch_ / "plateau";
  // Epoch 2's checkpoint is the first to come with best.pt, written while the
  // model holds epoch 2's weights, not the best.
  TrainSettings settings = plateau();
  settings.checkpoint_every = 2;
  PiadeModel trained = model(3);
  std::vector<State> after;  // after[e]: the weights after epoch e + 1
  std::vector<EpochRecord> records;
  State best_file;
  TrainObserver observer;
  observer.on_epoch = [&](const EpochRecord& record) {
    records.push_back(record);
    after.push_back(state_of(trained));
    if (record.epoch == 2) best_file = checkpoint_state(out / "best.pt");
  };
  const TrainResult result = train(trained, data, pre_, settings, torch::kCPU, out, meta_, false, observer);
  EXPECT_EQ(result.epochs_done, 3);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.best_epoch, 1);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_TRUE(records[0].improved);
  EXPECT_FALSE(records[1].improved);
  EXPECT_FALSE(records[2].improved);
  ASSERT_TRUE(result.best_loss.has_value());
  EXPECT_EQ(*result.best_loss, records[0].loss);
  // The later epochs did change the weights, so keeping epoch 1's is a choice;
  // writing best.pt after epoch 2 left the model with epoch 2's.
  EXPECT_NE(differing(after[0], after[2]), "");
  EXPECT_NE(differing(after[0], after[1]), "");
  EXPECT_NE(differing(after[1], after[2]), "");
  EXPECT_EQ(differing(after[0], best_file), "");

  EXPECT_EQ(differing(after[0], checkpoint_state(out / "checkpoint.pt")), "");
  EXPECT_EQ(differing(after[0], state_of(trained)), "") << "the model is left with the best weights";
  const nlohmann::json training = read_checkpoint_meta(out / "checkpoint.pt").at("training");
  EXPECT_EQ(training["epochs_done"], 3);
  EXPECT_EQ(training["best_epoch"], 1);
  EXPECT_EQ(training["best_loss"].get<double>(), records[0].loss);
  EXPECT_EQ(training["monitored"], "loss");
  EXPECT_EQ(training["stopped_early"], true);
  EXPECT_EQ(training["early_stop"], 2);
  EXPECT_EQ(training["val_fraction"], 0.0);
  EXPECT_EQ(test::lines(test::read_text(out / "train_log.csv")).size(), 4u);
  EXPECT_FALSE(fs::exists(out / "best.pt")) << "removed when the run finishes";
}

// A run resumed after a crash, or continued after finishing fewer epochs,
// stops where an uninterrupted one does, with the same kept weights.
TEST_F(TrainingTest, EarlyStoppingResumesToTheSameEpochAndWeights) {
  const ImageSet data = synthetic_set(8, 9);
  const TrainSettings settings = plateau();
  PiadeModel straight = model(3);
  const TrainResult uninterrupted = train(straight, data, pre_, settings, torch::kCPU, scratch_ / "straight", meta_, false);
  ASSERT_EQ(uninterrupted.epochs_done, 3);
  const State kept = checkpoint_state(scratch_ / "straight" / "checkpoint.pt");

  // Continued after a run of 1 epoch, whose best is its last.
  const fs::path continued_dir = scratch_ / "continued";
  TrainSettings first = settings;
  first.epochs = 1;
  PiadeModel once = model(3);
  train(once, data, pre_, first, torch::kCPU, continued_dir, meta_, false);
  PiadeModel continued = model(123, /*restoring=*/true);
  const TrainResult second = train(continued, data, pre_, settings, torch::kCPU, continued_dir, meta_, true);
  EXPECT_EQ(second.epochs_done, 3);
  EXPECT_TRUE(second.stopped_early);
  EXPECT_EQ(second.best_epoch, 1);
  EXPECT_EQ(differing(kept, checkpoint_state(continued_dir / "checkpoint.pt")), "");

  // Crashed right after epoch 2's checkpoint: the best (epoch 1) is in best.pt.
  const fs::path crashed_dir = scratch_ / "crashed";
  struct Crash {};
  TrainObserver crash;
  crash.on_epoch = [](const EpochRecord& record) {
    if (record.epoch == 2) throw Crash{};
  };
  PiadeModel crashing = model(3);
  EXPECT_THROW(train(crashing, data, pre_, settings, torch::kCPU, crashed_dir, meta_, false, crash), Crash);
  ASSERT_TRUE(fs::exists(crashed_dir / "best.pt"));
  const nlohmann::json left = read_checkpoint_meta(crashed_dir / "checkpoint.pt").at("training");
  EXPECT_EQ(left["epochs_done"], 2);
  EXPECT_EQ(left["best_epoch"], 1);
  EXPECT_EQ(left["epochs_without_improvement"], 1);
  EXPECT_EQ(differing(kept, checkpoint_state(crashed_dir / "best.pt")), "");
  // Another patience would stop elsewhere: refused.
  TrainSettings other = settings;
  other.early_stop = 3;
  PiadeModel resumed = model(123, /*restoring=*/true);
  EXPECT_THROW(train(resumed, data, pre_, other, torch::kCPU, crashed_dir, meta_, true), Error);
  const TrainResult after_crash = train(resumed, data, pre_, settings, torch::kCPU, crashed_dir, meta_, true);
  EXPECT_EQ(after_crash.epochs_done, 3);
  EXPECT_TRUE(after_crash.stopped_early);
  EXPECT_EQ(after_crash.best_epoch, 1);
  ASSERT_TRUE(after_crash.best_loss.has_value());
  EXPECT_EQ(*after_crash.best_loss, *uninterrupted.best_loss);
  EXPECT_EQ(differing(kept, checkpoint_state(crashed_dir / "checkpoint.pt")), "");
  EXPECT_FALSE(fs::exists(crashed_dir / "best.pt"));
  EXPECT_EQ(test::lines(test::read_text(crashed_dir / "train_log.csv")).size(), 4u);
}

// Ctrl-C in the middle of an epoch, then --resume: the run goes on from the
// next batch with the epoch's loss sums, and ends bit for bit as an
// uninterrupted one, its log included (the timing columns aside).
TEST_F(TrainingTest, AnInterruptMidEpochResumesFromTheNextBatchToTheSameRun) {
  const ImageSet data = synthetic_set(12, 9);
  TrainSettings settings;
  settings.epochs = 2;
  settings.batch_size = 4;  // 3 batches an epoch
  settings.checkpoint_every = 0;
  PiadeModel straight = model(3);
  train(straight, data, pre_, settings, torch::kCPU, scratch_ / "straight", meta_, false);
  const State kept = checkpoint_state(scratch_ / "straight" / "checkpoint.pt");
  auto losses = [](const fs::path& log) {  // every column but images_per_second and seconds
    std::vector<std::string> rows;
    for (const std::string& line : test::lines(test::read_text(log))) {
      const std::size_t seconds = line.rfind(',');
      rows.push_back(line.substr(0, line.rfind(',', seconds - 1)));
    }
    return rows;
  };

  // After batch 2 of epoch 2, and after the last batch of epoch 1 (only the
  // epoch's end left to do).
  for (const auto& [epoch, batch] : std::vector<std::pair<int64_t, int64_t>>{{2, 2}, {1, 3}}) {
    SCOPED_TRACE(fmt::format("interrupted after batch {} of epoch {}", batch, epoch));
    const fs::path dir = scratch_ / fmt::format("interrupted-{}-{}", epoch, batch);
    TrainObserver interrupt;
    interrupt.on_step = [&, epoch = epoch, batch = batch](const StepProgress& step) {
      if (step.epoch == epoch && step.batch == batch) std::raise(SIGINT);
    };
    PiadeModel first = model(3);
    const TrainResult stopped = train(first, data, pre_, settings, torch::kCPU, dir, meta_, false, interrupt);
    ASSERT_TRUE(stopped.interrupted);
    const nlohmann::json partial = read_checkpoint_meta(dir / "checkpoint.pt").at("training").at("partial_epoch");
    EXPECT_EQ(partial.at("epoch"), epoch);
    EXPECT_EQ(partial.at("batches_done"), batch);
    PiadeModel resumed = model(123, /*restoring=*/true);
    const TrainResult finished = train(resumed, data, pre_, settings, torch::kCPU, dir, meta_, true);
    EXPECT_EQ(finished.epochs_done, 2);
    EXPECT_EQ(differing(kept, checkpoint_state(dir / "checkpoint.pt")), "");
    EXPECT_EQ(losses(dir / "train_log.csv"), losses(scratch_ / "straight" / "train_log.csv"));
  }
}

TEST_F(TrainingTest, ResumingAFinishedRunChangesNothing) {
  const ImageSet data = synthetic_set(8, 9);
  PiadeModel again = model(123, /*restoring=*/true);
  auto check_untouched = [&](const TrainSettings& settings, const fs::path& dir) {
    const std::string checkpoint = test::read_text(dir / "checkpoint.pt");
    const std::string log = test::read_text(dir / "train_log.csv");
    const TrainResult result = train(again, data, pre_, settings, torch::kCPU, dir, meta_, true);
    EXPECT_TRUE(result.already_finished);
    EXPECT_EQ(test::read_text(dir / "checkpoint.pt"), checkpoint);
    EXPECT_EQ(test::read_text(dir / "train_log.csv"), log);
    EXPECT_EQ(differing(checkpoint_state(dir / "checkpoint.pt"), state_of(again)), "") << "loaded all the same";
    return result;
  };
  // All its epochs done.
  TrainSettings settings;
  settings.epochs = 1;
  settings.batch_size = 4;
  PiadeModel trained = model(3);
  train(trained, data, pre_, settings, torch::kCPU, scratch_ / "done", meta_, false);
  const TrainResult done = check_untouched(settings, scratch_ / "done");
  EXPECT_EQ(done.epochs_done, 1);
  EXPECT_FALSE(done.stopped_early);
  // Stopped early, even when asked for the full epochs again.
  TrainSettings plateau_settings = plateau();
  plateau_settings.checkpoint_every = 0;
  PiadeModel stopped = model(3);
  train(stopped, data, pre_, plateau_settings, torch::kCPU, scratch_ / "stopped", meta_, false);
  const TrainResult finished = check_untouched(plateau_settings, scratch_ / "stopped");
  EXPECT_EQ(finished.epochs_done, 3);
  EXPECT_TRUE(finished.stopped_early);
  EXPECT_EQ(finished.best_epoch, 1);
  EXPECT_TRUE(finished.best_loss.has_value());
}

TEST_F(PipelineTest, ACheckpointNeedingAnotherPluginVersionIsRefusedWithTheReason) {
  nlohmann::json recorded = pipeline_to_json(pipeline({"mse"}));
  recorded["backbone"]["version"] = "9.9.9";
  try {
    pipeline_from_json(piade::test::builtin_plugins(), recorded, "old.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("old.pt: the checkpoint was trained with backbone 'se_resnet18' version 9.9.9"),
              std::string::npos) << message;
    EXPECT_NE(message.find("version 1.1.0"), std::string::npos) << message;
  }
  recorded = pipeline_to_json(pipeline({"mse"}));
  recorded["routing"]["name"] = "gone";
  try {
    pipeline_from_json(piade::test::builtin_plugins(), recorded, "old.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown routing 'gone'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace piade

namespace piade {
namespace {

// Checkpoints record each part's layout (parameter schema and tensors, with
// a hash): another version of a plugin with the same major number loads
// them when the layout still matches; a changed tensor is refused by name.
class CheckpointLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
  }

  // A checkpoint of `config`'s model whose pipeline entry `edit` may change
  // (as an older or newer plugin would have written it).
  fs::path checkpoint(const PipelineConfig& config, const std::function<void(nlohmann::json&)>& edit,
                      bool with_layout = true) {
    torch::manual_seed(3);
    PiadeModel model(piade::test::builtin_plugins(), config, kShape);
    nlohmann::json pipeline = pipeline_to_json(config, with_layout ? model.get() : nullptr);
    edit(pipeline);
    const nlohmann::json meta = {{"pipeline", pipeline},
                                 {"image", {{"channels", 1}, {"height", 28}, {"width", 28}}}};
    const fs::path file = dir_ / ("checkpoint" + std::to_string(count_++) + ".pt");
    save_checkpoint(file, model, nullptr, meta);
    model_ = model;
    return file;
  }

  std::string refusal(const fs::path& file) {
    try {
      restore_model(piade::test::builtin_plugins(), file, read_checkpoint_meta(file), torch::kCPU);
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  }

  static constexpr ImageShape kShape{1, 28, 28};
  test::ScratchDir dir_;  // a fresh one per test
  int count_ = 0;
  PiadeModel model_{nullptr};
};

TEST_F(CheckpointLayoutTest, RecordsEveryPartsLayoutAndHash) {
  const PipelineConfig config = pipeline({"mse", "ssim"}, "resnet18");
  PiadeModel model(piade::test::builtin_plugins(), config, kShape);
  const nlohmann::json recorded = pipeline_to_json(config, model.get());
  for (const char* part : {"backbone", "pooling", "routing", "decoder"}) {
    const nlohmann::json& layout = recorded.at(part).at("layout");
    EXPECT_EQ(layout.at("hash").get<std::string>().size(), 16u) << part;
    EXPECT_FALSE(layout.at("schema").empty()) << part;
  }
  // The tensors are the part's own, by name, shape and dtype.
  const auto tensors = recorded["pooling"]["layout"]["tensors"].get<std::vector<std::string>>();
  EXPECT_EQ(tensors.front(), "conv0.weight [64,512,1,1] Float");
  EXPECT_NE(std::find(tensors.begin(), tensors.end(), "norm0.running_mean [64] Float"), tensors.end());
  EXPECT_TRUE(recorded["loss"][0]["layout"]["tensors"].empty());  // mse holds no tensor
  // The same configuration gives the same hash; another parameter another.
  PiadeModel again(piade::test::builtin_plugins(), config, kShape);
  EXPECT_EQ(pipeline_to_json(config, again.get())["pooling"]["layout"]["hash"], recorded["pooling"]["layout"]["hash"]);
  const PipelineConfig smaller = pipeline({"mse", "ssim"}, "resnet18", {{"pooling", {{"channels", "32"}}}});
  PiadeModel other(piade::test::builtin_plugins(), smaller, kShape);
  EXPECT_NE(pipeline_to_json(smaller, other.get())["pooling"]["layout"]["hash"], recorded["pooling"]["layout"]["hash"]);
}

TEST_F(CheckpointLayoutTest, AnotherVersionOfTheSameMajorLoadsWhenTheLayoutMatches) {
  const PipelineConfig config = pipeline({"mse"}, "resnet18");
  // Trained with 1.0.1 and 1.3.0 of two plugins; the installed ones are 1.0.0.
  const fs::path file = checkpoint(config, [](nlohmann::json& pipeline) {
    pipeline["backbone"]["version"] = "1.0.1";
    pipeline["routing"]["version"] = "1.3.0";
  });
  const nlohmann::json meta = read_checkpoint_meta(file);
  PiadeModel restored = restore_model(piade::test::builtin_plugins(), file, meta, torch::kCPU);
  const torch::Tensor images = preprocess(synthetic_images(3, 1, 28, 2), Preprocess{28, 1});
  model_->eval();
  restored->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(model_->score(images).total, restored->score(images).total));
}

TEST_F(CheckpointLayoutTest, AChangedTensorShapeIsRefusedNamingTheTensor) {
  // Recorded from a pyramid with 32 channels, restored as one with 64: the
  // layout names the first tensor that differs.
  const PipelineConfig narrow = pipeline({"mse"}, "resnet18", {{"pooling", {{"channels", "32"}}}});
  const fs::path file = checkpoint(narrow, [](nlohmann::json& pipeline) {
    pipeline["pooling"]["params"]["channels"] = "64";
    pipeline["pooling"]["version"] = "1.0.1";
  });
  const std::string message = refusal(file);
  EXPECT_NE(message.find(file.string() + ": pooling 'pyramid' version 1.0.0 ("), std::string::npos) << message;
  EXPECT_NE(message.find("does not fit the checkpoint's weights, trained with version 1.0.1: tensor "
                         "'conv0.weight [32,512,1,1] Float' in the checkpoint, 'conv0.weight [64,512,1,1] Float' now"),
            std::string::npos)
      << message;
  // The same version with another layout (a plugin changed without a bump)
  // is refused the same way.
  const fs::path same_version = checkpoint(narrow, [](nlohmann::json& pipeline) {
    pipeline["pooling"]["params"]["channels"] = "64";
  });
  EXPECT_NE(refusal(same_version).find("tensor 'conv0.weight [32,512,1,1] Float' in the checkpoint"), std::string::npos);
}

TEST_F(CheckpointLayoutTest, AChangedParameterSchemaIsRefusedNamingTheParameter) {
  const PipelineConfig config = pipeline({"mse"}, "resnet18");
  const fs::path file = checkpoint(config, [](nlohmann::json& pipeline) {
    auto& schema = pipeline["routing"]["layout"]["schema"];
    schema[0] = schema[0].get<std::string>() + "0";  // the default it was trained with differs
    pipeline["routing"]["layout"]["hash"] = "0000000000000000";
  });
  const std::string message = refusal(file);
  EXPECT_NE(message.find("routing 'dynamic' version 1.1.0"), std::string::npos) << message;
  EXPECT_NE(message.find(": parameter '"), std::string::npos) << message;
}

// A checkpoint of an older minor version, before a parameter was added (the
// issue-18 switches, backbone.stem): the new parameter takes its default,
// which keeps the old behaviour, so the checkpoint still loads. A recorded
// parameter that is gone now, or one with another default, is still refused.
TEST_F(CheckpointLayoutTest, AParameterAddedSinceTakesItsDefaultAndTheCheckpointLoads) {
  const PipelineConfig config = pipeline({"mse"}, "resnet18");
  // The layout as the plugin wrote it before its first parameter existed.
  auto without_first_parameter = [](nlohmann::json& pipeline) {
    auto& layout = pipeline["routing"]["layout"];
    auto schema = layout["schema"].get<std::vector<std::string>>();
    const std::string added = schema.front().substr(0, schema.front().find(' '));
    schema.erase(schema.begin());
    layout["schema"] = schema;
    layout["hash"] = piade::stable_hash(fmt::format("{}\n--\n{}", fmt::join(schema, "\n"),
                                                    fmt::join(layout["tensors"].get<std::vector<std::string>>(), "\n")));
    pipeline["routing"]["params"].erase(added);
  };
  EXPECT_EQ(refusal(checkpoint(config, without_first_parameter)), "(accepted)");
  // The hash is still checked: a layout that matches neither way is refused.
  const fs::path wrong = checkpoint(config, [&](nlohmann::json& pipeline) {
    without_first_parameter(pipeline);
    pipeline["routing"]["layout"]["hash"] = "0000000000000000";
  });
  EXPECT_NE(refusal(wrong).find("routing 'dynamic' version"), std::string::npos);
}

TEST_F(CheckpointLayoutTest, ACheckpointFromBeforeLayoutsNeedsTheExactVersion) {
  const PipelineConfig config = pipeline({"mse"}, "resnet18");
  // As piade wrote checkpoints before layouts: it still loads with the same versions...
  const fs::path old = checkpoint(config, [](nlohmann::json&) {}, /*with_layout=*/false);
  EXPECT_EQ(refusal(old), "(accepted)");
  // ...and says why and what to do when a plugin's version moved.
  const fs::path moved = checkpoint(config, [](nlohmann::json& pipeline) { pipeline["decoder"]["version"] = "1.0.1"; },
                                    /*with_layout=*/false);
  const std::string message = refusal(moved);
  EXPECT_NE(message.find("the checkpoint was trained with decoder 'transposed' version 1.0.1, but"), std::string::npos)
      << message;
  EXPECT_NE(message.find("use the plugin version it was trained with (the checkpoint records no layout to check "
                         "another version against: it predates layout hashes; retrain to record one)"),
            std::string::npos)
      << message;
}

// Model files (save_model_file): a checkpoint without the optimizer state
// behind a SHA-256, read wherever a checkpoint is; any flipped byte is an
// error naming the file. And update_checkpoint_meta, which rewrites only the
// configuration of either kind of file.
class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    torch::manual_seed(5);
    model_ = PiadeModel(piade::test::builtin_plugins(), config_, kShape);
    optimizer_ = std::make_unique<torch::optim::Adam>(model_->parameters(), torch::optim::AdamOptions(1e-3));
    model_->train();
    train_step(model_, *optimizer_, images(), Precision::fp32);  // the optimizer has state now
    meta_ = {{"pipeline", pipeline_to_json(config_, model_.get())},
             {"image", {{"channels", 1}, {"height", 28}, {"width", 28}}},
             {"score_stats", {{"min", 0.1}, {"max", 0.3}, {"threshold", 0.25}}}};
  }

  static torch::Tensor images() { return preprocess(synthetic_images(4, 1, 28, 9), Preprocess{28, 1}); }

  // The model's scores of images(): what a restored model must give.
  static torch::Tensor scores(PiadeModel& model) {
    torch::NoGradGuard no_grad;
    model->eval();
    return model->score(images()).total;
  }

  static std::string load_error(const fs::path& file) {
    try {
      const nlohmann::json meta = read_checkpoint_meta(file);
      restore_model(piade::test::builtin_plugins(), file, meta, torch::kCPU);
    } catch (const Error& e) {
      return e.what();
    }
    return "(loaded)";
  }

  static constexpr ImageShape kShape{1, 28, 28};
  const PipelineConfig config_ = pipeline({"mse", "ssim"}, "resnet18");
  test::ScratchDir dir_;
  PiadeModel model_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  nlohmann::json meta_;
};

TEST_F(ModelFileTest, HoldsTheWeightsAndConfigurationWithoutTheOptimizer) {
  const fs::path checkpoint = dir_ / "checkpoint.pt", model_file = dir_ / "m.piade";
  save_checkpoint(checkpoint, model_, optimizer_.get(), meta_);
  save_model_file(model_file, model_, meta_);
  EXPECT_TRUE(is_model_file(model_file));
  EXPECT_FALSE(is_model_file(checkpoint));
  EXPECT_EQ(checkpoint_file(model_file), model_file);
  EXPECT_EQ(read_checkpoint_meta(model_file), meta_);
  EXPECT_LT(fs::file_size(model_file), fs::file_size(checkpoint));

  // The header line names the SHA-256 of everything after it.
  const std::string bytes = test::read_text(model_file);
  const std::size_t end = bytes.find('\n');
  const std::string payload = bytes.substr(end + 1);
  EXPECT_EQ(bytes.substr(0, end),
            "piade-model 1 sha256 " + sha256_hex(payload) + " " + std::to_string(payload.size()));

  const torch::Tensor expected = scores(model_);
  PiadeModel restored = restore_model(piade::test::builtin_plugins(), model_file, meta_, torch::kCPU);
  EXPECT_TRUE(torch::equal(scores(restored), expected));
  // Recognised by its header under any name, too.
  const fs::path renamed = dir_ / "model.bin";
  fs::copy_file(model_file, renamed);
  EXPECT_TRUE(is_model_file(renamed));
  PiadeModel again = restore_model(piade::test::builtin_plugins(), renamed, meta_, torch::kCPU);
  EXPECT_TRUE(torch::equal(scores(again), expected));
  // No optimizer state to resume training from.
  torch::optim::Adam optimizer(restored->parameters(), torch::optim::AdamOptions(1e-3));
  try {
    load_checkpoint_state(model_file, restored, &optimizer, torch::kCPU);
    ADD_FAILURE() << "loaded an optimizer state from a model file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds no optimizer state"), std::string::npos) << e.what();
  }
}

TEST_F(ModelFileTest, AFlippedByteAnywhereIsAnErrorNamingTheFile) {
  const fs::path original = dir_ / "m.piade";
  save_model_file(original, model_, meta_);
  const std::string bytes = test::read_text(original);
  const std::size_t header = bytes.find('\n') + 1;
  // The magic, the version, the digest, the length, the newline, and the
  // payload's first, middle and last bytes.
  for (const std::size_t at : {std::size_t{0}, std::size_t{12}, std::size_t{25}, header - 3, header - 1, header,
                               header + (bytes.size() - header) / 2, bytes.size() - 1}) {
    for (const char* name : {"flipped.piade", "flipped.bin"}) {
      std::string damaged = bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ 0x04);
      const fs::path file = dir_ / name;
      test::write_text(file, damaged);
      const std::string message = load_error(file);
      EXPECT_EQ(message.rfind(file.string() + ": ", 0), 0u) << "byte " << at << ": " << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << "byte " << at << ": " << message;
      if (at >= header && std::string(name) == "flipped.piade") {
        EXPECT_NE(message.find("corrupt model file: the SHA-256 of its contents is"), std::string::npos) << message;
      }
    }
  }
  // Truncated.
  const fs::path cut = dir_ / "cut.piade";
  test::write_text(cut, bytes.substr(0, bytes.size() - 100));
  EXPECT_NE(load_error(cut).find("truncated or damaged"), std::string::npos) << load_error(cut);
  EXPECT_EQ(load_error(original), "(loaded)");
}

TEST_F(ModelFileTest, UpdatingTheConfigurationKeepsEveryTensorAndTheOptimizerState) {
  const fs::path checkpoint = dir_ / "checkpoint.pt", model_file = dir_ / "m.piade";
  save_checkpoint(checkpoint, model_, optimizer_.get(), meta_);
  save_model_file(model_file, model_, meta_);
  const torch::Tensor expected = scores(model_);
  for (const fs::path& file : {checkpoint, model_file}) {
    const nlohmann::json written =
        update_checkpoint_meta(file, [](nlohmann::json& meta) { meta["calibration"] = {{"threshold", 0.2}}; });
    EXPECT_EQ(written["calibration"]["threshold"], 0.2);
    const nlohmann::json meta = read_checkpoint_meta(file);  // a model file's new checksum holds
    EXPECT_EQ(meta, written) << file;
    EXPECT_EQ(checkpoint_threshold(meta), 0.2);
    EXPECT_EQ(stored_threshold(meta_).method, "training-p99");
    PiadeModel restored = restore_model(piade::test::builtin_plugins(), file, meta, torch::kCPU);
    EXPECT_TRUE(torch::equal(scores(restored), expected)) << file;
  }
  // The checkpoint still resumes: its optimizer state is the one saved.
  PiadeModel restored = restore_model(piade::test::builtin_plugins(), checkpoint, meta_, torch::kCPU);
  torch::optim::Adam optimizer(restored->parameters(), torch::optim::AdamOptions(1e-3));
  load_checkpoint_state(checkpoint, restored, &optimizer, torch::kCPU);
  // Adam keys its state by the parameter's TensorImpl address; compare in
  // parameter order.
  const auto key = [](const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); };
  const std::vector<torch::Tensor> saved = model_->parameters(), loaded = restored->parameters();
  ASSERT_EQ(saved.size(), loaded.size());
  ASSERT_EQ(optimizer.state().size(), optimizer_->state().size());
  ASSERT_FALSE(optimizer_->state().empty());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    const auto before = optimizer_->state().find(key(saved[i]));
    const auto after = optimizer.state().find(key(loaded[i]));
    ASSERT_EQ(before == optimizer_->state().end(), after == optimizer.state().end()) << i;
    if (before == optimizer_->state().end()) continue;
    const auto& adam = static_cast<const torch::optim::AdamParamState&>(*before->second);
    const auto& again = static_cast<const torch::optim::AdamParamState&>(*after->second);
    EXPECT_EQ(adam.step(), again.step());
    EXPECT_TRUE(torch::equal(adam.exp_avg(), again.exp_avg())) << i;
    EXPECT_TRUE(torch::equal(adam.exp_avg_sq(), again.exp_avg_sq())) << i;
  }
}

}  // namespace
}  // namespace piade
