//! A run's defining attributes: written from a [`RunSpec`] and read back into one, so a file
//! says exactly what produced it and `--resume` can rebuild the run from the file alone.

use super::hdf5::{OutputError, RunOptions};
use super::schema::{attr_bool, attr_f32, attr_int, attr_text, bad, h5err, missing, Attr};
use super::TraceLevel;
use crate::chip::{ChipSpec, DecorPrecision, DecorRule, InjectedNoise};
use crate::data::Dataset;
use crate::learn::RuleSpec;
use crate::run::RunSpec;
use ::hdf5::Location;
use std::path::Path;
use std::str::FromStr;

/// Writes every field of `spec`, the data identity and the output options as attributes.
pub(crate) fn write(
    path: &Path,
    run: &Location,
    spec: &RunSpec,
    data: &Dataset,
    opts: &RunOptions,
) -> Result<(), OutputError> {
    let a = Attr { path };
    let chip = &spec.chip;
    // The rule; whether it peeked inside the chip is the chip's record, rewritten per epoch.
    a.text(run, "rule", &spec.rule.to_string())?;
    a.scalar(run, "resamples", spec.rule.resamples as u64)?;
    a.scalar(run, "decorrelated", spec.rule.decorrelated)?;
    a.scalar(run, "oracle", false)?;
    a.text(run, "oracle_uses", "")?;
    // The chip: full TOML (re-parsed by --resume) and flattened keys for tables.
    a.text(run, "chip_name", &chip.spec().name)?;
    a.text(run, "chip_origin", &chip.origin)?;
    a.text(run, "chip_toml", &chip.to_toml())?;
    for (k, v) in chip.flattened() {
        a.toml(run, &format!("chip.{k}"), &v)?;
    }
    // Network and learning hyper-parameters.
    let sizes: Vec<u64> = spec.sizes(data).iter().map(|&s| s as u64).collect();
    a.array(run, "sizes", &sizes)?;
    a.array(
        run,
        "hidden",
        &spec.hidden.iter().map(|&h| h as u64).collect::<Vec<_>>(),
    )?;
    a.scalar(run, "n_layers", (sizes.len() - 1) as u64)?;
    // The network as layer kinds ("" for the dense net of `hidden`), canonical form.
    a.text(
        run,
        "arch",
        &spec.arch.as_ref().map_or(String::new(), |s| s.to_string()),
    )?;
    a.text(run, "loss", spec.loss.name())?;
    a.text(run, "optimizer", &spec.optimizer.to_string())?;
    a.scalar(run, "lr", spec.lr)?;
    let (decor, kappa) = match spec.decor_rule {
        DecorRule::Plain => ("plain", 0.0),
        DecorRule::Kappa { kappa } => ("kappa", kappa),
        DecorRule::Whiten => ("whiten", 0.0),
    };
    a.text(run, "decor_rule", decor)?;
    a.scalar(run, "decor_kappa", kappa)?;
    a.scalar(run, "decor_lr", spec.decor_lr)?;
    let (prec, bits, bound) = match spec.decor_precision {
        DecorPrecision::F32 => ("f32", 0u32, 0.0f32),
        DecorPrecision::Fixed { bits, bound } => ("fixed", bits, bound),
        DecorPrecision::Analog { range } => ("analog", 0, range),
    };
    a.text(run, "decor_precision", prec)?;
    a.scalar(run, "decor_bits", bits)?;
    a.scalar(run, "decor_bound", bound)?;
    a.scalar(run, "decor_sample", spec.decor_sample)?;
    a.scalar(run, "decor_every", spec.decor_every)?;
    a.text(run, "decor_blocks", &spec.decor_blocks.to_string())?;
    a.text(run, "decor_layers", &spec.decor_layers.to_string())?;
    let (inject, sigma) = match spec.inject {
        InjectedNoise::None => ("none", 0.0),
        InjectedNoise::Hidden { sigma } => ("hidden", sigma),
        InjectedNoise::Readable { sigma } => ("readable", sigma),
    };
    a.text(run, "inject", inject)?;
    a.scalar(run, "inject_sigma", sigma)?;
    a.scalar(run, "leaky_slope", spec.leaky_slope)?;
    a.scalar(run, "epochs", spec.epochs as u64)?;
    a.scalar(run, "batch", spec.batch as u64)?;
    a.scalar(run, "seed", spec.seed)?;
    a.scalar(run, "diagnostics", spec.diagnostics)?;
    a.scalar(run, "log_every", spec.log_every as u64)?;
    // The data: the spec string to reload it, and its identity to check a reload.
    a.text(run, "data", &opts.data_spec)?;
    a.text(run, "data_name", &data.name)?;
    a.text(run, "data_source_hash", &data.source_hash)?;
    a.scalar(run, "train_size", data.train.len() as u64)?;
    a.scalar(run, "test_size", data.test.len() as u64)?;
    a.scalar(
        run,
        "train_samples_requested",
        opts.train_samples.map_or(-1, |n| n as i64),
    )?;
    a.scalar(
        run,
        "test_samples_requested",
        opts.test_samples.map_or(-1, |n| n as i64),
    )?;
    a.scalar(run, "n_classes", data.n_classes as u64)?;
    a.scalar(run, "features", data.features() as u64)?;
    // Output options.
    a.text(run, "trace", opts.trace.name())?;
    a.scalar(run, "checkpoints", opts.checkpoints)?;
    Ok(())
}

/// Reads a u64 attribute at full width (seeds and stream states use all 64 bits).
pub(crate) fn attr_u64(path: &Path, loc: &Location, name: &str) -> Result<u64, OutputError> {
    let a = loc
        .attr(name)
        .map_err(|_| missing(path, format!("{}@{name}", loc.name())))?;
    a.read_scalar::<u64>()
        .map_err(|e| h5err(path, format!("reading attribute {}@{name}", loc.name()), e))
}

/// Reads a 1-D u64 attribute at full width.
pub(crate) fn attr_u64s(path: &Path, loc: &Location, name: &str) -> Result<Vec<u64>, OutputError> {
    let a = loc
        .attr(name)
        .map_err(|_| missing(path, format!("{}@{name}", loc.name())))?;
    a.read_raw::<u64>()
        .map_err(|e| h5err(path, format!("reading attribute {}@{name}", loc.name()), e))
}

/// Rebuilds the [`RunSpec`] and [`RunOptions`] from the attributes [`write`] wrote.
pub(crate) fn read(path: &Path, run: &Location) -> Result<(RunSpec, RunOptions), OutputError> {
    let obj = |k: &str| format!("{}@{k}", run.name());
    let toml_text = attr_text(path, run, "chip_toml")?;
    let origin = attr_text(path, run, "chip_origin")?;
    let chip = ChipSpec::parse(&toml_text, &origin, &[])
        .and_then(|s| s.check(&origin))
        .map_err(|e| {
            bad(
                path,
                obj("chip_toml"),
                format!("does not parse as a chip model: {e}"),
            )
        })?;
    let rule_text = attr_text(path, run, "rule")?;
    let mut rule: RuleSpec = rule_text
        .parse()
        .map_err(|e: String| bad(path, obj("rule"), e))?;
    // A stored 0 is not replaced by 1: a file that says it is the file's problem.
    let resamples = attr_int(path, run, "resamples")?;
    if !(1..=crate::run::limits::MAX_RESAMPLES as i64).contains(&resamples) {
        return Err(bad(
            path,
            obj("resamples"),
            format!(
                "{resamples} is outside 1..={}",
                crate::run::limits::MAX_RESAMPLES
            ),
        ));
    }
    rule.resamples = resamples as usize;
    // The split attributes are joined into the text each choice's one parser reads.
    let loss = parse_attr(path, run, "loss", attr_text(path, run, "loss")?)?;
    let optimizer = parse_attr(path, run, "optimizer", attr_text(path, run, "optimizer")?)?;
    let decor_rule: DecorRule = match attr_text(path, run, "decor_rule")?.as_str() {
        "kappa" => parse_attr(
            path,
            run,
            "decor_rule",
            format!("kappa:{}", attr_f32(path, run, "decor_kappa")?),
        )?,
        other => parse_attr(path, run, "decor_rule", other.to_string())?,
    };
    let decor_precision: DecorPrecision = match attr_text(path, run, "decor_precision")?.as_str() {
        "fixed" => parse_attr(
            path,
            run,
            "decor_precision",
            format!(
                "fixed:{}:{}",
                attr_int(path, run, "decor_bits")?,
                attr_f32(path, run, "decor_bound")?
            ),
        )?,
        "analog" => parse_attr(
            path,
            run,
            "decor_precision",
            format!("analog:{}", attr_f32(path, run, "decor_bound")?),
        )?,
        other => parse_attr(path, run, "decor_precision", other.to_string())?,
    };
    // Files written before the cheap-decorrelation options have none of them: their runs
    // learned R at every step from every sample, full, on every layer (the defaults).
    let names = run
        .attr_names()
        .map_err(|e| h5err(path, "listing run attributes", e))?;
    let has = |k: &str| names.iter().any(|n| n == k);
    let decor_sample = if has("decor_sample") {
        attr_f32(path, run, "decor_sample")?
    } else {
        1.0
    };
    let decor_every = if has("decor_every") {
        let k = attr_int(path, run, "decor_every")?;
        u32::try_from(k).ok().filter(|&k| k >= 1).ok_or_else(|| {
            bad(
                path,
                obj("decor_every"),
                format!("{k} is not an integer ≥ 1"),
            )
        })?
    } else {
        1
    };
    let decor_blocks = parse_attr_or_default(path, run, has("decor_blocks"), "decor_blocks")?;
    let decor_layers = parse_attr_or_default(path, run, has("decor_layers"), "decor_layers")?;
    let inject: InjectedNoise = match attr_text(path, run, "inject")?.as_str() {
        "none" => InjectedNoise::None,
        other => parse_attr(
            path,
            run,
            "inject",
            format!("{other}:{}", attr_f32(path, run, "inject_sigma")?),
        )?,
    };
    let hidden = super::schema::attr_ints(path, run, "hidden")?
        .into_iter()
        .map(|h| h as usize)
        .collect();
    // Files written before conv layers have no `arch`: their net is the dense one of `hidden`.
    let arch =
        match run
            .attr_names()
            .map_err(|e| h5err(path, "listing run attributes", e))?
            .iter()
            .any(|n| n == "arch")
        {
            false => None,
            true => match attr_text(path, run, "arch")?.as_str() {
                "" => None,
                s => Some(s.parse().map_err(|e: crate::chip::NetSpecError| {
                    bad(path, obj("arch"), e.to_string())
                })?),
            },
        };
    let spec = RunSpec {
        chip,
        rule,
        hidden,
        arch,
        loss,
        optimizer,
        lr: attr_f32(path, run, "lr")?,
        decor_rule,
        decor_lr: attr_f32(path, run, "decor_lr")?,
        decor_precision,
        decor_sample,
        decor_every,
        decor_blocks,
        decor_layers,
        inject,
        leaky_slope: attr_f32(path, run, "leaky_slope")?,
        epochs: attr_int(path, run, "epochs")? as usize,
        batch: attr_int(path, run, "batch")? as usize,
        seed: attr_u64(path, run, "seed")?,
        diagnostics: attr_bool(path, run, "diagnostics")?,
        log_every: attr_int(path, run, "log_every")? as usize,
    };
    let subset = |k: &str| -> Result<Option<usize>, OutputError> {
        let v = attr_int(path, run, k)?;
        Ok((v >= 0).then_some(v as usize))
    };
    let trace: TraceLevel = parse_attr(path, run, "trace", attr_text(path, run, "trace")?)?;
    let opts = RunOptions {
        data_spec: attr_text(path, run, "data")?,
        train_samples: subset("train_samples_requested")?,
        test_samples: subset("test_samples_requested")?,
        trace,
        checkpoints: attr_bool(path, run, "checkpoints")?,
    };
    Ok((spec, opts))
}

/// `text` (attribute `key`, or attributes joined into one choice's text) through the choice's
/// one parser; a file whose text it refuses is named with what is allowed.
/// A text attribute parsed by its type's `FromStr` when the file has it (`present`), else the
/// type's default: what a file written before that option existed ran with.
fn parse_attr_or_default<T: FromStr<Err = String> + Default>(
    path: &Path,
    run: &Location,
    present: bool,
    key: &str,
) -> Result<T, OutputError> {
    if present {
        parse_attr(path, run, key, attr_text(path, run, key)?)
    } else {
        Ok(T::default())
    }
}

fn parse_attr<T: FromStr<Err = String>>(
    path: &Path,
    run: &Location,
    key: &str,
    text: String,
) -> Result<T, OutputError> {
    text.parse().map_err(|allowed: String| {
        bad(
            path,
            format!("{}@{key}", run.name()),
            format!("`{text}`: allowed {allowed}"),
        )
    })
}
