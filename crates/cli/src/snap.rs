//! `compile`, `keygen`, `inspect`, `diff` and `token`: making, signing and reading snapshots and
//! trait tokens.

use std::path::Path;

use kairos::codec::HEADER_LEN;
use kairos::sign::{PublicKey, SecretKey};
use kairos::{snapshot, Model};
use serde_json::{json, Value as Json};

use crate::{compile, hex, read, Fail};

mod diff;
pub use diff::diff;

/// Reads a secret key file.
pub fn secret_key(path: &Path) -> Result<SecretKey, Fail> {
    SecretKey::parse(&read(path)?).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))
}

/// Reads a public key file; a secret key file gives its public half.
pub fn public_key(path: &Path) -> Result<PublicKey, Fail> {
    let text = read(path)?;
    PublicKey::parse(&text)
        .or_else(|e| SecretKey::parse(&text).map(|k| k.public()).map_err(|_| e))
        .map_err(|e| Fail::usage(format!("{}: {e}", path.display())))
}

/// `kairos compile`: model to snapshot, signed when a key is given.
pub fn compile_cmd(model: &Path, out: &Path, key: Option<&Path>) -> Result<(), Fail> {
    // Over the model or a key, the snapshot would destroy what made it (a signing key cannot be
    // made again: devices trust only it).
    let over = if same_file(model, out) {
        Some("the model file itself")
    } else if key.is_some_and(|k| same_file(k, out)) {
        Some("the signing key itself")
    } else if out.extension().is_some_and(|x| x.eq_ignore_ascii_case("key") || x.eq_ignore_ascii_case("pub"))
    {
        Some("a key file's name")
    } else {
        None
    };
    if let Some(what) = over {
        return Err(Fail::usage(format!(
            "{}: -o is {what}; write the snapshot elsewhere, such as -o {}",
            out.display(),
            model.with_extension("kairos").display()
        )));
    }
    let key = key.map(secret_key).transpose()?;
    let compiled = crate::compile_warned(model)?;
    let bytes = match &key {
        Some(k) => snapshot::encode_signed(&compiled.model, k),
        None => snapshot::encode(&compiled.model),
    };
    write_atomic(out, &bytes)?;
    let signed = key.map_or_else(|| "unsigned".to_string(), |k| format!("signed by key {}", k.public().id()));
    // The file's hash is what `serve` uses (ETag, `/meta`, the immutable URL); the body's is
    // the model's content, the same whatever key signed it.
    say!(
        "{}: version {}, {} bytes, sha256 {} (body sha256 {}), {signed}",
        out.display(),
        compiled.model.version,
        bytes.len(),
        hex(&kairos::codec::sha256(&bytes)),
        hex(&kairos::codec::sha256(bytes.get(HEADER_LEN..HEADER_LEN + body_len(&bytes)).unwrap_or_default()))
    );
    if bytes.len() > WX_STORAGE_MAX {
        eprintln!("{}: warning: {}", out.display(), too_large_for_wx(bytes.len()));
    }
    Ok(())
}

/// The largest snapshot a mini-program can keep: the package stores it as base64 under one key,
/// and WeChat takes at most 1 MB (1,048,576 bytes) per key; the record's own header takes ~40.
pub const WX_STORAGE_MAX: usize = (1_048_576 - 64) / 4 * 3;

/// Why a snapshot of `len` bytes is over [`WX_STORAGE_MAX`] (mini-program review: nothing said so).
pub fn too_large_for_wx(len: usize) -> String {
    format!(
        "{len} bytes: over the {WX_STORAGE_MAX} bytes a WeChat mini-program can keep in its storage (base64 \
         under one key of at most 1 MB), so mini-programs fetch it again at every launch and run an older \
         one offline; web storefronts are not affected"
    )
}

/// Whether two paths name one existing file (through links or `..` too).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn body_len(bytes: &[u8]) -> usize {
    snapshot::header(bytes).map_or(0, |h| h.body_len as usize)
}

/// Writes through a temporary file of its own (synced, removed on failure) and a rename, so a
/// reader never sees half a file, even after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Fail> {
    write_file(path, bytes, false, true).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))
}

/// `kairos keygen`: writes `STEM.key` (secret) and `STEM.pub` (public).
pub fn keygen(out: &Path, force: bool) -> Result<(), Fail> {
    if out.extension().is_some_and(|x| x == "key" || x == "pub") {
        let stem = out.with_extension("");
        return Err(Fail::usage(format!(
            "{}: give the name without `.key` or `.pub` (`-o {}` writes {}.key and {}.pub)",
            out.display(),
            stem.display(),
            stem.display(),
            stem.display()
        )));
    }
    // `-o keys/` or `-o .` would write the hidden files `keys/.key` or `..key`.
    let text = out.as_os_str().to_string_lossy();
    if text.is_empty() || text.ends_with(std::path::MAIN_SEPARATOR) || text.ends_with('/') || out.is_dir() {
        return Err(Fail::usage(format!(
            "{}: a directory; give the key files' name in it, such as -o {}",
            out.display(),
            out.join("signing").display()
        )));
    }
    let (secret_path, public_path) = key_paths(out);
    // Neither target may be a directory: found only when writing the second, the first (the
    // secret key, with --force) would already be replaced.
    for p in [&secret_path, &public_path] {
        if p.is_dir() {
            return Err(Fail::usage(format!("{}: is a directory", p.display())));
        }
    }
    let exists = |p: &Path| {
        Fail::usage(format!(
            "{}: already exists; pass --force to overwrite it (a lost key cannot sign updates devices accept)",
            p.display()
        ))
    };
    // `symlink_metadata`: a dangling link exists too (writing through it would put the key
    // wherever it points).
    for p in [&secret_path, &public_path] {
        if !force && std::fs::symlink_metadata(p).is_ok() {
            return Err(exists(p));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Fail::usage(format!("no secure random source: {e}")))?;
    let sk = SecretKey::from_seed(&seed);
    let pk = sk.public();
    let secret = format!(
        "# Kairos Ed25519 signing key {}: keep it secret, out of version control.\n{}\n",
        pk.id(),
        sk.to_text()
    );
    let public =
        format!("# Kairos Ed25519 public key {}: give it to the devices.\n{}\n", pk.id(), pk.to_text());
    for (path, text, private) in [(&secret_path, secret, true), (&public_path, public, false)] {
        write_file(path, text.as_bytes(), private, force).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(path),
            _ => Fail::usage(format!("{}: {e}", path.display())),
        })?;
    }
    say!("{}: secret key\n{}: public key {}", secret_path.display(), public_path.display(), pk.id());
    Ok(())
}

/// `STEM.key` and `STEM.pub`: the suffixes are appended, never put in place of what follows a
/// dot, so `-o brand.2027` writes `brand.2027.key` (replacing the extension wrote `brand.key`,
/// over the live key with `--force`).
fn key_paths(stem: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let with = |suffix: &str| {
        let mut name = stem.as_os_str().to_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    (with(".key"), with(".pub"))
}

/// Writes `bytes` to a new temporary file beside `path`, syncs it and moves it into place, so a
/// reader never sees half a file, then syncs the directory. The temporary name is unique and the file created new
/// (`create_new`: never through a symlink), with mode 0600 when `private`; it is removed on
/// failure. With `replace` it is renamed over `path` (a symlink there is replaced, not
/// followed); without, it is linked to `path`, which fails with `AlreadyExists` when anything
/// is there, a dangling symlink included.
pub(crate) fn write_file(path: &Path, bytes: &[u8], private: bool, replace: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path.file_name().ok_or_else(|| std::io::Error::other("not a file name"))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(".{}.{}-{}.tmp", name.to_string_lossy(), std::process::id(), hex(&nonce)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o666 });
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(&tmp).map_err(|e| {
        // Said in the user's words: the folder to write into is not there.
        if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
            std::io::Error::new(
                e.kind(),
                format!("the folder {} does not exist; create it first", dir.display()),
            )
        } else {
            e
        }
    })?;
    let placed = f.write_all(bytes).and_then(|()| f.sync_all()).and_then(|()| {
        if replace {
            return std::fs::rename(&tmp, path);
        }
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => std::fs::remove_file(&tmp).or(Ok(())),
            // A file system without hard links: nothing there yet, so a rename will do.
            Err(e)
                if e.kind() != std::io::ErrorKind::AlreadyExists
                    && std::fs::symlink_metadata(path).is_err() =>
            {
                std::fs::rename(&tmp, path)
            }
            Err(e) => Err(e),
        }
    });
    if placed.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    // The new name is durable once the directory is synced too (a crash right after the rename
    // could otherwise bring the old file back). Best effort: not every platform syncs directories.
    #[cfg(unix)]
    if placed.is_ok() {
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all().ok();
        }
    }
    placed
}

/// Reads a snapshot file, or compiles a model file (`.json`, or text that starts with `{`).
fn load(path: &Path) -> Result<Model, Fail> {
    let bytes = std::fs::read(path).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?;
    if path.extension().is_some_and(|e| e == "json") || crate::is_model_text(&bytes) {
        return Ok(crate::compile_bytes(path, bytes)?.model);
    }
    snapshot::decode(&bytes).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))
}

/// `kairos inspect`.
pub fn inspect(path: &Path, key: Option<&Path>, json_out: bool) -> Result<bool, Fail> {
    let key = key.map(public_key).transpose()?;
    let bytes = std::fs::read(path).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?;
    if crate::is_model_text(&bytes) {
        return Err(Fail::usage(format!(
            "{p}: a model file, not a snapshot: `kairos check {p}` checks it, `kairos compile {p} -o snap.kairos` \
             makes a snapshot (`kairos diff` takes either)",
            p = path.display()
        )));
    }
    let parts = snapshot::parts(&bytes).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?;
    let m = snapshot::decode(&bytes).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?;
    // With --key the question is whether devices that trust that key take it: an unsigned
    // snapshot fails too.
    let (signature, verified) = match (parts.signed, &key) {
        (false, None) => ("unsigned".to_string(), None),
        (false, Some(k)) => (format!("unsigned: devices that trust key {} refuse it", k.id()), Some(false)),
        (true, None) => ("signed, not verified (pass --key signing.pub to check it)".to_string(), None),
        (true, Some(k)) => match snapshot::signed_by(&bytes, std::slice::from_ref(k)) {
            Some(Some(_)) => (format!("signed, valid for key {}", k.id()), Some(true)),
            _ => (format!("signed, INVALID for key {}", k.id()), Some(false)),
        },
    };
    let sections = sections(&m);
    let counts = counts(&m);
    let file_sha256 = hex(&kairos::codec::sha256(&bytes));
    let print = || -> Result<(), Fail> {
        if json_out {
            let out = json!({
                "file": path.display().to_string(),
                "bytes": bytes.len(),
                "format": parts.header.format,
                "name": m.name,
                "version": m.version,
                // The file's hash, as `compile` prints it and `serve` uses it (ETag, `/meta`).
                "sha256": file_sha256,
                "body_sha256": hex(&parts.header.sha256),
                "signed": parts.signed,
                // Whether it verifies with --key: null without one.
                "verified": verified,
                "key": key.as_ref().filter(|_| verified == Some(true)).map(PublicKey::id),
                "signature": signature,
                "counts": counts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "stages_by_day": kairos::engine::stages_by_day(&m),
                // Whether a WeChat mini-program can keep it in its storage (1 MB per key, base64).
                "fits_wx_storage": bytes.len() <= WX_STORAGE_MAX,
                "sections": sections.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            });
            say!("{out}");
        } else {
            say!("{}: Kairos snapshot, format {}", path.display(), parts.header.format);
            say!("  model      `{}` version {}", m.name, m.version);
            say!("  sha256     {file_sha256} (file; body {})", hex(&parts.header.sha256));
            say!("  signature  {signature}");
            let c: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
            say!("  counts     {}", c.join(", "));
            if !m.stages.is_empty() {
                say!("  stages     {}", stage_cost(&m));
            }
            say!("  bytes      {} total", bytes.len());
            if bytes.len() > WX_STORAGE_MAX {
                say!("             {}", too_large_for_wx(bytes.len()));
            }
            say!("    {:<12} {:>8}", "header", HEADER_LEN);
            for (name, n) in &sections {
                say!("    {:<12} {:>8}", name, n);
            }
            if parts.signed {
                say!("    {:<12} {:>8}", "signature", kairos::codec::SIGNATURE_LEN);
            }
        }
        Ok(())
    };
    // Printed, then the verdict, also when the reader closed stdout before the end.
    crate::printed(print(), &mut false)?;
    Ok(verified != Some(false))
}

/// How often an engine evaluates the model's stages (see [`kairos::engine::stages_by_day`]).
fn stage_cost(m: &Model) -> &'static str {
    if kairos::engine::stages_by_day(m) {
        "evaluated once a day and after each change to the profile (they read time by the day)"
    } else {
        "evaluated at every decision (a stage, or a segment or score it reads, reads the hour or the \
         stage itself: `hours_since`, `now`, `hours_in_stage` or `stage`)"
    }
}

fn counts(m: &Model) -> Vec<(&'static str, usize)> {
    vec![
        ("events", m.events.len()),
        ("traits", m.traits.len()),
        ("features", m.features.len()),
        ("scores", m.scores.len()),
        ("stages", m.stages.len()),
        ("segments", m.segments.len()),
        ("placements", m.placements.len()),
        ("offers", m.offers.len()),
        ("contents", m.contents.len()),
    ]
}

/// Bytes of each body section (they add up to the body length).
fn sections(m: &Model) -> Vec<(&'static str, usize)> {
    kairos::compile::body_sections(m)
}

/// How long a token is valid when no TTL is given.
pub const DEFAULT_TTL: &str = "7d";

/// Parses a duration such as `90s`, `30m`, `12h`, `7d` into ms; the error quotes `text` (the
/// caller names the place).
pub fn parse_ttl(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a duration: use a number and s, m, h or d, such as `7d`");
    let units = [("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
    let Some((num, ms)) = units.iter().find_map(|&(u, ms)| text.strip_suffix(u).map(|n| (n, ms))) else {
        return Err(bad());
    };
    let range = || format!("`{text}` is out of range: a token lives more than 0 s and at most 400 days");
    // Digits only: `parse` would take `+7d`; a negative number is out of range, below.
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let ttl = num.parse::<i64>().ok().and_then(|n| n.checked_mul(ms)).ok_or_else(range)?;
    if ttl <= 0 || ttl > MAX_TTL_MS {
        return Err(range());
    }
    Ok(ttl)
}

/// The earliest `--now` taken, ms: 2001-09-09 (1e12); any time in seconds is below it.
const EARLIEST_NOW_MS: i64 = 1_000_000_000_000;

/// The longest trait token lifetime, ms: 400 days.
pub const MAX_TTL_MS: i64 = 400 * 86_400_000;

/// The system clock in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A trait token for `user` with the traits of a JSON object, issued at `now` and valid for
/// `ttl_ms`, signed by `key`. The error says what is wrong with the traits.
pub fn mint(key: &SecretKey, user: &str, traits: &Json, now: i64, ttl_ms: i64) -> Result<String, String> {
    let claims = kairos::token::Claims {
        sub: user.to_string(),
        iat: now,
        exp: now.saturating_add(ttl_ms),
        traits: kairos::token::traits_from_json(traits)?,
    };
    Ok(kairos::token::sign(&claims, key))
}

/// `kairos token`. With `model`, the traits are first checked as a device running that model
/// checks them (names, types, an anniversary without its year), so a token it would refuse is
/// never printed.
pub fn token(
    key: &Path,
    user: &str,
    traits: &Path,
    ttl: &str,
    now: Option<i64>,
    model: Option<&Path>,
) -> Result<(), Fail> {
    let sk = secret_key(key)?;
    let ttl_text = ttl;
    let ttl = parse_ttl(ttl).map_err(|e| Fail::usage(format!("--ttl {e}")))?;
    if !is_pid(user) {
        return Err(Fail::usage(format!(
            "--user `{user}` is not a pseudonymous id (Profile::pid: 16 or 32 lowercase hex digits), and \
             devices refuse a token for anyone else; for a phone number, email or CRM id pass --phone, \
             --email or --external with --model"
        )));
    }
    let traits_json = kairos::compile::json_unique(&read(traits)?)
        .map_err(|e| Fail::usage(format!("{}: not JSON: {e}", traits.display())))?;
    // Milliseconds: a time in seconds (`date +%s`) would be January 1970, and every device
    // would refuse the token as expired.
    if let Some(n) = now.filter(|&n| n < EARLIEST_NOW_MS) {
        return Err(Fail::usage(format!(
            "--now {n} is before 2001 in milliseconds since 1970{}",
            if n > 0 { format!("; if it is seconds, pass {}", i128::from(n) * 1000) } else { String::new() }
        )));
    }
    // Nor far ahead of the clock: in microseconds or nanoseconds (`date +%s%N`), the token would
    // expire in the year 58,000 or later, past any TTL (devices check the expiry, not the issue).
    let clock = now_ms();
    if let Some(n) = now.filter(|&n| n > clock.saturating_add(MAX_TTL_MS)) {
        return Err(Fail::usage(format!(
            "--now {n} is more than 400 days after this machine's clock, in milliseconds since 1970; \
             if it is microseconds or nanoseconds, divide it by 1000 or 1000000"
        )));
    }
    let now = now.unwrap_or(clock);
    if now.saturating_add(ttl) <= clock {
        eprintln!(
            "warning: --now {now} with --ttl {ttl_text}: the token expired before this machine's clock; devices refuse it"
        );
    }
    let token = mint(&sk, user, &traits_json, now, ttl)
        .map_err(|e| Fail::usage(format!("{}: {e}", traits.display())))?;
    if let Some(model) = model {
        check_on_device(&sk, &compile(model)?.model, &traits_json, now, ttl).map_err(|e| {
            Fail::usage(format!(
                "{}: a device running {} would refuse it: {e}",
                traits.display(),
                model.display()
            ))
        })?;
    }
    say!("{token}");
    Ok(())
}

/// Whether `user` has the form of `Profile::pid`: the hex of an 8-byte install id or of the
/// first 16 bytes of an identifier's hash.
pub fn is_pid(user: &str) -> bool {
    crate::is_hex(user, 16) || crate::is_hex(user, 32)
}

/// Applies the same traits, in a token signed for its own shopper, to a consenting engine that
/// trusts `key`: what the device does with the real token, apart from the user check.
pub fn check_on_device(
    key: &SecretKey,
    model: &Model,
    traits: &Json,
    now: i64,
    ttl: i64,
) -> Result<(), String> {
    let mut engine = kairos::Engine::new(model.clone(), 1);
    engine.set_trust(kairos::sign::Trust::key(key.public()));
    engine.set_consent(true);
    let probe = mint(key, engine.profile().pid(), traits, now, ttl)?;
    engine.set_traits_token(&probe, now).map_err(|e| e.to_string())
}

/// The pseudonymous id (`Profile::pid`) of an identified shopper: the hex of the first 16 bytes
/// of the salted hash of the identifier, with the model's `id_salt`.
pub fn pid_of(model: &Path, kind: kairos::profile::identity::IdKind, raw: &str) -> Result<String, Fail> {
    let m = compile(model)?.model;
    let hash = kairos::profile::identity::pseudonymous_id(m.id_salt.as_bytes(), kind, raw)
        .map_err(|e| Fail::usage(format!("--{}: {e}", kind.tag())))?;
    Ok(hex(hash.get(..16).unwrap_or(&hash)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit_within_400_days() {
        assert_eq!(parse_ttl("90s").unwrap(), 90_000);
        assert_eq!(parse_ttl("30m").unwrap(), 1_800_000);
        assert_eq!(parse_ttl("12h").unwrap(), 43_200_000);
        assert_eq!(parse_ttl("400d").unwrap(), MAX_TTL_MS);
        for bad in ["7", "d", "7x", "7日", "日", "-1d", "0s", "1.5h", " 7d", "", "+7d", "-d", "--1d"] {
            assert!(
                parse_ttl(bad).unwrap_err().contains("is not a duration") || bad == "-1d" || bad == "0s",
                "{bad}"
            );
        }
        for out in ["401d", "34560000d", "9223372036854775807s", "-1d", "0s"] {
            assert!(parse_ttl(out).is_err(), "{out}");
        }
        assert!(parse_ttl("401d").unwrap_err().contains("at most 400 days"));
        // Too large to hold is out of range too, not "not a duration".
        assert!(parse_ttl("9999999999999999999d").unwrap_err().contains("is out of range"));
        assert!(parse_ttl("+7d").unwrap_err().contains("is not a duration"));
    }
}
