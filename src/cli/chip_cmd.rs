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
            let c = characterize::characterize(&model, seed);
            print!("{c}");
            let bad = c.non_finite();
            if !bad.is_empty() {
                anyhow::bail!(
                    "chip characterize {chip}: {} measurement{} not a finite number ({}): the model's parameters leave nothing to measure there",
                    bad.len(),
                    if bad.len() == 1 { " is" } else { "s are" },
                    bad.join("; ")
                );
            }
            Ok(())
        }
    }
}
