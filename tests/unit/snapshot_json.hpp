// Test helper: a snapshot of a recorder, encoded by the real SnapshotBuilder and parsed back.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "recorder.hpp"
#include "snapshot.hpp"

namespace fragscope::test {

inline nlohmann::json snapshot_json(core::Recorder& rec, std::uint64_t now, core::SnapshotMeta m = {}) {
  auto b = std::make_unique<core::SnapshotBuilder>();
  b->collect(rec, now);
  core::TextBuffer buf;
  EXPECT_TRUE(buf.reserve(4 << 20));
  m.final = true;
  if (m.rollup == nullptr && m.rollup_error == nullptr) m.rollup_error = "not read";
  b->encode(m, rec, buf);
  EXPECT_FALSE(buf.overflow());
  std::string line(buf.data(), buf.size());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one object per line";
  return nlohmann::json::parse(line);
}

}  // namespace fragscope::test
