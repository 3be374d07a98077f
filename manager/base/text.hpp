// Small text conversions used across the manager, each written once: hex,
// base64, ISO-8601 UTC times, and range-checked decimal integers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warmpool {

// One hex digit for the low four bits of `nibble`.
char hex_digit(unsigned nibble, bool upper = false);
// Lower-case hex of `size` bytes: {0x00, 0xff} -> "00ff".
std::string to_hex(const unsigned char* data, std::size_t size);

// Strict base64 (RFC 4648 section 4, padded, no line breaks or blanks)
// to bytes; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);
// Bytes to padded base64.
std::string base64_encode(std::string_view bytes);

// Milliseconds since the Unix epoch as "2026-11-25T15:30:00.123Z".
std::string iso8601(std::int64_t epoch_ms);

// "2026-11-25T15:30:00.123Z" (as iso8601 writes it; the milliseconds may
// be left out) back to milliseconds since the Unix epoch; nullopt otherwise.
std::optional<std::int64_t> parse_iso8601(std::string_view text);

// A decimal integer made of digits only (no sign, blank or '+') in
// [min, max]; nullopt for anything else, overflow included.
std::optional<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max);

}  // namespace warmpool
