//! `npchip chip list|show|characterize`.

use super::ChipCommand;
use crate::chip::{characterize, presets};

pub(super) fn run(c: ChipCommand) -> anyhow::Result<()> {
    match c {
        ChipCommand::List => {
            for name in presets::preset_names() {
                let m = presets::resolve(name, &[])?;
                println!("{name:<8} {}", m.spec().description);
            }
            Ok(())
        }
        ChipCommand::Show { chip, set } => {
            print!("{}", presets::describe(&presets::resolve(&chip, &set)?));
            Ok(())
        }
        ChipCommand::Characterize { chip, set, seed } => {
            let model = presets::resolve(&chip, &set)?;
            print!("{}", characterize::characterize(&model, seed));
            Ok(())
        }
    }
}
