// A `piade compare` grid file: read_grid, then expand_grid (which checks
// every configuration as `piade train` and `piade eval` would, through the
// CLI's command_tables(); with no plugins loaded the pipeline is refused)
// when the grid has few runs.
#include <string>

#include "cli/cli.h"
#include "fuzz_support.h"
#include "piade/compare/grid.h"
#include "piade/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const piade::compare::CommandTables commands = piade::command_tables();
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
