// piade/eval/gallery.h: which test images eval draws (the worst errors
// first), what their files are called, and the text under each picture.
#include <gtest/gtest.h>

#include "piade/core/error.h"
#include "piade/eval/gallery.h"

namespace {

using piade::ChosenPicture;
using piade::Decision;
using piade::Outcome;

std::vector<int64_t> indices_of(const std::vector<ChosenPicture>& chosen) {
  std::vector<int64_t> out;
  for (const ChosenPicture& c : chosen) out.push_back(c.index);
  return out;
}

std::vector<Outcome> outcomes_of(const std::vector<ChosenPicture>& chosen) {
  std::vector<Outcome> out;
  for (const ChosenPicture& c : chosen) out.push_back(c.outcome);
  return out;
}

// Ten normal images (0..9) and ten anomalous ones (10..19) around a stored
// threshold of 0.5: normals 2, 5 and 7 are false positives (5 the worst),
// anomalies 11 and 16 false negatives (16 the worst).
struct Synthetic {
  std::vector<double> scores = {0.1, 0.2, 0.6, 0.3, 0.1, 0.9, 0.2, 0.7, 0.4, 0.3,
                                0.8, 0.45, 0.9, 0.7, 0.6, 0.8, 0.05, 0.9, 0.55, 0.6};
  std::vector<int> labels = std::vector<int>(10, 0);
  Synthetic() { labels.insert(labels.end(), 10, 1); }
};

TEST(ChoosePictures, WorstFalsePositivesAndNegativesFirstThenASampleOfTheRest) {
  const Synthetic s;
  const Decision stored{0.5, false, "stored"};
  // Two per label: only errors, the worst of each.
  std::vector<ChosenPicture> two = piade::choose_pictures(s.scores, s.labels, stored, 2, 1);
  EXPECT_EQ(indices_of(two), (std::vector<int64_t>{5, 7, 16, 11}));
  EXPECT_EQ(outcomes_of(two), (std::vector<Outcome>{Outcome::false_positive, Outcome::false_positive,
                                                    Outcome::false_negative, Outcome::false_negative}));
  // Five per label: every error, worst first, then correct ones.
  const std::vector<ChosenPicture> five = piade::choose_pictures(s.scores, s.labels, stored, 5, 1);
  ASSERT_EQ(five.size(), 10u);
  const std::vector<int64_t> indices = indices_of(five);
  EXPECT_EQ(std::vector<int64_t>(indices.begin(), indices.begin() + 3), (std::vector<int64_t>{5, 7, 2}));
  for (int k = 3; k < 5; ++k) {
    EXPECT_EQ(five[k].outcome, Outcome::true_negative) << k;
    EXPECT_LT(s.scores[std::size_t(five[k].index)], 0.5) << k;
  }
  EXPECT_EQ(five[5].index, 16);
  EXPECT_EQ(five[6].index, 11);
  for (int k = 7; k < 10; ++k) EXPECT_EQ(five[k].outcome, Outcome::true_positive) << k;
  // The sample is seeded: the same seed, the same pictures.
  EXPECT_EQ(indices_of(piade::choose_pictures(s.scores, s.labels, stored, 5, 1)), indices_of(five));
  // More than there are: every image once.
  EXPECT_EQ(piade::choose_pictures(s.scores, s.labels, stored, 50, 1).size(), 20u);
  EXPECT_TRUE(piade::choose_pictures(s.scores, s.labels, stored, 0, 1).empty());
}

TEST(ChoosePictures, AnInclusiveThresholdCountsTheImageAtIt) {
  const Synthetic s;
  // At 0.6 inclusive (an F1 threshold is a score): normal 2 (0.6) is flagged,
  // anomaly 14 (0.6) caught; exclusive, the reverse.
  const auto at = [&](bool inclusive) {
    return piade::choose_pictures(s.scores, s.labels, Decision{0.6, inclusive, "F1-max"}, 10, 0);
  };
  const auto outcome_of = [](const std::vector<ChosenPicture>& chosen, int64_t index) {
    for (const ChosenPicture& c : chosen)
      if (c.index == index) return c.outcome;
    return Outcome::true_negative;
  };
  EXPECT_EQ(outcome_of(at(true), 2), Outcome::false_positive);
  EXPECT_EQ(outcome_of(at(false), 2), Outcome::true_negative);
  EXPECT_EQ(outcome_of(at(true), 14), Outcome::true_positive);
  EXPECT_EQ(outcome_of(at(false), 14), Outcome::false_negative);
}

TEST(ChoosePictures, RefusesMismatchedInputs) {
  const Decision stored{0.5, false, "stored"};
  EXPECT_THROW(piade::choose_pictures({0.1}, {0, 1}, stored, 1, 0), piade::Error);
  EXPECT_THROW(piade::choose_pictures({0.1}, {2}, stored, 1, 0), piade::Error);
  EXPECT_THROW(piade::choose_pictures({0.1}, {0}, stored, -1, 0), piade::Error);
  EXPECT_THROW(piade::choose_pictures({0.1}, {0}, Decision{}, 1, 0), piade::Error);
}

TEST(PictureNames, SayTheOutcomeTheKindAndTheImage) {
  EXPECT_EQ(piade::picture_file_name(Outcome::true_positive, piade::image_kind("/d/bottle/test/crack/003.png", 1),
                                     piade::image_stem("/d/bottle/test/crack/003.png")),
            "true_positive_crack_003.png");
  EXPECT_EQ(piade::picture_file_name(Outcome::false_positive, piade::image_kind("/d/test/good/017.png", 0),
                                     piade::image_stem("/d/test/good/017.png")),
            "false_positive_good_017.png");
  // IDX / CIFAR records: the class, made safe for a file name.
  const std::string record = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz#4321";
  EXPECT_EQ(piade::picture_file_name(Outcome::false_negative, piade::image_kind(record, 1, "T-shirt/top"),
                                     piade::image_stem(record)),
            "false_negative_T-shirt_top_4321.png");
  EXPECT_EQ(piade::image_kind(record, 0, "trouser"), "good");
  EXPECT_EQ(piade::image_kind(record, 1), "anomalous");  // no class known
  EXPECT_EQ(piade::image_kind("loose.png", 1), "anomalous");
  EXPECT_EQ(piade::picture_file_name(Outcome::true_negative, "good", "a b.c"), "true_negative_good_a_b_c.png");
}

TEST(PictureText, ScoreLabelDecisionAndThreshold) {
  const Decision stored{0.0104, false, "stored"};
  EXPECT_EQ(piade::picture_text(0.0123456789, std::nullopt, 1, stored),
            (std::vector<std::string>{"score 0.0123457", "label anomalous, decision anomalous",
                                      "threshold 0.0104 (stored, score > threshold)"}));
  EXPECT_EQ(piade::picture_text(0.01, 0.5, 0, Decision{0.01, true, "F1-max"}),
            (std::vector<std::string>{"score 0.01  normalized 0.5", "label normal, decision anomalous",
                                      "threshold 0.01 (F1-max, score >= threshold)"}));
  EXPECT_EQ(piade::picture_text(2, std::nullopt, -1, Decision{}),
            (std::vector<std::string>{"score 2", "label unknown, decision none", "no threshold"}));
}

}  // namespace
