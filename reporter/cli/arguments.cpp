// Command-line validators (see arguments.hpp).
#include "arguments.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace fragscope::cli {

std::string printable(const std::string& v) {
  std::string out;
  for (char c : v.substr(0, 40)) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  return v.size() > 40 ? out + "..." : out;
}

CLI::Validator whole_number(unsigned long long lo, unsigned long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        unsigned long long n = 0;
        const char* end = v.data() + v.size();
        auto [p, ec] = std::from_chars(v.data(), end, n);
        if (v.empty() || ec != std::errc() || p != end || n < lo || n > hi)
          return fmt::format("'{}' is not a whole number from {} to {}", printable(v), lo, hi);
        return {};
      },
      fmt::format("INT in {}..{}", lo, hi));
}

CLI::Validator seconds(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        // Digits and at most one point: no sign, exponent, hex, "nan" or "inf".
        bool ok = !v.empty() && v.find_first_not_of("0123456789.") == std::string::npos &&
                  v.find('.') == v.rfind('.') && v != ".";
        const double d = ok ? std::strtod(v.c_str(), nullptr) : 0;
        if (!ok || !std::isfinite(d) || d < lo || d > hi)
          return fmt::format("'{}' is not a number of seconds from {:g} to {:g}", printable(v), lo, hi);
        return {};
      },
      fmt::format("SECONDS in {:g}..{:g}", lo, hi));
}

CLI::Validator metrics_address() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        const std::string bad =
            fmt::format("'{}' is not PORT or IPv4:PORT with a port from 1 to 65535 (e.g. 9464 or 127.0.0.1:9464)",
                        printable(v));
        std::string port = v;
        if (auto colon = v.rfind(':'); colon != std::string::npos) {
          port = v.substr(colon + 1);
          std::string host = v.substr(0, colon);
          int parts = 0;
          std::size_t start = 0;
          while (true) {
            const std::size_t dot = std::min(host.find('.', start), host.size());
            const std::string octet = host.substr(start, dot - start);
            unsigned n = 0;
            auto [p, ec] = std::from_chars(octet.data(), octet.data() + octet.size(), n);
            if (octet.empty() || octet.size() > 3 || ec != std::errc() || p != octet.data() + octet.size() || n > 255)
              return bad;
            ++parts;
            if (dot == host.size()) break;
            start = dot + 1;
          }
          if (parts != 4) return bad;
        }
        unsigned n = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
        if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535) return bad;
        return {};
      },
      "[IPv4:]PORT");
}

CLI::Validator snapshot_index() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        long long n = 0;
        const char* end = v.data() + v.size();
        auto [p, ec] = std::from_chars(v.data(), end, n);
        if (v.empty() || v[0] == '+' || ec != std::errc() || p != end || n == 0 || n > 100000000 || n < -100000000)
          return fmt::format("'{}' is not a snapshot number (1 the first, 2 the second, ..., -1 the last)", printable(v));
        return {};
      },
      "N");
}

CLI::Validator run_id() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        if (v.size() != 16 || v.find_first_not_of("0123456789abcdef") != std::string::npos)
          return fmt::format("'{}' is not a run id (16 hex digits, as in the snapshots' run_id)", printable(v));
        return {};
      },
      "HEX16");
}

std::string failure_line(const CLI::App* app, const CLI::Error& e) {
  std::string cmd = "fragscope";
  for (const CLI::App* sub = app; sub != nullptr;) {
    const auto parsed = sub->get_subcommands();
    if (parsed.empty()) break;
    sub = parsed.front();
    cmd += " " + sub->get_name();
  }
  std::string what = e.what();
  for (char& c : what)
    if (c == '\n') c = ' ';
  while (!what.empty() && what.back() == ' ') what.pop_back();
  return fmt::format("{}: {} (see {} --help)\n", cmd, what, cmd);
}

}  // namespace fragscope::cli
