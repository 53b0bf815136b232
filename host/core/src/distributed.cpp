#include "piade/core/distributed.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>
#include <torch/version.h>

#include "piade/core/error.h"

#if defined(PIADE_C10D_GLOO) || defined(PIADE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef PIADE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef PIADE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace piade {
namespace {

// A whole decimal number in [low, high], or an error naming `variable`.
int64_t parse_integer(const std::string& variable, const std::string& text, int64_t low, int64_t high) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || text[0] == ' ')
    throw Error(fmt::format("{}: '{}' is not a whole number", variable, text));
  if (value < low || value > high)
    throw Error(fmt::format("{}: {} is outside [{}, {}]", variable, value, low, high));
  return value;
}

// Slurm's special step ids (batch script, extern step, ...) are the top of
// the 32-bit range; a task of `srun` has a small one.
constexpr int64_t kFirstSpecialSlurmStep = 0xFFFFFFF0LL;

}  // namespace

EnvironmentLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

int slurm_default_port(int64_t job_id) { return static_cast<int>(20000 + job_id % 20000); }

std::vector<std::string> expand_slurm_nodelist(const std::string& nodelist) {
  auto fail = [&](const std::string& why) {
    return Error(fmt::format("SLURM_JOB_NODELIST: cannot read '{}': {}", nodelist, why));
  };
  // Expands one host pattern: prefix[ranges]rest, where rest may hold more
  // bracket groups (rack[1-2]-node[1-3]): a cartesian product, in order.
  std::function<void(const std::string&, std::vector<std::string>&)> expand =
      [&](const std::string& pattern, std::vector<std::string>& out) {
        const std::size_t open = pattern.find('[');
        if (open == std::string::npos) {
          if (pattern.find(']') != std::string::npos) throw fail("a ']' without its '['");
          out.push_back(pattern);
          return;
        }
        const std::size_t close = pattern.find(']', open);
        if (close == std::string::npos) throw fail("a '[' without its ']'");
        const std::string prefix = pattern.substr(0, open);
        const std::string ranges = pattern.substr(open + 1, close - open - 1);
        const std::string rest = pattern.substr(close + 1);
        if (prefix.find(']') != std::string::npos) throw fail("a ']' without its '['");
        if (ranges.empty()) throw fail("an empty '[]'");
        std::vector<std::string> tails;
        expand(rest, tails);
        std::size_t start = 0;
        while (start <= ranges.size()) {
          const std::size_t comma = std::min(ranges.find(',', start), ranges.size());
          const std::string range = ranges.substr(start, comma - start);
          const std::size_t dash = range.find('-');
          const std::string first = range.substr(0, dash);
          const std::string last = dash == std::string::npos ? first : range.substr(dash + 1);
          auto digits = [](const std::string& s) {
            return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
          };
          if (!digits(first) || !digits(last)) throw fail(fmt::format("'{}' is not a number or a range of numbers", range));
          const int64_t low = std::stoll(first), high = std::stoll(last);
          if (high < low) throw fail(fmt::format("the range '{}' runs backwards", range));
          if (high - low > 100000) throw fail(fmt::format("the range '{}' has more than 100000 hosts", range));
          for (int64_t i = low; i <= high; ++i) {
            // Slurm keeps the width of the first number: node[01-10].
            const std::string number = fmt::format("{:0{}}", i, first.size());
            for (const std::string& tail : tails) out.push_back(prefix + number + tail);
          }
          start = comma + 1;
        }
      };
  std::vector<std::string> hosts;
  int depth = 0;
  std::string item;
  for (std::size_t i = 0; i <= nodelist.size(); ++i) {
    const char c = i < nodelist.size() ? nodelist[i] : ',';
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (depth < 0) throw fail("a ']' without its '['");
    if (c == ',' && depth == 0) {
      if (item.empty()) throw fail("an empty host name");
      expand(item, hosts);
      item.clear();
    } else {
      item += c;
    }
  }
  if (depth != 0) throw fail("a '[' without its ']'");
  return hosts;
}

std::optional<Rendezvous> rendezvous_from_environment(const EnvironmentLookup& lookup) {
  constexpr int64_t kMaxWorld = 1 << 20;
  Rendezvous found;
  const auto rank = lookup("RANK"), world = lookup("WORLD_SIZE");
  if (rank || world) {
    if (!world) throw Error("WORLD_SIZE: not set, but RANK is; set both (as torchrun does) or neither");
    if (!rank) throw Error("RANK: not set, but WORLD_SIZE is; set both (as torchrun does) or neither");
    found.source = "torchrun";
    found.world_size = static_cast<int>(parse_integer("WORLD_SIZE", *world, 1, kMaxWorld));
    found.rank = static_cast<int>(parse_integer("RANK", *rank, 0, kMaxWorld));
    if (found.rank >= found.world_size)
      throw Error(fmt::format("RANK: {} is not below WORLD_SIZE {}", found.rank, found.world_size));
    const auto local = lookup("LOCAL_RANK");
    found.local_rank = local ? static_cast<int>(parse_integer("LOCAL_RANK", *local, 0, found.rank)) : found.rank;
  } else {
    // srun sets SLURM_PROCID for each task of a step; the batch script
    // itself (SLURM_PROCID 0 of maybe several tasks) is a single process.
    const auto step = lookup("SLURM_STEP_ID");
    const auto procid = lookup("SLURM_PROCID");
    if (!step || !procid || parse_integer("SLURM_STEP_ID", *step, 0, std::numeric_limits<uint32_t>::max()) >=
                                kFirstSpecialSlurmStep)
      return std::nullopt;
    const auto ntasks = lookup("SLURM_NTASKS");
    if (!ntasks) throw Error("SLURM_NTASKS: not set, but SLURM_PROCID is (a task of srun); run piade under srun");
    found.source = "slurm";
    found.world_size = static_cast<int>(parse_integer("SLURM_NTASKS", *ntasks, 1, kMaxWorld));
    found.rank = static_cast<int>(parse_integer("SLURM_PROCID", *procid, 0, kMaxWorld));
    if (found.rank >= found.world_size)
      throw Error(fmt::format("SLURM_PROCID: {} is not below SLURM_NTASKS {}", found.rank, found.world_size));
    const auto local = lookup("SLURM_LOCALID");
    found.local_rank = local ? static_cast<int>(parse_integer("SLURM_LOCALID", *local, 0, found.rank)) : 0;
  }
  if (found.world_size == 1) return std::nullopt;

  if (const auto addr = lookup("MASTER_ADDR"); addr && !addr->empty()) {
    found.master_addr = *addr;
  } else if (found.source == "slurm") {
    const auto nodelist = lookup("SLURM_JOB_NODELIST");
    if (!nodelist || nodelist->empty())
      throw Error("MASTER_ADDR: not set, and neither is SLURM_JOB_NODELIST to take the first host from");
    found.master_addr = expand_slurm_nodelist(*nodelist).front();
  } else {
    throw Error(fmt::format("MASTER_ADDR: not set; a run of WORLD_SIZE {} needs the host of rank 0", found.world_size));
  }
  if (const auto port = lookup("MASTER_PORT"); port && !port->empty()) {
    found.master_port = static_cast<int>(parse_integer("MASTER_PORT", *port, 1, 65535));
  } else if (found.source == "slurm") {
    const auto job = lookup("SLURM_JOB_ID");
    if (!job) throw Error("MASTER_PORT: not set, and neither is SLURM_JOB_ID to derive one from");
    found.master_port =
        slurm_default_port(parse_integer("SLURM_JOB_ID", *job, 0, std::numeric_limits<int64_t>::max()));
  } else {
    throw Error(fmt::format("MASTER_PORT: not set; a run of WORLD_SIZE {} needs the port of rank 0's store",
                            found.world_size));
  }
  return found;
}

#if defined(PIADE_C10D_GLOO) || defined(PIADE_C10D_NCCL)
struct ProcessGroup::State {
  Rendezvous rendezvous;
  std::chrono::seconds timeout{};
  c10::intrusive_ptr<c10d::Store> store;
#ifdef PIADE_C10D_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#ifdef PIADE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  /// Starts `call` (given the group's backend, NCCL or Gloo) and waits for
  /// the work it returns; a failure becomes one line naming `what`.
  template <class Call>
  void collective(const char* what, Call call);
};
#else
struct ProcessGroup::State {
  Rendezvous rendezvous;
  std::chrono::seconds timeout{};
};
#endif

namespace {

// c10::Error carries a C++ backtrace after its message; only the first line
// is for the user.
std::string first_line(const std::exception& e) {
  std::string text = e.what();
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) text = c10_error->what_without_backtrace();
  const std::size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// The one line for a collective that failed: the peer that went away (with
// two ranks it can only be the other one), or the timeout.
std::string collective_failure(const Rendezvous& rendezvous, std::chrono::seconds timeout, const std::string& what,
                               const std::exception& e) {
  const std::string reason = first_line(e);
  const std::string peer = rendezvous.world_size == 2 ? fmt::format("rank {}", 1 - rendezvous.rank) : "another rank";
  const std::string me = fmt::format("rank {} of {}", rendezvous.rank, rendezvous.world_size);
  std::string lowered = reason;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lowered.find("timed out") != std::string::npos || lowered.find("timeout") != std::string::npos)
    return fmt::format("{}: no answer from {} within {} s during {} (--dist-timeout); it stopped or hangs ({})", me,
                       peer, timeout.count(), what, reason);
  if (lowered.find("closed") != std::string::npos || lowered.find("reset") != std::string::npos ||
      lowered.find("broken pipe") != std::string::npos)
    return fmt::format("{}: lost {} (connection closed) during {}; it failed or was killed, see its message ({})", me,
                       peer, what, reason);
  return fmt::format("{}: {} failed: {}", me, what, reason);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

}  // namespace

#if defined(PIADE_C10D_GLOO) || defined(PIADE_C10D_NCCL)
template <class Call>
void ProcessGroup::State::collective(const char* what, Call call) {
  try {
    c10::intrusive_ptr<c10d::Work> work;
#ifdef PIADE_C10D_NCCL
    if (nccl) work = call(*nccl);
#endif
#ifdef PIADE_C10D_GLOO
    if (gloo) work = call(*gloo);
#endif
    work->wait();
  } catch (const std::exception& e) {
    throw Error(collective_failure(rendezvous, timeout, what, e));
  }
}
#endif

ProcessGroup::ProcessGroup(const Rendezvous& rendezvous, const torch::Device& device, std::chrono::seconds timeout)
    : state_(std::make_unique<State>()) {
  state_->rendezvous = rendezvous;
  state_->timeout = timeout;
  const std::string me = fmt::format("rank {} of {}", rendezvous.rank, rendezvous.world_size);
#if defined(PIADE_C10D_GLOO) || defined(PIADE_C10D_NCCL)
  if (device.is_cuda()) {
#ifndef PIADE_C10D_NCCL
    throw Error(fmt::format("{}: --device {}: this LibTorch has no NCCL process group; train on --device cpu (Gloo) "
                            "or build piade against a CUDA LibTorch with NCCL",
                            me, device.str()));
#endif
  } else {
#ifndef PIADE_C10D_GLOO
    throw Error(fmt::format("{}: --device cpu: this LibTorch has no Gloo process group for data-parallel training "
                            "on the CPU",
                            me));
#endif
  }
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(rendezvous.master_port);
    options.isServer = rendezvous.rank == 0;
    options.numWorkers = rendezvous.world_size;
    options.waitWorkers = true;
    options.timeout = timeout;
    state_->store = c10::make_intrusive<c10d::TCPStore>(rendezvous.master_addr, options);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: cannot meet the other ranks at MASTER_ADDR {} MASTER_PORT {} within {} s "
                            "(--dist-timeout): {}",
                            me, rendezvous.master_addr, rendezvous.master_port, timeout.count(), first_line(e)));
  }
  try {
#ifdef PIADE_C10D_NCCL
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      state_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(state_->store, rendezvous.rank,
                                                                 rendezvous.world_size, options);
    }
#endif
#ifdef PIADE_C10D_GLOO
    if (!device.is_cuda()) {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the network interface, as in PyTorch; on
      // one host the loopback; else the address this host's name resolves to.
      if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface)
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      else if (is_loopback(rendezvous.master_addr))
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      options->threads = 2;
      state_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(state_->store, rendezvous.rank,
                                                                 rendezvous.world_size, options);
    }
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(collective_failure(rendezvous, timeout, "the start of the process group", e));
  }
#else
  (void)device;
  throw Error(fmt::format("{}: this LibTorch was built without c10d (Gloo, NCCL); data-parallel training needs a "
                          "LibTorch with distributed support",
                          me));
#endif
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return state_->rendezvous.rank; }
int ProcessGroup::world_size() const { return state_->rendezvous.world_size; }
std::chrono::seconds ProcessGroup::timeout() const { return state_->timeout; }
std::string ProcessGroup::name() const { return fmt::format("rank {} of {}", rank(), world_size()); }

void ProcessGroup::all_reduce_sum(torch::Tensor& tensor) {
#if defined(PIADE_C10D_GLOO) || defined(PIADE_C10D_NCCL)
  std::vector<torch::Tensor> tensors = {tensor};
  state_->collective("an all-reduce", [&](auto& backend) { return backend.allreduce(tensors); });
#else
  (void)tensor;
#endif
}

namespace {
// Runs `collective` on flat buffers of at most `bucket_bytes` (a tensor
// larger than that is a bucket of its own), then copies the results back.
void bucketed(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes,
              const std::function<void(torch::Tensor&)>& collective) {
  torch::NoGradGuard no_grad;
  std::size_t begin = 0;
  while (begin < tensors.size()) {
    std::size_t end = begin;
    int64_t bytes = 0;
    while (end < tensors.size() &&
           (end == begin || (bytes + static_cast<int64_t>(tensors[end].nbytes()) <= bucket_bytes &&
                             tensors[end].scalar_type() == tensors[begin].scalar_type())))
      bytes += static_cast<int64_t>(tensors[end++].nbytes());
    std::vector<torch::Tensor> flat;
    for (std::size_t i = begin; i < end; ++i) flat.push_back(tensors[i].reshape({-1}));
    torch::Tensor buffer = torch::cat(flat);
    collective(buffer);
    int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const int64_t count = tensors[i].numel();
      tensors[i].copy_(buffer.slice(0, offset, offset + count).view_as(tensors[i]));
      offset += count;
    }
    begin = end;
  }
}
}  // namespace

void ProcessGroup::all_reduce_sum_bucketed(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  bucketed(tensors, bucket_bytes, [&](torch::Tensor& buffer) { all_reduce_sum(buffer); });
}

void ProcessGroup::broadcast_from_rank0(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  bucketed(tensors, bucket_bytes, [&](torch::Tensor& buffer) {
#if defined(PIADE_C10D_GLOO) || defined(PIADE_C10D_NCCL)
    std::vector<torch::Tensor> list = {buffer};
    state_->collective("a broadcast", [&](auto& backend) { return backend.broadcast(list); });
#else
    (void)buffer;
#endif
  });
}

void ProcessGroup::barrier() {
  // An all-reduce of one number: a barrier that fails as the others do.
  torch::Tensor one = torch::ones({1});
#ifdef PIADE_C10D_NCCL
  if (state_->nccl) one = one.to(torch::Device(torch::kCUDA, state_->rendezvous.local_rank));
#endif
  all_reduce_sum(one);
}

}  // namespace piade
