"""The C ABI of libdsv3 (include/dsv3.h) declared with ctypes.

Every struct here mirrors dsv3.h field for field, in order, including
fields that are never read (reserved0 keeps kv_type at its offset);
tests/test_layout.py compares sizes and offsets with the C compiler's.
Parameter structs are always filled by the library's own *_params_init
with our sizeof, so a field this module does not know keeps the library's
default.
"""
import ctypes
import ctypes.util
import os

c_int = ctypes.c_int
c_int32 = ctypes.c_int32
c_uint = ctypes.c_uint
c_uint64 = ctypes.c_uint64
c_size_t = ctypes.c_size_t
c_float = ctypes.c_float
c_double = ctypes.c_double
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
POINTER = ctypes.POINTER


class ModelParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("backend", c_char_p),
        ("n_threads", c_int),
        ("use_mmap", c_int),
        # appended in 0.2
        ("mmap_mode", c_int32),
        ("reserved0", c_int32),
        # appended in 0.3
        ("placement", c_char_p),
        ("gpu_budget", c_uint64),
        ("kv_reserve_ctx", c_int32),
        ("reserved1", c_int32),
        ("repack", c_int32),
        ("reserved2", c_int32),
    ]


class ModelInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("architecture", ctypes.c_char * 32),
        ("backend", ctypes.c_char * 32),
        ("weight_dtype", ctypes.c_char * 16),
        ("vocab_size", c_int32),
        ("n_layers", c_int32),
        ("n_dense_layers", c_int32),
        ("hidden_size", c_int32),
        ("n_heads", c_int32),
        ("q_lora_rank", c_int32),
        ("kv_lora_rank", c_int32),
        ("qk_nope_head_dim", c_int32),
        ("qk_rope_head_dim", c_int32),
        ("v_head_dim", c_int32),
        ("n_routed_experts", c_int32),
        ("n_shared_experts", c_int32),
        ("n_experts_per_token", c_int32),
        ("max_context", c_int32),
        ("n_mtp_layers", c_int32),
        ("n_threads", c_int32),
        ("n_params", c_uint64),
        ("bytes_mapped", c_uint64),
        ("kv_bytes_per_token", c_uint64),
        ("decode_bytes_per_token", c_uint64),
        ("decode_bytes_head", c_uint64),
        ("decode_bytes_dense_layer", c_uint64),
        ("decode_bytes_moe_layer", c_uint64),
        ("n_moe_layers", c_int32),
        ("n_group", c_int32),
        ("topk_group", c_int32),
        # appended in 0.3
        ("reserved0", c_int32),
        ("device", ctypes.c_char * 64),
        ("device_bytes", c_uint64),
        ("host_weight_bytes", c_uint64),
        ("repacked_bytes", c_uint64),
    ]


class SessionParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("n_ctx", c_int32),
        ("record_routing", c_int),
        ("mtp", c_int),
        ("reserved0", c_int32),
        ("kv_type", c_int32),
    ]


class ToolCall(ctypes.Structure):
    _fields_ = [
        ("type", c_char_p),
        ("name", c_char_p),
        ("arguments", c_char_p),
    ]


class ChatMessage(ctypes.Structure):
    _fields_ = [
        ("role", c_char_p),
        ("content", c_char_p),
        ("tool_calls", POINTER(ToolCall)),
        ("n_tool_calls", c_size_t),
    ]


class SamplerParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repeat_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("penalty_last_n", c_int32),
        ("seed", c_uint64),
        ("bias_ids", POINTER(c_int32)),
        ("bias_values", POINTER(c_float)),
        ("n_bias", c_size_t),
    ]


# int (*)(void *user, int32_t token, const char *piece, size_t piece_len).
# piece is declared as a void pointer: it is not NUL-terminated.
TokenCallback = ctypes.CFUNCTYPE(c_int, c_void_p, c_int32, c_void_p, c_size_t)
# int (*)(void *user, uint64_t done, uint64_t total)
ProgressCallback = ctypes.CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint64)


class GenerateParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("max_tokens", c_int32),
        ("stop_at_eos", c_int),
        ("stop_strings", POINTER(c_char_p)),
        ("n_stop_strings", c_size_t),
        ("on_token", TokenCallback),
        ("user", c_void_p),
        # appended in 0.2
        ("mtp", c_int32),
        ("mtp_depth", c_int32),
    ]


class GenerateResult(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("n_prompt_tokens", c_int32),
        ("n_generated", c_int32),
        ("stop_reason", c_int),
        ("prompt_seconds", c_double),
        ("generate_seconds", c_double),
        ("prompt_tokens_per_s", c_double),
        ("generate_tokens_per_s", c_double),
        # appended in 0.2
        ("mtp_depth", c_int32),
        ("n_drafted", c_int32),
        ("n_accepted", c_int32),
        ("n_main_steps", c_int32),
    ]


STRUCTS = {
    "dsv3_model_params": ModelParams,
    "dsv3_model_info": ModelInfo,
    "dsv3_session_params": SessionParams,
    "dsv3_tool_call": ToolCall,
    "dsv3_chat_message": ChatMessage,
    "dsv3_sampler_params": SamplerParams,
    "dsv3_generate_params": GenerateParams,
    "dsv3_generate_result": GenerateResult,
}

# name: (restype, argtypes)
_P = c_void_p  # opaque handles
_FUNCS = {
    "dsv3_version": (c_uint, []),
    "dsv3_version_string": (c_char_p, []),
    "dsv3_status_string": (c_char_p, [c_int]),
    "dsv3_model_params_init": (c_int, [POINTER(ModelParams), c_size_t]),
    "dsv3_model_load": (c_int, [c_char_p, POINTER(ModelParams), POINTER(_P), ctypes.c_char_p, c_size_t]),
    "dsv3_model_free": (None, [_P]),
    "dsv3_model_get_info": (c_int, [_P, POINTER(ModelInfo)]),
    "dsv3_model_last_error": (c_char_p, [_P]),
    "dsv3_model_prefetch": (c_int, [_P, ProgressCallback, c_void_p]),
    "dsv3_session_params_init": (c_int, [POINTER(SessionParams), c_size_t]),
    "dsv3_session_create": (c_int, [_P, POINTER(SessionParams), POINTER(_P), ctypes.c_char_p, c_size_t]),
    "dsv3_session_free": (None, [_P]),
    "dsv3_session_step": (c_int, [_P, POINTER(c_int32), c_int32, POINTER(c_float), c_uint]),
    "dsv3_session_position": (c_int32, [_P]),
    "dsv3_session_n_ctx": (c_int32, [_P]),
    "dsv3_session_rewind": (c_int, [_P, c_int32]),
    "dsv3_session_reset": (c_int, [_P]),
    "dsv3_session_kv_bytes_per_token": (c_uint64, [_P]),
    "dsv3_session_last_error": (c_char_p, [_P]),
    "dsv3_tokenizer_load": (c_int, [c_char_p, POINTER(_P), ctypes.c_char_p, c_size_t]),
    "dsv3_tokenizer_free": (None, [_P]),
    "dsv3_tokenizer_n_vocab": (c_int32, [_P]),
    "dsv3_tokenizer_bos": (c_int32, [_P]),
    "dsv3_tokenizer_eos": (c_int32, [_P]),
    "dsv3_tokenizer_is_special": (c_int, [_P, c_int32]),
    "dsv3_tokenizer_add_bos": (c_int, [_P]),
    "dsv3_tokenize": (c_int, [_P, c_void_p, c_size_t, c_uint, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    "dsv3_token_bytes": (c_int, [_P, c_int32, POINTER(c_void_p), POINTER(c_size_t)]),
    "dsv3_detokenize": (c_int, [_P, POINTER(c_int32), c_size_t, c_uint, c_void_p, c_size_t, POINTER(c_size_t)]),
    "dsv3_chat_render": (c_int, [_P, POINTER(ChatMessage), c_size_t, c_int, c_void_p, c_size_t, POINTER(c_size_t)]),
    "dsv3_sampler_params_init": (c_int, [POINTER(SamplerParams), c_size_t]),
    "dsv3_sampler_create": (c_int, [POINTER(SamplerParams), c_int32, POINTER(_P)]),
    "dsv3_sampler_free": (None, [_P]),
    "dsv3_sampler_sample": (c_int, [_P, POINTER(c_float), POINTER(c_int32)]),
    "dsv3_sampler_accept": (c_int, [_P, c_int32]),
    "dsv3_sampler_reset": (None, [_P]),
    "dsv3_generate_params_init": (c_int, [POINTER(GenerateParams), c_size_t]),
    "dsv3_generate": (c_int, [_P, _P, _P, POINTER(c_int32), c_size_t, POINTER(GenerateParams),
                              POINTER(GenerateResult)]),
    "dsv3_backend_name": (c_char_p, [c_int, POINTER(c_int)]),
    "dsv3_session_get_routing": (c_int, [_P, c_int32, POINTER(c_int32), POINTER(c_float), POINTER(c_int32)]),
    "dsv3_session_mtp_step": (c_int, [_P, POINTER(c_int32), c_int32, POINTER(c_float), c_uint]),
    "dsv3_session_mtp_position": (c_int32, [_P]),
    # session state and fork, sampler state (0.2)
    "dsv3_session_save": (c_int, [_P, c_void_p, c_size_t, POINTER(c_size_t)]),
    "dsv3_session_load": (c_int, [_P, c_void_p, c_size_t]),
    "dsv3_session_save_file": (c_int, [_P, c_char_p]),
    "dsv3_session_load_file": (c_int, [_P, c_char_p]),
    "dsv3_session_fork": (c_int, [_P, POINTER(SessionParams), POINTER(_P), ctypes.c_char_p, c_size_t]),
    "dsv3_sampler_save": (c_int, [_P, c_void_p, c_size_t, POINTER(c_size_t)]),
    "dsv3_sampler_load": (c_int, [_P, c_void_p, c_size_t]),
    # devices (0.3)
    "dsv3_backend_describe": (c_int, [c_int, ctypes.c_char_p, c_size_t]),
    "dsv3_model_placement": (c_int, [_P, ctypes.c_char_p, c_size_t]),
}

# Functions a library older than this package may lack: looked up lazily.
_OPTIONAL = {"dsv3_model_prefetch", "dsv3_session_save", "dsv3_session_load", "dsv3_session_save_file",
             "dsv3_session_load_file", "dsv3_session_fork", "dsv3_sampler_save", "dsv3_sampler_load",
             "dsv3_backend_describe", "dsv3_model_placement"}


def _candidates():
    env = os.environ.get("DSV3_LIBRARY")
    if env:
        # an explicit choice is the only one tried: a wrong path must fail
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, n) for n in ("libdsv3.so", "libdsv3.so.0", "libdsv3.dylib")
           if os.path.exists(os.path.join(here, n))]
    found = ctypes.util.find_library("dsv3")
    if found:
        out.append(found)
    out.append("libdsv3.so.0")
    return out


def _load():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        for name, (res, args) in _FUNCS.items():
            try:
                f = getattr(lib, name)
            except AttributeError:
                if name in _OPTIONAL:
                    continue
                raise OSError("%s has no %s: the library is older than these bindings (%s)" % (path, name, "0.3"))
            f.restype = res
            f.argtypes = args
        lib.dsv3_path = path
        return lib
    raise OSError("libdsv3 not found; set DSV3_LIBRARY to the path of libdsv3.so. Tried: " + "; ".join(errors))


lib = _load()
