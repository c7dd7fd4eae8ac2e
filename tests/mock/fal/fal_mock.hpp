// The wire format of the mock fal provider (infergate-mock-fal): input validation and the bodies
// it answers with, in the shapes of fal's documentation (docs.fal.ai "Synchronous requests",
// "Queue", "Errors"; the fal-ai/flux/schnell, fal-ai/flux/dev and fal-ai/fast-sdxl model pages).
// Pure functions, no I/O; PNGs and behaviours come from the Replicate mock's library.
//
// It shares no code with the gateway's fal adapter, and it validates more strictly than fal does
// (a field the model's input schema does not list is a 422), so an adapter that sends a field a
// model does not take is caught.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace infergate::mock::fal {

// Validates a text-to-image input for `model_id` (e.g. "fal-ai/flux/schnell"). Empty on success,
// else the 422 body {"detail": [{"loc", "msg", "type", "url"}]}.
std::string validate(std::string_view model_id, const nlohmann::json& input);

// The pixel size the mock draws for an input's image_size: an enum's size / 64, or
// width/64 x height/64 (at least 1); default landscape_4_3.
std::pair<int, int> png_size(const nlohmann::json& input);

// {"detail": "..."}
std::string detail(std::string_view message);

}  // namespace infergate::mock::fal
