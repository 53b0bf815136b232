// One rank of batch_norm_test's data-parallel runs: joins a real c10d
// process group (TCPStore + ProcessGroupGloo on 127.0.0.1), installs an
// all-reduce as piade::sdk's batch-norm sync, trains piade::sdk batch norms on
// its share of each batch and saves what the test compares.
//
//   sdk_sync_bn_worker RANK WORLD PORT_FILE INPUTS OUTPUT
//
// Rank 0 hosts the store on a free port and writes the port to PORT_FILE;
// the others read it from there. INPUTS holds the global batches (written by
// the test); OUTPUT gets this rank's outputs, gradients and running stats.
// Any failure is one line on stderr and exit 1; every wait has a timeout.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "piade/sdk/batch_norm.h"

namespace {

constexpr std::chrono::seconds kTimeout{30};

int read_port(const std::filesystem::path& file) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(file);
    int port = 0;
    if (in >> port && port > 0) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error(file.string() + ": rank 0 wrote no port within 30 s");
}

void write_port(const std::filesystem::path& file, int port) {
  // Renamed into place, so that the reader never sees half a number.
  const std::filesystem::path temporary = file.string() + ".tmp";
  std::ofstream(temporary) << port << "\n";
  std::filesystem::rename(temporary, file);
}

torch::Tensor get(torch::serialize::InputArchive& archive, const std::string& name) {
  torch::Tensor tensor;
  archive.read(name, tensor);
  return tensor;
}

// This rank's rows [lo, hi) of a global batch.
struct Share {
  int64_t lo, hi;
  torch::Tensor of(const torch::Tensor& global) const { return global.slice(0, lo, hi); }
};

// Trains `bn` for the case `name` (inputs NAME.steps, NAME.x<step>,
// NAME.g<step>, NAME.weight, NAME.bias) and saves NAME.y<step>, NAME.dx<step>,
// NAME.dweight<step>, NAME.dbias<step>, NAME.running_mean/var and
// NAME.num_batches_tracked. loss = mean (or sum) of y^2 * g over the share.
template <typename Module>
void run_case(const std::string& name, Module bn, Share share, bool mean_loss, torch::Dtype dtype,
              torch::serialize::InputArchive& in, torch::serialize::OutputArchive& out) {
  {
    torch::NoGradGuard no_grad;
    bn->weight.copy_(get(in, name + ".weight"));
    bn->bias.copy_(get(in, name + ".bias"));
  }
  const int64_t steps = get(in, name + ".steps").item<int64_t>();
  for (int64_t step = 0; step < steps; ++step) {
    const std::string s = std::to_string(step);
    torch::Tensor x = share.of(get(in, name + ".x" + s)).to(dtype).detach().requires_grad_();
    const torch::Tensor g = share.of(get(in, name + ".g" + s));
    const torch::Tensor y = bn->forward(x);
    const torch::Tensor per_value = y.to(torch::kFloat).pow(2) * g;
    (mean_loss ? per_value.mean() : per_value.sum()).backward();
    out.write(name + ".y" + s, y.detach().to(torch::kFloat));
    out.write(name + ".dx" + s, x.grad().to(torch::kFloat));
    out.write(name + ".dweight" + s, bn->weight.grad().clone());
    out.write(name + ".dbias" + s, bn->bias.grad().clone());
    bn->zero_grad();
  }
  out.write(name + ".running_mean", bn->running_mean);
  out.write(name + ".running_var", bn->running_var);
  out.write(name + ".num_batches_tracked", bn->num_batches_tracked);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: sdk_sync_bn_worker RANK WORLD PORT_FILE INPUTS OUTPUT\n");
    return 2;
  }
  const int rank = std::stoi(argv[1]);
  const int world = std::stoi(argv[2]);
  try {
    torch::set_num_threads(1);  // two ranks share the test machine's cores
    c10d::TCPStoreOptions store_options;
    store_options.isServer = rank == 0;
    store_options.port = rank == 0 ? 0 : static_cast<std::uint16_t>(read_port(argv[3]));
    store_options.numWorkers = world;
    store_options.waitWorkers = false;  // the others learn the port only after this
    store_options.timeout = kTimeout;
    auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", store_options);
    if (rank == 0) write_port(argv[3], store->getPort());

    auto options = c10d::ProcessGroupGloo::Options::create();
    options->timeout = kTimeout;
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    piade::sdk::set_batch_norm_sync([group](torch::Tensor& tensor) {
      std::vector<torch::Tensor> tensors{tensor};
      group->allreduce(tensors)->wait();
    });

    torch::serialize::InputArchive in;
    in.load_from(argv[4]);
    torch::serialize::OutputArchive out;
    const int64_t n2d = get(in, "bn2d.x0").size(0), n1d = get(in, "bn1d.x0").size(0);
    const int64_t split1d = get(in, "bn1d.split").item<int64_t>();
    // Equal shares with mean losses (the host's convention), an unequal
    // share with sum losses, and bf16 inputs.
    const Share half{rank * n2d / world, (rank + 1) * n2d / world};
    run_case("bn2d", piade::sdk::BatchNorm2d(torch::nn::BatchNormOptions(3).momentum(0.1)), half, true,
             torch::kFloat, in, out);
    run_case("bn1d",
             piade::sdk::BatchNorm1d(torch::nn::BatchNormOptions(4).momentum(c10::nullopt)),
             rank == 0 ? Share{0, split1d} : Share{split1d, n1d}, false, torch::kFloat, in, out);
    run_case("bf16", piade::sdk::BatchNorm2d(torch::nn::BatchNormOptions(3)), half, true, torch::kBFloat16, in,
             out);
    out.save_to(argv[5]);
    piade::sdk::set_batch_norm_sync({});
    group->barrier()->wait();  // nobody tears the store down under a partner
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    return 1;
  }
}
