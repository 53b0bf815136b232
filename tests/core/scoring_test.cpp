// Normalised scores and percentiles (piade/core/scoring.h) and the SHA-256
// that model files are checked with (piade/core/sha256.h): hand-worked
// cases and the FIPS 180-4 examples.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "piade/core/error.h"
#include "piade/core/scoring.h"
#include "piade/core/crc32c.h"
#include "piade/core/sha256.h"

namespace piade {
namespace {

const nlohmann::json kStats = {{"min", 0.10}, {"max", 0.30}, {"threshold", 0.28}, {"count", 50}};

TEST(NormalizeScore, MapsTheThresholdToOneHalfAndKeepsTheOrder) {
  const ScoreNormalization n = score_normalization(kStats, 0.28);
  EXPECT_TRUE(n.note.empty()) << n.note;
  EXPECT_EQ(n.range, "training scores");
  EXPECT_DOUBLE_EQ(normalize_score(0.28, n), 0.5);
  // anomalib's formula: (s - t) / (max - min) + 0.5.
  EXPECT_DOUBLE_EQ(normalize_score(0.30, n), (0.30 - 0.28) / 0.20 + 0.5);
  EXPECT_DOUBLE_EQ(normalize_score(0.20, n), (0.20 - 0.28) / 0.20 + 0.5);
  // Clipped to [0, 1], never decreasing in the raw score.
  EXPECT_EQ(normalize_score(-5.0, n), 0.0);
  EXPECT_EQ(normalize_score(5.0, n), 1.0);
  EXPECT_EQ(normalize_score(INFINITY, n), 1.0);
  double last = -1;
  for (double raw = 0; raw < 0.6; raw += 0.001) {
    const double value = normalize_score(raw, n);
    EXPECT_GE(value, last) << raw;
    EXPECT_GE(value, 0.0);
    EXPECT_LE(value, 1.0);
    EXPECT_EQ(value > 0.5, raw > 0.28) << raw;
    last = value;
  }
  // Another threshold (a calibrated one, or --threshold) is the new 0.5.
  EXPECT_DOUBLE_EQ(normalize_score(0.2, score_normalization(kStats, 0.2)), 0.5);
  const nlohmann::json recorded = n.to_json();
  EXPECT_EQ(recorded["threshold"], 0.28);
  EXPECT_EQ(recorded["min"], 0.10);
  EXPECT_EQ(recorded["max"], 0.30);
}

TEST(NormalizeScore, FallsBackWhenTheCheckpointHasNoRangeAndSaysSo) {
  // score_stats without min and max: 0 .. twice the threshold.
  ScoreNormalization n = score_normalization({{"threshold", 0.4}}, 0.4);
  EXPECT_NE(n.note.find("records no training-score range"), std::string::npos) << n.note;
  EXPECT_DOUBLE_EQ(normalize_score(0.4, n), 0.5);
  EXPECT_DOUBLE_EQ(normalize_score(0.0, n), 0.0);
  EXPECT_DOUBLE_EQ(normalize_score(0.8, n), 1.0);
  EXPECT_DOUBLE_EQ(normalize_score(0.2, n), 0.25);
  // One training image: max == min.
  n = score_normalization({{"min", 0.3}, {"max", 0.3}}, 0.3);
  EXPECT_NE(n.note.find("all equal"), std::string::npos) << n.note;
  EXPECT_DOUBLE_EQ(normalize_score(0.3, n), 0.5);
  // No threshold at all: nothing to normalise, nothing to say.
  n = score_normalization(nlohmann::json(), std::nan(""));
  EXPECT_TRUE(n.note.empty());
  EXPECT_TRUE(std::isnan(normalize_score(0.3, n)));
  EXPECT_TRUE(n.to_json()["threshold"].is_null());
}

TEST(ScorePercentile, IsTheNearestRankAsTheTrainingP99) {
  const std::vector<double> scores = {5, 1, 4, 2, 3};  // sorted 1..5, ranks 0..4
  EXPECT_EQ(score_percentile(scores, 100), 5);
  EXPECT_EQ(score_percentile(scores, 50), 3);
  EXPECT_EQ(score_percentile(scores, 60), 3);   // rank 2.4 -> 2
  EXPECT_EQ(score_percentile(scores, 70), 4);   // rank 2.8 -> 3
  EXPECT_EQ(score_percentile(scores, 0.1), 1);
  EXPECT_THROW(score_percentile(scores, 0), Error);
  EXPECT_THROW(score_percentile(scores, 101), Error);
  EXPECT_THROW(score_percentile({}, 50), Error);
}

// FIPS 180-4's examples (csrc.nist.gov, SHA256.pdf) and the empty string.
TEST(Sha256, GivesTheStandardsDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a', fed in uneven pieces: the incremental interface.
  Sha256 hash;
  const std::string piece(997, 'a');
  std::size_t fed = 0;
  for (; fed + piece.size() <= 1000000; fed += piece.size()) hash.update(piece);
  hash.update(std::string(1000000 - fed, 'a'));
  EXPECT_EQ(hash.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The check value of the CRC catalogue (reveng.sourceforge.io, CRC-32/ISCSI)
// and RFC 3720's examples (appendix B.4), whole and in uneven pieces.
TEST(Crc32c, GivesTheStandardsChecksums) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string up, down;
  for (int i = 0; i < 32; ++i) {
    up += static_cast<char>(i);
    down += static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c(up), 0x46DD794Eu);
  EXPECT_EQ(crc32c(down), 0x113FDB5Cu);
  // Continued over pieces that split the 8-byte steps anywhere.
  const std::string text = "123456789" + up + down;
  for (std::size_t cut = 0; cut <= text.size(); ++cut)
    EXPECT_EQ(crc32c(text.substr(cut), crc32c(text.substr(0, cut))), crc32c(text)) << cut;
}

}  // namespace
}  // namespace piade
