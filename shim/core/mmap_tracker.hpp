// The application's live anonymous mappings (from its own mmap/munmap/mremap calls), as a
// sorted set of disjoint [start, end) ranges in our own memory. mmap calls are rare and cost a
// syscall each, so a lock and a sorted array are cheap enough; partial munmaps split ranges.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spinlock.hpp"

namespace fragscope::core {

class MmapTracker {
 public:
  /// Records [addr, addr+len) as a live anonymous mapping (replacing any overlap: MAP_FIXED).
  void add(std::uintptr_t addr, std::size_t len) noexcept;
  /// Forgets whatever part of [addr, addr+len) is tracked (munmap, or an overlapping MAP_FIXED).
  void remove(std::uintptr_t addr, std::size_t len) noexcept;
  /// True if [addr, addr+len) overlaps a tracked range.
  bool overlaps(std::uintptr_t addr, std::size_t len) noexcept;
  std::size_t count() noexcept;
  std::size_t bytes() noexcept;
  /// Ranges that could not be recorded because our memory ran out.
  std::size_t dropped() const noexcept { return dropped_; }
  std::size_t memory_bytes() const noexcept { return cap_ * sizeof(Range); }
  /// fork() support: hold the lock across fork (prepare), release it in parent and child.
  void lock() noexcept { lock_.lock(); }
  void unlock() noexcept { lock_.unlock(); }

 private:
  struct Range {
    std::uintptr_t start, end;
  };
  void remove_locked(std::uintptr_t s, std::uintptr_t e) noexcept;
  bool grow_locked() noexcept;

  SpinLock lock_;
  Range* r_ = nullptr;  // guarded by lock_; sorted by start, disjoint
  std::size_t n_ = 0, cap_ = 0, bytes_ = 0, dropped_ = 0;
};

}  // namespace fragscope::core
