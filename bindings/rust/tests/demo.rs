//! The safe API on the demo model (examples/models/austen-v3-tiny): the
//! pinned greedy continuation (as tests/test_demo_model.py), streaming,
//! errors with status and message, panics in callbacks, threads.
use dsv3::{status, GenerateOptions, Model, ModelOptions, Sampler, SamplerOptions, Tokenizer};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/models/austen-v3-tiny");
const PROMPT: &str = "It is a truth universally acknowledged";
const PROMPT_IDS: [i32; 10] = [0, 1437, 367, 261, 1932, 474, 75, 1198, 562, 2825];
const GREEDY_IDS: [i32; 32] = [16, 223, 304, 447, 737, 304, 542, 317, 362, 410, 360, 391, 1349, 275, 289, 360, 494,
                               295, 269, 1037, 14, 285, 304, 447, 737, 304, 542, 317, 362, 410, 360, 494];

fn scalar() -> Model {
    Model::load_with(DIR, &ModelOptions { backend: "scalar".into(), n_threads: 2, ..Default::default() }).unwrap()
}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

#[test]
fn thread_traits_follow_the_header() {
    assert_send::<Model>();
    assert_sync::<Model>();
    assert_send::<Tokenizer>();
    assert_sync::<Tokenizer>();
    assert_send::<Sampler>();
    assert_send::<dsv3::Session<'static>>();
}

#[test]
fn greedy_matches_pinned_ids() {
    let m = scalar();
    let tok = Tokenizer::load(DIR).unwrap();
    let ids = tok.encode(PROMPT, true).unwrap();
    assert_eq!(ids, PROMPT_IDS);
    assert_eq!(tok.decode(&ids[1..]).unwrap(), PROMPT);
    let mut s = m.session(256).unwrap();
    let logits = s.step(&ids).unwrap();
    assert_eq!(logits.len(), m.vocab_size() as usize);
    let best = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
    assert_eq!(best as i32, GREEDY_IDS[0]);
    s.rewind(0).unwrap();
    let mut smp = Sampler::new(&SamplerOptions::greedy(), m.vocab_size()).unwrap();
    let mut streamed = String::new();
    let g = s
        .generate(Some(&tok), &mut smp, &ids, &GenerateOptions::max_tokens(32), |_, p| {
            streamed.push_str(p);
            false
        })
        .unwrap();
    assert_eq!(g.tokens, GREEDY_IDS);
    assert_eq!(g.text, streamed);
    assert_eq!(g.text, tok.decode(&GREEDY_IDS).unwrap());
    assert_eq!(g.result.stop_reason, dsv3::sys::DSV3_STOP_MAX_TOKENS);
    assert_eq!(s.position(), 42);
    println!("{}{}", PROMPT, g.text);
}

#[test]
fn devices_and_placement() {
    let texts = dsv3::describe_backends().unwrap();
    assert_eq!(texts.len(), dsv3::backends().len());
    assert_eq!(texts.iter().filter(|(_, t)| t.contains("picked by \"auto\"")).count(), 1);
    assert!(texts[0].1.starts_with("available"), "{:?}", texts[0]);
    // CPU backends accept and ignore the device options
    let opts = ModelOptions {
        backend: "scalar".into(),
        placement: Some("experts-on-cpu".into()),
        gpu_budget: 1 << 30,
        kv_reserve_ctx: Some(0),
        ..Default::default()
    };
    let m = Model::load_with(DIR, &opts).unwrap();
    assert_eq!(m.device(), "cpu");
    assert_eq!(m.info().device_bytes, 0);
    assert!(m.info().host_weight_bytes > 0);
    assert!(m.placement().unwrap().contains("host memory"));
    let bad = ModelOptions { placement: Some("all-on-gpu".into()), ..Default::default() };
    let e = Model::load_with(DIR, &bad).err().unwrap();
    assert_eq!(e.status, status::INVALID_ARG);
    assert!(e.message.contains("all-on-gpu"), "{}", e);
}

#[test]
fn errors_carry_status_and_message() {
    let e = Model::load("/nonexistent/dir").err().unwrap();
    assert_eq!(e.status, status::NOT_FOUND);
    assert!(e.message.contains("/nonexistent/dir"), "{}", e);
    let e = Model::load_with(DIR, &ModelOptions { backend: "nope".into(), ..Default::default() }).err().unwrap();
    assert_eq!(e.status, status::BACKEND);
    let m = scalar();
    let mut s = m.session(16).unwrap();
    s.step(&PROMPT_IDS[..3]).unwrap();
    let e = s.step(&[1, 999_999]).unwrap_err();
    assert_eq!(e.status, status::BAD_TOKEN);
    assert!(!e.message.is_empty());
    assert_eq!(s.rewind(9).unwrap_err().status, status::BAD_POSITION);
    assert_eq!(s.step(&[5; 20]).unwrap_err().status, status::CONTEXT_FULL);
    assert_eq!(s.position(), 3);
    s.step(&PROMPT_IDS[3..]).unwrap();
}

#[test]
fn panic_in_callback_cancels_and_resumes() {
    let m = scalar();
    let tok = Tokenizer::load(DIR).unwrap();
    let mut s = m.session(0).unwrap();
    let mut smp = Sampler::new(&SamplerOptions::greedy(), m.vocab_size()).unwrap();
    let mut seen = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.generate(Some(&tok), &mut smp, &PROMPT_IDS, &GenerateOptions::max_tokens(32), |_, _| {
            seen += 1;
            if seen == 3 {
                panic!("stop here");
            }
            false
        });
    }));
    assert!(r.is_err());
    assert_eq!(seen, 3);
    s.rewind(0).unwrap();
    smp.reset();
    let g = s.generate(None, &mut smp, &PROMPT_IDS, &GenerateOptions::max_tokens(4), |_, _| false).unwrap();
    assert_eq!(g.tokens, GREEDY_IDS[..4]);
    // returning true stops, keeping the token
    s.rewind(0).unwrap();
    let g = s.generate(Some(&tok), &mut smp, &PROMPT_IDS, &GenerateOptions::max_tokens(32), |t, _| t == GREEDY_IDS[1])
        .unwrap();
    assert_eq!(g.tokens, GREEDY_IDS[..2]);
    assert_eq!(g.result.stop_reason, dsv3::sys::DSV3_STOP_CALLBACK);
}

#[test]
fn one_model_many_threads() {
    let m = scalar();
    let tok = Tokenizer::load(DIR).unwrap();
    let outs: Vec<Vec<i32>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                sc.spawn(|| {
                    let mut s = m.session(0).unwrap();
                    let mut smp = Sampler::new(&SamplerOptions::greedy(), m.vocab_size()).unwrap();
                    s.generate(Some(&tok), &mut smp, &PROMPT_IDS, &GenerateOptions::max_tokens(8), |_, _| false)
                        .unwrap()
                        .tokens
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in outs {
        assert_eq!(o, GREEDY_IDS[..8]);
    }
}

#[test]
fn prefetch_progress_and_cancel() {
    let m = scalar();
    let mut last = (0, 0);
    m.prefetch(|d, t| {
        last = (d, t);
        false
    })
    .unwrap();
    assert!(last.1 > 0 && last.0 == last.1);
    assert_eq!(m.prefetch(|_, _| true).unwrap_err().status, status::CANCELLED);
}

#[test]
fn sampler_and_chat() {
    let m = scalar();
    let tok = Tokenizer::load(DIR).unwrap();
    let mut s = m.session(0).unwrap();
    let logits = s.step(&PROMPT_IDS).unwrap();
    let mut opts = SamplerOptions::greedy();
    opts.logit_bias = vec![(GREEDY_IDS[0], f32::NEG_INFINITY)];
    let mut smp = Sampler::new(&opts, m.vocab_size()).unwrap();
    assert_ne!(smp.sample(&logits).unwrap(), GREEDY_IDS[0]);
    let text = tok
        .chat_render(&[dsv3::ChatMessage { role: "user".into(), content: "Hello".into() }], true)
        .unwrap();
    assert!(text.contains("Hello"));
    assert_eq!(dsv3::version(), "0.3.0");
}

#[test]
fn save_load_fork() {
    let m = scalar();
    let mut s = m.session(64).unwrap();
    s.step(&PROMPT_IDS).unwrap();
    let state = s.save().unwrap();
    let want = s.step(&[GREEDY_IDS[0]]).unwrap();
    s.rewind(0).unwrap();
    s.load(&state).unwrap();
    assert_eq!(s.position(), PROMPT_IDS.len() as i32);
    assert_eq!(s.step(&[GREEDY_IDS[0]]).unwrap(), want);
    assert!(s.load(&state[..state.len() - 9]).is_err());
    s.rewind(PROMPT_IDS.len() as i32).unwrap();
    let mut f = s.fork().unwrap();
    assert_eq!(f.step(&[GREEDY_IDS[0]]).unwrap(), want);
    // the fork can go to another thread
    let got = std::thread::scope(|sc| sc.spawn(move || f.step(&[GREEDY_IDS[1]]).unwrap()).join().unwrap());
    assert_eq!(got.len(), m.vocab_size() as usize);
}
