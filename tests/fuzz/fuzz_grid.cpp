// A `piade compare` grid file: read_grid, then expand_grid (its checks of
// every configuration, as `piade train` and `piade eval` parse options;
// with no plugins loaded, a pipeline key is refused) when the grid has few
// runs.
#include <string>

#include "cli/data_options.h"
#include "cli/options.h"
#include "fuzz_support.h"
#include "piade/compare/grid.h"
#include "piade/core/error.h"

namespace {

// The CLI's command_tables() (host/cli/cli.cpp) without the pipeline
// resolution, which needs plugins.
piade::compare::CommandTables tables() {
  piade::compare::CommandTables tables;
  tables.train.add(piade::command_spec("train").all_options());
  tables.dataset.add(piade::dataset_options());
  tables.check_train = [](const std::vector<std::string>& args, const piade::PluginRegistry&) {
    piade::parse_options(args, piade::command_spec("train"));
  };
  tables.check_eval = [](const std::vector<std::string>& args) {
    piade::parse_options(args, piade::command_spec("eval"));
  };
  return tables;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const piade::compare::CommandTables commands = tables();
  static const piade::PluginRegistry registry;
  const std::string file = piade::fuzz::write_input("grid.ini", data, size);
  try {
    const piade::compare::Grid grid = piade::compare::read_grid(file, {}, commands);
    std::size_t runs = grid.classes.size() * grid.seeds.size();
    for (const auto& axis : grid.axes) runs *= axis.values.size();
    if (runs <= 64) piade::compare::expand_grid(grid, registry, commands);
  } catch (const piade::Error& e) {
    piade::fuzz::check_message(e.what(), "");
  }
  return 0;
}
