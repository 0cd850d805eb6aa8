// libFuzzer target: the text parsers of `fragscope system` (parse_slabinfo, parse_pageblocks,
// scan_kernel_log) and the screen rendered from them, with meminfo, buddyinfo and vmstat parsed
// from the same text and a previous sample for the --watch deltas.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "system_report.hpp"

namespace proc = fragscope::proc;
namespace report = fragscope::report;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const int lines = fragscope::fuzz::count_lines(text);

  int bad = -1;
  const std::vector<report::SlabCache> slabs = report::parse_slabinfo(text, &bad);
  FUZZ_CHECK(bad >= 0 && static_cast<std::size_t>(bad) + slabs.size() <= static_cast<std::size_t>(lines));
  for (const auto& c : slabs) {
    FUZZ_CHECK(!c.name.empty() && c.name.find_first_of(" \t\n") == std::string::npos);
    FUZZ_CHECK(text.find(c.name) != std::string_view::npos);
    FUZZ_CHECK(c.bytes() == c.num_objs * c.objsize);
  }

  const report::Pageblocks pb = report::parse_pageblocks(text);
  FUZZ_CHECK(pb.zones.size() <= static_cast<std::size_t>(lines));
  for (const auto& z : pb.zones) FUZZ_CHECK(!z.zone.empty() && z.zone.find_first_of(" \t\n") == std::string::npos);
  if (!pb.zones.empty()) FUZZ_CHECK(text.find("Number of blocks type") != std::string_view::npos);

  const report::KernelLogFindings k = report::scan_kernel_log(text);
  FUZZ_CHECK(k.allocation_failures <= static_cast<std::uint64_t>(lines) && k.oom_kills <= static_cast<std::uint64_t>(lines));
  FUZZ_CHECK(k.last.size() <= 200 && k.last.find('\n') == std::string::npos);
  FUZZ_CHECK(k.allocation_failures + k.oom_kills == 0 || !k.last.empty());
  if (k.allocation_failures == 0 && k.oom_kills == 0 && text.find("oom-kill:") == std::string_view::npos)
    FUZZ_CHECK(k.last.empty());

  report::SystemSample now;
  now.meminfo = proc::parse_meminfo(text);
  now.buddy = proc::parse_buddyinfo(text);
  now.vmstat = proc::parse_vmstat(text);
  now.pageblocks = pb;
  now.slabs = slabs;
  now.kernel_log = k;
  now.tunables["/proc/sys/vm/swappiness"] = std::string(text.substr(0, text.find('\n')));
  now.skipped.push_back("/proc/slabinfo: Permission denied (root only)");
  const std::string first = report::render_system(now, nullptr, 0);
  FUZZ_CHECK(!first.empty());
  // A second sample, for --watch: the counters of the text's second half (so deltas may be
  // negative: a counter that went down).
  report::SystemSample later = now;
  later.vmstat = proc::parse_vmstat(text.substr(text.size() / 2));
  const std::string again = report::render_system(later, &now, 1.5);
  FUZZ_CHECK(!again.empty());
  return 0;
}
