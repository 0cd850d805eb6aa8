// Call sites (see sites.hpp).
#include "sites.hpp"

#include <cmath>
#include <cstring>

namespace fragscope::core {
namespace {
constexpr std::size_t kIndexSlots = SiteTable::kMaxSites * 2;
constexpr std::size_t kFrameCap = SiteTable::kMaxSites * 16;
}  // namespace

bool SiteTable::init(std::uint64_t mean_bytes) noexcept {
  mean_ = mean_bytes;
  if (mean_ == 0) return true;
  sites_ = static_cast<Site*>(os_map(sizeof(Site) * kMaxSites, "sites"));
  index_ = static_cast<std::uint32_t*>(os_map(sizeof(std::uint32_t) * kIndexSlots, "sites-index"));
  frames_ = static_cast<void**>(os_map(sizeof(void*) * kFrameCap, "sites-frames"));
  if (!sites_ || !index_ || !frames_ || !blocks_.init()) {
    mean_ = 0;
    return false;
  }
  return true;
}

std::int64_t SiteTable::next_countdown(std::uint64_t& rng) const noexcept {
  if (mean_ <= 1) return 0;
  // xorshift64*, then -mean * ln(u) with u in (0, 1].
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  double u = static_cast<double>((rng * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<std::int64_t>(-std::log(1.0 - u) * static_cast<double>(mean_)) + 1;
}

void SiteTable::weigh(std::uint64_t size, double* blocks, double* bytes) const noexcept {
  if (mean_ <= 1 || size == 0) {
    *blocks = scale_;
    *bytes = static_cast<double>(size) * scale_;
    return;
  }
  double p = 1.0 - std::exp(-static_cast<double>(size) / static_cast<double>(mean_));
  *blocks = scale_ / p;
  *bytes = static_cast<double>(size) * scale_ / p;
}

std::uint32_t SiteTable::intern(void* const* frames, unsigned n) noexcept {
  if (n > kMaxFrames) n = kMaxFrames;
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned i = 0; i < n; ++i) h = (h ^ reinterpret_cast<std::uintptr_t>(frames[i])) * 0x100000001b3ULL;
  LockGuard g(lock_);
  for (std::size_t i = h % kIndexSlots;; i = (i + 1) % kIndexSlots) {
    std::uint32_t id = index_[i];
    if (id == 0) {
      if (nsites_ == kMaxSites || nframes_ + n > kFrameCap) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return 0;
      }
      id = nsites_++;
      Site& s = sites_[id];
      s = Site{n, nframes_, h, 0, 0, 0, 0, 0};
      std::memcpy(frames_ + nframes_, frames, n * sizeof(void*));
      nframes_ += n;
      index_[i] = id;
      return id;
    }
    const Site& s = sites_[id];
    if (s.hash == h && s.nframes == n && std::memcmp(frames_ + s.first_frame, frames, n * sizeof(void*)) == 0) return id;
  }
}

void SiteTable::on_alloc(std::uintptr_t addr, std::uint64_t size, std::uint32_t site) noexcept {
  double nb, nbytes;
  weigh(size, &nb, &nbytes);
  {
    LockGuard g(lock_);
    Site& s = sites_[site];
    s.allocs += nb;
    s.alloc_bytes += nbytes;
    ++s.samples;
  }
  blocks_.insert(Block{addr, site, 0, false}, nullptr);
}

void SiteTable::on_free(std::uintptr_t addr, std::uint64_t size) noexcept {
  Block b;
  if (!blocks_.remove(addr, 0, &b)) return;
  double nb, nbytes;
  weigh(size, &nb, &nbytes);
  LockGuard g(lock_);
  Site& s = sites_[b.size];
  s.frees += nb;
  s.free_bytes += nbytes;
}

std::uint32_t SiteTable::site_of(std::uintptr_t addr) noexcept {
  Block b;
  if (!blocks_.find(addr, 0, &b)) return 0;
  return static_cast<std::uint32_t>(b.size);
}

std::size_t SiteTable::snapshot(Site* out, std::size_t cap) noexcept {
  LockGuard g(lock_);
  std::size_t n = 0;
  for (std::uint32_t i = 1; i < nsites_ && n < cap; ++i) out[n++] = sites_[i];
  return n;
}

std::size_t SiteTable::memory_bytes() const noexcept {
  if (sites_ == nullptr) return 0;
  return blocks_.memory_bytes() + (static_cast<std::size_t>(nsites_) * sizeof(Site)) +
         static_cast<std::size_t>(nframes_) * sizeof(void*) + kIndexSlots * sizeof(std::uint32_t);
}

}  // namespace fragscope::core
