#include "fal_mock.hpp"

#include <algorithm>
#include <vector>

namespace infergate::mock::fal {

namespace {

using json = nlohmann::json;

struct Size {
  std::string_view name;
  int width, height;
};
constexpr Size kSizes[] = {{"square_hd", 1024, 1024},    {"square", 512, 512},
                           {"portrait_4_3", 768, 1024},  {"portrait_16_9", 576, 1024},
                           {"landscape_4_3", 1024, 768}, {"landscape_16_9", 1024, 576}};

}  // namespace

std::string detail(std::string_view message) { return json{{"detail", message}}.dump(); }

std::string validate(std::string_view model_id, const json& input) {
  json errors = json::array();
  auto add = [&](const std::string& field, std::string msg, std::string type) {
    errors.push_back({{"loc", json::array({"body", field})},
                      {"msg", std::move(msg)},
                      {"type", type},
                      {"url", "https://docs.fal.ai/errors/#" + type}});
  };
  if (!input.is_object()) {
    errors.push_back({{"loc", json::array({"body"})},
                      {"msg", "value is not a valid dict"},
                      {"type", "type_error.dict"},
                      {"url", "https://docs.fal.ai/errors/#type_error.dict"}});
    return json{{"detail", errors}}.dump();
  }
  const bool flux = model_id.find("flux") != std::string_view::npos;
  const bool schnell = flux && model_id.find("schnell") != std::string_view::npos;
  std::vector<std::string_view> keys = {
      "prompt",      "image_size", "num_inference_steps",   "seed",
      "sync_mode",   "num_images", "enable_safety_checker", "output_format",
      "acceleration"};
  if (!schnell) keys.push_back("guidance_scale");
  if (!flux) {
    keys.push_back("negative_prompt");
    keys.push_back("expand_prompt");
    keys.push_back("format");
  }
  if (!input.contains("prompt") || !input["prompt"].is_string() ||
      input["prompt"].get<std::string>().empty())
    add("prompt", "field required", "value_error.missing");
  for (auto it = input.begin(); it != input.end(); ++it)
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end())
      add(it.key(), "extra fields not permitted", "value_error.extra");
  auto integer = [&](const char* k, std::int64_t lo, std::int64_t hi) {
    if (!input.contains(k)) return;
    const json& v = input[k];
    if (!v.is_number_integer()) return add(k, "value is not a valid integer", "type_error.integer");
    if (v.get<std::int64_t>() < lo)
      return add(k, "ensure this value is greater than or equal to " + std::to_string(lo),
                 "value_error.number.not_ge");
    if (v.get<std::int64_t>() > hi)
      add(k, "ensure this value is less than or equal to " + std::to_string(hi),
          "value_error.number.not_le");
  };
  integer("num_images", 1, 4);
  integer("num_inference_steps", 1, schnell ? 12 : 50);
  integer("seed", 0, INT64_MAX);
  if (input.contains("guidance_scale") && !input["guidance_scale"].is_number())
    add("guidance_scale", "value is not a valid float", "type_error.float");
  if (input.contains("sync_mode") && !input["sync_mode"].is_boolean())
    add("sync_mode", "value could not be parsed to a boolean", "type_error.bool");
  if (input.contains("output_format")) {
    const json& f = input["output_format"];
    if (!f.is_string() || (f != "jpeg" && f != "png"))
      add("output_format", "unexpected value; permitted: 'jpeg', 'png'", "value_error.const");
  }
  if (input.contains("image_size")) {
    const json& s = input["image_size"];
    bool ok = false;
    if (s.is_string()) {
      for (const auto& k : kSizes) ok = ok || s == k.name;
    } else if (s.is_object()) {
      ok = s.size() == 2 && s.contains("width") && s.contains("height") &&
           s["width"].is_number_integer() && s["height"].is_number_integer() &&
           s["width"].get<int>() >= 64 && s["width"].get<int>() <= 14142 &&
           s["height"].get<int>() >= 64 && s["height"].get<int>() <= 14142;
    }
    if (!ok) add("image_size", "value is not a valid image size", "value_error");
  }
  if (errors.empty()) return {};
  return json{{"detail", errors}}.dump();
}

std::pair<int, int> png_size(const json& input) {
  int w = 1024, h = 768;
  if (input.contains("image_size")) {
    const json& s = input["image_size"];
    if (s.is_string()) {
      for (const auto& k : kSizes)
        if (s == k.name) w = k.width, h = k.height;
    } else if (s.is_object()) {
      w = s.value("width", w);
      h = s.value("height", h);
    }
  }
  return {std::max(1, w / 64), std::max(1, h / 64)};
}

}  // namespace infergate::mock::fal
