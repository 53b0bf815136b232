// routing/dynamic, loaded through the host's registry as the pipeline does,
// checked against hand numbers and a plain-loop implementation of
// Sabour et al.'s procedure 1.
#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/param_schema.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/routing.h"

#include "tests/support/builtin_plugins.h"

namespace {

std::shared_ptr<piade::Routing> make(piade::CapsuleShape capsules,
                                     const std::map<std::string, std::string>& params = {}) {
  piade::ComponentContext ctx;
  ctx.image = {3, 120, 120};
  ctx.features = piade::FeatureShape{512, 4, 4};
  ctx.capsules = capsules;
  return piade::test::build_component<piade::Routing>("dynamic", params, ctx);
}

void set_weight(const std::shared_ptr<piade::Routing>& routing, const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  auto params = routing->named_parameters();
  ASSERT_TRUE(params.contains("weight"));
  ASSERT_EQ(params["weight"].sizes(), w.sizes());
  params["weight"].copy_(w);
}

/// Procedure 1 of Sabour et al. written out with scalar loops, in double.
torch::Tensor loop_routing(const torch::Tensor& w_in, const torch::Tensor& u_in, int iterations,
                           double a) {
  const torch::Tensor w = w_in.to(torch::kDouble), u = u_in.to(torch::kDouble);
  const int64_t V = w.size(0), I = w.size(1), O = w.size(2), D = w.size(3), N = u.size(0);
  auto W = w.accessor<double, 4>();
  auto U = u.accessor<double, 3>();
  torch::Tensor out = torch::zeros({N, V, O}, torch::kDouble);
  auto result = out.accessor<double, 3>();
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> uhat(V * I * O, 0.0);
    for (int64_t j = 0; j < V; ++j)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t o = 0; o < O; ++o)
          for (int64_t d = 0; d < D; ++d) uhat[(j * I + i) * O + o] += W[j][i][o][d] * U[n][i][d];
    std::vector<double> b(V * I, 0.0), v(V * O, 0.0);
    for (int r = 0; r < iterations; ++r) {
      for (int64_t j = 0; j < V; ++j) {
        std::vector<double> s(O, 0.0);
        for (int64_t i = 0; i < I; ++i) {
          double z = 0;
          for (int64_t k = 0; k < V; ++k) z += std::exp(b[k * I + i]);
          const double c = std::exp(b[j * I + i]) / z;
          for (int64_t o = 0; o < O; ++o) s[o] += c * uhat[(j * I + i) * O + o];
        }
        double sq = 0;
        for (double x : s) sq += x * x;
        const double norm = std::sqrt(sq);
        for (int64_t o = 0; o < O; ++o) v[j * O + o] = norm > 0 ? sq / (a + sq) * s[o] / norm : 0;
      }
      for (int64_t j = 0; j < V; ++j)
        for (int64_t i = 0; i < I; ++i)
          for (int64_t o = 0; o < O; ++o) b[j * I + i] += uhat[(j * I + i) * O + o] * v[j * O + o];
    }
    for (int64_t j = 0; j < V; ++j)
      for (int64_t o = 0; o < O; ++o) result[n][j][o] = v[j * O + o];
  }
  return out.to(torch::kFloat);
}

TEST(DynamicRouting, PaperShape) {
  auto routing = make({680, 8});
  EXPECT_EQ(routing->output_shape({680, 8}), (piade::VectorShape{2, 64}));
  EXPECT_EQ(routing->forward(torch::randn({3, 680, 8})).sizes(),
            (std::vector<int64_t>{3, 2, 64}));
}

TEST(DynamicRouting, OneIterationByHand) {
  // 2 capsules u1 = (1,0), u2 = (0,1); W_0i = I, W_10 = 2I, W_11 = -I.
  // b = 0 gives c = 1/2 everywhere:
  //   s_0 = ((1,0) + (0,1))/2 = (0.5, 0.5),  |s|^2 = 0.5
  //   v_0 = 0.5/1.5 * s/|s| = (1/3)(0.70710678, 0.70710678)
  //   s_1 = ((2,0) + (0,-1))/2 = (1, -0.5), |s|^2 = 1.25
  //   v_1 = 1.25/2.25 * s/1.11803399 = (0.49690399, -0.24845200)
  auto routing = make({2, 2}, {{"vectors", "2"}, {"out_dim", "2"}, {"iterations", "1"}});
  torch::Tensor eye = torch::eye(2);
  set_weight(routing, torch::stack({torch::stack({eye, eye}), torch::stack({2 * eye, -eye})}));
  torch::Tensor u = torch::tensor({{{1.f, 0.f}, {0.f, 1.f}}});
  torch::Tensor v = routing->forward(u);
  torch::Tensor expected =
      torch::tensor({{{0.23570226f, 0.23570226f}, {0.49690399f, -0.24845200f}}});
  EXPECT_TRUE(torch::allclose(v, expected, 1e-6, 1e-6)) << v;
}

TEST(DynamicRouting, SecondIterationByHand) {
  // Same case, r = 2. b_ji = u_hat_j|i . v_j after the first round:
  //   b_00 = (1,0).v_0 = 0.23570226,  b_01 = (0,1).v_0 = 0.23570226
  //   b_10 = (2,0).v_1 = 0.99380799,  b_11 = (0,-1).v_1 = 0.24845200
  // c_i = softmax over j: c_00 = 1/(1+e^(0.99380799-0.23570226)) = 0.31905767,
  //   c_10 = 0.68094233; c_01 = 1/(1+e^(0.24845200-0.23570226)) = 0.49681261,
  //   c_11 = 0.50318739.
  //   s_0 = c_00 (1,0) + c_01 (0,1) = (0.31905767, 0.49681261)
  //   s_1 = c_10 (2,0) + c_11 (0,-1) = (1.36188465, -0.50318739)
  auto routing = make({2, 2}, {{"vectors", "2"}, {"out_dim", "2"}, {"iterations", "2"}});
  torch::Tensor eye = torch::eye(2);
  torch::Tensor w = torch::stack({torch::stack({eye, eye}), torch::stack({2 * eye, -eye})});
  set_weight(routing, w);
  torch::Tensor u = torch::tensor({{{1.f, 0.f}, {0.f, 1.f}}});
  torch::Tensor v = routing->forward(u);
  auto squash = [](double x, double y) {
    const double sq = x * x + y * y;
    const double f = sq / (1 + sq) / std::sqrt(sq);
    return std::vector<float>{static_cast<float>(x * f), static_cast<float>(y * f)};
  };
  const auto v0 = squash(0.31905767, 0.49681261), v1 = squash(1.36188465, -0.50318739);
  torch::Tensor expected = torch::tensor({{v0[0], v0[1]}, {v1[0], v1[1]}}).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(v, expected, 1e-5, 1e-5)) << v << expected;
}

TEST(DynamicRouting, MatchesAPlainLoopImplementation) {
  torch::manual_seed(3);
  for (auto [iterations, a] : {std::pair<int, double>{1, 1.0}, {3, 1.0}, {4, 0.5}}) {
    auto routing = make({7, 3}, {{"vectors", "3"},
                                 {"out_dim", "5"},
                                 {"iterations", std::to_string(iterations)},
                                 {"a", std::to_string(a)}});
    torch::Tensor w = torch::randn({3, 7, 5, 3});
    set_weight(routing, w);
    torch::Tensor u = torch::randn({4, 7, 3});
    torch::Tensor v = routing->forward(u);
    EXPECT_TRUE(torch::allclose(v, loop_routing(w, u, iterations, a), 1e-5, 1e-5))
        << "iterations " << iterations << " a " << a;
  }
}

TEST(DynamicRouting, SquashedLengthsAreInZeroOne) {
  torch::manual_seed(4);
  auto routing = make({680, 8});
  for (double scale : {1e-3, 1.0, 10.0}) {
    torch::Tensor v = routing->forward(scale * torch::randn({2, 680, 8}));
    torch::Tensor norms = v.norm(2, -1);
    EXPECT_TRUE(norms.ge(0).all().item<bool>()) << scale;
    EXPECT_TRUE(norms.lt(1).all().item<bool>()) << scale << norms;
  }
  // |s|^2 / (a + |s|^2) rounds to 1 in float once |s|^2 passes ~1e7: the
  // bound then holds up to rounding, and nothing overflows.
  torch::Tensor huge = routing->forward(1e4 * torch::randn({2, 680, 8})).norm(2, -1);
  EXPECT_TRUE(huge.isfinite().all().item<bool>());
  EXPECT_LE(huge.max().item<double>(), 1 + 1e-6);
}

TEST(DynamicRouting, ZeroInputGivesZeroVectorsAndFiniteGradients) {
  auto routing = make({4, 2}, {{"out_dim", "3"}});
  torch::Tensor u = torch::zeros({2, 4, 2}, torch::requires_grad());
  torch::Tensor v = routing->forward(u);
  EXPECT_TRUE(v.eq(0).all().item<bool>());
  v.sum().backward();
  EXPECT_TRUE(u.grad().isfinite().all().item<bool>());
  EXPECT_TRUE(routing->named_parameters()["weight"].grad().isfinite().all().item<bool>());
}

TEST(DynamicRouting, EveryParameterChangesTheOutput) {
  torch::manual_seed(5);
  torch::Tensor u = torch::randn({2, 6, 4});
  torch::Tensor w = torch::randn({2, 6, 8, 4});
  auto run = [&](const std::map<std::string, std::string>& params) {
    auto routing = make({6, 4}, params);
    set_weight(routing, w);
    return routing->forward(u);
  };
  const std::map<std::string, std::string> base{{"out_dim", "8"}};
  torch::Tensor reference = run(base);
  auto with = [&](const std::string& key, const std::string& value) {
    auto params = base;
    params[key] = value;
    return params;
  };
  EXPECT_GT((run(with("iterations", "1")) - reference).abs().max().item<double>(), 1e-3);
  EXPECT_GT((run(with("a", "0.25")) - reference).abs().max().item<double>(), 1e-3);

  auto vectors = make({6, 4}, {{"vectors", "5"}, {"out_dim", "8"}});
  EXPECT_EQ(vectors->output_shape({6, 4}).count, 5);
  EXPECT_EQ(vectors->forward(u).sizes(), (std::vector<int64_t>{2, 5, 8}));
  auto out_dim = make({6, 4}, {{"out_dim", "3"}});
  EXPECT_EQ(out_dim->output_shape({6, 4}).dim, 3);
  EXPECT_EQ(out_dim->forward(u).sizes(), (std::vector<int64_t>{2, 2, 3}));
}

TEST(DynamicRouting, InitIsSmallGaussian) {
  torch::manual_seed(6);
  auto routing = make({680, 8});
  torch::Tensor w = routing->named_parameters()["weight"];
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{2, 680, 64, 8}));
  EXPECT_NEAR(w.std().item<double>(), 0.01, 1e-3);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 1e-3);
}

TEST(DynamicRouting, GradientsReachTheWeights) {
  auto routing = make({10, 4}, {{"out_dim", "6"}});
  torch::Tensor v = routing->forward(torch::randn({3, 10, 4}));
  (v * torch::randn_like(v)).sum().backward();
  ASSERT_EQ(routing->parameters().size(), 1u);
  torch::Tensor grad = routing->named_parameters()["weight"].grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0);
}

TEST(DynamicRouting, SelectionIsTheSdkDefault) {
  auto routing = make({2, 2}, {{"out_dim", "2"}});
  torch::Tensor v = torch::tensor({{{0.1f, 0.f}, {0.f, 0.5f}}});
  routing->train();
  EXPECT_EQ(routing->select(v).index.item<int64_t>(), 0);
  routing->eval();
  EXPECT_EQ(routing->select(v).index.item<int64_t>(), 1);
}

// The authors' capsmod.py (DigitCaps, decode_idx=-1) decodes the longest
// vector in training too; the paper (sec. 3.1) decodes vector 0.
TEST(DynamicRouting, TrainVectorChoosesTheTrainingSelection) {
  torch::manual_seed(7);
  const torch::Tensor v = torch::randn({16, 3, 4});
  const torch::Tensor longest = v.norm(2, -1).argmax(1);
  ASSERT_GT(longest.ne(0).sum().item<int64_t>(), 0);  // some image's longest is not vector 0
  auto first = make({2, 2}, {{"vectors", "3"}, {"out_dim", "4"}, {"train_vector", "first"}});
  auto authors = make({2, 2}, {{"vectors", "3"}, {"out_dim", "4"}, {"train_vector", "longest"}});
  first->train();
  authors->train();
  EXPECT_TRUE(first->select(v).index.eq(0).all().item<bool>());
  const piade::VectorSelection chosen = authors->select(v);
  EXPECT_TRUE(torch::equal(chosen.index, longest));
  for (int64_t n = 0; n < v.size(0); ++n)
    EXPECT_TRUE(torch::equal(chosen.vectors[n], v[n][longest[n].item<int64_t>()])) << n;
  // Evaluation decodes the longest either way.
  first->eval();
  authors->eval();
  EXPECT_TRUE(torch::equal(first->select(v).index, longest));
  EXPECT_TRUE(torch::equal(authors->select(v).index, longest));
  std::ostringstream printed;
  authors->pretty_print(printed);
  EXPECT_EQ(printed.str(), "routing/dynamic(vectors=3, out_dim=4, train_vector=longest)");
}

/// Routing with the coupling coefficients computed from detached
/// predictions (the authors' x_hat_detached): only the last s_j = sum_i
/// c_ij u_hat_j|i carries gradient, with c_ij constant.
torch::Tensor detached_routing(const torch::Tensor& w, const torch::Tensor& u, int iterations) {
  const torch::Tensor u_hat = torch::einsum("jiod,nid->njio", {w, u});
  const torch::Tensor constant = u_hat.detach();
  auto squash = [](const torch::Tensor& s) {
    const torch::Tensor sq = s.square().sum(-1, true);
    return s * (sq / ((1 + sq) * (sq + 1e-12).sqrt()));
  };
  torch::Tensor b = torch::zeros({u.size(0), w.size(0), w.size(1)});
  for (int r = 0; r + 1 < iterations; ++r) {
    const torch::Tensor c = torch::softmax(b, 1);
    const torch::Tensor v = squash(torch::matmul(c.unsqueeze(2), constant).squeeze(2));
    b = b + torch::matmul(constant, v.unsqueeze(-1)).squeeze(-1);
  }
  const torch::Tensor c = torch::softmax(b, 1).detach();
  return squash(torch::matmul(c.unsqueeze(2), u_hat).squeeze(2));
}

TEST(DynamicRouting, StopGradientRoutesWithDetachedPredictions) {
  torch::manual_seed(8);
  const torch::Tensor w = torch::randn({3, 7, 5, 4});
  const torch::Tensor u = torch::randn({2, 7, 4});
  const torch::Tensor weights_of_output = torch::randn({2, 3, 5});
  // The output and the gradients of <output, weights_of_output> w.r.t. W
  // and the capsules, through the plugin and through the reference.
  auto through_plugin = [&](bool stop) {
    auto routing = make({7, 4}, {{"vectors", "3"}, {"out_dim", "5"}, {"iterations", "3"},
                                 {"stop_gradient", stop ? "true" : "false"}});
    set_weight(routing, w);
    routing->zero_grad();
    const torch::Tensor ug = u.clone().requires_grad_(true);
    const torch::Tensor v = routing->forward(ug);
    (v * weights_of_output).sum().backward();
    return std::tuple{v.detach(), routing->named_parameters()["weight"].grad().clone(), ug.grad().clone()};
  };
  const torch::Tensor wg = w.clone().requires_grad_(true), ug = u.clone().requires_grad_(true);
  const torch::Tensor reference = detached_routing(wg, ug, 3);
  const auto grads = torch::autograd::grad({(reference * weights_of_output).sum()}, {wg, ug});
  const torch::Tensor v_ref = reference.detach(), w_ref = grads[0], u_ref = grads[1];
  const auto [v_on, w_on, u_on] = through_plugin(true);
  const auto [v_off, w_off, u_off] = through_plugin(false);
  // The forward value is the same either way; only the gradient changes.
  EXPECT_TRUE(torch::allclose(v_on, v_off, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(v_on, v_ref, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(w_on, w_ref, 1e-4, 1e-6)) << (w_on - w_ref).abs().max();
  EXPECT_TRUE(torch::allclose(u_on, u_ref, 1e-4, 1e-6)) << (u_on - u_ref).abs().max();
  EXPECT_GT((u_off - u_ref).abs().max().item<double>(), 1e-3 * u_ref.abs().max().item<double>());
  EXPECT_GT((w_off - w_ref).abs().max().item<double>(), 1e-3 * w_ref.abs().max().item<double>());
}

TEST(DynamicRouting, BadTrainVectorIsRefusedByName) {
  try {
    make({680, 8}, {{"train_vector", "middle"}});
    FAIL() << "train_vector=middle was accepted";
  } catch (const piade::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train_vector"), std::string::npos) << what;
    EXPECT_NE(what.find("first, longest"), std::string::npos) << what;
    EXPECT_NE(what.find("middle"), std::string::npos) << what;
  }
}

TEST(DynamicRouting, BadParametersFailWithTheReason) {
  try {
    make({680, 8}, {{"a", "0"}});
    FAIL() << "a=0 was accepted";
  } catch (const piade::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("failed to build"), std::string::npos) << what;
    EXPECT_NE(what.find("a=0"), std::string::npos) << what;
  }
  EXPECT_THROW(make({680, 8}, {{"iterations", "0"}}), piade::Error);
  EXPECT_THROW(make({680, 8}, {{"vectors", "0"}}), piade::Error);
  auto routing = make({680, 8});
  EXPECT_THROW(routing->forward(torch::randn({2, 680, 4})), c10::Error);
}

}  // namespace
