// /proc parsers on stored samples (tests/data/proc) from several kernels, and on damaged text.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

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
