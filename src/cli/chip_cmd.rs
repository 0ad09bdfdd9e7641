//! `npchip chip list|show|export|characterize`.
//!
//! `export` prints a preset's TOML exactly as shipped (comments, units, sources), because a user
//! with only the binary has no other way to get a file to edit; `--chip FILE` then reads it back.

use super::ChipCommand;
use crate::chip::presets;
use crate::lab::characterize;

/// The preset text to save and edit, or an error naming the presets.
pub fn export_text(name: &str) -> anyhow::Result<&'static str> {
    presets::preset_text(name).ok_or_else(|| {
        anyhow::anyhow!(
            "chip export: `{name}` is not a preset; presets: {} (a TOML file is already editable as it is)",
            presets::preset_names().join(", ")
        )
    })
}

/// The hint under `chip show`: how to get an editable copy of what was shown.
fn copy_hint(chip: &str, overrides: &[String]) -> String {
    if presets::preset_text(chip).is_some() && !std::path::Path::new(chip).is_file() {
        let sets = if overrides.is_empty() {
            String::new()
        } else {
            " (the export is the preset as shipped: write your --set values into the file)"
                .to_string()
        };
        format!(
            "\nto edit this model: npchip chip export {chip} > mychip.toml, change it, then \
             train with --chip mychip.toml{sets}\n"
        )
    } else {
        format!("\nto run on this model: --chip {chip}\n")
    }
}

pub(super) fn run(c: ChipCommand) -> anyhow::Result<()> {
    match c {
        ChipCommand::List => {
            for name in presets::preset_names() {
                let m = presets::resolve(name, &[])?;
                println!("{name:<8} {}", m.spec().description);
            }
            println!("\n(npchip chip show NAME: every parameter; npchip chip export NAME > FILE: an editable copy)");
            Ok(())
        }
        ChipCommand::Show { chip, set } => {
            print!("{}", presets::describe(&presets::resolve(&chip, &set)?));
            print!("{}", copy_hint(&chip, &set));
            Ok(())
        }
        ChipCommand::Export { name } => {
            print!("{}", export_text(&name)?);
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
