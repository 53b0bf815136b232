// COIL-100 (datasets/coil100.h): the seeded 80%/20% split per object and
// the one-class protocol on it through the registry.
#include <gtest/gtest.h>

#include <set>

#include "piade/datasets/coil100.h"
#include "fixtures.h"

namespace piade {
namespace {

using test::count_containing;
using test::error_of;
using test::load;
using test::Request;
using test::ScratchDir;
using test::write_image;

// Objects 1, 2 and 4 (3 is missing), 72 views each, object N all colour
// (B, G, R) = (N, 10 N, 50 N); plus files the listing must ignore.
class Coil100 : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int object : {1, 2, 4})
      for (int angle = 0; angle < 360; angle += 5)
        write_image(dir_ / ("obj" + std::to_string(object) + "__" + std::to_string(angle) + ".png"),
                    test::solid(12, {double(object), 10.0 * object, 50.0 * object}));
    test::write_bytes(dir_ / "convertGroupppm2png.pl", "#!/usr/bin/perl\n");
    write_image(dir_ / "thumbnail.png", test::solid(12, {0, 0, 0}));
  }
  std::string root() const { return dir_.path().string(); }
  ScratchDir dir_;
};

std::set<std::string> paths(const std::vector<ImageFile>& files) {
  std::set<std::string> out;
  for (const ImageFile& file : files) out.insert(file.path);
  return out;
}

TEST_F(Coil100, SplitsEachObject57To15SeededAndDeterministic) {
  const Coil100Files a = coil100_files(root(), 7);
  EXPECT_EQ(a.objects, (std::vector<int64_t>{1, 2, 4}));
  ASSERT_EQ(a.train.size(), 3u * 57);
  ASSERT_EQ(a.test.size(), 3u * 15);
  for (int64_t object : a.objects) {
    const auto of = [&](const std::vector<ImageFile>& files) {
      return std::count_if(files.begin(), files.end(), [&](const ImageFile& f) { return f.label == object; });
    };
    EXPECT_EQ(of(a.train), 57);
    EXPECT_EQ(of(a.test), 15);
  }
  const std::set<std::string> train = paths(a.train), test_set = paths(a.test);
  EXPECT_EQ(train.size(), 171u);
  for (const std::string& file : test_set) EXPECT_EQ(train.count(file), 0u) << file;

  const Coil100Files same = coil100_files(root(), 7);
  const Coil100Files other = coil100_files(root(), 8);
  EXPECT_EQ(paths(same.test), test_set);
  EXPECT_NE(paths(other.test), test_set);
  EXPECT_EQ(other.test.size(), 45u);
}

TEST_F(Coil100, OneClassThroughTheOptions) {
  const OneClassSplit split =
      load(Request("coil100", root()).normal_class(2).size(16), 7);
  EXPECT_EQ(split.description, "COIL-100 object 2");
  ASSERT_EQ(split.train.size(), 57);
  EXPECT_EQ(count_containing(split.train.ids, "/obj2__"), 57);
  EXPECT_EQ(split.train.images.sizes(), (std::vector<int64_t>{57, 3, 16, 16}));
  EXPECT_EQ(split.train.images[0][0][8][8].item<int>(), 100);  // R = 50 N
  EXPECT_EQ(split.train.images[0][1][8][8].item<int>(), 20);
  EXPECT_EQ(split.train.images[0][2][8][8].item<int>(), 2);
  ASSERT_EQ(split.test.size(), 45);
  EXPECT_EQ(split.test.labels.sum().item<int64_t>(), 30);
  // The protocol's test split is the per-object 20%, whatever the normal object.
  const std::set<std::string> test_ids(split.test.ids.begin(), split.test.ids.end());
  EXPECT_EQ(test_ids, paths(coil100_files(root(), 7).test));
  for (int64_t i = 0; i < split.test.size(); ++i)
    EXPECT_EQ(split.test.labels[i].item<int64_t>(), split.test.ids[std::size_t(i)].find("/obj2__") == std::string::npos);

  // The default normal object is the first; subsets are stratified.
  const OneClassSplit small = load(Request("coil100", root()).max_train(10).max_test(9));
  EXPECT_EQ(small.description, "COIL-100 object 1");
  EXPECT_EQ(small.train.size(), 10);
  EXPECT_EQ(small.test.size(), 9);
  EXPECT_EQ(small.test.labels.sum().item<int64_t>(), 6);
  EXPECT_EQ(small.train.images.size(2), 12);  // no --image-size: the files' own

  EXPECT_EQ(error_of([&] { load(Request("coil100", root()).normal_class(3)); }),
            "normal_class: COIL-100 object 3 is not in " + root() + " (objects: 1-2, 4)");
  ScratchDir empty;
  EXPECT_EQ(error_of([&] { load(Request("coil100", empty.path().string())); }),
            "data_root: '" + empty.path().string() + "' has no COIL-100 images (obj<N>__<angle>.png)");
}

TEST_F(Coil100, BadFilesAreNamedOrSkipped) {
  test::write_bytes(dir_ / "obj2__3.png", "truncated");
  const std::string bad = (dir_ / "obj2__3.png").string();
  // The broken view may land in either split; both decode.
  EXPECT_EQ(error_of([&] { load(Request("coil100", root()).normal_class(2)); }),
            bad + ": cannot decode as an image (unreadable, truncated or not an image); fix or remove it, or pass `skip_bad`");
  const OneClassSplit split = load(Request("coil100", root()).normal_class(2).skip_bad());
  ASSERT_EQ(split.skipped_items.size(), 1u);
  EXPECT_EQ(split.skipped_items[0].item, bad);
  EXPECT_EQ(split.skipped_items[0].reason, bad + ": cannot decode as an image (unreadable, truncated or not an image)");
  EXPECT_EQ(split.train.size() + split.test.size(), 58 + 45 - 1);  // 73 views of object 2: 58 / 15
}

// A name that matches obj<N>__<angle>.png with more digits than an int64
// holds made std::stoll throw std::out_of_range, which named no file
// (found writing tests/fuzz/fuzz_coil100).
TEST(Coil100Names, ANumberBeyondInt64IsAnErrorNamingTheFile) {
  ScratchDir dir;
  const std::string name = (dir.path() / "obj99999999999999999999__0.png").string();
  test::write_bytes(name, "");
  EXPECT_EQ(error_of([&] { coil100_files(dir.path().string(), 1); }),
            name + ": number 99999999999999999999 in a COIL-100 name (obj<N>__<angle>.png) is too large");
}

}  // namespace
}  // namespace piade
