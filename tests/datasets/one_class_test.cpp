// The one-class protocol on Debian's Fashion-MNIST (paper sec. 4.1): one
// class normal, train on its training images only, test on everything.
#include <gtest/gtest.h>

#include "piade/datasets/idx.h"
#include "piade/datasets/one_class.h"
#include "piade/datasets/error.h"

namespace {

const std::string kRoot = "/usr/share/datasets/fashion-mnist/";

const piade::ImageSet& fmnist(bool train) {
  static const piade::ImageSet train_set =
      piade::read_idx(kRoot + "train-images-idx3-ubyte.gz", kRoot + "train-labels-idx1-ubyte.gz");
  static const piade::ImageSet test_set =
      piade::read_idx(kRoot + "t10k-images-idx3-ubyte.gz", kRoot + "t10k-labels-idx1-ubyte.gz");
  return train ? train_set : test_set;
}

TEST(OneClass, FashionMnistCountsAre6000TrainAnd1000Versus9000Test) {
  ASSERT_EQ(fmnist(true).size(), 60000);
  ASSERT_EQ(fmnist(false).size(), 10000);
  const piade::OneClassSplit split = piade::one_class_split(fmnist(true), fmnist(false), 3, 0, 0, 0);
  EXPECT_EQ(split.train.size(), 6000);
  EXPECT_EQ(split.train.labels.sum().item<int64_t>(), 0);
  EXPECT_EQ(split.test.size(), 10000);
  EXPECT_EQ(split.test.labels.sum().item<int64_t>(), 9000);
  // Every training image really is of class 3.
  const auto original = split.train.ids.front();
  const int64_t index = std::stoll(original.substr(original.find('#') + 1));
  EXPECT_EQ(fmnist(true).labels[index].item<int64_t>(), 3);
}

TEST(OneClass, SubsetsAreSeededAndTheTestSubsetIsStratified) {
  const auto a = piade::one_class_split(fmnist(true), fmnist(false), 0, 100, 200, 5);
  const auto b = piade::one_class_split(fmnist(true), fmnist(false), 0, 100, 200, 5);
  const auto c = piade::one_class_split(fmnist(true), fmnist(false), 0, 100, 200, 6);
  EXPECT_EQ(a.train.size(), 100);
  EXPECT_EQ(a.test.size(), 200);
  EXPECT_EQ(a.test.labels.sum().item<int64_t>(), 180);  // 10% normal kept
  EXPECT_EQ(a.train.ids, b.train.ids);
  EXPECT_EQ(a.test.ids, b.test.ids);
  EXPECT_NE(a.train.ids, c.train.ids);
  // Each test image keeps its class number (MNIST-like sets have no names
  // here; the registry names Fashion-MNIST's).
  ASSERT_EQ(a.test_classes.size(), 200u);
  for (std::size_t i = 0; i < a.test_classes.size(); ++i) {
    const std::string& id = a.test.ids[i];
    const int64_t record = std::stoll(id.substr(id.find('#') + 1));
    EXPECT_EQ(a.test_classes[i], std::to_string(fmnist(false).labels[record].item<int64_t>())) << id;
    EXPECT_EQ(a.test.labels[int64_t(i)].item<int64_t>(), a.test_classes[i] == "0" ? 0 : 1) << id;
  }
}

TEST(OneClass, AClassWithoutTrainingImagesIsAnError) {
  try {
    piade::one_class_split(fmnist(true), fmnist(false), 11, 0, 0, 0);
    FAIL();
  } catch (const piade::DatasetError& e) {
    EXPECT_STREQ(e.what(), "normal_class: class 11 has no training images");
    EXPECT_EQ(e.setting(), "normal_class");
  }
}

}  // namespace
