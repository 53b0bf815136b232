// The configuration text a checkpoint or model file carries, through
// parse_checkpoint_meta (what read_checkpoint_meta does with it: the depth
// limit, the JSON parser, the field types) and the functions that turn it
// into settings: restore_model (which rebuilds the pipeline; with no plugins
// loaded it must stop at the first part with piade::Error),
// checkpoint_preprocess and stored_threshold.
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/core/plugin_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const piade::PluginRegistry registry;  // no plugin directories: no part is found
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string file = (piade::fuzz::scratch() / "checkpoint.pt").string();
  nlohmann::json meta;
  try {
    meta = piade::parse_checkpoint_meta(text, file);
  } catch (const piade::Error& e) {
    piade::fuzz::check_message(e.what(), file);
    return 0;
  }
  try {
    piade::restore_model(registry, file, meta, torch::Device(torch::kCPU));
    abort();  // no plugin is loaded, so no pipeline can be rebuilt
  } catch (const piade::Error& e) {
    piade::fuzz::check_message(e.what(), file);
  }
  try {
    piade::checkpoint_preprocess(meta);
  } catch (const piade::Error& e) {
    piade::fuzz::check_message(e.what(), "checkpoint");
  }
  try {
    piade::stored_threshold(meta);
  } catch (const piade::Error& e) {
    piade::fuzz::check_message(e.what(), "checkpoint");
  }
  return 0;
}
