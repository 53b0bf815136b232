// Bounds on what a dataset or image file may make piade allocate, and the
// check that a user path is a regular file before it is opened. Every
// parser checks sizes a file declares against the file's real size and
// against these limits before it allocates, so a hostile or damaged file
// (a gzip bomb, an IHDR of 20000x20000, dimensions whose product overflows)
// is an error naming the file and the limit, never std::bad_alloc or an
// out-of-memory kill.
#pragma once

#include <cstdint>
#include <string>

namespace piade {

/// Most pixels (width x height) of one image, decoded or produced by
/// `image_size`: 2^28, e.g. 16384x16384 (768 MiB as RGB). OpenCV's own
/// default (CV_IO_MAX_IMAGE_PIXELS, 2^30) would let one 3-channel picture
/// take 3 GiB, and its refusal reads as "cannot decode".
constexpr uint64_t kMaxImagePixels = uint64_t(1) << 28;

/// Most bytes of one in-memory image set (the uint8 [N,C,S,S] cache of a
/// dataset split, or an IDX file's images): 32 GiB. Image files above
/// DecodeOptions::memory_budget are streamed instead and never reach it.
constexpr uint64_t kMaxDatasetBytes = uint64_t(32) << 30;

/// The default DecodeOptions::memory_budget of the CLI: a quarter of the
/// memory this process may use, the physical RAM or the cgroup's limit
/// (v2 memory.max, v1 memory.limit_in_bytes) when that is lower. A quarter
/// leaves room for the model, its activations and a second run.
uint64_t default_memory_budget();

/// `a * b`, or false when it does not fit in 64 bits.
bool checked_multiply(uint64_t a, uint64_t b, uint64_t& out);

/// "" when `path` is a regular file (symbolic links followed), else what it
/// is: "cannot open (No such file or directory)", "is a directory, not a
/// file", "is a FIFO (named pipe), not a regular file", "cannot open: a
/// symbolic link loop (...)". Checked before opening a
/// user path, since opening a FIFO blocks until something writes to it.
std::string regular_file_problem(const std::string& path);

/// Throws piade::DatasetError "PATH: problem" unless `path` is a regular file.
void require_regular_file(const std::string& path);

}  // namespace piade
