// Fuzz target: arbitrary bytes through the SSE parser (split at a position taken from the input)
// and every dispatched event through the Anthropic stream decoder; the whole input also through
// the Message decoder, the error mapping and (when it is JSON) the request translation. Nothing
// may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "anthropic_codec.hpp"
#include "infergate/adapters/sse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace infergate::adapters;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  SseParser parser(size % 2 == 0 ? SseParser::kDefaultMaxEventBytes : 256);
  anthropic::StreamDecoder decoder("sk-ant-fuzz-secret");
  std::vector<infergate::api::Event> events;
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  SseEvent ev;
  bool stop = false;
  for (std::string_view piece : {input.substr(0, split), input.substr(split)}) {
    if (stop) break;
    parser.feed(piece);
    while (!stop && parser.next(ev)) {
      events.clear();
      stop = decoder.decode(ev.type, ev.data, events) != anthropic::StreamDecoder::Status::ok;
    }
  }
  events.clear();
  decoder.flush(events);

  events.clear();
  infergate::api::Error err;
  anthropic::decode_message(input, events, err, "sk-ant-fuzz-secret");
  anthropic::map_http_error(400 + static_cast<int>(size % 200), input, input.substr(0, 40),
                            "sk-ant-fuzz-secret");

  infergate::api::ChatRequest request;
  request.body = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (request.body.is_object()) {
    request.stream = size % 3 == 0;
    std::string out;
    std::vector<std::string> dropped;
    anthropic::encode_request(request, "claude-fuzz", size % 2 == 0, out, dropped, err);
  }
  return 0;
}
