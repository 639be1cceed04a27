#!/usr/bin/env python3
"""make_seeds.py -- (re)write the seed inputs of the fuzz harnesses under
tests/fuzz/<harness>/seed-*. Derived from the demo model (always) and from
../shared (golden configs, the DeepSeek-V3 tokenizer's texts and chats) when
it is there. Regression inputs (crash-*, named after what they found) are
never touched. Usage: python3 tests/fuzz/make_seeds.py [SHARED_DIR]
Deterministic: running it twice writes the same bytes."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
DEMO = os.path.join(REPO, 'examples', 'models', 'austen-v3-tiny')
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, '..', 'shared')
HAVE_SHARED = os.path.isdir(SHARED)


def out(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


# ---- json ------------------------------------------------------------------
def json_seeds():
    out('json', 'config.json', '{"architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 7168, "rms_norm_eps": 1e-06, '
        '"rope_theta": 10000, "rope_scaling": {"factor": 40, "mscale": 1.0, "type": "yarn"}, "tie_word_embeddings": false, '
        '"quantization_config": null, "x": [0.707, -2.5E+3, -0, 5e-324, 1.7976931348623157e308]}')
    out('json', 'strings.json', r'["\"\\\/\b\f\n\r\t", "\u00e9\u20AC\uD83D\uDE00", "a\u0000b", "", {"": {}, "k": [[], [[]]]}]')
    out('json', 'numbers.json', '[123456789012345678901234567890, -9223372036854775808, 9223372036854775808, 1e400, 1e-400, '
        '2.4703282292062328e-324, 0.1e1, 9007199254740993]')
    out('json', 'safetensors.json', '{"__metadata__": {"format": "pt"}, "model.embed_tokens.weight": {"dtype": "BF16", '
        '"shape": [129280, 7168], "data_offsets": [0, 1853358080]}}')
    out('json', 'tokenizer_config.json', read(os.path.join(DEMO, 'tokenizer_config.json')))


# ---- config ----------------------------------------------------------------
MICRO_CONFIG = None


def micro_config_text():
    """The micro model's config.json, exactly as tests/fuzz/fuzz_model.h has it."""
    src = read(os.path.join(HERE, 'fuzz_model.h')).decode()
    i = src.index('micro_config_json[] =')
    j = src.index(';', i)
    parts = []
    for line in src[i:j].splitlines()[1:]:
        line = line.strip()
        if line.startswith('"'):
            parts.append(json.loads(line))  # a C string literal of this shape is a JSON string
    return ''.join(parts)


def config_seeds():
    out('config', 'demo.json', read(os.path.join(DEMO, 'config.json')))
    micro = micro_config_text()
    out('config', 'micro.json', micro)
    c = json.loads(micro)
    v2 = dict(c, model_type='deepseek_v2', topk_method='group_limited_greedy', scoring_func='softmax', q_lora_rank=None,
              num_nextn_predict_layers=0)
    out('config', 'micro-v2.json', json.dumps(v2))
    fp8 = dict(c, quantization_config={'quant_method': 'fp8', 'fmt': 'e4m3', 'activation_scheme': 'dynamic',
                                       'weight_block_size': [128, 128]}, rope_scaling=None)
    out('config', 'micro-fp8.json', json.dumps(fp8))
    if HAVE_SHARED:
        for m, d in [('tiny-v3', 'f32'), ('tiny-v3', 'fp8'), ('tiny-v2lite', 'bf16')]:
            p = os.path.join(SHARED, 'golden', m, d, 'config.json')
            if os.path.exists(p):
                out('config', '%s-%s.json' % (m, d), read(p))


# ---- safetensors -----------------------------------------------------------
def safetensors_file(tensors, meta=None, pad=8):
    """tensors: [(name, dtype, shape, bytes)]"""
    hdr, data = {}, b''
    if meta is not None:
        hdr['__metadata__'] = meta
    for name, dt, shape, b in tensors:
        hdr[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(hdr, separators=(',', ':')).encode()
    while len(h) % pad:
        h += b' '
    return struct.pack('<Q', len(h)) + h + data


def safetensors_seeds():
    t = [('a.weight', 'F32', [2, 3], struct.pack('<6f', *range(6))),
         ('b.weight', 'BF16', [4], b'\x80\x3f' * 4),
         ('c', 'F8_E4M3', [2, 2], b'\x38\x40\x44\x48'),
         ('c_scale_inv', 'F32', [1, 1], struct.pack('<f', 0.5)),
         ('empty', 'I64', [0, 5], b''),
         ('scalar', 'U8', [], b'\x07')]
    out('safetensors', 'mixed.safetensors', safetensors_file(t, {'format': 'pt'}))
    dts = ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']
    sz = [8, 4, 2, 2, 1, 1, 8, 4, 2, 1, 8, 4, 2, 1, 1]
    out('safetensors', 'dtypes.safetensors',
        safetensors_file([('t%d' % i, d, [1, 2], bytes(2 * s)) for i, (d, s) in enumerate(zip(dts, sz))]))
    # The demo model's real header, with tensors cut to their first bytes so
    # that the file stays small: names and nesting as in a real checkpoint.
    b = read(os.path.join(DEMO, 'model.safetensors'))
    n = struct.unpack_from('<Q', b)[0]
    hdr = json.loads(b[8:8 + n])
    small = []
    for name, v in sorted(hdr.items()):
        if name == '__metadata__':
            continue
        small.append((name, v['dtype'], [1] * len(v['shape']), bytes(2)))
    out('safetensors', 'demo-layout.safetensors', safetensors_file(small[:48], hdr.get('__metadata__')))


# ---- tokenizer: a mini DeepSeek-V3-style tokenizer from the demo's ----------
BYTES_TO_UNICODE = None


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def mini_tokenizer(n_merges=300):
    """The demo tokenizer cut to its 256 byte symbols, its first merges and
    its added tokens: every piece consistent, a few KB."""
    t = json.loads(read(os.path.join(DEMO, 'tokenizer.json')))
    syms = bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(syms)}
    merges = []
    for m in t['model']['merges']:
        a, b = m.split(' ') if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b not in vocab:
            merges.append(a + ' ' + b)
            vocab[a + b] = len(vocab)
            if len(merges) == n_merges:
                break
    added = []
    for a in t['added_tokens']:
        added.append(dict(a, id=len(vocab) + len(added)))
    t['model']['vocab'] = vocab
    t['model']['merges'] = merges
    t['added_tokens'] = added
    return t


def tokenizer_json_seeds():
    cfg = read(os.path.join(DEMO, 'tokenizer_config.json'))
    sep = b'\n#tokenizer_config.json#\n'
    mini = json.dumps(mini_tokenizer(), ensure_ascii=False).encode()
    out('tokenizer_json', 'mini.json', mini)
    out('tokenizer_json', 'mini+config.json', mini + sep + cfg)
    t = mini_tokenizer(60)
    t['model']['merges'] = [m.split(' ') for m in t['model']['merges']]  # the [a, b] pair form
    c = json.loads(cfg)
    c['chat_template'] = [{'name': 'tool_use', 'template': 'x'}, {'name': 'default', 'template': '{{ bos_token }}'}]
    c['bos_token'] = '<｜begin▁of▁sentence｜>'
    out('tokenizer_json', 'pairs+config-list.json',
        json.dumps(t, ensure_ascii=False).encode() + sep + json.dumps(c, ensure_ascii=False).encode())
    out('tokenizer_json', 'demo+config.json', read(os.path.join(DEMO, 'tokenizer.json')) + sep + cfg)


# ---- GGUF writer -------------------------------------------------------------
GT = {'u8': 0, 'i8': 1, 'u16': 2, 'i16': 3, 'u32': 4, 'i32': 5, 'f32': 6, 'bool': 7, 'str': 8, 'arr': 9, 'u64': 10,
      'i64': 11, 'f64': 12}
FMT = {0: '<B', 1: '<b', 2: '<H', 3: '<h', 4: '<I', 5: '<i', 6: '<f', 7: '<B', 10: '<Q', 11: '<q', 12: '<d'}


def gstr(s):
    if isinstance(s, str):
        s = s.encode('utf-8')
    return struct.pack('<Q', len(s)) + s


def gval(t, v):
    if t == 'str':
        return gstr(v)
    if isinstance(t, tuple):  # ('arr', elem)
        et = t[1]
        b = struct.pack('<IQ', GT[et], len(v))
        for x in v:
            b += gval(et, x)
        return b
    return struct.pack(FMT[GT[t]], v)


def gguf_file(kvs, tensors, align=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml_type, ne list, bytes)]"""
    b = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        b += gstr(k) + struct.pack('<I', GT['arr'] if isinstance(t, tuple) else GT[t]) + gval(t, v)
    off = 0
    data = b''
    for name, ty, ne, raw in tensors:
        b += gstr(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', x) for x in ne)
        b += struct.pack('<IQ', ty, off)
        data += raw
        while len(data) % align:
            data += b'\0'
        off = len(data)
    while len(b) % align:
        b += b'\0'
    return b + data


def tokenizer_kvs(t, pre='deepseek-v3'):
    inv = {i: s for s, i in t['model']['vocab'].items()}
    for a in t['added_tokens']:
        inv[a['id']] = a['content']
    n = max(inv) + 1
    tokens = [inv.get(i, '[PAD%d]' % i) for i in range(n)]
    special = {a['id'] for a in t['added_tokens'] if a.get('special')}
    types = [3 if i in special else 4 if i in inv and i >= len(t['model']['vocab']) else 1 if i in inv else 5
             for i in range(n)]
    merges = [m if isinstance(m, str) else ' '.join(m) for m in t['model']['merges']]
    return [('tokenizer.ggml.model', 'str', 'gpt2'), ('tokenizer.ggml.pre', 'str', pre),
            ('tokenizer.ggml.tokens', ('arr', 'str'), tokens), ('tokenizer.ggml.token_type', ('arr', 'i32'), types),
            ('tokenizer.ggml.merges', ('arr', 'str'), merges), ('tokenizer.ggml.bos_token_id', 'u32', n - 3),
            ('tokenizer.ggml.eos_token_id', 'u32', n - 2), ('tokenizer.ggml.add_bos_token', 'bool', 1),
            ('tokenizer.chat_template', 'str', '{{ bos_token }}')]


def tokenizer_gguf_seeds():
    t = mini_tokenizer()
    out('tokenizer_gguf', 'mini.gguf', gguf_file([('general.architecture', 'str', 'deepseek2')] + tokenizer_kvs(t), []))
    t = mini_tokenizer(40)
    kv = tokenizer_kvs(t)
    kv = [x for x in kv if x[0] not in ('tokenizer.ggml.token_type', 'tokenizer.ggml.bos_token_id')]
    out('tokenizer_gguf', 'no-types.gguf', gguf_file(kv, []))
    out('tokenizer_gguf', 'no-vocab.gguf', gguf_file([('tokenizer.ggml.model', 'str', 'none')], []))


# ---- gguf: the micro model as a deepseek2 GGUF, and golden headers -----------
def f16(x):
    return struct.pack('<e', x)


def q8_0_row(vals):
    b = b''
    for k in range(0, len(vals), 32):
        blk = vals[k:k + 32]
        amax = max(abs(v) for v in blk) or 1.0
        d = amax / 127
        b += f16(d) + bytes((round(v / d) & 0xFF) for v in blk)
    return b


class Rng:
    def __init__(self):
        self.x = 0x9E3779B97F4A7C15

    def u(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        self.x = x
        return ((x >> 40) & 0xFFFF) / 65536.0 - 0.5


def micro_gguf():
    V, H, I, MI, L, NH, QL, KVL, DN, DR, DV, E = 64, 32, 48, 16, 2, 2, 16, 32, 8, 4, 8, 4
    rng = Rng()
    tensors = []

    def vec(name, n, bias=False):
        vals = [(0.1 * rng.u()) if bias else 1.0 + 0.2 * rng.u() for _ in range(n)]
        tensors.append((name, 0, [n], struct.pack('<%df' % n, *vals)))

    def mat(name, ne):  # ne: ggml order, ne[0] contiguous
        n = 1
        for x in ne:
            n *= x
        vals = [2.0 * rng.u() / ne[0] ** 0.5 for _ in range(n)]
        if ne[0] % 32 == 0:
            tensors.append((name, 8, ne, q8_0_row(vals)))
        else:
            tensors.append((name, 1, ne, b''.join(f16(v) for v in vals)))

    mat('token_embd.weight', [H, V])
    vec('output_norm.weight', H)
    mat('output.weight', [H, V])
    for il in range(L + 1):
        p = 'blk.%d.' % il
        vec(p + 'attn_norm.weight', H)
        vec(p + 'ffn_norm.weight', H)
        mat(p + 'attn_q_a.weight', [H, QL])
        vec(p + 'attn_q_a_norm.weight', QL)
        mat(p + 'attn_q_b.weight', [QL, NH * (DN + DR)])
        mat(p + 'attn_kv_a_mqa.weight', [H, KVL + DR])
        vec(p + 'attn_kv_a_norm.weight', KVL)
        mat(p + 'attn_k_b.weight', [DN, KVL, NH])
        mat(p + 'attn_v_b.weight', [KVL, DV, NH])
        mat(p + 'attn_output.weight', [NH * DV, H])
        if il == 0:
            mat(p + 'ffn_gate.weight', [H, I])
            mat(p + 'ffn_up.weight', [H, I])
            mat(p + 'ffn_down.weight', [I, H])
        else:
            mat(p + 'ffn_gate_inp.weight', [H, E])
            vec(p + 'exp_probs_b.bias', E, True)
            mat(p + 'ffn_gate_exps.weight', [H, MI, E])
            mat(p + 'ffn_up_exps.weight', [H, MI, E])
            mat(p + 'ffn_down_exps.weight', [MI, H, E])
            mat(p + 'ffn_gate_shexp.weight', [H, MI])
            mat(p + 'ffn_up_shexp.weight', [H, MI])
            mat(p + 'ffn_down_shexp.weight', [MI, H])
        if il == L:
            vec(p + 'nextn.enorm.weight', H)
            vec(p + 'nextn.hnorm.weight', H)
            mat(p + 'nextn.eh_proj.weight', [2 * H, H])
            vec(p + 'nextn.shared_head_norm.weight', H)
    a = 'deepseek2.'
    kvs = [('general.architecture', 'str', 'deepseek2'), ('general.name', 'str', 'micro'),
           (a + 'block_count', 'u32', L + 1), (a + 'nextn_predict_layers', 'u32', 1), (a + 'context_length', 'u32', 256),
           (a + 'embedding_length', 'u32', H), (a + 'feed_forward_length', 'u32', I), (a + 'attention.head_count', 'u32', NH),
           (a + 'attention.head_count_kv', 'u32', 1), (a + 'rope.scaling.type', 'str', 'yarn'),
           (a + 'rope.scaling.factor', 'f32', 4.0), (a + 'rope.scaling.original_context_length', 'u32', 64),
           (a + 'rope.scaling.yarn_beta_fast', 'f32', 32.0), (a + 'rope.scaling.yarn_beta_slow', 'f32', 1.0),
           (a + 'rope.freq_base', 'f32', 10000.0), (a + 'attention.layer_norm_rms_epsilon', 'f32', 1e-6),
           (a + 'expert_count', 'u32', E), (a + 'expert_used_count', 'u32', 2), (a + 'expert_group_count', 'u32', 2),
           (a + 'expert_group_used_count', 'u32', 1), (a + 'expert_gating_func', 'u32', 2),
           (a + 'leading_dense_block_count', 'u32', 1), (a + 'vocab_size', 'u32', V), (a + 'attention.q_lora_rank', 'u32', QL),
           (a + 'attention.kv_lora_rank', 'u32', KVL), (a + 'attention.key_length', 'u32', KVL + DR),
           (a + 'attention.value_length', 'u32', KVL), (a + 'attention.key_length_mla', 'u32', DN + DR),
           (a + 'attention.value_length_mla', 'u32', DV), (a + 'expert_feed_forward_length', 'u32', MI),
           (a + 'expert_shared_count', 'u32', 1), (a + 'expert_weights_scale', 'f32', 2.5),
           (a + 'expert_weights_norm', 'bool', 1), (a + 'rope.dimension_count', 'u32', DR),
           (a + 'rope.scaling.yarn_log_multiplier', 'f32', 0.1)]
    return gguf_file(kvs, tensors)


def gguf_header_only(path):
    """A golden file's header, KVs and tensor table, without its data (the
    reader refuses it at the first tensor's range: the path up to there is
    what it exercises), with the tokenizer's big arrays dropped."""
    b = read(path)
    o = 4
    ver, nt, nkv = struct.unpack_from('<IQQ', b, o)
    o += 20
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_val(t):
        nonlocal o
        if t == 8:
            n = struct.unpack_from('<Q', b, o)[0]
            o += 8 + n
        elif t == 9:
            et, n = struct.unpack_from('<IQ', b, o)
            o += 12
            if et in (8, 9):
                for _ in range(n):
                    skip_val(et)
            else:
                o += sizes[et] * n
        else:
            o += sizes[t]
    kv_out = []
    for _ in range(nkv):
        s = o
        n = struct.unpack_from('<Q', b, o)[0]
        key = b[o + 8:o + 8 + n]
        o += 8 + n
        t = struct.unpack_from('<I', b, o)[0]
        o += 4
        skip_val(t)
        if not key.startswith(b'tokenizer.ggml.'):
            kv_out.append(b[s:o])
    rest = b[o:]
    tab_end = o
    for _ in range(nt):
        n = struct.unpack_from('<Q', b, tab_end)[0]
        tab_end += 8 + n
        nd = struct.unpack_from('<I', b, tab_end)[0]
        tab_end += 4 + 8 * nd + 4 + 8
    return b'GGUF' + struct.pack('<IQQ', ver, nt, len(kv_out)) + b''.join(kv_out) + b[o:tab_end]


def gguf_seeds():
    out('gguf', 'micro-deepseek2.gguf', micro_gguf())
    if HAVE_SHARED:
        for v in ['q8_0', 'q4_k_m', 'mtp.q8_0', 'legacy.iq1_s']:
            p = os.path.join(SHARED, 'golden-gguf', 'tiny-q.%s.gguf' % v)
            if os.path.exists(p):
                out('gguf', 'header-%s.gguf' % v, gguf_header_only(p))


# ---- tokenize: flag byte + text ---------------------------------------------
def tokenize_seeds():
    out('tokenize', 'prose.txt', b'\0The quick brown fox can\'t jump 12345678 times.\n\n  Indented\tline\r\n')
    out('tokenize', 'added.txt', '\0abc<｜Assistant｜>def<|EOT|><｜User｜>x<|User|><｜begin▁of▁sentence｜>')
    out('tokenize', 'added-plain.txt', '\x01abc<｜Assistant｜>def<｜User｜>x<｜begin▁of▁sentence｜>')
    out('tokenize', 'scripts.txt', '\x02你好，世界！こんにちはカタカナ 한국어 Привет مرحبا é 😀👨‍👩‍👧 ½²①Ⅻ٣１　  ')
    out('tokenize', 'invalid-utf8.txt', b'\0\xff\xfe abc \xc3\x28 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf end')
    held = read(os.path.join(DEMO, 'heldout.txt'))
    out('tokenize', 'heldout-64k.txt', b'\0' + held[:65535])
    if HAVE_SHARED:
        p = os.path.join(SHARED, 'tokenizer', 'deepseek-v3', 'golden-encode.jsonl')
        seen = set()
        for line in read(p).decode().splitlines():
            c = json.loads(line)
            if c['category'] in seen or not c['text']:
                continue
            seen.add(c['category'])
            out('tokenize', 'golden-%s.txt' % c['category'], b'\0' + c['text'].encode('utf-8', 'surrogatepass'))


def tokenize_dict():
    """tokenize.dict: every added token of the DeepSeek-V3 tokenizer (the
    demo's when ../shared is absent) and the characters its pre-tokenizer
    splits on, in libFuzzer's dictionary syntax."""
    p = os.path.join(SHARED, 'tokenizer', 'deepseek-v3', 'tokenizer.json')
    t = json.loads(read(p if HAVE_SHARED and os.path.exists(p) else os.path.join(DEMO, 'tokenizer.json')))
    words = []
    for a in t['added_tokens']:
        c = a['content']
        if 'place▁holder' in c and not c.endswith('▁0｜>'):
            continue  # 700 look-alikes add nothing a few of them do not
        words.append(c)
    words += ['<|EOT|>', '<think>', '</think>', '\r\n', ' \n', '  ', '\t', '123', '1234', "'s", "n't", '...', '!!', '😀',
              '👨‍👩‍👧', '\u3000', '\u00a0', '一', '龥', 'ぁ', 'ア', 'ー', '٣', '①', '\xef\xbf\xbd']
    lines = ['# Special tokens and pre-tokenizer boundaries for fuzz_tokenize (make_seeds.py).']
    for w in words:
        b = w.encode('utf-8', 'surrogatepass') if isinstance(w, str) else w
        lines.append('"' + ''.join(chr(c) if 32 <= c < 127 and chr(c) not in '"\\' else '\\x%02x' % c for c in b) + '"')
    with open(os.path.join(HERE, 'tokenize.dict'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


# ---- chat: the byte-stream encoding fuzz_chat.c reads ------------------------
ROLES = {'system': 0, 'user': 1, 'assistant': 2, 'tool': 3}


def chat_encode(messages, agp):
    b = bytes([1 if agp else 0, len(messages)])
    for m in messages:
        r = m['role']
        b += bytes([ROLES[r]]) if r in ROLES else bytes([240]) + r.encode() + b'\0'
        if m.get('content') is None:
            b += bytes([250])
        else:
            b += bytes([0]) + m['content'].encode() + b'\0'
        calls = m.get('tool_calls') or []
        b += bytes([len(calls)])
        if calls:
            b += bytes([0])
        for c in calls:
            f = c.get('function', c)
            args = f.get('arguments', '')
            if not isinstance(args, str):
                args = json.dumps(args)
            for s in (c.get('type', 'function'), f.get('name', ''), args):
                b += bytes([0]) + s.encode() + b'\0'
    return b


def chat_seeds():
    out('chat', 'hello.bin', chat_encode([{'role': 'user', 'content': 'Hello!'}], True))
    out('chat', 'tools.bin', chat_encode([
        {'role': 'system', 'content': 'You are helpful.'}, {'role': 'user', 'content': 'Weather?'},
        {'role': 'assistant', 'content': None, 'tool_calls': [
            {'type': 'function', 'function': {'name': 'get_weather', 'arguments': '{"city": "Paris"}'}},
            {'type': 'function', 'function': {'name': 'get_time', 'arguments': '{}'}}]},
        {'role': 'tool', 'content': '{"t": 21}'}, {'role': 'tool', 'content': '12:00'},
        {'role': 'assistant', 'content': 'Sunny, 21 degrees.'}, {'role': 'critic', 'content': 'x'}], True))
    if HAVE_SHARED:
        p = os.path.join(SHARED, 'tokenizer', 'deepseek-v3', 'golden-chat.jsonl')
        for i, line in enumerate(read(p).decode().splitlines()):
            c = json.loads(line)
            if len(c['messages']) <= 16:
                out('chat', 'golden-%02d.bin' % i, chat_encode(c['messages'], c['add_generation_prompt']))


# ---- session: operation streams fuzz_session.c reads -------------------------
def session_seeds():
    # header: n_ctx, kv_type + 1, flags (bit 0 mtp, bit 1 record_routing)
    def step(toks, how=2):
        return bytes([0, len(toks)] + toks + [how])
    prefill = step([1, 2, 3, 4, 5], 3)
    out('session', 'prefill-mtp.bin', bytes([64, 1, 3]) + prefill + bytes([3, 2, 7, 9, 3]) + bytes([4, 2]) +
        bytes([2, 2]) + step([3, 4, 5], 2) + bytes([3, 1, 11, 2]))
    out('session', 'q8-rewind.bin', bytes([32, 3, 0]) + step([10, 20, 30, 40], 3) + bytes([2, 1]) + step([20], 2) +
        step([30, 40], 1) + bytes([2, 0]) + step([10, 20, 30, 40], 2))
    out('session', 'f16-sample.bin', bytes([16, 2, 1]) + step([7, 8], 2) + bytes([5, 0, 0x7f]) +
        bytes([1, 100, 1, 30, 60, 50, 70, 5, 200, 20, 3, 1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 0, 9, 4]) +
        bytes([0]) + bytes([6, 64]) + bytes([7, 3, 1, 2, 3, 4, 1, 1, 0, 0, 0, 0]))
    out('session', 'context-full.bin', bytes([4, 1, 0]) + step([1, 2, 3], 2) + step([4, 5], 2) + step([4], 2) +
        bytes([2, 255]) + step([1, 2, 3, 4], 3))


def main():
    json_seeds()
    config_seeds()
    safetensors_seeds()
    tokenizer_json_seeds()
    tokenizer_gguf_seeds()
    gguf_seeds()
    tokenize_seeds()
    tokenize_dict()
    chat_seeds()
    session_seeds()
    for h in sorted(os.listdir(HERE)):
        d = os.path.join(HERE, h)
        if os.path.isdir(d):
            n = os.listdir(d)
            print('%-16s %3d files %8d bytes' % (h, len(n), sum(os.path.getsize(os.path.join(d, x)) for x in n)))


if __name__ == '__main__':
    main()
