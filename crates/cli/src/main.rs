//! The `kairos` command: compile model files into snapshots and replay journeys.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use kairos::journey::{self, Journey, StepResult};

#[derive(Parser)]
#[command(
    name = "kairos",
    version,
    about = "Compile Kairos models into snapshots and replay shopper journeys"
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
    /// Compile a model file into a snapshot.
    Compile {
        /// The model (JSON).
        model: PathBuf,
        /// Where to write the snapshot.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Replay a journey fixture against a model and print what the shopper sees.
    Simulate {
        /// The model (JSON); defaults to the one the journey names.
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn compile(path: &Path) -> Result<kairos::Compiled, String> {
    let text = read(path)?;
    kairos::compile_str(&text).map_err(|errors| {
        let mut s = format!("{}: ", path.display());
        s.push_str(&errors.to_string());
        s.trim_end().to_string()
    })
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Check { model } => {
            let compiled = compile(&model)?;
            for w in &compiled.warnings {
                eprintln!("{}: {w}", model.display());
            }
            let m = &compiled.model;
            println!(
                "{}: ok: `{}` version {}, {} stages, {} segments, {} features, {} offers in {} placements, {} warnings",
                model.display(),
                m.name,
                m.version,
                m.stages.len(),
                m.segments.len(),
                m.features.len(),
                m.offers.len(),
                m.placements.len(),
                compiled.warnings.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compile { model, out } => {
            let compiled = compile(&model)?;
            for w in &compiled.warnings {
                eprintln!("{}: {w}", model.display());
            }
            let bytes = kairos::snapshot::encode(&compiled.model);
            std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "{}: version {}, {} bytes, sha256 {}",
                out.display(),
                compiled.model.version,
                bytes.len(),
                hex(&kairos::codec::sha256(bytes.get(kairos::codec::HEADER_LEN..).unwrap_or_default()))
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate { model, journeys, json } => {
            let mut failed = 0usize;
            for path in journeys {
                let j: Journey =
                    serde_json::from_str(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
                let model_path = model.clone().unwrap_or_else(|| repo_root(&path).join(&j.model));
                let compiled = compile(&model_path)?;
                let results =
                    journey::run(&j, compiled.model).map_err(|e| format!("{}: {e}", path.display()))?;
                failed += results.iter().filter(|r| !r.mismatches.is_empty()).count();
                if json {
                    for r in &results {
                        println!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
                    }
                } else {
                    print_journey(&j, &results);
                }
            }
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
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

fn print_journey(j: &Journey, results: &[StepResult]) {
    println!("== {} ==", j.name);
    if !j.description.is_empty() {
        println!("{}", j.description);
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
        println!("{line}");
        if let Some(note) = &r.note {
            println!("{:19}{note}", "");
        }
        if let Some(e) = &r.error {
            println!("{:19}error: {e}", "");
        }
        for m in &r.mismatches {
            println!("{:19}MISMATCH {m}", "");
        }
    }
    let segs = results.last().map(|r| r.segments.join(", ")).unwrap_or_default();
    println!("   final segments: [{segs}]\n");
}
