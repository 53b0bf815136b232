// An INI configuration file as `piade train --config FILE` reads it
// (parse_options: boost's parser, then every key against the command's
// table and every value against its type).
#include <string>

#include "cli/options.h"
#include "fuzz_support.h"
#include "piade/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string file = piade::fuzz::write_input("config.ini", data, size);
  for (const char* command : {"train", "eval"}) {
    try {
      piade::parse_options({"--config", file}, piade::command_spec(command));
    } catch (const piade::Error& e) {
      piade::fuzz::check_message(e.what(), "");
    }
  }
  return 0;
}
