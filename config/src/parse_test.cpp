// Value parsers, ${ENV} expansion and message helpers.
#include <gtest/gtest.h>

#include <map>

#include "detail.hpp"
#include "infergate/config/config.hpp"

namespace infergate::config {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ParseDuration, AcceptsUnitsAndPlainMilliseconds) {
  EXPECT_EQ(parse_duration("250ms"), Millis(250));
  EXPECT_EQ(parse_duration("30s"), Millis(30'000));
  EXPECT_EQ(parse_duration("2m"), Millis(120'000));
  EXPECT_EQ(parse_duration("1h"), Millis(3'600'000));
  EXPECT_EQ(parse_duration("1500"), Millis(1500));
  EXPECT_EQ(parse_duration("0"), Millis(0));
  EXPECT_EQ(parse_duration("0s"), Millis(0));
}

TEST(ParseDuration, RejectsMalformed) {
  for (const char* bad :
       {"", "s", "ms", "1.5s", "-1s", "+1s", " 1s", "1s ", "1 s", "1sec", "1d", "1S", "1us",
        "1m30s", "0x10", "99999999999999999999", "9999999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(ParseSize, AcceptsBinaryUnitsAndPlainBytes) {
  EXPECT_EQ(parse_size("16KiB"), 16u * 1024);
  EXPECT_EQ(parse_size("4MiB"), 4u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("0"), 0u);
}

TEST(ParseSize, RejectsMalformedAndOverflow) {
  for (const char* bad : {"", "KiB", "4MB", "4mb", "4M", "4 MiB", "1.5KiB", "-1", "4kib",
                          "18446744073709551616", "17179869184GiB"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(ParseBaseUrl, SplitsAndNormalizes) {
  auto u = parse_base_url("https://api.together.xyz/v1/");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "api.together.xyz");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1");
  EXPECT_EQ(u->normalized, "https://api.together.xyz/v1");

  u = parse_base_url("HTTP://127.0.0.1:9100");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9100);
  EXPECT_EQ(u->path, "");
  EXPECT_EQ(u->normalized, "http://127.0.0.1:9100");

  u = parse_base_url("http://[::1]:8080/openai/v1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path, "/openai/v1");

  u = parse_base_url("http://h/a%20b");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/a%20b");
}

TEST(ParseBaseUrl, RejectsWithReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"ftp://host/", "http:// or https://"},
      {"api.together.xyz/v1", "http:// or https://"},
      {"https://", "no host"},
      {"https://:80/", "no host"},
      {"https://user:pw@host/", "user info"},
      {"https://host/v1?x=1", "query"},
      {"https://host/v1#frag", "fragment"},
      {"https://host:0/", "port"},
      {"https://host:65536/", "port"},
      {"https://host:80a/", "port"},
      {"https://host:/", "port"},
      {"https://ho st/", "spaces"},
      {"https://host/a b", "spaces"},
      {"https://host/a%2", "percent"},
      {"https://host/a\"b", "percent-escaped"},
      {"https://a..b/", "host name"},
      {"https://[::1/", "IPv6"},
      {"https://[zz::1]/", "IPv6"},
      {"https://[::1]x/", "after the IPv6"},
  };
  for (const auto& [url, reason] : cases) {
    std::string why;
    EXPECT_FALSE(parse_base_url(url, &why).has_value()) << url;
    EXPECT_NE(why.find(reason), std::string::npos) << url << " -> " << why;
  }
}

TEST(ExpandEnv, WholeAndPartialReferences) {
  const auto env = env_of({{"KEY", "sk-123"}, {"HOST", "example.com"}, {"EMPTY", ""}});
  std::string err;
  bool substituted = false;
  EXPECT_EQ(detail::expand_env("${KEY}", env, &err, &substituted), "sk-123");
  EXPECT_TRUE(substituted);
  EXPECT_EQ(detail::expand_env("Bearer ${KEY}", env, &err), "Bearer sk-123");
  EXPECT_EQ(detail::expand_env("https://${HOST}:${HOST}/", env, &err),
            "https://example.com:example.com/");
  EXPECT_EQ(detail::expand_env("a${EMPTY}b", env, &err), "ab");
  EXPECT_EQ(detail::expand_env("plain", env, &err, &substituted), "plain");
  EXPECT_FALSE(substituted);
}

TEST(ExpandEnv, EscapeAndLoneDollars) {
  const auto env = env_of({{"X", "v"}});
  std::string err;
  bool substituted = true;
  EXPECT_EQ(detail::expand_env("$${X}", env, &err, &substituted), "${X}");
  EXPECT_FALSE(substituted);
  // Left to right: a lone "$", then the escape "$${".
  EXPECT_EQ(detail::expand_env("$$${X}", env, &err), "$${X}");
  EXPECT_EQ(detail::expand_env("cost: $5 $ {X} $X", env, &err), "cost: $5 $ {X} $X");
  EXPECT_EQ(detail::expand_env("$${X}${X}", env, &err), "${X}v");
}

TEST(ExpandEnv, MissingVariablesAreNamedNeverValued) {
  const auto env = env_of({{"SET", "s3cr3t-value"}});
  std::string err;
  EXPECT_FALSE(detail::expand_env("${SET}${MISSING_ONE}", env, &err));
  EXPECT_EQ(err, "environment variable MISSING_ONE is not set");
  EXPECT_FALSE(detail::expand_env("${A}-${SET}-${B}-${A}", env, &err));
  EXPECT_EQ(err, "environment variables A, B are not set");
  EXPECT_EQ(err.find("s3cr3t"), std::string::npos);
  // No lookup function at all: every variable is unset.
  EXPECT_FALSE(detail::expand_env("${SET}", EnvLookup{}, &err));
}

TEST(ExpandEnv, MalformedReferences) {
  const auto env = env_of({});
  std::string err;
  EXPECT_FALSE(detail::expand_env("${OPEN", env, &err));
  EXPECT_NE(err.find("unterminated"), std::string::npos);
  EXPECT_FALSE(detail::expand_env("${}", env, &err));
  EXPECT_NE(err.find("invalid environment variable name"), std::string::npos);
  EXPECT_FALSE(detail::expand_env("${1X}", env, &err));
  EXPECT_FALSE(detail::expand_env("${A B}", env, &err));
  EXPECT_FALSE(detail::expand_env("${X:-default}", env, &err));
}

TEST(Printable, EscapesAndTruncates) {
  EXPECT_EQ(detail::printable("ab\ncd"), "ab\\x0acd");
  EXPECT_EQ(detail::printable("it's"), "it\\x27s");
  EXPECT_EQ(detail::printable(std::string(100, 'x'), 10), "xxxxxxxxxx...");
}

TEST(Suggest, FindsNearMissesOnly) {
  constexpr std::string_view kOptions[] = {"host", "port", "port_file", "base_url", "timeouts"};
  EXPECT_EQ(detail::suggest("prot", kOptions), " (did you mean 'port'?)");  // transposition
  EXPECT_EQ(detail::suggest("base-url", kOptions), " (did you mean 'base_url'?)");
  EXPECT_EQ(detail::suggest("Host", kOptions), " (did you mean 'host'?)");
  EXPECT_EQ(detail::suggest("timeout", kOptions), " (did you mean 'timeouts'?)");
  EXPECT_EQ(detail::suggest("zzz", kOptions), "");
  EXPECT_EQ(detail::suggest("completely_different", kOptions), "");
  EXPECT_EQ(detail::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(detail::edit_distance("", "abc"), 3u);
}

TEST(Format, FileLineColumnKeyMessage) {
  EXPECT_EQ(format({"c.yaml", 3, 7, "server.port", "out of range"}),
            "c.yaml:3:7: server.port: out of range");
  EXPECT_EQ(format({"c.yaml", 3, 0, "", "bad"}), "c.yaml:3: bad");
  EXPECT_EQ(format({"c.yaml", 0, 0, "", "cannot open"}), "c.yaml: cannot open");
  EXPECT_EQ(format({"", 1, 1, "k", "m"}), "<config>:1:1: k: m");
}

TEST(ProcessEnv, ReadsTheRealEnvironment) {
  ::setenv("INFERGATE_CFG_TEST_VAR", "value-1", 1);
  ::unsetenv("INFERGATE_CFG_TEST_UNSET");
  const auto env = process_env();
  EXPECT_EQ(env("INFERGATE_CFG_TEST_VAR"), "value-1");
  EXPECT_EQ(env("INFERGATE_CFG_TEST_UNSET"), std::nullopt);
}

}  // namespace
}  // namespace infergate::config
