// libFuzzer target: parse_buddyinfo (/proc/buddyinfo), and unusable_free_index and
// fragmentation_index for every zone and every order. The indices are checked against their
// documented ranges and against the mm/vmstat.c formulas computed here in exact (128-bit)
// arithmetic.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.hpp"
#include "proc_parse.hpp"

namespace proc = fragscope::proc;

namespace {

__extension__ typedef unsigned __int128 u128;

// mm/vmstat.c fill_contig_page_info(), __fragmentation_index() and unusable_free_index(),
// without overflow.
struct Exact {
  u128 free_pages = 0, blocks_total = 0, blocks_suitable = 0;
};
Exact exact(const proc::BuddyZone& z, int order) {
  Exact e;
  for (int o = 0; o < z.orders; ++o) {
    e.blocks_total += z.free[o];
    e.free_pages += u128{z.free[o]} << o;
    if (o >= order) e.blocks_suitable += u128{z.free[o]} << (o - order);
  }
  return e;
}
int exact_unusable(const proc::BuddyZone& z, int order) {
  const Exact e = exact(z, order);
  if (e.free_pages == 0) return 1000;
  return static_cast<int>((e.free_pages - (e.blocks_suitable << order)) * 1000 / e.free_pages);
}
int exact_fragmentation(const proc::BuddyZone& z, int order) {
  const Exact e = exact(z, order);
  if (order >= z.orders || e.blocks_total == 0) return 0;
  if (e.blocks_suitable != 0) return -1000;
  const u128 requested = u128{1} << order;
  return 1000 - static_cast<int>((1000 + e.free_pages * 1000 / requested) / e.blocks_total);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  proc::ParseError err;
  const proc::BuddyInfo b = proc::parse_buddyinfo(text, &err);
  proc::ParseError shifted_err;
  const proc::BuddyInfo shifted = proc::parse_buddyinfo("\n" + std::string(text), &shifted_err);
  FUZZ_CHECK(err.line >= 0 && err.line <= fragscope::fuzz::count_lines(text));
  FUZZ_CHECK(shifted_err.line == (err ? err.line + 1 : 0));
  FUZZ_CHECK(shifted.zones == b.zones);
  FUZZ_CHECK(b.zones >= 0 && b.zones <= proc::kMaxZones);
  // Every zone comes from its own "Node N, zone NAME c0 c1 ..." line.
  FUZZ_CHECK(b.zones <= fragscope::fuzz::count_lines(text));
  for (int zi = 0; zi < b.zones; ++zi) {
    const proc::BuddyZone& z = b.zone[zi];
    FUZZ_CHECK(z.orders >= 1 && z.orders <= proc::kMaxOrders);
    // NUL-terminated (a NUL byte in the text's name may end it early: a C string all the same).
    const std::size_t name_len = strnlen(z.zone, sizeof z.zone);
    FUZZ_CHECK(name_len < sizeof z.zone);
    FUZZ_CHECK(std::string_view(z.zone, name_len).find_first_of(" \t\n") == std::string_view::npos);
    FUZZ_CHECK(text.find(std::string_view(z.zone, name_len)) != std::string_view::npos);
    FUZZ_CHECK(std::memcmp(&shifted.zone[zi], &z, sizeof z) == 0);
    for (int k = z.orders; k < proc::kMaxOrders; ++k) FUZZ_CHECK(z.free[k] == 0);
    for (int order = 0; order < proc::kMaxOrders; ++order) {
      const int unusable = proc::unusable_free_index(z, order);
      const int frag = proc::fragmentation_index(z, order);
      // Documented: unusable free space index 0..1000 (1000 when nothing is free); fragmentation
      // index -1000 when the allocation would succeed, otherwise at most 1000 and, by the
      // formula, at least -500 (a single free block of half the size).
      FUZZ_CHECK(unusable >= 0 && unusable <= 1000);
      FUZZ_CHECK(frag == -1000 || (frag >= -500 && frag <= 1000));
      FUZZ_CHECK(unusable == exact_unusable(z, order));
      FUZZ_CHECK(frag == exact_fragmentation(z, order));
      bool any_free = false, suitable = false;
      for (int o = 0; o < z.orders; ++o) {
        any_free |= z.free[o] != 0;
        suitable |= o >= order && z.free[o] != 0;
      }
      if (!any_free) FUZZ_CHECK(unusable == 1000);
      if (order < z.orders && suitable) FUZZ_CHECK(frag == -1000);
      if (order == 0 && any_free) FUZZ_CHECK(unusable == 0);
    }
  }
  return 0;
}
