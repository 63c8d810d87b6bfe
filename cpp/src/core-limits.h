// The limits a client can meet, in one place. The bindings export each one
// to Python (`_core.MAX_FLASH_QUERIES`, ...), where the server and its docs
// (docs/api.md, "Limits") read them; no other layer spells a number again.
#pragma once

#include <cstdint>

namespace streaminfer {

constexpr int32_t MAX_FLASH_QUERIES    = 20;  // standing questions per session
constexpr int32_t MAX_FLASH_TOKENS     = 256; // a flash answer's length; longer requests are clamped
constexpr int32_t DEFAULT_FLASH_TOKENS = 32;
constexpr int32_t DEFAULT_GENERATE_TOKENS = 128; // a generate answer's length; clamped to [1, context size]
constexpr int32_t MIN_CONTEXT_SIZE     = 256; // tokens of a session's context
// Tokens kept free for a generate request's prompt and answer (when the
// flash queries reserve less than this).
constexpr int32_t GENERATE_RESERVE = 192;
// Tokens of data room the flash queries must leave when one is added.
constexpr int32_t MIN_DATA_ROOM = 32;
constexpr int32_t MAX_TEXT_LENGTH = 64; // bytes of a record's string field
// 9999-12-31T23:59:59Z: the last second whose UTC date has four digits.
constexpr int64_t MAX_TIMESTAMP = 253402300799;

} // namespace streaminfer
