// The rendezvous of data-parallel training (issue 17): the variables of
// torchrun and srun, Slurm's node lists, and the one-line errors naming the
// variable at fault; and a real two-rank Gloo group on the loopback.
#include <unistd.h>

#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "piade/core/distributed.h"
#include "piade/core/error.h"

namespace piade {
namespace {

EnvironmentLookup environment(std::map<std::string, std::string> variables) {
  return [variables](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

// The message of the piade::Error that `body` throws ("" when none).
template <typename Body>
std::string error_of(Body body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Rendezvous, NoVariablesOrAWorldOfOneIsASingleProcess) {
  EXPECT_FALSE(rendezvous_from_environment(environment({})));
  EXPECT_FALSE(rendezvous_from_environment(environment({{"RANK", "0"}, {"WORLD_SIZE", "1"}})));
  // The batch script of an sbatch job with several tasks is one process.
  EXPECT_FALSE(rendezvous_from_environment(
      environment({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_NODELIST", "n1"}})));
  EXPECT_FALSE(rendezvous_from_environment(environment(
      {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_STEP_ID", "4294967294"}, {"SLURM_JOB_NODELIST", "n1"}})));
}

TEST(Rendezvous, TorchrunVariables) {
  const auto found = rendezvous_from_environment(environment({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                                               {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29500"}}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->rank, 3);
  EXPECT_EQ(found->world_size, 4);
  EXPECT_EQ(found->local_rank, 1);
  EXPECT_EQ(found->master_addr, "node7");
  EXPECT_EQ(found->master_port, 29500);
  EXPECT_EQ(found->source, "torchrun");
}

TEST(Rendezvous, SrunVariablesTakeTheFirstHostAndAPortFromTheJob) {
  const auto found = rendezvous_from_environment(
      environment({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "1"}, {"SLURM_STEP_ID", "0"},
                   {"SLURM_JOB_NODELIST", "gpu[07-09,12],login"}, {"SLURM_JOB_ID", "123456"}}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->rank, 1);
  EXPECT_EQ(found->world_size, 2);
  EXPECT_EQ(found->local_rank, 1);
  EXPECT_EQ(found->master_addr, "gpu07");
  EXPECT_EQ(found->master_port, slurm_default_port(123456));
  EXPECT_EQ(found->master_port, 20000 + 123456 % 20000);
  EXPECT_EQ(found->source, "slurm");
  // MASTER_ADDR and MASTER_PORT win over what Slurm says.
  const auto given = rendezvous_from_environment(
      environment({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_STEP_ID", "3"}, {"MASTER_ADDR", "10.0.0.1"},
                   {"MASTER_PORT", "4000"}, {"SLURM_JOB_NODELIST", "gpu07"}}));
  ASSERT_TRUE(given);
  EXPECT_EQ(given->master_addr, "10.0.0.1");
  EXPECT_EQ(given->master_port, 4000);
}

TEST(Rendezvous, BadVariablesAreNamedInOneLine) {
  const std::map<std::string, std::string> good = {
      {"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& key, const std::string& value) {
    auto variables = good;
    variables[key] = value;
    return error_of([&] { rendezvous_from_environment(environment(variables)); });
  };
  auto without = [&](const std::string& key) {
    auto variables = good;
    variables.erase(key);
    return error_of([&] { rendezvous_from_environment(environment(variables)); });
  };
  EXPECT_EQ(with("RANK", "two"), "RANK: 'two' is not a whole number");
  EXPECT_EQ(with("RANK", "2"), "RANK: 2 is not below WORLD_SIZE 2");
  EXPECT_EQ(with("RANK", "-1"), "RANK: -1 is outside [0, 1048576]");
  EXPECT_EQ(with("WORLD_SIZE", "0"), "WORLD_SIZE: 0 is outside [1, 1048576]");
  EXPECT_EQ(with("WORLD_SIZE", "99999999999999999999"), "WORLD_SIZE: '99999999999999999999' is not a whole number");
  EXPECT_EQ(with("MASTER_PORT", "70000"), "MASTER_PORT: 70000 is outside [1, 65535]");
  EXPECT_EQ(with("LOCAL_RANK", "1"), "LOCAL_RANK: 1 is outside [0, 0]");
  EXPECT_EQ(without("WORLD_SIZE"), "WORLD_SIZE: not set, but RANK is; set both (as torchrun does) or neither");
  EXPECT_EQ(without("RANK"), "RANK: not set, but WORLD_SIZE is; set both (as torchrun does) or neither");
  EXPECT_EQ(without("MASTER_ADDR"), "MASTER_ADDR: not set; a run of WORLD_SIZE 2 needs the host of rank 0");
  EXPECT_EQ(without("MASTER_PORT"), "MASTER_PORT: not set; a run of WORLD_SIZE 2 needs the port of rank 0's store");
  EXPECT_EQ(error_of([&] {
              rendezvous_from_environment(
                  environment({{"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "2"}, {"SLURM_STEP_ID", "0"}}));
            }),
            "SLURM_PROCID: 2 is not below SLURM_NTASKS 2");
  EXPECT_EQ(error_of([&] {
              rendezvous_from_environment(environment({{"SLURM_PROCID", "0"}, {"SLURM_STEP_ID", "0"}}));
            }),
            "SLURM_NTASKS: not set, but SLURM_PROCID is (a task of srun); run piade under srun");
  EXPECT_EQ(error_of([&] {
              rendezvous_from_environment(
                  environment({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_STEP_ID", "0"}}));
            }),
            "MASTER_ADDR: not set, and neither is SLURM_JOB_NODELIST to take the first host from");
  EXPECT_EQ(error_of([&] {
              rendezvous_from_environment(environment(
                  {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_STEP_ID", "0"}, {"SLURM_JOB_NODELIST", "a"}}));
            }),
            "MASTER_PORT: not set, and neither is SLURM_JOB_ID to derive one from");
}

TEST(SlurmNodelist, ExpandsRangesListsAndSeveralGroups) {
  EXPECT_EQ(expand_slurm_nodelist("node1"), std::vector<std::string>({"node1"}));
  EXPECT_EQ(expand_slurm_nodelist("node[01-03,7]"), std::vector<std::string>({"node01", "node02", "node03", "node7"}));
  // The width is that of the first number: a[8-10] has no padding.
  EXPECT_EQ(expand_slurm_nodelist("a[8-10],b,c[1]"), std::vector<std::string>({"a8", "a9", "a10", "b", "c1"}));
  EXPECT_EQ(expand_slurm_nodelist("rack[1-2]-n[1-2]"),
            std::vector<std::string>({"rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"}));
  EXPECT_EQ(expand_slurm_nodelist("x[9-11]y"), std::vector<std::string>({"x9y", "x10y", "x11y"}));
}

TEST(SlurmNodelist, BadListsAreNamed) {
  EXPECT_EQ(error_of([] { expand_slurm_nodelist("node[1-3"); }),
            "SLURM_JOB_NODELIST: cannot read 'node[1-3': a '[' without its ']'");
  EXPECT_EQ(error_of([] { expand_slurm_nodelist("node1-3]"); }),
            "SLURM_JOB_NODELIST: cannot read 'node1-3]': a ']' without its '['");
  EXPECT_EQ(error_of([] { expand_slurm_nodelist("node[3-1]"); }),
            "SLURM_JOB_NODELIST: cannot read 'node[3-1]': the range '3-1' runs backwards");
  EXPECT_EQ(error_of([] { expand_slurm_nodelist("node[a]"); }),
            "SLURM_JOB_NODELIST: cannot read 'node[a]': 'a' is not a number or a range of numbers");
  EXPECT_EQ(error_of([] { expand_slurm_nodelist("a,,b"); }),
            "SLURM_JOB_NODELIST: cannot read 'a,,b': an empty host name");
  EXPECT_EQ(error_of([] { expand_slurm_nodelist("node[]"); }),
            "SLURM_JOB_NODELIST: cannot read 'node[]': an empty '[]'");
}

// Two ranks in two threads of this process, over a real TCPStore and Gloo
// on the loopback: bucketed sums (buckets smaller than one tensor, and of
// several tensors), rank 0's values broadcast, and a rank that never comes
// named with the timeout.
TEST(ProcessGroupGloo, TwoRanksSumAndBroadcastInBuckets) {
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  std::vector<torch::Tensor> results[2];
  std::string errors[2];
  auto rank_main = [&](int rank) {
    try {
      Rendezvous rendezvous;
      rendezvous.rank = rank;
      rendezvous.world_size = 2;
      rendezvous.master_addr = "127.0.0.1";
      rendezvous.master_port = port;
      ProcessGroup group(rendezvous, torch::kCPU, std::chrono::seconds(30));
      std::vector<torch::Tensor> tensors = {torch::full({3}, 1.0 + rank), torch::full({2, 2}, 10.0 * (rank + 1)),
                                            torch::full({5}, 100.0 + rank)};
      group.all_reduce_sum_bucketed(tensors, /*bucket_bytes=*/24);
      std::vector<torch::Tensor> broadcast = {torch::full({4}, 7.0 + rank), torch::full({1}, 3.0 * rank)};
      group.broadcast_from_rank0(broadcast, /*bucket_bytes=*/1 << 20);
      group.barrier();
      tensors.insert(tensors.end(), broadcast.begin(), broadcast.end());
      results[rank] = tensors;
    } catch (const std::exception& e) {
      errors[rank] = e.what();
    }
  };
  std::thread other(rank_main, 1);
  rank_main(0);
  other.join();
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_EQ(errors[rank], "") << "rank " << rank;
    ASSERT_EQ(results[rank].size(), 5u);
    EXPECT_TRUE(torch::equal(results[rank][0], torch::full({3}, 3.0)));
    EXPECT_TRUE(torch::equal(results[rank][1], torch::full({2, 2}, 30.0)));
    EXPECT_TRUE(torch::equal(results[rank][2], torch::full({5}, 201.0)));
    EXPECT_TRUE(torch::equal(results[rank][3], torch::full({4}, 7.0)));
    EXPECT_TRUE(torch::equal(results[rank][4], torch::full({1}, 0.0)));
  }
}

TEST(ProcessGroupGloo, ARankThatNeverComesIsNamedWithTheTimeout) {
  Rendezvous rendezvous;
  rendezvous.rank = 1;
  rendezvous.world_size = 2;
  rendezvous.master_addr = "127.0.0.1";
  rendezvous.master_port = 20000 + static_cast<int>((::getpid() + 7) % 20000);
  const auto start = std::chrono::steady_clock::now();
  const std::string message =
      error_of([&] { ProcessGroup group(rendezvous, torch::kCPU, std::chrono::seconds(2)); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(message.rfind("rank 1 of 2: cannot meet the other ranks at MASTER_ADDR 127.0.0.1 MASTER_PORT " +
                              std::to_string(rendezvous.master_port) + " within 2 s (--dist-timeout)",
                          0),
            0u)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LT(seconds, 20);
}

}  // namespace
}  // namespace piade
