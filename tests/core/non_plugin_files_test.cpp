// Files in the plugin path that are not plugins at all, created at run
// time: each is rejected with one line naming the file, and none can crash
// or hang the host.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "piade/core/error.h"
#include "piade/core/plugin_registry.h"
#include "tests/support/files.h"
#include "tests/support/fixture_plugins.h"
#include "tests/support/scratch_dir.h"

namespace piade {
namespace {

using test::ScratchDir;
using test::write_text;

// Loads one file into a fresh registry and returns its rejection reason.
std::string rejection_of(const fs::path& file) {
  PluginRegistry registry;
  registry.load(file);
  EXPECT_TRUE(registry.plugins().empty()) << file << " was accepted";
  EXPECT_EQ(registry.rejected().size(), 1u) << file;
  if (registry.rejected().empty()) return "";
  EXPECT_EQ(registry.rejected().front().file, file);
  EXPECT_TRUE(registry.rejected().front().components.empty());
  EXPECT_EQ(registry.rejected().front().reason.find('\n'), std::string::npos);
  return registry.rejected().front().reason;
}

std::string first_bytes(const fs::path& file, std::size_t count) {
  return test::read_text(file).substr(0, count);
}

TEST(NonPluginFileTest, RandomBytes) {
  ScratchDir dir;
  std::mt19937 random(1);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(random() & 0xff);
  bytes[0] = 'x';  // never an accidental ELF magic
  write_text(dir / "x.so", bytes);
  EXPECT_EQ(rejection_of(dir / "x.so"),
            (dir / "x.so").string() +
                ": not a shared library (no ELF header); remove it from the plugin path");
}

TEST(NonPluginFileTest, EmptyFile) {
  ScratchDir dir;
  write_text(dir / "x.so", "");
  EXPECT_EQ(rejection_of(dir / "x.so"),
            (dir / "x.so").string() +
                ": empty file, not a shared library; remove it from the plugin path");
}

TEST(NonPluginFileTest, TextFile) {
  ScratchDir dir;
  write_text(dir / "x.so", "INPUT(-lfoo)\nthis is a linker script, not a library\n");
  EXPECT_EQ(rejection_of(dir / "x.so"),
            (dir / "x.so").string() +
                ": not a shared library (no ELF header); remove it from the plugin path");
}

TEST(NonPluginFileTest, TruncatedElf) {
  ScratchDir dir;
  const fs::path real = test::fixture_file("good");
  const std::string whole = test::read_text(real);
  ASSERT_GT(whole.size(), 1000u);
  uint64_t section_table_end = 0;
  {
    uint64_t shoff = 0;
    uint16_t shentsize = 0, shnum = 0;
    std::memcpy(&shoff, whole.data() + 40, 8);
    std::memcpy(&shentsize, whole.data() + 58, 2);
    std::memcpy(&shnum, whole.data() + 60, 2);
    section_table_end = shoff + uint64_t(shentsize) * shnum;
  }
  write_text(dir / "head.so", first_bytes(real, 100));
  EXPECT_EQ(rejection_of(dir / "head.so"),
            fmt::format("{}: truncated ELF file (100 bytes, its section table ends at byte {}); "
                        "rebuild or re-copy the plugin",
                        (dir / "head.so").string(), section_table_end));
  write_text(dir / "half.so", first_bytes(real, whole.size() / 2));
  EXPECT_EQ(rejection_of(dir / "half.so"),
            fmt::format("{}: truncated ELF file ({} bytes, its section table ends at byte {}); "
                        "rebuild or re-copy the plugin",
                        (dir / "half.so").string(), whole.size() / 2, section_table_end));
  write_text(dir / "ident.so", first_bytes(real, 20));
  EXPECT_EQ(rejection_of(dir / "ident.so"),
            (dir / "ident.so").string() + ": truncated or non-64-bit ELF file; rebuild the plugin");
}

TEST(NonPluginFileTest, DirectoryNamedLikeALibrary) {
  ScratchDir dir;
  fs::create_directory(dir / "x.so");
  EXPECT_EQ(rejection_of(dir / "x.so"),
            (dir / "x.so").string() +
                ": is a directory, not a shared library; rename or move it out of the plugin path");
}

TEST(NonPluginFileTest, DanglingSymlink) {
  ScratchDir dir;
  fs::create_symlink(dir / "gone.so", dir / "x.so");
  EXPECT_EQ(rejection_of(dir / "x.so"),
            (dir / "x.so").string() + ": broken symbolic link to '" + (dir / "gone.so").string() +
                "'; fix or remove the link");
}

TEST(NonPluginFileTest, FifoDoesNotHang) {
  ScratchDir dir;
  const fs::path fifo = dir / "x.so";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto reason = std::async(std::launch::async, [&] { return rejection_of(fifo); });
  if (reason.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "loading a FIFO blocked";
    // Unblock the reader so that the test can end.
    int fd = open(fifo.c_str(), O_WRONLY);
    if (fd >= 0) close(fd);
  }
  EXPECT_EQ(reason.get(),
            fifo.string() + ": not a regular file; move it out of the plugin path");
}

TEST(NonPluginFileTest, UnreadableFile) {
  ScratchDir dir;
  // The child below runs as nobody, which must be able to reach the file.
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const fs::path file = dir / "x.so";
  write_text(file, test::read_text(test::fixture_file("good")));
  fs::permissions(file, fs::perms::none);
  const std::string expected =
      file.string() + ": cannot be read (Permission denied); fix its permissions";
  if (geteuid() != 0) {
    EXPECT_EQ(rejection_of(file), expected);
    return;
  }
  // Root reads anything: check as an unprivileged user, in a forked child
  // (the "fast" death-test style, so that it sees this test's file).
  EXPECT_EXIT(
      {
        if (setgid(65534) != 0 || setuid(65534) != 0) std::_Exit(3);
        PluginRegistry registry;
        registry.load(file);
        const bool ok = registry.plugins().empty() && registry.rejected().size() == 1 &&
                        registry.rejected().front().reason == expected;
        fprintf(stderr, "%s\n", registry.rejected().empty() ? "(accepted)"
                                                            : registry.rejected().front().reason.c_str());
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "cannot be read \\(Permission denied\\); fix its permissions");
}

TEST(NonPluginFileTest, SharedLibraryWithoutEntryPoint) {
  ScratchDir dir;
  const fs::path sdk = fs::path(PIADE_TEST_BINARY_DIR) / "lib" / "libpiade_sdk.so";
  ASSERT_TRUE(fs::exists(sdk)) << sdk;
  fs::copy_file(sdk, dir / "x.so");
  EXPECT_EQ(rejection_of(dir / "x.so"),
            (dir / "x.so").string() +
                ": not a piade plugin (no 'piade_plugin_entry' entry point); build it with "
                "PIADE_PLUGIN(...) or move it out of the plugin path");
}

TEST(NonPluginFileTest, ScanSurvivesAllOfThemAndStillLoadsTheGoodPlugin) {
  ScratchDir dir;
  write_text(dir / "a_empty.so", "");
  write_text(dir / "b_text.so", "hello\n");
  write_text(dir / "c_head.so", first_bytes(test::fixture_file("good"), 100));
  fs::create_directory(dir / "d_dir.so");
  fs::create_symlink(dir / "nowhere", dir / "e_link.so");
  ASSERT_EQ(mkfifo((dir / "f_fifo.so").c_str(), 0644), 0);
  fs::copy_file(fs::path(PIADE_TEST_BINARY_DIR) / "lib" / "libpiade_sdk.so", dir / "g_sdk.so");
  fs::copy_file(test::fixture_file("good"), dir / "h_good.so");
  write_text(dir / "README.txt", "only *.so files are plugins");
  PluginRegistry registry;
  registry.scan({dir.path(), dir / "does-not-exist"});
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins().front()->file, dir / "h_good.so");
  std::vector<fs::path> rejected;
  for (const RejectedPlugin& r : registry.rejected()) rejected.push_back(r.file);
  EXPECT_EQ(rejected, (std::vector<fs::path>{dir / "a_empty.so", dir / "b_text.so",
                                             dir / "c_head.so", dir / "d_dir.so",
                                             dir / "e_link.so", dir / "f_fifo.so",
                                             dir / "g_sdk.so"}));
}

TEST(NonPluginFileTest, BrokenFileNamedAfterAComponentExplainsWhyItIsMissing) {
  // A file whose manifest cannot be read stands for <kind>_<name>.so.
  ScratchDir dir;
  write_text(dir / "loss_ssim.so", "");
  PluginRegistry registry;
  registry.scan({dir.path()});
  try {
    registry.get(Kind::loss, "ssim");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "loss 'ssim' is not available: " + (dir / "loss_ssim.so").string() +
                  ": empty file, not a shared library; remove it from the plugin path");
  }
  EXPECT_TRUE(registry.rejected_except({{Kind::loss, "ssim"}}).empty());
  EXPECT_EQ(registry.rejected_except({{Kind::loss, "mse"}}).size(), 1u);
}

}  // namespace
}  // namespace piade
