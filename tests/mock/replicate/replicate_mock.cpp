#include "replicate_mock.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>

namespace infergate::mock::replicate {

namespace {

using json = nlohmann::json;

std::array<std::uint32_t, 256> crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[n] = c;
  }
  return t;
}

std::uint32_t crc32(std::string_view bytes) {
  static const auto table = crc_table();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xFF);
  out += static_cast<char>((v >> 16) & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}

void chunk(std::string& out, std::string_view type, std::string_view data) {
  put32(out, static_cast<std::uint32_t>(data.size()));
  std::string body(type);
  body += data;
  out += body;
  put32(out, crc32(body));
}

bool in_list(std::string_view v, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

std::string parse_behaviour(std::string_view spec, Behaviour& b, Extra& x) {
  b = Behaviour{};
  x = Extra{};
  std::string rest;
  while (!spec.empty()) {
    const auto amp = spec.find('&');
    const std::string_view item = spec.substr(0, amp);
    spec = amp == std::string_view::npos ? std::string_view{} : spec.substr(amp + 1);
    const auto eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string value(eq == std::string_view::npos ? "" : item.substr(eq + 1));
    auto number = [&](int lo, int hi, int& out) -> bool {
      if (value.empty() || value.size() > 9 ||
          value.find_first_not_of("0123456789") != std::string::npos)
        return false;
      const int v = std::stoi(value);
      if (v < lo || v > hi) return false;
      out = v;
      return true;
    };
    int flag = 0;
    if (key == "polls") {
      if (!number(0, 1000, x.polls)) return "behaviour polls must be 0..1000";
    } else if (key == "prediction_fail") {
      if (!number(0, 1, flag)) return "behaviour prediction_fail must be 0 or 1";
      x.prediction_fail = flag == 1;
    } else if (key == "data_uri") {
      if (!number(0, 1, flag)) return "behaviour data_uri must be 0 or 1";
      x.data_uri = flag == 1;
    } else if (key == "stream_error") {
      if (!number(0, kMaxBehaviourTokens, x.stream_error)) return "behaviour stream_error invalid";
    } else if (!item.empty()) {
      if (!rest.empty()) rest += '&';
      rest += item;
    }
  }
  return apply_behaviour(rest, b);
}

std::string png(int width, int height, std::uint32_t seed) {
  width = std::clamp(width, 1, 256);
  height = std::clamp(height, 1, 256);
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put32(ihdr, static_cast<std::uint32_t>(width));
  put32(ihdr, static_cast<std::uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, no filter, no interlace
  chunk(out, "IHDR", ihdr);
  // Raw scanlines: filter byte 0, then RGB.
  const std::uint32_t colour = seed * 2654435761u;
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw += '\0';
    for (int x = 0; x < width; ++x) {
      raw += static_cast<char>((colour >> 16) & 0xFF);
      raw += static_cast<char>(((colour >> 8) + static_cast<std::uint32_t>(x)) & 0xFF);
      raw += static_cast<char>((colour + static_cast<std::uint32_t>(y)) & 0xFF);
    }
  }
  // zlib: CMF/FLG, stored deflate blocks (at most 65535 bytes each), Adler-32.
  std::string z("\x78\x01", 2);
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z += static_cast<char>(last ? 1 : 0);
    z += static_cast<char>(n & 0xFF);
    z += static_cast<char>((n >> 8) & 0xFF);
    z += static_cast<char>(~n & 0xFF);
    z += static_cast<char>((~n >> 8) & 0xFF);
    z.append(raw, pos, n);
    pos += n;
  } while (pos < raw.size());
  std::uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put32(z, (b << 16) | a);
  chunk(out, "IDAT", z);
  chunk(out, "IEND", "");
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Family family_of(std::string_view name) {
  std::string n(name);
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n.find("flux") != std::string::npos)
    return n.find("schnell") != std::string::npos ? Family::flux_schnell : Family::flux;
  if (n.find("sdxl") != std::string::npos || n.find("stable-diffusion") != std::string::npos)
    return Family::sdxl;
  return Family::language;
}

std::vector<Invalid> validate_input(Family family, const json& input) {
  std::vector<Invalid> bad;
  auto add = [&](std::string field, std::string type, std::string description) {
    bad.push_back({"input." + std::move(field), std::move(type), std::move(description)});
  };
  if (!input.is_object()) {
    bad.push_back({"input", "type", "Invalid type. Expected: object"});
    return bad;
  }
  auto integer = [&](const std::string& k, std::int64_t lo, std::int64_t hi) {
    const auto it = input.find(k);
    if (it == input.end()) return;
    if (!it->is_number_integer()) return add(k, "type", "Invalid type. Expected: integer");
    if (it->get<std::int64_t>() < lo)
      return add(k, "greater_than_equal", "Must be greater than or equal to " + std::to_string(lo));
    if (it->get<std::int64_t>() > hi)
      add(k, "less_than_equal", "Must be less than or equal to " + std::to_string(hi));
  };
  auto number = [&](const std::string& k, double lo, double hi) {
    const auto it = input.find(k);
    if (it == input.end()) return;
    if (!it->is_number()) return add(k, "type", "Invalid type. Expected: number");
    if (it->get<double>() < lo || it->get<double>() > hi) add(k, "range", "Out of range");
  };
  auto string = [&](const std::string& k, std::initializer_list<std::string_view> allowed) {
    const auto it = input.find(k);
    if (it == input.end()) return;
    if (!it->is_string()) return add(k, "type", "Invalid type. Expected: string");
    if (allowed.size() > 0 && !in_list(it->get<std::string>(), allowed))
      add(k, "enum", "Must be one of the allowed values");
  };
  std::vector<std::string_view> keys;
  switch (family) {
    case Family::language:
      keys = {"prompt",
              "system_prompt",
              "max_tokens",
              "max_new_tokens",
              "min_tokens",
              "temperature",
              "top_p",
              "top_k",
              "stop_sequences",
              "presence_penalty",
              "frequency_penalty",
              "seed",
              "prompt_template",
              "length_penalty"};
      integer("max_tokens", 1, 1 << 20);
      integer("max_new_tokens", 1, 1 << 20);
      integer("min_tokens", -1, 1 << 20);
      number("temperature", 0, 5);
      number("top_p", 0, 1);
      integer("top_k", -1, 1 << 20);
      string("stop_sequences", {});
      string("system_prompt", {});
      number("presence_penalty", -5, 5);
      number("frequency_penalty", -5, 5);
      integer("seed", 0, INT64_MAX);
      break;
    case Family::flux:
    case Family::flux_schnell:
      if (family == Family::flux) {
        keys = {"prompt",     "aspect_ratio",           "num_outputs",    "num_inference_steps",
                "seed",       "output_format",          "output_quality", "go_fast",
                "megapixels", "disable_safety_checker", "guidance"};
        integer("num_inference_steps", 1, 50);
        number("guidance", 0, 10);
      } else {
        keys = {"prompt",     "aspect_ratio",          "num_outputs",    "num_inference_steps",
                "seed",       "output_format",         "output_quality", "go_fast",
                "megapixels", "disable_safety_checker"};
        integer("num_inference_steps", 1, 4);
      }
      string("aspect_ratio",
             {"1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"});
      integer("num_outputs", 1, 4);
      string("output_format", {"webp", "jpg", "png"});
      integer("seed", 0, INT64_MAX);
      break;
    case Family::sdxl:
      keys = {"prompt",         "negative_prompt",
              "width",          "height",
              "num_outputs",    "num_inference_steps",
              "guidance_scale", "seed",
              "scheduler",      "refine",
              "apply_watermark"};
      integer("width", 128, 2048);
      integer("height", 128, 2048);
      integer("num_outputs", 1, 4);
      integer("num_inference_steps", 1, 500);
      number("guidance_scale", 1, 50);
      string("negative_prompt", {});
      integer("seed", 0, INT64_MAX);
      break;
  }
  if (!input.contains("prompt")) {
    add("prompt", "required", "prompt is required");
  } else if (!input["prompt"].is_string()) {
    add("prompt", "type", "Invalid type. Expected: string");
  }
  for (auto it = input.begin(); it != input.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end())
      add(it.key(), "additional_property_not_allowed",
          "Additional property " + it.key() + " is not allowed");
  }
  return bad;
}

std::string problem(int status, std::string_view title, std::string_view detail,
                    const std::vector<Invalid>& invalid) {
  json j = {{"title", title}, {"detail", detail}, {"status", status}};
  if (!invalid.empty()) {
    json fields = json::array();
    for (const auto& i : invalid)
      fields.push_back({{"type", i.type}, {"field", i.field}, {"description", i.description}});
    j["invalid_fields"] = std::move(fields);
  }
  return j.dump();
}

std::pair<int, int> png_size(Family family, const json& input) {
  if (family == Family::flux || family == Family::flux_schnell) {
    const std::string ratio = input.value("aspect_ratio", std::string("1:1"));
    const auto colon = ratio.find(':');
    return {2 * std::stoi(ratio.substr(0, colon)), 2 * std::stoi(ratio.substr(colon + 1))};
  }
  const int w = input.value("width", 1024), h = input.value("height", 1024);
  return {std::max(1, w / 64), std::max(1, h / 64)};
}

std::vector<std::string> tokens_for(const json& input, const Behaviour& b) {
  std::vector<std::string> out;
  if (b.echo) {
    const std::string prompt = input.value("prompt", std::string());
    std::size_t i = 0;
    while (i < prompt.size()) {
      const auto start = prompt.find_first_not_of(" \t\r\n", i);
      if (start == std::string::npos) break;
      const auto end = prompt.find_first_of(" \t\r\n", start);
      std::string word = out.empty() ? std::string() : std::string(" ");
      word.append(prompt, start, end == std::string::npos ? std::string::npos : end - start);
      out.push_back(std::move(word));
      i = end == std::string::npos ? prompt.size() : end;
    }
  } else {
    for (int i = 0; i < b.tokens; ++i) {
      std::string t = i ? std::string(" tok") : std::string("tok");
      t.append(std::to_string(i));
      out.push_back(std::move(t));
    }
  }
  std::int64_t max = -1;
  for (const char* k : {"max_tokens", "max_new_tokens"})
    if (input.contains(k) && input[k].is_number_integer()) max = input[k].get<std::int64_t>();
  if (max >= 0 && static_cast<std::int64_t>(out.size()) > max)
    out.resize(static_cast<std::size_t>(max));
  return out;
}

}  // namespace infergate::mock::replicate
