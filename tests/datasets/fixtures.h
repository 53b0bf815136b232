// Helpers for the dataset tests: scratch directories, small image and byte
// fixtures written on the fly, and the options layer as the commands use it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "host/data_options.h"
#include "host/error.h"
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

inline std::string write_bytes(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return file.string();
}

/// The message of the piade::Error `call` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// The options as `piade train` parses them.
inline CommandLine parse_data_options(const std::vector<std::string>& args) {
  po::options_description options = common_options();
  options.add(dataset_options());
  return parse_options(args, options);
}

/// load_dataset on parsed words.
inline OneClassSplit load(const std::vector<std::string>& args, uint64_t seed = 0) {
  return load_dataset(parse_data_options(args), seed);
}

/// How many of `ids` contain `part`.
inline int64_t count_containing(const std::vector<std::string>& ids, const std::string& part) {
  int64_t n = 0;
  for (const std::string& id : ids) n += id.find(part) != std::string::npos;
  return n;
}

}  // namespace piade::test
