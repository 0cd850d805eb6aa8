// addr2line-based symbolizer (see symbolizer.hpp).
#include "symbolizer.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>

extern char** environ;

namespace fragscope::report {

void Symbolizer::resolve(const std::string& module, const std::vector<std::uint64_t>& offsets) {
  std::vector<std::uint64_t> todo;
  for (auto o : offsets)
    if (!cache_.count({module, o})) todo.push_back(o);
  if (todo.empty() || module.empty() || access(module.c_str(), R_OK) != 0) return;
  std::vector<std::string> args = {"addr2line", "-f", "-C", "-e", module};
  for (auto o : todo) args.push_back(fmt::format("{:#x}", o));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) return;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1 /*O_WRONLY*/, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, "addr2line", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return;
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) text.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  int status;
  waitpid(pid, &status, 0);
  // Two lines per address: function, then file:line ("??" when unknown).
  std::size_t pos = 0;
  auto next_line = [&]() {
    std::size_t e = text.find('\n', pos);
    std::string l = text.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
    pos = e == std::string::npos ? text.size() : e + 1;
    return l;
  };
  for (auto o : todo) {
    if (pos >= text.size()) break;
    FrameName f{next_line(), next_line()};
    if (f.function == "??") f.function.clear();
    if (f.location.rfind("??", 0) == 0) f.location.clear();
    if (auto d = f.location.find(" (discriminator"); d != std::string::npos) f.location.resize(d);
    cache_[{module, o}] = f;
  }
}

FrameName Symbolizer::name(const std::string& module, std::uint64_t offset) const {
  auto it = cache_.find({module, offset});
  return it == cache_.end() ? FrameName{} : it->second;
}

}  // namespace fragscope::report
