/* abi_layout.c -- print, as JSON, the size and field offsets of every
 * struct of dsv3.h as this C compiler lays them out. The Python and Rust
 * bindings declare the same structs by hand; their tests compare their
 * layout with this output, so a field added, moved or retyped in the
 * header without the bindings fails the build instead of corrupting
 * memory. A field missing here shows up as a size mismatch. */
#include <stddef.h>
#include <stdio.h>

#include "dsv3.h"

static int first_struct = 1;

static void begin(const char *name, size_t size) {
    printf("%s\n  \"%s\": {\"__size__\": %zu", first_struct ? "{" : ",", name, size);
    first_struct = 0;
}

static void field(const char *name, size_t off) {
    printf(", \"%s\": %zu", name, off);
}

static void end(void) { printf("}"); }

#define S(T) begin(#T, sizeof(struct T))
#define F(T, f) field(#f, offsetof(struct T, f))

int main(void) {
    S(dsv3_model_params);
    F(dsv3_model_params, struct_size); F(dsv3_model_params, backend); F(dsv3_model_params, n_threads);
    F(dsv3_model_params, use_mmap); F(dsv3_model_params, mmap_mode); F(dsv3_model_params, reserved0);
    F(dsv3_model_params, placement); F(dsv3_model_params, gpu_budget); F(dsv3_model_params, kv_reserve_ctx);
    F(dsv3_model_params, reserved1); F(dsv3_model_params, repack); F(dsv3_model_params, reserved2);
    end();

    S(dsv3_model_info);
    F(dsv3_model_info, struct_size); F(dsv3_model_info, architecture); F(dsv3_model_info, backend);
    F(dsv3_model_info, weight_dtype); F(dsv3_model_info, vocab_size); F(dsv3_model_info, n_layers);
    F(dsv3_model_info, n_dense_layers); F(dsv3_model_info, hidden_size); F(dsv3_model_info, n_heads);
    F(dsv3_model_info, q_lora_rank); F(dsv3_model_info, kv_lora_rank); F(dsv3_model_info, qk_nope_head_dim);
    F(dsv3_model_info, qk_rope_head_dim); F(dsv3_model_info, v_head_dim); F(dsv3_model_info, n_routed_experts);
    F(dsv3_model_info, n_shared_experts); F(dsv3_model_info, n_experts_per_token);
    F(dsv3_model_info, max_context); F(dsv3_model_info, n_mtp_layers); F(dsv3_model_info, n_threads);
    F(dsv3_model_info, n_params); F(dsv3_model_info, bytes_mapped); F(dsv3_model_info, kv_bytes_per_token);
    F(dsv3_model_info, decode_bytes_per_token); F(dsv3_model_info, decode_bytes_head);
    F(dsv3_model_info, decode_bytes_dense_layer); F(dsv3_model_info, decode_bytes_moe_layer);
    F(dsv3_model_info, n_moe_layers); F(dsv3_model_info, n_group); F(dsv3_model_info, topk_group);
    F(dsv3_model_info, reserved0); F(dsv3_model_info, device); F(dsv3_model_info, device_bytes);
    F(dsv3_model_info, host_weight_bytes); F(dsv3_model_info, repacked_bytes);
    end();

    S(dsv3_session_params);
    F(dsv3_session_params, struct_size); F(dsv3_session_params, n_ctx); F(dsv3_session_params, record_routing);
    F(dsv3_session_params, mtp); F(dsv3_session_params, reserved0); F(dsv3_session_params, kv_type);
    end();

    S(dsv3_tool_call);
    F(dsv3_tool_call, type); F(dsv3_tool_call, name); F(dsv3_tool_call, arguments);
    end();

    S(dsv3_chat_message);
    F(dsv3_chat_message, role); F(dsv3_chat_message, content); F(dsv3_chat_message, tool_calls);
    F(dsv3_chat_message, n_tool_calls);
    end();

    S(dsv3_sampler_params);
    F(dsv3_sampler_params, struct_size); F(dsv3_sampler_params, temperature); F(dsv3_sampler_params, top_k);
    F(dsv3_sampler_params, top_p); F(dsv3_sampler_params, min_p); F(dsv3_sampler_params, repeat_penalty);
    F(dsv3_sampler_params, frequency_penalty); F(dsv3_sampler_params, presence_penalty);
    F(dsv3_sampler_params, penalty_last_n); F(dsv3_sampler_params, seed); F(dsv3_sampler_params, bias_ids);
    F(dsv3_sampler_params, bias_values); F(dsv3_sampler_params, n_bias);
    end();

    S(dsv3_generate_params);
    F(dsv3_generate_params, struct_size); F(dsv3_generate_params, max_tokens);
    F(dsv3_generate_params, stop_at_eos); F(dsv3_generate_params, stop_strings);
    F(dsv3_generate_params, n_stop_strings); F(dsv3_generate_params, on_token); F(dsv3_generate_params, user);
    F(dsv3_generate_params, mtp); F(dsv3_generate_params, mtp_depth);
    end();

    S(dsv3_generate_result);
    F(dsv3_generate_result, struct_size); F(dsv3_generate_result, n_prompt_tokens);
    F(dsv3_generate_result, n_generated); F(dsv3_generate_result, stop_reason);
    F(dsv3_generate_result, prompt_seconds); F(dsv3_generate_result, generate_seconds);
    F(dsv3_generate_result, prompt_tokens_per_s); F(dsv3_generate_result, generate_tokens_per_s);
    F(dsv3_generate_result, mtp_depth); F(dsv3_generate_result, n_drafted); F(dsv3_generate_result, n_accepted);
    F(dsv3_generate_result, n_main_steps);
    end();

    printf("\n}\n");
    return 0;
}
