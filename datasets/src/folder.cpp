#include "piade/datasets/folder.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

constexpr const char* kExtensions = "png, jpg, jpeg, bmp, tif, tiff";

std::string name_of(const std::string& dir) {
  fs::path path(dir);
  if (!path.has_filename()) path = path.parent_path();  // "a/b/" names b
  return path.filename().string();
}

// The images in `dirs` with `label`; throws for a missing or empty one.
void add_images(const std::vector<std::string>& dirs, int64_t label, const char* role,
                std::vector<ImageFile>& out, bool skip_bad, std::vector<SkippedItem>& skipped) {
  for (const std::string& dir : dirs) {
    const std::vector<std::string> found = images_in(dir, skip_bad, &skipped);
    if (found.empty()) throw DatasetError(fmt::format("{}: no images ({}) in this {} directory", dir, kExtensions, role));
    for (const std::string& file : found) out.push_back({file, label, ""});
  }
}

// Pairs the anomalous images in files[begin, end) with the masks of
// `mask_folder`; masks of no image are errors (or skipped).
void pair_masks(const std::string& mask_folder, std::vector<ImageFile>& files, std::size_t begin, std::size_t end,
                bool skip_bad, std::vector<SkippedItem>& skipped) {
  // Image stem -> mask; "NAME_mask.*" wins over "NAME.*".
  std::map<std::string, std::string> masks;
  std::map<std::string, bool> suffixed;
  for (const std::string& mask : images_in(mask_folder, skip_bad, &skipped)) {
    std::string stem = fs::path(mask).stem().string();
    const bool has_suffix = stem.size() > 5 && stem.compare(stem.size() - 5, 5, "_mask") == 0;
    if (has_suffix) stem.resize(stem.size() - 5);
    if (!masks.count(stem) || (has_suffix && !suffixed[stem])) {
      masks[stem] = mask;
      suffixed[stem] = has_suffix;
    }
  }
  std::set<std::string> used;
  for (std::size_t i = begin; i < end; ++i) {
    const std::string stem = fs::path(files[i].path).stem().string();
    auto found = masks.find(stem);
    if (found != masks.end()) {
      files[i].mask = found->second;
      used.insert(stem);
    }
  }
  for (const auto& [stem, mask] : masks) {
    if (used.count(stem)) continue;
    const std::string error =
        fmt::format("{}: mask without its image (no {}.* among the anomalous test images it belongs to)", mask, stem);
    if (!skip_bad) throw DatasetError(error + "; remove it, or pass `skip_bad`");
    skipped.push_back({mask, error});
  }
}

}  // namespace

FolderSources folder_layout(const std::string& root, const std::string& normal) {
  std::error_code ec;
  const fs::path base(root);
  const std::string layout = fmt::format("expected train/{0}/, test/{0}/, test/<anomaly>/ and optionally "
                                         "ground_truth/<anomaly>/",
                                         normal);
  if (!fs::is_directory(base, ec)) throw DatasetError(fmt::format("{}: no such directory", root));
  for (const char* part : {"train", "test"}) {
    const fs::path dir = base / part / normal;
    if (!fs::is_directory(dir, ec))
      throw DatasetError(fmt::format("{}: no {}/{}/ directory; {}", root, part, normal, layout));
  }
  FolderSources sources;
  sources.train_dirs = {(base / "train" / normal).string()};
  sources.test_normal_dirs = {(base / "test" / normal).string()};
  for (const auto& entry : fs::directory_iterator(base / "test", ec))
    if (std::error_code loop; entry.is_directory(loop) && entry.path().filename() != normal)
      sources.test_anomalous_dirs.push_back(entry.path().string());
  std::sort(sources.test_anomalous_dirs.begin(), sources.test_anomalous_dirs.end());
  if (sources.test_anomalous_dirs.empty())
    throw DatasetError(fmt::format("{}: no anomalous test directory (test/<anything but {}>/); {}",
                            (base / "test").string(), normal, layout));
  if (fs::is_directory(base / "ground_truth", ec)) sources.mask_dir = (base / "ground_truth").string();
  return sources;
}

FolderFiles list_folder(const FolderSources& sources, bool skip_bad, std::vector<SkippedItem>* skipped) {
  if (sources.train_dirs.empty()) throw DatasetError("folder dataset: no training directory given");
  if (sources.test_normal_dirs.empty()) throw DatasetError("folder dataset: no normal test directory given");
  if (sources.test_anomalous_dirs.empty()) throw DatasetError("folder dataset: no anomalous test directory given");
  FolderFiles files;
  std::vector<SkippedItem> dropped;
  add_images(sources.train_dirs, 0, "training", files.train, skip_bad, dropped);
  add_images(sources.test_normal_dirs, 0, "normal test", files.test, skip_bad, dropped);

  // Anomalous directory -> the mask folder it uses.
  std::map<std::string, std::vector<std::pair<std::size_t, std::size_t>>> by_mask_folder;
  std::set<std::string> anomalous_names;
  for (const std::string& dir : sources.test_anomalous_dirs) {
    const std::size_t begin = files.test.size();
    add_images({dir}, 1, "anomalous test", files.test, skip_bad, dropped);
    if (sources.mask_dir.empty()) continue;
    const std::string name = name_of(dir);
    anomalous_names.insert(name);
    const fs::path own = fs::path(sources.mask_dir) / name;
    std::error_code ec;
    std::string folder;
    if (fs::is_directory(own, ec)) folder = own.string();
    else if (!images_in(sources.mask_dir, true, nullptr).empty()) folder = sources.mask_dir;  // bad ones: below
    else
      throw DatasetError(fmt::format("{}: no {}/ directory with the masks of {}", sources.mask_dir, name, dir));
    by_mask_folder[folder].push_back({begin, files.test.size()});
  }
  if (!sources.mask_dir.empty()) {
    // A mask folder named after no anomalous directory holds masks without
    // images. Sorted, so that the error and the skipped list do not depend
    // on the directory's order.
    std::error_code ec;
    std::vector<fs::path> mask_folders;
    for (const auto& entry : fs::directory_iterator(sources.mask_dir, ec))
      if (std::error_code loop; entry.is_directory(loop) && !anomalous_names.count(entry.path().filename().string()))
        mask_folders.push_back(entry.path());
    std::sort(mask_folders.begin(), mask_folders.end());
    for (const fs::path& folder : mask_folders) {
      for (const std::string& orphan : images_in(folder.string(), skip_bad, &dropped)) {
        const std::string error = fmt::format("{}: mask without its image (no anomalous test directory named {})",
                                              orphan, folder.filename().string());
        if (!skip_bad) throw DatasetError(error + "; remove it, or pass `skip_bad`");
        dropped.push_back({orphan, error});
      }
    }
    for (const auto& [folder, ranges] : by_mask_folder) {
      // Folders shared by several anomalous directories match against all of them.
      std::vector<ImageFile> group;
      for (const auto& [begin, end] : ranges) group.insert(group.end(), files.test.begin() + long(begin), files.test.begin() + long(end));
      pair_masks(folder, group, 0, group.size(), skip_bad, dropped);
      std::size_t k = 0;
      for (const auto& [begin, end] : ranges)
        for (std::size_t i = begin; i < end; ++i) files.test[i].mask = group[k++].mask;
    }
    // With masks, every anomalous image needs one: otherwise its mask would
    // read as "nothing anomalous here".
    std::vector<ImageFile> kept;
    for (const ImageFile& file : files.test) {
      if (file.label == 1 && file.mask.empty()) {
        const std::string error = fmt::format("{}: anomalous image without a mask (no {}_mask.* under {})", file.path,
                                              fs::path(file.path).stem().string(), sources.mask_dir);
        if (!skip_bad) throw DatasetError(error + "; add it, or pass `skip_bad`");
        dropped.push_back({file.path, error});
        continue;
      }
      kept.push_back(file);
    }
    files.test = std::move(kept);
    if (std::none_of(files.test.begin(), files.test.end(), [](const ImageFile& f) { return f.label == 1; }))
      throw DatasetError(fmt::format("{}: no anomalous test image has a mask", sources.mask_dir));
  }
  if (skipped) skipped->insert(skipped->end(), dropped.begin(), dropped.end());
  return files;
}

}  // namespace piade
