// pprof export (see pprof_export.hpp), written with the protobuf library from profile.proto.
#include "pprof_export.hpp"

#include <fmt/format.h>
#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "json_access.hpp"
#include "pprof/profile.pb.h"

namespace fragscope::report {
namespace {

namespace pp = perftools::profiles;

// The string table: index 0 is "", each string once.
class Strings {
 public:
  explicit Strings(pp::Profile* p) : p_(p) { id(""); }
  std::int64_t id(const std::string& s) {
    auto [it, fresh] = ids_.try_emplace(s, static_cast<std::int64_t>(ids_.size()));
    if (fresh) p_->add_string_table(s);
    return it->second;
  }

 private:
  pp::Profile* p_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

// "file:line" (addr2line) into its parts; line 0 when unknown.
std::pair<std::string, std::int64_t> split_location(const std::string& loc) {
  const auto colon = loc.rfind(':');
  if (colon == std::string::npos) return {loc, 0};
  const std::string file = loc.substr(0, colon), line = loc.substr(colon + 1);
  std::int64_t n = 0;
  for (char c : line) {
    if (c < '0' || c > '9' || n > 100000000) return {file, 0};
    n = n * 10 + (c - '0');
  }
  return {file, n};
}

// A snapshot's estimate as a sample value: rounded, never negative.
std::int64_t value(double v) { return std::isfinite(v) && v > 0 ? static_cast<std::int64_t>(std::llround(std::min(v, 9e18))) : 0; }

struct ModuleInfo {
  std::uint64_t base = 0, start = 0, limit = 0, file_offset = 0;
  std::string build_id;
  bool known = false;
};

}  // namespace

std::string render_pprof(const nlohmann::json& snapshot, const std::vector<NamedSite>& sites, PprofSummary* summary) {
  pp::Profile prof;
  Strings str_id(&prof);
  const nlohmann::json& js = sub(snapshot, "sites");

  // Sample types, in the order Go's heap profiles use, and pinned bytes after them.
  const std::pair<const char*, const char*> types[] = {{"alloc_objects", "count"},
                                                       {"alloc_space", "bytes"},
                                                       {"inuse_objects", "count"},
                                                       {"inuse_space", "bytes"},
                                                       {"pinned_space", "bytes"}};
  for (const auto& [t, u] : types) {
    auto* vt = prof.add_sample_type();
    vt->set_type(str_id.id(t));
    vt->set_unit(str_id.id(u));
  }
  prof.set_default_sample_type(str_id.id("inuse_space"));
  prof.mutable_period_type()->set_type(str_id.id("space"));
  prof.mutable_period_type()->set_unit(str_id.id("bytes"));
  prof.set_period(static_cast<std::int64_t>(whole(num(js, "sample_bytes"))));
  prof.set_time_nanos(static_cast<std::int64_t>(std::min<std::uint64_t>(whole(num(snapshot, "time_unix_ns")), INT64_MAX)));
  prof.set_duration_nanos(static_cast<std::int64_t>(std::min<std::uint64_t>(whole(num(snapshot, "uptime_ns")), INT64_MAX)));
  prof.add_comment(str_id.id(fmt::format("fragscope snapshot {} of pid {} ({}), {} mode", whole(num(snapshot, "seq")),
                                         whole(num(snapshot, "pid")), program_label(snapshot),
                                         str(snapshot, "mode", "full"))));
  prof.add_comment(str_id.id(fmt::format("call sites sampled by bytes, every {} bytes on average; values are estimates, "
                                         "scaled; allocator and wrapper frames below the program's call folded",
                                         whole(num(js, "sample_bytes")))));

  // Modules: where each is loaded (sites.module_maps, parallel to sites.modules).
  std::map<std::string, ModuleInfo> modules;
  {
    const nlohmann::json& names = arr(js, "modules");
    const nlohmann::json& maps = arr(js, "module_maps");
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!names[i].is_string()) continue;
      ModuleInfo m;
      if (i < maps.size() && maps[i].is_object()) {
        const nlohmann::json& mm = maps[i];
        m.base = whole(num(mm, "base"));
        m.start = whole(num(mm, "start"));
        m.limit = whole(num(mm, "limit"));
        m.file_offset = whole(num(mm, "file_offset"));
        m.build_id = str(mm, "build_id");
        m.known = m.limit > m.start;
      }
      if (!m.known) {
        // No load address known: a range of its own, 1 TiB apart, for each module.
        m.base = m.start = (static_cast<std::uint64_t>(i) + 1) << 40;
        m.limit = m.start + (std::uint64_t{1} << 39);
      }
      modules.emplace(names[i].get<std::string>(), m);
    }
  }

  // Mappings, locations and functions, each once.
  std::map<std::string, std::uint64_t> mapping_of;                        // module -> mapping id
  std::map<std::uint64_t, bool> mapping_named;                             // mapping id -> every location named
  std::map<std::tuple<std::string, std::uint64_t>, std::uint64_t> loc_of;  // (module, offset) -> location id
  std::map<std::tuple<std::string, std::string>, std::uint64_t> fn_of;     // (name, file) -> function id
  auto function_id = [&](const std::string& name, const std::string& file) {
    auto [it, fresh] = fn_of.try_emplace({name, file}, fn_of.size() + 1);
    if (fresh) {
      auto* f = prof.add_function();
      f->set_id(it->second);
      f->set_name(str_id.id(name));
      f->set_system_name(str_id.id(name));
      f->set_filename(str_id.id(file));
    }
    return it->second;
  };
  auto mapping_id = [&](const std::string& module) -> std::uint64_t {
    auto mi = modules.find(module);
    if (mi == modules.end()) return 0;
    auto [it, fresh] = mapping_of.try_emplace(module, mapping_of.size() + 1);
    if (fresh) {
      const ModuleInfo& m = mi->second;
      auto* mp = prof.add_mapping();
      mp->set_id(it->second);
      mp->set_memory_start(m.start);
      mp->set_memory_limit(m.limit);
      mp->set_file_offset(m.file_offset);
      mp->set_filename(str_id.id(module));
      mp->set_build_id(str_id.id(m.build_id));
      mapping_named[it->second] = true;
    }
    return it->second;
  };
  auto location_id = [&](const NamedFrame& f) {
    auto [it, fresh] = loc_of.try_emplace({f.module, f.offset}, loc_of.size() + 1);
    if (!fresh) return it->second;
    auto* l = prof.add_location();
    l->set_id(it->second);
    const std::uint64_t map = mapping_id(f.module);
    if (map != 0) {
      l->set_mapping_id(map);
      l->set_address(modules[f.module].base + f.offset);
    } else {
      l->set_address(f.offset);  // the frame's own address: no module was found for it
    }
    // A frame nothing could name is called what the text report calls it, "module+0xoffset", so
    // that both name the same functions; its mapping then says it lacks functions, and
    // `pprof -symbolize=force` (or a profiler that has the module's debug info) names it anew.
    auto [file, line] = split_location(f.location);
    auto* ln = l->add_line();
    ln->set_function_id(function_id(f.function.empty() ? f.label() : f.function, file));
    ln->set_line(line);
    if (f.function.empty() && map != 0) mapping_named[map] = false;
    return it->second;
  };

  PprofSummary sum;
  auto add_sample = [&](const std::vector<std::uint64_t>& locs, double allocs, double alloc_bytes, double live_blocks,
                        double live_bytes, double pinned, std::int64_t site) {
    auto* s = prof.add_sample();
    for (auto id : locs) s->add_location_id(id);
    const std::int64_t v[] = {value(allocs), value(alloc_bytes), value(live_blocks), value(live_bytes), value(pinned)};
    for (auto x : v) s->add_value(x);
    if (site > 0) {
      auto* lb = s->add_label();
      lb->set_key(str_id.id("site"));
      lb->set_num(site);
    }
    ++sum.samples;
    sum.alloc_space += static_cast<double>(v[1]);
    sum.inuse_space += static_cast<double>(v[3]);
    sum.pinned_space += static_cast<double>(v[4]);
  };

  for (const NamedSite& s : sites) {
    std::vector<std::uint64_t> locs;
    for (std::size_t i = s.origin_index(); i < s.frames.size(); ++i) locs.push_back(location_id(s.frames[i]));
    if (locs.empty()) continue;
    add_sample(locs, s.allocs, s.alloc_bytes, s.live_blocks, s.live_bytes, s.pinned_bytes, s.id);
  }
  if (const nlohmann::json& o = sub(js, "others"); num(o, "sites") > 0) {
    auto* l = prof.add_location();
    const std::uint64_t id = static_cast<std::uint64_t>(prof.location_size());  // ids are 1..n, in order
    l->set_id(id);
    l->add_line()->set_function_id(function_id("[other call sites]", ""));
    add_sample({id}, num(o, "allocs"), num(o, "alloc_bytes"), num(o, "live_blocks"), num(o, "live_bytes"),
               num(o, "pinned_bytes"), 0);
  }
  for (auto& m : *prof.mutable_mapping()) {
    const bool named = mapping_named[m.id()];
    m.set_has_functions(named);
    m.set_has_filenames(named);
    m.set_has_line_numbers(named);
  }

  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::GzipOutputStream::Options opt;
    opt.format = google::protobuf::io::GzipOutputStream::GZIP;
    google::protobuf::io::GzipOutputStream gz(&raw, opt);
    if (!prof.SerializeToZeroCopyStream(&gz) || !gz.Close()) throw std::runtime_error("cannot encode the profile");
  }
  sum.locations = static_cast<std::size_t>(prof.location_size());
  sum.functions = static_cast<std::size_t>(prof.function_size());
  sum.mappings = static_cast<std::size_t>(prof.mapping_size());
  if (summary) *summary = sum;
  return out;
}

}  // namespace fragscope::report
