// The bad-input corpus (issue 16, docs/reliability.md): every case that
// tests/bad_inputs/make_bad_inputs.py writes, run through the `piade`
// command it names. Each must end with exit code 1 — not a signal, not a hang
// past the timeout — with exactly one error line, naming the culprit, and
// without changing any file that existed before (the trained run, its
// evaluation, the corpus itself) or leaving a new file behind.
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

namespace fs = std::filesystem;

// Seconds before a case counts as a hang, and the address space each case may
// use: the bombs in the corpus inflate to 4-8 GiB, so a reader that believes
// their declared sizes fails under this limit instead of swapping the machine.
constexpr int kTimeoutSeconds = 120;
constexpr long kAddressSpaceKiB = 6L * 1024 * 1024;

// What identifies a file's version without reading it: a rewrite in place
// changes its mtime, a replacement by rename its inode.
using FileStamp = std::tuple<dev_t, ino_t, off_t, long, long>;

std::map<std::string, FileStamp> stamp_files(const fs::path& root) {
  std::map<std::string, FileStamp> stamps;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat info {};
    if (::lstat(it->path().c_str(), &info) != 0 || S_ISDIR(info.st_mode)) continue;
    stamps[it->path().string()] =
        FileStamp(info.st_dev, info.st_ino, info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
  }
  return stamps;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(BadInputCorpus, EveryCaseFailsWithOneLineNamingItsCulpritAndChangesNothing) {
  const test::ScratchDir scratch;
  const fs::path run = scratch / "run";
  const test::CommandResult trained = test::run_piade_command(
      {"train", "--dataset", "fmnist", "--max-train", "8", "--batch-size", "4", "--backbone", "resnet18", "--loss",
       "mse", "--threads", "2", "--progress=false", "--epochs", "1", "--out", run.string()});
  ASSERT_EQ(trained.status, 0) << trained.output;
  const test::CommandResult evaluated = test::run_piade_command(
      {"eval", "--checkpoint", run.string(), "--max-test", "20", "--threads", "2", "--progress=false", "--out",
       (run / "eval").string()});
  ASSERT_EQ(evaluated.status, 0) << evaluated.output;
  const fs::path corpus = scratch / "corpus";
  const test::CommandResult made = test::run_reference_python(
      fs::path(PIADE_TEST_SOURCE_DIR) / "tests/bad_inputs/make_bad_inputs.py",
      {corpus.string(), (run / "checkpoint.pt").string()});
  ASSERT_EQ(made.status, 0) << made.output;
  const nlohmann::json cases = nlohmann::json::parse(test::read_text(corpus / "cases.json"));
  fs::create_directories(scratch / "out");
  ASSERT_GE(cases.size(), 50u);

  // "piade train: ..." — the error line every command prints last.
  const std::regex error_line(R"(^piade [a-z]+( [a-z]+)?: .+)");
  for (const nlohmann::json& one : cases) {
    const std::string name = one.at("name").get<std::string>();
    SCOPED_TRACE("case " + name);
    const fs::path out = scratch / "out" / name;
    std::string command = "ulimit -v " + std::to_string(kAddressSpaceKiB) + "; exec timeout -k 5 " +
                          std::to_string(kTimeoutSeconds) + " env -u PIADE_PLUGIN_PATH " +
                          test::shell_quote(std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade");
    for (const nlohmann::json& arg : one.at("args")) {
      std::string word = arg.get<std::string>();
      word = replace_all(word, "@CORPUS@", corpus.string());
      word = replace_all(word, "@RUN@", run.string());
      word = replace_all(word, "@OUT@", out.string());
      command += " " + test::shell_quote(word);
    }
    const auto before = stamp_files(scratch.path());
    const test::RunResult result = test::run_command_apart(command);
    const std::string shown = "command: " + command + "\nstderr:\n" + result.err;
    EXPECT_NE(result.exit_code, 124) << "hung for " << kTimeoutSeconds << " s\n" << shown;
    EXPECT_EQ(result.exit_code, 1) << shown;

    std::vector<std::string> errors;
    for (const std::string& line : lines_of(result.err))
      if (std::regex_match(line, error_line)) errors.push_back(line);
    EXPECT_EQ(errors.size(), 1u) << shown;
    if (!errors.empty()) {
      EXPECT_NE(errors.back().find(one.at("culprit").get<std::string>()), std::string::npos)
          << "the error does not name '" << one.at("culprit").get<std::string>() << "'\n" << shown;
    }
    for (const char* crash : {"terminate called", "Exception raised from", "frame #", "Sanitizer", "Traceback"})
      EXPECT_EQ(result.err.find(crash), std::string::npos) << shown;

    const auto after = stamp_files(scratch.path());
    for (const auto& [file, stamp] : before) {
      const auto now = after.find(file);
      EXPECT_TRUE(now != after.end() && now->second == stamp) << file << " changed or vanished\n" << shown;
    }
    std::set<std::string> may_leave;
    for (const nlohmann::json& file : one.at("may_leave")) may_leave.insert((out / file.get<std::string>()).string());
    for (const auto& [file, stamp] : after)
      EXPECT_TRUE(before.count(file) || may_leave.count(file)) << "left behind: " << file << "\n" << shown;
  }
}

}  // namespace
}  // namespace piade
