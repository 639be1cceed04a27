/*
 * dsv3.hpp -- a header-only C++17 wrapper of dsv3.h.
 *
 *   dsv3::model m = dsv3::model::load("examples/models/austen-v3-tiny");
 *   dsv3::tokenizer tok = dsv3::tokenizer::load("examples/models/austen-v3-tiny");
 *   dsv3::session s(m);
 *   auto sp = dsv3::sampler_params();
 *   sp.temperature = 0;
 *   dsv3::sampler smp(sp, m.vocab_size());
 *   auto out = s.generate(&tok, smp, tok.encode("It is a truth"), {32},
 *                         [](int32_t, std::string_view piece) { std::cout << piece; return false; });
 *
 * Handles are move-only and freed by their destructors. A failing call
 * throws dsv3::error, carrying the dsv3_status code and the library's
 * message. Callbacks are any callables; an exception thrown inside one
 * cancels the C call (the callback reports -1 / nonzero) and is rethrown
 * to the caller once the library has returned. As in C, a model must
 * outlive its sessions (destroy them first). Threads follow dsv3.h:
 * model and tokenizer may be shared; session and sampler are used by one
 * thread at a time. The parameter helpers return the library's defaults
 * (filled by dsv3_*_params_init) for the caller to adjust.
 */
#ifndef DSV3_HPP
#define DSV3_HPP

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dsv3.h"

namespace dsv3 {

/* A failed call: status() is the enum dsv3_status code. */
class error : public std::runtime_error {
public:
    error(int status, const std::string &message)
        : std::runtime_error(message + " (" + dsv3_status_string(status) + ")"), status_(status) {}
    int status() const noexcept { return status_; }

private:
    int status_;
};

namespace detail {

inline void check(int rc, const char *what) {
    if (rc != DSV3_OK) throw error(rc, what);
}

inline void check(int rc, const std::string &what) {
    if (rc != DSV3_OK) throw error(rc, what);
}

struct model_free { void operator()(dsv3_model *p) const noexcept { dsv3_model_free(p); } };
struct session_free { void operator()(dsv3_session *p) const noexcept { dsv3_session_free(p); } };
struct tokenizer_free { void operator()(dsv3_tokenizer *p) const noexcept { dsv3_tokenizer_free(p); } };
struct sampler_free { void operator()(dsv3_sampler *p) const noexcept { dsv3_sampler_free(p); } };

/* A C callback must not unwind through the library: the exception is kept
 * here and rethrown after the C call returns. */
struct callback_guard {
    std::exception_ptr pending;
    void rethrow() {
        if (pending) {
            std::exception_ptr e = pending;
            pending = nullptr;
            std::rethrow_exception(e);
        }
    }
};

}  // namespace detail

inline std::string version() { return dsv3_version_string(); }

namespace detail {
/* A text the library writes into a buffer, retried with a larger buffer
 * while it reports DSV3_ERR_TOO_SMALL. */
template <class F> std::string text_call(F f, const char *what) {
    for (size_t size = 4096;; size *= 4) {
        std::vector<char> buf(size);
        int rc = f(buf.data(), size);
        if (rc != DSV3_ERR_TOO_SMALL || size >= (size_t(1) << 20)) {
            check(rc, what);
            return std::string(buf.data());
        }
    }
}
}  // namespace detail

/* (name, description) of every compiled-in backend (dsv3_backend_describe):
 * a GPU backend lists its devices or says why it cannot run; the one
 * "auto" picks says so. */
inline std::vector<std::pair<std::string, std::string>> describe_backends() {
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; const char *name = dsv3_backend_name(i, nullptr); i++)
        out.emplace_back(name, detail::text_call([i](char *b, size_t n) { return dsv3_backend_describe(i, b, n); },
                                                 "backend description"));
    return out;
}

/* The library's defaults, to adjust before use. */
inline dsv3_model_params model_params() {
    dsv3_model_params p;
    detail::check(dsv3_model_params_init(&p, sizeof p), "model params");
    return p;
}
inline dsv3_session_params session_params() {
    dsv3_session_params p;
    detail::check(dsv3_session_params_init(&p, sizeof p), "session params");
    return p;
}
inline dsv3_sampler_params sampler_params() {
    dsv3_sampler_params p;
    detail::check(dsv3_sampler_params_init(&p, sizeof p), "sampler params");
    return p;
}

class model {
public:
    /* path: a Hugging Face checkpoint directory or a GGUF file. */
    static model load(std::string_view path, const dsv3_model_params *params = nullptr) {
        std::string p(path);
        char err[1024] = "";
        dsv3_model *m = nullptr;
        detail::check(dsv3_model_load(p.c_str(), params, &m, err, sizeof err), err);
        return model(m);
    }
    static model load(std::string_view path, std::string_view backend, int n_threads = 0) {
        std::string b(backend);
        dsv3_model_params mp = model_params();
        mp.backend = b.c_str();
        mp.n_threads = n_threads;
        return load(path, &mp);
    }

    dsv3_model_info info() const {
        dsv3_model_info i{};
        i.struct_size = sizeof i;
        detail::check(dsv3_model_get_info(get(), &i), "model info");
        return i;
    }
    int32_t vocab_size() const { return info().vocab_size; }
    /* Where the weights went (dsv3_model_placement). */
    std::string placement() const {
        return detail::text_call([this](char *b, size_t n) { return dsv3_model_placement(get(), b, n); },
                                 "model placement");
    }

    /* Read the weights into memory now. progress(done, total) returns true
     * to cancel (then error with DSV3_ERR_CANCELLED). */
    void prefetch(const std::function<bool(uint64_t, uint64_t)> &progress = {}) const {
        struct ctx { const std::function<bool(uint64_t, uint64_t)> *fn; detail::callback_guard guard; } c{&progress, {}};
        auto tramp = [](void *user, uint64_t done, uint64_t total) -> int {
            ctx *x = static_cast<ctx *>(user);
            try {
                return (*x->fn && (*x->fn)(done, total)) ? 1 : 0;
            } catch (...) {
                x->guard.pending = std::current_exception();
                return 1;
            }
        };
        int rc = dsv3_model_prefetch(get(), tramp, &c);
        c.guard.rethrow();
        detail::check(rc, "prefetch");
    }

    const dsv3_model *get() const noexcept { return h_.get(); }
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }

private:
    explicit model(dsv3_model *m) : h_(m) {}
    std::unique_ptr<dsv3_model, detail::model_free> h_;
};

struct chat_message {
    std::string role, content;
};

class tokenizer {
public:
    /* A checkpoint directory, a tokenizer.json or a GGUF file. */
    static tokenizer load(std::string_view path) {
        std::string p(path);
        char err[1024] = "";
        dsv3_tokenizer *t = nullptr;
        detail::check(dsv3_tokenizer_load(p.c_str(), &t, err, sizeof err), err);
        return tokenizer(t);
    }

    /* add_bos: prepend BOS as tokenizer_config.json asks (when it has one). */
    std::vector<int32_t> encode(std::string_view text, bool add_bos = true, unsigned flags = 0) const {
        if (add_bos && dsv3_tokenizer_add_bos(get())) flags |= DSV3_TOKENIZE_ADD_BOS;
        std::vector<int32_t> ids(text.size() + 2);
        size_t n = 0;
        int rc = dsv3_tokenize(get(), text.data(), text.size(), flags, ids.data(), ids.size(), &n);
        if (rc == DSV3_ERR_TOO_SMALL) {
            ids.resize(n);
            rc = dsv3_tokenize(get(), text.data(), text.size(), flags, ids.data(), ids.size(), &n);
        }
        detail::check(rc, "tokenize");
        ids.resize(n);
        return ids;
    }

    std::string decode(const std::vector<int32_t> &ids, unsigned flags = 0) const {
        std::string out(ids.size() * 8 + 16, '\0');
        size_t len = 0;
        int rc = dsv3_detokenize(get(), ids.data(), ids.size(), flags, &out[0], out.size(), &len);
        if (rc == DSV3_ERR_TOO_SMALL) {
            out.resize(len + 1);
            rc = dsv3_detokenize(get(), ids.data(), ids.size(), flags, &out[0], out.size(), &len);
        }
        detail::check(rc, "detokenize: a token id is out of range or unknown");
        out.resize(len);
        return out;
    }

    /* The chat template; the text begins with BOS: encode(text, false). */
    std::string chat_render(const std::vector<chat_message> &msgs, bool add_generation_prompt = true) const {
        std::vector<dsv3_chat_message> c(msgs.size());
        for (size_t i = 0; i < msgs.size(); i++) c[i] = {msgs[i].role.c_str(), msgs[i].content.c_str(), nullptr, 0};
        std::string out(4096, '\0');
        size_t len = 0;
        int rc = dsv3_chat_render(get(), c.data(), c.size(), add_generation_prompt, &out[0], out.size(), &len);
        if (rc == DSV3_ERR_TOO_SMALL) {
            out.resize(len + 1);
            rc = dsv3_chat_render(get(), c.data(), c.size(), add_generation_prompt, &out[0], out.size(), &len);
        }
        detail::check(rc, "chat render");
        out.resize(len);
        return out;
    }

    int32_t n_vocab() const { return dsv3_tokenizer_n_vocab(get()); }
    int32_t bos() const { return dsv3_tokenizer_bos(get()); }
    int32_t eos() const { return dsv3_tokenizer_eos(get()); }

    const dsv3_tokenizer *get() const noexcept { return h_.get(); }

private:
    explicit tokenizer(dsv3_tokenizer *t) : h_(t) {}
    std::unique_ptr<dsv3_tokenizer, detail::tokenizer_free> h_;
};

class sampler {
public:
    sampler(const dsv3_sampler_params &p, int32_t n_vocab) : n_vocab_(n_vocab) {
        dsv3_sampler *s = nullptr;
        detail::check(dsv3_sampler_create(&p, n_vocab, &s), "sampler: bad parameters");
        h_.reset(s);
    }
    int32_t sample(const std::vector<float> &logits) {
        if (logits.size() < static_cast<size_t>(n_vocab_)) throw error(DSV3_ERR_INVALID_ARG, "sample: too few logits");
        int32_t t = -1;
        detail::check(dsv3_sampler_sample(get(), logits.data(), &t), "sample");
        return t;
    }
    void accept(int32_t token) { detail::check(dsv3_sampler_accept(get(), token), "accept"); }
    void reset() noexcept { dsv3_sampler_reset(get()); }
    dsv3_sampler *get() const noexcept { return h_.get(); }

private:
    int32_t n_vocab_;
    std::unique_ptr<dsv3_sampler, detail::sampler_free> h_;
};

struct generate_options {
    int32_t max_tokens;
    bool stop_at_eos;
    std::vector<std::string> stop;  /* stop strings (not passed on)       */
    /* a constructor, so {32} or {32, false} leave no field uninitialized */
    generate_options(int32_t max_tokens_ = 256, bool stop_at_eos_ = true, std::vector<std::string> stop_ = {})
        : max_tokens(max_tokens_), stop_at_eos(stop_at_eos_), stop(std::move(stop_)) {}
};

struct generation {
    std::string text;
    std::vector<int32_t> tokens;
    dsv3_generate_result result{};  /* counts, stop_reason, timing        */
};

/* on_token(token, piece): return true to stop (the token is kept). */
using token_callback = std::function<bool(int32_t, std::string_view)>;

class session {
public:
    explicit session(const model &m, const dsv3_session_params *params = nullptr) : vocab_(m.vocab_size()) {
        open(m, params);
    }
    session(const model &m, int32_t n_ctx) : vocab_(m.vocab_size()) {
        dsv3_session_params p = session_params();
        p.n_ctx = n_ctx;
        open(m, &p);
    }

    /* Append tokens; the logits of the last one (vocab_size floats). */
    std::vector<float> step(const std::vector<int32_t> &ids) {
        std::vector<float> out(static_cast<size_t>(vocab_));
        call(dsv3_session_step(get(), ids.data(), static_cast<int32_t>(ids.size()), out.data(), 0));
        return out;
    }
    int32_t position() const noexcept { return dsv3_session_position(get()); }
    int32_t n_ctx() const noexcept { return dsv3_session_n_ctx(get()); }
    void rewind(int32_t pos) { call(dsv3_session_rewind(get(), pos)); }
    void reset() { call(dsv3_session_reset(get())); }

    /* Step the prompt, then sample up to opts.max_tokens tokens. tok may
     * be nullptr (ids only, empty pieces). An exception thrown by on_token
     * cancels the generation and is rethrown here. */
    generation generate(const tokenizer *tok, sampler &smp, const std::vector<int32_t> &prompt,
                        const generate_options &opts = {}, const token_callback &on_token = {}) {
        struct ctx {
            const token_callback *fn;
            generation *out;
            detail::callback_guard guard;
        };
        generation g;
        ctx c{&on_token, &g, {}};
        std::vector<const char *> stops;
        for (const std::string &s : opts.stop) stops.push_back(s.c_str());
        dsv3_generate_params gp;
        detail::check(dsv3_generate_params_init(&gp, sizeof gp), "generate params");
        gp.max_tokens = opts.max_tokens;
        gp.stop_at_eos = opts.stop_at_eos ? 1 : 0;
        gp.stop_strings = stops.empty() ? nullptr : stops.data();
        gp.n_stop_strings = stops.size();
        gp.user = &c;
        gp.on_token = [](void *user, int32_t token, const char *piece, size_t len) -> int {
            ctx *x = static_cast<ctx *>(user);
            try {
                std::string_view p(piece ? piece : "", piece ? len : 0);
                x->out->tokens.push_back(token);
                x->out->text.append(p.data(), p.size());
                return (*x->fn && (*x->fn)(token, p)) ? 1 : 0;
            } catch (...) {
                x->guard.pending = std::current_exception();
                return -1;
            }
        };
        g.result.struct_size = sizeof g.result;
        int rc = dsv3_generate(get(), tok ? tok->get() : nullptr, smp.get(), prompt.data(), prompt.size(), &gp,
                               &g.result);
        c.guard.rethrow();
        call(rc);
        return g;
    }

    /* The session's state as bytes, for load() into a session of the
     * same model and kv_type. */
    std::vector<unsigned char> save() {
        size_t size = 0;
        int rc = dsv3_session_save(get(), nullptr, 0, &size);
        if (rc != DSV3_ERR_TOO_SMALL) call(rc);
        std::vector<unsigned char> buf(size);
        call(dsv3_session_save(get(), buf.data(), buf.size(), &size));
        buf.resize(size);
        return buf;
    }
    void load(const std::vector<unsigned char> &state) { call(dsv3_session_load(get(), state.data(), state.size())); }

    /* A new, independent session starting from a copy of this one's caches. */
    session fork() const {
        char err[1024] = "";
        dsv3_session *s = nullptr;
        detail::check(dsv3_session_fork(get(), nullptr, &s, err, sizeof err), err);
        return session(s, vocab_);
    }

    dsv3_session *get() const noexcept { return h_.get(); }

private:
    session(dsv3_session *s, int32_t vocab) : vocab_(vocab), h_(s) {}
    void open(const model &m, const dsv3_session_params *params) {
        char err[1024] = "";
        dsv3_session *s = nullptr;
        detail::check(dsv3_session_create(m.get(), params, &s, err, sizeof err), err);
        h_.reset(s);
    }
    void call(int rc) const {
        if (rc != DSV3_OK) throw error(rc, dsv3_session_last_error(get()));
    }
    int32_t vocab_;
    std::unique_ptr<dsv3_session, detail::session_free> h_;
};

}  // namespace dsv3

#endif /* DSV3_HPP */
