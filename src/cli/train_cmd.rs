//! `npchip train`: the flags are [`crate::run::KEYS`], collected raw into [`Settings`], checked
//! once, and trained into an HDF5 file with a progress bar.

use crate::run::{Cancel, RunDef, RunSpec, Settings, Shape, KEYS};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

/// Flags of `npchip train` (defaults: the embedded digits on the noisy `rram` chip with
/// noisy–noisy DANP, which learns to well above chance in well under a minute on 2 cores).
///
/// The flags are built from [`KEYS`], one per key, and clap only splits the command line: the
/// values are kept as typed and judged by [`Settings::check`], so every bad value is reported
/// at once, in the same words a sweep TOML or a Python keyword gets.
#[derive(Debug, Clone, Default)]
pub struct TrainArgs {
    /// The typed values (keys left at their defaults are not in it).
    pub settings: Settings,
}

/// The clap argument of one key.
fn arg_of(k: &crate::run::Key) -> Arg {
    // clap (without its `string` feature) takes `&'static str`; a command is built a few times
    // per process, so leaking the few dashed names is bounded.
    let long: &'static str = Box::leak(k.flag().into_boxed_str());
    let mut a = Arg::new(k.name)
        .long(long)
        .help(k.help)
        .help_heading(k.heading);
    a = if k.value_name.is_empty() {
        a.value_name(&*Box::leak(k.name.to_uppercase().into_boxed_str()))
    } else {
        a.value_name(k.value_name)
    };
    if k.name == "out" {
        a = a.short('o');
    }
    a = match k.shape {
        Shape::Switch => a.action(ArgAction::SetTrue),
        Shape::Value => a.action(ArgAction::Set),
        Shape::List => a.action(ArgAction::Append).value_delimiter(','),
        Shape::Repeated => a.action(ArgAction::Append),
    };
    if let Some(d) = k.default {
        a = a.default_value(d);
    }
    if k.negative {
        a = a.allow_hyphen_values(true);
    }
    a
}

impl Args for TrainArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(KEYS.iter().map(arg_of))
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for TrainArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = Settings::default();
        for k in KEYS {
            if m.value_source(k.name) != Some(ValueSource::CommandLine) {
                continue;
            }
            let raw = || -> Vec<String> {
                m.get_raw(k.name)
                    .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default()
            };
            match k.shape {
                Shape::Switch => settings.set(k.name, "true"),
                Shape::Value => settings.set(k.name, raw().last().map_or("", |s| s.as_str())),
                Shape::List => settings.set(k.name, &raw().join(",")),
                Shape::Repeated => raw().iter().for_each(|v| settings.set(k.name, v)),
            }
        }
        Ok(TrainArgs { settings })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl TrainArgs {
    /// The checked run definition.
    pub fn def(&self) -> Result<RunDef, crate::run::Violations> {
        self.settings.check()
    }

    /// The checked training spec (for tests and scripts that drive the loop themselves).
    pub fn to_spec(&self) -> Result<RunSpec, crate::run::Violations> {
        self.def().map(|d| d.spec)
    }

    /// Loads the dataset named by `--data` with the subset flags.
    pub fn dataset(&self) -> anyhow::Result<crate::data::Dataset> {
        Ok(crate::run::dataset(&self.def()?)?)
    }
}

/// Runs `npchip train`: Ctrl-C cancels after the batch (twice: exits), and the outcome is
/// said on stdout; an interrupted run is an error (exit status 1), with how to go on.
pub(super) fn run(args: TrainArgs, quiet: bool) -> anyhow::Result<()> {
    let def = args.def()?;
    let cancel = Cancel::new();
    super::interrupt::cancel_on_ctrl_c(&cancel);
    let mut term = super::progress::Terminal::new(quiet);
    let outcome = crate::run::train_to_file(&def, &cancel, crate::run::Progress::To(&mut term));
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match outcome {
        Ok(o) => {
            let status = if o.interrupted {
                "interrupted"
            } else {
                "completed"
            };
            println!(
                "{}: {} {status}, {} epoch{} in the file",
                o.path.display(),
                o.run,
                o.epochs_done,
                plural(o.epochs_done)
            );
            if o.interrupted {
                // Interrupted is not success: the exit status says so (as `sweep` does), and
                // the message says what the file holds and how to go on.
                anyhow::bail!(
                    "interrupted (Ctrl-C or SIGTERM) in epoch {}: run {} in {} holds the {} finished epoch{}; continue with: npchip train --resume {}",
                    o.last_epoch,
                    o.run,
                    o.path.display(),
                    o.epochs_done,
                    plural(o.epochs_done),
                    o.path.display()
                );
            }
            Ok(())
        }
        Err(crate::run::RunError::Train {
            path,
            run,
            epochs_done,
            status,
            source,
        }) => {
            println!(
                "{}: {run} {status}, {epochs_done} epoch{} in the file",
                path.display(),
                plural(epochs_done)
            );
            Err(anyhow::Error::new(source).context(format!("run {run} in {}", path.display())))
        }
        Err(e) => Err(e.into()),
    }
}
