// Writing a report file: to a temporary name beside it, then renamed over it, so a reader never
// sees half a report and a failure leaves any previous report in place. Only ever a regular file
// of ours (issue 16): never through a symlink in the path, the temporary file created
// exclusively under an unpredictable name, mode 0600, and a target that is not a regular file
// (a device, a FIFO) refused, never replaced.
#pragma once

#include <string>

namespace fragscope::report {

/// Writes `content` to `path`. Throws std::runtime_error naming the path and the reason (the
/// CLI's commands then exit with status 2).
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace fragscope::report
