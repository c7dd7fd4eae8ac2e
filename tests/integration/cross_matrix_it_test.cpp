// The cross-test matrix, black box: every client dialect (OpenAI chat/completions, Anthropic
// Messages) against every provider wire format (openai, anthropic, gemini, bedrock), in seven
// scenarios each. The real `infergate` binary runs in front of the four mock providers, all as
// processes on ephemeral loopback ports, started once for the whole suite. Every case reads what
// the client sees in the client's own dialect; the tool-result and image cases also read what the
// mock received in ITS wire format (the mocks' `inspect` behaviour answers with a summary of the
// tool results and images they parsed from their own request shape).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"
#include "mock_openai.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-matrix-it-key-0123456789";
constexpr const char* kAwsKeyId = "AKIDEXAMPLEMATRIX";
constexpr const char* kAwsSecret = "matrix-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";

enum class Dialect { openai, anthropic };
enum class Format { openai, anthropic, gemini, bedrock };
enum class Scenario { plain, streamed, tool_stream, parallel, tool_result, image, stream_error };

constexpr std::array kDialects = {Dialect::openai, Dialect::anthropic};
constexpr std::array kFormats = {Format::openai, Format::anthropic, Format::gemini,
                                 Format::bedrock};
constexpr std::array kScenarios = {
    Scenario::plain,       Scenario::streamed, Scenario::tool_stream, Scenario::parallel,
    Scenario::tool_result, Scenario::image,    Scenario::stream_error};

const char* name_of(Dialect d) { return d == Dialect::openai ? "Openai" : "Anthropic"; }
const char* name_of(Format f) {
  switch (f) {
    case Format::openai:
      return "Openai";
    case Format::anthropic:
      return "Anthropic";
    case Format::gemini:
      return "Gemini";
    case Format::bedrock:
      return "Bedrock";
  }
  return "?";
}
const char* name_of(Scenario s) {
  switch (s) {
    case Scenario::plain:
      return "PlainText";
    case Scenario::streamed:
      return "StreamedText";
    case Scenario::tool_stream:
      return "ToolCallStreamedInPieces";
    case Scenario::parallel:
      return "ParallelToolCalls";
    case Scenario::tool_result:
      return "ToolResultTurn";
    case Scenario::image:
      return "ImageInput";
    case Scenario::stream_error:
      return "UpstreamErrorMidStream";
  }
  return "?";
}
const char* key_of(Format f) {
  switch (f) {
    case Format::openai:
      return "openai";
    case Format::anthropic:
      return "anthropic";
    case Format::gemini:
      return "gemini";
    case Format::bedrock:
      return "bedrock";
  }
  return "?";
}

struct Case {
  Dialect dialect;
  Format format;
  Scenario scenario;
};

// Failure messages name the case instead of dumping its bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << name_of(c.dialect) << " client, " << name_of(c.format) << " provider, "
      << name_of(c.scenario);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(name_of(info.param.dialect)) + "_from_" + name_of(info.param.format) + "_" +
         name_of(info.param.scenario);
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (auto d : kDialects)
    for (auto f : kFormats)
      for (auto s : kScenarios) out.push_back({d, f, s});
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the mocks answer (their READMEs): the text of `tokens=N`, Bedrock's echo, the tool calls.

constexpr const char* kUserText = "hello matrix";

std::string tokens_text(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " tok" : "tok") + std::to_string(i);
  return out;
}

std::string plain_text(Format f) {
  return f == Format::bedrock ? std::string("mock bedrock says: ") + kUserText : tokens_text(5);
}

// The whole text of the stream that breaks mid-way (a client sees a prefix of it).
std::string broken_text(Format f) {
  return f == Format::bedrock ? std::string("mock bedrock says: ") + kUserText : tokens_text(6);
}

const json kWeatherArgs = {{"city", "Paris"}, {"unit", "celsius"}};
const json kTimeArgs = {{"timezone", "Europe/Paris"}};

// The ids each mock gives its calls; Gemini's API has none here, the gateway makes them up.
std::array<std::string, 2> tool_ids(Format f) {
  switch (f) {
    case Format::openai:
      return {"call_mock_weather_0", "call_mock_time_1"};
    case Format::anthropic:
      return {"toolu_mock_weather_0", "toolu_mock_time_1"};
    case Format::bedrock:
      return {"tooluse_mock1", "tooluse_mock2"};
    case Format::gemini:
      break;
  }
  return {"", ""};
}

// A 1x1 greyscale PNG (IHDR, IDAT, IEND), and what the mocks' inspect says about it: its media
// type, the decoded byte count and the FNV-1a (32-bit) of the bytes, computed here on its own.
const std::string kPng(
    "\x89PNG\r\n\x1a\n"
    "\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55"
    "\x00\x00\x00\x0aIDAT\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01\x48\xaf\xa4\x71"
    "\x00\x00\x00\x00IEND\xae\x42\x60\x82",
    67);

std::string expected_image_summary() {
  std::uint32_t h = 2166136261u;
  for (char c : kPng) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", h);
  return "saw: image image/png 67 bytes fnv1a=" + std::string(hash);
}

// The tool result the client sends, and how each mock names the call it answers: by the
// client's call id, or (Gemini's functionResponse) by the function's name.
constexpr const char* kToolResult = R"({"temp_c":18})";
std::string client_call_id(Dialect d) {
  return d == Dialect::openai ? "call_matrix_1" : "toolu_matrix_1";
}
std::string expected_tool_result_summary(Dialect d, Format f) {
  return "saw: tool_result " +
         (f == Format::gemini ? std::string("get_weather") : client_call_id(d)) + " " + kToolResult;
}

// ---------------------------------------------------------------------------------------------
// Requests, in the client's dialect.

std::string model_for(Format f, Scenario s) {
  const char* kind = "text";
  switch (s) {
    case Scenario::plain:
    case Scenario::streamed:
      kind = "text";
      break;
    case Scenario::tool_stream:
      kind = "tools";
      break;
    case Scenario::parallel:
      kind = "parallel";
      break;
    case Scenario::tool_result:
    case Scenario::image:
      kind = "inspect";
      break;
    case Scenario::stream_error:
      kind = "broken";
      break;
  }
  return std::string(key_of(f)) + "-" + kind;
}

bool streams(Scenario s) {
  return s == Scenario::streamed || s == Scenario::tool_stream || s == Scenario::parallel ||
         s == Scenario::stream_error;
}

bool with_tools(Scenario s) {
  return s == Scenario::tool_stream || s == Scenario::parallel || s == Scenario::tool_result;
}

json openai_request(const Case& c) {
  json messages;
  switch (c.scenario) {
    case Scenario::tool_result:
      messages = json::array(
          {{{"role", "user"}, {"content", "what is the weather in Paris?"}},
           {{"role", "assistant"},
            {"content", nullptr},
            {"tool_calls",
             json::array({{{"id", client_call_id(c.dialect)},
                           {"type", "function"},
                           {"function",
                            {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}}})}},
           {{"role", "tool"},
            {"tool_call_id", client_call_id(c.dialect)},
            {"content", kToolResult}}});
      break;
    case Scenario::image:
      messages = json::array(
          {{{"role", "user"},
            {"content",
             json::array(
                 {{{"type", "text"}, {"text", "what is in this image?"}},
                  {{"type", "image_url"},
                   {"image_url", {{"url", "data:image/png;base64," + mock::base64(kPng)}}}}})}}});
      break;
    default:
      messages = json::array({{{"role", "system"}, {"content", "Be brief."}},
                              {{"role", "user"}, {"content", kUserText}}});
  }
  json body = {{"model", model_for(c.format, c.scenario)}, {"messages", messages}};
  if (streams(c.scenario)) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  if (with_tools(c.scenario)) {
    body["tools"] = json::array();
    for (const char* name : {"get_weather", "get_time"})
      body["tools"].push_back(
          {{"type", "function"},
           {"function",
            {{"name", name},
             {"description", "a tool"},
             {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}});
  }
  return body;
}

json anthropic_request(const Case& c) {
  json messages;
  json body = {{"model", model_for(c.format, c.scenario)}, {"max_tokens", 256}};
  switch (c.scenario) {
    case Scenario::tool_result:
      messages = json::array({{{"role", "user"}, {"content", "what is the weather in Paris?"}},
                              {{"role", "assistant"},
                               {"content", json::array({{{"type", "tool_use"},
                                                         {"id", client_call_id(c.dialect)},
                                                         {"name", "get_weather"},
                                                         {"input", {{"city", "Paris"}}}}})}},
                              {{"role", "user"},
                               {"content", json::array({{{"type", "tool_result"},
                                                         {"tool_use_id", client_call_id(c.dialect)},
                                                         {"content", kToolResult}}})}}});
      break;
    case Scenario::image:
      messages = json::array(
          {{{"role", "user"},
            {"content", json::array({{{"type", "image"},
                                      {"source",
                                       {{"type", "base64"},
                                        {"media_type", "image/png"},
                                        {"data", mock::base64(kPng)}}}},
                                     {{"type", "text"}, {"text", "what is in this image?"}}})}}});
      break;
    default:
      body["system"] = "Be brief.";
      messages = json::array({{{"role", "user"}, {"content", kUserText}}});
  }
  body["messages"] = messages;
  if (streams(c.scenario)) body["stream"] = true;
  if (with_tools(c.scenario)) {
    body["tools"] = json::array();
    for (const char* name : {"get_weather", "get_time"})
      body["tools"].push_back(
          {{"name", name},
           {"description", "a tool"},
           {"input_schema", {{"type", "object"}, {"properties", json::object()}}}});
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// What the client saw, read in its own dialect.

struct SseEvent {
  std::string name;  // the `event:` line; empty when there was none
  std::string data;
};

std::vector<SseEvent> sse_events(const std::string& body) {
  std::vector<SseEvent> out;
  SseEvent cur;
  bool any = false;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    auto nl = body.find('\n', pos);
    std::string line = body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? body.size() + 1 : nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (any) out.push_back(std::move(cur));
      cur = SseEvent{};
      any = false;
    } else if (line.rfind("event:", 0) == 0) {
      cur.name = line.substr(line.size() > 6 && line[6] == ' ' ? 7 : 6);
      any = true;
    } else if (line.rfind("data:", 0) == 0) {
      if (!cur.data.empty()) cur.data += '\n';
      cur.data += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
      any = true;
    }
  }
  return out;
}

struct ToolSeen {
  std::string id;
  std::string name;
  std::string args;
  int fragments = 0;  // non-empty argument pieces received
};

struct Outcome {
  int status = 0;
  std::string text;
  std::string finish;
  std::vector<ToolSeen> tools;  // by index (OpenAI) or block order (Anthropic)
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  bool success_end = false;        // [DONE] / message_stop, as the last event
  bool error_end = false;          // an error object / `event: error`, as the last event
  json error;                      // its payload
  std::vector<std::string> shape;  // Anthropic: event names, consecutive repeats collapsed
};

void read_openai_json(const json& j, Outcome& o) {
  EXPECT_EQ(j.value("object", ""), "chat.completion") << j;
  ASSERT_TRUE(j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) << j;
  const json& c = j["choices"][0];
  const json& m = c["message"];
  if (m.contains("content") && m["content"].is_string()) o.text = m["content"];
  if (m.contains("tool_calls"))
    for (const auto& tc : m["tool_calls"])
      o.tools.push_back({tc.value("id", ""), tc["function"].value("name", ""),
                         tc["function"].value("arguments", ""), 1});
  if (c["finish_reason"].is_string()) o.finish = c["finish_reason"];
  if (j.contains("usage") && j["usage"].is_object()) {
    o.input_tokens = j["usage"].value("prompt_tokens", 0);
    o.output_tokens = j["usage"].value("completion_tokens", 0);
  }
}

void read_openai_stream(const std::string& body, Outcome& o) {
  const auto events = sse_events(body);
  ASSERT_FALSE(events.empty()) << body;
  std::map<int, ToolSeen> tools;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& ev = events[i];
    const bool last = i + 1 == events.size();
    EXPECT_EQ(ev.name, "") << "OpenAI streams have no event names: " << ev.name;
    if (ev.data == "[DONE]") {
      EXPECT_TRUE(last) << "events after [DONE]";
      o.success_end = last;
      continue;
    }
    const json j = json::parse(ev.data, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << ev.data;
    if (j.contains("error")) {
      EXPECT_TRUE(last) << "events after the error: " << body;
      o.error_end = last;
      o.error = j;
      continue;
    }
    EXPECT_EQ(j.value("object", ""), "chat.completion.chunk") << ev.data;
    if (j.contains("usage") && j["usage"].is_object()) {
      o.input_tokens = j["usage"].value("prompt_tokens", 0);
      o.output_tokens = j["usage"].value("completion_tokens", 0);
    }
    if (!j.contains("choices")) continue;
    for (const auto& c : j["choices"]) {
      EXPECT_EQ(c.value("index", -1), 0);
      const json& d = c["delta"];
      if (d.contains("content") && d["content"].is_string()) o.text += d["content"];
      if (d.contains("tool_calls")) {
        for (const auto& tc : d["tool_calls"]) {
          ToolSeen& t = tools[tc.value("index", -1)];
          if (tc.contains("id") && tc["id"].is_string()) {
            EXPECT_TRUE(t.id.empty()) << "a second id for one call: " << ev.data;
            t.id = tc["id"];
          }
          if (!tc.contains("function")) continue;
          const json& fn = tc["function"];
          if (fn.contains("name") && fn["name"].is_string()) t.name = fn["name"];
          if (fn.contains("arguments") && fn["arguments"].is_string() &&
              !fn["arguments"].get_ref<const std::string&>().empty()) {
            t.args += fn["arguments"].get<std::string>();
            ++t.fragments;
          }
        }
      }
      if (c["finish_reason"].is_string()) {
        EXPECT_TRUE(o.finish.empty()) << "a second finish_reason: " << ev.data;
        o.finish = c["finish_reason"];
      }
    }
  }
  int expect_index = 0;
  for (auto& [index, t] : tools) {
    EXPECT_EQ(index, expect_index++) << "tool-call indexes must be 0, 1, ...";
    o.tools.push_back(std::move(t));
  }
}

void read_anthropic_json(const json& j, Outcome& o) {
  EXPECT_EQ(j.value("type", ""), "message") << j;
  EXPECT_EQ(j.value("role", ""), "assistant") << j;
  ASSERT_TRUE(j.contains("content") && j["content"].is_array()) << j;
  for (const auto& b : j["content"]) {
    if (b.value("type", "") == "text") o.text += b.value("text", "");
    if (b.value("type", "") == "tool_use")
      o.tools.push_back({b.value("id", ""), b.value("name", ""), b["input"].dump(), 1});
  }
  if (j["stop_reason"].is_string()) o.finish = j["stop_reason"];
  if (j.contains("usage")) {
    o.input_tokens = j["usage"].value("input_tokens", 0);
    o.output_tokens = j["usage"].value("output_tokens", 0);
  }
}

// Checks the order of Anthropic's events as it goes ("Streaming Messages > Event types"):
// message_start; per block content_block_start, content_block_delta..., content_block_stop
// with indexes 0, 1, ...; message_delta; message_stop; an `error` event ends the stream.
void read_anthropic_stream(const std::string& body, Outcome& o) {
  const auto events = sse_events(body);
  ASSERT_FALSE(events.empty()) << body;
  int open = -1, next_block = 0;
  std::string open_type;
  bool started = false, delta_seen = false;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& ev = events[i];
    const bool last = i + 1 == events.size();
    const json d = json::parse(ev.data, nullptr, false);
    ASSERT_FALSE(d.is_discarded()) << "not JSON: " << ev.data;
    EXPECT_EQ(d.value("type", ""), ev.name) << "the data's type names its event: " << ev.data;
    if (ev.name == "ping") continue;
    if (o.shape.empty() || o.shape.back() != ev.name) o.shape.push_back(ev.name);
    if (ev.name == "error") {
      EXPECT_TRUE(last) << "events after the error: " << body;
      o.error_end = last;
      o.error = d;
      continue;
    }
    if (i == 0) {
      EXPECT_EQ(ev.name, "message_start");
    }
    if (ev.name == "message_start") {
      EXPECT_FALSE(started) << "two message_start events";
      started = true;
      const json& m = d["message"];
      if (m.contains("usage")) o.input_tokens = m["usage"].value("input_tokens", 0);
    } else if (ev.name == "content_block_start") {
      EXPECT_EQ(open, -1) << "a block started before the previous one stopped: " << body;
      EXPECT_EQ(d.value("index", -1), next_block) << ev.data;
      open = next_block++;
      const json& cb = d["content_block"];
      open_type = cb.value("type", "");
      if (open_type == "tool_use") {
        o.tools.push_back({cb.value("id", ""), cb.value("name", ""), "", 0});
        EXPECT_EQ(cb["input"], json::object()) << ev.data;
      }
    } else if (ev.name == "content_block_delta") {
      EXPECT_EQ(d.value("index", -2), open) << "a delta outside its open block: " << ev.data;
      const json& delta = d["delta"];
      if (delta.value("type", "") == "text_delta") {
        EXPECT_EQ(open_type, "text");
        o.text += delta.value("text", "");
      } else if (delta.value("type", "") == "input_json_delta") {
        EXPECT_EQ(open_type, "tool_use");
        const std::string piece = delta.value("partial_json", "");
        if (!piece.empty() && !o.tools.empty()) {
          o.tools.back().args += piece;
          ++o.tools.back().fragments;
        }
      }
    } else if (ev.name == "content_block_stop") {
      EXPECT_EQ(d.value("index", -2), open) << ev.data;
      open = -1;
    } else if (ev.name == "message_delta") {
      EXPECT_EQ(open, -1) << "message_delta with a block open";
      EXPECT_FALSE(delta_seen) << "two message_delta events";
      delta_seen = true;
      if (d["delta"]["stop_reason"].is_string()) o.finish = d["delta"]["stop_reason"];
      if (d.contains("usage")) {
        o.output_tokens = d["usage"].value("output_tokens", 0);
        o.input_tokens =
            std::max<std::int64_t>(o.input_tokens, d["usage"].value("input_tokens", 0));
      }
    } else if (ev.name == "message_stop") {
      EXPECT_TRUE(delta_seen) << "message_stop without message_delta";
      EXPECT_TRUE(last) << "events after message_stop";
      o.success_end = last;
    } else {
      ADD_FAILURE() << "unknown event " << ev.name;
    }
  }
  for (auto& t : o.tools)
    if (t.args.empty()) t.args = "{}";  // a tool_use block with no input_json_delta: input {}
}

// ---------------------------------------------------------------------------------------------

class CrossMatrix : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const fs::path d = dir_->path();
    auto start = [&](Process*& p, const std::vector<std::string>& argv, const char* name,
                     const std::vector<std::pair<std::string, std::string>>& env = {}) {
      p = new Process();
      std::vector<std::string> a = argv;
      a.insert(a.end(),
               {"--port", "0", "--port-file", (d / (std::string(name) + ".port")).string()});
      p->start(a, d / (std::string(name) + ".log"), env);
    };
    start(openai_, {MOCK_BIN}, "openai");
    start(anthropic_, {MOCK_ANTHROPIC_BIN}, "anthropic");
    start(gemini_, {MOCK_GEMINI_BIN}, "gemini");
    start(bedrock_, {MOCK_BEDROCK_BIN, "--region", "us-east-1"}, "bedrock",
          {{"MOCK_AWS_ACCESS_KEY_ID", kAwsKeyId}, {"MOCK_AWS_SECRET_ACCESS_KEY", kAwsSecret}});
    for (const char* name : {"openai", "anthropic", "gemini", "bedrock"})
      ports_[name] = wait_for_port(d / (std::string(name) + ".port"));
    auto url = [&](const char* name, const char* path) {
      return "http://127.0.0.1:" + std::to_string(ports_[name]) + path;
    };
    // One model per (format, kind); the upstream model id picks the mock's behaviour.
    const std::map<std::string, std::map<std::string, std::string>> ids = {
        {"openai",
         {{"text", "m?tokens=5"},
          {"tools", "m?tool_call=1"},
          {"parallel", "m?parallel_tools=1"},
          {"inspect", "m?inspect=1"},
          {"broken", "m?reset_after=2&tokens=6"}}},
        {"anthropic",
         {{"text", "claude?tokens=5"},
          {"tools", "claude?tool_call=1"},
          {"parallel", "claude?parallel_tools=1"},
          {"inspect", "claude?inspect=1"},
          {"broken", "claude?reset_after=2&tokens=6"}}},
        {"gemini",
         {{"text", "gemini-mock?tokens=5"},
          {"tools", "gemini-mock?tool_call=1"},
          {"parallel", "gemini-mock?parallel_tools=1"},
          {"inspect", "gemini-mock?inspect=1"},
          {"broken", "gemini-mock?reset_after=2&tokens=6"}}},
        {"bedrock",
         {{"text", "mock.text-v1:0"},
          {"tools", "mock.tools-v1:0"},
          {"parallel", "mock.parallel-v1:0"},
          {"inspect", "mock.inspect-v1:0"},
          {"broken", "mock.streamerror-v1:0"}}},
    };
    std::string models;
    for (const auto& [format, kinds] : ids)
      for (const auto& [kind, id] : kinds)
        models += "  - { name: " + format + "-" + kind + ", deployments: [ { provider: p-" +
                  format + ", model: \"" + id + "\" } ] }\n";
    const std::string timeouts =
        "    timeouts: { connect: 1s, first_byte: 5s, idle: 5s, total: 20s }\n";
    const std::string cfg =
        "server:\n  host: 127.0.0.1\n  port: 0\n  port_file: " + (d / "gw.port").string() +
        "\n  io_threads: 2\n  access_log: \"\"\n"
        "providers:\n"
        "  - name: p-openai\n    type: openai\n    base_url: " +
        url("openai", "/v1") + "\n    api_key: ${IT_OPENAI_KEY}\n" + timeouts +
        "  - name: p-anthropic\n    type: anthropic\n    base_url: " + url("anthropic", "/v1") +
        "\n    api_key: ${IT_ANTHROPIC_KEY}\n" + timeouts +
        "  - name: p-gemini\n    type: gemini\n    base_url: " + url("gemini", "/v1beta") +
        "\n    api_key: ${IT_GEMINI_KEY}\n" + timeouts +
        "  - name: p-bedrock\n    type: bedrock\n    base_url: " + url("bedrock", "") +
        "\n    aws:\n      region: us-east-1\n"
        "      access_key_id: ${IT_AWS_ACCESS_KEY_ID}\n"
        "      secret_access_key: ${IT_AWS_SECRET_ACCESS_KEY}\n" +
        timeouts + "models:\n" + models +
        "keys:\n  - { id: it-key, sha256: " + policy::sha256_hex(kKey) +
        ", org: itorg }\norgs: [ { name: itorg } ]\n"
        // One attempt: a broken stream must reach the client as broken.
        "routing: { max_attempts: 1 }\n";
    write_file(d / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (d / "gw.yaml").string()}, d / "gw.log",
               {{"IT_OPENAI_KEY", "sk-openai-matrix"},
                {"IT_ANTHROPIC_KEY", "sk-ant-matrix"},
                {"IT_GEMINI_KEY", "gemini-matrix-key"},
                {"IT_AWS_ACCESS_KEY_ID", kAwsKeyId},
                {"IT_AWS_SECRET_ACCESS_KEY", kAwsSecret}});
    gw_port_ = wait_for_port(d / "gw.port");
  }

  static void TearDownTestSuite() {
    delete gw_;
    for (Process* p : {openai_, anthropic_, gemini_, bedrock_}) delete p;
    delete dir_;
    gw_ = openai_ = anthropic_ = gemini_ = bedrock_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override {
    for (const char* name : {"openai", "anthropic", "gemini", "bedrock"})
      ASSERT_GT(ports_[name], 0) << "mock " << name << " did not start";
    ASSERT_GT(gw_port_, 0) << "gateway did not start: " << gw_->log();
  }

  // Sends the case's request in its dialect and reads the answer in that dialect.
  static Outcome run(const Case& c, std::string& raw) {
    Outcome o;
    Response r;
    if (c.dialect == Dialect::openai) {
      r = http_request(gw_port_, "POST", "/v1/chat/completions", openai_request(c).dump(),
                       {{"Authorization", std::string("Bearer ") + kKey}});
    } else {
      r = http_request(gw_port_, "POST", "/v1/messages", anthropic_request(c).dump(),
                       {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}});
    }
    raw = r.body;
    o.status = r.status;
    if (r.status != 200) return o;
    if (streams(c.scenario)) {
      EXPECT_NE(r.header("content-type").find("text/event-stream"), std::string::npos)
          << r.header("content-type");
      if (c.dialect == Dialect::openai) {
        read_openai_stream(r.body, o);
      } else {
        read_anthropic_stream(r.body, o);
      }
    } else {
      const json j = json::parse(r.body, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << r.body;
      if (j.is_discarded()) return o;
      if (c.dialect == Dialect::openai) {
        read_openai_json(j, o);
      } else {
        read_anthropic_json(j, o);
      }
    }
    return o;
  }

  static TempDir* dir_;
  static Process* openai_;
  static Process* anthropic_;
  static Process* gemini_;
  static Process* bedrock_;
  static Process* gw_;
  static std::map<std::string, int> ports_;
  static int gw_port_;
};
TempDir* CrossMatrix::dir_ = nullptr;
Process* CrossMatrix::openai_ = nullptr;
Process* CrossMatrix::anthropic_ = nullptr;
Process* CrossMatrix::gemini_ = nullptr;
Process* CrossMatrix::bedrock_ = nullptr;
Process* CrossMatrix::gw_ = nullptr;
std::map<std::string, int> CrossMatrix::ports_;
int CrossMatrix::gw_port_ = 0;

TEST_P(CrossMatrix, Case) {
  const Case c = GetParam();
  const bool oa = c.dialect == Dialect::openai;
  const std::string stop = oa ? "stop" : "end_turn";
  const std::string tool_stop = oa ? "tool_calls" : "tool_use";
  std::string raw;
  const Outcome o = run(c, raw);
  ASSERT_EQ(o.status, 200) << raw << "\n--- gateway log:\n" << gw_->log();
  SCOPED_TRACE("client saw: " + raw.substr(0, 4000));

  switch (c.scenario) {
    case Scenario::plain:
      EXPECT_EQ(o.text, plain_text(c.format));
      EXPECT_EQ(o.finish, stop);
      EXPECT_GT(o.input_tokens, 0);
      EXPECT_GT(o.output_tokens, 0);
      EXPECT_TRUE(o.tools.empty());
      break;

    case Scenario::streamed:
      EXPECT_EQ(o.text, plain_text(c.format));
      EXPECT_EQ(o.finish, stop);
      EXPECT_TRUE(o.success_end) << "no success end marker";
      EXPECT_FALSE(o.error_end);
      EXPECT_GT(o.output_tokens, 0);
      EXPECT_TRUE(o.tools.empty());
      if (!oa) {
        EXPECT_EQ(o.shape, (std::vector<std::string>{"message_start", "content_block_start",
                                                     "content_block_delta", "content_block_stop",
                                                     "message_delta", "message_stop"}));
      }
      break;

    case Scenario::tool_stream: {
      EXPECT_TRUE(o.success_end);
      EXPECT_EQ(o.finish, tool_stop);
      ASSERT_EQ(o.tools.size(), 1u);
      const ToolSeen& t = o.tools[0];
      EXPECT_FALSE(t.id.empty());
      if (!tool_ids(c.format)[0].empty()) {
        EXPECT_EQ(t.id, tool_ids(c.format)[0]);
      }
      EXPECT_EQ(t.name, "get_weather");
      if (c.format == Format::gemini) {
        // Gemini's API sends a functionCall whole (args an object, never partial): exactly one
        // piece, holding all of it.
        EXPECT_EQ(t.fragments, 1);
      } else {
        EXPECT_GE(t.fragments, 2) << "the arguments must arrive streamed in pieces";
      }
      const json args = json::parse(t.args, nullptr, false);
      EXPECT_FALSE(args.is_discarded()) << "arguments are not valid JSON: " << t.args;
      EXPECT_EQ(args, kWeatherArgs);
      break;
    }

    case Scenario::parallel: {
      EXPECT_TRUE(o.success_end);
      EXPECT_EQ(o.finish, tool_stop);
      ASSERT_EQ(o.tools.size(), 2u);
      EXPECT_FALSE(o.tools[0].id.empty());
      EXPECT_FALSE(o.tools[1].id.empty());
      EXPECT_NE(o.tools[0].id, o.tools[1].id);
      if (!tool_ids(c.format)[0].empty()) {
        EXPECT_EQ(o.tools[0].id, tool_ids(c.format)[0]);
        EXPECT_EQ(o.tools[1].id, tool_ids(c.format)[1]);
      }
      EXPECT_EQ(o.tools[0].name, "get_weather");
      EXPECT_EQ(o.tools[1].name, "get_time");
      for (const auto& t : o.tools) {
        EXPECT_GE(t.fragments, 1) << t.name;
        EXPECT_FALSE(json::parse(t.args, nullptr, false).is_discarded())
            << t.name << " arguments are not valid JSON: " << t.args;
      }
      EXPECT_EQ(json::parse(o.tools[0].args, nullptr, false), kWeatherArgs);
      EXPECT_EQ(json::parse(o.tools[1].args, nullptr, false), kTimeArgs);
      break;
    }

    case Scenario::tool_result:
      EXPECT_EQ(o.text, expected_tool_result_summary(c.dialect, c.format));
      EXPECT_EQ(o.finish, stop);
      break;

    case Scenario::image:
      EXPECT_EQ(o.text, expected_image_summary());
      EXPECT_EQ(o.finish, stop);
      break;

    case Scenario::stream_error: {
      EXPECT_TRUE(o.error_end) << "the stream must end with the dialect's error event";
      EXPECT_FALSE(o.success_end) << "a broken stream must not end as a success";
      EXPECT_NE(o.finish, stop) << "a broken stream must not report a normal finish";
      const std::string full = broken_text(c.format);
      EXPECT_EQ(full.compare(0, o.text.size(), o.text), 0)
          << "text before the error is not a prefix of the answer: " << o.text;
      EXPECT_LT(o.text.size(), full.size());
      if (oa) {
        ASSERT_TRUE(o.error.contains("error") && o.error["error"].is_object()) << o.error;
        EXPECT_TRUE(o.error["error"]["message"].is_string()) << o.error;
        EXPECT_TRUE(o.error["error"]["type"].is_string()) << o.error;
      } else {
        EXPECT_EQ(o.error.value("type", ""), "error") << o.error;
        ASSERT_TRUE(o.error.contains("error") && o.error["error"].is_object()) << o.error;
        EXPECT_TRUE(o.error["error"]["type"].is_string()) << o.error;
        EXPECT_TRUE(o.error["error"]["message"].is_string()) << o.error;
      }
      // The response ended cleanly (the whole chunked body was read, status 200 above) and
      // the gateway keeps serving.
      EXPECT_EQ(http_request(gw_port_, "GET", "/healthz").status, 200);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, CrossMatrix, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace infergate::it
