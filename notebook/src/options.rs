//! The options databook reads itself (`name=`, `input=`, `timeout=`,
//! `check=`, `cache=`), read once per header into a typed [`CellOptions`]. Every
//! reader (diagnostics, completion, `databook run`, the language server)
//! takes them from here, so none can read them differently.

use databook_stdx::Timeout;

use crate::syntax::{Header, Local, TextRange};

/// One of databook's own options, with what it does, for completion and
/// documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnOption {
    pub key: &'static str,
    pub documentation: &'static str,
}

/// Every option databook keeps for itself: a plugin never receives them.
pub const DATABOOK_OPTIONS: [OwnOption; 5] = [
    OwnOption {
        key: "name",
        documentation: "Names the cell (`[A-Za-z][A-Za-z0-9_-]*`, unique in the notebook), so that another cell can take its output with `input=`.",
    },
    OwnOption {
        key: "input",
        documentation: "Hands the named cell's latest output to this cell's plugin; the named cell runs first.",
    },
    OwnOption {
        key: "timeout",
        documentation: "Lowers the run's time limit (`500ms`, `10s`, `2m`, `1h`); the plugin's own limit is the default and the ceiling.",
    },
    OwnOption {
        key: "check",
        documentation: "How `databook run --check` compares this cell's output: `exact` (the default), `status` (the run must succeed) or `skip`.",
    },
    OwnOption {
        key: "cache",
        documentation: "Reuses the cell's latest result instead of running it while nothing it depends on changed (the plugin, the body after `{{...}}`, the options, the environment, the inputs): `true`, or a duration (`10m`, `1h`) after which it runs again; `false` (the default) always runs. `databook run --no-cache` runs every cell.",
    },
];

/// How long a cell's result may be reused (`cache=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// `cache=true`: as long as what the cell depends on is unchanged.
    Unlimited,
    /// `cache=10m`: that long at most.
    For(std::time::Duration),
}

/// A `cache=` value that is not `true`, `false` or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotACacheSetting;

impl Cache {
    /// Reads a `cache=` value: `None` for `false`.
    pub fn parse(value: &str) -> Result<Option<Cache>, NotACacheSetting> {
        match value {
            "true" => Ok(Some(Cache::Unlimited)),
            "false" => Ok(None),
            other => other
                .parse::<Timeout>()
                .map(|t| Some(Cache::For(t.0)))
                .map_err(|_| NotACacheSetting),
        }
    }
}

/// Whether databook reads `key` itself (and never passes it to a plugin).
pub fn is_databook_option(key: &str) -> bool {
    DATABOOK_OPTIONS.iter().any(|o| o.key == key)
}

/// How `databook run --check` compares a cell's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckMode {
    /// The output block must be byte for byte the one in the file.
    #[default]
    Exact,
    /// The run must still succeed.
    Status,
    /// Not compared.
    Skip,
}

/// Something wrong with one of databook's options in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionProblem {
    /// The value's range, relative to the header's start.
    pub range: TextRange,
    /// A stable code, such as `bad-timeout`.
    pub code: &'static str,
    pub message: String,
}

/// Databook's own options of one header, read and checked. Small, since
/// every cell carries one: the name and input are the header's own entries
/// (see [`crate::Cell::name_entry`]), and the problems' ranges are relative
/// to the header's start, so that a cell moved by an edit above it keeps its
/// options as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellOptions {
    /// Which of the header's options is the cell's name (when it is a valid
    /// one), its `input=` and its `timeout=` (when it is a valid duration);
    /// `NONE` for none.
    pub(crate) name: u32,
    pub(crate) input: u32,
    pub(crate) timeout: u32,
    /// Which option is a valid `cache=`; `NONE` for none.
    pub(crate) cache: u32,
    pub check: CheckMode,
    /// What is wrong with them, one problem per option; rarely anything.
    problems: Box<[OptionProblem]>,
}

/// No option.
pub(crate) const NONE: u32 = u32::MAX;

impl Default for CellOptions {
    fn default() -> Self {
        CellOptions {
            name: NONE,
            input: NONE,
            timeout: NONE,
            cache: NONE,
            check: CheckMode::Exact,
            problems: Box::default(),
        }
    }
}

impl CellOptions {
    /// What is wrong with them, one problem per option.
    pub fn problems(&self) -> &[OptionProblem] {
        &self.problems
    }

    pub fn read(header: &Header) -> CellOptions {
        let relative = |value: &Local<String>| value.local.clone();
        let position = |key: &str| {
            let i = header.options.iter().position(|o| o.key.value == key)?;
            // A header of four billion options cannot be written in a line.
            Some((u32::try_from(i).ok()?, &header.options[i]))
        };
        let mut options = CellOptions::default();
        let mut problems = Vec::new();
        if let Some((i, name)) = position("name") {
            if is_cell_name(&name.value.value) {
                options.name = i;
            } else {
                problems.push(OptionProblem {
                    range: relative(&name.value),
                    code: "bad-name",
                    message: format!(
                        "`{}` is not a cell name: use letters, digits, `_` and `-`, starting with a letter",
                        name.value.value
                    ),
                });
            }
        }
        options.input = position("input").map_or(NONE, |(i, _)| i);
        if let Some((i, timeout)) = position("timeout") {
            match timeout.value.value.parse::<Timeout>() {
                Ok(_) => options.timeout = i,
                Err(_) => problems.push(OptionProblem {
                    range: relative(&timeout.value),
                    code: "bad-timeout",
                    message: format!(
                        "`{}` is not a duration: write a positive whole number with `ms`, `s`, `m` or `h`, like `500ms`, `10s`, `2m` or `1h`",
                        timeout.value.value
                    ),
                }),
            }
        }
        if let Some((i, cache)) = position("cache") {
            match Cache::parse(&cache.value.value) {
                Ok(_) => options.cache = i,
                Err(NotACacheSetting) => problems.push(OptionProblem {
                    range: relative(&cache.value),
                    code: "bad-cache",
                    message: format!(
                        "`{}` is not a cache setting: write `true`, `false`, or how long a result may be reused, like `10m` or `1h`",
                        cache.value.value
                    ),
                }),
            }
        }
        if let Some(check) = header.option("check") {
            match check.value.value.as_str() {
                "exact" => options.check = CheckMode::Exact,
                "status" => options.check = CheckMode::Status,
                "skip" => options.check = CheckMode::Skip,
                other => problems.push(OptionProblem {
                    range: relative(&check.value),
                    code: "bad-check",
                    message: format!(
                        "`{other}` is not a check mode: write `exact` (the default), `status` or `skip`"
                    ),
                }),
            }
        }
        options.problems = problems.into_boxed_slice();
        options
    }
}

/// Whether `s` is a valid cell name: `[A-Za-z][A-Za-z0-9_-]*`.
pub fn is_cell_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
