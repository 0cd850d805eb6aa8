// libFuzzer target: parse_status (/proc/<pid>/status) and parse_kv_line.
#include <cstddef>
#include <cstdint>

#include "fuzz_kv.hpp"

using fragscope::proc::Status;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr fragscope::fuzz::KvField<Status> kFields[] = {
      {"VmPeak", &Status::vm_peak},   {"VmSize", &Status::vm_size},     {"VmHWM", &Status::vm_hwm},
      {"VmRSS", &Status::vm_rss},     {"RssAnon", &Status::rss_anon},   {"RssFile", &Status::rss_file},
      {"RssShmem", &Status::rss_shmem}, {"VmData", &Status::vm_data},   {"VmSwap", &Status::vm_swap},
      {"Threads", &Status::threads}};
  fragscope::fuzz::check_kv_parser({reinterpret_cast<const char*>(data), size}, &fragscope::proc::parse_status, kFields);
  return 0;
}
