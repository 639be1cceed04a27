// test_cpp.cpp MODEL_DIR -- include/dsv3.hpp on the demo model: the greedy
// continuation of the pinned prompt is the pinned 32 ids (as
// tests/test_demo_model.py), text streamed through a lambda equals the
// returned text, an exception thrown in the lambda cancels and reaches the
// caller with the session still usable, failures throw dsv3::error with
// the status and the library's message, save/load/fork give bit-identical
// logits, handles move. Built as C++17 with
// -Wall -Wextra -pedantic -Werror.
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "dsv3.hpp"

static int failures = 0;
#define CHECK(c, what)                                                    \
    do {                                                                  \
        if (!(c)) {                                                       \
            failures++;                                                   \
            std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, what);    \
        }                                                                 \
    } while (0)

static const std::vector<int32_t> kPromptIds = {0, 1437, 367, 261, 1932, 474, 75, 1198, 562, 2825};
static const std::vector<int32_t> kGreedyIds = {16, 223, 304, 447, 737, 304, 542, 317, 362, 410, 360,
                                                391, 1349, 275, 289, 360, 494, 295, 269, 1037, 14, 285,
                                                304, 447, 737, 304, 542, 317, 362, 410, 360, 494};

struct boom {
    int at;
};

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: test_cpp MODEL_DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    try {
        dsv3::model m = dsv3::model::load(dir, "scalar", 2);
        /* devices (0.3): a CPU backend keeps every weight in host memory */
        const std::string where = m.placement();
        CHECK(where.find("host memory") != std::string::npos, "placement text");
        CHECK(std::string(m.info().device) == "cpu" && m.info().device_bytes == 0, "info device");
        int n_auto = 0;
        for (const auto &b : dsv3::describe_backends())
            n_auto += b.second.find("picked by \"auto\"") != std::string::npos;
        CHECK(n_auto == 1, "one backend is auto's pick");
        dsv3::tokenizer tok = dsv3::tokenizer::load(dir);
        const std::string prompt = "It is a truth universally acknowledged";
        std::vector<int32_t> ids = tok.encode(prompt);
        CHECK(ids == kPromptIds, "prompt ids");

        dsv3::session s(m, 256);
        std::vector<float> logits = s.step(ids);
        CHECK(logits.size() == static_cast<size_t>(m.vocab_size()), "logits size");
        size_t best = 0;
        for (size_t i = 1; i < logits.size(); i++)
            if (logits[i] > logits[best]) best = i;
        CHECK(static_cast<int32_t>(best) == kGreedyIds[0], "argmax of the last row is the first greedy token");
        s.rewind(0);
        CHECK(s.position() == 0, "rewind");

        dsv3_sampler_params sp = dsv3::sampler_params();
        sp.temperature = 0;
        dsv3::sampler smp(sp, m.vocab_size());
        std::string streamed;
        dsv3::generation g = s.generate(&tok, smp, ids, {32, true, {}}, [&](int32_t, std::string_view piece) {
            streamed.append(piece);
            return false;
        });
        CHECK(g.tokens == kGreedyIds, "greedy ids");
        CHECK(g.text == streamed && g.text == tok.decode(kGreedyIds), "streamed text");
        CHECK(g.result.stop_reason == DSV3_STOP_MAX_TOKENS && g.result.n_generated == 32, "result");
        std::printf("%s%s\n", prompt.c_str(), g.text.c_str());

        // an exception in the lambda cancels and propagates; the session stays usable
        s.rewind(0);
        int seen = 0;
        try {
            s.generate(&tok, smp, ids, {}, [&](int32_t, std::string_view) -> bool {
                if (++seen == 3) throw boom{seen};
                return false;
            });
            CHECK(false, "exception propagates");
        } catch (const boom &b) {
            CHECK(b.at == 3 && seen == 3, "generation stopped at the throwing token");
        }
        s.rewind(0);
        smp.reset();
        CHECK(s.generate(&tok, smp, ids, {4}).tokens == std::vector<int32_t>(kGreedyIds.begin(), kGreedyIds.begin() + 4),
              "usable after the exception");

        // errors carry status and message
        try {
            s.rewind(1000);
            CHECK(false, "bad rewind throws");
        } catch (const dsv3::error &e) {
            CHECK(e.status() == DSV3_ERR_BAD_POSITION && std::strlen(e.what()) > 0, "bad rewind status");
        }
        try {
            dsv3::model::load(dir + "/missing");
            CHECK(false, "missing model throws");
        } catch (const dsv3::error &e) {
            CHECK(e.status() == DSV3_ERR_NOT_FOUND && std::string(e.what()).find("missing") != std::string::npos,
                  "missing model: status and path in the message");
        }

        // state: save, load, fork
        s.rewind(0);
        s.step(ids);
        std::vector<unsigned char> state = s.save();
        std::vector<float> next = s.step({kGreedyIds[0]});
        s.rewind(0);
        s.load(state);
        CHECK(s.position() == static_cast<int32_t>(ids.size()) && s.step({kGreedyIds[0]}) == next,
              "save/load gives the same logits");
        s.rewind(static_cast<int32_t>(ids.size()));
        dsv3::session f = s.fork();
        CHECK(f.position() == s.position() && f.step({kGreedyIds[0]}) == next, "fork gives the same logits");

        // moves, chat template, prefetch
        dsv3::session moved = std::move(s);
        CHECK(moved.get() != nullptr && s.get() == nullptr, "session moves");
        std::string chat = tok.chat_render({{"user", "Hello"}});
        CHECK(chat.find("Hello") != std::string::npos, "chat render");
        uint64_t last = 0, total = 0;
        m.prefetch([&](uint64_t d, uint64_t t) {
            last = d;
            total = t;
            return false;
        });
        CHECK(total > 0 && last == total, "prefetch progress");
        try {
            m.prefetch([](uint64_t, uint64_t) { return true; });
            CHECK(false, "cancelled prefetch throws");
        } catch (const dsv3::error &e) {
            CHECK(e.status() == DSV3_ERR_CANCELLED, "cancelled prefetch status");
        }
    } catch (const std::exception &e) {
        std::printf("FAIL: unexpected exception: %s\n", e.what());
        return 1;
    }
    std::printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
