#include "piade/datasets/mvtec.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {
namespace fs = std::filesystem;

std::vector<std::string> mvtec_categories(const std::string& root) {
  std::vector<std::string> categories;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (std::error_code loop; entry.is_directory(loop) && fs::is_directory(entry.path() / "train" / "good", ec))
      categories.push_back(entry.path().filename().string());
  std::sort(categories.begin(), categories.end());
  return categories;
}

FolderSources mvtec_sources(const std::string& root, const std::string& category) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw DatasetError("data_root", fmt::format("'{}' is not a directory", root));
  const std::vector<std::string> categories = mvtec_categories(root);
  if (std::find(categories.begin(), categories.end(), category) == categories.end()) {
    // The category's name, with or without a trailing "/": parent_path() of "a/b/" is "a/b".
    if (categories.empty() && fs::is_directory(fs::path(root) / "train" / "good", ec))
      throw DatasetError("data_root", fmt::format("'{}' is one category (it has train/good/); give the directory above it "
                              "with `category` {}",
                              root, (fs::path(root) / "").lexically_normal().parent_path().filename().string()));
    if (categories.empty())
      throw DatasetError("data_root", fmt::format("'{}' holds no MVTec AD category (no <category>/train/good/)", root));
    throw DatasetError("category", fmt::format("'{}' is not a category in {} (available: {})", category, root,
                            fmt::join(categories, ", ")));
  }
  return folder_layout((fs::path(root) / category).string(), "good");
}

}  // namespace piade
