// load_tensors on arbitrary bytes as a .safetensors file (header and data).
// Every tensor it returns is read to the end, so that a tensor larger than
// the bytes behind it is an ASan report here.
#include <map>
#include <stdexcept>
#include <string>

#include "fuzz_support.h"
#include "piade/sdk/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string file = piade::fuzz::write_input("weights.safetensors", data, size);
  try {
    for (const auto& [name, tensor] : piade::load_tensors(file))
      piade::fuzz::touch(tensor.data_ptr(), tensor.nbytes());
  } catch (const std::runtime_error& e) {  // its documented error (weights.h)
    piade::fuzz::check_message(e.what(), file);
  }
  return 0;
}
