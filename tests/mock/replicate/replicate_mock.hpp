// The wire format of the mock Replicate provider (infergate-mock-replicate), and the pieces the
// mock fal provider shares with it (behaviours, real PNG files). Pure functions, no I/O.
//
// Like the other mocks it shares no code with the gateway's adapters: it is an independent
// reading of Replicate's HTTP API reference (replicate.com/docs: "HTTP API" predictions.create /
// models.predictions.create / predictions.get / predictions.cancel, the prediction object,
// "Create a prediction" (Prefer: wait), "Streaming output" (events output / error / done),
// "Rate limits") and of the model schemas it imitates (black-forest-labs/flux-schnell and
// flux-dev, stability-ai/sdxl, meta/meta-llama-3-*-instruct), so a misreading in the adapter
// shows up as a failing test. It validates inputs more strictly than Replicate does (an input the
// model's schema does not list is a 422 here), so an adapter that sends a field a model family
// does not take is caught.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mock_openai.hpp"

namespace infergate::mock::replicate {

// Behaviours beyond the OpenAI mock's (tests/mock/README.md), in the same "k=v&k=v" syntax of
// the x-mock-behaviour header.
struct Extra {
  int polls = 0;                 // the prediction stays unfinished for the first N GETs
  bool prediction_fail = false;  // the prediction ends `failed` with an error message
  bool data_uri = false;         // image outputs as data: URIs instead of file URLs
  int stream_error = -1;         // stream: after K output events, an error event
};
// Applies `spec`: the Extra keys here, every other key through apply_behaviour. Empty on
// success, else what is wrong.
std::string parse_behaviour(std::string_view spec, Behaviour& b, Extra& x);

// A real PNG (8-bit RGB, zlib stored blocks, CRC-32 and Adler-32 computed), `width` x `height`
// (1..256 each), filled with a colour derived from `seed`.
std::string png(int width, int height, std::uint32_t seed);

// Base64 with padding.
std::string base64(std::string_view bytes);

enum class Family : std::uint8_t { language, flux, flux_schnell, sdxl };
// By model name: "flux" (+ "schnell"), "sdxl" / "stable-diffusion", else a language model.
Family family_of(std::string_view name);

struct Invalid {
  std::string field;  // e.g. "input.num_outputs"
  std::string type;   // e.g. "less_than_equal"
  std::string description;
};
// Validates a prediction's input against the family's schema.
std::vector<Invalid> validate_input(Family family, const nlohmann::json& input);

// A problem-details body {"title","detail","status"[,"invalid_fields"]}.
std::string problem(int status, std::string_view title, std::string_view detail,
                    const std::vector<Invalid>& invalid = {});

// The PNG size the mock draws for an image input: FLUX aspect_ratio W:H -> 2W x 2H,
// width/height -> width/64 x height/64 (at least 1), defaults 2x2 / 16x16.
std::pair<int, int> png_size(Family family, const nlohmann::json& input);

// The language model's output tokens for an input: "tok0", " tok1", ... (b.tokens of them) or,
// with echo, the prompt's words; cut at max_tokens / max_new_tokens.
std::vector<std::string> tokens_for(const nlohmann::json& input, const Behaviour& b);

}  // namespace infergate::mock::replicate
