// The HTML report's flame graph (see flame_graph.hpp).
#include "flame_graph.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "json_access.hpp"

namespace fragscope::report {
namespace {

nlohmann::json node(const std::string& name) { return {{"n", name}, {"l", 0.0}, {"p", 0.0}, {"c", nlohmann::json::array()}}; }

// The child of `parent` named `name`, made if missing.
nlohmann::json& child(nlohmann::json& parent, const std::string& name) {
  for (auto& c : parent["c"])
    if (c["n"] == name) return c;
  parent["c"].push_back(node(name));
  return parent["c"].back();
}

void add(nlohmann::json& n, double live, double pinned) {
  n["l"] = n["l"].get<double>() + live;
  n["p"] = n["p"].get<double>() + pinned;
}

// The script: draws the tree in #flame as rows of absolutely placed boxes (one row per depth),
// the zoomed node and its ancestors across the whole width. Frames carry data-name and
// data-depth; #flame carries data-zoom (the zoomed frame) and data-metric, for tests and people.
constexpr const char* kScript = R"JS(
(function () {
  var root = JSON.parse(document.getElementById('flame-data').textContent);
  var box = document.getElementById('flame'), info = document.getElementById('flame-info');
  var search = document.getElementById('flame-search');
  var metric = 'l', zoomed = root, term = '', rowH = 20;
  (function parent(n, p) { n.parent = p; n.c.forEach(function (c) { parent(c, n); }); })(root, null);
  function bytes(v) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : Math.round(v)) + ' ' + u[i];
  }
  function label(n) { return n.n + ' · ' + bytes(n[metric]) + ' (' + (100 * n[metric] / Math.max(root[metric], 1)).toFixed(1) + '%)'; }
  function render() {
    box.textContent = '';
    var path = [], a = zoomed, matched = 0, depth = 0;
    for (; a; a = a.parent) path.unshift(a);
    var total = Math.max(zoomed[metric], 1);
    function draw(n, d, x, w) {
      var el = document.createElement('div');
      el.className = 'frame' + (term && n.n.toLowerCase().indexOf(term) >= 0 ? ' match' : '') + (d < path.length - 1 ? ' ancestor' : '');
      el.style.left = (100 * x) + '%';
      el.style.width = (100 * w) + '%';
      el.style.top = (d * rowH) + 'px';
      el.dataset.name = n.n;
      el.dataset.depth = d;
      el.title = label(n);
      el.textContent = n.n;
      el.addEventListener('click', function () { zoomed = n; render(); });
      box.appendChild(el);
      depth = Math.max(depth, d + 1);
      return el;
    }
    function matchesIn(n) {
      if (term && n.n.toLowerCase().indexOf(term) >= 0) return n[metric];
      var s = 0;
      n.c.forEach(function (c) { s += matchesIn(c); });
      return s;
    }
    path.forEach(function (n, d) { if (d < path.length - 1) draw(n, d, 0, 1); });
    (function walk(n, d, x) {
      var w = n[metric] / total;
      if (w < 0.002) return;
      draw(n, d, x, w);
      var cx = x;
      n.c.slice().sort(function (p, q) { return q[metric] - p[metric]; }).forEach(function (c) {
        walk(c, d + 1, cx);
        cx += c[metric] / total;
      });
    })(zoomed, path.length - 1, 0);
    box.style.height = (depth * rowH + 2) + 'px';
    box.dataset.zoom = zoomed.n;
    box.dataset.metric = metric;
    if (term) matched = matchesIn(zoomed);
    info.textContent = (metric === 'l' ? 'live bytes' : 'pinned bytes') + ': ' + bytes(zoomed[metric]) +
      (zoomed === root ? '' : ' in ' + zoomed.n + ' (click a frame above it to zoom out)') +
      (term ? ' · matching "' + term + '": ' + bytes(matched) : '');
  }
  document.querySelectorAll('#flame-metric button').forEach(function (b) {
    b.addEventListener('click', function () {
      metric = b.dataset.metric;
      document.querySelectorAll('#flame-metric button').forEach(function (o) { o.classList.toggle('on', o === b); });
      render();
    });
  });
  document.getElementById('flame-reset').addEventListener('click', function () { zoomed = root; render(); });
  search.addEventListener('input', function () { term = search.value.trim().toLowerCase(); render(); });
  render();
})();
)JS";

constexpr const char* kStyle = R"CSS(
#flame{position:relative;margin:.5rem 0;font:12px/20px ui-monospace,monospace}
#flame .frame{position:absolute;height:19px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;cursor:pointer;
  padding:0 3px;box-sizing:border-box;border:1px solid #fff;background:#f4a261;color:#1d2430}
#flame .frame:nth-child(3n){background:#e9c46a}#flame .frame:nth-child(3n+1){background:#f4845f}
#flame .frame.ancestor{background:#d5dbe5}#flame .frame.match{background:#c77dff;color:#fff}
#flame-metric button.on{font-weight:700}.flame-bar{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
)CSS";

}  // namespace

nlohmann::json flame_tree(const nlohmann::json& snapshot, const std::vector<NamedSite>& sites) {
  nlohmann::json root = node("all");
  for (const NamedSite& s : sites) {
    if (s.frames.empty() || (s.live_bytes <= 0 && s.pinned_bytes <= 0)) continue;
    const double live = std::max(0.0, s.live_bytes), pinned = std::max(0.0, s.pinned_bytes);
    add(root, live, pinned);
    nlohmann::json* n = &root;
    for (std::size_t i = s.frames.size(); i-- > s.origin_index();) {
      const NamedFrame& f = s.frames[i];
      n = &child(*n, f.function.empty() ? f.label() : f.function);
      add(*n, live, pinned);
    }
  }
  const nlohmann::json& o = sub(sub(snapshot, "sites"), "others");
  if (num(o, "live_bytes") > 0 || num(o, "pinned_bytes") > 0) {
    add(root, num(o, "live_bytes"), num(o, "pinned_bytes"));
    add(child(root, "[other call sites]"), num(o, "live_bytes"), num(o, "pinned_bytes"));
  }
  return root;
}

std::string flame_graph_html(const nlohmann::json& snapshot, const std::vector<NamedSite>& sites) {
  const nlohmann::json tree = flame_tree(snapshot, sites);
  if (!(tree["l"].get<double>() > 0) && !(tree["p"].get<double>() > 0)) return {};
  // Inside <script>: "<" escaped, so no "</script>" in a name can end the element.
  std::string data = tree.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string safe;
  safe.reserve(data.size());
  for (char c : data) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return fmt::format(
      "<style>{}</style><div id=\"flame-section\"><h3>Flame graph</h3><div class=\"flame-bar\">"
      "<span id=\"flame-metric\"><button type=\"button\" class=\"on\" data-metric=\"l\">live bytes</button> "
      "<button type=\"button\" data-metric=\"p\">pinned bytes</button></span>"
      "<input id=\"flame-search\" type=\"search\" placeholder=\"search frames\" aria-label=\"search frames\">"
      "<button type=\"button\" id=\"flame-reset\">reset zoom</button></div>"
      "<p class=\"meta\" id=\"flame-info\"></p><div id=\"flame\"></div>"
      "<p class=\"meta\">The program's outermost frame on top, down to the call that asked for memory (allocator and "
      "wrapper frames folded); width: the bytes below. Click a frame to zoom in, one above it to zoom out.</p>"
      "<script type=\"application/json\" id=\"flame-data\">{}</script><script>{}</script></div>\n",
      kStyle, safe, kScript);
}

}  // namespace fragscope::report
