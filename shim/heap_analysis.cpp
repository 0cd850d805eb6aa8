// The heap layout analysis of a snapshot, its bounded scratch, and the live table's rebuild
// (see reporter_parts.hpp).
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "proc_parse.hpp"
#include "reporter_parts.hpp"
#include "runtime.hpp"

namespace fragscope::shim::rep {

Scratch g_ranges;
core::HeapLayout g_layout;
core::HeapEstimate g_estimate;
std::uint64_t g_compactions = 0;

namespace {

// The rest of the analysis's scratch: /proc/self/maps, the segments, the page arrays, the
// pinned bytes by site.
Scratch g_maps, g_segs, g_pages, g_pinned;
std::size_t g_npinned = 0;  // site ids in g_pinned (those given out when the analysis began)

bool mincore_residency(std::uintptr_t start, std::size_t pages, unsigned char* out, void*) {
  return mincore(reinterpret_cast<void*>(start), pages * core::page_size(), out) == 0;
}

// Sampled blocks (site UINT32_MAX, marked by the walk) get their sites, outside any lock of the walk.
void name_sites(core::LiveRange* ranges, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    core::LiveRange& r = ranges[i];
    if (r.site != UINT32_MAX) continue;
    r.site = g_rec.sites.site_of(r.addr);
    r.weight = static_cast<float>(g_rec.sites.weight_of(r.size));
  }
}

}  // namespace

// The most live blocks the layout analysis holds at once (g_ranges, 24 B each). Full mode: 3% of
// the process's resident memory (at least Config::kAutoMinScratch), or FRAGSCOPE_SNAPSHOT_SCRATCH;
// a table with more blocks is analysed in batches by address, one walk of the table each, so that
// a snapshot never swings the process's memory by more than that. Sampled mode's table is the
// sample (about 1 B per block of the program): one batch.
std::size_t layout_batch_cap(std::size_t entries) {
  const std::size_t all = entries + entries / 4 + 1024;  // room for blocks added during the walk
  if (g_rec.regions.on()) return all;
  std::uint64_t bytes = g_cfg.snapshot_scratch;
  if (bytes == 0) {
    const long long rss = resident_bytes();
    bytes = std::max<std::uint64_t>(core::Config::kAutoMinScratch, rss > 0 ? static_cast<std::uint64_t>(rss) * 3 / 100 : 0);
  }
  return std::min<std::size_t>(all, bytes / sizeof(core::LiveRange));
}

// The heap segments: private, writable, anonymous mappings ([heap], unnamed, or named by someone
// other than us) that hold at least one live block. `ranges` holds the first batch of live
// blocks (sorted, `n` of them, at most `cap`); when `more`, the table holds more above them, read
// in further batches of `cap`. Fills g_layout and the scratch figures of `m`; returns an error or
// nullptr.
const char* analyse_heap(core::LiveRange* ranges, std::size_t n, std::size_t cap, bool more,
                         const core::AddressSample* windows, std::size_t entries, const core::SnapshotTotals& totals,
                         core::SnapshotMeta& m) {
  long len = read_proc("maps", g_maps);
  if (len < 0) return "cannot read /proc/self/maps";
  const std::size_t page = core::page_size();
  constexpr std::uint64_t kMaxSegmentBytes = std::uint64_t{16} << 30;
  std::size_t nsegs = 0, max_pages = 0, skipped = 0;
  auto seg_cap = [&] { return g_segs.cap / sizeof(core::Segment); };
  bool out_of_memory = false;
  proc::for_each_mapping(std::string_view(static_cast<const char*>(g_maps.p), static_cast<std::size_t>(len)),
                         [&](const proc::Mapping& m) {
                           if (!m.read || !m.write || m.shared || m.inode != 0) return;
                           bool anon = m.name.empty() || m.name == "[heap]" ||
                                       (m.name.substr(0, 6) == "[anon:" && m.name.substr(0, 16) != "[anon:fragscope:");
                           if (!anon) return;
                           // With every block at hand, a segment without one is left out here; else
                           // the analysis counts only the segments its blocks land in.
                           auto first_batch_has = [&] {
                             auto it = std::lower_bound(ranges, ranges + n, m.start, [](const core::LiveRange& r, std::uintptr_t a) {
                               return r.addr < a;
                             });
                             return it != ranges + n && it->addr < m.end;
                           };
                           if (!more && !first_batch_has()) return;
                           // Bound our scratch memory (5 bytes per page): a larger sparse mapping is
                           // skipped, and counted when it is known to hold a live block (in batches:
                           // when the sample of addresses has one there).
                           if (m.end - m.start > kMaxSegmentBytes) {
                             if (!more || first_batch_has() || (windows != nullptr && windows->any_in(m.start, m.end))) ++skipped;
                             return;
                           }
                           if (nsegs == seg_cap() && !g_segs.ensure((nsegs + 256) * sizeof(core::Segment), "heap-segments")) {
                             out_of_memory = true;
                             return;
                           }
                           static_cast<core::Segment*>(g_segs.p)[nsegs++] = core::Segment{m.start, m.end};
                           max_pages = std::max<std::size_t>(max_pages, (m.end - m.start) / page);
                         });
  g_segs.touched(nsegs * sizeof(core::Segment));
  // Sampled mode looks at one region at a time: its scratch does not grow with the heap.
  const bool sampled = g_rec.regions.on();
  const std::size_t scratch =
      sampled ? core::estimate_scratch_bytes(g_rec.regions, page) : core::heap_scratch_bytes(max_pages) + 16;
  if (out_of_memory || !g_pages.ensure(scratch, "heap-pages"))
    return "out of memory for the heap layout analysis";
  if (sampled) g_pages.touched(scratch);
  // Who pins the pinned pages, by site id (only the ids given out so far).
  double* pinned = nullptr;
  std::size_t nsites = 0;
  g_npinned = 0;
  const std::size_t site_ids = g_rec.sites.enabled() ? g_rec.sites.id_bound() : 0;
  if (site_ids != 0 && g_pinned.ensure(sizeof(double) * site_ids, "pinned-by-site")) {
    pinned = static_cast<double*>(g_pinned.p);
    nsites = site_ids;
    std::memset(pinned, 0, sizeof(double) * nsites);
    g_npinned = nsites;
    g_pinned.touched(sizeof(double) * nsites);
  }
  name_sites(ranges, n);
  m.layout_batches = windows != nullptr ? 0 : 1;
  if (sampled) {
    // Usable per requested byte of the live data: turns live bytes on a page into usable ones.
    // From the estimated totals (each sampled block weighted as it counts there), not from the
    // sampled blocks' own sums: those weigh every large block (all kept) as much as a sampled
    // small one, and a large block's usable size is its request (Redis: 1.017 against 1.10,
    // which left free_resident 2-3% high).
    const double usable_live = static_cast<double>(totals.usable_alloc - totals.usable_free);
    const double ratio =
        totals.table_requested != 0 ? std::max(1.0, usable_live / static_cast<double>(totals.table_requested)) : 1.0;
    core::estimate_heap(ranges, n, static_cast<const core::Segment*>(g_segs.p), nsegs, page, g_rec.regions, ratio,
                        mincore_residency, nullptr, g_pages.p, g_estimate, pinned, nsites);
    g_layout = g_estimate.layout;
    g_layout.segments_skipped = skipped;
    g_estimate.layout.segments_skipped = skipped;
    return nullptr;  // no top_pinned_by to age
  }
  core::HeapAnalyzer analyzer(static_cast<const core::Segment*>(g_segs.p), nsegs, page, mincore_residency, nullptr,
                              g_pages.p, g_layout, pinned, nsites);
  analyzer.add(ranges, n);
  // The next batches: one walk each, for the blocks of a window of the address space — cut from
  // the sample of addresses (`windows`) so that each holds about 4/5 of a batch, or (one batch
  // that overflowed) from above its last block. A window that holds more than a batch keeps its
  // lowest blocks, and the next starts above them. Blocks allocated meanwhile below the window
  // under way are not seen: the figures are those of the heap as the walks went through it (its
  // pages' residency is read segment by segment as the analysis reaches it in any case).
  std::uintptr_t lo = windows != nullptr ? 0 : n != 0 ? ranges[n - 1].addr + 1 : 0;
  while (more) {
    const std::uintptr_t hi = windows != nullptr ? windows->window_end(lo, cap - cap / 5, entries) : UINTPTR_MAX;
    core::WindowSelector batch(ranges, cap, lo, hi);
    g_applier.begin_shared();
    g_rec.table.walk(core::now_ticks(), [&](const core::Block& b, std::uint64_t) {
      batch.offer(core::LiveRange{b.addr, b.size, b.sampled ? UINT32_MAX : 0u, 0.0f});
    });
    g_applier.end_shared();
    n = batch.finish();
    g_ranges.touched(n * sizeof(core::LiveRange));
    name_sites(ranges, n);
    analyzer.add(ranges, n);
    ++m.layout_batches;
    lo = batch.next_lo();
    more = lo != 0;
  }
  analyzer.finish();
  g_pages.touched(core::heap_scratch_bytes(analyzer.largest_opened_pages()) + 16);  // the segments with blocks
  g_layout.segments_skipped = skipped;
  // Ages of the top-pinning blocks, from the live table (still live unless freed meanwhile).
  const std::uint64_t now = core::now_ticks();
  g_applier.begin_shared();
  for (unsigned i = 0; i < g_layout.ntop_pinned; ++i) {
    core::Block b;
    if (g_rec.table.find(g_layout.top_pinned[i].addr, now, &b)) g_layout.top_pinned[i].age = now - b.time;
  }
  g_applier.end_shared();
  return nullptr;
}

const double* pinned_by_site(std::size_t* n) {
  *n = g_npinned;
  return g_npinned != 0 ? static_cast<const double*>(g_pinned.p) : nullptr;
}

// The analysis scratch stays mapped but not resident between snapshots.
void release_scratch() {
  for (Scratch* sc : {&g_ranges, &g_pages, &g_pinned, &g_maps, &g_proctext, &g_segs}) {
    if (sc->p != nullptr) madvise(sc->p, sc->cap, MADV_DONTNEED);
    sc->used = 0;
  }
}

// What the scratch memory of this snapshot touched so far.
std::uint64_t scratch_touched() {
  std::uint64_t total = 0;
  for (const Scratch* sc : {&g_ranges, &g_pages, &g_pinned, &g_maps, &g_proctext, &g_segs}) total += sc->used;
  return total;
}

// The live table after the program freed most of its blocks: rebuilt in as little memory as the
// blocks left need (HashTable::compact), while the hooks wait at the start of their recording as
// they do for a final snapshot. Only when it takes more than kCompactPerBlock bytes per entry and
// kCompactFloor in all. A rebuild leaves it at about 20-25 B per entry, so the next one comes only
// after a third or more of the entries went: its cost (about 0.1 us per entry left) is paid for by
// the frees before it, even in a program whose live blocks go up and down. A rebuild that could
// not get under the bound (entries that need more, such as many large blocks in the wide table)
// is not tried again until a third of its entries went. Only with membarrier, and when the
// freeze saw every hook leave the table. Requires g_mu.
constexpr std::size_t kCompactPerBlock = 32, kCompactFloor = std::size_t{1} << 20;
std::size_t g_compact_stuck_at = 0;  // entries at a rebuild that stayed above the bound, else 0
void maybe_compact_table() {
  if (!g_fence) return;  // without the fence a hook's flag may not be seen: nothing may be unmapped
  const std::size_t bytes = g_rec.table.memory_bytes(), entries = g_rec.table.entries();
  if (bytes < kCompactFloor || bytes <= kCompactPerBlock * entries) return;
  if (g_compact_stuck_at != 0 && entries * 3 > g_compact_stuck_at * 2) return;
  bool quiet = false;
  const Mode frozen = freeze_recording(&quiet);
  // Only when no hook can be inside the table: one that outlived the wait may be, and the
  // rebuild unmaps the old buckets.
  if (quiet) {
    g_applier.drain();
    if (g_rec.table.compact()) {
      ++g_compactions;
      const std::size_t left = g_rec.table.entries();
      g_compact_stuck_at = g_rec.table.memory_bytes() > kCompactPerBlock * left ? left : 0;
    }
  }
  thaw_recording(frozen);
}

}  // namespace fragscope::shim::rep
