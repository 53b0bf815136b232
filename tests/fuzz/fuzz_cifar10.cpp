// read_cifar10_batch on arbitrary bytes, strict and with skip_bad.
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "piade/datasets/cifar10.h"
#include "piade/datasets/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string file = piade::fuzz::write_input("data_batch_1.bin", data, size);
  for (const bool skip_bad : {false, true}) {
    try {
      std::vector<piade::SkippedItem> skipped;
      const piade::ImageSet set = piade::read_cifar10_batch(file, skip_bad, &skipped);
      piade::fuzz::touch(set.images.data_ptr(), set.images.nbytes());
      if (set.ids.size() != std::size_t(set.images.size(0)) || set.labels.size(0) != set.images.size(0)) abort();
    } catch (const piade::DatasetError& e) {
      piade::fuzz::check_message(e.what(), file);
    }
  }
  return 0;
}
