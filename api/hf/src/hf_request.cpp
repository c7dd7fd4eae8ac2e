// Request bodies of the Hugging Face routes into the canonical EmbeddingsRequest / ImageRequest.
//
// Shapes are those @huggingface/inference 4.13 sends (src/providers/hf-inference.ts,
// fal-ai.ts, replicate.ts, together.ts): HF task inputs {"inputs", "parameters"}; fal gets the
// parameters flattened beside "prompt"; Replicate gets them inside "input". The canonical bodies
// are OpenAI-shaped (what the openai adapter forwards); the typed fields serve the other adapters.
#include <cmath>
#include <limits>

#include "infergate/api/hf.hpp"

namespace infergate::api::hf {
namespace {

using json = nlohmann::json;

Error bad(std::string message, std::string param) {
  return Error::make(ErrorKind::invalid_request, std::move(message), std::move(param),
                     "invalid_request");
}

bool parse_object(std::string_view body, json& j, Error& err) {
  j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    err = bad("The request body must be a JSON object.", "");
    return false;
  }
  return true;
}

// An optional integer field within [lo, hi]; false (err set) when present and invalid.
bool int_field(const json& obj, const char* key, std::int64_t lo, std::int64_t hi,
               std::optional<std::int64_t>& out, Error& err, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  const std::string param = std::string(where) + key;
  std::int64_t v = 0;
  if (it->is_number_integer()) {
    v = it->get<std::int64_t>();
  } else if (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>() &&
             std::abs(it->get<double>()) < 9.0e15) {
    v = static_cast<std::int64_t>(it->get<double>());
  } else {
    err = bad("`" + param + "` must be an integer.", param);
    return false;
  }
  if (v < lo || v > hi) {
    err = bad("`" + param + "` must be between " + std::to_string(lo) + " and " +
                  std::to_string(hi) + ".",
              param);
    return false;
  }
  out = v;
  return true;
}

bool number_field(const json& obj, const char* key, double lo, double hi,
                  std::optional<double>& out, Error& err, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  const std::string param = std::string(where) + key;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < lo ||
      it->get<double>() > hi) {
    err = bad("`" + param + "` must be a number between " + std::to_string(static_cast<int>(lo)) +
                  " and " + std::to_string(static_cast<int>(hi)) + ".",
              param);
    return false;
  }
  out = it->get<double>();
  return true;
}

bool string_field(const json& obj, const char* key, std::size_t max, std::string& out, Error& err,
                  std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  const std::string param = std::string(where) + key;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > max) {
    err = bad("`" + param + "` must be a string of at most " + std::to_string(max) + " bytes.",
              param);
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool prompt_field(const json& obj, const char* key, std::string& out, Error& err,
                  std::string_view where) {
  const std::string param = std::string(where) + key;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    err = bad("`" + param + "` is required: a non-empty string (the prompt).", param);
    return false;
  }
  return string_field(obj, key, kMaxPromptBytes, out, err, where);
}

// fal's image_size enum (fal model API reference, e.g. fal-ai/flux/schnell "image_size").
bool fal_image_size(std::string_view name, int& w, int& h) {
  struct Size {
    std::string_view name;
    int w, h;
  };
  static constexpr Size kSizes[] = {
      {"square_hd", 1024, 1024},    {"square", 512, 512},         {"portrait_4_3", 768, 1024},
      {"portrait_16_9", 576, 1024}, {"landscape_4_3", 1024, 768}, {"landscape_16_9", 1024, 576},
  };
  for (const auto& s : kSizes)
    if (s.name == name) {
      w = s.w;
      h = s.h;
      return true;
    }
  return false;
}

// The common image parameters (HF names) found in `obj`, into `out`; `where` prefixes params.
bool image_params(const json& obj, ImageRequest& out, Error& err, std::string_view where) {
  std::optional<std::int64_t> w, h, steps, seed, n;
  std::optional<double> guidance;
  if (!int_field(obj, "width", 1, kMaxImageSide, w, err, where) ||
      !int_field(obj, "height", 1, kMaxImageSide, h, err, where) ||
      !int_field(obj, "num_inference_steps", 1, kMaxSteps, steps, err, where) ||
      !int_field(obj, "seed", std::numeric_limits<std::int64_t>::min(),
                 std::numeric_limits<std::int64_t>::max(), seed, err, where) ||
      !number_field(obj, "guidance_scale", 0, 100, guidance, err, where) ||
      !string_field(obj, "negative_prompt", kMaxPromptBytes, out.negative_prompt, err, where))
    return false;
  if (auto ts = obj.find("target_size"); ts != obj.end() && ts->is_object()) {
    const std::string sub = std::string(where) + "target_size.";
    if (!int_field(*ts, "width", 1, kMaxImageSide, w, err, sub) ||
        !int_field(*ts, "height", 1, kMaxImageSide, h, err, sub))
      return false;
  }
  for (const char* count : {"num_images", "num_outputs", "n"}) {
    if (!int_field(obj, count, 1, kMaxImages, n, err, where)) return false;
  }
  if (w) out.width = static_cast<int>(*w);
  if (h) out.height = static_cast<int>(*h);
  if (steps) out.steps = static_cast<int>(*steps);
  if (seed) out.seed = *seed;
  if (guidance) out.guidance_scale = *guidance;
  if (n) out.n = static_cast<int>(*n);
  return true;
}

// The OpenAI-shaped canonical body of an image request.
void finish_image(ImageRequest& out, std::string_view model) {
  out.model = std::string(model);
  json b = json::object();
  b["model"] = out.model;
  b["prompt"] = out.prompt;
  b["n"] = out.n;
  if (out.width > 0 && out.height > 0)
    b["size"] = std::to_string(out.width) + "x" + std::to_string(out.height);
  b["response_format"] = out.want_url ? "url" : "b64_json";
  if (!out.negative_prompt.empty()) b["negative_prompt"] = out.negative_prompt;
  if (out.seed) b["seed"] = *out.seed;
  if (out.steps) b["num_inference_steps"] = *out.steps;
  if (out.guidance_scale) b["guidance_scale"] = *out.guidance_scale;
  out.body = std::move(b);
}

}  // namespace

bool parse_feature_extraction(std::string_view body, std::string_view model, EmbeddingsRequest& out,
                              bool& single, Error& err) {
  json j;
  if (!parse_object(body, j, err)) return false;
  auto in = j.find("inputs");
  out.inputs.clear();
  if (in != j.end() && in->is_string()) {
    single = true;
    out.inputs.push_back(in->get<std::string>());
  } else if (in != j.end() && in->is_array() && !in->empty() && in->size() <= kMaxInputs) {
    single = false;
    for (const auto& x : *in) {
      if (!x.is_string()) {
        err = bad("`inputs` must be a string or a list of strings.", "inputs");
        return false;
      }
      out.inputs.push_back(x.get<std::string>());
    }
  } else {
    err = bad("`inputs` is required: a string or a list of 1 to " + std::to_string(kMaxInputs) +
                  " strings.",
              "inputs");
    return false;
  }
  for (const auto& s : out.inputs) {
    if (s.empty() || s.size() > kMaxInputBytes) {
      err = bad("Each input must be a non-empty string of at most " +
                    std::to_string(kMaxInputBytes) + " bytes.",
                "inputs");
      return false;
    }
  }
  std::optional<std::int64_t> dims;
  if (!int_field(j, "dimensions", 1, 65536, dims, err, "")) return false;
  if (auto p = j.find("parameters"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) {
      err = bad("`parameters` must be an object.", "parameters");
      return false;
    }
    if (!int_field(*p, "dimensions", 1, 65536, dims, err, "parameters.")) return false;
  }
  if (auto e = j.find("encoding_format");
      e != j.end() && !e->is_null() && !(e->is_string() && e->get<std::string>() == "float")) {
    // The HF answer is JSON arrays of numbers; base64 has no place in it.
    err = bad("`encoding_format` must be \"float\" on this route.", "encoding_format");
    return false;
  }
  out.model = std::string(model);
  out.dimensions.reset();
  if (dims) out.dimensions = static_cast<int>(*dims);
  out.base64 = false;
  json b = json::object();
  b["model"] = out.model;
  b["input"] = single ? json(out.inputs.front()) : json(out.inputs);
  b["encoding_format"] = "float";
  if (out.dimensions) b["dimensions"] = *out.dimensions;
  out.body = std::move(b);
  return true;
}

bool parse_text_to_image(std::string_view body, std::string_view model, ImageRequest& out,
                         Error& err) {
  json j;
  if (!parse_object(body, j, err)) return false;
  out = ImageRequest{};
  if (!prompt_field(j, "inputs", out.prompt, err, "")) return false;
  if (auto p = j.find("parameters"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) {
      err = bad("`parameters` must be an object.", "parameters");
      return false;
    }
    if (!image_params(*p, out, err, "parameters.")) return false;
  }
  finish_image(out, model);
  return true;
}

bool parse_fal_request(std::string_view body, std::string_view model, ImageRequest& out,
                       Error& err) {
  json j;
  if (!parse_object(body, j, err)) return false;
  out = ImageRequest{};
  if (!prompt_field(j, "prompt", out.prompt, err, "")) return false;
  if (!image_params(j, out, err, "")) return false;
  if (auto s = j.find("image_size"); s != j.end() && !s->is_null()) {
    if (s->is_string()) {
      if (!fal_image_size(s->get_ref<const std::string&>(), out.width, out.height)) {
        err =
            bad("`image_size` must be {width, height} or one of square_hd, square, "
                "portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9.",
                "image_size");
        return false;
      }
    } else if (s->is_object()) {
      std::optional<std::int64_t> w, h;
      if (!int_field(*s, "width", 1, kMaxImageSide, w, err, "image_size.") ||
          !int_field(*s, "height", 1, kMaxImageSide, h, err, "image_size."))
        return false;
      if (w) out.width = static_cast<int>(*w);
      if (h) out.height = static_cast<int>(*h);
    } else {
      err = bad("`image_size` must be an object or a string.", "image_size");
      return false;
    }
  }
  finish_image(out, model);
  return true;
}

bool parse_replicate_request(std::string_view body, std::string_view model, ImageRequest& out,
                             std::string* version, Error& err) {
  json j;
  if (!parse_object(body, j, err)) return false;
  out = ImageRequest{};
  auto in = j.find("input");
  if (in == j.end() || !in->is_object()) {
    err = bad("`input` is required: an object with the model's inputs.", "input");
    return false;
  }
  if (!prompt_field(*in, "prompt", out.prompt, err, "input.")) return false;
  if (!image_params(*in, out, err, "input.")) return false;
  std::optional<double> guidance;  // Replicate's FLUX models call it `guidance`
  if (!number_field(*in, "guidance", 0, 100, guidance, err, "input.")) return false;
  if (guidance && !out.guidance_scale) out.guidance_scale = guidance;
  if (version != nullptr) {
    version->clear();
    if (!string_field(j, "version", 256, *version, err, "")) return false;
  }
  finish_image(out, model);
  return true;
}

bool parse_together_images(std::string_view body, ImageRequest& out, Error& err) {
  json j;
  if (!parse_object(body, j, err)) return false;
  out = ImageRequest{};
  if (!prompt_field(j, "prompt", out.prompt, err, "")) return false;
  if (!image_params(j, out, err, "")) return false;
  std::optional<std::int64_t> steps;
  if (!int_field(j, "steps", 1, kMaxSteps, steps, err, "")) return false;
  if (steps) out.steps = static_cast<int>(*steps);
  std::string format;
  if (!string_field(j, "response_format", 16, format, err, "")) return false;
  if (!format.empty() && format != "base64" && format != "b64_json" && format != "url") {
    err = bad("`response_format` must be \"base64\" or \"url\".", "response_format");
    return false;
  }
  out.want_url = format == "url";
  std::string model;
  if (!string_field(j, "model", 512, model, err, "")) return false;
  finish_image(out, model);
  return true;
}

std::string body_model(std::string_view body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return {};
  auto it = j.find("model");
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>().substr(0, 512);
}

}  // namespace infergate::api::hf
