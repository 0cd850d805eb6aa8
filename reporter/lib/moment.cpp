// Choosing the snapshot to judge and the rows to show over time (see moment.hpp).
#include "moment.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "json_access.hpp"
#include "text_report.hpp"

namespace fragscope::report {

namespace {
constexpr double kTeardownOverlapNs = 100e6;
}  // namespace

using nlohmann::json;

double live_of(const json& s) { return num(sub(s, "totals"), "live_requested"); }

bool has_heap(const json& s) { return sub(s, "heap").contains("heap_rss"); }

Moment choose_moment(const SnapshotFile& f) {
  Moment m;
  const auto& v = f.snapshots;
  if (v.empty()) {
    m.why = "no snapshot";
    return m;
  }
  m.latest = v.size() - 1;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (flag(v[i], "final")) m.exited = true;
    if (m.peak_live == Moment::npos || live_of(v[i]) > live_of(v[m.peak_live])) m.peak_live = i;
    if (has_heap(v[i]) && (m.peak_rss == Moment::npos ||
                           num(sub(v[i], "heap"), "heap_rss") > num(sub(v[m.peak_rss], "heap"), "heap_rss")))
      m.peak_rss = i;
  }
  std::vector<std::size_t> analysed;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (has_heap(v[i])) analysed.push_back(i);
  if (analysed.empty()) {
    m.judged = m.latest;
    m.why = "the latest snapshot; no snapshot of this file has a heap analysis";
    return m;
  }
  m.judged = analysed.back();
  const json& j = v[m.judged];
  const std::string when = human_ns(num(j, "uptime_ns"));
  if (flag(j, "final") && analysed.size() > 1) {
    // The exit snapshot is written after the program's exit handlers and static destructors
    // ran: whatever they freed (a little or everything) is gone from it, and so is the layout
    // the running program had. The last periodic snapshot is the running program's last state.
    // A teardown can also have begun before the last periodic snapshot (a program that frees its
    // data before it returns from main; CPython's finalisation): periodic snapshots at the very
    // end, each holding under 95% of the live bytes of the one before, are part of it (a
    // snapshot taken while CPython tore down held 75% and had 78.6 MiB of empty pages against
    // 45 the moment before). A delete followed by a steady state is not: the walk stops at the
    // first snapshot that did not fall.
    // A periodic snapshot taken within kTeardownOverlapNs of the exit snapshot may have been
    // taken while the teardown began: its allocator figures, read after the live table, can
    // already show the frees on the way out (tcmalloc's page heap: 20.3 MiB free against 13.8
    // in the same program judged 0.6 s earlier). The one before it is judged.
    std::size_t k = analysed.size() - 2;
    const double exit_at = num(j, "uptime_ns");
    while (k > 0 && exit_at - num(v[analysed[k]], "uptime_ns") < kTeardownOverlapNs) --k;
    while (k > 0 && live_of(v[analysed[k]]) < 0.95 * live_of(v[analysed[k - 1]])) --k;
    const std::size_t before = analysed[k];
    const bool walked = k != analysed.size() - 2;
    m.exit_skipped = true;
    m.judged = before;
    m.why = fmt::format("snapshot {} at {}, the last taken while the program ran{}: the exit snapshot (at {}, {} live "
                        "against {}) comes after its exit handlers and destructors freed what they free",
                        whole(num(v[before], "seq")), human_ns(num(v[before], "uptime_ns")),
                        walked ? " before its live data fell on the way out" : "", when, human_bytes(live_of(j)),
                        human_bytes(live_of(v[before])));
    return m;
  }
  if (flag(j, "final"))
    m.why = fmt::format("the exit snapshot ({} at {}), the only one with a heap analysis: it comes after the program's "
                        "exit handlers and destructors ran",
                        whole(num(j, "seq")), when);
  else
    m.why = fmt::format("the latest snapshot ({} at {}): the process was still running when the file was read, or was "
                        "killed",
                        whole(num(j, "seq")), when);
  return m;
}

std::vector<std::size_t> timeline_rows(const SnapshotFile& f, const Moment& m, std::size_t max_rows) {
  const std::size_t n = f.snapshots.size();
  if (n == 0 || max_rows == 0) return {};
  std::set<std::size_t> rows{0, n - 1};
  for (std::size_t i : {m.peak_live, m.peak_rss, m.judged})
    if (i < n) rows.insert(i);
  // The largest rise of rss_over_live between two consecutive snapshots with a heap analysis.
  double best = 0;
  std::size_t rise_from = Moment::npos, rise_to = Moment::npos, prev = Moment::npos;
  for (std::size_t i = 0; i < n; ++i) {
    if (!has_heap(f.snapshots[i])) continue;
    if (prev != Moment::npos) {
      const double d = num(sub(f.snapshots[i], "heap"), "rss_over_live") - num(sub(f.snapshots[prev], "heap"), "rss_over_live");
      if (d > best) best = d, rise_from = prev, rise_to = i;
    }
    prev = i;
  }
  if (rise_to != Moment::npos) rows.insert(rise_from), rows.insert(rise_to);
  // The rest evenly spread over the run, then the gaps filled, while there is room. The fixed
  // rows (at most 7) are all kept, even beyond max_rows.
  const std::size_t slots = std::min(max_rows, n);
  for (std::size_t r = 0; r < slots && rows.size() < slots; ++r) rows.insert(slots == 1 ? 0 : r * (n - 1) / (slots - 1));
  for (std::size_t i = 0; i < n && rows.size() < slots; ++i) rows.insert(i);
  std::vector<std::size_t> out(rows.begin(), rows.end());
  return out;
}

}  // namespace fragscope::report
