// Small SVG charts for the HTML report: a line chart over time and a bar chart. Output is plain
// SVG markup with class names the report's CSS styles; no script.
#pragma once

#include <string>
#include <vector>

namespace fragscope::report {

struct Series {
  std::string name;
  std::vector<double> y;  // one value per x; NaN = missing
};

/// Lines of `series` against `x` (seconds); y axis formatted as bytes.
std::string svg_line_chart(const std::string& title, const std::vector<double>& x, const std::vector<Series>& series);

struct Bar {
  std::string label;
  double value;
};

/// Vertical bars; `bytes` formats the y axis as bytes, else as counts.
std::string svg_bar_chart(const std::string& title, const std::vector<Bar>& bars, bool bytes);

}  // namespace fragscope::report
