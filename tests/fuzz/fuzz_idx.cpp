// read_idx on arbitrary bytes. Byte 0 chooses the file under test: even,
// the rest is the images file and the labels file is a valid one for the
// count its header claims (so the images parser is reached past the label
// checks); odd, the rest is the labels file, for a valid one-image file.
// fuzz_idx_gz is this file on gzipped seeds.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "piade/datasets/error.h"
#include "piade/datasets/idx.h"

namespace {

std::vector<uint8_t> labels_for(uint32_t count) {
  std::vector<uint8_t> file = {0, 0, 8, 1, uint8_t(count >> 24), uint8_t(count >> 16), uint8_t(count >> 8),
                               uint8_t(count)};
  file.resize(8 + count, 3);
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool images_under_test = (data[0] & 1) == 0;
  const uint8_t* body = data + 1;
  const std::size_t length = size - 1;
  std::string images, labels;
  if (images_under_test) {
    images = piade::fuzz::write_input("images-idx3-ubyte", body, length);
    uint32_t count = 1;
    if (length >= 8) count = (uint32_t(body[4]) << 24) | (uint32_t(body[5]) << 16) | (uint32_t(body[6]) << 8) | body[7];
    if (count > (1u << 16)) count = 1;  // a claim that large is refused by the images check anyway
    const std::vector<uint8_t> valid = labels_for(count);
    labels = piade::fuzz::write_input("labels-idx1-ubyte", valid.data(), valid.size());
  } else {
    const uint8_t one[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 10, 20, 30, 40};
    images = piade::fuzz::write_input("images-idx3-ubyte", one, sizeof one);
    labels = piade::fuzz::write_input("labels-idx1-ubyte", body, length);
  }
  try {
    const piade::ImageSet set = piade::read_idx(images, labels);
    piade::fuzz::touch(set.images.data_ptr(), set.images.nbytes());
    piade::fuzz::touch(set.labels.data_ptr(), set.labels.nbytes());
  } catch (const piade::DatasetError& e) {
    piade::fuzz::check_message(e.what(), images_under_test ? images : labels);
  }
  return 0;
}
