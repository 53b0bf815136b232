// loss/mse's options: none of its own. The term's `weight` is added by the
// host to every loss (loss.h), so it is not declared here either; the empty
// Options still gives the component the same derived table, parsing and
// pretty_print() as every other (piade/sdk/options.h).
#pragma once

#include "piade/sdk/options.h"

namespace piade::mse {

struct MseLossOptions {
  PIADE_OPTIONS()
};

}  // namespace piade::mse
