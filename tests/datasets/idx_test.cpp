// IDX files (MNIST / Fashion-MNIST): good files, gzipped or not, and every
// corrupt variant gives an error naming the file and what is wrong.
#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "piade/datasets/idx.h"
#include "piade/datasets/error.h"
#include "piade/datasets/limits.h"
#include "tests/support/scratch_dir.h"

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> bytes;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(uint8_t(v >> shift));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return bytes;
}

class IdxTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes, bool gzip = false) {
    const std::string path = (dir_ / name).string();
    if (gzip) {
      gzFile out = gzopen(path.c_str(), "wb");
      gzwrite(out, bytes.data(), unsigned(bytes.size()));
      gzclose(out);
    } else {
      std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    return path;
  }

  // Three 2x3 images with pixel values i*10 + p, labels 7, 1, 7.
  std::vector<uint8_t> images() {
    auto bytes = header(0x803, {3, 2, 3});
    for (int i = 0; i < 3; ++i)
      for (int p = 0; p < 6; ++p) bytes.push_back(uint8_t(i * 10 + p));
    return bytes;
  }
  std::vector<uint8_t> labels(uint32_t count = 3) {
    auto bytes = header(0x801, {count});
    for (uint32_t i = 0; i < count; ++i) bytes.push_back(i % 2 ? 1 : 7);
    return bytes;
  }

  std::string error_of(const std::string& images_file, const std::string& labels_file) {
    try {
      piade::read_idx(images_file, labels_file);
    } catch (const piade::DatasetError& e) {
      return e.what();
    }
    return "no error";
  }

  piade::test::ScratchDir dir_;
};

TEST_F(IdxTest, ReadsPlainAndGzippedFiles) {
  for (bool gzip : {false, true}) {
    const piade::ImageSet set = piade::read_idx(write("i", images(), gzip), write("l", labels(), gzip));
    ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{3, 1, 2, 3}));
    EXPECT_EQ(set.images.dtype(), torch::kUInt8);
    EXPECT_EQ(set.images[2][0][1][2].item<int>(), 25);
    EXPECT_EQ(set.labels[0].item<int64_t>(), 7);
    EXPECT_EQ(set.labels[1].item<int64_t>(), 1);
    EXPECT_EQ(set.ids[1], (dir_ / "i").string() + "#1");
  }
}

TEST_F(IdxTest, CorruptFilesAreNamedWithWhatIsWrong) {
  const std::string good_images = write("good_i", images());
  const std::string good_labels = write("good_l", labels());

  auto bad_magic = images();
  bad_magic[3] = 0x02;
  EXPECT_EQ(error_of(write("magic", bad_magic), good_labels),
            (dir_ / "magic").string() + ": magic number 0x00000802 is not an IDX uint8 3-D images file (0x00000803)");

  auto truncated = images();
  truncated.resize(truncated.size() - 5);
  EXPECT_EQ(error_of(write("short", truncated), good_labels),
            (dir_ / "short").string() + ": header says 3 images of 2x3 (34 bytes) but the data is 29 bytes");

  EXPECT_EQ(error_of(write("tiny", {0, 0, 8}), good_labels),
            (dir_ / "tiny").string() + ": 3 bytes, too short for an IDX images header");

  EXPECT_EQ(error_of(good_images, write("fewer", labels(2))),
            (dir_ / "fewer").string() + ": 2 labels for the 3 images of " + good_images);

  auto label_size = labels();
  label_size.push_back(3);
  EXPECT_EQ(error_of(good_images, write("extra", label_size)),
            (dir_ / "extra").string() + ": header says 3 labels but the data holds 4");

  EXPECT_EQ(error_of((dir_ / "missing").string(), good_labels).rfind((dir_ / "missing").string() + ": cannot open", 0), 0u);

  // A gzip stream cut in half.
  const std::string gz = write("cut.gz", images(), true);
  const auto size = fs::file_size(gz);
  fs::resize_file(gz, size / 2);
  const std::string message = error_of(gz, good_labels);
  EXPECT_EQ(message.rfind(gz + ": ", 0), 0u) << message;
}

// Dimensions whose product wraps around 2^64 to the file's real size
// (4 x 2^31 x 2^31 = 2^64 = 0) once passed the size check and reached
// LibTorch as a raw "numel: integer multiplication overflow".
TEST_F(IdxTest, DimensionsWhoseProductOverflowsAreNamedWithTheDims) {
  const std::string file = write("overflow", header(0x803, {4, 0x80000000u, 0x80000000u}));
  const std::string message = error_of(file, write("l4", labels(4)));
  EXPECT_EQ(message.rfind(file + ": header declares dims 4x2147483648x2147483648 (over 2^64 bytes)", 0), 0u)
      << message;
}

TEST_F(IdxTest, DeclaredSizesBeyondTheLimitAreRefusedBeforeReading) {
  const std::string file = write("huge.gz", header(0x803, {65535, 65535, 65535}), true);
  const std::string message = error_of(file, write("l", labels()));
  EXPECT_EQ(message.rfind(file + ": header declares dims 65535x65535x65535", 0), 0u) << message;
  EXPECT_NE(message.find(fmt::format("limit of {} GiB", piade::kMaxDatasetBytes >> 30)), std::string::npos) << message;

  // Within the limit, but more than a gzip file of this size can hold.
  const std::string big = write("big.gz", header(0x803, {1000, 1000, 1000}), true);
  EXPECT_NE(error_of(big, write("l", labels())).find("gzip file cannot hold more than"), std::string::npos);
}

// The file, of gzip members each 1 MiB of zeros compressed once: `mib`
// MiB of data behind a header that declares one 28x28 image. zlib reads
// concatenated members as one stream, so the test writes only kilobytes.
std::string write_bomb(const fs::path& file, int mib) {
  auto member = [](const std::vector<uint8_t>& data) {
    z_stream z{};
    deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);  // 15 + 16: gzip wrapper
    std::vector<uint8_t> out(deflateBound(&z, uLong(data.size())));
    z.next_in = const_cast<Bytef*>(data.data());
    z.avail_in = uInt(data.size());
    z.next_out = out.data();
    z.avail_out = uInt(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
  };
  std::vector<uint8_t> first = header(0x803, {1, 28, 28});
  first.resize(16 + 1024 * 1024, 0);
  const std::vector<uint8_t> head = member(first), zeros = member(std::vector<uint8_t>(1024 * 1024, 0));
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(head.data()), std::streamsize(head.size()));
  for (int i = 1; i < mib; ++i) out.write(reinterpret_cast<const char*>(zeros.data()), std::streamsize(zeros.size()));
  return file.string();
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// A gzip bomb: the old reader gunzipped the whole stream into memory before
// comparing it with the header (512 MiB here; gigabytes for a real bomb,
// then std::bad_alloc). Reading now stops one byte past the declared 784.
TEST_F(IdxTest, AGzipBombStopsAtTheSizeTheHeaderDeclares) {
  const std::string bomb = write_bomb(dir_ / "bomb.gz", 512);
  ASSERT_LT(fs::file_size(bomb), 2u << 20);
  const long before = peak_rss_kib();
  const std::string message = error_of(bomb, write("l1", labels(1)));
  EXPECT_EQ(message, bomb + ": header declares dims 1x28x28 (784 bytes of data) but the gzip data holds more; it "
                            "is corrupt");
  EXPECT_LT(peak_rss_kib() - before, 64 * 1024) << "the reader held more than 64 MiB of a 512 MiB stream";
}

// Opening a FIFO blocks until something writes to it: the old reader hung.
TEST_F(IdxTest, AFifoIsRefusedBeforeOpening) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of(fifo, write("l", labels())), fifo + ": is a FIFO (named pipe), not a regular file");
}

// tests/fuzz/fuzz_idx's crash input: 0 images of 2197946879 x 4294965760.
// Nothing is read, so the size check passed, and LibTorch's clone()
// crashed (SIGSEGV) on the shape's strides.
TEST_F(IdxTest, AFileWithNoImagesIsRefusedNamingTheFile) {
  const std::string empty = write("empty", header(0x803, {0, 0x830001ffu, 0xfffffa00u}));
  EXPECT_EQ(error_of(empty, write("labels0", labels(0))), empty + ": header says 0 images");
}

}  // namespace
