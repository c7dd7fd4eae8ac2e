#include <gtest/gtest.h>

#include "infergate/adapters/adapter.hpp"

namespace infergate::adapters {
namespace {

TEST(Registry, KnownAndUnknownTypes) {
  config::ProviderConfig p;
  p.type = "openai";
  p.base_url = "https://api.openai.com/v1";
  EXPECT_NE(make_adapter(p), nullptr);
  p.type = "no-such-wire-format";
  EXPECT_EQ(make_adapter(p), nullptr);
}

}  // namespace
}  // namespace infergate::adapters
