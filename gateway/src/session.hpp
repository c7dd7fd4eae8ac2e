// One client connection: read requests (with size limits and timeouts), dispatch them to the
// handlers, write responses, keep alive. Plain TCP or TLS.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace infergate::gateway {

class Worker;

boost::asio::awaitable<void> run_session(Worker& worker, boost::asio::ip::tcp::socket socket);

}  // namespace infergate::gateway
