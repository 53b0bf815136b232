// Image files (png, jpg, jpeg, bmp, tif, tiff), decoded with OpenCV in
// parallel, straight to the requested geometry.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "piade/datasets/dataset.h"

namespace piade {

/// How image files become the uint8 cache [N,C,S,S].
struct DecodeOptions {
  /// 1 gray, 3 RGB (gray repeated); 0 = the first readable file's (1 when it
  /// is gray, else 3).
  int64_t channels = 0;
  /// Output image_size x image_size; 0 = the files' own size, which must
  /// then be square and the same for every file.
  int64_t image_size = 0;
  /// Resize to resize x resize first, then center-crop image_size (the
  /// authors' code: 156 then 120); 0 = resize straight to image_size.
  int64_t resize = 0;
  /// Drop (and report) files that cannot be decoded instead of throwing.
  bool skip_bad = false;
  /// Decoding threads; 0 = at::get_num_threads().
  int64_t threads = 0;
  /// Bytes the decoded set (N x C x S x S, masks included) may take in
  /// memory; above it load_image_files streams the set instead of decoding
  /// it (issue 17). 0 = no budget: always decode into memory.
  uint64_t memory_budget = 0;
};

/// One file to decode, with its label and optional mask.
struct ImageFile {
  std::string path;
  int64_t label = 0;
  /// A mask image of the same size (nonzero = anomalous pixel); "" = none,
  /// an all-zero mask when other files of the set have one.
  std::string mask;
};

/// The files of a streamed ImageSet and the geometry they decode to,
/// settled once (from the first readable file where the options left it
/// open) so that every batch decodes alike.
struct ImageSource {
  std::vector<ImageFile> files;
  int64_t channels = 3;    ///< 1 or 3
  int64_t image_size = 0;  ///< S, final
  int64_t resize = 0;      ///< R before the center crop; 0 = none
  /// With `image_size` 0 given: the file whose size every file must have.
  std::string size_from;
  int64_t threads = 0;     ///< decoding threads; 0 = at::get_num_threads()
  /// Every file was decoded once when the set was made (skip_bad), so a
  /// failure now means the file changed since.
  bool checked = false;
};

/// True for the extensions above, in any case.
bool is_image_file(const std::string& path);

/// The image files directly in `dir` (not recursive), sorted. Throws
/// piade::DatasetError for a missing directory or an image name that is no
/// regular file; an empty result is not an error.
std::vector<std::string> images_in(const std::string& dir);

/// The same, where an image name that is no regular file (a symbolic link
/// loop, a dangling link, a FIFO) throws piade::DatasetError naming it, or with
/// skip_bad is left out and appended to `*skipped` (sorted by path).
std::vector<std::string> images_in(const std::string& dir, bool skip_bad, std::vector<SkippedItem>* skipped);

/// Expands files and directories (not recursive) into the image files they
/// name, sorted. Throws piade::DatasetError for a missing path, an empty
/// result, or a path that is no regular file or directory (a FIFO), before
/// opening it.
std::vector<std::string> list_images(const std::vector<std::string>& inputs);

/// Decodes `files` in parallel, each straight to the options' geometry, so
/// full-size images are never all held: images [N,C,S,S] uint8 (area
/// interpolation when shrinking, bilinear when enlarging), labels from the
/// files, ids = paths, original_sizes = each file's own height and width, and masks [N,1,S,S] 0/255 when any file has one
/// (nearest neighbour, same geometry, binarised). Throws piade::DatasetError naming
/// the first file (in `files` order) that cannot be decoded, a mask whose
/// size differs from its image's, or, with image_size 0, a file whose size
/// is not square or differs from the first's. With skip_bad such files
/// (and their masks) are dropped and appended to `*skipped` (item = the
/// image's path), in `files` order; a result with no image left is still an
/// error.
ImageSet read_image_files(const std::vector<ImageFile>& files, const DecodeOptions& options,
                          std::vector<SkippedItem>* skipped = nullptr);

/// What read_image_files would allocate for `files`: N x (C + 1 with masks)
/// x S x S bytes, with the geometry settled as it settles it (reading the
/// first file when channels or image_size are 0); UINT64_MAX on overflow.
uint64_t decoded_bytes(const std::vector<ImageFile>& files, const DecodeOptions& options);

/// The same files as a streamed ImageSet (labels, ids and masks in memory,
/// `images` undefined, `source` set): memory does not grow with the number
/// of files. Masks, where any file has one, are decoded now. With skip_bad
/// every file is decoded once now (pixels dropped) so that exactly the files
/// read_image_files would drop are dropped, in the same order and with the
/// same reasons; without it a file is first decoded when a batch needs it,
/// and then throws as read_image_files would have.
ImageSet stream_image_files(const std::vector<ImageFile>& files, const DecodeOptions& options,
                            std::vector<SkippedItem>* skipped = nullptr);

/// read_image_files, or stream_image_files when options.memory_budget is
/// set and decoded_bytes is above it.
ImageSet load_image_files(const std::vector<ImageFile>& files, const DecodeOptions& options,
                          std::vector<SkippedItem>* skipped = nullptr);

/// Decodes the files of `source` at `indices` (in that order) with the same
/// per-file function as read_image_files, so the pixels are identical:
/// [k,C,S,S] uint8. Throws piade::DatasetError naming the first file (in
/// `indices` order) that cannot be decoded.
torch::Tensor decode_rows(const ImageSource& source, const std::vector<int64_t>& indices);

/// Unlabelled files (labels 0, no masks), as read_image_files.
ImageSet read_images(const std::vector<std::string>& files, const DecodeOptions& options,
                     std::vector<SkippedItem>* skipped = nullptr);

/// The same with channels 1 or 3 resized straight to size x size.
ImageSet read_images(const std::vector<std::string>& files, int64_t channels, int64_t size,
                     bool skip_bad = false, std::vector<SkippedItem>* skipped = nullptr);

/// One picture already decoded (8-bit gray, BGR or BGRA, as cv::imread gives
/// it; any size) turned into the network input exactly as read_image_files
/// turns every file: [C,S,S] uint8, RGB order. `options` must fix channels
/// (1 or 3) and image_size. The one conversion `piade score` and
/// piade::Detector share, so both score a picture alike. Throws piade::DatasetError
/// for an empty picture, another depth or channel count (the message says
/// what is wrong; the caller names the picture).
torch::Tensor image_to_tensor(const cv::Mat& image, const DecodeOptions& options);

/// The reverse, for pictures: [C,H,W] uint8 (1 gray, 3 RGB), on any device,
/// -> a new 8-bit cv::Mat, gray or BGR (OpenCV's order).
cv::Mat tensor_to_image(const torch::Tensor& image);

}  // namespace piade
