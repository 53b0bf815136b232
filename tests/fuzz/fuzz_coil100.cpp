// COIL-100's obj<N>__<angle>.png names: coil100_files on a directory whose
// file names are the input's lines (fuzz_names.h).
#include <string>

#include "fuzz_names.h"
#include "piade/datasets/coil100.h"
#include "piade/datasets/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string root = piade::fuzz::make_tree("coil-100", piade::fuzz::lines_of(data, size));
  try {
    const piade::Coil100Files files = piade::coil100_files(root, 7);
    if (files.objects.empty() || files.train.size() + files.test.size() == 0) abort();
    piade::number_ranges(files.objects);
  } catch (const piade::DatasetError& e) {
    piade::fuzz::check_message(e.what(), root);
  }
  return 0;
}
