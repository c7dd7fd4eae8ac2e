// The mock Bedrock runtime's CountTokens answer (Amazon Bedrock API Reference, Runtime:
// "CountTokens", "CountTokensInput", "ConverseTokensRequest"), apart from the server so it can be
// unit-tested. Header-only; shares nothing with the gateway's bedrock codec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace infergate::mock::bedrock {

// Whitespace-separated words of `text`.
inline std::int64_t count_words(const std::string& text) {
  std::int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

// Validates a CountTokens body as the API does -- {"input": CountTokensInput}, a union of which
// this mock takes the `converse` member (ConverseTokensRequest: messages, system, toolConfig,
// additionalModelRequestFields; anything else is a ValidationException) with at least one
// message -- and counts deterministically: the words of every `text` block in system and
// messages (toolResult content included), + 1 per message, + for each toolConfig.tools[].toolSpec
// 1 + the words of its description. nullopt with `input_tokens` set, else the message for a 400.
inline std::optional<std::string> count_tokens(const std::string& body,
                                               std::int64_t& input_tokens) {
  using json = nlohmann::json;
  input_tokens = 0;
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("input") || !j["input"].is_object())
    return std::string(
        "1 validation error detected: Value at 'input' failed to satisfy "
        "constraint: Member must not be null");
  const json& input = j["input"];
  if (input.size() != 1 || !input.contains("converse") || !input["converse"].is_object())
    return std::string("input must set exactly one member; this mock takes 'converse'");
  const json& converse = input["converse"];
  for (auto it = converse.begin(); it != converse.end(); ++it) {
    const auto& k = it.key();
    if (k != "messages" && k != "system" && k != "toolConfig" &&
        k != "additionalModelRequestFields")
      return "Unknown field in ConverseTokensRequest: " + k;
  }
  if (!converse.contains("messages") || !converse["messages"].is_array() ||
      converse["messages"].empty())
    return std::string("messages is required");
  std::int64_t n = 0;
  auto texts = [&](const json& blocks, auto& self) -> void {
    if (!blocks.is_array()) return;
    for (const auto& b : blocks) {
      if (!b.is_object()) continue;
      if (auto t = b.find("text"); t != b.end() && t->is_string())
        n += count_words(t->get<std::string>());
      if (auto r = b.find("toolResult"); r != b.end() && r->is_object() && r->contains("content"))
        self((*r)["content"], self);
    }
  };
  if (converse.contains("system")) texts(converse["system"], texts);
  for (const auto& m : converse["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content") || !m["content"].is_array())
      return std::string("each message needs role and content");
    texts(m["content"], texts);
    n += 1;
  }
  if (auto tc = converse.find("toolConfig"); tc != converse.end()) {
    if (!tc->is_object() || !tc->contains("tools") || !(*tc)["tools"].is_array())
      return std::string("toolConfig.tools is required");
    for (const auto& tool : (*tc)["tools"]) {
      if (!tool.is_object() || !tool.contains("toolSpec")) continue;
      n += 1;
      const json& spec = tool["toolSpec"];
      if (auto d = spec.find("description"); d != spec.end() && d->is_string())
        n += count_words(d->get<std::string>());
    }
  }
  input_tokens = n;
  return std::nullopt;
}

}  // namespace infergate::mock::bedrock
