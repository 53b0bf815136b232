#include "piade/datasets/image_files.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "piade/datasets/transforms.h"
#include "piade/datasets/error.h"
#include "piade/datasets/limits.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

// The output geometry, settled before the parallel decode.
struct Geometry {
  int64_t channels = 3;
  int64_t size = 0;    // final S x S
  int64_t resize = 0;  // R x R before the center crop; 0 = straight to S
  std::string size_from;  // the file S was taken from, when image_size was 0
};

// What happened to one file.
struct Outcome {
  std::string error;  // "" = decoded
  bool skippable = true;
  int64_t rows = 0, cols = 0;  // the image's own size
};

std::string decode_failure(const std::string& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return fmt::format("{}: no such file", file);
  if (fs::is_directory(file, ec)) return fmt::format("{}: is a directory, not an image", file);
  return fmt::format("{}: cannot decode as an image (unreadable, truncated or not an image)", file);
}

// Whether `file` is a JPEG cut short: it starts as one (FF D8 FF) but no
// end-of-image marker (FF D9) follows its last start-of-scan (FF DA).
// libjpeg only warns about such a file and OpenCV returns the image with its
// missing rows grey, which would be scored as if it were whole. The markers
// cannot occur inside the scan data (an FF there is followed by 00), and an
// EXIF thumbnail's own FF D9 comes before the main scan.
bool is_truncated_jpeg(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  char start[3] = {};
  if (!in.read(start, 3) || static_cast<unsigned char>(start[0]) != 0xFF ||
      static_cast<unsigned char>(start[1]) != 0xD8 || static_cast<unsigned char>(start[2]) != 0xFF)
    return false;
  in.seekg(0);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t scan = bytes.rfind("\xFF\xDA");
  if (scan == std::string::npos) return true;
  return bytes.find("\xFF\xD9", scan) == std::string::npos;
}

// The width and height a PNG, JPEG, BMP or TIFF header declares, read
// without decoding, or {0, 0} when the header is not one of these (OpenCV's
// own limit, CV_IO_MAX_IMAGE_PIXELS, then applies). Read here rather than
// by lowering CV_IO_MAX_IMAGE_PIXELS: OpenCV reads that variable once per
// process and reports a refusal as an undecodable file, without the size.
std::pair<uint64_t, uint64_t> declared_size(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  auto bytes = [&](std::streamoff at, std::size_t n) {
    std::string out(n, '\0');
    in.clear();
    in.seekg(at);
    if (!in.read(out.data(), std::streamsize(n))) out.clear();
    return out;
  };
  auto number = [](const std::string& b, std::size_t at, std::size_t n, bool big) {
    uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= uint64_t(uint8_t(b[at + i])) << (8 * (big ? n - 1 - i : i));
    return v;
  };
  const std::string head = bytes(0, 26);
  if (head.size() < 26) return {0, 0};
  if (head.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && head.compare(12, 4, "IHDR") == 0)
    return {number(head, 16, 4, true), number(head, 20, 4, true)};
  if (head.compare(0, 2, "BM") == 0) {
    if (number(head, 14, 4, false) == 12) return {number(head, 18, 2, false), number(head, 20, 2, false)};
    // Height is signed: negative for a top-down bitmap.
    const auto height = int32_t(uint32_t(number(head, 22, 4, false)));
    return {number(head, 18, 4, false), uint64_t(height < 0 ? -int64_t(height) : height)};
  }
  if (head.compare(0, 4, "II*\0") == 0 || head.compare(0, 4, "MM\0*") == 0) {
    const bool big = head[0] == 'M';
    const std::streamoff ifd = std::streamoff(number(head, 4, 4, big));
    const std::string count = bytes(ifd, 2);
    if (count.empty()) return {0, 0};
    uint64_t width = 0, height = 0;
    for (uint64_t i = 0, n = std::min<uint64_t>(number(count, 0, 2, big), 4096); i < n; ++i) {
      const std::string entry = bytes(ifd + 2 + std::streamoff(12 * i), 12);
      if (entry.empty()) break;
      const uint64_t tag = number(entry, 0, 2, big), type = number(entry, 2, 2, big);
      const uint64_t value = type == 3 ? number(entry, 8, 2, big) : number(entry, 8, 4, big);
      if (tag == 256) width = value;
      if (tag == 257) height = value;
    }
    return {width, height};
  }
  if (uint8_t(head[0]) == 0xFF && uint8_t(head[1]) == 0xD8) {
    // Segments up to the first start-of-frame: FF, marker, 2-byte length.
    std::streamoff at = 2;
    for (int segments = 0; segments < 10000; ++segments) {
      const std::string marker = bytes(at, 4);
      if (marker.empty() || uint8_t(marker[0]) != 0xFF) return {0, 0};
      const uint8_t code = uint8_t(marker[1]);
      if (code == 0xFF) {  // fill byte
        ++at;
        continue;
      }
      if (code == 0xDA || code == 0xD9) return {0, 0};
      const bool frame = code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC;
      if (frame) {
        const std::string sof = bytes(at + 4, 5);
        if (sof.empty()) return {0, 0};
        return {number(sof, 3, 2, true), number(sof, 1, 2, true)};
      }
      at += 2 + std::streamoff(number(marker, 2, 2, true));
    }
  }
  return {0, 0};
}

// Reads `file` as `mode`, or returns an empty Mat and sets `error`. The
// file must be a regular one (opening a FIFO blocks) and its header's size
// within kMaxImagePixels, both checked before decoding.
cv::Mat read(const std::string& file, int mode, std::string& error) {
  if (const std::string problem = regular_file_problem(file); !problem.empty()) {
    std::error_code ec;
    const bool missing = !fs::exists(file, ec) && !ec;  // a link loop sets ec
    error = missing || fs::is_directory(file, ec) ? decode_failure(file) : fmt::format("{}: {}", file, problem);
    return {};
  }
  if (const auto [width, height] = declared_size(file); width * height > kMaxImagePixels) {
    error = fmt::format("{}: {}x{} pixels, more than piade's limit of {} pixels (16384x16384) for one image",
                        file, width, height, kMaxImagePixels);
    return {};
  }
  if (is_truncated_jpeg(file)) {
    error = fmt::format("{}: truncated JPEG (it ends before its end-of-image marker); copy or download it again", file);
    return {};
  }
  cv::Mat image;
  try {
    image = cv::imread(file, mode);
  } catch (const cv::Exception& e) {
    error = fmt::format("{}: cannot decode ({})", file, e.err);
    return {};
  }
  if (image.empty()) error = decode_failure(file);
  return image;
}

// Resizes to R (or S) and center-crops to S. Images: area interpolation when
// shrinking, bilinear when enlarging; masks: nearest neighbour (the exact
// variant, which samples pixel centres as PIL does, so masks stay aligned).
cv::Mat to_geometry(const cv::Mat& image, const Geometry& geometry, bool mask) {
  const int first = int(geometry.resize > 0 ? geometry.resize : geometry.size);
  cv::Mat out = image;
  if (out.rows != first || out.cols != first) {
    const int interpolation = mask ? cv::INTER_NEAREST_EXACT
                              : (out.rows >= first && out.cols >= first) ? cv::INTER_AREA
                                                                          : cv::INTER_LINEAR;
    cv::resize(image, out, cv::Size(first, first), 0, 0, interpolation);
  }
  if (first != geometry.size) {
    const int offset = int(center_crop_offset(first, geometry.size));
    out = out(cv::Rect(offset, offset, int(geometry.size), int(geometry.size)));
  }
  return out;
}

// One decoded picture (8-bit gray, BGR or BGRA) into its [C,S,S] RGB slot.
// Channels are converted here with cvtColor rather than by the decoder
// (imread's gray of a colour JPEG or PNG differs by a level here and there),
// so a file and the same picture handed to piade::Detector give the same
// bytes.
void to_slot(const cv::Mat& image, const Geometry& geometry, uint8_t* slot) {
  cv::Mat converted = image;
  if (geometry.channels == 1 && image.channels() == 3) cv::cvtColor(image, converted, cv::COLOR_BGR2GRAY);
  if (geometry.channels == 1 && image.channels() == 4) cv::cvtColor(image, converted, cv::COLOR_BGRA2GRAY);
  if (geometry.channels == 3 && image.channels() == 1) cv::cvtColor(image, converted, cv::COLOR_GRAY2BGR);
  if (geometry.channels == 3 && image.channels() == 4) cv::cvtColor(image, converted, cv::COLOR_BGRA2BGR);
  const int s = int(geometry.size);
  const cv::Mat out = to_geometry(converted, geometry, false);
  const std::size_t plane = std::size_t(s) * std::size_t(s);
  if (geometry.channels == 1) {
    cv::Mat target(s, s, CV_8UC1, slot);
    out.copyTo(target);
  } else {
    // OpenCV decodes BGR: splitting into the planes in reverse order gives RGB.
    cv::Mat planes[3] = {cv::Mat(s, s, CV_8UC1, slot + 2 * plane), cv::Mat(s, s, CV_8UC1, slot + plane),
                         cv::Mat(s, s, CV_8UC1, slot)};
    cv::split(out, planes);
  }
}

// Decodes file i into its slot of `images` (and `masks`; a null mask slot
// reads and checks the mask but keeps none).
Outcome decode_one(const ImageFile& file, const Geometry& geometry, uint8_t* image_slot, uint8_t* mask_slot) {
  Outcome outcome;
  const int s = int(geometry.size);
  // Gray files decode gray, the others BGR; to_slot converts.
  cv::Mat image = read(file.path, cv::IMREAD_ANYCOLOR, outcome.error);
  if (image.empty()) return outcome;
  outcome.rows = image.rows;
  outcome.cols = image.cols;
  if (!geometry.size_from.empty() && (image.rows != s || image.cols != s)) {
    outcome.error = fmt::format("{}: {}x{} pixels, but {} is {}x{}; images of several sizes need "
                                "`image_size` S",
                                file.path, image.cols, image.rows, geometry.size_from, s, s);
    outcome.skippable = false;
    return outcome;
  }
  cv::Mat mask;
  if (!file.mask.empty()) {
    mask = read(file.mask, cv::IMREAD_GRAYSCALE, outcome.error);
    if (mask.empty()) return outcome;
    if (mask.rows != image.rows || mask.cols != image.cols) {
      outcome.error = fmt::format("{}: mask is {}x{} pixels but its image {} is {}x{}", file.mask,
                                  mask.cols, mask.rows, file.path, image.cols, image.rows);
      return outcome;
    }
  }
  try {
    to_slot(image, geometry, image_slot);
    if (!mask.empty() && mask_slot) {
      cv::Mat target(s, s, CV_8UC1, mask_slot);
      cv::threshold(to_geometry(mask, geometry, true), target, 0, 255, cv::THRESH_BINARY);
    }
  } catch (const cv::Exception& e) {
    outcome.error = fmt::format("{}: cannot resize ({})", file.path, e.err);
  }
  return outcome;
}

// Settles channels and size, reading the first decodable file if needed.
Geometry settle_geometry(const std::vector<ImageFile>& files, const DecodeOptions& options) {
  if (options.channels != 0 && options.channels != 1 && options.channels != 3)
    throw DatasetError("channels", fmt::format("must be 1 or 3, got {}", options.channels));
  if (options.image_size < 0 || options.resize < 0)
    throw DatasetError("image_size", "must not be negative, nor `resize`");
  if (options.image_size > (int64_t(1) << 32) || options.resize > (int64_t(1) << 32))
    throw DatasetError(options.image_size > options.resize ? "image_size" : "resize",
                       fmt::format("{} is more than piade's limit of {} pixels (16384x16384) for one image",
                                   std::max(options.image_size, options.resize), kMaxImagePixels));
  Geometry geometry;
  geometry.channels = options.channels;
  geometry.size = options.image_size;
  geometry.resize = options.resize;
  if (geometry.size == 0 && geometry.resize > 0) std::swap(geometry.size, geometry.resize);  // no crop
  if (geometry.resize > 0 && geometry.resize < geometry.size)
    throw DatasetError("resize", fmt::format("must be at least `image_size` ({}), got {}", geometry.size,
                            geometry.resize));
  if (geometry.resize == geometry.size) geometry.resize = 0;
  for (const int64_t side : {geometry.size, geometry.resize})
    if (uint64_t(side) * uint64_t(side) > kMaxImagePixels)  // sides below 2^32 by then: no overflow
      throw DatasetError(side == geometry.size ? "image_size" : "resize",
                         fmt::format("{} makes {}x{} images, more than piade's limit of {} pixels (16384x16384) "
                                     "for one image",
                                     side, side, side, kMaxImagePixels));
  if (geometry.channels != 0 && geometry.size != 0) return geometry;
  for (const ImageFile& file : files) {
    std::string error;
    const cv::Mat first = read(file.path, cv::IMREAD_UNCHANGED, error);
    if (first.empty()) {
      if (!options.skip_bad) throw DatasetError(error + "; fix or remove it, or pass `skip_bad`");
      continue;  // reported when the decode skips it again
    }
    if (geometry.channels == 0) geometry.channels = first.channels() == 1 ? 1 : 3;
    if (geometry.size == 0) {
      if (first.rows != first.cols)
        throw DatasetError(fmt::format("{}: {}x{} pixels is not square; pass `image_size` S to resize the images",
                                file.path, first.cols, first.rows));
      geometry.size = first.rows;
      geometry.size_from = file.path;
    }
    return geometry;
  }
  // Nothing decodes; the decode below reports it.
  if (geometry.channels == 0) geometry.channels = 3;
  if (geometry.size == 0) geometry.size = 1;
  return geometry;
}

// Decodes files[rows[k]] into image_slot(k) (and mask_slot(k)) on a pool of
// threads; each writes only its own slots. cv::imread is thread safe.
std::vector<Outcome> decode_many(const std::vector<ImageFile>& files, const std::vector<int64_t>& rows,
                                 const Geometry& geometry, int64_t threads,
                                 const std::function<uint8_t*(int64_t)>& image_slot,
                                 const std::function<uint8_t*(int64_t)>& mask_slot) {
  const int64_t n = int64_t(rows.size());
  std::vector<Outcome> outcomes(rows.size());
  if (n == 0) return outcomes;
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t k = next++; k < n; k = next++)
      outcomes[std::size_t(k)] = decode_one(files.at(std::size_t(rows[std::size_t(k)])), geometry, image_slot(k),
                                            mask_slot ? mask_slot(k) : nullptr);
  };
  const int64_t count = std::clamp<int64_t>(threads > 0 ? threads : at::get_num_threads(), 1, n);
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < count; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  return outcomes;
}

// The rows whose file decoded. A file that failed throws its error, or with
// skip_bad is appended to `*skipped`; throws when none is left. The one
// report of both the in-memory and the streamed path, so that both refuse
// or skip the same files with the same reasons.
std::vector<int64_t> readable_rows(const std::vector<ImageFile>& files, const std::vector<Outcome>& outcomes,
                                   bool skip_bad, std::vector<SkippedItem>* skipped) {
  const int64_t n = static_cast<int64_t>(outcomes.size());
  std::vector<int64_t> good;
  std::vector<SkippedItem> dropped;
  for (int64_t i = 0; i < n; ++i) {
    const Outcome& outcome = outcomes[std::size_t(i)];
    if (outcome.error.empty()) {
      good.push_back(i);
    } else if (!outcome.skippable) {
      throw DatasetError(outcome.error);
    } else if (!skip_bad) {
      throw DatasetError(outcome.error + "; fix or remove it, or pass `skip_bad`");
    } else {
      dropped.push_back({files[std::size_t(i)].path, outcome.error});
    }
  }
  if (good.empty())
    throw DatasetError(fmt::format("no image could be read: all {} file(s) failed ({})", n, outcomes[0].error));
  if (skipped) skipped->insert(skipped->end(), dropped.begin(), dropped.end());
  return good;
}

Geometry geometry_of(const ImageSource& source) {
  Geometry geometry;
  geometry.channels = source.channels;
  geometry.size = source.image_size;
  geometry.resize = source.resize;
  geometry.size_from = source.size_from;
  return geometry;
}

}  // namespace

bool is_image_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tif" ||
         ext == ".tiff";
}

std::vector<std::string> images_in(const std::string& dir) { return images_in(dir, false, nullptr); }

std::vector<std::string> images_in(const std::string& dir, bool skip_bad, std::vector<SkippedItem>* skipped) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DatasetError(fmt::format("{}: no such directory", dir));
  std::vector<std::string> found;
  std::vector<SkippedItem> dropped;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string();
    if (!is_image_file(path)) continue;
    // An image name that is no regular file (a symbolic link loop, a
    // dangling link, a FIFO) is a bad file, not a silent omission; a
    // directory so named is not an image and is passed over.
    const std::string problem = regular_file_problem(path);
    std::error_code is_dir;
    if (problem.empty()) {
      found.push_back(path);
    } else if (!fs::is_directory(path, is_dir)) {
      const std::string error = fmt::format("{}: {}", path, problem);
      if (!skip_bad) throw DatasetError(error + "; fix or remove it, or pass `skip_bad`");
      dropped.push_back({path, error});
    }
  }
  if (ec) throw DatasetError(fmt::format("{}: cannot list ({})", dir, ec.message()));
  std::sort(found.begin(), found.end());
  std::sort(dropped.begin(), dropped.end(), [](const SkippedItem& a, const SkippedItem& b) { return a.item < b.item; });
  if (skipped) skipped->insert(skipped->end(), dropped.begin(), dropped.end());
  return found;
}

std::vector<std::string> list_images(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      const std::vector<std::string> found = images_in(input);
      if (found.empty())
        throw DatasetError(fmt::format("{}: no images (png, jpg, jpeg, bmp, tif, tiff) in this directory", input));
      files.insert(files.end(), found.begin(), found.end());
    } else if (const std::string problem = regular_file_problem(input); problem.empty()) {
      files.push_back(input);
    } else if (!fs::exists(fs::symlink_status(input, ec))) {
      throw DatasetError(fmt::format("{}: no such file or directory", input));
    } else {
      // Named before opening: opening a FIFO blocks until something writes to it.
      throw DatasetError(fmt::format("{}: {}", input, problem));
    }
  }
  return files;
}

ImageSet read_image_files(const std::vector<ImageFile>& files, const DecodeOptions& options,
                          std::vector<SkippedItem>* skipped) {
  if (files.empty()) throw DatasetError("no image files to read");
  const Geometry geometry = settle_geometry(files, options);
  const int64_t n = static_cast<int64_t>(files.size());
  const bool with_masks = std::any_of(files.begin(), files.end(), [](const ImageFile& f) { return !f.mask.empty(); });
  // The whole set lives in memory: its size is checked before allocating.
  // Each factor is below 2^32 (files) or 2^28 (pixels), so the product of
  // the first three fits; only the last multiplication is checked.
  const uint64_t per_image = uint64_t(geometry.size * geometry.size) * uint64_t(geometry.channels + (with_masks ? 1 : 0));
  uint64_t total = 0;
  if (!checked_multiply(per_image, uint64_t(n), total) || total > kMaxDatasetBytes)
    throw DatasetError("image_size",
                       fmt::format("{} images of {}x{}x{} take {} bytes, more than piade's limit of {} GiB for one "
                                   "dataset; pass a smaller `image_size` or fewer images",
                                   n, geometry.channels, geometry.size, geometry.size, total, kMaxDatasetBytes >> 30));
  torch::Tensor images = torch::empty({n, geometry.channels, geometry.size, geometry.size}, torch::kUInt8);
  torch::Tensor masks;
  if (with_masks) masks = torch::zeros({n, 1, geometry.size, geometry.size}, torch::kUInt8);
  const int64_t image_bytes = geometry.channels * geometry.size * geometry.size;
  const int64_t mask_bytes = geometry.size * geometry.size;

  std::vector<int64_t> rows(files.size());
  for (int64_t i = 0; i < n; ++i) rows[std::size_t(i)] = i;
  const std::vector<Outcome> outcomes = decode_many(
      files, rows, geometry, options.threads, [&](int64_t i) { return images.data_ptr<uint8_t>() + i * image_bytes; },
      [&](int64_t i) { return with_masks ? masks.data_ptr<uint8_t>() + i * mask_bytes : nullptr; });

  const std::vector<int64_t> good = readable_rows(files, outcomes, options.skip_bad, skipped);

  ImageSet set;
  set.images = images;
  set.masks = masks;
  set.labels = torch::empty({n}, torch::kLong);
  auto labels = set.labels.accessor<int64_t, 1>();
  set.ids.reserve(files.size());
  set.original_sizes.reserve(files.size());
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = files[std::size_t(i)].label;
    set.ids.push_back(files[std::size_t(i)].path);
    set.original_sizes.push_back({outcomes[std::size_t(i)].rows, outcomes[std::size_t(i)].cols});
  }
  return int64_t(good.size()) == n ? set : set.select(good);
}

uint64_t decoded_bytes(const std::vector<ImageFile>& files, const DecodeOptions& options) {
  if (files.empty()) return 0;
  const Geometry geometry = settle_geometry(files, options);
  const bool with_masks = std::any_of(files.begin(), files.end(), [](const ImageFile& f) { return !f.mask.empty(); });
  const uint64_t per_image = uint64_t(geometry.size * geometry.size) * uint64_t(geometry.channels + (with_masks ? 1 : 0));
  uint64_t total = 0;
  return checked_multiply(per_image, uint64_t(files.size()), total) ? total : UINT64_MAX;
}

ImageSet stream_image_files(const std::vector<ImageFile>& files, const DecodeOptions& options,
                            std::vector<SkippedItem>* skipped) {
  if (files.empty()) throw DatasetError("no image files to read");
  const Geometry geometry = settle_geometry(files, options);
  const int64_t n = static_cast<int64_t>(files.size());
  const bool with_masks = std::any_of(files.begin(), files.end(), [](const ImageFile& f) { return !f.mask.empty(); });
  torch::Tensor masks;
  if (with_masks) masks = torch::zeros({n, 1, geometry.size, geometry.size}, torch::kUInt8);
  const int64_t image_bytes = geometry.channels * geometry.size * geometry.size;
  const int64_t mask_bytes = geometry.size * geometry.size;

  // Decoded now: the files with masks (the masks stay in memory) and, with
  // skip_bad, every file, so that the same files are dropped as in memory.
  // In chunks, so that only one chunk of pixels is held at a time.
  std::vector<int64_t> now;
  for (int64_t i = 0; i < n; ++i)
    if (options.skip_bad || !files[std::size_t(i)].mask.empty()) now.push_back(i);
  std::vector<Outcome> outcomes(files.size());
  constexpr std::size_t kChunk = 256;
  torch::Tensor scratch;
  if (!now.empty())
    scratch = torch::empty({int64_t(std::min(kChunk, now.size())), geometry.channels, geometry.size, geometry.size},
                           torch::kUInt8);
  for (std::size_t start = 0; start < now.size(); start += kChunk) {
    const std::vector<int64_t> rows(now.begin() + long(start), now.begin() + long(std::min(now.size(), start + kChunk)));
    const std::vector<Outcome> chunk = decode_many(
        files, rows, geometry, options.threads,
        [&](int64_t k) { return scratch.data_ptr<uint8_t>() + k * image_bytes; },
        [&](int64_t k) { return with_masks ? masks.data_ptr<uint8_t>() + rows[std::size_t(k)] * mask_bytes : nullptr; });
    for (std::size_t k = 0; k < rows.size(); ++k) outcomes[std::size_t(rows[k])] = chunk[k];
  }

  const std::vector<int64_t> good = readable_rows(files, outcomes, options.skip_bad, skipped);

  auto source = std::make_shared<ImageSource>();
  source->files = files;
  source->channels = geometry.channels;
  source->image_size = geometry.size;
  source->resize = geometry.resize;
  source->size_from = geometry.size_from;
  source->threads = options.threads;
  source->checked = options.skip_bad;
  ImageSet set;
  set.source = std::move(source);
  set.masks = masks;
  set.labels = torch::empty({n}, torch::kLong);
  auto labels = set.labels.accessor<int64_t, 1>();
  set.ids.reserve(files.size());
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = files[std::size_t(i)].label;
    set.ids.push_back(files[std::size_t(i)].path);
  }
  return int64_t(good.size()) == n ? set : set.select(good);
}

ImageSet load_image_files(const std::vector<ImageFile>& files, const DecodeOptions& options,
                          std::vector<SkippedItem>* skipped) {
  if (options.memory_budget > 0 && decoded_bytes(files, options) > options.memory_budget)
    return stream_image_files(files, options, skipped);
  return read_image_files(files, options, skipped);
}

torch::Tensor decode_rows(const ImageSource& source, const std::vector<int64_t>& indices) {
  // Checked here: an index out of range inside a decoder thread would end
  // the process.
  for (const int64_t i : indices)
    if (i < 0 || i >= int64_t(source.files.size()))
      throw DatasetError(fmt::format("image {} of a streamed set of {} requested", i, source.files.size()));
  const Geometry geometry = geometry_of(source);
  const int64_t k = int64_t(indices.size());
  const int64_t image_bytes = geometry.channels * geometry.size * geometry.size;
  torch::Tensor images = torch::empty({k, geometry.channels, geometry.size, geometry.size}, torch::kUInt8);
  const std::vector<Outcome> outcomes = decode_many(
      source.files, indices, geometry, source.threads,
      [&](int64_t slot) { return images.data_ptr<uint8_t>() + slot * image_bytes; }, {});
  for (const Outcome& outcome : outcomes) {
    if (outcome.error.empty()) continue;
    if (!outcome.skippable) throw DatasetError(outcome.error);
    // Streamed files are read as batches need them, long after loading.
    throw DatasetError(outcome.error + (source.checked ? "; it could be read when the dataset was loaded"
                                                       : "; fix or remove it, or pass `skip_bad`"));
  }
  return images;
}

ImageSet read_images(const std::vector<std::string>& files, const DecodeOptions& options,
                     std::vector<SkippedItem>* skipped) {
  std::vector<ImageFile> list;
  list.reserve(files.size());
  for (const std::string& file : files) list.push_back({file, 0, ""});
  return read_image_files(list, options, skipped);
}

ImageSet read_images(const std::vector<std::string>& files, int64_t channels, int64_t size, bool skip_bad,
                     std::vector<SkippedItem>* skipped) {
  if (channels != 1 && channels != 3) throw DatasetError("channels", fmt::format("must be 1 or 3, got {}", channels));
  DecodeOptions options;
  options.channels = channels;
  options.image_size = size;
  options.skip_bad = skip_bad;
  return read_images(files, options, skipped);
}

torch::Tensor image_to_tensor(const cv::Mat& image, const DecodeOptions& options) {
  if (image.empty()) throw DatasetError("the picture is empty (0x0 pixels)");
  if (image.depth() != CV_8U)
    throw DatasetError(fmt::format("expected 8-bit pixels (CV_8U), got {}; convert it with cv::Mat::convertTo",
                            cv::typeToString(image.type())));
  if (image.channels() != 1 && image.channels() != 3 && image.channels() != 4)
    throw DatasetError(fmt::format("expected 1 (gray), 3 (BGR) or 4 (BGRA) channels, got {}", image.channels()));
  if ((options.channels != 1 && options.channels != 3) || options.image_size <= 0)
    throw DatasetError("image_to_tensor: the options must fix channels (1 or 3) and image_size");
  const Geometry geometry = settle_geometry({}, options);
  torch::Tensor out = torch::empty({geometry.channels, geometry.size, geometry.size}, torch::kUInt8);
  to_slot(image, geometry, out.data_ptr<uint8_t>());
  return out;
}

cv::Mat tensor_to_image(const torch::Tensor& image) {
  if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3) || image.scalar_type() != torch::kUInt8)
    throw DatasetError(fmt::format("picture: expected a [1|3,H,W] uint8 tensor, got [{}] {}",
                            fmt::join(image.sizes(), ","), std::string(c10::toString(image.scalar_type()))));
  const torch::Tensor hwc = image.detach().to(torch::kCPU).permute({1, 2, 0}).contiguous();
  const int channels = int(image.size(0));
  cv::Mat wrapped(int(image.size(1)), int(image.size(2)), CV_8UC(channels), hwc.data_ptr<uint8_t>());
  cv::Mat out;
  if (channels == 3) cv::cvtColor(wrapped, out, cv::COLOR_RGB2BGR);
  else out = wrapped.clone();
  return out;
}

}  // namespace piade
