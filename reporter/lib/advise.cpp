// `fragscope advise` (see advise.hpp): the rules, one per mechanism, each reading the judged
// snapshot (moment.hpp) and, for trends and kernel events, the snapshots before it.
//
// How the rules tell the mechanisms apart, for the small size classes (≤ 16 KiB):
//  - a class that still holds at least half of its peak live bytes while half of its frees lived
//    8x shorter than half of its live blocks are old has long-lived blocks among short-lived
//    ones: lifetime_mixing, pools help;
//  - a class that lost more than half of its peak live bytes was thinned out by deletes: the
//    survivors are as old as the deleted were, so segregating by lifetime changes nothing, and
//    pools would add their own partly empty chunks: sparse_pages, only moving the survivors
//    (compaction, rebuild, restart) gives the pages back.
// The free bytes of sparse pages (resident pages at most half full) are shared between the two by
// the live bytes of their classes.
//
// Estimates of recovered bytes: trim → empty resident pages (glibc's malloc_trim returns exactly
// these: tested); top_pinned → the empty pages of the free run right below a segment's top block;
// allocator_retention → the allocator's own figure of free resident bytes; lifetime_mixing and
// sparse_pages → the free bytes of their share of the sparse pages (jemalloc: the free regions of
// its slabs); arenas → the free resident bytes beyond two arenas' share. Findings are ranked by
// these bytes weighed by what the remedy costs: a restart or a code change counts less than a call
// or a setting.
#include "advise.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "json_access.hpp"
#include "sites.hpp"
#include "text_report.hpp"

namespace fragscope::report {

using nlohmann::json;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string count(double n) {
  if (n >= 1e6) return fmt::format("{:.1f} M", n / 1e6);
  if (n >= 1e4) return fmt::format("{:.0f} k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

// A finding is worth acting on when it recovers at least 1 MiB and a tenth of the heap.
bool significant(double bytes, double heap_rss) { return bytes >= kMiB && bytes >= 0.1 * heap_rss; }

struct ClassView {
  double lo = 0, hi = 0, live_blocks = 0, live_bytes = 0, live_usable = 0, peak_live = 0, frees = 0;
  double life_lo = 0;  // median lifetime of freed blocks: its bucket's lower bound (ns)
  double freed_n = 0, age_lo = 0, age_n = 0;  // live ages: median bucket's lower bound, count
  const json* freed = nullptr;  // the class's histograms (lifetimes.by_class), when present
  const json* ages = nullptr;
};

// The median of several classes' log histograms together (not the largest of their medians):
// the counts summed per bucket, then the bucket that holds the middle block.
double joint_median(const std::vector<const ClassView*>& classes, bool live_ages) {
  std::map<double, double> sum;
  for (const ClassView* c : classes)
    if (const json* h = live_ages ? c->ages : c->freed)
      for (const auto& b : *h) sum[num_at(b, 0)] += num_at(b, 1);
  json merged = json::array();
  for (const auto& [lo, n] : sum) merged.push_back({lo, n});
  return median_lower(merged);
}

std::vector<ClassView> class_views(const json& snap) {
  std::map<std::uint64_t, const json*> lifetimes;
  for (const auto& l : arr(sub(snap, "lifetimes"), "by_class")) lifetimes[whole(num(l, "class"))] = &l;
  std::vector<ClassView> out;
  for (const auto& c : arr(snap, "size_classes")) {
    ClassView v;
    v.lo = num(c, "lo"), v.hi = num(c, "hi");
    v.live_blocks = num(c, "live_blocks"), v.live_bytes = num(c, "live_requested");
    v.live_usable = num(c, "live_usable"), v.peak_live = num(c, "peak_live_requested"), v.frees = num(c, "frees");
    if (auto it = lifetimes.find(whole(num(c, "class"))); it != lifetimes.end()) {
      v.life_lo = median_lower(arr(*it->second, "freed"), &v.freed_n);
      v.age_lo = median_lower(arr(*it->second, "live_age"), &v.age_n);
      v.freed = &arr(*it->second, "freed");
      v.ages = &arr(*it->second, "live_age");
    }
    out.push_back(v);
  }
  return out;
}

bool small_class(const ClassView& c) { return c.hi > 0 && c.hi <= 16384; }
// Lost more than half of its peak: thinned out by deletes.
bool thinned(const ClassView& c) { return c.peak_live > 0 && c.live_bytes < 0.5 * c.peak_live; }
// Live blocks far older than the freed ones lived, with churn, near its peak.
bool mixing(const ClassView& c) {
  return !thinned(c) && c.live_blocks >= 64 && c.age_n > 0 && c.freed_n >= c.live_blocks &&
         c.age_lo >= 8 * std::max(c.life_lo, 1000.0);
}

// Free bytes of resident pages at most half full, from the 9 occupancy counts (0, then eighths).
double sparse_free_bytes(const json& occ, double page) {
  double b = 0;
  for (unsigned k = 1; k <= 4 && k < occ.size(); ++k) b += num_at(occ, k) * page * (1 - (k - 0.5) / 8);
  return b;
}

// jemalloc's slabs: bytes of free regions, and utilisation over all bins.
struct Slabs {
  double free_bytes = 0, used_regs = 0, regs = 0;
  bool present = false;
};
Slabs jemalloc_slabs(const json& native) {
  Slabs s;
  for (const auto& b : arr(native, "bins")) {
    const double size = num(b, "size"), cur = num(b, "curregs"), slabs = num(b, "curslabs"), nregs = num(b, "nregs");
    s.free_bytes += std::max(0.0, slabs * nregs - cur) * size;
    s.used_regs += cur, s.regs += slabs * nregs, s.present = true;
  }
  return s;
}

std::string pct(double part, double whole_) { return whole_ > 0 ? fmt::format("{:.0f}%", 100 * part / whole_) : "-"; }

class Rules {
 public:
  Rules(const SnapshotFile& f, const json& s, const std::string& cmd, AdviseResult& r)
      : f_(f), s_(s), cmd_(cmd), r_(r), h_(sub(s, "heap")), native_(sub(sub(s, "allocator"), "native")) {
    heap_ = h_.contains("heap_rss");
    H_ = num(h_, "heap_rss"), page_ = num(h_, "page_size", 4096), F_ = num(h_, "free_resident");
    R_ = num(sub(s, "totals"), "live_requested"), U_ = num(sub(s, "totals"), "live_usable");
    E_ = num(h_, "empty_resident_pages") * page_;
    // Sampled mode: the heap figures are estimates. What a finding promises must be recovered, so
    // the rules take the estimate less two standard errors (a lower bound at ~97.5%).
    sampled_ = str(s, "mode") == "sampled" && h_.contains("estimate");
    if (sampled_) {
      const json& se = sub(sub(h_, "estimate"), "se");
      E_ = std::max(0.0, E_ - 2 * num(se, "empty_resident_pages") * page_);
      F_ = std::max(0.0, F_ - 2 * num(se, "free_resident"));
    }
    alloc_ = r.allocator;
    classes_ = class_views(s);
  }

  void run() {
    if (!heap_) {
      r_.not_assessed.push_back(fmt::format("trim, pools, sparse pages, arenas: the judged snapshot has no heap analysis ({})",
                                            str(h_, "error", "not recorded")));
    } else {
      top_pinned();
      trim();
      retention();
      classes();
      arenas();
      internal_frag();
    }
    kernel();
    std::stable_sort(r_.findings.begin(), r_.findings.end(), [](const Finding& a, const Finding& b) { return a.rank > b.rank; });
  }

 private:
  void add(Finding x, double weight) {
    x.rank = x.recover_bytes * weight;
    r_.findings.push_back(std::move(x));
  }
  std::string heap_src() const {
    if (sampled_)
      return fmt::format("[heap: estimated from {} sampled regions + /proc/self/maps + mincore; the estimate less two "
                         "standard errors]",
                         whole(num(sub(h_, "estimate"), "regions")));
    return "[heap: live table + /proc/self/maps + mincore]";
  }

  // glibc: one free run right below the highest live block of a heap segment. (Every hole of a
  // segment is below its top block; only the one right below it is what glibc would return from
  // the top, were the block gone. Holes scattered lower down are a trim's or sparse pages.)
  void top_pinned() {
    if (alloc_ != "glibc") return;
    if (sampled_) {
      r_.not_assessed.push_back("top_pinned: the segments' top blocks are not known in sampled mode (fragscope run "
                                "without --sampled finds them)");
      return;
    }
    double gap = 0;
    const json* worst = nullptr;
    for (const auto& p : arr(h_, "top_pinned_by")) {
      const double g = num(p, "gap_below_resident");
      if (g >= kMiB) gap += g;
      if (g >= kMiB && (worst == nullptr || g > num(*worst, "gap_below_resident"))) worst = &p;
    }
    // What a trim gives back there: whole empty pages, no more than there are.
    const double recover = std::min(E_, gap);
    if (worst == nullptr || !significant(recover, H_)) {
      r_.checked.push_back(fmt::format("top_pinned: no glibc heap top has a large free run right below it ({} in all; "
                                       "{} empty resident pages anywhere)",
                                       human_bytes(gap), human_bytes(E_)));
      return;
    }
    top_claimed_ = recover;
    Finding x;
    x.kind = "top_pinned";
    x.title = fmt::format("A live {} block at the top of a glibc heap holds {} of free memory right below it",
                          human_bytes(num(*worst, "size")), human_bytes(num(*worst, "gap_below_resident")));
    x.evidence.push_back(fmt::format(
        "the highest live block of the {} segment is {} old; the free run right below it is {}, resident  {}",
        human_bytes(num(*worst, "segment_end") - num(*worst, "segment_start")), human_ns(num(*worst, "age_ns")),
        human_bytes(num(*worst, "gap_below_resident")), heap_src()));
    x.evidence.push_back(fmt::format("glibc shrinks a heap only from its top (above trim_threshold, 128 KiB by default): "
                                     "the block keeps that run in the heap, and {} of whole free pages stay resident  "
                                     "[heap.empty_resident_pages]",
                                     human_bytes(E_)));
    if (std::string site = top_site(); !site.empty())
      x.evidence.push_back(fmt::format("that block was allocated at {}  [sites, sampled]", site));
    x.recover_bytes = recover;
    x.estimate = "whole empty resident pages of the free run below the top block (malloc_trim(0) releases them)";
    x.remedy.push_back("call malloc_trim(0) after the phase that frees (it returns the whole free pages below the top "
                       "block without moving it)");
    x.remedy.push_back("allocate that long-lived block before the bulk data, or from a pool or its own mmap, so that "
                       "it does not sit at the top of the heap");
    x.command = fmt::format("fragscope run --trim -- {}", cmd_);
    add(std::move(x), 1.05);
  }

  std::string top_site() const {
    const json& ids = arr(sub(s_, "sites"), "top_pinned_sites");
    const std::uint64_t id = whole(num_at(ids, 0));
    if (id == 0) return {};
    for (const auto& ns : named_sites(s_))
      if (ns.id == id && ns.origin()) return ns.origin()->label();
    return {};
  }

  // Whole free pages kept resident, for allocators that keep them until asked.
  void trim() {
    if (alloc_ == "jemalloc" || alloc_ == "tcmalloc") return;  // allocator_retention reads their own figures
    if (alloc_ == "mimalloc") {
      // mimalloc 2.0 returns only whole free mimalloc pages (64 KiB and up): empty 4 KiB pages
      // inside a page that still holds a block stay, whatever its options say (measured on
      // CPython's deleted dict: 58 MiB of empty pages, 3 MiB returned with MIMALLOC_RESET_DELAY=0).
      // The snapshot cannot tell the two apart, so those pages count as sparse pages.
      r_.not_assessed.push_back(fmt::format("trim: mimalloc gives back only whole free mimalloc pages, and the snapshot "
                                            "cannot tell them from the {} of empty 4 KiB pages inside used ones (counted "
                                            "with the sparse pages)",
                                            human_bytes(E_)));
      return;
    }
    const double recover = E_ - top_claimed_;
    if (!significant(recover, H_)) {
      r_.checked.push_back(fmt::format("trim: {} of empty resident heap pages{} (below 1 MiB or a tenth of heap_rss {})",
                                       human_bytes(recover), top_claimed_ > 0 ? " besides those below the top blocks" : "",
                                       human_bytes(H_)));
      return;
    }
    Finding x;
    x.kind = "trim";
    x.title = fmt::format("{} keeps {} of free pages resident", alloc_ == "unknown" ? "the allocator" : alloc_,
                          human_bytes(recover));
    x.evidence.push_back(fmt::format("{} resident heap pages hold no live byte: {} of heap_rss {}  {}",
                                     count(recover / page_), pct(recover, H_), human_bytes(H_), heap_src()));
    x.recover_bytes = recover;
    x.estimate = "empty resident heap pages";
    x.command = fmt::format("fragscope run --trim -- {}", cmd_);
    if (alloc_ == "glibc") {
      const json& mi = native_;
      if (mi.contains("fordblks"))
        x.evidence.push_back(fmt::format("glibc says: {} free in its arenas (fordblks), of which only {} at the top of the "
                                         "main heap could be trimmed automatically (keepcost)  [mallinfo2]",
                                         human_bytes(num(mi, "fordblks")), human_bytes(num(mi, "keepcost"))));
      x.remedy.push_back("call malloc_trim(0) after phases that free a lot: glibc then returns every whole free page "
                         "inside its heaps, not only the top");
      x.remedy.push_back("GLIBC_TUNABLES=glibc.malloc.trim_threshold only affects the top of the heap: it does not "
                         "return these pages");
    } else {
      x.remedy.push_back("ask the allocator to release free pages after phases that free a lot");
    }
    add(std::move(x), 1.0);
  }

  // jemalloc's dirty pages and tcmalloc's page heap: free memory their policies keep.
  void retention() {
    if (alloc_ != "jemalloc" && alloc_ != "tcmalloc") return;
    Finding x;
    x.kind = "allocator_retention";
    if (alloc_ == "jemalloc") {
      if (!native_.contains("resident")) {
        r_.not_assessed.push_back("allocator_retention: jemalloc's statistics were not read (" +
                                  str(native_, "error", "no stats") + ")");
        return;
      }
      const double dirty = std::max(0.0, num(native_, "resident") - num(native_, "active") - num(native_, "metadata"));
      if (!significant(dirty, std::max(H_, num(native_, "resident")))) {
        r_.checked.push_back(fmt::format("allocator_retention: jemalloc holds ~{} of dirty pages (resident {} − active "
                                         "{} − metadata {})",
                                         human_bytes(dirty), human_bytes(num(native_, "resident")),
                                         human_bytes(num(native_, "active")), human_bytes(num(native_, "metadata"))));
        return;
      }
      x.title = fmt::format("jemalloc keeps {} of freed pages resident (dirty pages awaiting decay)", human_bytes(dirty));
      x.evidence.push_back(fmt::format("resident {} − active {} − metadata {} ≈ {} of dirty pages  [jemalloc stats.*]",
                                       human_bytes(num(native_, "resident")), human_bytes(num(native_, "active")),
                                       human_bytes(num(native_, "metadata")), human_bytes(dirty)));
      x.recover_bytes = dirty;
      x.estimate = "jemalloc's resident − active − metadata";
      x.remedy.push_back("purge after phases that free a lot: mallctl(\"arena.4096.purge\", NULL, NULL, NULL, 0) "
                         "(Redis: MEMORY PURGE)");
      x.remedy.push_back(fmt::format("or decay faster:  MALLOC_CONF=dirty_decay_ms:1000,muzzy_decay_ms:0 {}", cmd_));
    } else {
      const double free_b = num(native_, "tcmalloc.pageheap_free_bytes");
      if (!significant(free_b, std::max(H_, num(native_, "generic.heap_size")))) {
        r_.checked.push_back(fmt::format("allocator_retention: tcmalloc's page heap holds {} free and mapped",
                                         human_bytes(free_b)));
        return;
      }
      x.title = fmt::format("tcmalloc's page heap keeps {} of free pages mapped and resident", human_bytes(free_b));
      x.evidence.push_back(fmt::format("tcmalloc.pageheap_free_bytes {} (heap_size {})  [MallocExtension]",
                                       human_bytes(free_b), human_bytes(num(native_, "generic.heap_size"))));
      x.recover_bytes = free_b;
      x.estimate = "tcmalloc.pageheap_free_bytes";
      x.remedy.push_back("call MallocExtension::instance()->ReleaseFreeMemory() after phases that free a lot");
      x.remedy.push_back(fmt::format("or release faster:  TCMALLOC_RELEASE_RATE=10 {}", cmd_));
    }
    x.command = fmt::format("fragscope run --trim -- {}", cmd_);
    add(std::move(x), 1.0);
  }

  // lifetime_mixing and sparse_pages, from the small classes' histories.
  void classes() {
    const Slabs slabs = jemalloc_slabs(native_);
    double sparse_free = alloc_ == "jemalloc" && slabs.present ? slabs.free_bytes : sparse_free_bytes(arr(h_, "page_occupancy"), page_);
    if (alloc_ == "mimalloc") sparse_free += E_;  // no trim returns them (see trim())
    std::vector<const ClassView*> mix, thin;
    double live_small = 0, live_mix = 0, live_thin = 0;
    for (const auto& c : classes_) {
      if (!small_class(c) || c.live_bytes <= 0) continue;
      live_small += c.live_bytes;
      if (thinned(c)) thin.push_back(&c), live_thin += c.live_bytes;
      else if (mixing(c)) mix.push_back(&c), live_mix += c.live_bytes;
    }
    const std::string sparse_src = alloc_ == "jemalloc" && slabs.present
                                       ? "[jemalloc bins: free regions of current slabs]"
                                       : "[heap.page_occupancy: resident pages at most half full]";
    if (!significant(sparse_free, H_)) {
      r_.checked.push_back(fmt::format("lifetime_mixing, sparse_pages: {} free on sparse pages {} (below 1 MiB or a tenth "
                                       "of heap_rss)",
                                       human_bytes(sparse_free), sparse_src));
      return;
    }
    // Shares of the sparse pages' free bytes, by the live bytes of the classes on them.
    const double mix_bytes = live_small > 0 ? sparse_free * live_mix / live_small : 0;
    const double thin_bytes = live_small > 0 ? sparse_free * live_thin / live_small : 0;
    if (!thin.empty() && significant(thin_bytes, H_)) sparse_pages(thin, thin_bytes, sparse_src, slabs);
    else r_.checked.push_back(fmt::format("sparse_pages: no class lost half of its peak while holding sparse pages "
                                          "({} of {} free on sparse pages)", human_bytes(thin_bytes), human_bytes(sparse_free)));
    if (!mix.empty() && significant(mix_bytes, H_)) lifetime_mixing(mix, mix_bytes, sparse_src);
    else r_.checked.push_back(fmt::format("lifetime_mixing: no class near its peak keeps blocks 8x older than its freed "
                                          "ones lived ({} of {} free on sparse pages)", human_bytes(mix_bytes), human_bytes(sparse_free)));
  }

  static std::string class_span(const std::vector<const ClassView*>& v) {
    double lo = v.front()->lo, hi = v.front()->hi;
    for (auto* c : v) lo = std::min(lo, c->lo), hi = std::max(hi, c->hi);
    return fmt::format("{}..{}", human_bytes(lo), human_bytes(hi));
  }

  void sparse_pages(const std::vector<const ClassView*>& thin, double bytes, const std::string& src, const Slabs& slabs) {
    double live = 0, peak = 0, frees = 0;
    for (auto* c : thin) live += c->live_bytes, peak += c->peak_live, frees += c->frees;
    Finding x;
    x.kind = "sparse_pages";
    x.title = fmt::format("Deletes thinned out the pages of {} objects: {} free among the survivors", class_span(thin),
                          human_bytes(bytes));
    x.evidence.push_back(fmt::format("these size classes hold {} live, down from peaks summing to {} ({} frees)  "
                                     "[size_classes.peak_live_requested]",
                                     human_bytes(live), human_bytes(peak), count(frees)));
    x.evidence.push_back(fmt::format("{} of free space on sparse pages, in these classes' share  {}",
                                     human_bytes(bytes), src));
    if (slabs.present && slabs.regs > 0)
      x.evidence.push_back(fmt::format("jemalloc's small-object slabs are {:.0f}% used ({} of {} regions)  [jemalloc bins]",
                                       100 * slabs.used_regs / slabs.regs, count(slabs.used_regs), count(slabs.regs)));
    x.evidence.push_back("the survivors are as old as the objects deleted around them: grouping by lifetime would not "
                         "separate them, and pools would only add partly empty chunks of their own");
    x.recover_bytes = bytes;
    x.estimate = src.find("jemalloc") != std::string::npos
                     ? "free regions of jemalloc's current slabs, in the share of these classes' live bytes"
                     : "free bytes on resident pages at most half full, in the share of these classes' live bytes";
    x.remedy.push_back("pools will not help here: the memory comes back only when the survivors move");
    x.remedy.push_back("compact: Redis `CONFIG SET activedefrag yes` (with Redis's own jemalloc), or a rebuild of the "
                       "structure (copy the survivors into a new one, free the old)");
    x.remedy.push_back("or restart / fail over to a replica that loads the data afresh (Redis: DEBUG RELOAD reloads it "
                       "in place)");
    add(std::move(x), 0.5);
  }

  void lifetime_mixing(std::vector<const ClassView*> mix, double bytes, const std::string& src) {
    std::sort(mix.begin(), mix.end(), [](auto* a, auto* b) { return a->live_bytes > b->live_bytes; });
    if (mix.size() > 6) mix.resize(6);
    std::sort(mix.begin(), mix.end(), [](auto* a, auto* b) { return a->lo < b->lo; });
    double blocks = 0, live = 0, freed = 0, age = 0, life = 0, peak = 0;
    for (auto* c : mix) {
      blocks += c->live_blocks, live += c->live_bytes, freed += c->freed_n, peak += c->peak_live;
    }
    age = joint_median(mix, true), life = joint_median(mix, false);
    // Sizes to pool: the most frequent request sizes inside these classes, rounded up to 16
    // (a pool size is 1..4096: malloc(0) is served from the 16-byte pool), and each class's top.
    auto pool_size = [](double s) { return (std::max<std::uint64_t>(whole(s), 1) + 15) / 16 * 16; };
    std::vector<std::uint64_t> sizes;
    for (const auto& t : arr(s_, "top_sizes"))
      for (auto* c : mix)
        if (num(t, "size") >= c->lo && num(t, "size") <= c->hi) sizes.push_back(pool_size(num(t, "size")));
    for (auto* c : mix)
      if (c->hi <= 4096) sizes.push_back(pool_size(c->hi));
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    if (sizes.size() > 16) sizes.resize(16);
    for (std::uint64_t s : sizes) r_.pool_sizes += (r_.pool_sizes.empty() ? "" : ",") + std::to_string(s);
    // Each pool keeps at least one 64 KiB chunk of its own, partly empty: counted against the gain.
    const double overhead = static_cast<double>(sizes.size()) * 64 * 1024;
    const double recover = bytes - overhead;
    if (!significant(recover, H_) || sizes.empty()) {
      r_.checked.push_back(fmt::format("lifetime_mixing: pools for these classes would recover {} less their own chunks "
                                       "({}): not worth it",
                                       human_bytes(bytes), human_bytes(overhead)));
      r_.pool_sizes.clear();
      return;
    }
    Finding x;
    x.kind = "lifetime_mixing";
    x.title = fmt::format("Long-lived {} blocks are scattered among short-lived ones of the same sizes", class_span(mix));
    x.evidence.push_back(fmt::format("{} live blocks ({}) in these classes, median age {}, while the blocks of these "
                                     "sizes freed so far lived {} (median of {} frees)  "
                                     "[size_classes, lifetimes]",
                                     count(blocks), human_bytes(live), life_range(age), life_range(life), count(freed)));
    x.evidence.push_back(fmt::format("the classes hold {} of their peak {}: a steady state, not a delete  "
                                     "[size_classes.peak_live_requested]",
                                     pct(live, peak), human_bytes(peak)));
    x.evidence.push_back(fmt::format("{} of free space on sparse pages, in these classes' share  {}",
                                     human_bytes(bytes), src));
    std::string origin;
    std::vector<NamedSite> sites;
    for (auto& site : named_sites(s_)) {
      if (site.live_blocks < 1 || site.origin() == nullptr) continue;
      const double avg = site.live_bytes / site.live_blocks;
      if (avg >= mix.front()->lo && avg <= mix.back()->hi) sites.push_back(std::move(site));
    }
    std::sort(sites.begin(), sites.end(), [](auto& a, auto& b) {
      return a.pinned_bytes != b.pinned_bytes ? a.pinned_bytes > b.pinned_bytes : a.live_bytes > b.live_bytes;
    });
    if (!sites.empty()) {
      origin = sites[0].origin()->label();
      x.evidence.push_back(fmt::format("{} of these long-lived blocks ({} live{}) were allocated at {}  [sites, sampled]",
                                       count(sites[0].live_blocks), human_bytes(sites[0].live_bytes),
                                       sites[0].pinned_bytes >= 1
                                           ? fmt::format(", holding pages with {} free", human_bytes(sites[0].pinned_bytes))
                                           : "",
                                       origin));
    }
    x.recover_bytes = recover;
    x.estimate = "free bytes of sparse pages in these classes' share, less one 64 KiB pool chunk per size";
    x.command = fmt::format("fragscope run --pool-sizes {} -- {}", r_.pool_sizes, cmd_);
    x.remedy.push_back(fmt::format(
        "in code: allocate {} from a fragscope::pools::ObjectPool<T> (or a FixedPool per size), so the long-lived "
        "blocks stop pinning pages of the general heap",
        origin.empty() ? "these long-lived objects" : "what " + origin + " allocates"));
    if (alloc_ == "glibc")
      x.remedy.push_back(fmt::format("or an allocator with per-size slabs:  fragscope compare --allocators "
                                     "glibc,jemalloc,mimalloc,pools --pool-sizes {} -- {}",
                                     r_.pool_sizes, cmd_));
    else if (alloc_ == "jemalloc")
      x.remedy.push_back("jemalloc already keeps sizes apart; keep lifetimes apart too: a dedicated arena for the "
                         "long-lived objects (arenas.create, then mallocx(size, MALLOCX_ARENA(a)))");
    x.remedy.push_back(fmt::format("measure it:  fragscope compare --allocators {},pools --pool-sizes {} -- {}",
                                   alloc_ == "unknown" ? "glibc" : alloc_, r_.pool_sizes, cmd_));
    add(std::move(x), 0.7);
  }

  void arenas() {
    if (alloc_ != "glibc") return;
    const json& mi = sub(native_, "malloc_info");
    if (!mi.contains("arenas")) {
      r_.not_assessed.push_back("arenas: the snapshot does not count glibc's arenas (malloc_info)");
      return;
    }
    const double n = num(mi, "arenas");
    const double threads = num(sub(sub(s_, "process"), "status"), "threads");
    const double own = num(sub(s_, "recording"), "own_threads", 1);  // older snapshots: the reporter
    const double app_threads = std::max(0.0, threads - own);
    const double recover = n > 2 ? F_ * (1 - 2 / n) : 0;
    if (n <= 2 || app_threads < 2 || !significant(recover, H_)) {
      r_.checked.push_back(fmt::format("arenas: glibc has {} arena{} for {} application thread{} ({} free resident)",
                                       whole(n), n == 1 ? "" : "s", whole(app_threads), app_threads == 1 ? "" : "s",
                                       human_bytes(F_)));
      return;
    }
    Finding x;
    x.kind = "arenas";
    x.title = fmt::format("{} glibc arenas for {} threads: free memory is spread where other threads cannot reuse it",
                          whole(n), whole(app_threads));
    x.evidence.push_back(fmt::format("malloc_info lists {} arenas; the process has {} threads besides fragscope's  "
                                     "[malloc_info, /proc/self/status]",
                                     whole(n), whole(app_threads)));
    x.evidence.push_back(fmt::format("{} free resident across {} heap segments  {}", human_bytes(F_),
                                     whole(num(h_, "segments")), heap_src()));
    x.recover_bytes = recover;
    x.estimate = "rough: free resident bytes beyond two arenas' even share";
    x.remedy.push_back("cap the arenas: mallopt(M_ARENA_MAX, 2) at start, or the tunable below");
    x.command = fmt::format("GLIBC_TUNABLES=glibc.malloc.arena_max=2 fragscope run -- {}", cmd_);
    add(std::move(x), 0.6);
  }

  void internal_frag() {
    const double slack = U_ - R_;
    if (!significant(slack, H_)) {
      r_.checked.push_back(fmt::format("internal_frag: {} of slack inside blocks (usable − requested)", human_bytes(slack)));
      return;
    }
    std::vector<const ClassView*> v;
    for (const auto& c : classes_)
      if (c.live_usable > c.live_bytes) v.push_back(&c);
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->live_usable - a->live_bytes > b->live_usable - b->live_bytes; });
    Finding x;
    x.kind = "internal_frag";
    x.title = fmt::format("Blocks are {} larger than requested: {} of slack inside them", pct(slack, R_), human_bytes(slack));
    for (std::size_t i = 0; i < v.size() && i < 3; ++i)
      x.evidence.push_back(fmt::format("requests of {}..{}: {} requested, {} usable  [size_classes]", human_bytes(v[i]->lo),
                                       human_bytes(v[i]->hi), human_bytes(v[i]->live_bytes), human_bytes(v[i]->live_usable)));
    x.recover_bytes = slack;
    x.estimate = "usable − requested bytes of live blocks";
    x.remedy.push_back(fmt::format("request sizes that match {}'s size classes, or shrink buffers that were grown "
                                   "(shrink_to_fit, realloc down)",
                                   alloc_));
    add(std::move(x), 0.4);
  }

  // Only the kernel's own signals: an order whose fragmentation index says an allocation would
  // fail for fragmentation (≥ 0.5, the kernel's extfrag_threshold), compaction stalls or
  // failures, THP faults that fell back, from the first snapshot to the latest.
  void kernel() {
    // The machine's state is the latest, whichever snapshot the heap is judged at.
    const json& sys = sub(f_.snapshots.back(), "system");
    if (arr(sys, "buddyinfo").empty() || !sys.contains("vmstat")) {
      r_.not_assessed.push_back("kernel: the snapshot has no system view (/proc/buddyinfo, /proc/vmstat)");
      return;
    }
    std::vector<std::string> failing;
    double worst_unusable = 0;
    for (const auto& z : arr(sys, "buddyinfo")) {
      const json& fi = arr(z, "fragmentation_index");
      for (std::size_t o = 1; o < fi.size() && o <= 10; ++o)
        if (num_at(fi, o, -1000) >= 500)
          failing.push_back(fmt::format("node {} {} order {} ({:.3f})", whole(num(z, "node")), str(z, "zone", "?"), o,
                                        num_at(fi, o) / 1000));
      worst_unusable = std::max(worst_unusable, num_at(arr(z, "unusable_index"), 9));
    }
    const json& first = sub(f_.snapshots.front(), "system");
    auto delta = [&](const char* k) { return std::max(0.0, num(sub(sys, "vmstat"), k) - num(sub(first, "vmstat"), k)); };
    const double stalls = delta("compact_stall"), fails = delta("compact_fail"), fallbacks = delta("thp_fault_fallback");
    if (failing.empty() && stalls == 0 && fails == 0 && fallbacks == 0) {
      r_.checked.push_back(fmt::format("kernel: no order's fragmentation index reaches 0.5, no compaction stall or "
                                       "failure and no THP fallback during the run (unusable free space index at order "
                                       "9 up to {:.3f}: not a kernel signal on its own)",
                                       worst_unusable / 1000));
      return;
    }
    Finding x;
    x.kind = "kernel";
    x.title = "The kernel reports fragmented free memory";
    if (!failing.empty()) {
      std::string list;
      for (std::size_t i = 0; i < failing.size() && i < 4; ++i) list += (i ? ", " : "") + failing[i];
      x.evidence.push_back(fmt::format("allocations of these orders would fail for fragmentation, not for lack of memory "
                                       "(fragmentation index ≥ 0.5): {}  [system.buddyinfo, mm/vmstat.c's formula]",
                                       list));
    }
    if (stalls + fails + fallbacks > 0)
      x.evidence.push_back(fmt::format("during the run: {:.0f} direct compaction stalls, {:.0f} compaction failures, {:.0f} "
                                       "THP faults fell back to small pages  [/proc/vmstat deltas]",
                                       stalls, fails, fallbacks));
    x.estimate = "none: the kernel's free memory is not the process's RSS";
    x.remedy.push_back("compact now, once:  echo 1 > /proc/sys/vm/compact_memory");
    x.remedy.push_back("compact in the background sooner:  sysctl vm.compaction_proactiveness=40 (default 20)");
    x.remedy.push_back("if huge page faults stall:  echo defer+madvise > /sys/kernel/mm/transparent_hugepage/defrag");
    add(std::move(x), 0);
  }

  const SnapshotFile& f_;
  const json& s_;
  std::string cmd_;
  AdviseResult& r_;
  const json& h_;
  const json& native_;
  bool heap_ = false;
  double H_ = 0, page_ = 4096, F_ = 0, R_ = 0, U_ = 0, E_ = 0, top_claimed_ = 0;
  bool sampled_ = false;
  std::string alloc_;
  std::vector<ClassView> classes_;
};

void allocator_lines(const json& s, AdviseResult& r) {
  const json& n = sub(sub(s, "allocator"), "native");
  if (r.allocator == "glibc" && n.contains("arena")) {
    const json& mi = sub(n, "malloc_info");
    r.allocator_says.push_back(fmt::format("glibc mallinfo2: {} in the main arena's heap (arena), {} in use (uordblks), {} "
                                           "free (fordblks), {} trimmable at the top (keepcost), {} in {} mmapped blocks{}",
                                           human_bytes(num(n, "arena")), human_bytes(num(n, "uordblks")),
                                           human_bytes(num(n, "fordblks")), human_bytes(num(n, "keepcost")),
                                           human_bytes(num(n, "hblkhd")), whole(num(n, "hblks")),
                                           mi.contains("arenas") ? fmt::format("; {} arena(s) [malloc_info]", whole(num(mi, "arenas")))
                                                                 : ""));
  } else if (r.allocator == "jemalloc" && n.contains("resident")) {
    r.allocator_says.push_back(fmt::format("jemalloc: allocated {}, active {}, resident {}, metadata {}, mapped {}, retained "
                                           "(virtual) {}  [stats.*]",
                                           human_bytes(num(n, "allocated")), human_bytes(num(n, "active")),
                                           human_bytes(num(n, "resident")), human_bytes(num(n, "metadata")),
                                           human_bytes(num(n, "mapped")), human_bytes(num(n, "retained"))));
    const Slabs slabs = jemalloc_slabs(n);
    if (slabs.present && slabs.regs > 0) {
      std::vector<const json*> bins;
      for (const auto& b : arr(n, "bins")) bins.push_back(&b);
      auto free_of = [](const json* b) {
        return std::max(0.0, num(*b, "curslabs") * num(*b, "nregs") - num(*b, "curregs")) * num(*b, "size");
      };
      std::sort(bins.begin(), bins.end(), [&](auto* a, auto* b) { return free_of(a) > free_of(b); });
      std::string worst;
      for (std::size_t i = 0; i < bins.size() && i < 3 && free_of(bins[i]) > 0; ++i)
        worst += fmt::format("{}{} B bins {:.0f}% used ({} free)", i ? ", " : "", whole(num(*bins[i], "size")),
                             100 * num(*bins[i], "utilization"), human_bytes(free_of(bins[i])));
      r.allocator_says.push_back(fmt::format("jemalloc bin utilisation {:.0f}% over all small bins ({} free in slabs){}{}  "
                                             "[stats.arenas.<all>.bins]",
                                             100 * slabs.used_regs / slabs.regs, human_bytes(slabs.free_bytes),
                                             worst.empty() ? "" : "; most free: ", worst));
    }
  } else if (r.allocator == "tcmalloc" && n.contains("generic.heap_size")) {
    r.allocator_says.push_back(fmt::format("tcmalloc: allocated {}, heap {}, page heap free {}, unmapped {}  [MallocExtension]",
                                           human_bytes(num(n, "generic.current_allocated_bytes")),
                                           human_bytes(num(n, "generic.heap_size")),
                                           human_bytes(num(n, "tcmalloc.pageheap_free_bytes")),
                                           human_bytes(num(n, "tcmalloc.pageheap_unmapped_bytes"))));
  } else {
    r.allocator_says.push_back(fmt::format("{}: {}", r.allocator, str(n, "error", "no statistics collected")));
  }
}

}  // namespace

std::vector<std::string> coverage_gaps(const json& s) {
  std::vector<std::string> out;
  const json& c = sub(s, "coverage");
  if (const std::string ahead = str(c, "malloc_ahead"); !ahead.empty())
    out.push_back(fmt::format("{} answers malloc ahead of libfragscope.so (LD_PRELOAD order): the program's "
                              "allocations do not reach fragscope's hooks; put libfragscope.so first (fragscope run does)",
                              ahead));
  // Frees of blocks the hooks never saw allocated: beyond a small share (blocks from before the
  // shim started, a library's own calls), allocations reach the allocator by another way.
  const json& calls = sub(s, "calls");
  const double untracked = num(sub(s, "anomalies"), "untracked_frees");
  const double frees = num(calls, "free") + num(calls, "operator_delete") + untracked;
  if (untracked >= kUntrackedFreesFloor && untracked > kUntrackedFreesShare * frees)
    out.push_back(fmt::format("{} frees ({:.1f}% of all) were of blocks fragscope never saw allocated: allocations "
                              "reach the allocator by a way the hooks do not see (an allocator's own entry points, "
                              "or a library linked to it directly), so live bytes are under-counted",
                              whole(untracked), 100.0 * untracked / frees));
  return out;
}

std::string life_range(double lo) {
  if (!(lo > 0)) return "< 1 clock tick (freed before the hooks' clock moved)";
  return fmt::format("{}–{}", human_ns(lo), human_ns(2 * lo));
}

AdviseResult advise(const SnapshotFile& file, const std::string& command) {
  AdviseResult r;
  r.moment = choose_moment(file);
  if (r.moment.judged == Moment::npos) {
    r.heap_line = "no snapshot to read";
    return r;
  }
  const json& s = file.snapshots[r.moment.judged];
  r.judged_seq = whole(num(s, "seq"));
  r.judged_uptime_ns = whole(num(s, "uptime_ns"));
  r.subject = fmt::format("{} (pid {})", program_label(s), whole(num(s, "pid")));
  r.allocator = str(sub(s, "allocator"), "name", "unknown");
  const json& h = sub(s, "heap");
  const double live = live_of(s);
  if (has_heap(s)) {
    r.heap_line = fmt::format("heap_rss {} for {} live: rss_over_live {:.2f}x, free_resident {}, {} empty and {} pinned "
                              "resident pages, {} in holes",
                              human_bytes(num(h, "heap_rss")), human_bytes(live), num(h, "rss_over_live"),
                              human_bytes(num(h, "free_resident")), count(num(h, "empty_resident_pages")),
                              count(num(h, "pinned_pages")), human_bytes(num(sub(h, "holes"), "total")));
  } else {
    r.heap_line = fmt::format("no heap analysis in this snapshot ({})", str(h, "error", "not recorded"));
  }
  // Against the peak and the trend.
  const Moment& m = r.moment;
  const json& pl = file.snapshots[m.peak_live];
  std::string trend = fmt::format("live {} now, peak {} at {}", human_bytes(live), human_bytes(live_of(pl)),
                                  human_ns(num(pl, "uptime_ns")));
  if (m.peak_rss != Moment::npos) {
    const json& pr = file.snapshots[m.peak_rss];
    trend += fmt::format("; heap_rss {} now, peak {} at {}", human_bytes(num(h, "heap_rss")),
                         human_bytes(num(sub(pr, "heap"), "heap_rss")), human_ns(num(pr, "uptime_ns")));
  }
  // rss_over_live over the last snapshots up to the judged one (at most 5).
  std::vector<double> ratios;
  for (std::size_t i = 0; i <= m.judged; ++i)
    if (has_heap(file.snapshots[i])) ratios.push_back(num(sub(file.snapshots[i], "heap"), "rss_over_live"));
  if (ratios.size() >= 3) {
    const std::size_t k = std::min<std::size_t>(5, ratios.size());
    const double a = ratios[ratios.size() - k], b = ratios.back();
    trend += fmt::format("; rss_over_live {:.2f}x → {:.2f}x over the last {} snapshots ({})", a, b, k,
                         b > a * 1.1 ? "rising" : b < a / 1.1 ? "falling" : "flat");
  }
  r.trend = trend;
  allocator_lines(s, r);
  r.partial = coverage_gaps(s);
  for (const auto& g : r.partial) r.not_assessed.push_back("the allocations fragscope did not see: " + g);
  Rules(file, s, command, r).run();
  return r;
}

std::string render_advice(const AdviseResult& r) {
  std::string out;
  auto o = std::back_inserter(out);
  fmt::format_to(o, "fragscope advise: {}\n  judged: {}\n  {}\n  {}\n", r.subject.empty() ? "?" : r.subject, r.moment.why,
                 r.heap_line, r.trend);
  for (const auto& a : r.allocator_says) fmt::format_to(o, "  {}\n", a);
  for (const auto& g : r.partial) fmt::format_to(o, "  PARTIAL PICTURE: {}\n", g);
  if (r.findings.empty())
    fmt::format_to(o, "\n  Nothing to fix: none of the mechanisms below holds at the judged snapshot.\n");
  for (std::size_t i = 0; i < r.findings.size(); ++i) {
    const Finding& x = r.findings[i];
    fmt::format_to(o, "\n{}. [{}] {}\n", i + 1, x.kind, x.title);
    for (const auto& e : x.evidence) fmt::format_to(o, "   evidence: {}\n", e);
    if (x.recover_bytes > 0) fmt::format_to(o, "   would recover: ~{} ({})\n", human_bytes(x.recover_bytes), x.estimate);
    for (const auto& a : x.remedy) fmt::format_to(o, "   - {}\n", a);
    if (!x.command.empty()) fmt::format_to(o, "   try it without relinking:  {}\n", x.command);
  }
  if (!r.checked.empty()) fmt::format_to(o, "\n  checked and found fine:\n");
  for (const auto& c : r.checked) fmt::format_to(o, "    {}\n", c);
  for (const auto& n : r.not_assessed) fmt::format_to(o, "  not assessed: {}\n", n);
  return out;
}

json advice_json(const AdviseResult& r) {
  json j = {{"schema", "fragscope.advice"}, {"version", 1}, {"subject", r.subject}, {"allocator", r.allocator}};
  j["moment"] = {{"why", r.moment.why}, {"exit_skipped", r.moment.exit_skipped}, {"exited", r.moment.exited}};
  if (r.moment.judged != Moment::npos) {
    j["moment"]["index"] = r.moment.judged;
    j["moment"]["seq"] = r.judged_seq;
    j["moment"]["uptime_ns"] = r.judged_uptime_ns;
  }
  j["heap"] = r.heap_line;
  j["trend"] = r.trend;
  j["allocator_says"] = r.allocator_says;
  j["nothing_to_fix"] = r.findings.empty();
  j["complete"] = r.partial.empty();
  j["partial"] = r.partial;
  j["findings"] = json::array();
  for (const auto& x : r.findings) {
    json fj = {{"kind", x.kind}, {"title", x.title}, {"evidence", x.evidence}, {"recover_bytes", std::llround(x.recover_bytes)},
               {"estimate", x.estimate}, {"remedy", x.remedy}};
    if (!x.command.empty()) fj["command"] = x.command;
    j["findings"].push_back(std::move(fj));
  }
  j["checked"] = r.checked;
  j["not_assessed"] = r.not_assessed;
  if (!r.pool_sizes.empty()) j["pool_sizes"] = r.pool_sizes;
  return j;
}

}  // namespace fragscope::report
