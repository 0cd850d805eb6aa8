// Live anonymous mappings of the application (see mmap_tracker.hpp).
#include "mmap_tracker.hpp"

#include <cstring>

#include "os_memory.hpp"

namespace fragscope::core {

bool MmapTracker::grow_locked() noexcept {
  std::size_t ncap = cap_ == 0 ? 256 : cap_ * 2;
  auto* nr = static_cast<Range*>(os_map(ncap * sizeof(Range), "mmap-tracker"));
  if (nr == nullptr) return false;
  if (n_) std::memcpy(nr, r_, n_ * sizeof(Range));
  os_unmap(r_, cap_ * sizeof(Range));
  r_ = nr;
  cap_ = ncap;
  return true;
}

void MmapTracker::remove_locked(std::uintptr_t s, std::uintptr_t e) noexcept {
  for (std::size_t i = 0; i < n_;) {
    Range& x = r_[i];
    if (x.end <= s || x.start >= e) {
      ++i;
      continue;
    }
    if (x.start < s && x.end > e) {  // hole punched in the middle: split
      if (n_ == cap_ && !grow_locked()) {
        ++dropped_;
        bytes_ -= x.end - x.start;
        std::memmove(&r_[i], &r_[i + 1], (n_ - i - 1) * sizeof(Range));
        --n_;
        continue;
      }
      Range& y = r_[i];
      std::memmove(&r_[i + 2], &r_[i + 1], (n_ - i - 1) * sizeof(Range));
      r_[i + 1] = Range{e, y.end};
      y.end = s;
      bytes_ -= e - s;
      ++n_;
      return;
    }
    std::uintptr_t cs = x.start > s ? x.start : s, ce = x.end < e ? x.end : e;
    bytes_ -= ce - cs;
    if (x.start >= s && x.end <= e) {
      std::memmove(&r_[i], &r_[i + 1], (n_ - i - 1) * sizeof(Range));
      --n_;
      continue;
    }
    if (x.start < s) x.end = s; else x.start = e;
    ++i;
  }
}

void MmapTracker::add(std::uintptr_t addr, std::size_t len) noexcept {
  if (len == 0) return;
  LockGuard g(lock_);
  remove_locked(addr, addr + len);
  if (n_ == cap_ && !grow_locked()) {
    ++dropped_;
    return;
  }
  std::size_t i = 0;
  while (i < n_ && r_[i].start < addr) ++i;
  std::memmove(&r_[i + 1], &r_[i], (n_ - i) * sizeof(Range));
  r_[i] = Range{addr, addr + len};
  ++n_;
  bytes_ += len;
}

void MmapTracker::remove(std::uintptr_t addr, std::size_t len) noexcept {
  if (len == 0) return;
  LockGuard g(lock_);
  remove_locked(addr, addr + len);
}

bool MmapTracker::overlaps(std::uintptr_t addr, std::size_t len) noexcept {
  LockGuard g(lock_);
  for (std::size_t i = 0; i < n_; ++i)
    if (r_[i].start < addr + len && r_[i].end > addr) return true;
  return false;
}

std::size_t MmapTracker::count() noexcept {
  LockGuard g(lock_);
  return n_;
}

std::size_t MmapTracker::bytes() noexcept {
  LockGuard g(lock_);
  return bytes_;
}

}  // namespace fragscope::core
