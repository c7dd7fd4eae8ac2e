// API keys: generation, hashing, constant-time comparison, lookup, permissions.
#include "infergate/policy/keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace infergate::policy {
namespace {

config::KeyConfig key_config(std::string id, std::string plaintext,
                             std::vector<std::string> models = {}) {
  config::KeyConfig k;
  k.id = std::move(id);
  k.sha256 = sha256_hex(plaintext);
  k.org = "acme";
  k.models = std::move(models);
  return k;
}

bool is_base64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

TEST(Sha256Hex, KnownAnswers) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Embedded NUL bytes are data, not terminators.
  EXPECT_NE(sha256_hex(std::string_view("a\0b", 3)), sha256_hex("a"));
}

TEST(GenerateKey, Format) {
  const GeneratedKey g = generate_key();
  ASSERT_EQ(g.key.size(), 3u + 43u);
  EXPECT_EQ(g.key.substr(0, 3), "ig-");
  EXPECT_TRUE(std::all_of(g.key.begin() + 3, g.key.end(), is_base64url)) << g.key;
  EXPECT_EQ(g.sha256, sha256_hex(g.key));
  ASSERT_EQ(g.sha256.size(), 64u);
  EXPECT_TRUE(std::all_of(g.sha256.begin(), g.sha256.end(),
                          [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
}

TEST(GenerateKey, UniqueAndWellSpread) {
  std::set<std::string> keys;
  std::set<char> seen_chars;
  for (int i = 0; i < 1000; ++i) {
    const GeneratedKey g = generate_key();
    EXPECT_TRUE(keys.insert(g.key).second) << "duplicate key " << i;
    seen_chars.insert(g.key.begin() + 3, g.key.end());
  }
  // 43 000 random characters from a 64-letter alphabet: every letter shows up.
  EXPECT_EQ(seen_chars.size(), 64u);
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("Secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secret!"));
  EXPECT_FALSE(constant_time_equal("secret", ""));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(KeyStore, HitMissAndWrongLength) {
  const GeneratedKey a = generate_key();
  const GeneratedKey b = generate_key();
  std::vector<config::KeyConfig> keys;
  keys.push_back(key_config("team-a", a.key));
  keys.push_back(key_config("team-b", b.key, {"m1"}));
  const KeyStore store(keys);
  EXPECT_EQ(store.size(), 2u);

  auto pa = store.authenticate(a.key);
  ASSERT_TRUE(pa.has_value());
  EXPECT_EQ(pa->key, &keys[0]);
  EXPECT_EQ(pa->key_id(), "team-a");
  EXPECT_EQ(pa->org(), "acme");
  auto pb = store.authenticate(b.key);
  ASSERT_TRUE(pb.has_value());
  EXPECT_EQ(pb->key_id(), "team-b");

  EXPECT_FALSE(store.authenticate(generate_key().key).has_value());  // unknown
  EXPECT_FALSE(store.authenticate("").has_value());
  EXPECT_FALSE(store.authenticate(a.key.substr(0, a.key.size() - 1)).has_value());  // too short
  EXPECT_FALSE(store.authenticate(a.key + "x").has_value());                        // too long
  EXPECT_FALSE(store.authenticate(" " + a.key).has_value());
  std::string flipped = a.key;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(store.authenticate(flipped).has_value());
  // The stored hash itself is not a key.
  EXPECT_FALSE(store.authenticate(a.sha256).has_value());
}

TEST(KeyStore, OversizedPresentedKeyIsRejected) {
  const std::string huge(kMaxPresentedKeyBytes + 1, 'k');
  std::vector<config::KeyConfig> keys{key_config("big", huge)};
  const KeyStore store(keys);
  EXPECT_FALSE(store.authenticate(huge).has_value());
  const std::string fits(kMaxPresentedKeyBytes, 'k');
  std::vector<config::KeyConfig> keys2{key_config("fits", fits)};
  EXPECT_TRUE(KeyStore(keys2).authenticate(fits).has_value());
}

TEST(KeyStore, ManyKeys) {
  std::vector<std::string> plain;
  std::vector<config::KeyConfig> keys;
  for (int i = 0; i < 500; ++i) {
    plain.push_back(std::string("ig-key-").append(std::to_string(i)));
    keys.push_back(key_config(std::string("k").append(std::to_string(i)), plain.back()));
  }
  const KeyStore store(keys);
  for (int i = 0; i < 500; ++i) {
    auto p = store.authenticate(plain[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(p.has_value()) << i;
    EXPECT_EQ(p->key, &keys[static_cast<std::size_t>(i)]);
  }
  EXPECT_FALSE(store.authenticate("ig-key-500").has_value());
}

TEST(KeyStore, RejectsMalformedHashes) {
  config::KeyConfig k;
  k.id = "bad";
  k.sha256 = "abc";
  EXPECT_THROW(KeyStore(std::vector<config::KeyConfig>{k}), std::invalid_argument);
  k.sha256 = std::string(64, 'z');
  EXPECT_THROW(KeyStore(std::vector<config::KeyConfig>{k}), std::invalid_argument);
  EXPECT_EQ(KeyStore(std::vector<config::KeyConfig>{}).size(), 0u);
}

TEST(Principal, MayUse) {
  config::KeyConfig all = key_config("all", "x");
  config::KeyConfig some = key_config("some", "y", {"llama-3.1-8b", "local-demo"});
  EXPECT_TRUE(Principal{&all}.may_use("anything"));
  EXPECT_TRUE(Principal{&some}.may_use("llama-3.1-8b"));
  EXPECT_TRUE(Principal{&some}.may_use("local-demo"));
  EXPECT_FALSE(Principal{&some}.may_use("gpt-4o"));
  EXPECT_FALSE(Principal{&some}.may_use("llama-3.1-8"));  // exact names only
  EXPECT_FALSE(Principal{&some}.may_use(""));
  EXPECT_FALSE(Principal{}.may_use("anything"));  // no key, no access
}

TEST(KeyStore, QuickstartDemoKeyAuthenticates) {
  auto r = config::load_file(std::string(INFERGATE_SOURCE_DIR) + "/config/examples/quickstart.yaml",
                             [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_TRUE(r.config.has_value()) << (r.errors.empty() ? "" : config::format(r.errors[0]));
  const KeyStore store(r.config->keys);
  auto p = store.authenticate("ig-demo-key-change-me");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->key_id(), "demo");
  EXPECT_EQ(p->org(), "demo");
  EXPECT_TRUE(p->may_use("demo-chat"));
  EXPECT_FALSE(store.authenticate("ig-demo-key-change-me ").has_value());
}

}  // namespace
}  // namespace infergate::policy
