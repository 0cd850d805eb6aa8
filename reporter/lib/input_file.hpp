// Reading /proc-like files with a bound (issue 16): `--proc DIR` and `--from FILE` may name
// anything, /dev/zero included, and a file that goes on for ever must cost a bounded amount of
// memory and say so, not take the machine's.
#pragma once

#include <cstddef>
#include <string>

namespace fragscope::report {

/// Reads `path` whole into *text, at most `limit` bytes (files::k*Max of safe_file.hpp), without
/// blocking on a FIFO. Returns 0, or an errno value: EFBIG when the file goes on past `limit`
/// (*text is then empty).
int read_file_bounded(const std::string& path, std::size_t limit, std::string* text);

/// "PATH goes on past N KiB (not a /proc file?)": the words for EFBIG.
std::string too_large_message(const std::string& path, std::size_t limit);

}  // namespace fragscope::report
