// fragscope system's parsers on stored samples, and its screen: deltas under --watch, and the
// sources it had to skip.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "system_report.hpp"

namespace fragscope::report {
namespace {

std::string sample(const std::string& name) {
  std::ifstream in(std::string(FRAGSCOPE_TEST_DATA) + "/proc/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SystemReport, SlabinfoFromLinux618) {
  int bad = -1;
  auto slabs = parse_slabinfo(sample("slabinfo.linux-6.18"), &bad);
  EXPECT_EQ(bad, 0);
  ASSERT_EQ(slabs.size(), 38u);  // 40 lines less the version and header lines
  EXPECT_EQ(slabs[0].name, "btrfs_delayed_node");
  EXPECT_EQ(slabs[0].objsize, 312u);
  int bad2 = 0;
  auto two = parse_slabinfo("slabinfo - version: 2.1\nkmalloc-64 10 20 64 64 1 : tunables 0 0 0\nbroken line\n", &bad2);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].bytes(), 20u * 64);
  EXPECT_EQ(bad2, 1);
}

TEST(SystemReport, PageblocksFromLinux618) {
  Pageblocks p = parse_pageblocks(sample("pagetypeinfo.linux-6.18"));
  ASSERT_GE(p.types.size(), 4u);
  EXPECT_EQ(p.types[0], "Unmovable");
  EXPECT_EQ(p.types[1], "Movable");
  ASSERT_EQ(p.zones.size(), 3u);
  EXPECT_EQ(p.zones[2].zone, "Normal");
  EXPECT_EQ(p.zones[2].blocks.size(), p.types.size());
}

TEST(SystemReport, KernelLogFindsAllocationFailuresAndOomKills) {
  const std::string log =
      "6,100,5000,-;eth0: link up\n"
      "4,101,6000,-;kworker/0:1: page allocation failure: order:4, mode:0x40cc0\n"
      "3,102,7000,-;Out of memory: Killed process 4242 (svc) total-vm:100kB\n"
      "6,103,7001,-;oom-kill:constraint=CONSTRAINT_NONE,task=svc,pid=4242\n";
  KernelLogFindings k = scan_kernel_log(log);
  EXPECT_EQ(k.allocation_failures, 1u);
  EXPECT_EQ(k.oom_kills, 1u);
  EXPECT_NE(k.last.find("oom-kill:constraint"), std::string::npos);
  EXPECT_EQ(scan_kernel_log("6,1,1,-;all quiet\n").allocation_failures, 0u);
}

TEST(SystemReport, WatchShowsDeltasAndSkippedSources) {
  SystemSample a, b;
  proc::Vmstat v;
  v.compact_stall = 10;
  v.thp_fault_fallback = 5;
  a.vmstat = v;
  v.compact_stall = 13;
  b.vmstat = v;
  b.skipped.push_back("/proc/slabinfo: Permission denied (root only)");
  const std::string once = render_system(a, nullptr, 0);
  EXPECT_NE(once.find("events since boot"), std::string::npos);
  EXPECT_NE(once.find("stalls 10"), std::string::npos);
  const std::string watched = render_system(b, &a, 2);
  EXPECT_NE(watched.find("events in the last 2.0 s"), std::string::npos);
  EXPECT_NE(watched.find("stalls +3"), std::string::npos);
  EXPECT_NE(watched.find("fallbacks to small pages +0"), std::string::npos);
  EXPECT_NE(watched.find("skipped    /proc/slabinfo: Permission denied (root only)"), std::string::npos);
}

}  // namespace
}  // namespace fragscope::report
