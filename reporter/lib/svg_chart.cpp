// SVG charts (see svg_chart.hpp).
#include "svg_chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "html_report.hpp"
#include "text_report.hpp"

namespace fragscope::report {
namespace {

constexpr double kW = 720, kH = 280, kLeft = 80, kRight = 20, kTop = 36, kBottom = 56;

// A "nice" axis maximum: 1, 2 or 5 times a power of ten (or of 1024 for bytes) above `v`.
double nice_max(double v, bool bytes) {
  if (!(v > 0)) return 1;
  const double base = bytes ? 1024 : 10;
  double p = std::pow(base, std::floor(std::log(v) / std::log(base)));
  for (double m : {1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0})
    if (m * p >= v) return m * p;
  return v;
}

std::string count_label(double v) {
  if (v >= 1e9) return fmt::format("{:.1f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

void axes(std::string& out, const std::string& title, double ymax, bool bytes) {
  auto o = std::back_inserter(out);
  fmt::format_to(o, R"svg(<text class="title" x="{}" y="22">{}</text>)svg", kLeft, html_escape(title));
  for (int i = 0; i <= 4; ++i) {
    double v = ymax * i / 4, y = kH - kBottom - (kH - kTop - kBottom) * i / 4;
    fmt::format_to(o, R"svg(<line class="grid" x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}"/>)svg", kLeft, y, kW - kRight, y);
    fmt::format_to(o, R"svg(<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>)svg", kLeft - 6, y + 4,
                   html_escape(bytes ? human_bytes(v) : count_label(v)));
  }
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::vector<double>& x, const std::vector<Series>& series) {
  std::string out;
  auto o = std::back_inserter(out);
  fmt::format_to(o, R"svg(<svg class="chart line-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">)svg", kW, kH,
                 html_escape(title));
  double ymax = 0;
  for (const auto& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) ymax = std::max(ymax, v);
  ymax = nice_max(ymax, true);
  const double xmax = x.empty() || x.back() <= 0 ? 1 : x.back();
  axes(out, title, ymax, true);
  for (int i = 0; i <= 4; ++i) {
    double t = xmax * i / 4, px = kLeft + (kW - kLeft - kRight) * i / 4;
    fmt::format_to(o, R"svg(<text class="tick" x="{:.1f}" y="{}" text-anchor="middle">{:.1f} s</text>)svg", px, kH - kBottom + 18, t);
  }
  for (std::size_t si = 0; si < series.size(); ++si) {
    const auto& s = series[si];
    std::string pts;
    for (std::size_t i = 0; i < x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      double px = kLeft + (kW - kLeft - kRight) * (x[i] / xmax);
      double py = kH - kBottom - (kH - kTop - kBottom) * (s.y[i] / ymax);
      fmt::format_to(std::back_inserter(pts), "{:.1f},{:.1f} ", px, py);
    }
    fmt::format_to(o, R"svg(<polyline class="series s{}" points="{}"/>)svg", si, pts);
    if (x.size() == 1 && !pts.empty())  // a single snapshot: show it as a point
      fmt::format_to(o, R"svg(<circle class="series s{}" cx="{}" r="3"/>)svg", si, pts.substr(0, pts.find(',')));
    fmt::format_to(o, R"svg(<rect class="swatch s{}" x="{:.1f}" y="{}" width="12" height="12"/>)svg", si, kLeft + 150.0 * si,
                   kH - 22);
    fmt::format_to(o, R"svg(<text class="legend" x="{:.1f}" y="{}">{}</text>)svg", kLeft + 150.0 * si + 16, kH - 12,
                   html_escape(s.name));
  }
  out += "</svg>";
  return out;
}

std::string svg_bar_chart(const std::string& title, const std::vector<Bar>& bars, bool bytes) {
  std::string out;
  auto o = std::back_inserter(out);
  fmt::format_to(o, R"svg(<svg class="chart bar-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">)svg", kW, kH,
                 html_escape(title));
  double ymax = 0;
  for (const auto& b : bars) ymax = std::max(ymax, b.value);
  ymax = nice_max(ymax, bytes);
  axes(out, title, ymax, bytes);
  const double slot = bars.empty() ? 0 : (kW - kLeft - kRight) / static_cast<double>(bars.size());
  for (std::size_t i = 0; i < bars.size(); ++i) {
    double h = (kH - kTop - kBottom) * (bars[i].value / ymax);
    double x = kLeft + slot * static_cast<double>(i);
    fmt::format_to(o, R"svg(<rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"><title>{}: {}</title></rect>)svg",
                   x + slot * 0.1, kH - kBottom - h, slot * 0.8, h, html_escape(bars[i].label),
                   html_escape(bytes ? human_bytes(bars[i].value) : count_label(bars[i].value)));
    fmt::format_to(o, R"svg(<text class="tick" x="{:.1f}" y="{}" text-anchor="end" transform="rotate(-35 {:.1f} {})">{}</text>)svg",
                   x + slot / 2, kH - kBottom + 14, x + slot / 2, kH - kBottom + 14, html_escape(bars[i].label));
  }
  out += "</svg>";
  return out;
}

}  // namespace fragscope::report
