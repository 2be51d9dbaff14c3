//! The `kairos` command: compile, sign, inspect, diff and serve model snapshots, make trait
//! tokens, evaluate rules and replay journeys. Reference: `docs/cli.md`.

/// `println!` for the commands' output, in a function returning `Result<_, Fail>`: a closed
/// stdout (`kairos diff a b | head -1`) ends the command quietly, where `println!` panics.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say_line(format_args!($($arg)*))?
    };
}

mod erase;
mod eval;
mod listen;
mod locate;
mod serve;
mod snap;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use kairos::journey::{self, Journey, StepResult};

#[derive(Parser)]
#[command(
    name = "kairos",
    version,
    about = "Compile, sign, inspect and serve Kairos model snapshots; make trait tokens; replay journeys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a model file and print its errors and warnings.
    Check {
        /// The model (JSON).
        model: PathBuf,
    },
    /// Compile a model file into a snapshot, signed when --key is given.
    Compile {
        /// The model (JSON).
        model: PathBuf,
        /// Where to write the snapshot.
        #[arg(short, long)]
        out: PathBuf,
        /// Secret key file (from `kairos keygen`) to sign the snapshot with.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Overwrite the output file also when it is not a snapshot.
        #[arg(long)]
        force: bool,
    },
    /// Make an Ed25519 key pair: OUT.key (secret) and OUT.pub (public).
    Keygen {
        /// Path of the key files, without `.key`/`.pub`, which are appended (`brand.2027` writes
        /// `brand.2027.key` and `brand.2027.pub`).
        #[arg(short, long, default_value = "signing")]
        out: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Show a snapshot: version, hash, signature status, counts and bytes per section.
    Inspect {
        /// The snapshot.
        snapshot: PathBuf,
        /// Public key file to check the signature with (exit 1 if it does not verify).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show what was added, removed or changed between two models (definitions and settings), and
    /// warn about what devices will refuse.
    Diff {
        /// The older snapshot or model file (`.json`).
        a: PathBuf,
        /// The newer snapshot or model file (`.json`).
        b: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a JsonLogic rule against JSON data, or JSON lines from stdin with --batch.
    Eval {
        /// The rule (JSON text).
        #[arg(required_unless_present = "batch")]
        rule: Option<String>,
        /// The data (JSON text); null when absent.
        data: Option<String>,
        /// Read `{"rule": ..., "data": ...}` lines from stdin, write `{"result": ...}` or
        /// `{"error": ...}` lines.
        #[arg(long, conflicts_with_all = ["rule", "data"])]
        batch: bool,
    },
    /// Make a signed token of server-computed traits for one shopper.
    Token {
        /// Secret key file.
        #[arg(long)]
        key: PathBuf,
        /// The shopper's pseudonymous id (`Profile::pid`); required unless --phone, --email or
        /// --external (with --model) name her. (Not a clap requirement: its message named --user
        /// alone, also with --model given.)
        #[arg(long)]
        user: Option<String>,
        /// Or: the shopper's phone number; the id is computed with the model's `id_salt`.
        #[arg(long, requires = "model", conflicts_with_all = ["user", "email", "external"])]
        phone: Option<String>,
        /// Or: the shopper's email address (needs --model).
        #[arg(long, requires = "model", conflicts_with_all = ["user", "phone", "external"])]
        email: Option<String>,
        /// Or: the shopper's external id, e.g. a CRM member number (needs --model).
        #[arg(long, requires = "model", conflicts_with_all = ["user", "phone", "email"])]
        external: Option<String>,
        /// The model whose `id_salt` hashes --phone, --email or --external; with it, the traits
        /// are checked as a device running it checks them before the token is printed.
        #[arg(long)]
        model: Option<PathBuf>,
        /// The traits (a JSON object file).
        #[arg(long)]
        traits: PathBuf,
        /// How long the token is valid: `90s`, `30m`, `12h`, `7d`.
        #[arg(long, default_value = snap::DEFAULT_TTL)]
        ttl: String,
        /// Issue time in ms since the epoch (default: now).
        #[arg(long)]
        now: Option<i64>,
    },
    /// Serve signed snapshots per channel, push new versions, accept outbox uploads.
    Serve(serve::Args),
    /// Rewrite outbox files without the reports of the installs that `forgotten` requests erased.
    Erase(erase::Args),
    /// Replay a journey fixture against a model and print what the shopper sees.
    Simulate {
        /// The model (JSON); defaults to the one the journey names in its `model` field.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Journey fixtures (JSON).
        #[arg(long = "journey", required = true, num_args = 1..)]
        journeys: Vec<PathBuf>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A failure: the message for stderr and the exit code (2 for bad input, 1 for a check that
/// did not pass).
pub struct Fail {
    /// What went wrong.
    pub message: String,
    /// Exit code.
    pub code: u8,
}

impl Fail {
    /// Bad input or a file that cannot be read: exit code 2.
    pub fn usage(message: String) -> Fail {
        Fail { message, code: 2 }
    }

    /// Writing to stdout failed. When the reader closed it (`| head`), the command stops
    /// quietly ([`Fail::is_closed`]): exit code 0, or the verdict a checking command already
    /// has; any other failure is an error.
    pub fn stdout(e: &std::io::Error) -> Fail {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => Fail { message: String::new(), code: 0 },
            _ => Fail::usage(format!("stdout: {e}")),
        }
    }

    /// Whether this is stdout closed by its reader, which ends a command quietly.
    pub fn is_closed(&self) -> bool {
        self.message.is_empty()
    }
}

/// What printing gave: `Ok` also when the reader closed stdout, which only ends the printing
/// (`closed` set), so a command still ends with its verdict.
pub fn printed(r: Result<(), Fail>, closed: &mut bool) -> Result<(), Fail> {
    match r {
        Err(f) if f.is_closed() => {
            *closed = true;
            Ok(())
        }
        r => r,
    }
}

/// Writes one line of output (see [`say!`]).
pub fn say_line(args: std::fmt::Arguments<'_>) -> Result<(), Fail> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.write_all(b"\n")).map_err(|e| Fail::stdout(&e))
}

impl From<String> for Fail {
    fn from(message: String) -> Fail {
        Fail::usage(message)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(fail) => {
            if !fail.message.is_empty() {
                eprintln!("error: {}", fail.message);
            }
            ExitCode::from(fail.code)
        }
    }
}

/// Reads a UTF-8 text file, skipping a byte order mark; the error names the path, and for a
/// file in another encoding (GBK and UTF-16 are common on Windows) says how to fix it.
pub fn read(path: &Path) -> Result<String, Fail> {
    let bytes = std::fs::read(path).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?;
    text_of(bytes).map_err(|m| Fail::usage(format!("{}: {m}", path.display())))
}

/// The text of a file's bytes, or why it is not UTF-8 text.
pub fn text_of(bytes: Vec<u8>) -> Result<String, String> {
    // A snapshot given where a model goes (the arguments swapped, or a snapshot saved as
    // `.json`): "save it as UTF-8" would only make things worse.
    if bytes.starts_with(&kairos::snapshot::SNAPSHOT_MAGIC) {
        return Err("the file is a compiled Kairos snapshot, not a model or other text file; \
                    `kairos inspect` shows what is in it"
            .to_string());
    }
    let head = bytes.get(..1024).unwrap_or(&bytes);
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) || utf16_without_bom(head) {
        return Err("the file is UTF-16; save it as UTF-8".to_string());
    }
    // A NUL is never in JSON text or a key file.
    if head.contains(&0) {
        return Err(format!("the file is not a text file ({})", binary_kind(head)));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            // Legacy-encoded text (GBK) has no control characters but white space (and the
            // end-of-file mark of old DOS editors).
            let head = bytes.get(..1024).unwrap_or(&bytes);
            if head.iter().any(|&b| b < 0x20 && !b"\t\n\r\x0c\x1a".contains(&b)) {
                return Err(format!("the file is not a text file ({})", binary_kind(head)));
            }
            let line = bytes.get(..at).unwrap_or_default().iter().filter(|&&b| b == b'\n').count() + 1;
            Err(format!(
                "the file is not UTF-8 (line {line} has a byte that is not; saved as GBK or another \
                 legacy encoding?); save it as UTF-8"
            ))
        }
    }
}

/// Whether the start of a file is UTF-16 text without a byte order mark: in most pairs of
/// bytes, an ASCII character and a NUL (JSON and key files are mostly ASCII). Binary files have
/// NULs too, but not in this pattern.
fn utf16_without_bom(head: &[u8]) -> bool {
    let ascii = |c: u8| c.is_ascii_graphic() || c.is_ascii_whitespace();
    let pairs = head.chunks_exact(2);
    let n = pairs.len();
    let le = pairs.clone().filter(|p| matches!(p, [c, 0] if ascii(*c))).count();
    let be = pairs.clone().filter(|p| matches!(p, [0, c] if ascii(*c))).count();
    // Or JSON text, mostly Chinese say, that opens with `{` or `[` (white space before it) in
    // either byte order: binary data does not.
    let opens = |order: fn(&[u8]) -> Option<u8>| {
        let mut units = pairs.clone().map(order);
        let first = units.find(|u| !matches!(u, Some(b' ' | b'\t' | b'\r' | b'\n')));
        matches!(first, Some(Some(b'{' | b'[')))
    };
    let le_unit = |p: &[u8]| match p {
        [c, 0] => Some(*c),
        _ => None,
    };
    let be_unit = |p: &[u8]| match p {
        [0, c] => Some(*c),
        _ => None,
    };
    n > 0 && (2 * le.max(be) >= n || opens(le_unit) || opens(be_unit))
}

/// What a binary file probably is, from its first bytes, for "not a text file (…)".
fn binary_kind(head: &[u8]) -> &'static str {
    if head.starts_with(b"PK\x03\x04") {
        "a ZIP archive, such as an .xlsx spreadsheet"
    } else if head.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]) {
        "an Office file, such as an .xls spreadsheet"
    } else if head.starts_with(&kairos::profile::STATE_MAGIC) {
        "Kairos profile state"
    } else {
        "binary data, such as an image or a compiled file"
    }
}

/// Compiles a model file; each error names the file, the line and the place in the model.
pub fn compile(path: &Path) -> Result<kairos::Compiled, Fail> {
    let text = read(path)?;
    kairos::compile_str(&text).map_err(|errors| Fail::usage(compile_errors(path, &text, &errors)))
}

/// [`compile`] of a model file's bytes, already read (a pipe can be read once).
pub fn compile_bytes(path: &Path, bytes: Vec<u8>) -> Result<kairos::Compiled, Fail> {
    let text = text_of(bytes).map_err(|m| Fail::usage(format!("{}: {m}", path.display())))?;
    kairos::compile_str(&text).map_err(|errors| Fail::usage(compile_errors(path, &text, &errors)))
}

/// Whether a file's bytes are a model's JSON text rather than a snapshot: an object, after any
/// byte order mark and white space (a snapshot starts with its magic, `KSNP`).
pub fn is_model_text(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// [`compile`], printing the warnings to stderr as errors are printed: `path:line: warning: …`.
pub fn compile_warned(path: &Path) -> Result<kairos::Compiled, Fail> {
    let text = read(path)?;
    let compiled =
        kairos::compile_str(&text).map_err(|errors| Fail::usage(compile_errors(path, &text, &errors)))?;
    let shown = compiled.warnings.iter().take(SHOWN);
    let lines = locate::Lines::scan(&text, shown.clone().map(|w| w.path.as_str()).filter(|p| !p.is_empty()));
    for w in shown {
        let line = if w.path.is_empty() { None } else { lines.line(&w.path) };
        match line {
            Some(l) => eprintln!("{}:{l}: {w}", path.display()),
            None => eprintln!("{}: {w}", path.display()),
        }
    }
    if let Some(more) = compiled.warnings.len().checked_sub(SHOWN).filter(|&m| m > 0) {
        eprintln!("{}: … and {more} more warning{}", path.display(), if more == 1 { "" } else { "s" });
    }
    Ok(compiled)
}

/// How many errors, or warnings, are listed; the rest are counted in one line (thousands of
/// generated offers with one renamed placement would otherwise print thousands of lines).
const SHOWN: usize = 100;

/// `path: the model has N errors:` then one `path:line: place: message` line per error, for
/// the first [`SHOWN`], then `… and N more errors`.
pub fn compile_errors(path: &Path, text: &str, errors: &kairos::CompileErrors) -> String {
    let (mut s, entries) = compile_error_list(path, text, errors);
    for e in entries {
        s.push_str("\n  ");
        s.push_str(&e);
    }
    s
}

/// [`compile_errors`] in parts: the `path: the model has N errors:` header, and an entry per
/// error shown (`path:line: place: message`), then `… and N more errors`. An entry is not
/// always one line: a name written with `\n` in the model holds a newline.
pub fn compile_error_list(path: &Path, text: &str, errors: &kairos::CompileErrors) -> (String, Vec<String>) {
    let n = errors.0.len();
    let header = format!("{}: the model has {n} error{}:", path.display(), if n == 1 { "" } else { "s" });
    let shown = errors.0.iter().take(SHOWN);
    let located = |e: &&kairos::CompileError| match e {
        kairos::CompileError::Syntax { line, .. } if *line > 0 => false,
        // An error about the whole model (its size) has no line to point at.
        _ => !e.path().is_empty(),
    };
    // One scan of the text finds the lines of all of them.
    let lines = locate::Lines::scan(text, shown.clone().filter(located).map(kairos::CompileError::path));
    let mut entries: Vec<String> = shown
        .map(|e| {
            let line = match e {
                kairos::CompileError::Syntax { line, .. } if *line > 0 => Some(*line),
                _ if located(&e) => lines.line(e.path()),
                _ => None,
            };
            match line {
                Some(l) => format!("{}:{l}: {e}", path.display()),
                None => format!("{}: {e}", path.display()),
            }
        })
        .collect();
    if let Some(more) = n.checked_sub(SHOWN).filter(|&m| m > 0) {
        entries.push(format!("… and {more} more error{}", if more == 1 { "" } else { "s" }));
    }
    (header, entries)
}

fn run(command: Command) -> Result<ExitCode, Fail> {
    match command {
        Command::Check { model } => {
            let compiled = compile_warned(&model)?;
            let m = &compiled.model;
            say!(
                "{}: ok: `{}` version {}, {} stages, {} segments, {} features, {} offers in {} placements, {} warning{}",
                model.display(),
                m.name,
                m.version,
                m.stages.len(),
                m.segments.len(),
                m.features.len(),
                m.offers.len(),
                m.placements.len(),
                compiled.warnings.len(),
                if compiled.warnings.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compile { model, out, key, force } => {
            not_over_another_file(&model, &out, key.as_deref(), force)?;
            snap::compile_cmd(&model, &out, key.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out, force } => {
            snap::keygen(&out, force)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { snapshot, key, json } => {
            let ok = snap::inspect(&snapshot, key.as_deref(), json)?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Diff { a, b, json } => {
            snap::diff(&a, &b, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { rule, data, batch } => {
            if batch {
                eval::batch(std::io::stdin().lock(), std::io::stdout().lock())?;
            } else {
                eval::single(rule.as_deref().unwrap_or("null"), data.as_deref())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { key, user, phone, email, external, model, traits, ttl, now } => {
            use kairos::profile::identity::IdKind;
            let user = match (user, &model) {
                (Some(u), _) => u,
                (None, Some(m)) => {
                    let (kind, raw) = match (phone, email, external) {
                        (Some(p), _, _) => (IdKind::Phone, p),
                        (_, Some(e), _) => (IdKind::Email, e),
                        (_, _, Some(x)) => (IdKind::External, x),
                        _ => {
                            return Err(Fail::usage(
                                "name the shopper: --user PID, or with --model her --phone, --email or --external id"
                                    .into(),
                            ))
                        }
                    };
                    snap::pid_of(m, kind, &raw)?
                }
                (None, None) => {
                    return Err(Fail::usage(
                        "name the shopper: --user PID, or with --model her --phone, --email or --external id"
                            .into(),
                    ))
                }
            };
            snap::token(&key, &user, &traits, &ttl, now, model.as_deref())?;
            // Stdout holds the token alone, for scripts that capture it.
            if model.is_none() {
                eprintln!(
                    "note: traits not checked against a model; pass --model to check them as a device would"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            serve::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Erase(args) => {
            erase::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate { model, journeys, json } => {
            // The journeys whose expectations failed, with the first step (from 1) that did.
            let mut failed: Vec<(PathBuf, usize)> = Vec::new();
            let count = journeys.len();
            // Stdout closed by its reader: every journey still runs, for the exit code.
            let mut closed = false;
            for path in journeys {
                let text = read(&path)?;
                // `parse` refuses a name given twice too (two `expect`s in a step), where serde_json
                // would keep the last.
                let j = journey::parse(&text).map_err(|e| journey_error(&path, &text, &e))?;
                let model_path = match (&model, &j.model) {
                    (Some(m), _) => m.clone(),
                    (None, Some(m)) => {
                        let root = repo_root(&path);
                        let at = root.join(m);
                        // A journey copied out of the repository: "./examples/…: No such file"
                        // named neither the journey nor its `model` (CLI review of 2026-11-25).
                        if !at.is_file() {
                            return Err(Fail::usage(format!(
                                "{}: its `model` {m} is not in {} (the nearest folder above the journey \
                                 with Cargo.toml and examples/, else the current one); pass --model model.json",
                                path.display(),
                                root.display()
                            )));
                        }
                        at
                    }
                    (None, None) => {
                        return Err(Fail::usage(format!(
                            "{}: the journey names no `model`; pass --model model.json",
                            path.display()
                        )))
                    }
                };
                let compiled = compile(&model_path)?;
                let results =
                    journey::run(&j, compiled.model).map_err(|e| journey_error(&path, &text, &e))?;
                if let Some(step) = results.iter().position(|r| !r.mismatches.is_empty()) {
                    failed.push((path.clone(), step + 1));
                }
                if closed {
                    continue;
                }
                if json {
                    // Each line names its journey file first (with several, `step` starts at 0
                    // in each), then the step's fields in their order.
                    let file =
                        serde_json::to_string(&path.display().to_string()).map_err(|e| e.to_string())?;
                    let lines = || -> Result<(), Fail> {
                        for r in &results {
                            let line = serde_json::to_string(r).map_err(|e| e.to_string())?;
                            say!("{{\"journey\":{file},{}", line.get(1..).unwrap_or_default());
                        }
                        Ok(())
                    };
                    printed(lines(), &mut closed)?;
                } else {
                    printed(print_journey(&j, &results), &mut closed)?;
                }
            }
            if failed.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            // Also on stderr, where a CI log's reader looks first (the MISMATCH lines are among
            // stdout's steps).
            let list: Vec<String> =
                failed.iter().map(|(p, step)| format!("{} (first at step {step})", p.display())).collect();
            let n = failed.len();
            eprintln!(
                "error: {n} of {count} journey{} did not meet {} expectations: {}",
                if count == 1 { "" } else { "s" },
                if n == 1 { "its" } else { "their" },
                list.join(", ")
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// `path:line:column: step 3: …`, at the place the error is about (the field's name, or where
/// the step starts for a step that is not one), or where serde_json found it.
fn journey_error(path: &Path, text: &str, e: &journey::JourneyError) -> Fail {
    let at =
        e.position().or_else(|| e.place().and_then(|p| locate::Lines::scan(text, [p.as_str()]).position(&p)));
    Fail::usage(match at {
        Some((line, column)) => format!("{}:{line}:{column}: {e}", path.display()),
        None => format!("{}: {e}", path.display()),
    })
}

/// Refuses `compile -o` over an existing file that is not a snapshot: `-o other.json` (the
/// arguments swapped, or "compile over the old one") would replace a model with binary. An
/// existing snapshot (a compile again), an empty file or a symlink (replaced, not written
/// through) are written over; another file only with `force`, except a key: a file that holds a
/// Kairos key is never written over (a signing key cannot be made again, and secret stores mount
/// keys under names without `.key`). The model itself, the signing key and a key file's name are
/// left to `compile_cmd`, which refuses them with its own message, `--force` or not.
fn not_over_another_file(model: &Path, out: &Path, key: Option<&Path>, force: bool) -> Result<(), Fail> {
    let Ok(meta) = std::fs::symlink_metadata(out) else { return Ok(()) };
    let key_name =
        out.extension().is_some_and(|x| x.eq_ignore_ascii_case("key") || x.eq_ignore_ascii_case("pub"));
    if !meta.is_file()
        || meta.len() == 0
        || key_name
        || same_file(model, out)
        || key.is_some_and(|k| same_file(k, out))
    {
        return Ok(());
    }
    let head = || -> std::io::Result<Vec<u8>> {
        use std::io::Read as _;
        let mut head = Vec::new();
        std::fs::File::open(out)?.take(1024).read_to_end(&mut head)?;
        Ok(head)
    };
    let head = head();
    let elsewhere = model.with_extension("kairos");
    if matches!(&head, Ok(h) if h.windows(15).any(|w| w == b"kairos-ed25519-")) {
        return Err(Fail::usage(format!(
            "{}: holds a Kairos key, which -o never writes over, --force or not (a lost signing key \
             cannot sign updates devices accept); write the snapshot elsewhere, such as -o {}",
            out.display(),
            elsewhere.display()
        )));
    }
    if force {
        return Ok(());
    }
    let what = match head {
        Ok(h) if h.starts_with(&kairos::snapshot::SNAPSHOT_MAGIC) => return Ok(()),
        Ok(h) if is_model_text(&h) => "holds JSON (a model?), not a Kairos snapshot".to_string(),
        Ok(_) => "is not a Kairos snapshot".to_string(),
        Err(e) => format!("cannot be read to check that it is a snapshot ({e})"),
    };
    let hint = if elsewhere == out {
        String::new()
    } else {
        format!(", or write the snapshot elsewhere, such as -o {}", elsewhere.display())
    };
    Err(Fail::usage(format!(
        "{}: already exists and {what}; pass --force to overwrite it{hint}",
        out.display()
    )))
}

/// Whether two paths name one existing file (through links or `..` too).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The repository root for a fixture: the nearest ancestor holding `Cargo.toml`, else the cwd.
fn repo_root(fixture: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(fixture).unwrap_or_else(|_| fixture.to_path_buf());
    abs.ancestors()
        .find(|d| d.join("Cargo.toml").is_file() && d.join("examples").is_dir())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `s` is `len` lowercase hex digits, as ids are written (decision and install ids, pids).
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn print_journey(j: &Journey, results: &[StepResult]) -> Result<(), Fail> {
    say!("== {} ==", j.name);
    if !j.description.is_empty() {
        say!("{}", j.description);
    }
    let mut stage: Option<String> = None;
    for r in results {
        let time = r.at.get(5..16).unwrap_or(&r.at).replace('T', " ");
        let mut line = format!("{time}  {:<24}", r.action);
        if let Some(items) = &r.items {
            let shown = if items.is_empty() { "(fallback)".to_string() } else { items.join(", ") };
            line.push_str(&format!(" -> {shown}"));
            if let Some(s) = &r.shows {
                line.push_str(&format!(" \u{201c}{s}\u{201d}"));
            }
            if let Some(reason) = r.reason.as_deref().filter(|r| *r != "chosen") {
                line.push_str(&format!(" [{reason}]"));
            }
        }
        if r.stage != stage {
            line.push_str(&format!(
                "  stage: {} -> {}",
                stage.as_deref().unwrap_or("-"),
                r.stage.as_deref().unwrap_or("-")
            ));
            stage = r.stage.clone();
        }
        say!("{line}");
        if let Some(note) = &r.note {
            say!("{:19}{note}", "");
        }
        if let Some(e) = &r.error {
            say!("{:19}error: {e}", "");
        }
        for m in &r.mismatches {
            say!("{:19}MISMATCH {m}", "");
        }
    }
    let segs = results.last().map(|r| r.segments.join(", ")).unwrap_or_default();
    say!("   final segments: [{segs}]\n");
    Ok(())
}
