// The parts of the mock Bedrock runtime (infergate-mock-bedrock) that need no socket: what a
// Converse request carried (inspect), the tool calls a model id asks for, and the event-stream
// frames of ConverseStream, in the shapes of the Amazon Bedrock API Reference ("Converse",
// "ConverseStream", "ConverseStreamOutput", "ContentBlock", "ToolResultBlock", "ImageBlock").
// Written apart from the gateway's codec (adapters/bedrock/), like every mock here.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace infergate::mock::bedrock {

// A model's behaviour is chosen by substrings of its model id.
struct Plan {
  bool throttle = false;      // "throttle": 429 ThrottlingException
  bool inspect = false;       // "inspect": the text says what tool results and images arrived
  bool stream_error = false;  // "streamerror": ConverseStream sends text, then an exception event
  std::size_t tools = 0;      // "tools": 1 tool call after a text block; "parallel": 2, no text
};
Plan plan_for(std::string_view model);

struct ToolUse {
  std::string id;
  std::string name;
  nlohmann::json input;
  std::vector<std::string> fragments;  // the input's JSON text, as ConverseStream sends it
};
// The first `n` (at most 2) tool calls: get_weather {"city":"Paris","unit":"celsius"} (three
// fragments), get_time {"timezone":"Europe/Paris"} (two fragments).
std::vector<ToolUse> tool_uses(std::size_t n);

// inspect: "saw: tool_result <toolUseId> <content>; image image/<format> <N> bytes fnv1a=<hash>"
// (tests/mock/mock_openai.hpp inspection_text), read from the Converse request's messages:
// {"toolResult":{"toolUseId","content":[{"text"}|{"json"}]}} and
// {"image":{"format","source":{"bytes": base64}}} blocks.
std::string inspect(const nlohmann::json& body);

// One event-stream message (binary framing: prelude, CRC, string headers, payload, CRC).
std::string frame(const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& payload);
// An event frame (:message-type event) of `type` with a JSON payload.
std::string event(const std::string& type, const nlohmann::json& body);
// An exception frame (:message-type exception, :exception-type `type`) with {"message": ...}:
// how ConverseStream reports an error after the 200 ("ConverseStreamOutput":
// modelStreamErrorException, internalServerException, throttlingException, ...).
std::string exception_event(const std::string& type, const std::string& message);

}  // namespace infergate::mock::bedrock
