// Atomic report writing (see output_file.hpp).
#include "output_file.hpp"

#include <cerrno>
#include <stdexcept>

#include "safe_file.hpp"

namespace fragscope::report {

void write_file_atomically(const std::string& path, const std::string& content) {
  const int rc = files::replace_file(path.c_str(), content.data(), content.size(), /*durable=*/true);
  if (rc == 0) return;
  const std::string why = files::safe_file_reason(rc);
  throw std::runtime_error("cannot write " + path + ": " + why +
                           (rc == -EINVAL ? " (refusing to replace it)" : rc == -ELOOP ? " (refusing to follow it)" : ""));
}

}  // namespace fragscope::report
