// The fragscope command line: run a program under the shim, read its snapshots, check them.
// Exit codes: `run` returns the command's status; other subcommands return 0 on success,
// 1 when the data shows a problem (`check`), 2 on usage errors or unreadable input.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "balance.hpp"
#include "html_report.hpp"
#include "json_access.hpp"
#include "machine_formats.hpp"
#include "output_file.hpp"
#include "pprof_export.hpp"
#include "sites.hpp"
#include "advise.hpp"
#include "arguments.hpp"
#include "check_command.hpp"
#include "compare_command.hpp"
#include "proc_command.hpp"
#include "system_command.hpp"
#include "run_command.hpp"
#include "snapshot_file.hpp"
#include "text_report.hpp"

namespace {

// Which process of a file that several processes wrote (an output path without %p).
struct ProcessChoice {
  long long pid = -1;   // --pid; -1: every process
  std::string run_id;   // --run-id; empty: every image of the pid
};

// Reads `path` and picks the processes `choice` asks for. False (after a message) when the file
// cannot be read, holds no snapshot, or has no such process; the processes it holds are named.
bool load_processes(const char* cmd, const std::string& path, const ProcessChoice& choice,
                    std::vector<fragscope::report::ProcessSnapshots>* procs,
                    std::vector<const fragscope::report::ProcessSnapshots*>* chosen) {
  fragscope::report::SnapshotFile f;
  try {
    f = fragscope::report::read_snapshot_file(path);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fragscope {}: {}\n", cmd, e.what());
    return false;
  }
  for (const auto& e : f.errors) fmt::print(stderr, "fragscope {}: {}:{}: {}; line skipped\n", cmd, path, e.line, e.message);
  if (f.snapshots.empty()) {
    fmt::print(stderr, "fragscope {}: {}: no snapshots\n", cmd, path);
    return false;
  }
  *procs = fragscope::report::split_by_process(std::move(f));
  *chosen = fragscope::report::select_processes(*procs, choice.pid, choice.run_id);
  if (chosen->empty()) {
    fmt::print(stderr, "fragscope {}: {}: no process {}{}; the file holds {}\n", cmd, path,
               choice.pid >= 0 ? fmt::format("with pid {}", choice.pid) : std::string(),
               choice.run_id.empty() ? "" : fmt::format(" with run id {}", choice.run_id),
               fragscope::report::list_processes(*procs));
    return false;
  }
  return true;
}

// A file that holds several processes, for an output that shows one: which ones, and how to choose.
int several_processes(const char* cmd, const std::string& path, const std::string& what,
                      const std::vector<const fragscope::report::ProcessSnapshots*>& chosen) {
  std::string list;
  for (std::size_t i = 0; i < chosen.size() && i < 12; ++i) list += (list.empty() ? "" : ", ") + chosen[i]->label();
  if (chosen.size() > 12) list += fmt::format(", and {} more", chosen.size() - 12);
  fmt::print(stderr,
             "fragscope {}: {} holds {} processes ({}); {} is of one process: choose it with --pid "
             "(and --run-id for a pid that called exec)\n",
             cmd, path, chosen.size(), list, what);
  return 2;
}

// The line above each process's part when a file holds several.
std::string process_heading(const char* cmd, const std::string& path, std::size_t i, std::size_t n,
                            const fragscope::report::ProcessSnapshots& p) {
  std::string head;
  if (i == 0)
    head = fmt::format("fragscope {}: {} holds {} processes (they shared one output path: put %p in it to give "
                       "each its own file); each is shown below, --pid PID shows one\n",
                       cmd, path, n);
  return head + fmt::format("\n=== process {} of {}: {} ===\n", i + 1, n, p.label());
}

// What `report` writes besides its report on stdout.
struct ReportExports {
  std::string html, collapsed, collapsed_pinned, pprof;
  long long at = 0;  // --at: 0 the default snapshot (the final one, else the last)
  bool any_stacks() const { return !collapsed.empty() || !collapsed_pinned.empty() || !pprof.empty(); }
};

int report_cmd(const std::string& path, const ProcessChoice& choice, const ReportExports& ex, const std::string& format) {
  std::vector<fragscope::report::ProcessSnapshots> procs;
  std::vector<const fragscope::report::ProcessSnapshots*> chosen;
  if (ex.at != 0 && !ex.any_stacks()) {
    fmt::print(stderr, "fragscope report: --at chooses the snapshot of --pprof, --collapsed-live and --collapsed-pinned; "
                       "none was given\n");
    return 2;
  }
  if (!load_processes("report", path, choice, &procs, &chosen)) return 2;
  if (chosen.size() > 1) {
    if (format != "text") return several_processes("report", path, "--format " + format, chosen);
    if (!ex.html.empty()) return several_processes("report", path, "--html", chosen);
    if (ex.any_stacks())
      return several_processes("report", path, "--pprof/--collapsed-live/--collapsed-pinned", chosen);
    for (std::size_t i = 0; i < chosen.size(); ++i)
      std::cout << process_heading("report", path, i, chosen.size(), *chosen[i])
                << fragscope::report::render_text_report(chosen[i]->file);
    return 0;
  }
  const fragscope::report::SnapshotFile& f = chosen.front()->file;
  // The snapshot the exports are of: --at, else the one the reports show (the final, else the last).
  const nlohmann::json* at = f.final_snapshot();
  if (ex.at != 0) {
    const long long n = static_cast<long long>(f.snapshots.size());
    const long long i = ex.at > 0 ? ex.at - 1 : n + ex.at;
    if (i < 0 || i >= n) {
      fmt::print(stderr, "fragscope report: --at {}: {} holds {} snapshot{} of {}\n", ex.at, path, n, n == 1 ? "" : "s",
                 chosen.front()->label());
      return 2;
    }
    at = &f.snapshots[static_cast<std::size_t>(i)];
  }
  if (at == nullptr) at = &f.snapshots.back();
  if (format == "json") std::cout << fragscope::report::render_report_json(f).dump(2) << "\n";
  else if (format == "prom") std::cout << fragscope::report::render_prometheus(f);
  else std::cout << fragscope::report::render_text_report(f);
  if (ex.any_stacks()) {
    const auto sites = fragscope::report::named_sites(*at);
    const std::string which = fmt::format("snapshot {} (seq {}{})", at - f.snapshots.data() + 1,
                                          fragscope::report::whole(fragscope::report::num(*at, "seq")),
                                          fragscope::report::flag(*at, "final") ? ", final" : "");
    if (sites.empty())
      fmt::print(stderr, "fragscope report: {} has no sampled call sites (FRAGSCOPE_SAMPLE_BYTES=0, or nothing "
                         "sampled yet): the stacks written are empty\n", which);
    try {
      if (!ex.collapsed.empty()) {
        fragscope::report::write_file_atomically(ex.collapsed, fragscope::report::collapsed_live_stacks(sites));
        fmt::print(stderr, "fragscope report: collapsed stacks (live bytes) of {} written to {}\n", which, ex.collapsed);
      }
      if (!ex.collapsed_pinned.empty()) {
        fragscope::report::write_file_atomically(ex.collapsed_pinned, fragscope::report::collapsed_pinned_stacks(sites));
        fmt::print(stderr, "fragscope report: collapsed stacks (pinned bytes) of {} written to {}\n", which,
                   ex.collapsed_pinned);
      }
      if (!ex.pprof.empty()) {
        fragscope::report::PprofSummary sum;
        fragscope::report::write_file_atomically(ex.pprof, fragscope::report::render_pprof(*at, sites, &sum));
        fmt::print(stderr, "fragscope report: pprof profile of {} written to {} ({} stacks, {} live, {} pinned; "
                           "go tool pprof -top {})\n",
                   which, ex.pprof, sum.samples, fragscope::report::human_bytes(sum.inuse_space),
                   fragscope::report::human_bytes(sum.pinned_space), ex.pprof);
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "fragscope report: {}\n", e.what());
      return 2;
    }
  }
  if (!ex.html.empty()) {
    try {
      fragscope::report::write_file_atomically(ex.html, fragscope::report::render_html_report(f));
      fmt::print(stderr, "fragscope report: HTML report written to {}\n", ex.html);
    } catch (const std::exception& e) {
      fmt::print(stderr, "fragscope report: {}\n", e.what());
      return 2;
    }
  }
  return 0;
}

int advise_cmd(const std::string& path, const ProcessChoice& choice, const std::string& command, bool as_json) {
  std::vector<fragscope::report::ProcessSnapshots> procs;
  std::vector<const fragscope::report::ProcessSnapshots*> chosen;
  if (!load_processes("advise", path, choice, &procs, &chosen)) return 2;
  if (chosen.size() > 1 && as_json) return several_processes("advise", path, "--json", chosen);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const auto verdict = fragscope::report::advise(chosen[i]->file, command);
    if (as_json) {
      fmt::print("{}\n", fragscope::report::advice_json(verdict).dump(2));
    } else {
      if (chosen.size() > 1) fmt::print("{}", process_heading("advise", path, i, chosen.size(), *chosen[i]));
      fmt::print("{}", fragscope::report::render_advice(verdict));
    }
  }
  return 0;
}

// --pid and --run-id of `report` and `advise`.
void add_process_choice(CLI::App* cmd, ProcessChoice* choice, const char* verb) {
  cmd->add_option("--pid", choice->pid,
                  fmt::format("Of a file several processes wrote (an output path without %p): {} this pid only", verb))
      ->check(fragscope::cli::whole_number(1, fragscope::cli::kPidMax));
  cmd->add_option("--run-id", choice->run_id, "... and of that pid, the image with this run id (after exec)")
      ->check(fragscope::cli::run_id());
}

// FRAGSCOPE_POOL_SIZES as the shim accepts it: up to 16 sizes, 1..4096, comma-separated.
CLI::Validator pool_sizes_validator() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        std::size_t count = 0, start = 0;
        while (start <= v.size()) {
          const std::size_t comma = std::min(v.find(',', start), v.size());
          const std::string item = v.substr(start, comma - start);
          if (item.empty() || item.size() > 4 || item.find_first_not_of("0123456789") != std::string::npos ||
              std::stoul(item) == 0 || std::stoul(item) > 4096 || ++count > 16) {
            return "expected up to 16 sizes in bytes, 1..4096, separated by commas (e.g. 32,48,64)";
          }
          start = comma + 1;
        }
        return {};
      },
      "SIZES");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fragscope: find and fix heap fragmentation in Linux services"};
  app.require_subcommand(1);
  // Every command-line error on one line, naming the subcommand; exit 2 (below).
  app.failure_message(fragscope::cli::failure_line);

  fragscope::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run CMD with libfragscope.so preloaded (default: the bundled example service)");
  run_cmd->add_option("-o,--output", run.output, "Snapshot file pattern; %p is the pid")->capture_default_str();
  run_cmd->add_option("-i,--interval-ms", run.interval_ms, "Milliseconds between snapshots (0: only at exit)")
      ->check(fragscope::cli::whole_number(0, 3600000))
      ->capture_default_str();
  run_cmd->add_option("--lib", run.lib, "Path to libfragscope.so (default: $FRAGSCOPE_LIB, else next to this program)");
  run_cmd->add_flag("!--no-report", run.report, "Do not print the text report at the end");
  run_cmd->add_option("--html", run.html, "Also write the HTML report of the command's process to this file");
  run_cmd->add_flag("--shim-summary", run.shim_summary, "Let every measured process print its one-line summary");
  run_cmd->add_flag("!--no-follow-exec", run.follow_exec,
                    "Measure only CMD's own process (and its forks), not the programs it executes");
  auto* sampled_flag = run_cmd->add_flag("--sampled", run.sampled,
                    "Sampled mode, cheap enough for production: layout figures estimated from one address "
                    "region in N (stated with their standard errors), exact counts by size class");
  run_cmd->add_option("--region-one-in", run.region_one_in,
                      "With --sampled: sample one 16 KiB region in N (default 32; smaller N: smaller errors, "
                      "more cost)")
      ->check(fragscope::cli::whole_number(1, 65536))
      ->needs(sampled_flag);
  run_cmd->add_option("--pool-sizes", run.pool_sizes,
                      "Try pooling: serve these request sizes (bytes, comma-separated, up to 16, each 1..4096) "
                      "from fixed-size pools inside the process")
      ->check(pool_sizes_validator());
  auto* trim_opt =
      run_cmd->add_option("--trim", run.trim,
                          "Try trimming: at each snapshot, when the heap's empty resident pages reach BYTES "
                          "(default 1048576), ask the allocator to give its free pages back (malloc_trim(0), "
                          "jemalloc's purge, ...); the snapshot's trim_remedy says what it returned")
          ->expected(0, 1)
          ->type_name("[=BYTES]")
          ->check(CLI::Validator(
              [](std::string& v) -> std::string {
                if (v.empty()) return {};
                if (v.size() > 13 || v.find_first_not_of("0123456789") != std::string::npos ||
                    std::stoull(v) > (1ull << 40))
                  return "expected bytes, 0 to 2^40 (0: no trim)";
                return {};
              },
              ""));
  run_cmd->add_option("--metrics-addr", run.metrics_addr,
                      "Serve Prometheus metrics over HTTP on [IPv4:]PORT (loopback unless an address is given)")
      ->check(fragscope::cli::metrics_address());
  run_cmd->add_option("--metrics-file", run.metrics_file,
                      "Rewrite this Prometheus text file at every snapshot (node_exporter's textfile collector)");
  run_cmd->add_option("command", run.command, "CMD [ARGS...] (after --)");
  run_cmd->positionals_at_end();

  std::string report_path, report_format = "text";
  ReportExports report_ex;
  auto* rep = app.add_subcommand("report", "Print the text report of a snapshot file");
  rep->add_option("file", report_path, "FILE.jsonl")->required();
  ProcessChoice report_choice;
  add_process_choice(rep, &report_choice, "report on");
  rep->add_option("--format", report_format,
                  "text (the report), json (figures over time and the last snapshot), prom (Prometheus exposition "
                  "of the last snapshot)")
      ->check(CLI::IsMember({"text", "json", "prom"}))
      ->capture_default_str();
  rep->add_option("--html", report_ex.html, "Also write a self-contained HTML report (charts, flame graph) to this file");
  rep->add_option("--pprof", report_ex.pprof,
                  "Write the sampled call sites as a gzipped pprof profile (live, allocated and pinned bytes) to this "
                  "file: go tool pprof, Parca, Pyroscope");
  rep->add_option("--collapsed-live", report_ex.collapsed,
                  "Write the sampled call stacks weighted by live bytes, in collapsed form (flamegraph.pl, speedscope)");
  rep->add_option("--collapsed-pinned", report_ex.collapsed_pinned,
                  "Write the sampled call stacks weighted by the bytes of pinned pages they hold, collapsed");
  rep->add_option("--at", report_ex.at,
                  "The snapshot --pprof and --collapsed-* export: 1 the first, -1 the last (default: the final one, "
                  "else the last)")
      ->check(fragscope::cli::snapshot_index());

  fragscope::cli::CompareOptions cmp;
  auto* cmp_cmd = app.add_subcommand("compare",
                                     "Run CMD under each allocator (and fragscope's pools), repeatedly; print time, "
                                     "memory and fragmentation side by side");
  cmp_cmd->add_option("--allocators", cmp.allocators,
                      "Comma-separated: glibc,jemalloc,tcmalloc,mimalloc,pools,trim (trim: glibc with "
                      "fragscope run --trim's remedy)")
      ->delimiter(',')
      ->check(CLI::IsMember({"glibc", "jemalloc", "tcmalloc", "mimalloc", "pools", "trim"}))
      ->capture_default_str();
  cmp_cmd->add_option("-n,--runs", cmp.runs, "Runs per allocator")->check(fragscope::cli::whole_number(1, 1000))->capture_default_str();
  cmp_cmd->add_option("--pool-sizes", cmp.pool_sizes,
                      "Sizes the pools contender serves (default: the first allocator's most frequent request sizes)")
      ->check(pool_sizes_validator());
  cmp_cmd->add_option("--json", cmp.json_out, "Also write the results as JSON to this file");
  cmp_cmd->add_option("--html", cmp.html_out, "Also write an HTML page with the table and charts to this file");
  cmp_cmd->add_option("--lib", cmp.lib, "Path to libfragscope.so (default: $FRAGSCOPE_LIB, else next to this program)");
  cmp_cmd->add_option("--lib-dir", cmp.lib_dirs, "Look for allocator libraries here first (repeatable)");
  cmp_cmd->add_option("-i,--interval-ms", cmp.interval_ms, "Snapshot interval of the runs under fragscope")
      ->check(fragscope::cli::whole_number(10, 3600000))
      ->capture_default_str();
  cmp_cmd->add_option("command", cmp.command, "CMD [ARGS...] (after --)")->required();
  cmp_cmd->positionals_at_end();

  std::string advise_path, advise_command = "CMD";
  bool advise_json = false;
  auto* adv = app.add_subcommand("advise", "What to do: findings by mechanism, with evidence, the bytes each would "
                                           "recover, and the remedy for the allocator underneath");
  adv->add_flag("--json", advise_json, "Print the verdict as JSON (docs/advice-schema.md), for alerting");
  adv->add_option("file", advise_path, "FILE.jsonl")->required();
  ProcessChoice advise_choice;
  add_process_choice(adv, &advise_choice, "advise on");
  adv->add_option("--command", advise_command, "The command to show in the proposed command lines")
      ->capture_default_str();

  fragscope::cli::ProcOptions procopt;
  auto* proc_cmd = app.add_subcommand("proc", "PSS, USS and swap of any process by mapping kind (no preload needed)");
  proc_cmd->add_option("pid", procopt.pid, "Process id")->required()->check(fragscope::cli::whole_number(1, fragscope::cli::kPidMax));
  proc_cmd->add_option("--watch", procopt.watch_s, "Sample every SECONDS and show the growth")->check(fragscope::cli::seconds(0.05, 86400));
  proc_cmd->add_option("--count", procopt.count, "With --watch: stop after N samples")
      ->check(fragscope::cli::whole_number(1, 1000000000));
  proc_cmd->add_flag("--json", procopt.json, "One JSON object per sample");
  proc_cmd->add_option("--from", procopt.from, "Read a saved smaps text (e.g. from another machine) instead of /proc/PID/smaps");

  fragscope::cli::SystemOptions sysopt;
  auto* sys_cmd = app.add_subcommand("system", "The system's memory in one screen: meminfo, free memory by order with the "
                                               "kernel's fragmentation indices, compaction and THP counters, tunables");
  sys_cmd->add_option("--watch", sysopt.watch_s, "Refresh every SECONDS, counters as deltas")->check(fragscope::cli::seconds(0.1, 86400));
  sys_cmd->add_option("--count", sysopt.count, "With --watch: stop after N screens")
      ->check(fragscope::cli::whole_number(1, 1000000000));
  sys_cmd->add_option("--proc", sysopt.proc_dir, "Where /proc is (containers, tests)")->capture_default_str();

  std::vector<std::string> check_paths;
  std::size_t min_files = 1;
  auto* chk = app.add_subcommand("check", "Verify that the snapshots of each file balance, process by process");
  chk->footer(fragscope::cli::kCheckHelp);
  chk->add_option("files", check_paths, "FILE.jsonl...")->required();
  chk->add_option("--min-files", min_files, "Fail unless at least this many files are given")
      ->check(fragscope::cli::whole_number(0, 1000000));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*run_cmd) {
    if (trim_opt->count() > 0 && run.trim.empty()) run.trim = "1048576";  // --trim alone: 1 MiB
    return fragscope::cli::run_command(run);
  }
  if (*cmp_cmd) return fragscope::cli::compare_command(cmp);
  if (*adv) return advise_cmd(advise_path, advise_choice, advise_command, advise_json);
  if (*proc_cmd) return fragscope::cli::proc_command(procopt);
  if (*sys_cmd) return fragscope::cli::system_command(sysopt);
  if (*rep) return report_cmd(report_path, report_choice, report_ex, report_format);
  if (*chk) return fragscope::cli::check_command(check_paths, min_files);
  return 2;
}
