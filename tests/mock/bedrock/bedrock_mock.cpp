#include "bedrock_mock.hpp"

#include <boost/crc.hpp>

#include "mock_openai.hpp"

namespace infergate::mock::bedrock {
namespace {

using json = nlohmann::json;

void be32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint32_t crc(const std::string& s) {
  boost::crc_32_type c;
  c.process_bytes(s.data(), s.size());
  return c.checksum();
}

}  // namespace

Plan plan_for(std::string_view model) {
  auto has = [&](std::string_view s) { return model.find(s) != std::string_view::npos; };
  Plan p;
  p.throttle = has("throttle");
  p.inspect = has("inspect");
  p.stream_error = has("streamerror");
  p.tools = has("parallel") ? 2 : has("tools") ? 1 : 0;
  return p;
}

std::vector<ToolUse> tool_uses(std::size_t n) {
  std::vector<ToolUse> out;
  if (n >= 1)
    out.push_back({"tooluse_mock1",
                   "get_weather",
                   {{"city", "Paris"}, {"unit", "celsius"}},
                   {"{\"city\": \"Pa", "ris\", \"unit\"", ": \"celsius\"}"}});
  if (n >= 2)
    out.push_back({"tooluse_mock2",
                   "get_time",
                   {{"timezone", "Europe/Paris"}},
                   {"{\"timezone\": ", "\"Europe/Paris\"}"}});
  return out;
}

std::string inspect(const json& body) {
  std::vector<std::string> seen;
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return inspection_text(seen);
  for (const auto& m : *messages) {
    const auto content = m.find("content");
    if (content == m.end() || !content->is_array()) continue;
    for (const auto& block : *content) {
      if (!block.is_object()) continue;
      if (auto tr = block.find("toolResult"); tr != block.end() && tr->is_object()) {
        std::string text;
        if (auto c = tr->find("content"); c != tr->end() && c->is_array()) {
          for (const auto& part : *c) {
            if (auto t = part.find("text"); t != part.end() && t->is_string())
              text += t->get<std::string>();
            else if (auto j = part.find("json"); j != part.end())
              text += j->dump();
          }
        }
        seen.push_back(describe_tool_result(tr->value("toolUseId", "(no toolUseId)"), text));
      } else if (auto im = block.find("image"); im != block.end() && im->is_object()) {
        const json source = im->value("source", json::object());
        std::string bytes;
        if (!source.is_object() || !source.contains("bytes") || !source["bytes"].is_string() ||
            !base64_decode(source["bytes"].get_ref<const std::string&>(), bytes)) {
          seen.emplace_back("image without bytes");
          continue;
        }
        seen.push_back(describe_image("image/" + im->value("format", "(no format)"), bytes));
      }
    }
  }
  return inspection_text(seen);
}

std::string frame(const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& payload) {
  std::string hs;
  for (const auto& [k, v] : headers) {
    hs += static_cast<char>(k.size());
    hs += k;
    hs += static_cast<char>(7);  // header value type 7: string
    hs += static_cast<char>((v.size() >> 8) & 0xFF);
    hs += static_cast<char>(v.size() & 0xFF);
    hs += v;
  }
  std::string out;
  be32(out, static_cast<std::uint32_t>(16 + hs.size() + payload.size()));
  be32(out, static_cast<std::uint32_t>(hs.size()));
  be32(out, crc(out));
  out += hs + payload;
  be32(out, crc(out));
  return out;
}

std::string event(const std::string& type, const json& body) {
  return frame(
      {{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
      body.dump());
}

std::string exception_event(const std::string& type, const std::string& message) {
  return frame({{":exception-type", type},
                {":content-type", "application/json"},
                {":message-type", "exception"}},
               json{{"message", message}}.dump());
}

}  // namespace infergate::mock::bedrock
