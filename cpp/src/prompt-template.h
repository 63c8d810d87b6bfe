// The fixed text around the data: how the prefix opens and how a question
// (flash query or generate prompt) is appended after the live data window.
//
// With a chat template (derived from the model's own, via
// llama_chat_apply_template), the layout is
//
//   <system turn: prompt + column header> <user turn opens> "Data:\n"
//   <record line> <record line> ...                  <- the sliding window
//   "\nQuestion: " <question> <user turn closes> <assistant turn opens>
//
// so the data sits inside an open user turn that each question closes.
// Without a chat template (base models) the same layout uses plain text:
// "Question: ...\nAnswer:".
#pragma once

#include "model.h"

#include <string>
#include <vector>

namespace streaminfer {

// Text and its tokens. Caller-supplied text (prompts, questions) is
// tokenized with special-token parsing off, so data can never inject a turn
// marker; only the template's own markers are parsed as special tokens.
struct tokenized_text {
    std::string           text;
    std::vector<token_id> tokens;
};

class prompt_template {
public:
    explicit prompt_template(const model & mdl);

    // Everything before the first record: decoded once per session.
    tokenized_text prefix(const std::string & system_prompt, const std::string & header) const;

    // Appended after the window for one question.
    tokenized_text question(const std::string & text) const;

    bool uses_chat_template() const { return chat_; }

private:
    void append(tokenized_text & out, const std::string & text, bool is_template) const;

    const model & model_;
    bool        chat_ = false;
    std::string system_open_;    // before the system prompt
    std::string system_to_user_; // between the system prompt and the user's text
    std::string user_to_answer_; // after the user's text, opening the answer
};

} // namespace streaminfer
