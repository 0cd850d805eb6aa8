// The pprof export and the flame graph's tree, from call sites made by hand: every value, mapping,
// location and function of the profile decoded back with the protobuf library.
#include <gtest/gtest.h>
#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "flame_graph.hpp"
#include "pprof/profile.pb.h"
#include "pprof_export.hpp"

namespace fragscope::report {
namespace {

namespace pp = perftools::profiles;

pp::Profile decode(const std::string& gz) {
  google::protobuf::io::ArrayInputStream raw(gz.data(), static_cast<int>(gz.size()));
  google::protobuf::io::GzipInputStream in(&raw, google::protobuf::io::GzipInputStream::GZIP);
  pp::Profile p;
  EXPECT_TRUE(p.ParseFromZeroCopyStream(&in));
  return p;
}

NamedFrame frame(const std::string& module, std::uint64_t offset, const std::string& fn, const std::string& loc = "") {
  NamedFrame f;
  f.module = module, f.offset = offset, f.function = fn, f.location = loc;
  return f;
}

// Two sites of a program over libc: malloc (a runtime frame) innermost, then the program.
std::vector<NamedSite> two_sites() {
  NamedSite a;
  a.id = 4, a.live_bytes = 3000.4, a.live_blocks = 30, a.allocs = 50, a.alloc_bytes = 5000.6, a.pinned_bytes = 8192;
  a.frames = {frame("/lib/libc.so.6", 0x100, "malloc"), frame("/bin/app", 0x2000, "make_node(int)", "app.cpp:12"),
              frame("/bin/app", 0x3000, "main", "app.cpp:40")};
  NamedSite b;
  b.id = 7, b.live_bytes = 100, b.live_blocks = 1, b.allocs = 9, b.alloc_bytes = 900;
  b.frames = {frame("/bin/app", 0x2500, ""), frame("/bin/app", 0x3000, "main", "app.cpp:40")};
  return {a, b};
}

nlohmann::json snapshot() {
  return nlohmann::json::parse(R"({"seq": 3, "pid": 42, "exe": "/bin/app", "mode": "full", "time_unix_ns": 1700000000000000000,
    "uptime_ns": 2500000000, "sites": {"sample_bytes": 524288, "modules": ["/lib/libc.so.6", "/bin/app"],
    "module_maps": [{"base": 1000000, "start": 1000000, "limit": 2000000, "file_offset": 0, "build_id": "aa11"},
                    {"base": 4194304, "start": 4198400, "limit": 4300000, "file_offset": 4096, "build_id": "bb22"}],
    "others": {"sites": 5, "allocs": 11, "alloc_bytes": 1100, "frees": 2, "live_bytes": 700, "live_blocks": 9, "pinned_bytes": 4096}}})");
}

const std::string& str(const pp::Profile& p, std::int64_t i) { return p.string_table(static_cast<int>(i)); }

TEST(Pprof, EveryValueMappingAndFrameOfTwoSites) {
  PprofSummary sum;
  const pp::Profile p = decode(render_pprof(snapshot(), two_sites(), &sum));
  ASSERT_EQ(p.sample_type_size(), 5);
  const char* types[] = {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space", "pinned_space"};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(str(p, p.sample_type(i).type()), types[i]);
  EXPECT_EQ(str(p, p.default_sample_type()), "inuse_space");
  EXPECT_EQ(p.period(), 524288);
  EXPECT_EQ(str(p, p.period_type().type()), "space");
  EXPECT_EQ(p.time_nanos(), 1700000000000000000);
  EXPECT_EQ(p.duration_nanos(), 2500000000);
  EXPECT_EQ(p.string_table(0), "");

  ASSERT_EQ(p.sample_size(), 3);  // two sites and the rest
  auto values = [&](int i) { return std::vector<std::int64_t>(p.sample(i).value().begin(), p.sample(i).value().end()); };
  EXPECT_EQ(values(0), (std::vector<std::int64_t>{50, 5001, 30, 3000, 8192}));
  EXPECT_EQ(values(1), (std::vector<std::int64_t>{9, 900, 1, 100, 0}));
  EXPECT_EQ(values(2), (std::vector<std::int64_t>{11, 1100, 9, 700, 4096}));
  EXPECT_EQ(sum.inuse_space, 3800);
  EXPECT_EQ(sum.pinned_space, 12288);
  EXPECT_EQ(p.sample(0).label(0).num(), 4);
  EXPECT_EQ(str(p, p.sample(0).label(0).key()), "site");

  // The malloc frame is folded: the first site starts at make_node.
  ASSERT_EQ(p.sample(0).location_id_size(), 2);
  std::map<std::uint64_t, const pp::Location*> loc;
  for (const auto& l : p.location()) loc[l.id()] = &l;
  std::map<std::uint64_t, const pp::Function*> fn;
  for (const auto& f : p.function()) fn[f.id()] = &f;
  std::map<std::uint64_t, const pp::Mapping*> map;
  for (const auto& m : p.mapping()) map[m.id()] = &m;
  const pp::Location& make = *loc.at(p.sample(0).location_id(0));
  EXPECT_EQ(make.address(), 4194304u + 0x2000);
  ASSERT_EQ(make.line_size(), 1);
  EXPECT_EQ(str(p, fn.at(make.line(0).function_id())->name()), "make_node(int)");
  EXPECT_EQ(str(p, fn.at(make.line(0).function_id())->filename()), "app.cpp");
  EXPECT_EQ(make.line(0).line(), 12);
  // main is one location, shared by both sites.
  EXPECT_EQ(p.sample(0).location_id(1), p.sample(1).location_id(1));
  // Only the program's module is mapped (libc's frame was folded), with its build ID and segment.
  ASSERT_EQ(p.mapping_size(), 1);
  const pp::Mapping& app = *map.at(make.mapping_id());
  EXPECT_EQ(str(p, app.filename()), "/bin/app");
  EXPECT_EQ(str(p, app.build_id()), "bb22");
  EXPECT_EQ(app.memory_start(), 4198400u);
  EXPECT_EQ(app.memory_limit(), 4300000u);
  EXPECT_EQ(app.file_offset(), 4096u);
  EXPECT_FALSE(app.has_functions());  // the frame at 0x2500 has no name
  // The unnamed frame: an address in the mapping, named as the text report names it.
  const pp::Location& unnamed = *loc.at(p.sample(1).location_id(0));
  EXPECT_EQ(unnamed.address(), 4194304u + 0x2500);
  ASSERT_EQ(unnamed.line_size(), 1);
  EXPECT_EQ(str(p, fn.at(unnamed.line(0).function_id())->name()), "app+0x2500");
  // The rest: one frame, named.
  const pp::Location& rest = *loc.at(p.sample(2).location_id(0));
  EXPECT_EQ(str(p, fn.at(rest.line(0).function_id())->name()), "[other call sites]");
  EXPECT_EQ(rest.mapping_id(), 0u);
}

TEST(Pprof, ASnapshotWithoutMapsOrSitesStillGivesAValidProfile) {
  nlohmann::json s = snapshot();
  s["sites"].erase("module_maps");
  s["sites"].erase("others");
  const pp::Profile p = decode(render_pprof(s, two_sites()));
  ASSERT_EQ(p.sample_size(), 2);
  ASSERT_EQ(p.mapping_size(), 1);
  // A synthetic range of its own; every location of the module inside it.
  for (const auto& l : p.location()) {
    EXPECT_GE(l.address(), p.mapping(0).memory_start());
    EXPECT_LT(l.address(), p.mapping(0).memory_limit());
  }
  EXPECT_EQ(str(p, p.mapping(0).build_id()), "");
  const pp::Profile empty = decode(render_pprof(nlohmann::json::object(), {}));
  EXPECT_EQ(empty.sample_size(), 0);
  EXPECT_EQ(empty.sample_type_size(), 5);
}

TEST(FlameGraph, TheTreeFoldsTheAllocatorAndSumsTheSites) {
  const nlohmann::json t = flame_tree(snapshot(), two_sites());
  EXPECT_EQ(t["n"], "all");
  EXPECT_DOUBLE_EQ(t["l"].get<double>(), 3000.4 + 100 + 700);
  EXPECT_DOUBLE_EQ(t["p"].get<double>(), 8192 + 4096);
  ASSERT_EQ(t["c"].size(), 2u);  // main, and the rest
  const nlohmann::json& main = t["c"][0];
  EXPECT_EQ(main["n"], "main");
  EXPECT_DOUBLE_EQ(main["l"].get<double>(), 3100.4);
  ASSERT_EQ(main["c"].size(), 2u);
  EXPECT_EQ(main["c"][0]["n"], "make_node(int)");
  EXPECT_TRUE(main["c"][0]["c"].empty());  // malloc folded
  EXPECT_EQ(main["c"][1]["n"], "app+0x2500");
  EXPECT_EQ(t["c"][1]["n"], "[other call sites]");
  // The HTML: the tree inline, "<" escaped inside the script.
  std::vector<NamedSite> sites = two_sites();
  sites[0].frames[1].function = "f</script><b>";
  const std::string html = flame_graph_html(snapshot(), sites);
  EXPECT_NE(html.find("id=\"flame-data\""), std::string::npos);
  EXPECT_EQ(html.find("f</script>"), std::string::npos);
  EXPECT_NE(html.find("f\\u003c/script>"), std::string::npos);
  EXPECT_TRUE(flame_graph_html(nlohmann::json::object(), {}).empty());
}

}  // namespace
}  // namespace fragscope::report
