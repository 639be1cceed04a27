//! The raw C ABI of `include/dsv3.h`, written by hand (no bindgen).
//!
//! Every struct mirrors the header field for field and in order, including
//! fields that are never read (`reserved0` keeps `kv_type` at its offset);
//! `tests/layout.rs` compares sizes and offsets with the C compiler's.
//! Parameter structs are filled by the library's `*_params_init` with our
//! size, so fields this crate does not know keep the library's defaults.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

pub const DSV3_OK: c_int = 0;
pub const DSV3_ERR_INVALID_ARG: c_int = 1;
pub const DSV3_ERR_NOT_FOUND: c_int = 2;
pub const DSV3_ERR_BAD_TOKEN: c_int = 11;
pub const DSV3_ERR_CONTEXT_FULL: c_int = 12;
pub const DSV3_ERR_BAD_POSITION: c_int = 13;
pub const DSV3_ERR_BACKEND: c_int = 14;
pub const DSV3_ERR_TOO_SMALL: c_int = 17;
pub const DSV3_ERR_CANCELLED: c_int = 18;

pub const DSV3_STEP_LOGITS_ALL: c_uint = 1;
pub const DSV3_TOKENIZE_ADD_BOS: c_uint = 1;
pub const DSV3_TOKENIZE_NO_ADDED: c_uint = 2;
pub const DSV3_DETOKENIZE_SKIP_SPECIAL: c_uint = 1;

pub const DSV3_KV_F32: i32 = 0;
pub const DSV3_KV_F16: i32 = 1;
pub const DSV3_KV_Q8_0: i32 = 2;

pub const DSV3_STOP_NONE: c_int = 0;
pub const DSV3_STOP_EOS: c_int = 1;
pub const DSV3_STOP_STRING: c_int = 2;
pub const DSV3_STOP_MAX_TOKENS: c_int = 3;
pub const DSV3_STOP_CALLBACK: c_int = 4;
pub const DSV3_STOP_CONTEXT_FULL: c_int = 5;

#[repr(C)]
pub struct dsv3_model {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct dsv3_session {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct dsv3_tokenizer {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct dsv3_sampler {
    _opaque: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_model_params {
    pub struct_size: usize,
    pub backend: *const c_char,
    pub n_threads: c_int,
    pub use_mmap: c_int,
    // appended in 0.2
    pub mmap_mode: i32,
    pub reserved0: i32,
    // appended in 0.3
    pub placement: *const c_char,
    pub gpu_budget: u64,
    pub kv_reserve_ctx: i32,
    pub reserved1: i32,
    pub repack: i32,
    pub reserved2: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_model_info {
    pub struct_size: usize,
    pub architecture: [c_char; 32],
    pub backend: [c_char; 32],
    pub weight_dtype: [c_char; 16],
    pub vocab_size: i32,
    pub n_layers: i32,
    pub n_dense_layers: i32,
    pub hidden_size: i32,
    pub n_heads: i32,
    pub q_lora_rank: i32,
    pub kv_lora_rank: i32,
    pub qk_nope_head_dim: i32,
    pub qk_rope_head_dim: i32,
    pub v_head_dim: i32,
    pub n_routed_experts: i32,
    pub n_shared_experts: i32,
    pub n_experts_per_token: i32,
    pub max_context: i32,
    pub n_mtp_layers: i32,
    pub n_threads: i32,
    pub n_params: u64,
    pub bytes_mapped: u64,
    pub kv_bytes_per_token: u64,
    pub decode_bytes_per_token: u64,
    pub decode_bytes_head: u64,
    pub decode_bytes_dense_layer: u64,
    pub decode_bytes_moe_layer: u64,
    pub n_moe_layers: i32,
    pub n_group: i32,
    pub topk_group: i32,
    // appended in 0.3
    pub reserved0: i32,
    pub device: [c_char; 64],
    pub device_bytes: u64,
    pub host_weight_bytes: u64,
    pub repacked_bytes: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_session_params {
    pub struct_size: usize,
    pub n_ctx: i32,
    pub record_routing: c_int,
    pub mtp: c_int,
    pub reserved0: i32,
    pub kv_type: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_tool_call {
    pub type_: *const c_char,
    pub name: *const c_char,
    pub arguments: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_chat_message {
    pub role: *const c_char,
    pub content: *const c_char,
    pub tool_calls: *const dsv3_tool_call,
    pub n_tool_calls: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_sampler_params {
    pub struct_size: usize,
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub penalty_last_n: i32,
    pub seed: u64,
    pub bias_ids: *const i32,
    pub bias_values: *const f32,
    pub n_bias: usize,
}

pub type dsv3_token_callback =
    Option<unsafe extern "C" fn(user: *mut c_void, token: i32, piece: *const c_char, piece_len: usize) -> c_int>;
pub type dsv3_progress_callback = Option<unsafe extern "C" fn(user: *mut c_void, done: u64, total: u64) -> c_int>;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dsv3_generate_params {
    pub struct_size: usize,
    pub max_tokens: i32,
    pub stop_at_eos: c_int,
    pub stop_strings: *const *const c_char,
    pub n_stop_strings: usize,
    pub on_token: dsv3_token_callback,
    pub user: *mut c_void,
    // appended in 0.2
    pub mtp: i32,
    pub mtp_depth: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct dsv3_generate_result {
    pub struct_size: usize,
    pub n_prompt_tokens: i32,
    pub n_generated: i32,
    pub stop_reason: c_int,
    pub prompt_seconds: f64,
    pub generate_seconds: f64,
    pub prompt_tokens_per_s: f64,
    pub generate_tokens_per_s: f64,
    // appended in 0.2
    pub mtp_depth: i32,
    pub n_drafted: i32,
    pub n_accepted: i32,
    pub n_main_steps: i32,
}

extern "C" {
    pub fn dsv3_version() -> c_uint;
    pub fn dsv3_version_string() -> *const c_char;
    pub fn dsv3_status_string(status: c_int) -> *const c_char;

    pub fn dsv3_model_params_init(p: *mut dsv3_model_params, size: usize) -> c_int;
    pub fn dsv3_model_load(
        path: *const c_char,
        params: *const dsv3_model_params,
        out: *mut *mut dsv3_model,
        err: *mut c_char,
        err_size: usize,
    ) -> c_int;
    pub fn dsv3_model_free(model: *mut dsv3_model);
    pub fn dsv3_model_get_info(model: *const dsv3_model, info: *mut dsv3_model_info) -> c_int;
    pub fn dsv3_model_last_error(model: *const dsv3_model) -> *const c_char;
    pub fn dsv3_model_prefetch(model: *const dsv3_model, progress: dsv3_progress_callback, user: *mut c_void)
        -> c_int;

    pub fn dsv3_session_params_init(p: *mut dsv3_session_params, size: usize) -> c_int;
    pub fn dsv3_session_create(
        model: *const dsv3_model,
        params: *const dsv3_session_params,
        out: *mut *mut dsv3_session,
        err: *mut c_char,
        err_size: usize,
    ) -> c_int;
    pub fn dsv3_session_free(session: *mut dsv3_session);
    pub fn dsv3_session_step(
        session: *mut dsv3_session,
        tokens: *const i32,
        n_tokens: i32,
        logits: *mut f32,
        flags: c_uint,
    ) -> c_int;
    pub fn dsv3_session_position(session: *const dsv3_session) -> i32;
    pub fn dsv3_session_n_ctx(session: *const dsv3_session) -> i32;
    pub fn dsv3_session_rewind(session: *mut dsv3_session, position: i32) -> c_int;
    pub fn dsv3_session_reset(session: *mut dsv3_session) -> c_int;
    pub fn dsv3_session_kv_bytes_per_token(session: *const dsv3_session) -> u64;
    pub fn dsv3_session_last_error(session: *const dsv3_session) -> *const c_char;
    pub fn dsv3_session_get_routing(
        session: *const dsv3_session,
        position: i32,
        ids: *mut i32,
        weights: *mut f32,
        n_moe_layers: *mut i32,
    ) -> c_int;
    pub fn dsv3_session_mtp_step(
        session: *mut dsv3_session,
        next_tokens: *const i32,
        n: i32,
        logits: *mut f32,
        flags: c_uint,
    ) -> c_int;
    pub fn dsv3_session_mtp_position(session: *const dsv3_session) -> i32;
    // session state and fork (0.2)
    pub fn dsv3_session_save(session: *mut dsv3_session, buf: *mut c_void, capacity: usize, size: *mut usize)
        -> c_int;
    pub fn dsv3_session_load(session: *mut dsv3_session, buf: *const c_void, size: usize) -> c_int;
    pub fn dsv3_session_save_file(session: *mut dsv3_session, path: *const c_char) -> c_int;
    pub fn dsv3_session_load_file(session: *mut dsv3_session, path: *const c_char) -> c_int;
    pub fn dsv3_session_fork(
        src: *const dsv3_session,
        params: *const dsv3_session_params,
        out: *mut *mut dsv3_session,
        err: *mut c_char,
        err_size: usize,
    ) -> c_int;

    pub fn dsv3_tokenizer_load(
        path: *const c_char,
        out: *mut *mut dsv3_tokenizer,
        err: *mut c_char,
        err_size: usize,
    ) -> c_int;
    pub fn dsv3_tokenizer_free(tok: *mut dsv3_tokenizer);
    pub fn dsv3_tokenizer_n_vocab(tok: *const dsv3_tokenizer) -> i32;
    pub fn dsv3_tokenizer_bos(tok: *const dsv3_tokenizer) -> i32;
    pub fn dsv3_tokenizer_eos(tok: *const dsv3_tokenizer) -> i32;
    pub fn dsv3_tokenizer_is_special(tok: *const dsv3_tokenizer, id: i32) -> c_int;
    pub fn dsv3_tokenizer_add_bos(tok: *const dsv3_tokenizer) -> c_int;
    pub fn dsv3_tokenize(
        tok: *const dsv3_tokenizer,
        text: *const c_char,
        len: usize,
        flags: c_uint,
        ids: *mut i32,
        capacity: usize,
        n_ids: *mut usize,
    ) -> c_int;
    pub fn dsv3_token_bytes(tok: *const dsv3_tokenizer, id: i32, bytes: *mut *const c_char, len: *mut usize)
        -> c_int;
    pub fn dsv3_detokenize(
        tok: *const dsv3_tokenizer,
        ids: *const i32,
        n: usize,
        flags: c_uint,
        text: *mut c_char,
        capacity: usize,
        len: *mut usize,
    ) -> c_int;
    pub fn dsv3_chat_render(
        tok: *const dsv3_tokenizer,
        msgs: *const dsv3_chat_message,
        n_msgs: usize,
        add_generation_prompt: c_int,
        text: *mut c_char,
        capacity: usize,
        len: *mut usize,
    ) -> c_int;

    pub fn dsv3_sampler_params_init(p: *mut dsv3_sampler_params, size: usize) -> c_int;
    pub fn dsv3_sampler_create(
        params: *const dsv3_sampler_params,
        n_vocab: i32,
        out: *mut *mut dsv3_sampler,
    ) -> c_int;
    pub fn dsv3_sampler_free(s: *mut dsv3_sampler);
    pub fn dsv3_sampler_sample(s: *mut dsv3_sampler, logits: *const f32, token: *mut i32) -> c_int;
    pub fn dsv3_sampler_accept(s: *mut dsv3_sampler, token: i32) -> c_int;
    pub fn dsv3_sampler_reset(s: *mut dsv3_sampler);
    pub fn dsv3_sampler_save(s: *const dsv3_sampler, buf: *mut c_void, capacity: usize, size: *mut usize) -> c_int;
    pub fn dsv3_sampler_load(s: *mut dsv3_sampler, buf: *const c_void, size: usize) -> c_int;

    pub fn dsv3_generate_params_init(p: *mut dsv3_generate_params, size: usize) -> c_int;
    pub fn dsv3_generate(
        s: *mut dsv3_session,
        tok: *const dsv3_tokenizer,
        sampler: *mut dsv3_sampler,
        prompt: *const i32,
        n_prompt: usize,
        params: *const dsv3_generate_params,
        result: *mut dsv3_generate_result,
    ) -> c_int;

    pub fn dsv3_backend_name(index: c_int, available: *mut c_int) -> *const c_char;

    // devices (0.3)
    pub fn dsv3_backend_describe(index: c_int, buf: *mut c_char, size: usize) -> c_int;
    pub fn dsv3_model_placement(m: *const dsv3_model, buf: *mut c_char, size: usize) -> c_int;
}
