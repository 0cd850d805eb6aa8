// The live table's side list and fork locking (the hash tables are templates in live_table.hpp).
#include "live_table.hpp"

namespace fragscope::core {

InsertResult LiveTable::side_insert(const Block& blk, Block* replaced) noexcept {
  unsigned n = side_count_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    if (side_[i].addr == blk.addr) {
      if (replaced) *replaced = Block{side_[i].addr, side_[i].size, side_[i].time, side_[i].sampled};
      side_[i] = SideEntry{blk.addr, blk.size, blk.time, blk.sampled};
      return InsertResult::kReplaced;
    }
  }
  if (n == kSideCap) return InsertResult::kDropped;
  side_[n] = SideEntry{blk.addr, blk.size, blk.time, blk.sampled};
  side_count_.store(n + 1, std::memory_order_relaxed);
  return InsertResult::kInserted;
}

bool LiveTable::side_remove(std::uintptr_t addr, Block* out) noexcept {
  unsigned n = side_count_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    if (side_[i].addr == addr) {
      if (out) *out = Block{side_[i].addr, side_[i].size, side_[i].time, side_[i].sampled};
      side_[i] = side_[n - 1];
      side_count_.store(n - 1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

// Lock order: compact table → wide table → side list.
void LiveTable::lock_all() noexcept {
  compact_.lock_all();
  wide_.lock_all();
  side_lock_.lock();
}

void LiveTable::unlock_all() noexcept {
  side_lock_.unlock();
  wide_.unlock_all();
  compact_.unlock_all();
}

}  // namespace fragscope::core
