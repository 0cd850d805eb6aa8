// Writing a report file: to a temporary name beside it, then renamed over it, so a reader never
// sees half a report and a failure leaves any previous report in place.
#pragma once

#include <string>

namespace fragscope::report {

/// Writes `content` to `path`. Throws std::runtime_error naming the path and the reason.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace fragscope::report
