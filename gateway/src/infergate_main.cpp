// infergate: one API key, one OpenAI-compatible endpoint, many providers.
//
//   infergate                        serve the embedded quickstart config (local engine)
//   infergate --config FILE          serve
//   infergate --check-config FILE    validate a config file and exit
//   infergate keys new               generate an API key (printed once) and its hash for YAML
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "default_config.hpp"
#include "infergate/config/config.hpp"
#include "infergate/policy/keys.hpp"
#include "server.hpp"

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  infergate                         serve the embedded quickstart config (local demo model)\n"
    "  infergate --config FILE           serve with FILE\n"
    "  infergate --check-config FILE     validate FILE, print every problem, exit non-zero if any\n"
    "  infergate keys new [--id ID]      generate an API key and its SHA-256 for the config\n"
    "  infergate --version\n";

int check_config(const std::string& path) {
  auto result = infergate::config::load_file(path);
  for (const auto& d : result.errors)
    std::fprintf(stderr, "%s\n", infergate::config::format(d).c_str());
  if (!result.errors.empty()) {
    std::fprintf(stderr, "%s: %zu problem%s\n", path.c_str(), result.errors.size(),
                 result.errors.size() == 1 ? "" : "s");
    return 1;
  }
  std::printf("%s: OK (%zu providers, %zu models, %zu keys)\n", path.c_str(),
              result.config->providers.size(), result.config->models.size(),
              result.config->keys.size());
  return 0;
}

int keys_new(const std::string& id) {
  const auto k = infergate::policy::generate_key();
  std::printf("key:    %s\n", k.key.c_str());
  std::printf("sha256: %s\n\n", k.sha256.c_str());
  std::printf("Give the key to its user now; it is not stored anywhere. Add to the config:\n");
  std::printf("keys:\n  - id: %s\n    sha256: %s\n    org: YOUR_ORG\n", id.c_str(),
              k.sha256.c_str());
  return 0;
}

int serve(const std::string& path) {
  auto result = path.empty()
                    ? infergate::config::load_string(infergate::gateway::kDefaultConfig,
                                                     infergate::gateway::kDefaultConfigName)
                    : infergate::config::load_file(path);
  for (const auto& d : result.errors)
    std::fprintf(stderr, "%s\n", infergate::config::format(d).c_str());
  if (!result.config) return 1;
  auto* server = new infergate::gateway::Server(*result.config);
  std::string error;
  if (!server->listen(&error)) {
    std::fprintf(stderr, "infergate: %s\n", error.c_str());
    delete server;
    return 1;
  }
  std::fprintf(stderr, "infergate: listening on %s:%u (%s)\n", result.config->server.host.c_str(),
               server->port(),
               path.empty() ? infergate::gateway::kDefaultConfigName : path.c_str());
  const int rc = server->run();
  if (server->drained()) delete server;
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view a1 = argc > 1 ? argv[1] : "";
  if (argc == 1) return serve("");
  if (a1 == "--version") {
    std::printf("infergate 0.1.0\n");
    return 0;
  }
  if (a1 == "--help" || a1 == "-h") {
    std::printf("%s", kUsage);
    return 0;
  }
  if (a1 == "--check-config" && argc == 3) return check_config(argv[2]);
  if (a1 == "--config" && argc == 3) return serve(argv[2]);
  if (a1 == "keys" && argc >= 3 && std::strcmp(argv[2], "new") == 0) {
    std::string id = "new-key";
    if (argc == 5 && std::strcmp(argv[3], "--id") == 0) id = argv[4];
    return keys_new(id);
  }
  std::fprintf(stderr, "%s", kUsage);
  return 2;
}
