#include "test_util.h"

#include "tests/support/process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace piade::test {

fs::path fixture_dir(const std::string& name) { return fs::path(PIADE_TEST_FIXTURE_DIR) / name; }

fs::path fixture_file(const std::string& name) {
  return fixture_dir(name) / ("fixture_" + name + ".so");
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "piade-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = fs::canonical(pattern);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::string read_file(const fs::path& file) { return read_text(file); }

namespace {
std::string quote(const std::string& word) { return shell_quote(word); }
}  // namespace

RunResult run_piade(const std::vector<std::string>& args) {
  TempDir scratch;
  std::string command = "env -u PIADE_PLUGIN_PATH " + quote(std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade");
  for (const std::string& arg : args) command += " " + quote(arg);
  command += " >" + quote((scratch / "out").string()) + " 2>" + quote((scratch / "err").string()) +
             " </dev/null";
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(scratch / "out");
  result.err = read_file(scratch / "err");
  return result;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace piade::test
