// The errors the core raises to its callers; the bindings turn each into a
// Python exception of the same name (docs/api.md maps them to HTTP errors).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace streaminfer {

// A request argument the core refuses. `param` is the argument's name;
// `index` is a flash query's place in a session's initial list (else -1).
class param_error : public std::invalid_argument {
public:
    param_error(const std::string & what, std::string name) : std::invalid_argument(what), param(std::move(name)) {}
    std::string param;
    int32_t     index = -1;
};

// The query is already registered (after whitespace folding).
class duplicate_error : public param_error {
public:
    using param_error::param_error;
};

// A count limit is reached (flash queries per session).
class limit_error : public param_error {
public:
    using param_error::param_error;
};

// Tokens do not fit in the context.
class context_full_error : public std::runtime_error {
public:
    context_full_error(const std::string & what, int32_t tokens, int32_t available)
        : std::runtime_error(what), n_tokens(tokens), n_available(available) {}
    int32_t n_tokens;
    int32_t n_available;
};

// The session was closed (deleted) before or while the call ran.
class session_closed_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// llama.cpp could not allocate a session's context (its KV cache, compute
// buffers): the machine is out of memory for it.
class context_alloc_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The engine is shutting down.
class engine_closed_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace streaminfer
