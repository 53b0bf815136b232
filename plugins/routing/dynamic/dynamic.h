// routing/dynamic's options, declared once: the parameter table, the parsing
// and pretty_print() are derived from them (piade/sdk/options.h).
#pragma once

#include <cstdint>

#include "piade/sdk/options.h"

namespace piade::dynamic {

/// Which vector the decoder gets while training.
enum class TrainVector { first, longest };
const Choice<TrainVector> kTrainVectors[] = {{TrainVector::first, "first"}, {TrainVector::longest, "longest"}};

struct DynamicRoutingOptions {
  /// Instantiation vectors routed to; the paper uses two: one for the normal
  /// class and one collecting the features routing discards (sec. 3.1).
  TORCH_ARG(int64_t, vectors) = 2;
  /// Length of each instantiation vector (paper: R^64).
  TORCH_ARG(int64_t, out_dim) = 64;
  /// Routing iterations r of algorithm 1 (Sabour et al. use 3).
  TORCH_ARG(int64_t, iterations) = 3;
  /// The constant a of squash(s) = |s|^2/(a+|s|^2) s/|s| (eq. 3); > 0, which
  /// the component checks (a range cannot exclude its lower end).
  TORCH_ARG(double, a) = 1.0;
  /// Vector decoded while training: first (vector 0, paper sec. 3.1) or
  /// longest (the authors' capsmod.py, DigitCaps with decode_idx=-1). In
  /// evaluation the longest is decoded either way.
  TORCH_ARG(TrainVector, train_vector) = TrainVector::first;
  /// true: the first r-1 iterations route with detached predictions, so
  /// gradient reaches u_hat only through the last iteration's s_j (the
  /// authors' capsmod.py, x_hat_detached); false: through every iteration.
  TORCH_ARG(bool, stop_gradient) = false;

  PIADE_OPTIONS(
      PIADE_OPTION(vectors, "instantiation vectors routed to", param::Range::at_least(1)),
      PIADE_OPTION(out_dim, "length of each instantiation vector", param::Range::at_least(1)),
      PIADE_OPTION(iterations, "routing iterations", param::Range::at_least(1)),
      PIADE_OPTION(a, "constant a of squash(s) = |s|^2/(a+|s|^2) s/|s|; > 0",
                   param::Range::at_least(0)),
      PIADE_OPTION(train_vector,
                   "vector decoded while training: first (vector 0, paper sec. 3.1) or longest (the "
                   "authors' code, decode_idx=-1)",
                   kTrainVectors),
      PIADE_OPTION(stop_gradient,
                   "route with detached predictions in the first r-1 iterations, as the authors' code"))
};

}  // namespace piade::dynamic
