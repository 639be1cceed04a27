//! Continue a prompt, streaming the text:
//!   cargo run --offline --example generate -- MODEL "It is a truth" [N] [TEMPERATURE]
use dsv3::{GenerateOptions, Model, Sampler, SamplerOptions, Tokenizer};
use std::io::Write;

fn main() -> Result<(), dsv3::Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: generate MODEL PROMPT [N] [TEMPERATURE]");
        std::process::exit(2);
    }
    let n: i32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let mut opts = SamplerOptions::default();
    if let Some(t) = args.get(4).and_then(|s| s.parse().ok()) {
        opts.temperature = t;
    }
    let model = Model::load(&args[1])?;
    let tok = Tokenizer::load(&args[1])?;
    let mut session = model.session(0)?;
    let mut sampler = Sampler::new(&opts, model.vocab_size())?;
    let prompt = tok.encode(&args[2], true)?;
    print!("{}", args[2]);
    let out = session.generate(Some(&tok), &mut sampler, &prompt, &GenerateOptions::max_tokens(n), |_, piece| {
        print!("{}", piece);
        std::io::stdout().flush().ok();
        false
    })?;
    println!();
    eprintln!("[{} tokens, {:.1} tok/s]", out.result.n_generated, out.result.generate_tokens_per_s);
    Ok(())
}
