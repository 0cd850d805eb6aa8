// Names for the frames of sampled call sites: the snapshot gives (module, offset) and, when the
// module exports it, the symbol; this resolves the rest — static functions, inlined frames'
// files and lines — with binutils' addr2line over the module's symbol table and debug info.
// One addr2line process per module and report; results cached.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fragscope::report {

struct FrameName {
  std::string function;  // demangled; empty if unknown
  std::string location;  // "file:line", empty if no debug info
};

class Symbolizer {
 public:
  /// Resolves every (module, offset) given; modules that cannot be read stay unresolved.
  void resolve(const std::string& module, const std::vector<std::uint64_t>& offsets);
  /// The name of one frame, after resolve(); empty fields if unknown.
  FrameName name(const std::string& module, std::uint64_t offset) const;

 private:
  std::map<std::pair<std::string, std::uint64_t>, FrameName> cache_;
};

}  // namespace fragscope::report
