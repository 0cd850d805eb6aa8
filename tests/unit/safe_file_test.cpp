// The files fragscope writes land only on a regular file of its own (safe_file.hpp, issue 16),
// and a snapshot file is read a bounded line at a time (snapshot_file.hpp).
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "safe_file.hpp"
#include "snapshot_file.hpp"

using namespace fragscope;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fragscope-safe-file-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    DIR* d = opendir(path.c_str());
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    closedir(d);
    return out;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

}  // namespace

TEST(SafeFile, ReplaceWritesMode0600AndLeavesNothingBeside) {
  TempDir d;
  const std::string target = d / "r.html";
  ASSERT_EQ(files::replace_file(target.c_str(), "one", 3, true), 0);
  {  // an existing file of ours, 0644, is replaced by a 0600 one
    ASSERT_EQ(chmod(target.c_str(), 0644), 0);
    ASSERT_EQ(files::replace_file(target.c_str(), "two", 3, false), 0);
  }
  EXPECT_EQ(slurp(target), "two");
  EXPECT_EQ(stat_of(target).st_mode & 07777, 0600u);
  EXPECT_EQ(d.names(), std::vector<std::string>{"r.html"});
}

TEST(SafeFile, ReplaceRefusesAFifoADirectoryAndASymlinkInThePath) {
  TempDir d;
  const std::string fifo = d / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const ino_t ino = stat_of(fifo).st_ino;
  EXPECT_EQ(files::replace_file(fifo.c_str(), "x", 1, false), -EINVAL);
  EXPECT_TRUE(S_ISFIFO(stat_of(fifo).st_mode));
  EXPECT_EQ(stat_of(fifo).st_ino, ino);
  ASSERT_EQ(mkdir((d / "dir").c_str(), 0755), 0);
  EXPECT_EQ(files::replace_file((d / "dir").c_str(), "x", 1, false), -EINVAL);
  // A symlink in a directory component, and the target itself a symlink.
  ASSERT_EQ(mkdir((d / "victim").c_str(), 0755), 0);
  ASSERT_EQ(symlink((d / "victim").c_str(), (d / "link").c_str()), 0);
  EXPECT_EQ(files::replace_file((d / "link/r.html").c_str(), "x", 1, false), -ELOOP);
  ASSERT_EQ(symlink((d / "victim/f").c_str(), (d / "flink").c_str()), 0);
  EXPECT_EQ(files::replace_file((d / "flink").c_str(), "x", 1, false), -EINVAL);
  EXPECT_EQ(access((d / "victim/r.html").c_str(), F_OK), -1);
  EXPECT_EQ(access((d / "victim/f").c_str(), F_OK), -1);
  EXPECT_STREQ(files::safe_file_reason(-ELOOP), "a symlink in its path");
  EXPECT_STREQ(files::safe_file_reason(-EINVAL), "not a regular file");
  EXPECT_EQ(d.names().size(), 5u);  // fifo, dir, victim, link, flink: no temporary file left
}

TEST(SafeFile, AppendOutputIsOurRegularFileWithMode0600) {
  TempDir d;
  const std::string out = d / "out.jsonl";
  ASSERT_EQ(close(open(out.c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  ASSERT_EQ(chmod(out.c_str(), 0644), 0);
  unsigned long dev = 0, ino = 0;
  const int fd = files::open_append_output(out.c_str(), &dev, &ino);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(write(fd, "x\n", 2), 2);
  close(fd);
  EXPECT_EQ(stat_of(out).st_mode & 07777, 0600u);
  EXPECT_EQ(stat_of(out).st_ino, ino);
  // Relative paths resolve from the working directory.
  const int fd2 = files::open_append_output((d / "./new.jsonl").c_str());
  ASSERT_GE(fd2, 0);
  close(fd2);
  EXPECT_EQ(stat_of(d / "new.jsonl").st_mode & 07777, 0600u);
  // A FIFO is refused without blocking; a symlinked directory is refused.
  ASSERT_EQ(mkfifo((d / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(files::open_append_output((d / "fifo").c_str()), -EINVAL);
  ASSERT_EQ(symlink(d.path.c_str(), (d / "link").c_str()), 0);
  EXPECT_EQ(files::open_append_output((d / "link/out.jsonl").c_str()), -ELOOP);
  EXPECT_EQ(files::open_append_output((d / "missing/out.jsonl").c_str()), -ENOENT);
  if (geteuid() == 0) {  // another user's file is refused (needs root to make one)
    ASSERT_EQ(chown(out.c_str(), 65534, 65534), 0);
    EXPECT_EQ(files::open_append_output(out.c_str()), -EPERM);
  }
}

TEST(SnapshotFile, ALineOverTheBoundIsNamedAndSkippedAndTheOthersKept) {
  TempDir d;
  const std::string path = d / "big.jsonl";
  const std::string snap = R"({"schema":"fragscope.snapshot","version":1,"seq":0})";
  {
    std::ofstream out(path);
    out << snap << "\n";
    out << std::string(files::kSnapshotLineMax + 5, 'x') << "\n";
    // A blank line that puts the next line across the reader's 1 MiB chunks.
    out << std::string((std::size_t{1} << 20) - 17, ' ') << "\n";
    out << snap << "\n" << snap;  // the last without its newline
  }
  const auto f = report::read_snapshot_file(path);
  EXPECT_EQ(f.snapshots.size(), 3u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].line, 2u);
  EXPECT_NE(f.errors[0].message.find("longer than 16 MiB"), std::string::npos) << f.errors[0].message;
}
