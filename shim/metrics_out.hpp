// Prometheus metrics out of the process: the exposition of each snapshot rewritten atomically to
// FRAGSCOPE_METRICS_FILE (node_exporter's textfile collector), and served on
// FRAGSCOPE_METRICS_ADDR by a small HTTP thread of ours ("GET /metrics"; loopback unless an
// address was given). The reporter thread builds the text; the HTTP thread only copies it out.
#pragma once

#include "prometheus.hpp"

namespace fragscope::shim {

/// After each snapshot, in the reporter thread: builds the exposition, writes the file, hands
/// the text to the HTTP thread (starting it the first time). Failures are said once and turn
/// the failing output off; the host never notices.
void metrics_after_snapshot(const core::PrometheusInputs& in) noexcept;

/// 1 while the HTTP thread serves, else 0 (fragscope's threads are not the application's).
unsigned metrics_threads() noexcept;

/// In a forked child: the parent's endpoint is not ours to serve. `own_fds`: the metrics
/// thread's descriptors were in the reporter's own descriptor table (which the child does not
/// have), so none of them is closed here.
void metrics_on_fork_child(bool own_fds) noexcept;

}  // namespace fragscope::shim
