// Dataset selection and preprocessing options, the same for every command
// that reads a dataset (train, eval, compare).
#pragma once

#include "datasets/one_class.h"
#include "datasets/transforms.h"
#include "host/options.h"

namespace piade {

/// --dataset, --data-root, --normal-class, --max-train, --max-test,
/// --image-size, --channels.
po::options_description dataset_options();

/// Loads the selected dataset and applies the one-class protocol. Throws
/// piade::Error naming the option or file at fault.
OneClassSplit load_dataset(const CommandLine& command_line, uint64_t seed);

/// The network input settings the options select.
Preprocess preprocess_settings(const CommandLine& command_line);

}  // namespace piade
