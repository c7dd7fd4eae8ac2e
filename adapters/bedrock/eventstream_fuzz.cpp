// Fuzz target: arbitrary bytes through the event stream decoder (split at a position taken from
// the input, with a small or the default message limit) and every decoded message through the
// ConverseStream decoder; the whole input also through the Converse body decoder and the error
// mapping. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "bedrock_codec.hpp"
#include "eventstream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace infergate::adapters;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  eventstream::Decoder decoder(size % 2 == 0 ? eventstream::Decoder::kDefaultMaxMessageBytes : 256);
  bedrock::StreamDecoder stream("id", "model", 1);
  std::vector<infergate::api::Event> events;
  eventstream::Message msg;
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  bool done = false;
  for (std::string_view piece : {input.substr(0, split), input.substr(split)}) {
    if (done) break;
    decoder.feed(piece);
    while (!done && decoder.next(msg)) {
      events.clear();
      done = stream.decode(msg, events, "fuzz-secret-key") != bedrock::StreamDecoder::Status::ok;
    }
  }

  events.clear();
  infergate::api::Error err;
  bedrock::decode_converse(input, "id", "model", 1, events, err);
  bedrock::map_http_error(400 + static_cast<int>(size % 200), input.substr(0, 40), input,
                          input.substr(0, 10), "fuzz-secret-key");
  return 0;
}
