#include "datasets/image_files.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "host/error.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

bool is_image(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tif" ||
         ext == ".tiff";
}

}  // namespace

std::vector<std::string> list_images(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(input, ec))
        if (entry.is_regular_file() && is_image(entry.path())) found.push_back(entry.path().string());
      if (found.empty())
        throw Error(fmt::format("{}: no images (png, jpg, bmp, tif) in this directory", input));
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(input, ec)) {
      files.push_back(input);
    } else {
      throw Error(fmt::format("{}: no such file or directory", input));
    }
  }
  return files;
}

ImageSet read_images(const std::vector<std::string>& files, int64_t channels, int64_t size,
                     bool skip_bad, int64_t* skipped) {
  if (channels != 1 && channels != 3)
    throw Error(fmt::format("--channels: must be 1 or 3, got {}", channels));
  std::vector<torch::Tensor> images;
  ImageSet set;
  int64_t bad = 0;
  for (const std::string& file : files) {
    cv::Mat image = cv::imread(file, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (image.empty()) {
      if (!skip_bad)
        throw Error(fmt::format("{}: cannot decode as an image (unreadable, truncated or not an "
                                "image); fix or remove it, or pass --skip-bad",
                                file));
      ++bad;
      continue;
    }
    if (channels == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
    if (size > 0 && (image.rows != size || image.cols != size))
      cv::resize(image, image, cv::Size(int(size), int(size)), 0, 0,
                 image.rows > size ? cv::INTER_AREA : cv::INTER_LINEAR);
    torch::Tensor t = torch::from_blob(image.data, {image.rows, image.cols, int64_t(image.channels())},
                                       torch::kUInt8)
                          .permute({2, 0, 1})
                          .clone();
    images.push_back(t);
    set.ids.push_back(file);
  }
  if (skipped) *skipped = bad;
  if (images.empty()) throw Error("no image could be read");
  if (size <= 0)
    for (const auto& t : images)
      if (t.sizes() != images[0].sizes())
        throw Error("images differ in size; give --image-size to resize them to one size");
  set.images = torch::stack(images);
  set.labels = torch::zeros({set.size()}, torch::kLong);
  return set;
}

}  // namespace piade
