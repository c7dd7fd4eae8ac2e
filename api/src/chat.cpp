#include "infergate/api/chat.hpp"

namespace infergate::api {

std::string_view to_string(FinishReason r) {
  switch (r) {
    case FinishReason::none:
      return "";
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::content_filter:
      return "content_filter";
    case FinishReason::error:
      return "error";
  }
  return "";
}

FinishReason finish_reason_from_openai(std::string_view s) {
  if (s == "stop") return FinishReason::stop;
  if (s == "length") return FinishReason::length;
  if (s == "tool_calls" || s == "function_call") return FinishReason::tool_calls;
  if (s == "content_filter") return FinishReason::content_filter;
  if (s.empty()) return FinishReason::none;
  return FinishReason::stop;  // providers' own reasons ("eos", "stop_sequence") end normally
}

int default_status(ErrorKind k) {
  switch (k) {
    case ErrorKind::invalid_request:
      return 400;
    case ErrorKind::authentication:
      return 401;
    case ErrorKind::permission:
      return 403;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::method_not_allowed:
      return 405;
    case ErrorKind::payload_too_large:
      return 413;
    case ErrorKind::rate_limited:
      return 429;
    case ErrorKind::internal:
      return 500;
    case ErrorKind::upstream:
      return 502;
    case ErrorKind::unavailable:
      return 503;
    case ErrorKind::timeout:
      return 504;
  }
  return 500;
}

std::string_view openai_type(ErrorKind k) {
  switch (k) {
    case ErrorKind::invalid_request:
    case ErrorKind::not_found:
    case ErrorKind::method_not_allowed:
    case ErrorKind::payload_too_large:
      return "invalid_request_error";
    case ErrorKind::authentication:
      return "authentication_error";
    case ErrorKind::permission:
      return "permission_error";
    case ErrorKind::rate_limited:
      return "rate_limit_error";
    case ErrorKind::internal:
    case ErrorKind::upstream:
    case ErrorKind::unavailable:
    case ErrorKind::timeout:
      return "server_error";
  }
  return "server_error";
}

Error Error::make(ErrorKind kind, std::string message, std::string param, std::string code) {
  Error e;
  e.kind = kind;
  e.status = default_status(kind);
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

ChatChoice& ResponseBuilder::choice(int index) {
  for (auto& c : response_.choices)
    if (c.index == index) return c;
  auto& c = response_.choices.emplace_back();
  c.index = index;
  return c;
}

void ResponseBuilder::add(const Event& ev) {
  switch (ev.type) {
    case Event::Type::start:
      if (!ev.text.empty()) response_.id = ev.text;
      if (!ev.model.empty()) response_.model = ev.model;
      if (ev.created != 0) response_.created = ev.created;
      break;
    case Event::Type::text: {
      auto& c = choice(ev.choice);
      c.content += ev.text;
      c.has_content = true;
      break;
    }
    case Event::Type::reasoning:
      choice(ev.choice).reasoning += ev.text;
      break;
    case Event::Type::tool_call: {
      auto& calls = choice(ev.choice).tool_calls;
      ToolCallDelta* call = nullptr;
      for (auto& tc : calls)
        if (tc.index == ev.tool_call.index) call = &tc;
      if (call == nullptr) {
        call = &calls.emplace_back();
        call->index = ev.tool_call.index;
      }
      if (!ev.tool_call.id.empty()) call->id = ev.tool_call.id;
      if (!ev.tool_call.name.empty()) call->name += ev.tool_call.name;
      call->arguments += ev.tool_call.arguments;
      break;
    }
    case Event::Type::finish:
      choice(ev.choice).finish = ev.finish;
      break;
    case Event::Type::usage:
      response_.usage = ev.usage;
      break;
    case Event::Type::error:
      break;
  }
}

}  // namespace infergate::api
