// Validators for the command line's numeric and structured arguments. Each refuses anything but a
// plain value in its range (a sign, a fraction, NaN, letters, a number too large to hold) with one
// line that names the range, so that every subcommand exits 2 with a clear message.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace fragscope::cli {

/// The largest pid Linux can give (PID_MAX_LIMIT on 64-bit systems).
constexpr unsigned long long kPidMax = 4194304;

/// A whole number, digits only, from lo to hi.
CLI::Validator whole_number(unsigned long long lo, unsigned long long hi);

/// A finite decimal number of seconds from lo to hi (e.g. 0.5, 2).
CLI::Validator seconds(double lo, double hi);

/// [IPv4:]PORT as the shim takes FRAGSCOPE_METRICS_ADDR: a port from 1 to 65535.
CLI::Validator metrics_address();

/// A snapshot of a process by its place: 1 the first, 2 the second, ..., -1 the last, -2 the one before.
CLI::Validator snapshot_index();

/// A snapshot's run id: 16 hex digits.
CLI::Validator run_id();

/// The value as it can be shown on one line: at most 40 characters, control characters as '?'.
std::string printable(const std::string& v);

/// The one-line message for a command-line error, naming the subcommand:
/// "fragscope proc: pid: '-5' is not a whole number from 1 to 4194304 (see fragscope proc --help)".
std::string failure_line(const CLI::App* app, const CLI::Error& e);

}  // namespace fragscope::cli
