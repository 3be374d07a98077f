#include <catch2/catch.hpp>

#include <limits>

#include "base/text.hpp"

using namespace warmpool;

TEST_CASE("to_hex and hex_digit") {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  CHECK(to_hex(bytes, sizeof bytes) == "000fa5ff");
  CHECK(to_hex(bytes, 0).empty());
  CHECK(hex_digit(10) == 'a');
  CHECK(hex_digit(10, /*upper=*/true) == 'A');
  CHECK(hex_digit(0x1f) == 'f');  // only the low four bits count
}

TEST_CASE("iso8601: UTC with milliseconds") {
  CHECK(iso8601(0) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601(1'764'700'000'123) == "2025-12-02T18:26:40.123Z");
  CHECK(iso8601(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("parse_int: digits only, within the range") {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  CHECK(parse_int("0", 0, 10) == 0);
  CHECK(parse_int("10", 0, 10) == 10);
  CHECK(parse_int("007", 0, 10) == 7);
  CHECK(parse_int("9223372036854775807", 0, kMax) == kMax);
  for (const char* bad : {"", "11", "-1", "+1", " 1", "1 ", "1e3", "0x1", "9223372036854775808",
                          "99999999999999999999999"})
    CHECK_FALSE(parse_int(bad, 0, 10));
  CHECK_FALSE(parse_int("9223372036854775808", 0, kMax));
  CHECK_FALSE(parse_int("4", 5, 10));
}

TEST_CASE("parse_iso8601 reads back what iso8601 writes") {
  for (std::int64_t ms : {0LL, 1'764'700'000'123LL, 1'700'000'000'000LL})
    CHECK(parse_iso8601(iso8601(ms)) == ms);
  CHECK(parse_iso8601("2025-12-02T18:26:40Z") == 1'764'700'000'000);
  for (const char* bad : {"", "2025-12-02", "2025-12-02T18:26:40", "2025-13-02T18:26:40Z",
                          "2025-12-02 18:26:40Z", "2025-12-02T18:26:40.12Z", "x025-12-02T18:26:40Z"})
    CHECK_FALSE(parse_iso8601(bad));
}

TEST_CASE("base64_decode: strict RFC 4648 with padding") {
  CHECK(base64_decode("") == std::string());
  CHECK(base64_decode("QQ==") == std::string("A"));
  CHECK(base64_decode("QUI=") == std::string("AB"));
  CHECK(base64_decode("QUJD") == std::string("ABC"));
  CHECK(base64_decode("AAEC/w==") == std::string("\x00\x01\x02\xff", 4));
  CHECK(base64_decode("+/+/") == std::string("\xfb\xff\xbf", 3));
  CHECK_FALSE(base64_decode("QUJ"));      // not a multiple of 4
  CHECK_FALSE(base64_decode("QU JD"));    // blanks
  CHECK_FALSE(base64_decode("QUJD\n"));
  CHECK_FALSE(base64_decode("Q==="));     // three pads
  CHECK_FALSE(base64_decode("QR=="));     // bits left over
  CHECK_FALSE(base64_decode("Q=JD"));     // a pad inside
  CHECK_FALSE(base64_decode("QUJ-"));     // the URL alphabet
}

TEST_CASE("base64_encode pads, and base64_decode reads it back") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("A") == "QQ==");
  CHECK(base64_encode("AB") == "QUI=");
  CHECK(base64_encode("ABC") == "QUJD");
  const std::string bytes("\x00\x01\x02\xff\xfe", 5);
  CHECK(base64_decode(base64_encode(bytes)) == bytes);
}
