//! `kairos serve`: placeholder until the server lands.

use std::path::PathBuf;

use crate::Fail;

/// Options of `kairos serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder of model files (`CHANNEL.json`).
    #[arg(long)]
    pub models: PathBuf,
}

/// Runs the server.
pub fn run(args: Args) -> Result<(), Fail> {
    Err(Fail::usage(format!("serve is not implemented yet ({})", args.models.display())))
}
