#include "fal_mock.hpp"

#include <gtest/gtest.h>

namespace infergate::mock::fal {
namespace {

using json = nlohmann::json;

TEST(FalMock, ValidatesLikeTheModelSchemas) {
  EXPECT_EQ(validate("fal-ai/flux/schnell", json{{"prompt", "p"},
                                                 {"image_size", "landscape_16_9"},
                                                 {"num_images", 2},
                                                 {"sync_mode", true}}),
            "");
  const json bad = json::parse(validate(
      "fal-ai/flux/schnell", json{{"prompt", "p"}, {"guidance_scale", 3}, {"num_images", 9}}));
  ASSERT_EQ(bad["detail"].size(), 2u);
  EXPECT_EQ(bad["detail"][0]["loc"], json::array({"body", "guidance_scale"}));
  EXPECT_EQ(bad["detail"][0]["type"], "value_error.extra");
  EXPECT_EQ(bad["detail"][1]["loc"], json::array({"body", "num_images"}));
  EXPECT_EQ(validate("fal-ai/flux/dev", json{{"prompt", "p"}, {"guidance_scale", 3.5}}), "");
  EXPECT_NE(validate("fal-ai/flux/dev", json{{"prompt", "p"}, {"negative_prompt", "x"}}), "");
  EXPECT_EQ(validate("fal-ai/fast-sdxl", json{{"prompt", "p"},
                                              {"negative_prompt", "x"},
                                              {"image_size", {{"width", 640}, {"height", 480}}}}),
            "");
  EXPECT_NE(validate("fal-ai/fast-sdxl", json{{"image_size", "huge"}}), "");
  EXPECT_EQ(png_size(json{{"image_size", "landscape_16_9"}}), (std::pair<int, int>{16, 9}));
  EXPECT_EQ(png_size(json{{"image_size", {{"width", 640}, {"height", 480}}}}),
            (std::pair<int, int>{10, 7}));
}

}  // namespace
}  // namespace infergate::mock::fal
