// A snapshot's call sites as a pprof profile (profile.proto, gzipped), for `go tool pprof`,
// continuous profilers (Parca, Pyroscope, OpenTelemetry profiles) and `-diff_base`.
//
// One sample per call site, with five values: alloc_objects and alloc_space (every allocation
// the site made), inuse_objects and inuse_space (its live blocks), pinned_space (the free
// resident bytes of the pinned pages its blocks hold: what its blocks keep from the kernel). The
// values are the snapshot's estimates, already scaled by the sampling (Poisson by bytes, period
// = the mean), as pprof expects of a profile.proto heap profile; the sites the snapshot does not
// list come as one sample, "[other call sites]", so that the totals are the snapshot's. Stacks
// are folded as in the text report: the allocator's and the wrappers' frames below the program's
// own call are left out. Frames carry their function, file and line where they were named (else
// "module+0xoffset", as the text report says), and a mapping with the module's file, load
// address and GNU build ID (snapshots written before the shim
// recorded `sites.module_maps` get synthetic addresses: symbolized here, not elsewhere).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sites.hpp"

namespace fragscope::report {

struct PprofSummary {
  std::size_t samples = 0, locations = 0, functions = 0, mappings = 0;
  double inuse_space = 0, alloc_space = 0, pinned_space = 0;  // totals, after rounding each sample
};

/// The gzipped profile of `snapshot`, whose sites `sites` are (named_sites). Fills `summary` if given.
std::string render_pprof(const nlohmann::json& snapshot, const std::vector<NamedSite>& sites,
                         PprofSummary* summary = nullptr);

}  // namespace fragscope::report
