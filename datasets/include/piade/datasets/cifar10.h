// CIFAR-10, binary version (Krizhevsky 2009): data_batch_1..5.bin for
// training and test_batch.bin, each a run of 3073-byte records: one label
// byte (0..9), then the red, green and blue planes of a 32x32 image, each
// row-major.
#pragma once

#include <string>
#include <vector>

#include "piade/datasets/dataset.h"

namespace piade {

/// "airplane", "automobile", ..., "truck": the names of labels 0..9.
const std::vector<std::string>& cifar10_classes();

/// One batch file as [N,3,32,32] RGB uint8, labels 0..9, ids
/// "<file>#<record>". Throws piade::DatasetError naming the file when it cannot be
/// read, is empty, is not a whole number of records, or a record's label is
/// above 9; with skip_bad, bad-label records and a trailing partial record
/// are dropped and appended to `*skipped` instead ("<file>#<record>", in
/// record order).
ImageSet read_cifar10_batch(const std::string& file, bool skip_bad = false,
                            std::vector<SkippedItem>* skipped = nullptr);

/// The directory holding the batches: `root`, or root/cifar-10-batches-bin
/// (where the archive unpacks). Throws piade::DatasetError naming the missing file.
std::string cifar10_dir(const std::string& root);

/// The 50000 training images (data_batch_1..5.bin, in order) or the 10000
/// test images (test_batch.bin) of cifar10_dir(root); records dropped by
/// skip_bad are appended to `*skipped` batch by batch.
ImageSet read_cifar10(const std::string& root, bool train, bool skip_bad = false,
                      std::vector<SkippedItem>* skipped = nullptr);

}  // namespace piade
