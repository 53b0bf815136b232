// MVTec AD and folder datasets: the input's first line is a category (or
// the normal directory's name), the rest a tree (fuzz_names.h); then
// mvtec_sources, folder_layout and list_folder (strict and with
// skip_bad), as load_one_class calls them.
#include <string>
#include <vector>

#include "fuzz_names.h"
#include "piade/datasets/error.h"
#include "piade/datasets/folder.h"
#include "piade/datasets/mvtec.h"

namespace {

void list(const piade::FolderSources& sources) {
  for (const bool skip_bad : {false, true}) {
    try {
      std::vector<piade::SkippedItem> skipped;
      piade::list_folder(sources, skip_bad, &skipped);
    } catch (const piade::DatasetError& e) {
      piade::fuzz::check_message(e.what(), "");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::vector<std::string> lines = piade::fuzz::lines_of(data, size);
  const std::string first = lines.front();
  if (first.find('\0') != std::string::npos) return 0;  // no command line can pass a NUL
  lines.erase(lines.begin());
  const std::string root = piade::fuzz::make_tree("mvtec", lines);
  try {
    list(piade::mvtec_sources(root, first));
  } catch (const piade::DatasetError& e) {
    piade::fuzz::check_message(e.what(), "");
  }
  try {
    list(piade::folder_layout(root, first.empty() ? "good" : first));
  } catch (const piade::DatasetError& e) {
    piade::fuzz::check_message(e.what(), "");
  }
  return 0;
}
