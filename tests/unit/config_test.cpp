// Configuration from FRAGSCOPE_* variables: good values are taken, bad ones give the default and
// exactly one warning each; AT_SECURE ignores the environment.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config.hpp"

using namespace fragscope::core;

namespace {
std::map<std::string, std::string> g_env;
const char* lookup(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
}  // namespace

TEST(Config, DefaultsWhenNothingIsSet) {
  g_env.clear();
  Config c;
  parse_config(c, lookup, false);
  EXPECT_EQ(c.interval_ms, 1000u);
  EXPECT_TRUE(c.summary);
  EXPECT_STREQ(c.output, "fragscope.%p.jsonl");
  EXPECT_EQ(c.nwarnings, 0u);
}

TEST(Config, GoodValuesAreTaken) {
  g_env = {{"FRAGSCOPE_INTERVAL_MS", "250"}, {"FRAGSCOPE_SUMMARY", "0"}, {"FRAGSCOPE_OUTPUT", "/tmp/x.%p"},
           {"FRAGSCOPE_PROC_DIR", "/altproc"}};
  Config c;
  parse_config(c, lookup, false);
  EXPECT_EQ(c.interval_ms, 250u);
  EXPECT_FALSE(c.summary);
  EXPECT_STREQ(c.output, "/tmp/x.%p");
  EXPECT_STREQ(c.proc_dir, "/altproc");
  EXPECT_EQ(c.nwarnings, 0u);
}

TEST(Config, MalformedValuesWarnOnceAndKeepDefaults) {
  for (const char* bad : {"abc", "-5", "12ms", "99999999999", ""}) {
    g_env = {{"FRAGSCOPE_INTERVAL_MS", bad}};
    Config c;
    parse_config(c, lookup, false);
    EXPECT_EQ(c.interval_ms, 1000u) << bad;
    EXPECT_EQ(c.nwarnings, std::string(bad).empty() ? 0u : 1u) << bad;
    if (c.nwarnings) {
      EXPECT_NE(std::string(c.warnings[0]).find("FRAGSCOPE_INTERVAL_MS"), std::string::npos);
    }
  }
  g_env = {{"FRAGSCOPE_SUMMARY", "maybe"}};
  Config c;
  parse_config(c, lookup, false);
  EXPECT_TRUE(c.summary);
  EXPECT_EQ(c.nwarnings, 1u);
}

TEST(Config, PoolSizesAreSortedAndDeduplicated) {
  g_env = {{"FRAGSCOPE_POOL_SIZES", "64,32,48,32,4096"}};
  Config c;
  parse_config(c, lookup, false);
  ASSERT_EQ(c.npool_sizes, 4u);
  EXPECT_EQ(c.pool_sizes[0], 32u);
  EXPECT_EQ(c.pool_sizes[1], 48u);
  EXPECT_EQ(c.pool_sizes[2], 64u);
  EXPECT_EQ(c.pool_sizes[3], 4096u);
  EXPECT_EQ(c.nwarnings, 0u);
}

TEST(Config, MalformedPoolSizesWarnAndTurnPoolingOff) {
  for (const char* bad : {"abc", "32,,64", "0", "4097", "32,", ",32", "32;64", "-16",
                          "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"}) {
    g_env = {{"FRAGSCOPE_POOL_SIZES", bad}};
    Config c;
    parse_config(c, lookup, false);
    EXPECT_EQ(c.npool_sizes, 0u) << bad;
    ASSERT_EQ(c.nwarnings, 1u) << bad;
    EXPECT_NE(std::string(c.warnings[0]).find("FRAGSCOPE_POOL_SIZES"), std::string::npos);
  }
}

TEST(Config, SecureModeIgnoresTheEnvironment) {
  g_env = {{"FRAGSCOPE_OUTPUT", "/etc/passwd"}};
  Config c;
  parse_config(c, lookup, true);
  EXPECT_TRUE(c.secure);
  EXPECT_STREQ(c.output, "");
}

TEST(Config, OutputPatternExpansion) {
  char out[64];
  ASSERT_TRUE(expand_output_path("a.%p.jsonl", 42, false, out, sizeof(out)));
  EXPECT_STREQ(out, "a.42.jsonl");
  ASSERT_TRUE(expand_output_path("100%%.x", 42, false, out, sizeof(out)));
  EXPECT_STREQ(out, "100%.x");
  ASSERT_TRUE(expand_output_path("fixed.jsonl", 7, true, out, sizeof(out)));
  EXPECT_STREQ(out, "fixed.jsonl.7");
  EXPECT_FALSE(expand_output_path("0123456789012345678901234567890123456789012345678901234567890123456789", 1, false, out,
                                  sizeof(out)));
}

TEST(Config, PreloadWithoutSelf) {
  char out[256];
  ASSERT_TRUE(preload_without("/opt/fs/libfragscope.so", "/opt/fs/libfragscope.so", out, sizeof(out)));
  EXPECT_STREQ(out, "");
  ASSERT_TRUE(preload_without("/opt/fs/libfragscope.so:/usr/lib/libjemalloc.so.2", "/opt/fs/libfragscope.so", out,
                              sizeof(out)));
  EXPECT_STREQ(out, "/usr/lib/libjemalloc.so.2");
  ASSERT_TRUE(preload_without("libfragscope.so /x/libfoo.so", "/opt/fs/libfragscope.so", out, sizeof(out)));
  EXPECT_STREQ(out, "/x/libfoo.so");
  ASSERT_TRUE(preload_without("/a/notlibfragscope.so", "/opt/fs/libfragscope.so", out, sizeof(out)));
  EXPECT_STREQ(out, "/a/notlibfragscope.so");
  EXPECT_FALSE(preload_without("/a/b.so", "/x/libfragscope.so", out, 4));
}

TEST(Config, FollowExecDefaultsOnAndParses) {
  g_env.clear();
  Config c;
  parse_config(c, lookup, false);
  EXPECT_TRUE(c.follow_exec);
  g_env = {{"FRAGSCOPE_FOLLOW_EXEC", "0"}};
  parse_config(c, lookup, false);
  EXPECT_FALSE(c.follow_exec);
}

TEST(Config, MetricsAddressIsLoopbackUnlessGiven) {
  g_env = {{"FRAGSCOPE_METRICS_ADDR", "9464"}};
  Config c;
  parse_config(c, lookup, false);
  EXPECT_EQ(c.metrics_ip, 0x7f000001u);
  EXPECT_EQ(c.metrics_port, 9464);
  g_env = {{"FRAGSCOPE_METRICS_ADDR", "10.1.2.3:80"}};
  parse_config(c, lookup, false);
  EXPECT_EQ(c.metrics_ip, 0x0a010203u);
  EXPECT_EQ(c.metrics_port, 80);
  for (const char* bad : {"abc", "0", "70000", "1.2.3:80", "1.2.3.4.5:80", "1.2.3.256:80", ":80", "host:80", "9464 "}) {
    g_env = {{"FRAGSCOPE_METRICS_ADDR", bad}};
    parse_config(c, lookup, false);
    EXPECT_EQ(c.metrics_port, 0) << bad;
    ASSERT_EQ(c.nwarnings, 1u) << bad;
    EXPECT_NE(std::string(c.warnings[0]).find("FRAGSCOPE_METRICS_ADDR"), std::string::npos);
  }
}

TEST(Config, TrimIsOffByDefaultAndTakesBytes) {
  g_env.clear();
  Config c;
  parse_config(c, lookup, false);
  EXPECT_EQ(c.trim_bytes, 0u);
  for (auto [value, bytes] : {std::pair{"1048576", 1048576ull}, {"1", 1ull}, {"0", 0ull}, {"1099511627776", 1ull << 40}}) {
    g_env = {{"FRAGSCOPE_TRIM", value}};
    parse_config(c, lookup, false);
    EXPECT_EQ(c.trim_bytes, bytes) << value;
    EXPECT_EQ(c.nwarnings, 0u) << value;
  }
}

TEST(Config, MalformedTrimWarnsOnceAndStaysOff) {
  for (const char* bad : {"abc", "-1", "1M", "1 MiB", "1099511627777", "99999999999999999999999"}) {
    g_env = {{"FRAGSCOPE_TRIM", bad}};
    Config c;
    parse_config(c, lookup, false);
    EXPECT_EQ(c.trim_bytes, 0u) << bad;
    ASSERT_EQ(c.nwarnings, 1u) << bad;
    EXPECT_NE(std::string(c.warnings[0]).find("FRAGSCOPE_TRIM"), std::string::npos) << c.warnings[0];
  }
  g_env = {{"FRAGSCOPE_TRIM", ""}};  // empty: unset
  Config c;
  parse_config(c, lookup, false);
  EXPECT_EQ(c.trim_bytes, 0u);
  EXPECT_EQ(c.nwarnings, 0u);
}

// FRAGSCOPE_SNAPSHOT_SCRATCH: 0 (automatic) by default; bytes from 24 KiB (one batch of 1024
// blocks) up; anything else warns once and stays automatic.
TEST(Config, SnapshotScratchTakesBytesFromOneSmallBatchUp) {
  g_env.clear();
  Config c;
  parse_config(c, lookup, false);
  EXPECT_EQ(c.snapshot_scratch, 0u);
  for (auto [value, bytes] : {std::pair{"24576", 24576ull}, {"0", 0ull}, {"1048576", 1048576ull}}) {
    g_env = {{"FRAGSCOPE_SNAPSHOT_SCRATCH", value}};
    parse_config(c, lookup, false);
    EXPECT_EQ(c.snapshot_scratch, bytes) << value;
    EXPECT_EQ(c.nwarnings, 0u) << value;
  }
  for (const char* bad : {"24575", "1", "-5", "2M", "1099511627777", "x"}) {
    g_env = {{"FRAGSCOPE_SNAPSHOT_SCRATCH", bad}};
    Config d;
    parse_config(d, lookup, false);
    EXPECT_EQ(d.snapshot_scratch, 0u) << bad;
    ASSERT_EQ(d.nwarnings, 1u) << bad;
    EXPECT_NE(std::string(d.warnings[0]).find("FRAGSCOPE_SNAPSHOT_SCRATCH"), std::string::npos) << d.warnings[0];
  }
}

// A bad value is the host's: its warning reaches the host's terminal, so no byte of it may act
// there (issue 16: terminal escapes echoed raw).
TEST(Config, EscapeTextEscapesControlsAndBoundsLength) {
  char out[64];
  using fragscope::core::escape_text;
  escape_text("ab\x1b[31mc\n\x7f", 64, out, sizeof(out));
  EXPECT_STREQ(out, "ab\\x1b[31mc\\x0a\\x7f");
  escape_text("caf\xc3\xa9 \xe2\x82\xac", 64, out, sizeof(out));  // UTF-8 text stays
  EXPECT_STREQ(out, "caf\xc3\xa9 \xe2\x82\xac");
  escape_text("\xc2\x9b" "1m \x9b \xc3 \xed\xa0\x80 \xc0\xaf", 64, out, sizeof(out));  // C1, bad UTF-8
  EXPECT_STREQ(out, "\\xc2\\x9b1m \\x9b \\xc3 \\xed\\xa0\\x80 \\xc0\\xaf");
  escape_text("0123456789", 4, out, sizeof(out));  // at most max_in bytes, then "..."
  EXPECT_STREQ(out, "0123...");
  char small[12];
  EXPECT_EQ(escape_text("\x01\x02\x03\x04", 64, small, sizeof(small)), 11u);  // never half an escape
  EXPECT_STREQ(small, "\\x01\\x02...");
}

TEST(Config, BadValueWarningIsEscapedAndBounded) {
  std::string evil = "\x1b]0;owned\x07\x1b[2J" + std::string(500, 'A');
  g_env = {{"FRAGSCOPE_INTERVAL_MS", evil.c_str()}};
  Config c;
  parse_config(c, lookup, false);
  ASSERT_EQ(c.nwarnings, 1u);
  const std::string w = c.warnings[0];
  for (char ch : w) EXPECT_TRUE(static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f) << w;
  EXPECT_NE(w.find("\\x1b]0;owned\\x07\\x1b[2J"), std::string::npos) << w;
  EXPECT_NE(w.find("...'"), std::string::npos) << w;
  EXPECT_NE(w.find("using 1000"), std::string::npos) << w;  // the line is whole
}
