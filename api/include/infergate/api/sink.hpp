// Where an adapter delivers canonical events. The gateway's implementation writes them to the
// client in its dialect; tests collect them. Awaiting each event is the back-pressure: a slow
// client slows the upstream read instead of growing a buffer.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "infergate/api/chat.hpp"

namespace infergate::api {

class EventSink {
 public:
  virtual ~EventSink() = default;

  // Takes one event. Completes when the event has been accepted (written or buffered within
  // bounds). Returns false when the client is gone and the adapter should stop.
  virtual boost::asio::awaitable<bool> on_event(Event ev) = 0;

  // True once anything has reached the client: from then on a failed attempt cannot be retried.
  virtual bool committed() const = 0;
};

}  // namespace infergate::api
