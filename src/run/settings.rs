//! Raw settings of one training run: (key, text) pairs as typed, before any check.
//!
//! [`KEYS`] is the one list of keys: the CLI builds `npchip train`'s flags from it (long flag =
//! key with `-`), a sweep TOML's `[train]` table and Python's keyword arguments use the same
//! names, and [`Settings::check`](super::Settings::check) turns the text into a
//! [`super::RunDef`]. A key left unset takes the default written here, so every front end has
//! the same defaults by construction.

/// How a key takes its value on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A switch: present means `true` (in settings: `true` or `false`).
    Switch,
    /// One value; a later one replaces an earlier one.
    Value,
    /// A comma-separated list (`--hidden 100,50`); a later one replaces an earlier one.
    List,
    /// Repeatable: every occurrence adds one value (`--set A=1 --set B=2`).
    Repeated,
}

/// One key of a run's settings.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// The name (`decor_lr`; the CLI flag is `--decor-lr`).
    pub name: &'static str,
    /// How it takes its value.
    pub shape: Shape,
    /// The text used when the key is not set (None: unset means "not given").
    pub default: Option<&'static str>,
    /// A value may begin with `-` (`--lr -1` is then a range error, not an unknown flag).
    pub negative: bool,
    /// Placeholder in the help (`N`, `FILE`).
    pub value_name: &'static str,
    /// Help section.
    pub heading: &'static str,
    /// One-line help.
    pub help: &'static str,
}

const fn key(name: &'static str, default: Option<&'static str>, heading: &'static str) -> Key {
    Key {
        name,
        shape: Shape::Value,
        default,
        negative: false,
        value_name: "",
        heading,
        help: "",
    }
}

impl Key {
    const fn shape(mut self, shape: Shape) -> Key {
        self.shape = shape;
        self
    }
    const fn negative(mut self) -> Key {
        self.negative = true;
        self
    }
    const fn value_name(mut self, v: &'static str) -> Key {
        self.value_name = v;
        self
    }
    const fn help(mut self, h: &'static str) -> Key {
        self.help = h;
        self
    }

    /// The CLI flag without dashes (`decor-lr`).
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// Every key of a run, in help order. To add a key: an entry here, a field in
/// [`super::RunDef`] or [`super::RunSpec`], one line in `check.rs` parsing it, and one in
/// [`super::RunDef::to_pairs`] printing it (a test fails if the last is missing).
pub const KEYS: &[Key] = &[
    key("chip", Some("rram"), "Chip").help("Chip model: a preset (`npchip chip list`) or a TOML file."),
    key("set", None, "Chip")
        .shape(Shape::Repeated)
        .value_name("KEY=VALUE")
        .help("Override a chip parameter, e.g. `--set device.levels=16` (repeatable)."),
    key("inject", Some("none"), "Chip").help(
        "Injected noise: none, hidden:SIGMA (a generator no rule can read) or readable:SIGMA (NP, INP).",
    ),
    key("rule", Some("danp-nn"), "Learning").help(
        "Learning rule: bp, dbp, np, dnp, inp, dinp, anp, danp, anp-nn, danp-nn (d = decorrelated, -nn = noisy–noisy).",
    ),
    key("resamples", Some("1"), "Learning")
        .negative()
        .help("Noisy passes per sample (resampling K) for NP-type rules."),
    key("hidden", Some("100"), "Network")
        .shape(Shape::List)
        .negative()
        .help("Hidden layer widths, comma-separated."),
    key("arch", None, "Network").help(
        "Network as layer kinds, replacing --hidden: e.g. conv32k3p1,pool2,conv64k3p1,pool2,fc1000,fc10 (convCkK[pP][sS], maxpoolS/avgpoolS/poolS, fcN; the last is fcCLASSES).",
    ),
    key("leaky_slope", Some("0.2"), "Network")
        .negative()
        .help("Slope of the hidden layers' leaky ReLU for negative inputs (0: ReLU)."),
    key("loss", Some("ce"), "Learning")
        .help("Loss: ce (softmax cross-entropy) or mse (against one-hot targets)."),
    key("optimizer", Some("adam"), "Learning").help("Optimiser: sgd or adam."),
    key("lr", Some("0.003"), "Learning").negative().help("Learning rate."),
    key("decor_lr", Some("0.001"), "Learning")
        .negative()
        .help("Decorrelation learning rate η_R."),
    key("decor_rule", Some("plain"), "Learning")
        .help("Decorrelation rule: plain, kappa[:K] or whiten."),
    key("decor_precision", Some("f32"), "Learning").help(
        "Decorrelator precision: f32, fixed:BITS:BOUND, or analog[:RANGE] (R in a crossbar tile of the chip's device model; RANGE = |R_ij| at full swing, default 2).",
    ),
    key("decor_sample", Some("1"), "Learning").help(
        "Fraction f in (0, 1] of the batch's samples each R update learns from (⌈f·B⌉, a seeded draw per update; the forward R·h stays exact). Conv layers then take one in patch_stride of those samples' patches.",
    ),
    key("decor_every", Some("1"), "Learning")
        .negative()
        .value_name("K")
        .help("Update R at every K-th training step only (K ≥ 1; the first step included)."),
    key("decor_blocks", Some("full"), "Learning").help(
        "Decorrelator layout: full (one d×d R per layer) or array (block-diagonal, one block per physical array's input slice: d·rows entries instead of d²).",
    ),
    key("decor_layers", Some("all"), "Learning").help(
        "Which layers have a decorrelator: all, hidden (all but the input layer) or a comma-separated list of layer indices (0 = input layer).",
    ),
    key("epochs", Some("30"), "Training").negative().help("Epochs."),
    key("batch", Some("32"), "Training")
        .negative()
        .help("Mini-batch size."),
    key("seed", Some("1"), "Training")
        .negative()
        .help("Run seed: fabrication, noise, initialisation and shuffling all derive from it."),
    key("data", Some("digits"), "Data").help(
        "Dataset: digits (embedded), mnist:DIR, fashion:DIR, cifar10:DIR, cifar100:DIR, synthetic:...",
    ),
    key("train_samples", None, "Data")
        .negative()
        .value_name("N")
        .help("Use a seeded random subset of N training samples."),
    key("test_samples", None, "Data")
        .negative()
        .value_name("N")
        .help("Use a seeded random subset of N test samples."),
    key("out", None, "Output")
        .value_name("OUT")
        .help("Output HDF5 file (default: runs/<rule>-<chip>-s<seed>-<time>.h5)."),
    key("force", None, "Output")
        .shape(Shape::Switch)
        .help("Overwrite the output file if it exists."),
    key("resume", None, "Output")
        .value_name("FILE")
        .help("Continue the run in FILE from its last finished epoch."),
    key("diagnostics", None, "Output")
        .shape(Shape::Switch)
        .help("Oracle diagnostics per epoch: gradient alignment and input decorrelation."),
    key("log_every", Some("0"), "Output")
        .negative()
        .value_name("N")
        .help("Also record loss and accuracy every N steps."),
    key("trace", Some("summary"), "Output").help(
        "Hardware traces: none, summary (histograms) or full (plus per-device pulse totals and snapshots).",
    ),
    key("threads", Some("0"), "Training")
        .negative()
        .help("Threads for this run's matrix products (0: all cores)."),
];

/// The key named `name` (`-` and `_` alike).
pub fn find_key(name: &str) -> Option<&'static Key> {
    let name = name.trim().replace('-', "_");
    KEYS.iter().find(|k| k.name == name)
}

/// Raw settings of one training run: only the text given, per key; nothing is parsed until
/// [`Settings::check`](super::Settings::check), which reports every problem at once.
/// `Settings::default()` is "nothing given": every key at its default, as `npchip train`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// (key, text) in the order given; a `Value`/`List` key appears at most once.
    values: Vec<(&'static str, String)>,
    /// Keys that are not in [`KEYS`], with their text (each is a violation).
    pub(super) unknown: Vec<(String, String)>,
}

impl Settings {
    /// Records `value` for `key` (`-` or `_` alike). A repeatable key (`set`) adds one value
    /// per call, or one per line of `value`; any other key replaces its earlier value. An
    /// unknown key is kept, and `check` reports it.
    pub fn set(&mut self, key: &str, value: &str) {
        let Some(k) = find_key(key) else {
            self.unknown.push((key.to_string(), value.to_string()));
            return;
        };
        if k.shape == Shape::Repeated {
            self.values.extend(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| (k.name, l.to_string())),
            );
            return;
        }
        match self.values.iter_mut().find(|(n, _)| *n == k.name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.values.push((k.name, value.to_string())),
        }
    }

    /// Removes every value given for `key` (back to its default).
    pub fn unset(&mut self, key: &str) {
        if let Some(k) = find_key(key) {
            self.values.retain(|(n, _)| *n != k.name);
        }
    }

    /// The text given for `key` (the last for a repeatable key), or None.
    pub fn given(&self, key: &str) -> Option<&str> {
        let k = find_key(key)?;
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == k.name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for a repeatable `key`, in order.
    pub fn given_all(&self, key: &str) -> Vec<&str> {
        let Some(k) = find_key(key) else {
            return Vec::new();
        };
        self.values
            .iter()
            .filter(|(n, _)| *n == k.name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The keys that were given (each once, in [`KEYS`] order).
    pub fn given_keys(&self) -> Vec<&'static str> {
        KEYS.iter()
            .map(|k| k.name)
            .filter(|n| self.values.iter().any(|(m, _)| m == n))
            .collect()
    }

    /// The text `check` parses for `key`: as given, else the default (None: not given and no
    /// default).
    pub fn text(&self, key: &str) -> Option<&str> {
        self.given(key)
            .or_else(|| find_key(key).and_then(|k| k.default))
    }

    /// Every given (key, text) pair, in order (repeatable keys once per value).
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_dashes_repeat_where_repeatable_and_unknown_ones_are_kept() {
        let mut s = Settings::default();
        s.set("decor-lr", "0.5");
        s.set("decor_lr", "0.25");
        s.set("set", "device.levels=16\nread.out_bits=6");
        s.set("set", "read.inp_bits=5");
        s.set("colour", "blue");
        assert_eq!(s.given("decor_lr"), Some("0.25"));
        assert_eq!(
            s.given_all("set"),
            vec!["device.levels=16", "read.out_bits=6", "read.inp_bits=5"]
        );
        assert_eq!(s.unknown, vec![("colour".to_string(), "blue".to_string())]);
        assert_eq!(s.text("epochs"), Some("30"));
        assert_eq!(s.text("out"), None);
        assert_eq!(s.given_keys(), vec!["set", "decor_lr"]);
        s.unset("decor-lr");
        assert_eq!(s.text("decor_lr"), Some("0.001"));
    }

    #[test]
    fn key_names_are_unique_and_lower_snake_case() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                KEYS[..i].iter().all(|o| o.name != k.name),
                "{} twice",
                k.name
            );
            assert!(k.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(!k.help.is_empty(), "{} has no help", k.name);
        }
    }
}
