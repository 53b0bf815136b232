// Helpers for the dataset tests: small image and byte fixtures written on
// the fly, and one-class splits loaded through the registry's entry point
// (load_one_class with a DatasetRequest), as library users call it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "piade/datasets/error.h"
#include "piade/datasets/registry.h"
#include "tests/support/scratch_dir.h"

namespace piade::test {

namespace fs = std::filesystem;

/// Writes `image` (BGR or gray, as OpenCV stores it) to `file`, creating its
/// directory; returns the path.
inline std::string write_image(const fs::path& file, const cv::Mat& image) {
  fs::create_directories(file.parent_path());
  if (!cv::imwrite(file.string(), image)) throw std::runtime_error("cannot write " + file.string());
  return file.string();
}

/// A solid image; `bgr` in OpenCV's order.
inline cv::Mat solid(int size, cv::Scalar bgr, int type = CV_8UC3) { return cv::Mat(size, size, type, bgr); }

/// A 64x64 gray image with a red defect on rows [top, top+16), columns
/// [left, left+16), and its mask.
inline cv::Mat defect(int top, int left, bool mask) {
  cv::Mat image = mask ? cv::Mat(64, 64, CV_8UC1, cv::Scalar(0)) : solid(64, cv::Scalar(40, 40, 40));
  image(cv::Rect(left, top, 16, 16)).setTo(mask ? cv::Scalar(255) : cv::Scalar(0, 0, 255));  // BGR red
  return image;
}

/// root/bottle as MVTec AD lays it out (4 training images, 2 normal and 3
/// anomalous test images in crack/ and hole/, with masks), root/screw with
/// training images only, and root/license, a folder that is no category.
inline void write_mvtec_tree(const fs::path& root) {
  const cv::Mat gray = solid(64, cv::Scalar(40, 40, 40));
  const fs::path bottle = root / "bottle";
  auto name = [](int i) { return fmt::format("{:03d}.png", i); };
  for (int i = 0; i < 4; ++i) write_image(bottle / "train/good" / name(i), gray);
  for (int i = 0; i < 2; ++i) write_image(bottle / "test/good" / name(i), gray);
  write_image(bottle / "test/crack/000.png", defect(16, 32, false));
  write_image(bottle / "ground_truth/crack/000_mask.png", defect(16, 32, true));
  write_image(bottle / "test/crack/001.png", defect(0, 0, false));
  write_image(bottle / "ground_truth/crack/001_mask.png", defect(0, 0, true));
  write_image(bottle / "test/hole/000.png", defect(48, 48, false));
  write_image(bottle / "ground_truth/hole/000_mask.png", defect(48, 48, true));
  write_image(root / "screw/train/good/000.png", gray);
  fs::create_directories(root / "license");
}

inline std::string write_bytes(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return file.string();
}

/// The message of the piade::DatasetError `call` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const DatasetError& e) {
    return e.what();
  }
  return "(no error)";
}

/// A DatasetRequest set up step by step:
/// `Request("cifar10", root).normal_class(3).size(32, 40)`.
class Request {
 public:
  explicit Request(const std::string& name, std::optional<std::string> root = std::nullopt) {
    request_.name = name;
    request_.root = std::move(root);
  }
  Request& normal_class(int64_t value) {
    request_.normal_class = value;
    return *this;
  }
  Request& category(const std::string& value) {
    request_.category = value;
    return *this;
  }
  Request& max_train(int64_t value) {
    request_.max_train = value;
    return *this;
  }
  Request& max_test(int64_t value) {
    request_.max_test = value;
    return *this;
  }
  /// The network input `image_size`, after resizing to `resize` (0: no crop),
  /// for decoding files and for the network alike.
  Request& size(int64_t image_size, int64_t resize = 0) {
    request_.decode.image_size = request_.preprocess.image_size = image_size;
    request_.decode.resize = request_.preprocess.resize = resize;
    return *this;
  }
  Request& channels(int64_t value) {
    request_.decode.channels = request_.preprocess.channels = value;
    return *this;
  }
  Request& skip_bad() {
    request_.decode.skip_bad = true;
    return *this;
  }
  Request& train_dir(const std::string& dir) {
    request_.folders.train_dirs.push_back(dir);
    return *this;
  }
  Request& test_normal_dir(const std::string& dir) {
    request_.folders.test_normal_dirs.push_back(dir);
    return *this;
  }
  Request& test_anomalous_dir(const std::string& dir) {
    request_.folders.test_anomalous_dirs.push_back(dir);
    return *this;
  }
  Request& mask_dir(const std::string& dir) {
    request_.folders.mask_dir = dir;
    return *this;
  }
  const DatasetRequest& get() const { return request_; }

 private:
  DatasetRequest request_;
};

/// load_one_class on `request` with `seed`.
inline OneClassSplit load(const Request& request, uint64_t seed = 0) {
  DatasetRequest seeded = request.get();
  seeded.seed = seed;
  return load_one_class(seeded);
}

/// The items of `skipped`, in order.
inline std::vector<std::string> items_of(const std::vector<SkippedItem>& skipped) {
  std::vector<std::string> items;
  for (const SkippedItem& skip : skipped) items.push_back(skip.item);
  return items;
}

/// How many of `ids` contain `part`.
inline int64_t count_containing(const std::vector<std::string>& ids, const std::string& part) {
  int64_t n = 0;
  for (const std::string& id : ids) n += id.find(part) != std::string::npos;
  return n;
}

}  // namespace piade::test
