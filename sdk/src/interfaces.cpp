// Out-of-line destructors give each interface one home for its type info
// (the SDK library), so dynamic casts agree across plugin boundaries.
#include "piade/sdk/backbone.h"
#include "piade/sdk/decoder.h"
#include "piade/sdk/loss.h"
#include "piade/sdk/pooling.h"
#include "piade/sdk/routing.h"

namespace piade {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::backbone: return "backbone";
    case Kind::pooling: return "pooling";
    case Kind::routing: return "routing";
    case Kind::decoder: return "decoder";
    case Kind::loss: return "loss";
  }
  return "unknown";
}

Backbone::~Backbone() = default;
Pooling::~Pooling() = default;
Routing::~Routing() = default;
Decoder::~Decoder() = default;
Loss::~Loss() = default;

namespace {

// The index-th of each image's routed vectors [N,V,D], and the index.
VectorSelection gather_vectors(const torch::Tensor& vectors, const torch::Tensor& index) {
  torch::Tensor chosen = vectors.gather(
      1, index.view({-1, 1, 1}).expand({vectors.size(0), 1, vectors.size(2)}));
  return {chosen.squeeze(1), index};
}

}  // namespace

VectorSelection select_longest(const torch::Tensor& vectors) {
  TORCH_CHECK(vectors.dim() == 3, "routing: expected vectors [N,V,D], got ", vectors.sizes());
  return gather_vectors(vectors, vectors.norm(2, /*dim=*/-1).argmax(/*dim=*/1));
}

VectorSelection Routing::select(const torch::Tensor& vectors) const {
  if (!is_training()) return select_longest(vectors);
  TORCH_CHECK(vectors.dim() == 3, "routing: expected vectors [N,V,D], got ", vectors.sizes());
  return gather_vectors(vectors, torch::zeros({vectors.size(0)}, vectors.options().dtype(torch::kLong)));
}

}  // namespace piade
