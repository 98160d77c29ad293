// The streaming JSON writer writes what nlohmann's dump() writes for the same values: stored bodies
// and sale digests read the same whichever wrote them.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <random>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/json_writer.hpp"
#include "support.hpp"

using namespace loyalty;
using engine::detail::JsonWriter;
using nlohmann::ordered_json;

namespace {

std::string dumped(const ordered_json& j) { return j.dump(-1, ' ', false, ordered_json::error_handler_t::strict); }

void append_utf8(std::string& s, std::uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | cp >> 12);
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | cp >> 18);
    s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A random valid UTF-8 string: control characters, quotes and backslashes, and code points of every length.
std::string random_text(std::mt19937& rng) {
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 12)(rng);
  for (int i = 0; i < n; ++i) {
    switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
      case 0: append_utf8(s, std::uniform_int_distribution<std::uint32_t>(0, 0x1F)(rng)); break;
      case 1: s += "\"\\/\x7f"[std::uniform_int_distribution<int>(0, 3)(rng)]; break;
      case 2: append_utf8(s, std::uniform_int_distribution<std::uint32_t>(0x80, 0x7FF)(rng)); break;
      case 3: {
        std::uint32_t cp = std::uniform_int_distribution<std::uint32_t>(0x800, 0xFFFF)(rng);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;  // not a surrogate
        append_utf8(s, cp);
        break;
      }
      case 4: append_utf8(s, std::uniform_int_distribution<std::uint32_t>(0x10000, 0x10FFFF)(rng)); break;
      default: s += static_cast<char>(std::uniform_int_distribution<int>(0x20, 0x7E)(rng));
    }
  }
  return s;
}

// A random document written both ways at once: as a DOM, and with the writer.
ordered_json random_value(std::mt19937& rng, JsonWriter& w, int depth) {
  const int kind = std::uniform_int_distribution<int>(0, depth > 3 ? 4 : 6)(rng);
  switch (kind) {
    case 0: w.null(); return nullptr;
    case 1: {
      const bool b = rng() % 2 == 0;
      w.value(b);
      return b;
    }
    case 2: {
      const std::int64_t v = rng() % 3 == 0 ? std::uniform_int_distribution<std::int64_t>(-1000, 1000)(rng)
                                            : std::uniform_int_distribution<std::int64_t>(INT64_MIN, INT64_MAX)(rng);
      w.value(v);
      return v;
    }
    case 3:
    case 4: {
      const std::string s = random_text(rng);
      w.value(s);
      return s;
    }
    case 5: {
      ordered_json a = ordered_json::array();
      w.begin_array();
      const int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) a.push_back(random_value(rng, w, depth + 1));
      w.end_array();
      return a;
    }
    default: {
      ordered_json o = ordered_json::object();
      w.begin_object();
      const int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) {
        const std::string k = random_text(rng) + std::to_string(i);  // keys of one object differ
        w.key_text(k);
        o[k] = random_value(rng, w, depth + 1);
      }
      w.end_object();
      return o;
    }
  }
}

}  // namespace

TEST_CASE("every ASCII character and every length of UTF-8 is written as nlohmann writes it", "[json]") {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
  all += "\u00e9\u4e2d\U0001F600\U0010FFFF\u0800\u07ff\ufffd";
  JsonWriter w;
  w.value(all);
  CHECK(w.text() == dumped(ordered_json(all)));
  CHECK(w.text().substr(0, 8) == "\"\\u0000\\");
  CHECK(w.text().find("\\u001f") != std::string::npos);  // lower-case hex, as nlohmann
  CHECK(w.text().find('\x7f') != std::string::npos);     // DEL is not escaped
}

TEST_CASE("random documents are written byte for byte as nlohmann dumps them", "[json]") {
  std::mt19937 rng(20261203);
  for (int i = 0; i < 3000; ++i) {
    JsonWriter w;
    const ordered_json dom = random_value(rng, w, 0);
    INFO("document " << i);
    REQUIRE(w.text() == dumped(dom));
  }
}

TEST_CASE("bytes that are not UTF-8 are written as U+FFFD, one each, and the text stays JSON", "[json]") {
  const auto written = [](std::string_view s) {
    JsonWriter w;
    w.value(s);
    return w.take();
  };
  const std::string r = "\xEF\xBF\xBD";
  CHECK(written("a\xff" "b") == "\"a" + r + "b\"");
  CHECK(written("\xe4\xb8") == "\"" + r + r + "\"");                 // cut short
  CHECK(written("\xc0\x80") == "\"" + r + r + "\"");                 // overlong
  CHECK(written("\xed\xa0\x80") == "\"" + r + r + r + "\"");         // a surrogate
  CHECK(written("\xf4\x90\x80\x80") == "\"" + r + r + r + r + "\"");  // above U+10FFFF
  CHECK(written("\xe4\xb8\xad\x80") == "\"\xe4\xb8\xad" + r + "\"");
  for (const char* bad : {"\xff\xfe", "x\x80y", "\xf0\x9f\x98"})
    CHECK_NOTHROW(ordered_json::parse(written(bad)));
}

TEST_CASE("a quote and its input are written as the reader reads them, for every worked scenario", "[json]") {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "scenarios")) {
    if (e.path().extension() != ".json") continue;
    ++n;
    INFO(e.path().filename().string());
    auto input = engine::parse_quote_input(test::read_file(e.path()));
    REQUIRE(input.ok());
    const engine::Quote q = test::must_quote(*input);
    for (const bool detailed : {false, true}) {
      JsonWriter w;
      engine::detail::write_quote(w, q, detailed);
      const auto parsed = ordered_json::parse(w.text());
      CHECK(dumped(parsed) == w.text());
      const engine::Quote back = engine::detail::read_quote(nlohmann::json::parse(w.text()), "quote");
      JsonWriter again;
      engine::detail::write_quote(again, back, detailed);
      CHECK(again.text() == w.text());
    }
    JsonWriter w;
    engine::detail::write_quote_input(w, *input);
    CHECK(dumped(ordered_json::parse(w.text())) == w.text());
    const engine::QuoteInput back = engine::detail::read_quote_input(nlohmann::json::parse(w.text()), "input");
    JsonWriter again;
    engine::detail::write_quote_input(again, back);
    CHECK(again.text() == w.text());
    CHECK(test::must_quote(back).payable_minor == q.payable_minor);
  }
  CHECK(n >= 7);
}
