// CIFAR-10 binary batches (datasets/cifar10.h): record layout to RGB
// planes, the one-class protocol through the registry, and corrupt files.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "piade/datasets/cifar10.h"
#include "fixtures.h"

namespace piade {
namespace {

using test::error_of;
using test::load;
using test::Request;
using test::ScratchDir;
using test::write_bytes;

// `count` records, record i: label (first + i) % 10, red plane 10 + i,
// green 100 + i, blue 200 - i, and red pixel (row 3, column 5) = 255.
std::string records(int count, int first = 0) {
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    bytes.push_back(char((first + i) % 10));
    std::string red(1024, char(10 + i)), green(1024, char(100 + i)), blue(1024, char(200 - i));
    red[3 * 32 + 5] = char(255);
    bytes += red + green + blue;
  }
  return bytes;
}

// Five training batches of 20 records and a test batch of 30.
void write_cifar(const std::filesystem::path& dir) {
  for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), records(20, b));
  write_bytes(dir / "test_batch.bin", records(30));
}

TEST(Cifar10, RecordsBecomeRgbPlanes) {
  ScratchDir dir;
  const std::string file = write_bytes(dir / "test_batch.bin", records(12));
  const ImageSet set = read_cifar10_batch(file);
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{12, 3, 32, 32}));
  EXPECT_EQ(set.images[4][0][0][0].item<int>(), 14);
  EXPECT_EQ(set.images[4][1][31][31].item<int>(), 104);
  EXPECT_EQ(set.images[4][2][17][2].item<int>(), 196);
  EXPECT_EQ(set.images[4][0][3][5].item<int>(), 255);  // row-major: row 3, column 5
  EXPECT_EQ(set.images[4][0][5][3].item<int>(), 14);
  EXPECT_EQ(set.labels[11].item<int64_t>(), 1);
  EXPECT_EQ(set.ids[4], file + "#4");
}

TEST(Cifar10, OneClassThroughTheOptions) {
  ScratchDir dir;
  write_cifar(dir / "cifar-10-batches-bin");  // where the archive unpacks
  const OneClassSplit split = load(Request("cifar10", dir.path().string()).normal_class(3));
  // Training labels (b + i) % 10 == 3: two of each batch of 20.
  EXPECT_EQ(split.train.size(), 10);
  EXPECT_EQ(split.train.labels.sum().item<int64_t>(), 0);
  EXPECT_EQ(split.test.size(), 30);
  EXPECT_EQ(split.test.labels.sum().item<int64_t>(), 27);
  EXPECT_EQ(split.description, "CIFAR-10 class 3 (cat)");
  EXPECT_EQ(split.train.images.sizes(), (std::vector<int64_t>{10, 3, 32, 32}));  // preprocess() resizes later
  EXPECT_EQ(split.train.ids[0], (dir / "cifar-10-batches-bin" / "data_batch_1.bin").string() + "#2");
  // Each test image's class by name (test record i has label i % 10),
  // although the labels are now 0 (cat) and 1 (any other class).
  ASSERT_EQ(split.test_classes.size(), 30u);
  EXPECT_EQ(split.test_classes[3], "cat");
  EXPECT_EQ(split.test_classes[14], "deer");
  EXPECT_EQ(split.test_classes[29], "truck");
  EXPECT_TRUE(split.test.original_sizes.empty());  // one fixed size

  // --resize: the final geometry at load time (resize to 40, crop 32).
  const OneClassSplit cropped = load(Request("cifar10", dir.path().string()).normal_class(3).max_test(10).size(32, 40));
  EXPECT_EQ(cropped.test.images.sizes(), (std::vector<int64_t>{10, 3, 32, 32}));
  EXPECT_EQ(cropped.test.labels.sum().item<int64_t>(), 9);
  // The 255 pixel at (3, 5) moves to about (3.75, 6.25) - 4 after the zoom.
  EXPECT_FALSE(torch::equal(cropped.train.images, split.train.images));

  EXPECT_EQ(error_of([&] { load(Request("cifar10", dir.path().string()).normal_class(10)); }),
            "normal_class: must be 0..9 for cifar10, got 10");
  EXPECT_EQ(error_of([&] { load(Request("cifar10", (dir / "none").string())); }),
            "data_root: '" + (dir / "none").string() + "' is not a directory");
}

TEST(Cifar10, CorruptFilesAreNamedWithWhatIsWrong) {
  ScratchDir dir;
  std::string cut = records(3);
  cut.resize(cut.size() - 100);
  const std::string short_file = write_bytes(dir / "short.bin", cut);
  const std::string not_whole = " bytes is not a whole number of 3073-byte records (1 label byte + 32x32x3 pixels); "
                                "the file is truncated or not a CIFAR-10 binary batch";
  EXPECT_EQ(error_of([&] { read_cifar10_batch(short_file); }), short_file + ": 9119" + not_whole);
  std::string labelled = records(3);
  labelled[2 * 3073] = char(12);
  const std::string bad_label = write_bytes(dir / "label.bin", labelled);
  const std::string label_12 = ": record 2 (byte 6146) has label 12, CIFAR-10 labels are 0..9; the file is corrupt "
                               "or not a CIFAR-10 batch";
  EXPECT_EQ(error_of([&] { read_cifar10_batch(bad_label); }), bad_label + label_12);
  const std::string empty = write_bytes(dir / "empty.bin", "");
  EXPECT_EQ(error_of([&] { read_cifar10_batch(empty); }), empty + ": empty file, expected 3073-byte CIFAR-10 records");

  // skip_bad: each dropped record by its id, with the error it would have thrown.
  std::vector<SkippedItem> skipped;
  EXPECT_EQ(read_cifar10_batch(short_file, true, &skipped).size(), 2);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].item, short_file + "#2");
  EXPECT_EQ(skipped[0].reason, short_file + ": 9119" + not_whole);
  skipped.clear();
  EXPECT_EQ(read_cifar10_batch(bad_label, true, &skipped).size(), 2);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].item, bad_label + "#2");
  EXPECT_EQ(skipped[0].reason, bad_label + label_12);
  // Both at once, in record order: the partial record is the file's last.
  std::string both = records(3);
  both[1 * 3073] = char(11);
  both.resize(both.size() - 100);
  const std::string both_file = write_bytes(dir / "both.bin", both);
  skipped.clear();
  EXPECT_EQ(read_cifar10_batch(both_file, true, &skipped).size(), 1);
  EXPECT_EQ(test::items_of(skipped), (std::vector<std::string>{both_file + "#1", both_file + "#2"}));

  // Through load_one_class: a missing batch is named; skip_bad names the record.
  write_cifar(dir / "set");
  std::filesystem::remove(dir / "set" / "data_batch_4.bin");
  EXPECT_EQ(error_of([&] { load(Request("cifar10", (dir / "set").string())); }),
            "data_root: '" + (dir / "set").string() +
                "' has no data_batch_4.bin (the CIFAR-10 binary version: data_batch_1..5.bin, test_batch.bin)");
  write_bytes(dir / "set" / "data_batch_4.bin", labelled);
  const std::string batch4 = (dir / "set" / "data_batch_4.bin").string();
  EXPECT_NE(error_of([&] { load(Request("cifar10", (dir / "set").string())); })
                .find(batch4 + ": record 2 (byte 6146) has label 12"),
            std::string::npos);
  const OneClassSplit split = load(Request("cifar10", (dir / "set").string()).skip_bad());
  ASSERT_EQ(split.skipped_items.size(), 1u);
  EXPECT_EQ(split.skipped_items[0].item, batch4 + "#2");
  EXPECT_EQ(split.skipped_items[0].reason, batch4 + label_12);
}

// A batch that is a directory read as an empty file ("empty file"), and a
// FIFO blocked the reader forever; both are named before opening.
TEST(Cifar10, ABatchThatIsNotARegularFileIsNamed) {
  ScratchDir dir;
  write_cifar(dir / "set");
  const std::string batch = (dir / "set" / "test_batch.bin").string();
  std::filesystem::remove(batch);
  std::filesystem::create_directory(batch);
  EXPECT_EQ(error_of([&] { load(Request("cifar10", (dir / "set").string())); }),
            batch + ": is a directory, not a file");
  std::filesystem::remove(batch);
  ASSERT_EQ(mkfifo(batch.c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { read_cifar10_batch(batch); }), batch + ": is a FIFO (named pipe), not a regular file");
}

}  // namespace
}  // namespace piade
