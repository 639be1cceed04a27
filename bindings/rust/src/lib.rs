//! Safe Rust bindings for libdsv3, a runtime for DeepSeek-V3-architecture
//! language models. [`sys`] is the raw C ABI; the types here own their
//! handles and free them on drop, and every failure is an [`Error`] with
//! the library's status and message.
//!
//! ```
//! use dsv3::{GenerateOptions, Model, Sampler, SamplerOptions, Tokenizer};
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/models/austen-v3-tiny");
//! let model = Model::load(dir)?;
//! let tok = Tokenizer::load(dir)?;
//! let mut session = model.session(512)?;
//! let mut sampler = Sampler::new(&SamplerOptions::greedy(), model.vocab_size())?;
//! let prompt = tok.encode("It is a truth universally acknowledged", true)?;
//! let mut text = String::new();
//! let out = session.generate(Some(&tok), &mut sampler, &prompt, &GenerateOptions::max_tokens(16), |_, piece| {
//!     text.push_str(piece);
//!     false // true would stop
//! })?;
//! assert_eq!(out.tokens.len(), 16);
//! assert_eq!(text, out.text);
//! println!("{}", text);
//! # Ok::<(), dsv3::Error>(())
//! ```
//!
//! Threads, as `dsv3.h` says: a [`Model`] is immutable once loaded and may
//! be shared by any number of threads (`Send + Sync`); a [`Session`] is
//! used by one thread at a time (`Send`, not `Sync`) and borrows its model,
//! so the model outlives it; a [`Tokenizer`] is `Send + Sync`; a
//! [`Sampler`] is `Send`, not `Sync`.
//!
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dsv3::Session<'static>>(); // a session is not shared between threads
//! ```
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dsv3::Sampler>();
//! ```
//! ```compile_fail
//! let s = {
//!     let m = dsv3::Model::load("m").unwrap();
//!     m.session(0).unwrap() // a session cannot outlive its model
//! };
//! ```

pub mod sys;

use std::any::Any;
use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};

/// A failed call: `status` is the `enum dsv3_status` code, `message` the
/// library's message naming the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: i32,
    pub message: String,
}

impl Error {
    fn new(status: c_int, message: impl Into<String>) -> Error {
        let mut message = message.into();
        if message.is_empty() {
            message = status_string(status);
        }
        Error { status, message }
    }
    /// The short name of the status ("invalid argument", ...).
    pub fn status_name(&self) -> String {
        status_string(self.status)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, status_string(self.status))
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Status codes of `dsv3.h` (`DSV3_ERR_*`).
pub mod status {
    pub const INVALID_ARG: i32 = 1;
    pub const NOT_FOUND: i32 = 2;
    pub const IO: i32 = 3;
    pub const NO_MEMORY: i32 = 4;
    pub const BAD_CONFIG: i32 = 5;
    pub const UNSUPPORTED: i32 = 6;
    pub const BAD_FILE: i32 = 7;
    pub const BAD_TOKEN: i32 = 11;
    pub const CONTEXT_FULL: i32 = 12;
    pub const BAD_POSITION: i32 = 13;
    pub const BACKEND: i32 = 14;
    pub const TOO_SMALL: i32 = 17;
    pub const CANCELLED: i32 = 18;
}

fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the library returns NUL-terminated strings that live at least
    // until the next call on the same handle; we copy at once.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn buf_message(buf: &[c_char]) -> String {
    cstr_lossy(buf.as_ptr())
}

fn check(rc: c_int, what: &str) -> Result<()> {
    if rc == sys::DSV3_OK {
        Ok(())
    } else {
        Err(Error::new(rc, what))
    }
}

fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| Error::new(sys::DSV3_ERR_INVALID_ARG, "path contains a NUL byte"))
}

/// `dsv3_status_string`.
pub fn status_string(status: i32) -> String {
    cstr_lossy(unsafe { sys::dsv3_status_string(status) })
}

/// The linked library's version, e.g. "0.3.0".
pub fn version() -> String {
    cstr_lossy(unsafe { sys::dsv3_version_string() })
}

/// (name, available on this CPU) of every compiled-in backend.
pub fn backends() -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for i in 0.. {
        let mut avail: c_int = 0;
        let name = unsafe { sys::dsv3_backend_name(i, &mut avail) };
        if name.is_null() {
            break;
        }
        out.push((cstr_lossy(name), avail != 0));
    }
    out
}

/// A text the library writes into a buffer, retried with a larger buffer
/// while it reports `TOO_SMALL`.
fn text_call(what: &str, mut f: impl FnMut(*mut c_char, usize) -> c_int) -> Result<String> {
    let mut size = 4096usize;
    loop {
        let mut buf = vec![0 as c_char; size];
        let rc = f(buf.as_mut_ptr(), size);
        if rc != sys::DSV3_ERR_TOO_SMALL || size >= 1 << 20 {
            check(rc, what)?;
            return Ok(buf_message(&buf));
        }
        size *= 4;
    }
}

/// (name, text) of every compiled-in backend: what it says about this
/// machine (a GPU backend: its devices, or why it cannot run); the text of
/// the one "auto" picks says so.
pub fn describe_backends() -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, (name, _)) in backends().into_iter().enumerate() {
        let text = text_call("backend description", |b, n| unsafe { sys::dsv3_backend_describe(i as c_int, b, n) })?;
        out.push((name, text));
    }
    Ok(out)
}

/// A callback's panic cannot unwind through the C frames: it is caught,
/// the library is told to cancel, and the panic resumes once the library
/// has returned.
struct PanicSlot(Option<Box<dyn Any + Send>>);

impl PanicSlot {
    fn resume(&mut self) {
        if let Some(p) = self.0.take() {
            panic::resume_unwind(p);
        }
    }
}

/// How to load a model; `Default` gives the library's defaults.
#[derive(Clone, Debug)]
pub struct ModelOptions {
    /// "auto" (the best backend this CPU runs), "scalar", "avx2", ...
    pub backend: String,
    /// 0 = one per online CPU.
    pub n_threads: i32,
    /// Map the weights (true) or read them into memory.
    pub use_mmap: bool,
    /// With a GPU backend: "auto", "gpu" or "experts-on-cpu" (None: the
    /// library's default, "auto"). CPU backends ignore it.
    pub placement: Option<String>,
    /// Device bytes for weights and KV caches; 0 = the device's memory.
    pub gpu_budget: u64,
    /// Positions of KV cache to keep room for on the device (None: the
    /// library's default, 4096).
    pub kv_reserve_ctx: Option<i32>,
    /// Keep a packed copy of the Q8_0, Q4_0 and Q5_0 weights for the x86
    /// CPU backends: faster, costs process memory equal to them
    /// (info().repacked_bytes). Other backends ignore it.
    pub repack: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            backend: "auto".into(),
            n_threads: 0,
            use_mmap: true,
            placement: None,
            gpu_budget: 0,
            kv_reserve_ctx: None,
            repack: false,
        }
    }
}

/// A loaded model (a Hugging Face checkpoint directory or a GGUF file).
pub struct Model {
    h: NonNull<sys::dsv3_model>,
    info: sys::dsv3_model_info,
}

// SAFETY: dsv3.h: "A dsv3_model is immutable after dsv3_model_load returns.
// Any number of sessions, on any threads, may share one model concurrently."
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Model {
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        Model::load_with(path, &ModelOptions::default())
    }

    pub fn load_with(path: impl AsRef<Path>, opts: &ModelOptions) -> Result<Model> {
        let cpath = path_cstring(path.as_ref())?;
        let backend = CString::new(opts.backend.as_bytes())
            .map_err(|_| Error::new(sys::DSV3_ERR_INVALID_ARG, "backend name contains a NUL byte"))?;
        let mut p = std::mem::MaybeUninit::<sys::dsv3_model_params>::zeroed();
        check(
            unsafe { sys::dsv3_model_params_init(p.as_mut_ptr(), std::mem::size_of::<sys::dsv3_model_params>()) },
            "model params",
        )?;
        let placement = match &opts.placement {
            Some(s) => Some(
                CString::new(s.as_bytes())
                    .map_err(|_| Error::new(sys::DSV3_ERR_INVALID_ARG, "placement contains a NUL byte"))?,
            ),
            None => None,
        };
        let mut p = unsafe { p.assume_init() };
        p.backend = backend.as_ptr();
        p.n_threads = opts.n_threads;
        p.use_mmap = opts.use_mmap as c_int;
        if let Some(s) = &placement {
            p.placement = s.as_ptr();
        }
        p.gpu_budget = opts.gpu_budget;
        if let Some(k) = opts.kv_reserve_ctx {
            p.kv_reserve_ctx = k;
        }
        if opts.repack {
            p.repack = 1;
        }
        let mut err = [0 as c_char; 1024];
        let mut out: *mut sys::dsv3_model = ptr::null_mut();
        let rc = unsafe { sys::dsv3_model_load(cpath.as_ptr(), &p, &mut out, err.as_mut_ptr(), err.len()) };
        check(rc, &buf_message(&err))?;
        let h = NonNull::new(out).ok_or_else(|| Error::new(sys::DSV3_ERR_INVALID_ARG, "load returned no model"))?;
        let mut info: sys::dsv3_model_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::dsv3_model_info>();
        let rc = unsafe { sys::dsv3_model_get_info(h.as_ptr(), &mut info) };
        let model = Model { h, info };
        check(rc, "model info")?;
        Ok(model)
    }

    /// `dsv3_model_info` (architecture, dimensions, backend, bytes ...).
    pub fn info(&self) -> &sys::dsv3_model_info {
        &self.info
    }

    pub fn vocab_size(&self) -> i32 {
        self.info.vocab_size
    }

    /// The backend in use, e.g. "avx2".
    pub fn backend(&self) -> String {
        cstr_lossy(self.info.backend.as_ptr())
    }

    /// The device in use: a GPU's name, or "cpu".
    pub fn device(&self) -> String {
        cstr_lossy(self.info.device.as_ptr())
    }

    /// Where the weights went, as text (`dsv3_model_placement`).
    pub fn placement(&self) -> Result<String> {
        text_call("model placement", |b, n| unsafe { sys::dsv3_model_placement(self.h.as_ptr(), b, n) })
    }

    /// A session with `n_ctx` positions (0 = min(4096, max_context)).
    pub fn session(&self, n_ctx: i32) -> Result<Session<'_>> {
        Session::new(self, &SessionOptions { n_ctx, ..Default::default() })
    }

    /// Read the weights into memory now; `progress(done, total)` returns
    /// true to cancel (then `Err` with `status::CANCELLED`).
    pub fn prefetch<F: FnMut(u64, u64) -> bool>(&self, mut progress: F) -> Result<()> {
        struct Ctx<'a> {
            f: &'a mut dyn FnMut(u64, u64) -> bool,
            panic: PanicSlot,
        }
        unsafe extern "C" fn tramp(user: *mut c_void, done: u64, total: u64) -> c_int {
            let ctx = &mut *(user as *mut Ctx);
            if ctx.panic.0.is_some() {
                return 1;
            }
            match panic::catch_unwind(AssertUnwindSafe(|| (ctx.f)(done, total))) {
                Ok(stop) => stop as c_int,
                Err(p) => {
                    ctx.panic.0 = Some(p);
                    1
                }
            }
        }
        let mut ctx = Ctx { f: &mut progress, panic: PanicSlot(None) };
        let rc = unsafe { sys::dsv3_model_prefetch(self.h.as_ptr(), Some(tramp), &mut ctx as *mut Ctx as *mut c_void) };
        ctx.panic.resume();
        check(rc, if rc == sys::DSV3_ERR_CANCELLED { "prefetch cancelled" } else { "prefetch" })
    }

    pub fn as_ptr(&self) -> *const sys::dsv3_model {
        self.h.as_ptr()
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // Sessions borrow the model, so none is alive here.
        unsafe { sys::dsv3_model_free(self.h.as_ptr()) }
    }
}

/// How to create a session; `Default` gives the library's defaults.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub n_ctx: i32,
    /// `sys::DSV3_KV_F32` (default), `DSV3_KV_F16` or `DSV3_KV_Q8_0`.
    pub kv_type: i32,
    pub mtp: bool,
    pub record_routing: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        let p = session_params();
        SessionOptions { n_ctx: p.n_ctx, kv_type: p.kv_type, mtp: p.mtp != 0, record_routing: p.record_routing != 0 }
    }
}

fn session_params() -> sys::dsv3_session_params {
    let mut p = std::mem::MaybeUninit::<sys::dsv3_session_params>::zeroed();
    unsafe {
        sys::dsv3_session_params_init(p.as_mut_ptr(), std::mem::size_of::<sys::dsv3_session_params>());
        p.assume_init()
    }
}

/// What a generation did.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<i32>,
    /// counts, `stop_reason` (`sys::DSV3_STOP_*`), timing
    pub result: sys::dsv3_generate_result,
}

/// Options of [`Session::generate`].
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_tokens: i32,
    pub stop_at_eos: bool,
    /// Generation stops when the text ends with one (it is not passed on).
    pub stop: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_tokens: 256, stop_at_eos: true, stop: Vec::new() }
    }
}

impl GenerateOptions {
    pub fn max_tokens(n: i32) -> Self {
        GenerateOptions { max_tokens: n, ..Default::default() }
    }
}

/// A KV cache on a model.
pub struct Session<'m> {
    h: NonNull<sys::dsv3_session>,
    vocab: usize,
    _model: PhantomData<&'m Model>,
}

// SAFETY: dsv3.h: "A dsv3_session is used by one thread at a time": it may
// move between threads (Send) but not be shared (no Sync; the raw pointer
// keeps it !Sync).
unsafe impl<'m> Send for Session<'m> {}

impl<'m> Session<'m> {
    pub fn new(model: &'m Model, opts: &SessionOptions) -> Result<Session<'m>> {
        let mut p = session_params();
        p.n_ctx = opts.n_ctx;
        p.kv_type = opts.kv_type;
        p.mtp = opts.mtp as c_int;
        p.record_routing = opts.record_routing as c_int;
        let mut err = [0 as c_char; 1024];
        let mut out: *mut sys::dsv3_session = ptr::null_mut();
        let rc = unsafe { sys::dsv3_session_create(model.as_ptr(), &p, &mut out, err.as_mut_ptr(), err.len()) };
        check(rc, &buf_message(&err))?;
        let h = NonNull::new(out).ok_or_else(|| Error::new(sys::DSV3_ERR_INVALID_ARG, "no session"))?;
        Ok(Session { h, vocab: model.vocab_size() as usize, _model: PhantomData })
    }

    fn fail(&self, rc: c_int) -> Result<()> {
        if rc == sys::DSV3_OK {
            return Ok(());
        }
        Err(Error::new(rc, cstr_lossy(unsafe { sys::dsv3_session_last_error(self.h.as_ptr()) })))
    }

    fn n_tokens(ids: &[i32]) -> Result<i32> {
        i32::try_from(ids.len()).map_err(|_| Error::new(sys::DSV3_ERR_INVALID_ARG, "too many tokens"))
    }

    /// Append `ids` and run the model: the logits of the last token.
    pub fn step(&mut self, ids: &[i32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.vocab];
        let rc = unsafe {
            sys::dsv3_session_step(self.h.as_ptr(), ids.as_ptr(), Self::n_tokens(ids)?, out.as_mut_ptr(), 0)
        };
        self.fail(rc)?;
        Ok(out)
    }

    /// Append `ids`: the logits of every token, `ids.len()` rows of vocab_size.
    pub fn step_all(&mut self, ids: &[i32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.vocab * ids.len()];
        let rc = unsafe {
            sys::dsv3_session_step(
                self.h.as_ptr(),
                ids.as_ptr(),
                Self::n_tokens(ids)?,
                out.as_mut_ptr(),
                sys::DSV3_STEP_LOGITS_ALL,
            )
        };
        self.fail(rc)?;
        Ok(out)
    }

    pub fn position(&self) -> i32 {
        unsafe { sys::dsv3_session_position(self.h.as_ptr()) }
    }

    pub fn n_ctx(&self) -> i32 {
        unsafe { sys::dsv3_session_n_ctx(self.h.as_ptr()) }
    }

    pub fn kv_bytes_per_token(&self) -> u64 {
        unsafe { sys::dsv3_session_kv_bytes_per_token(self.h.as_ptr()) }
    }

    pub fn rewind(&mut self, position: i32) -> Result<()> {
        let rc = unsafe { sys::dsv3_session_rewind(self.h.as_ptr(), position) };
        self.fail(rc)
    }

    pub fn reset(&mut self) -> Result<()> {
        self.rewind(0)
    }

    /// Step `prompt`, then sample up to `opts.max_tokens` tokens.
    /// `on_token(token, piece)` sees every token with its text (complete
    /// UTF-8 characters); returning true stops, keeping the token. A panic
    /// in it cancels the generation and resumes after the library returns.
    /// `tok` None: ids only (pieces are empty).
    pub fn generate<F: FnMut(i32, &str) -> bool>(
        &mut self,
        tok: Option<&Tokenizer>,
        sampler: &mut Sampler,
        prompt: &[i32],
        opts: &GenerateOptions,
        mut on_token: F,
    ) -> Result<Generation> {
        struct Ctx<'a> {
            f: &'a mut dyn FnMut(i32, &str) -> bool,
            out: Generation,
            panic: PanicSlot,
        }
        unsafe extern "C" fn tramp(user: *mut c_void, token: i32, piece: *const c_char, len: usize) -> c_int {
            let ctx = &mut *(user as *mut Ctx);
            if ctx.panic.0.is_some() {
                return -1;
            }
            let bytes = if piece.is_null() || len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(piece as *const u8, len)
            };
            let text = String::from_utf8_lossy(bytes);
            ctx.out.tokens.push(token);
            ctx.out.text.push_str(&text);
            match panic::catch_unwind(AssertUnwindSafe(|| (ctx.f)(token, &text))) {
                Ok(stop) => stop as c_int,
                Err(p) => {
                    ctx.panic.0 = Some(p);
                    -1
                }
            }
        }
        let stops: Vec<CString> = opts
            .stop
            .iter()
            .map(|s| CString::new(s.as_bytes()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::new(sys::DSV3_ERR_INVALID_ARG, "a stop string contains a NUL byte"))?;
        let stop_ptrs: Vec<*const c_char> = stops.iter().map(|s| s.as_ptr()).collect();
        let mut gp = std::mem::MaybeUninit::<sys::dsv3_generate_params>::zeroed();
        check(
            unsafe {
                sys::dsv3_generate_params_init(gp.as_mut_ptr(), std::mem::size_of::<sys::dsv3_generate_params>())
            },
            "generate params",
        )?;
        let mut gp = unsafe { gp.assume_init() };
        let mut ctx = Ctx { f: &mut on_token, out: Generation::default(), panic: PanicSlot(None) };
        gp.max_tokens = opts.max_tokens;
        gp.stop_at_eos = opts.stop_at_eos as c_int;
        gp.stop_strings = if stop_ptrs.is_empty() { ptr::null() } else { stop_ptrs.as_ptr() };
        gp.n_stop_strings = stop_ptrs.len();
        gp.on_token = Some(tramp);
        gp.user = &mut ctx as *mut Ctx as *mut c_void;
        let mut res = sys::dsv3_generate_result {
            struct_size: std::mem::size_of::<sys::dsv3_generate_result>(),
            ..Default::default()
        };
        let rc = unsafe {
            sys::dsv3_generate(
                self.h.as_ptr(),
                tok.map_or(ptr::null(), |t| t.as_ptr()),
                sampler.h.as_ptr(),
                prompt.as_ptr(),
                prompt.len(),
                &gp,
                &mut res,
            )
        };
        ctx.panic.resume();
        self.fail(rc)?;
        ctx.out.result = res;
        Ok(ctx.out)
    }

    /// The session's state (cache rows up to the position, ...), for
    /// [`Session::load`] into a session of the same model and kv_type.
    pub fn save(&mut self) -> Result<Vec<u8>> {
        let mut size = 0usize;
        let rc = unsafe { sys::dsv3_session_save(self.h.as_ptr(), ptr::null_mut(), 0, &mut size) };
        if rc != sys::DSV3_ERR_TOO_SMALL {
            self.fail(rc)?;
        }
        let mut buf = vec![0u8; size];
        let rc =
            unsafe { sys::dsv3_session_save(self.h.as_ptr(), buf.as_mut_ptr() as *mut c_void, buf.len(), &mut size) };
        self.fail(rc)?;
        buf.truncate(size);
        Ok(buf)
    }

    /// Restore a state from [`Session::save`]; on error the session is unchanged.
    pub fn load(&mut self, state: &[u8]) -> Result<()> {
        let rc = unsafe { sys::dsv3_session_load(self.h.as_ptr(), state.as_ptr() as *const c_void, state.len()) };
        self.fail(rc)
    }

    /// A new, independent session on the same model starting from a copy
    /// of this one's caches (same n_ctx and kv_type).
    pub fn fork(&self) -> Result<Session<'m>> {
        let mut err = [0 as c_char; 1024];
        let mut out: *mut sys::dsv3_session = ptr::null_mut();
        let rc = unsafe { sys::dsv3_session_fork(self.h.as_ptr(), ptr::null(), &mut out, err.as_mut_ptr(), err.len()) };
        check(rc, &buf_message(&err))?;
        let h = NonNull::new(out).ok_or_else(|| Error::new(sys::DSV3_ERR_INVALID_ARG, "no session"))?;
        Ok(Session { h, vocab: self.vocab, _model: PhantomData })
    }

    pub fn as_ptr(&self) -> *mut sys::dsv3_session {
        self.h.as_ptr()
    }
}

impl<'m> Drop for Session<'m> {
    fn drop(&mut self) {
        unsafe { sys::dsv3_session_free(self.h.as_ptr()) }
    }
}

/// One message of a conversation for [`Tokenizer::chat_render`].
#[derive(Clone, Debug)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A tokenizer: a checkpoint directory, a tokenizer.json or a GGUF file.
pub struct Tokenizer {
    h: NonNull<sys::dsv3_tokenizer>,
}

// SAFETY: dsv3.h: "A tokenizer is immutable after load: any number of
// threads may use one concurrently."
unsafe impl Send for Tokenizer {}
unsafe impl Sync for Tokenizer {}

impl Tokenizer {
    pub fn load(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let cpath = path_cstring(path.as_ref())?;
        let mut err = [0 as c_char; 1024];
        let mut out: *mut sys::dsv3_tokenizer = ptr::null_mut();
        let rc = unsafe { sys::dsv3_tokenizer_load(cpath.as_ptr(), &mut out, err.as_mut_ptr(), err.len()) };
        check(rc, &buf_message(&err))?;
        let h = NonNull::new(out).ok_or_else(|| Error::new(sys::DSV3_ERR_INVALID_ARG, "no tokenizer"))?;
        Ok(Tokenizer { h })
    }

    /// Token ids of `text`; `add_bos`: prepend BOS when tokenizer_config.json asks for it.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<i32>> {
        let mut flags = 0;
        if add_bos && unsafe { sys::dsv3_tokenizer_add_bos(self.h.as_ptr()) } != 0 {
            flags |= sys::DSV3_TOKENIZE_ADD_BOS;
        }
        let mut ids = vec![0i32; text.len() + 2];
        let mut n = 0usize;
        let mut rc = unsafe {
            sys::dsv3_tokenize(self.h.as_ptr(), text.as_ptr() as *const c_char, text.len(), flags, ids.as_mut_ptr(),
                               ids.len(), &mut n)
        };
        if rc == sys::DSV3_ERR_TOO_SMALL {
            ids.resize(n, 0);
            rc = unsafe {
                sys::dsv3_tokenize(self.h.as_ptr(), text.as_ptr() as *const c_char, text.len(), flags,
                                   ids.as_mut_ptr(), ids.len(), &mut n)
            };
        }
        check(rc, "tokenize")?;
        ids.truncate(n);
        Ok(ids)
    }

    /// Text of `ids` (invalid UTF-8 becomes U+FFFD).
    pub fn decode(&self, ids: &[i32]) -> Result<String> {
        let mut buf = vec![0u8; ids.len() * 8 + 16];
        let mut len = 0usize;
        let mut rc = unsafe {
            sys::dsv3_detokenize(self.h.as_ptr(), ids.as_ptr(), ids.len(), 0, buf.as_mut_ptr() as *mut c_char,
                                 buf.len(), &mut len)
        };
        if rc == sys::DSV3_ERR_TOO_SMALL {
            buf.resize(len + 1, 0);
            rc = unsafe {
                sys::dsv3_detokenize(self.h.as_ptr(), ids.as_ptr(), ids.len(), 0, buf.as_mut_ptr() as *mut c_char,
                                     buf.len(), &mut len)
            };
        }
        check(rc, "detokenize: a token id is out of range or unknown")?;
        buf.truncate(len);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The DeepSeek-V3 chat template; the text begins with BOS, so encode
    /// it with `add_bos` false.
    pub fn chat_render(&self, msgs: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let bad = |_| Error::new(sys::DSV3_ERR_INVALID_ARG, "a message contains a NUL byte");
        let owned: Vec<(CString, CString)> = msgs
            .iter()
            .map(|m| Ok((CString::new(m.role.as_bytes()).map_err(bad)?, CString::new(m.content.as_bytes()).map_err(bad)?)))
            .collect::<Result<_>>()?;
        let c: Vec<sys::dsv3_chat_message> = owned
            .iter()
            .map(|(r, t)| sys::dsv3_chat_message {
                role: r.as_ptr(),
                content: t.as_ptr(),
                tool_calls: ptr::null(),
                n_tool_calls: 0,
            })
            .collect();
        let mut buf = vec![0u8; 4096];
        let mut len = 0usize;
        let agp = add_generation_prompt as c_int;
        let mut rc = unsafe {
            sys::dsv3_chat_render(self.h.as_ptr(), c.as_ptr(), c.len(), agp, buf.as_mut_ptr() as *mut c_char,
                                  buf.len(), &mut len)
        };
        if rc == sys::DSV3_ERR_TOO_SMALL {
            buf.resize(len + 1, 0);
            rc = unsafe {
                sys::dsv3_chat_render(self.h.as_ptr(), c.as_ptr(), c.len(), agp, buf.as_mut_ptr() as *mut c_char,
                                      buf.len(), &mut len)
            };
        }
        check(rc, "chat render")?;
        buf.truncate(len);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    pub fn n_vocab(&self) -> i32 {
        unsafe { sys::dsv3_tokenizer_n_vocab(self.h.as_ptr()) }
    }

    /// BOS id, if the tokenizer has one.
    pub fn bos(&self) -> Option<i32> {
        let v = unsafe { sys::dsv3_tokenizer_bos(self.h.as_ptr()) };
        if v < 0 {
            None
        } else {
            Some(v)
        }
    }

    /// EOS id, if the tokenizer has one.
    pub fn eos(&self) -> Option<i32> {
        let v = unsafe { sys::dsv3_tokenizer_eos(self.h.as_ptr()) };
        if v < 0 {
            None
        } else {
            Some(v)
        }
    }

    pub fn as_ptr(&self) -> *const sys::dsv3_tokenizer {
        self.h.as_ptr()
    }
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        unsafe { sys::dsv3_tokenizer_free(self.h.as_ptr()) }
    }
}

/// Sampling options; `Default` gives the library's defaults (temperature
/// 0.8, top_k 40, top_p 0.95, min_p 0.05, seed 0 = a fixed default).
#[derive(Clone, Debug)]
pub struct SamplerOptions {
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub penalty_last_n: i32,
    pub seed: u64,
    /// (token, bias) pairs; `f32::NEG_INFINITY` bans a token.
    pub logit_bias: Vec<(i32, f32)>,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        let mut p = std::mem::MaybeUninit::<sys::dsv3_sampler_params>::zeroed();
        let p = unsafe {
            sys::dsv3_sampler_params_init(p.as_mut_ptr(), std::mem::size_of::<sys::dsv3_sampler_params>());
            p.assume_init()
        };
        SamplerOptions {
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            repeat_penalty: p.repeat_penalty,
            frequency_penalty: p.frequency_penalty,
            presence_penalty: p.presence_penalty,
            penalty_last_n: p.penalty_last_n,
            seed: p.seed,
            logit_bias: Vec::new(),
        }
    }
}

impl SamplerOptions {
    /// Temperature 0: always the most likely token.
    pub fn greedy() -> Self {
        SamplerOptions { temperature: 0.0, ..Default::default() }
    }
}

/// Logits to tokens (seeded, reproducible).
pub struct Sampler {
    h: NonNull<sys::dsv3_sampler>,
    n_vocab: usize,
}

// SAFETY: dsv3.h: "A sampler is used by one thread at a time": Send, and
// !Sync through the raw pointer.
unsafe impl Send for Sampler {}

impl Sampler {
    pub fn new(opts: &SamplerOptions, n_vocab: i32) -> Result<Sampler> {
        let mut p = std::mem::MaybeUninit::<sys::dsv3_sampler_params>::zeroed();
        check(
            unsafe { sys::dsv3_sampler_params_init(p.as_mut_ptr(), std::mem::size_of::<sys::dsv3_sampler_params>()) },
            "sampler params",
        )?;
        let mut p = unsafe { p.assume_init() };
        p.temperature = opts.temperature;
        p.top_k = opts.top_k;
        p.top_p = opts.top_p;
        p.min_p = opts.min_p;
        p.repeat_penalty = opts.repeat_penalty;
        p.frequency_penalty = opts.frequency_penalty;
        p.presence_penalty = opts.presence_penalty;
        p.penalty_last_n = opts.penalty_last_n;
        p.seed = opts.seed;
        let ids: Vec<i32> = opts.logit_bias.iter().map(|b| b.0).collect();
        let vals: Vec<f32> = opts.logit_bias.iter().map(|b| b.1).collect();
        if !ids.is_empty() {
            p.bias_ids = ids.as_ptr();
            p.bias_values = vals.as_ptr();
            p.n_bias = ids.len();
        }
        let mut out: *mut sys::dsv3_sampler = ptr::null_mut();
        check(unsafe { sys::dsv3_sampler_create(&p, n_vocab, &mut out) }, "sampler: bad options")?;
        let h = NonNull::new(out).ok_or_else(|| Error::new(sys::DSV3_ERR_INVALID_ARG, "no sampler"))?;
        Ok(Sampler { h, n_vocab: n_vocab.max(0) as usize })
    }

    /// A token from `logits` (at least n_vocab values).
    pub fn sample(&mut self, logits: &[f32]) -> Result<i32> {
        if logits.len() < self.n_vocab {
            return Err(Error::new(sys::DSV3_ERR_INVALID_ARG, "sample: fewer logits than n_vocab"));
        }
        let mut t = -1;
        check(unsafe { sys::dsv3_sampler_sample(self.h.as_ptr(), logits.as_ptr(), &mut t) }, "sample")?;
        Ok(t)
    }

    pub fn accept(&mut self, token: i32) -> Result<()> {
        check(unsafe { sys::dsv3_sampler_accept(self.h.as_ptr(), token) }, "accept: bad token")
    }

    pub fn reset(&mut self) {
        unsafe { sys::dsv3_sampler_reset(self.h.as_ptr()) }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        unsafe { sys::dsv3_sampler_free(self.h.as_ptr()) }
    }
}
