// /proc parsers on stored samples (tests/data/proc) from several kernels, and on damaged text.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "proc_parse.hpp"

using namespace fragscope::proc;

namespace {
std::string sample(const std::string& name) {
  std::ifstream in(std::string(FRAGSCOPE_TEST_DATA) + "/proc/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST(ProcParse, StatusFromLinux618) {
  ParseError err;
  Status s = parse_status(sample("status.linux-6.18"), &err);
  EXPECT_FALSE(err);
  ASSERT_TRUE(s.vm_rss && s.vm_hwm && s.rss_anon && s.vm_swap && s.threads);
  EXPECT_EQ(*s.vm_rss % 1024, 0u);  // kB scaled to bytes
  EXPECT_LE(*s.vm_rss, *s.vm_hwm);
  EXPECT_GE(*s.threads, 1u);
}

TEST(ProcParse, SmapsRollupFromLinux618HasPssAnon) {
  ParseError err;
  SmapsRollup r = parse_smaps_rollup(sample("smaps_rollup.linux-6.18"), &err);
  EXPECT_FALSE(err);
  ASSERT_TRUE(r.rss && r.pss && r.pss_anon && r.private_clean && r.private_dirty && r.swap);
  EXPECT_EQ(*r.uss(), *r.private_clean + *r.private_dirty);
  EXPECT_LE(*r.pss, *r.rss);
}

TEST(ProcParse, SmapsRollupFromLinux414LacksPssAnon) {
  SmapsRollup r = parse_smaps_rollup(sample("smaps_rollup.linux-4.14"));
  EXPECT_EQ(*r.rss, 12340u * 1024);
  EXPECT_EQ(*r.anon_huge_pages, 2048u * 1024);
  EXPECT_EQ(*r.swap, 512u * 1024);
  EXPECT_FALSE(r.pss_anon.has_value());  // introduced in Linux 5.1
  EXPECT_EQ(*r.uss(), (1024u + 9268u) * 1024);
}

TEST(ProcParse, DamagedTextKeepsTheGoodLinesAndNamesTheBadOne) {
  ParseError err;
  Status s = parse_status("Name:\tx\nVmRSS:\t12x kB\nVmHWM:\t  20 kB\nVmSwap", &err);
  EXPECT_TRUE(err);
  EXPECT_EQ(err.line, 2);
  EXPECT_FALSE(s.vm_rss.has_value());
  EXPECT_EQ(*s.vm_hwm, 20u * 1024);
  EXPECT_FALSE(s.vm_swap.has_value());
  Status empty = parse_status("");
  EXPECT_FALSE(empty.vm_rss.has_value());
}

TEST(ProcParse, KeyValueLine) {
  std::string_view k;
  std::uint64_t v = 0;
  EXPECT_TRUE(parse_kv_line("Rss:   4 kB", &k, &v));
  EXPECT_EQ(k, "Rss");
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(parse_kv_line("Threads:\t3", &k, &v));
  EXPECT_EQ(v, 3u);
  EXPECT_FALSE(parse_kv_line("Rss: 4 MB", &k, &v));
  EXPECT_FALSE(parse_kv_line("Rss: 99999999999999999999 kB", &k, &v));
  EXPECT_FALSE(parse_kv_line("no colon", &k, &v));
}

TEST(ProcParse, BuddyinfoFromLinux618) {
  ParseError err;
  BuddyInfo b = parse_buddyinfo(sample("buddyinfo.linux-6.18"), &err);
  EXPECT_FALSE(err);
  ASSERT_EQ(b.zones, 3);
  EXPECT_STREQ(b.zone[0].zone, "DMA");
  EXPECT_STREQ(b.zone[2].zone, "Normal");
  EXPECT_EQ(b.zone[2].orders, 11);
  EXPECT_EQ(b.zone[1].free[10], 752u);
}

// Reads "Node 0, zone Normal 0.000 0.001 ..." (the kernel's debugfs extfrag files) as thousandths.
std::vector<std::vector<int>> kernel_indices(const std::string& text) {
  std::vector<std::vector<int>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line.substr(line.find("zone") + 4));
    std::string zone, v;
    ls >> zone;
    out.emplace_back();
    while (ls >> v) out.back().push_back(static_cast<int>(std::lround(std::stod(v) * 1000)));
  }
  return out;
}

TEST(ProcParse, FragmentationIndicesEqualTheKernelsOwn) {
  BuddyInfo b = parse_buddyinfo(sample("buddyinfo.linux-6.18"));
  auto unusable = kernel_indices(sample("extfrag_unusable_index.linux-6.18"));
  auto extfrag = kernel_indices(sample("extfrag_index.linux-6.18"));
  ASSERT_EQ(unusable.size(), 3u);
  ASSERT_EQ(extfrag.size(), 3u);
  for (int z = 0; z < b.zones; ++z) {
    ASSERT_EQ(unusable[z].size(), static_cast<std::size_t>(b.zone[z].orders));
    for (int order = 0; order < b.zone[z].orders; ++order) {
      EXPECT_EQ(unusable_free_index(b.zone[z], order), unusable[z][order]) << b.zone[z].zone << " order " << order;
      EXPECT_EQ(fragmentation_index(b.zone[z], order), extfrag[z][order]) << b.zone[z].zone << " order " << order;
    }
  }
}

TEST(ProcParse, FragmentationIndexWhenNoBlockIsLargeEnough) {
  BuddyInfo b = parse_buddyinfo(sample("buddyinfo.linux-4.19-numa"));
  ASSERT_EQ(b.zones, 4);
  EXPECT_EQ(b.zone[3].node, 1);
  const BuddyZone& z = b.zone[2];  // node 0 Normal: nothing free at order 7 and above
  // order 7 (128 pages): free_pages = 48213 + 2·20931 + 4·6120 + 8·1105 + 16·210 + 32·31 + 64·4 = 128003,
  // 76614 blocks, none suitable: 1000 − (1000 + 128003·1000/128) / 76614 = 1000 − 13 = 987.
  EXPECT_EQ(fragmentation_index(z, 7), 987);
  EXPECT_EQ(unusable_free_index(z, 7), 1000);  // all of it unusable for 128 pages
  EXPECT_EQ(fragmentation_index(z, 2), -1000);  // there are blocks of 4 pages
  // order 2: suitable blocks = 6120 + 2·1105 + 4·210 + 8·31 + 16·4 = 9482 → 37928 of 128003 pages usable.
  EXPECT_EQ(unusable_free_index(z, 2), (128003 - 37928) * 1000 / 128003);
  EXPECT_EQ(fragmentation_index(z, 11), 0);  // beyond the largest order, as the kernel answers
}

// Found by fuzz_buddyinfo: free counts this large (damaged text) wrapped the 64-bit sums of
// fill_contig_page_info, giving an unusable index of 148 (for 999) and a fragmentation index of
// 1000 (for 500). The sums are exact now, for any count.
TEST(ProcParse, FragmentationIndicesOfHugeCountsStayExact) {
  ParseError err;
  BuddyInfo b = parse_buddyinfo("Node 0, zone    DMA32   43333333333166666 1      1      3 \n"
                                "Node 0, zone   Normal 18446744073709551615 0\n",
                                &err);
  EXPECT_FALSE(err);
  ASSERT_EQ(b.zones, 2);
  EXPECT_EQ(unusable_free_index(b.zone[0], 0), 0);
  for (int order = 1; order < 4; ++order) {
    EXPECT_EQ(unusable_free_index(b.zone[0], order), 999) << order;  // 30, 28, 24 of 4.3e16 pages usable
    EXPECT_EQ(fragmentation_index(b.zone[0], order), -1000) << order;
  }
  EXPECT_EQ(unusable_free_index(b.zone[1], 1), 1000);  // every free page is an order-0 block
  EXPECT_EQ(fragmentation_index(b.zone[1], 1), 500);   // 1000 - (1000 + F * 1000 / 2) / F, F = 2^64 - 1
}

TEST(ProcParse, DamagedBuddyinfoKeepsTheGoodZones) {
  ParseError err;
  BuddyInfo b = parse_buddyinfo("Node 0, zone DMA 1 2 3\ngarbage here\nNode 0, zone Normal 4 x 6\nNode 1, zone Normal 7 8\n", &err);
  EXPECT_EQ(err.line, 2);
  ASSERT_EQ(b.zones, 2);
  EXPECT_EQ(b.zone[1].node, 1);
  EXPECT_EQ(b.zone[1].free[1], 8u);
}

TEST(ProcParse, MeminfoFromLinux618) {
  ParseError err;
  Meminfo m = parse_meminfo(sample("meminfo.linux-6.18"), &err);
  EXPECT_FALSE(err);
  ASSERT_TRUE(m.mem_total && m.mem_free && m.mem_available && m.slab && m.s_unreclaim && m.page_tables);
  EXPECT_LE(*m.mem_free, *m.mem_total);
  EXPECT_LE(*m.s_unreclaim, *m.slab);
  EXPECT_EQ(*m.mem_total % 1024, 0u);
}

TEST(ProcParse, VmstatOfTwoKernels) {
  ParseError err;
  Vmstat now = parse_vmstat(sample("vmstat.linux-6.18"), &err);
  EXPECT_FALSE(err);
  EXPECT_TRUE(now.compact_stall && now.pgmigrate_success && now.allocstall && now.pswpin);
  Vmstat old = parse_vmstat(sample("vmstat.linux-4.14"), &err);
  EXPECT_FALSE(err);
  EXPECT_EQ(old.allocstall, 53u);  // 0 + 3 + 41 + 9
  EXPECT_EQ(old.compact_stall, 212u);
  EXPECT_EQ(old.thp_fault_fallback, 911u);
  EXPECT_FALSE(old.oom_kill.has_value());  // 4.14 has no oom_kill line
}

TEST(ProcParse, SmapsEntriesAndTheirKinds) {
  const std::string text =
      "55d0a0000000-55d0a0021000 rw-p 00000000 00:00 0                          [heap]\n"
      "Size:                132 kB\nRss:                  20 kB\nPss:                  20 kB\n"
      "Private_Clean:          4 kB\nPrivate_Dirty:         16 kB\nSwap:                   8 kB\nVmFlags: rd wr mr\n"
      "7f0000000000-7f0000100000 rw-p 00000000 00:00 0                          [anon:fragscope:live-table]\n"
      "Rss:                  40 kB\nPss:                  40 kB\nPrivate_Dirty:        40 kB\n"
      "7f0000100000-7f0000200000 r-xp 00000000 fe:00 1234                       /usr/lib/libc.so.6\n"
      "Rss:                 100 kB\nPss:                  25 kB\nShared_Clean:        100 kB\n"
      "7f0000200000-7f0000300000 rw-s 00000000 00:01 77                         /dev/shm/queue\n"
      "Rss:                   8 kB\nPss:                   4 kB\nShared_Dirty:          8 kB\n"
      "7f0000300000-7f0000400000 rw-p 00000000 00:00 0 \n"
      "Rss:                  12 kB\nPss:                  12 kB\nPrivate_Dirty:        12 kB\nbogus line\n"
      "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
      "Rss:                  16 kB\n";
  std::vector<std::pair<MappingKind, SmapsEntry>> got;
  ParseError err;
  int bad = for_each_smaps_entry(text, [&](const SmapsEntry& e) { got.emplace_back(classify(e.map), e); }, &err);
  EXPECT_EQ(bad, 1);
  EXPECT_EQ(err.line, 25);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].first, MappingKind::heap);
  EXPECT_EQ(got[0].second.uss(), 20u * 1024);
  EXPECT_EQ(got[0].second.swap, 8u * 1024);
  EXPECT_EQ(got[1].first, MappingKind::ours);
  EXPECT_EQ(got[2].first, MappingKind::file);
  EXPECT_EQ(got[2].second.pss, 25u * 1024);
  EXPECT_EQ(got[3].first, MappingKind::shmem);
  EXPECT_EQ(got[4].first, MappingKind::anon);
  EXPECT_EQ(got[4].second.private_dirty, 12u * 1024);
  EXPECT_EQ(got[5].first, MappingKind::stack);
}

// /proc/self/cgroup as a hybrid (v1 + unified) host writes it, as a pure cgroup v2 host (Debian
// 12's default) writes it, and the cpu controller's quota files of both versions.
TEST(ProcParse, CgroupPathsOfBothVersions) {
  const std::string hybrid =
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/773d\n2:cpu,cpuacct:/kubepods/pod1/c2\n"
      "1:cpuset:/\n0::/\n";
  EXPECT_EQ(parse_cgroup_v1_path(hybrid, "cpu"), "/kubepods/pod1/c2");
  EXPECT_EQ(parse_cgroup_v1_path(hybrid, "cpuacct"), "/kubepods/pod1/c2");
  EXPECT_EQ(parse_cgroup_v1_path(hybrid, "memory"), "/process_api/773d");
  EXPECT_EQ(parse_cgroup_v1_path(hybrid, "cpus"), std::nullopt);  // a whole name, not a prefix
  EXPECT_EQ(parse_cgroup_v1_path(hybrid, "cpuset"), "/");
  EXPECT_EQ(parse_cgroup_v2_path(hybrid), "/");
  const std::string v2 = "0::/system.slice/service.service\n";
  EXPECT_EQ(parse_cgroup_v2_path(v2), "/system.slice/service.service");
  EXPECT_EQ(parse_cgroup_v1_path(v2, "cpu"), std::nullopt);
  EXPECT_EQ(parse_cgroup_v2_path("1:cpu:/a\n"), std::nullopt);
  EXPECT_EQ(parse_cgroup_v2_path(""), std::nullopt);
  EXPECT_EQ(parse_cgroup_v1_path("garbage without colons\n:\n", "cpu"), std::nullopt);
}

TEST(ProcParse, CpuQuotas) {
  ParseError err;
  EXPECT_EQ(parse_cpu_max("max 100000\n", &err), std::nullopt);
  EXPECT_FALSE(err);
  EXPECT_EQ(parse_cpu_max("150000 100000\n", &err), 1.5);
  EXPECT_EQ(parse_cpu_max("50000 100000", &err), 0.5);
  EXPECT_FALSE(err);
  for (const char* bad : {"", "max", "100000 0", "-5 100000", "12x 100000", "1 99999999999999999999"}) {
    ParseError e;
    EXPECT_EQ(parse_cpu_max(bad, &e), std::nullopt) << bad;
    EXPECT_TRUE(e) << bad;
  }
  EXPECT_EQ(parse_cfs_quota("-1\n", "100000\n", &err), std::nullopt);
  EXPECT_FALSE(err);
  EXPECT_EQ(parse_cfs_quota("200000\n", "100000\n", &err), 2.0);
  ParseError e;
  EXPECT_EQ(parse_cfs_quota("200000\n", "0\n", &e), std::nullopt);
  EXPECT_TRUE(e);
}

TEST(ProcParse, CgroupLevelsLeafFirstToTheRoot) {
  const auto levels = [](std::string_view path) {
    std::vector<std::string> out;
    for_each_cgroup_level(path, [&](std::string_view l) { out.emplace_back(l); });
    return out;
  };
  EXPECT_EQ(levels("/a/b"), (std::vector<std::string>{"/a/b", "/a", ""}));
  EXPECT_EQ(levels("/kubepods/pod1/c2/"), (std::vector<std::string>{"/kubepods/pod1/c2", "/kubepods/pod1", "/kubepods", ""}));
  EXPECT_EQ(levels("/"), (std::vector<std::string>{""}));
  EXPECT_EQ(levels("/x"), (std::vector<std::string>{"/x", ""}));
  EXPECT_TRUE(levels("").empty());
  EXPECT_TRUE(levels("relative/path").empty());
}
