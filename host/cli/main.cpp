// piade: the command-line host. Each verb lives in commands/<verb>.cpp; this
// file only dispatches and is the one place that turns errors into exit codes.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "cli/data_options.h"
#include "cli/logging.h"
#include "piade/core/cpu_allocator.h"
#include "piade/sdk/version.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const Command kCommands[] = {
    {"plugins", "list plugins (and broken ones), or show one's parameters", piade::commands::plugins},
    {"config", "print the whole resolved configuration (INI or JSON) that every command reads with --config", piade::commands::config},
    {"train", "train a pipeline on the normal images of a dataset", piade::commands::train},
    {"score", "score images with a trained checkpoint (CSV)", piade::commands::score},
    {"eval", "evaluate a checkpoint on a dataset's test split: metrics, curves, pictures", piade::commands::eval},
    {"compare", "run a grid of configurations x classes x seeds and compare them side by side", piade::commands::compare},
    {"bench", "measure scoring and training throughput (images/s) and peak memory, as JSON", piade::commands::bench},
    {"export", "write a checkpoint's tensors as safetensors (for Python)", piade::commands::export_model},
};

void print_usage() {
  fmt::print("usage: piade COMMAND [options]   (piade COMMAND --help for its options)\n\ncommands:\n");
  for (const Command& command : kCommands) fmt::print("  {:<10} {}\n", command.name, command.summary);
  fmt::print("\npiade {} (plugin ABI {}.{})\n", PIADE_SDK_VERSION, PIADE_PLUGIN_ABI_VERSION,
             PIADE_PLUGIN_API_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  piade::install_caching_cpu_allocator();
  piade::install_screen_logger();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version")) {
    fmt::print("piade {} (plugin ABI {}.{}, LibTorch {})\n", PIADE_SDK_VERSION,
               PIADE_PLUGIN_ABI_VERSION, PIADE_PLUGIN_API_VERSION, TORCH_VERSION);
    return 0;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  std::vector<std::string> names;
  for (const Command& command : kCommands) {
    names.push_back(command.name);
    if (name != command.name) continue;
    try {
      return command.run(args);
    } catch (const piade::Error& e) {
      // one_line: a message that quotes a LibTorch error keeps one line too.
      spdlog::error("piade {}: {}", name, piade::one_line(e.what()));
    } catch (const piade::DatasetError& e) {
      spdlog::error("piade {}: {}", name, piade::cli_message(e));
    } catch (const std::exception& e) {
      // One line; a c10::Error (a failed TORCH_CHECK) without its backtrace.
      spdlog::error("piade {}: {}", name, piade::one_line_message(e));
    }
    return 1;
  }
  fmt::print(stderr, "piade: unknown command '{}'{}\n", name, piade::did_you_mean(name, names));
  return 2;
}
