//! The hand-written structs of `dsv3::sys` have the size and field offsets
//! the C compiler gives `dsv3.h` (bindings/abi_layout.c: the program named
//! by DSV3_ABI_LAYOUT, else compiled here with $CC / cc).
use dsv3::sys;
use std::collections::HashMap;
use std::mem::{size_of, MaybeUninit};
use std::process::Command;

fn c_layout() -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let exe = match std::env::var("DSV3_ABI_LAYOUT") {
        Ok(p) => p,
        Err(_) => {
            let out = std::env::temp_dir().join(format!("dsv3_abi_layout_{}", std::process::id()));
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
            let ok = Command::new(cc)
                .args(["-std=c11", "-I", &format!("{}/include", root), &format!("{}/bindings/abi_layout.c", root), "-o"])
                .arg(&out)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                return None;
            }
            out.to_string_lossy().into_owned()
        }
    };
    let out = Command::new(&exe).output().expect("run abi_layout");
    assert!(out.status.success());
    Some(String::from_utf8(out.stdout).unwrap())
}

/// {struct: {field: offset}} from abi_layout's JSON (one struct a line).
fn parse(json: &str) -> HashMap<String, HashMap<String, usize>> {
    let mut out = HashMap::new();
    for line in json.lines() {
        let line = line.trim().trim_end_matches(',');
        let (name, body) = match line.split_once(": {") {
            Some(x) => x,
            None => continue,
        };
        let mut fields = HashMap::new();
        for kv in body.trim_end_matches('}').split(", ") {
            let (k, v) = kv.split_once(": ").unwrap();
            fields.insert(k.trim_matches('"').to_string(), v.parse().unwrap());
        }
        out.insert(name.trim_matches('"').to_string(), fields);
    }
    out
}

macro_rules! layout {
    ($t:ty, $($f:ident),*) => {{
        let u = MaybeUninit::<$t>::uninit();
        let base = u.as_ptr() as usize;
        let mut m: HashMap<String, usize> = HashMap::new();
        m.insert("__size__".into(), size_of::<$t>());
        $(
            // SAFETY: addr_of! takes a field's address without reading it
            m.insert(stringify!($f).trim_end_matches('_').into(),
                     unsafe { std::ptr::addr_of!((*u.as_ptr()).$f) } as usize - base);
        )*
        m
    }};
}

#[test]
fn structs_match_the_c_header() {
    let json = match c_layout() {
        Some(j) => j,
        None => {
            eprintln!("skipped: no C compiler and no DSV3_ABI_LAYOUT");
            return;
        }
    };
    let c = parse(&json);
    let mut rust = HashMap::new();
    rust.insert("dsv3_model_params", layout!(sys::dsv3_model_params, struct_size, backend, n_threads, use_mmap, mmap_mode, reserved0,
        placement, gpu_budget, kv_reserve_ctx, reserved1, repack, reserved2));
    rust.insert("dsv3_model_info", layout!(sys::dsv3_model_info, struct_size, architecture, backend, weight_dtype,
        vocab_size, n_layers, n_dense_layers, hidden_size, n_heads, q_lora_rank, kv_lora_rank, qk_nope_head_dim,
        qk_rope_head_dim, v_head_dim, n_routed_experts, n_shared_experts, n_experts_per_token, max_context,
        n_mtp_layers, n_threads, n_params, bytes_mapped, kv_bytes_per_token, decode_bytes_per_token,
        decode_bytes_head, decode_bytes_dense_layer, decode_bytes_moe_layer, n_moe_layers, n_group, topk_group,
        reserved0, device, device_bytes, host_weight_bytes, repacked_bytes));
    rust.insert("dsv3_session_params", layout!(sys::dsv3_session_params, struct_size, n_ctx, record_routing, mtp, reserved0, kv_type));
    rust.insert("dsv3_tool_call", layout!(sys::dsv3_tool_call, type_, name, arguments));
    rust.insert("dsv3_chat_message", layout!(sys::dsv3_chat_message, role, content, tool_calls, n_tool_calls));
    rust.insert("dsv3_sampler_params", layout!(sys::dsv3_sampler_params, struct_size, temperature, top_k, top_p,
        min_p, repeat_penalty, frequency_penalty, presence_penalty, penalty_last_n, seed, bias_ids, bias_values, n_bias));
    rust.insert("dsv3_generate_params", layout!(sys::dsv3_generate_params, struct_size, max_tokens, stop_at_eos,
        stop_strings, n_stop_strings, on_token, user, mtp, mtp_depth));
    rust.insert("dsv3_generate_result", layout!(sys::dsv3_generate_result, struct_size, n_prompt_tokens,
        n_generated, stop_reason, prompt_seconds, generate_seconds, prompt_tokens_per_s, generate_tokens_per_s,
        mtp_depth, n_drafted, n_accepted, n_main_steps));
    let mut names: Vec<_> = c.keys().cloned().collect();
    names.sort();
    let mut ours: Vec<_> = rust.keys().map(|s| s.to_string()).collect();
    ours.sort();
    assert_eq!(names, ours, "structs of dsv3.h");
    for (name, fields) in &rust {
        assert_eq!(&c[*name], fields, "layout of struct {}", name);
    }
}
