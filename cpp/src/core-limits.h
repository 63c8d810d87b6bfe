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
// A record string's characters besides ASCII letters and digits: what
// symbols, sensor ids, sources and categories are written with. Nothing
// that could end a line or a column (commas, quotes, controls, Unicode line
// separators), reorder text (bidi controls) or spell a chat marker (<|...|>).
constexpr const char * TEXT_PUNCTUATION = "_-.:/@#+= ";
// Records a window holds at most: with MAX_COUNT, keeps every window sum exact.
constexpr int32_t MAX_WINDOW_RECORDS = 1 << 16;
// A window of fewer records than this is refused (mark_prefix on a full context).
constexpr int32_t MIN_WINDOW_RECORDS = 4;
// An integer field's largest magnitude: MAX_WINDOW_RECORDS of them sum to at
// most 2^53 - 1, which a double (and a JSON reader) holds exactly.
constexpr int64_t MAX_COUNT = ((int64_t{1} << 53) - 1) / MAX_WINDOW_RECORDS;
// A float field's largest magnitude: printed in full when integral, and the
// window's sums and distances stay finite.
constexpr double MAX_ABS_NUMBER = 1e15;
// A generate request's stop strings (OpenAI's limit), each 1 to MAX_STOP_LENGTH bytes.
constexpr int32_t MAX_STOP_STRINGS = 4;
constexpr int32_t MAX_STOP_LENGTH  = 64;
// 9999-12-31T23:59:59Z: the last second whose UTC date has four digits.
constexpr int64_t MAX_TIMESTAMP = 253402300799;

} // namespace streaminfer
