// Datasets larger than memory (issue 17): above DecodeOptions::memory_budget
// image files are streamed (decoded batch by batch) with the same pixels, the
// same skipped files and the same errors as when decoded into memory, and the
// Prefetcher that feeds training holds a bounded number of batches.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "piade/datasets/image_files.h"
#include "piade/datasets/limits.h"
#include "piade/datasets/one_class.h"
#include "piade/datasets/prefetch.h"
#include "fixtures.h"

namespace piade {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::ScratchDir;
using test::write_bytes;
using test::write_image;

// `n` files of several sizes and kinds (gray, BGR, BGRA; shrunk and
// enlarged), each a different gradient, so that any mix-up of rows shows.
std::vector<ImageFile> varied_files(const fs::path& dir, int n) {
  std::vector<ImageFile> files;
  for (int i = 0; i < n; ++i) {
    const int size = 20 + 7 * (i % 5);
    const int type = i % 3 == 0 ? CV_8UC1 : i % 3 == 1 ? CV_8UC3 : CV_8UC4;
    cv::Mat image(size, size + i % 2, type);
    cv::randu(image, cv::Scalar::all(i), cv::Scalar::all(200 + i));
    files.push_back({write_image(dir / fmt::format("{:03d}.png", i), image), i % 2, ""});
  }
  return files;
}

DecodeOptions geometry(int64_t budget = 0) {
  DecodeOptions options;
  options.channels = 3;
  options.image_size = 24;
  options.resize = 28;
  options.threads = 2;
  options.memory_budget = budget;
  return options;
}

TEST(Stream, AboveTheBudgetTheSetIsStreamedWithTheSamePixelsLabelsAndIds) {
  ScratchDir dir;
  const std::vector<ImageFile> files = varied_files(dir.path(), 13);
  const ImageSet memory = read_image_files(files, geometry());
  EXPECT_EQ(decoded_bytes(files, geometry()), uint64_t(13 * 3 * 24 * 24));

  // At the budget it fits; one byte less and it is streamed.
  EXPECT_FALSE(load_image_files(files, geometry(13 * 3 * 24 * 24)).streamed());
  const ImageSet streamed = load_image_files(files, geometry(13 * 3 * 24 * 24 - 1));
  ASSERT_TRUE(streamed.streamed());
  EXPECT_FALSE(streamed.images.defined());
  EXPECT_EQ(streamed.size(), 13);
  EXPECT_TRUE(torch::equal(streamed.labels, memory.labels));
  EXPECT_EQ(streamed.ids, memory.ids);

  const std::vector<int64_t> rows = {12, 0, 5, 5, 7};
  EXPECT_TRUE(torch::equal(streamed.images_at(rows), memory.images_at(rows)));
  // A subset of a streamed set is streamed, with its own rows.
  const ImageSet subset = streamed.select({3, 9});
  ASSERT_TRUE(subset.streamed());
  EXPECT_TRUE(torch::equal(subset.images_at({1, 0}), memory.images_at({9, 3})));
}

TEST(Stream, MasksStayInMemoryAndMatchTheDecodedOnes) {
  ScratchDir dir;
  std::vector<ImageFile> files = varied_files(dir.path(), 4);
  cv::Mat mask(27, 28, CV_8UC1, cv::Scalar(0));
  mask(cv::Rect(3, 4, 9, 9)).setTo(255);
  files[1].mask = write_image(dir / "001_mask.png", mask);  // 001.png is 27 x 28
  const ImageSet memory = read_image_files(files, geometry());
  const ImageSet streamed = stream_image_files(files, geometry());
  ASSERT_TRUE(streamed.masks.defined());
  EXPECT_TRUE(torch::equal(streamed.masks, memory.masks));
  EXPECT_GT(streamed.masks[1].sum().item<int64_t>(), 0);
}

TEST(Stream, SkipBadDropsTheSameFilesWithTheSameReasonsAsInMemory) {
  ScratchDir dir;
  std::vector<ImageFile> files = varied_files(dir.path(), 6);
  files[2].path = write_bytes(dir / "002.png", "not a png");
  files[4].path = write_bytes(dir / "004.jpg", "\xFF\xD8\xFF\xE0 cut");
  DecodeOptions options = geometry();
  options.skip_bad = true;
  std::vector<SkippedItem> in_memory, in_stream;
  const ImageSet memory = read_image_files(files, options, &in_memory);
  const ImageSet streamed = stream_image_files(files, options, &in_stream);
  ASSERT_EQ(in_stream.size(), 2u);
  ASSERT_EQ(in_memory.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(in_stream[i].item, in_memory[i].item);
    EXPECT_EQ(in_stream[i].reason, in_memory[i].reason);
  }
  EXPECT_EQ(streamed.ids, memory.ids);
  EXPECT_TRUE(torch::equal(streamed.images_at({0, 1, 2, 3}), memory.images));

  // Without skip_bad a streamed file is first read when a batch needs it:
  // the same one line as in memory, naming the file.
  options.skip_bad = false;
  const std::string expected = error_of([&] { read_image_files(files, options); });
  const ImageSet lazy = stream_image_files(files, options);
  EXPECT_EQ(lazy.size(), 6);
  EXPECT_EQ(error_of([&] { lazy.images_at({0, 1, 2}); }), expected);
  EXPECT_NE(expected.find("002.png: cannot decode"), std::string::npos) << expected;
}

TEST(Stream, AFileThatBreaksAfterLoadingIsNamedByTheBatchThatNeedsIt) {
  ScratchDir dir;
  std::vector<ImageFile> files = varied_files(dir.path(), 8);
  DecodeOptions options = geometry();
  options.skip_bad = true;  // every file was checked when loading
  const ImageSet streamed = stream_image_files(files, options);
  write_bytes(files[5].path, "truncated");
  std::vector<std::vector<int64_t>> batches = {{0, 1}, {2, 3}, {4, 5}, {6, 7}};
  Prefetcher prefetcher(streamed, batches);
  EXPECT_EQ(prefetcher.next().size(0), 2);
  EXPECT_EQ(prefetcher.next().size(0), 2);
  const std::string error = error_of([&] { prefetcher.next(); });
  EXPECT_NE(error.find(files[5].path + ": cannot decode"), std::string::npos) << error;
  EXPECT_NE(error.find("it could be read when the dataset was loaded"), std::string::npos) << error;
  // Nothing after the failed batch: a clear error, not a hang.
  EXPECT_NE(error_of([&] { prefetcher.next(); }).find("an earlier batch failed"), std::string::npos);
}

TEST(Stream, ThePrefetcherDecodesAheadButNeverMoreThanItsDepth) {
  ScratchDir dir;
  const std::vector<ImageFile> files = varied_files(dir.path(), 12);
  const ImageSet memory = read_image_files(files, geometry());
  const ImageSet streamed = stream_image_files(files, geometry());
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b = 0; b < 12; ++b) batches.push_back({(b * 5) % 12, (b * 7 + 1) % 12});
  constexpr int64_t kDepth = 3;
  Prefetcher prefetcher(streamed, batches, kDepth);
  for (int64_t b = 0; b < 12; ++b) {
    // Let the decoder run as far ahead as it can: it stops at the depth.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const int64_t reachable = std::min<int64_t>(b + kDepth, 12);
    while (prefetcher.decoded() < reachable && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(prefetcher.decoded(), reachable) << "batch " << b;
    EXPECT_LE(prefetcher.decoded() - prefetcher.taken(), kDepth);
    EXPECT_TRUE(torch::equal(prefetcher.next(), memory.images_at(batches[std::size_t(b)]))) << "batch " << b;
  }
  EXPECT_EQ(prefetcher.peak_ahead(), kDepth);
  EXPECT_NE(error_of([&] { prefetcher.next(); }).find("all 12 batches were taken"), std::string::npos);
}

TEST(Stream, APrefetcherLeftEarlyStopsWithoutDecodingTheRest) {
  ScratchDir dir;
  const ImageSet streamed = stream_image_files(varied_files(dir.path(), 6), geometry());
  std::vector<std::vector<int64_t>> batches(50, std::vector<int64_t>{0, 1, 2});
  {
    Prefetcher prefetcher(streamed, batches, 2);
    prefetcher.next();
  }  // the destructor returns (an interrupted epoch): no hang, no crash
  SUCCEED();
}

TEST(Stream, OneClassFilesStreamsBothSplitsAboveTheBudget) {
  ScratchDir dir;
  const std::vector<ImageFile> all = varied_files(dir.path(), 10);
  std::vector<ImageFile> train(all.begin(), all.begin() + 4);
  for (ImageFile& file : train) file.label = 0;  // the normal class
  std::vector<ImageFile> test(all.begin() + 4, all.end());  // labels 0 and 1 alternate
  const OneClassSplit memory = one_class_files(train, test, 0, 0, 0, 3, geometry());
  const OneClassSplit streamed = one_class_files(train, test, 0, 0, 0, 3, geometry(1));
  ASSERT_TRUE(streamed.train.streamed());
  ASSERT_TRUE(streamed.test.streamed());
  EXPECT_EQ(streamed.train.ids, memory.train.ids);
  EXPECT_EQ(streamed.test.ids, memory.test.ids);
  EXPECT_TRUE(torch::equal(streamed.test.labels, memory.test.labels));
  EXPECT_TRUE(torch::equal(streamed.train.images_at({0, 1, 2, 3}), memory.train.images));
  EXPECT_EQ(error_of([&] { streamed.train.images_at({4}); }), "image 4 of a streamed set of 4 requested");
}

TEST(Stream, TheDefaultBudgetIsAQuarterOfTheMemoryAtMost) {
  const uint64_t budget = default_memory_budget();
  const uint64_t ram = uint64_t(::sysconf(_SC_PHYS_PAGES)) * uint64_t(::sysconf(_SC_PAGESIZE));
  EXPECT_GE(budget, 1u);
  EXPECT_LE(budget, ram / 4);
}

}  // namespace
}  // namespace piade
