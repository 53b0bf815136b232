// Data-parallel training over LibTorch's c10d (issue 17): the rendezvous
// that torchrun and Slurm describe in environment variables, and a process
// group (TCPStore + Gloo on CPU, NCCL on CUDA builds that have it) with the
// few collectives the trainer needs. Every failure of a collective (a peer
// that died, a timeout) becomes one piade::Error naming this rank.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

namespace piade {

/// Where this process stands in a data-parallel run.
struct Rendezvous {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;       ///< the rank among the processes of this host (picks cuda:LOCAL_RANK)
  std::string master_addr;  ///< host of rank 0, where the TCPStore listens
  int master_port = 0;
  /// Which variables described it: "torchrun" (RANK, WORLD_SIZE, ...) or
  /// "slurm" (SLURM_PROCID, SLURM_NTASKS, ...).
  std::string source;
};

/// Reads a variable of the environment; empty optional when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment (getenv).
EnvironmentLookup process_environment();

/// The rendezvous the environment describes, or none for a single process.
/// RANK and WORLD_SIZE (torchrun, `piade train --nproc`) come first, then
/// SLURM_PROCID and SLURM_NTASKS (srun). The master is MASTER_ADDR, else the
/// first host of SLURM_JOB_NODELIST; the port MASTER_PORT, else one derived
/// from SLURM_JOB_ID (so that every task of a job agrees on it). A world
/// size of 1 is no rendezvous. Throws piade::Error naming the variable that
/// is missing, not a number, out of range or inconsistent with another.
std::optional<Rendezvous> rendezvous_from_environment(const EnvironmentLookup& lookup);

/// The hosts of a Slurm node list, in order: "node[01-03,7],login" gives
/// node01 node02 node03 node7 login (zero padding kept, as Slurm does).
/// Throws piade::Error naming SLURM_JOB_NODELIST and the text at fault.
std::vector<std::string> expand_slurm_nodelist(const std::string& nodelist);

/// The MASTER_PORT used under Slurm without one: 20000 + SLURM_JOB_ID mod
/// 20000, the same for every task of a job and apart for concurrent jobs.
int slurm_default_port(int64_t job_id);

/// A process group of a data-parallel run. Every collective blocks until
/// all ranks have called it, or throws piade::Error ("rank 1 of 2: lost a
/// peer during all-reduce (...)") when a peer died or `timeout` passed.
class ProcessGroup {
 public:
  /// Meets the other ranks at the rendezvous's TCPStore (rank 0 serves it)
  /// and starts the backend: Gloo for a CPU `device`, NCCL for CUDA where
  /// LibTorch has it. `timeout` bounds the rendezvous and every collective.
  ProcessGroup(const Rendezvous& rendezvous, const torch::Device& device, std::chrono::seconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;
  std::chrono::seconds timeout() const;
  /// "rank 1 of 2", the prefix of every message about this process.
  std::string name() const;

  /// Sums `tensor` in place over all ranks (contiguous, on the group's device).
  void all_reduce_sum(torch::Tensor& tensor);
  /// Sums every tensor in place over all ranks, several at a time through
  /// one flat buffer of at most `bucket_bytes` (one collective per bucket
  /// instead of one per tensor, as PyTorch's DDP does with 25 MB).
  void all_reduce_sum_bucketed(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  /// Copies rank 0's values into every tensor, bucketed as above.
  void broadcast_from_rank0(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  /// Waits for every rank.
  void barrier();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace piade
