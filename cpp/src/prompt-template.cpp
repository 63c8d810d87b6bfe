#include "prompt-template.h"

#include "model.h"

#include "llama.h"

#include <vector>

namespace streaminfer {

namespace {

const char * const DEFAULT_SYSTEM_PROMPT =
    "You are a concise analyst watching a live data stream. Answer each question about the data "
    "in one short line.";

// Placeholders that no template rewrites; their positions in the rendered
// conversation split it into the three fixed pieces.
const char * const SYSTEM_MARK = "\x1fSYSTEM\x1f";
const char * const USER_MARK   = "\x1fUSER\x1f";

bool render(const char * tmpl, std::string & out) {
    const llama_chat_message msgs[2] = {{"system", SYSTEM_MARK}, {"user", USER_MARK}};
    std::vector<char> buf(4096);
    int32_t n = llama_chat_apply_template(tmpl, msgs, 2, true, buf.data(), static_cast<int32_t>(buf.size()));
    if (n > static_cast<int32_t>(buf.size())) {
        buf.resize(static_cast<size_t>(n));
        n = llama_chat_apply_template(tmpl, msgs, 2, true, buf.data(), static_cast<int32_t>(buf.size()));
    }
    if (n < 0) {
        return false;
    }
    out.assign(buf.data(), static_cast<size_t>(n));
    return true;
}

} // namespace

prompt_template::prompt_template(const model & mdl) : model_(mdl) {
    const char * tmpl = mdl.chat_template();
    std::string rendered;
    if (tmpl != nullptr && render(tmpl, rendered)) {
        const size_t s = rendered.find(SYSTEM_MARK);
        const size_t u = rendered.find(USER_MARK);
        if (s != std::string::npos && u != std::string::npos && s < u) {
            chat_           = true;
            system_open_    = rendered.substr(0, s);
            system_to_user_ = rendered.substr(s + std::char_traits<char>::length(SYSTEM_MARK),
                                              u - s - std::char_traits<char>::length(SYSTEM_MARK));
            user_to_answer_ = rendered.substr(u + std::char_traits<char>::length(USER_MARK));
        }
    }
    if (!chat_) {
        system_open_    = "";
        system_to_user_ = "\n\n";
        user_to_answer_ = "\nAnswer:";
    }
}

void prompt_template::append(tokenized_text & out, const std::string & text, bool is_template) const {
    if (text.empty()) {
        return;
    }
    const bool at_start = out.tokens.empty();
    const auto toks = model_.tokenize(text, /*add_special=*/at_start, /*parse_special=*/is_template);
    out.text += text;
    out.tokens.insert(out.tokens.end(), toks.begin(), toks.end());
}

tokenized_text prompt_template::prefix(const std::string & system_prompt, const std::string & header) const {
    tokenized_text out;
    append(out, system_open_, true);
    append(out, system_prompt.empty() ? std::string(DEFAULT_SYSTEM_PROMPT) : system_prompt, false);
    append(out, "\n" + header, false);
    append(out, system_to_user_, true);
    append(out, "Data:\n", false);
    return out;
}

tokenized_text prompt_template::question(const std::string & text) const {
    tokenized_text out;
    out.tokens.reserve(32);
    // Not at the start of a sequence: no BOS.
    const auto q = model_.tokenize("\nQuestion: " + text, false, false);
    const auto tail = model_.tokenize(user_to_answer_, false, true);
    out.text = "\nQuestion: " + text + user_to_answer_;
    out.tokens.insert(out.tokens.end(), q.begin(), q.end());
    out.tokens.insert(out.tokens.end(), tail.begin(), tail.end());
    return out;
}

} // namespace streaminfer
