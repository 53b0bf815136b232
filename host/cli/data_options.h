// Dataset selection and preprocessing options, the same for every command
// that reads a dataset (train, eval, score, compare).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "piade/datasets/error.h"
#include "piade/datasets/image_files.h"
#include "piade/datasets/one_class.h"
#include "piade/datasets/transforms.h"
#include "cli/options.h"

namespace piade {

/// --dataset mvtec|cifar10|coil100|mnist|fmnist|folder, --data-root,
/// --normal-class, --category, --max-train, --max-test, --image-size,
/// --resize, --channels, --skip-bad, --memory-budget, and for folder datasets --train-dir,
/// --test-normal-dir, --test-anomalous-dir (each repeatable), --mask-dir.
po::options_description dataset_options();

/// A dataset error as the CLI shows it: the setting at fault and those the
/// message names as the flags that set them ("resize: ... `image_size`" ->
/// "--resize: ... --image-size").
std::string cli_message(const DatasetError& error);

/// Which splits load_dataset decodes.
enum class DatasetSplits {
  both,       ///< training and test split
  test_only,  ///< the test split alone (piade eval); `train` stays empty
};

/// Loads the selected dataset and applies the one-class protocol: test
/// labels 0 normal / 1 anomalous, ids file paths (file datasets) or
/// "<file>#<index>" (IDX, CIFAR-10), test masks for MVTec and folders with
/// masks. File datasets are decoded straight to the final geometry (as are
/// IDX and CIFAR-10 when --resize is given); otherwise IDX and CIFAR-10 keep
/// their own size and preprocess() resizes. --max-train / --max-test
/// subsample before decoding. Files or records dropped by --skip-bad are
/// listed in `skipped_items` and reported with warn_skipped(). The test
/// subset depends on the seed and --max-test only, so test_only picks the
/// same test images as both. Throws piade::Error naming the option or file
/// at fault.
OneClassSplit load_dataset(const CommandLine& command_line, uint64_t seed,
                           DatasetSplits splits = DatasetSplits::both);

/// Nothing when `skipped` is empty; otherwise warn()s `summary`, then
/// "skipped ITEM: REASON" for the first 5 items (a reason that starts with
/// "ITEM: " loses that prefix, so the path is said once) and "... and K
/// more" for the rest.
void warn_skipped(const std::string& summary, const std::vector<SkippedItem>& skipped);

/// The dataset a checkpoint records (`piade train` stores it as
/// meta["dataset"]): name, description, normal_class, train_images, and
/// "options", the dataset-selecting options as given (paths made absolute):
/// dataset, data-root, normal-class, category, train-dir, test-normal-dir,
/// test-anomalous-dir, mask-dir.
nlohmann::json dataset_to_json(const CommandLine& command_line, const OneClassSplit& data);

/// The configuration a checkpoint stores (meta["config"]): the Pipeline,
/// Data and Training keys `piade train` used, paths made absolute, and every
/// plugin parameter resolved ("routing.vectors"). A --config file in JSON
/// form: eval, score and config start from it.
nlohmann::json stored_configuration(const CommandLine& command_line, const PipelineConfig& pipeline);

/// The checkpoint layer of parse_options (cli/options.h): the checkpoint's
/// stored configuration (for older checkpoints, the dataset options they
/// record), with the input geometry (--image-size, --resize, --channels)
/// the network was trained on. When the user names another --dataset, the
/// checkpoint's dataset keys are left out; --data-root and the folder
/// directories exclude each other, and what the user gave decides.
KeyTexts checkpoint_configuration(const std::string& checkpoint, const KeyTexts& given);
/// The same for a checkpoint's metadata, read from `file`.
KeyTexts checkpoint_configuration(const nlohmann::json& meta, const std::string& file, const KeyTexts& given);

/// Throws piade::Error naming the option and the checkpoint when the input
/// geometry the options select differs from the one `file` was trained on.
void check_checkpoint_geometry(const CommandLine& command_line, const nlohmann::json& meta, const std::string& file);

/// The network input settings the options select; --resize without
/// --image-size means --image-size R (no crop). Throws for bad values.
Preprocess preprocess_settings(const CommandLine& command_line);

/// The file decoding settings the options select (--image-size, --resize,
/// --channels, --skip-bad, --memory-budget or its default).
DecodeOptions decode_settings(const CommandLine& command_line);

/// --memory-budget's SIZE in bytes: a number with an optional binary unit
/// K, M, G, T (also KB, KiB, ...; any case), "1.5G" too; at least 1 byte.
/// Throws piade::Error naming the option and the text.
uint64_t parse_memory_budget(const std::string& text);

}  // namespace piade
