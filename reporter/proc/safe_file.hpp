// Opening the files fragscope writes, so that they can only land on a regular file that is ours
// (issue 16), and the bounds of the files it reads. Shared by the shim (inside foreign
// processes) and the CLI: no exceptions, no allocation, never blocks (O_NONBLOCK everywhere, so
// a FIFO planted at a name cannot hang us). Errors are negative errno values; the ones of our
// own making are described by safe_file_reason():
//   ELOOP   a symlink in a directory component of the path, or the path itself is one
//   EINVAL  the target exists and is not a regular file (a device, a FIFO, a directory, ...)
//   EPERM   the target is a regular file owned by another user (append outputs only)
#pragma once

#include <cstddef>

namespace fragscope::files {

/// Bounds of what we read. Every /proc-like file the shim and the CLI read is cut at the bound
/// of its kind (and reported: the caller says so once). The real files are far smaller: meminfo
/// ~1.5 KB, vmstat ~5 KB, status ~1.5 KB, smaps_rollup ~1 KB, buddyinfo and pagetypeinfo a few KB
/// even on large NUMA machines, slabinfo ~30 KB.
inline constexpr std::size_t kSmallProcFileMax = std::size_t{256} << 10;
/// /proc/PID/maps: ~100 bytes a mapping, 65530 mappings at most by default (vm.max_map_count):
/// ~6.5 MB; lines naming long paths more.
inline constexpr std::size_t kMapsFileMax = std::size_t{64} << 20;
/// /proc/PID/smaps: ~1.3 KB a mapping, ~85 MB at 65530 mappings.
inline constexpr std::size_t kSmapsFileMax = std::size_t{256} << 20;
/// One snapshot line: the shim never writes one over 8 MiB (its text buffer); twice that.
inline constexpr std::size_t kSnapshotLineMax = std::size_t{16} << 20;

/// Opens the directory that holds `path` (O_PATH) without following a symlink in any of its
/// components (openat2 RESOLVE_NO_SYMLINKS, or, before Linux 5.6, a walk with O_NOFOLLOW).
/// *leaf points into `path` at its last component. Returns the descriptor or -errno; ENOENT for
/// a missing directory, ELOOP for a symlink, ENAMETOOLONG, EISDIR for a path ending in '/'.
int open_parent_dir(const char* path, const char** leaf) noexcept;

/// Opens `path` for appending (O_APPEND, created 0600): only a regular file owned by the
/// effective uid, never through a symlink; an existing file of ours is set to mode 0600. On
/// success *dev and *ino (if not null) identify the file. Returns the descriptor or -errno.
int open_append_output(const char* path, unsigned long* dev = nullptr, unsigned long* ino = nullptr) noexcept;

/// Replaces `path` with `len` bytes of `data`, atomically: written to a temporary file beside it
/// (created exclusively, an unpredictable name, mode 0600) and renamed over it. Refuses a target
/// that exists and is not a regular file (checked again after the exchange, where the kernel
/// offers RENAME_EXCHANGE: a device or FIFO put there meanwhile is put back). `durable`: fsync
/// before the rename. Returns 0 or -errno; on failure nothing is left behind.
int replace_file(const char* path, const char* data, std::size_t len, bool durable) noexcept;

/// Words for an error of the functions above ("a symlink in its path", "not a regular file",
/// "owned by another user"), or strerror's.
const char* safe_file_reason(int err) noexcept;

}  // namespace fragscope::files
