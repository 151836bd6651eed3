//! `config.toml` (one plugin) and `databook.toml` (one workspace), parsed
//! strictly: an unknown key, a malformed value or a broken promise (a name
//! that differs from the folder) is an error naming the file, line and key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::grant::OriginPattern;
use databook_stdx::{ByteSize, Timeout};

/// The version of `wit/plugin.wit` this host speaks, as `config.toml`'s `api`.
pub const API_VERSION: &str = "0.1";

/// The largest memory limit a plugin may ask for: the most a 32-bit linear
/// memory can hold.
const MAX_MEMORY: u64 = 4 << 30;

/// A plugin's `config.toml`, checked.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub api: String,
    pub permissions: Permissions,
    pub limits: Limits,
    /// Where the manifest was read from, for messages.
    pub file: PathBuf,
}

/// What a plugin may touch, as written (before `$NAME` entries are resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Variables it may read through `get-env`.
    pub env: Vec<String>,
    /// Variables it may read whose values are masked in outputs and logs.
    pub secrets: Vec<String>,
    /// Origins it may call: literal origins, or `$NAME` for the origin of a
    /// variable's value.
    pub http: Vec<HttpGrant>,
}

/// One entry of `permissions.http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpGrant {
    Origin(OriginPattern),
    /// `"$NAME"`: the origin of the variable's value, when it is set.
    Variable(String),
}

impl std::fmt::Display for HttpGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpGrant::Origin(origin) => origin.fmt(f),
            HttpGrant::Variable(name) => write!(f, "${name}"),
        }
    }
}

/// A plugin's limits, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest a run may take; also the ceiling for a cell's `timeout=`.
    pub timeout: Timeout,
    /// The most linear memory (and table space) an instance may grow to.
    pub memory: ByteSize,
    /// The largest output a run may return.
    pub output: ByteSize,
    /// How many runs of this plugin may be under way at once: its share of
    /// the process's instances, so that one busy plugin leaves room for
    /// the others.
    pub concurrency: u32,
}

/// A plugin's share of instances when its `config.toml` names none: a
/// quarter of the default pool of 64.
pub const DEFAULT_CONCURRENCY: u32 = 16;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Timeout(std::time::Duration::from_secs(10)),
            memory: ByteSize(64 << 20),
            output: ByteSize(1 << 20),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Spanned<String>,
    version: String,
    description: String,
    api: Spanned<String>,
    #[serde(default)]
    permissions: RawPermissions,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPermissions {
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    http: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    timeout: Option<Timeout>,
    memory: Option<Spanned<ByteSize>>,
    output: Option<ByteSize>,
    concurrency: Option<Spanned<u32>>,
}

/// Reads TOML into `T`, turning any error into one that names the line and
/// the key (the path of keys down to it, such as `limits.timeout`).
fn parse_toml<T: for<'de> Deserialize<'de>>(text: &str, file: &Path) -> Result<T, ConfigError> {
    let deserializer = toml::de::Deserializer::parse(text)
        .map_err(|e| ConfigError::at(file, text, e.span(), None, e.message()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        // `Spanned` values add a private segment to the path; it is no key.
        let path = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let key = (path != ".").then_some(path);
        let inner = e.into_inner();
        ConfigError::at(file, text, inner.span(), key, inner.message())
    })
}

impl Manifest {
    /// Parses a `config.toml` read from `file`, for a plugin found in a folder
    /// called `folder_name`.
    pub fn parse(text: &str, file: &Path, folder_name: &str) -> Result<Manifest, ConfigError> {
        let raw: RawManifest = parse_toml(text, file)?;
        let error = |span: Range<usize>, key: &str, message: String| {
            ConfigError::at(file, text, Some(span), Some(key.to_string()), &message)
        };
        if raw.name.get_ref() != folder_name {
            return Err(error(
                raw.name.span(),
                "name",
                format!(
                    "the plugin is called {:?} but its folder is {folder_name:?}; they must be the same",
                    raw.name.get_ref()
                ),
            ));
        }
        if raw.api.get_ref() != API_VERSION {
            return Err(error(
                raw.api.span(),
                "api",
                format!(
                    "api {:?} is not one this databook speaks (it speaks {API_VERSION:?}); rebuild the plugin against this version's wit/plugin.wit",
                    raw.api.get_ref()
                ),
            ));
        }
        let permissions = permissions_from_raw(raw.permissions, file, text, "permissions")?;
        let defaults = Limits::default();
        let limits = Limits {
            timeout: raw.limits.timeout.unwrap_or(defaults.timeout),
            memory: match raw.limits.memory {
                Some(memory) if memory.get_ref().0 > MAX_MEMORY => {
                    return Err(error(
                        memory.span(),
                        "limits.memory",
                        format!(
                            "{} is more than a plugin's memory can hold ({})",
                            memory.get_ref(),
                            ByteSize(MAX_MEMORY)
                        ),
                    ));
                }
                Some(memory) => memory.into_inner(),
                None => defaults.memory,
            },
            output: raw.limits.output.unwrap_or(defaults.output),
            concurrency: match raw.limits.concurrency {
                Some(n) if *n.get_ref() == 0 => {
                    return Err(error(
                        n.span(),
                        "limits.concurrency",
                        "must be at least 1".to_string(),
                    ));
                }
                Some(n) => n.into_inner(),
                None => defaults.concurrency,
            },
        };
        Ok(Manifest {
            name: raw.name.into_inner(),
            version: raw.version,
            description: raw.description,
            api: raw.api.into_inner(),
            permissions,
            limits,
            file: file.to_path_buf(),
        })
    }
}

/// Checks raw permissions: valid origins, and `$NAME` entries only for
/// variables the plugin may read.
fn permissions_from_raw(
    raw: RawPermissions,
    file: &Path,
    text: &str,
    table: &str,
) -> Result<Permissions, ConfigError> {
    let readable = |name: &str| raw.env.iter().chain(&raw.secrets).any(|n| n == name);
    let mut http = Vec::with_capacity(raw.http.len());
    for entry in &raw.http {
        let key = Some(format!("{table}.http"));
        let grant = if let Some(name) = entry.get_ref().strip_prefix('$') {
            if !readable(name) {
                return Err(ConfigError::at(
                    file,
                    text,
                    Some(entry.span()),
                    key,
                    &format!(
                        "\"${name}\" grants the origin in {name}, but {name} is not in {table}.env or {table}.secrets"
                    ),
                ));
            }
            HttpGrant::Variable(name.to_string())
        } else {
            let origin = entry.get_ref().parse().map_err(|message: String| {
                ConfigError::at(file, text, Some(entry.span()), key, &message)
            })?;
            HttpGrant::Origin(origin)
        };
        http.push(grant);
    }
    Ok(Permissions {
        env: raw.env,
        secrets: raw.secrets,
        http,
    })
}

/// The name of the workspace configuration file.
pub const WORKSPACE_FILE: &str = "databook.toml";

/// A workspace's `databook.toml` (or its absence), checked.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// The folder holding `databook.toml`, or the folder the search started
    /// from when there is none.
    pub root: PathBuf,
    /// The `databook.toml` read, if any.
    pub file: Option<PathBuf>,
    /// Extra plugin folders (`plugins = [...]`), made absolute.
    pub plugin_dirs: Vec<PathBuf>,
    /// Values handed to plugins that may read them (`[env]`); see
    /// [`Workspace::value`] for the order in which values are looked for.
    pub env: BTreeMap<String, String>,
    /// Named sets of values laid over `[env]` (`[environments.NAME]`).
    pub environments: BTreeMap<String, BTreeMap<String, String>>,
    /// The environment chosen, if one was.
    pub environment: Option<String>,
    /// Per-plugin permission changes (`[plugin.NAME.permissions]`).
    pub overrides: BTreeMap<String, PermissionOverride>,
}

/// A workspace's change to one plugin's permissions: each key given replaces
/// the plugin's own list for that key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionOverride {
    pub env: Option<Vec<String>>,
    pub secrets: Option<Vec<String>>,
    pub http: Option<Vec<HttpGrant>>,
}

// Note: the spec's example puts `plugins = [...]` and `[plugins.http...]` in one
// file, which TOML forbids (a key cannot be both an array and a table); the
// per-plugin tables are therefore `[plugin.NAME.permissions]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    #[serde(default)]
    plugins: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    environments: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    plugin: BTreeMap<String, RawPluginSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginSettings {
    permissions: RawOverride,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    env: Option<Vec<String>>,
    secrets: Option<Vec<String>>,
    http: Option<Vec<Spanned<String>>>,
}

impl Workspace {
    /// Finds `databook.toml` in `start` or the nearest folder above it, and
    /// reads it. With none, the workspace is `start` with nothing configured.
    pub fn discover(start: &Path) -> Result<Workspace, ConfigError> {
        for dir in start.ancestors() {
            let file = dir.join(WORKSPACE_FILE);
            if file.is_file() {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| ConfigError::at(&file, "", None, None, &e.to_string()))?;
                return Workspace::parse(&text, &file);
            }
        }
        Ok(Workspace {
            root: start.to_path_buf(),
            ..Workspace::default()
        })
    }

    /// Parses the `databook.toml` at `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Workspace, ConfigError> {
        let raw: RawWorkspace = parse_toml(text, file)?;
        let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut overrides = BTreeMap::new();
        for (name, settings) in raw.plugin {
            let table = format!("plugin.{name}.permissions");
            let raw = settings.permissions;
            // `$NAME` entries may name variables the override grants or the
            // plugin's own config grants; the latter is only known at load,
            // so here only the syntax of each entry is checked.
            let mut http = None;
            if let Some(entries) = raw.http {
                let mut grants = Vec::with_capacity(entries.len());
                for entry in entries {
                    grants.push(match entry.get_ref().strip_prefix('$') {
                        Some(var) => HttpGrant::Variable(var.to_string()),
                        None => HttpGrant::Origin(entry.get_ref().parse().map_err(
                            |message: String| {
                                ConfigError::at(
                                    file,
                                    text,
                                    Some(entry.span()),
                                    Some(format!("{table}.http")),
                                    &message,
                                )
                            },
                        )?),
                    });
                }
                http = Some(grants);
            }
            overrides.insert(
                name,
                PermissionOverride {
                    env: raw.env,
                    secrets: raw.secrets,
                    http,
                },
            );
        }
        Ok(Workspace {
            plugin_dirs: raw.plugins.iter().map(|dir| root.join(dir)).collect(),
            root,
            file: Some(file.to_path_buf()),
            env: raw.env,
            environments: raw.environments,
            environment: None,
            overrides,
        })
    }

    /// The workspace with environment `name` chosen: its values come first
    /// (see [`Workspace::value`]). An environment the workspace does not
    /// define is an error that names those it does.
    pub fn with_environment(mut self, name: &str) -> Result<Workspace, ConfigError> {
        if !self.environments.contains_key(name) {
            let file = self
                .file
                .clone()
                .unwrap_or_else(|| self.root.join(WORKSPACE_FILE));
            let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            let message = match (
                databook_stdx::suggestions(name, known.iter().copied()).first(),
                known.is_empty(),
            ) {
                (_, true) if self.file.is_none() => format!(
                    "there is no environment {name:?}: no {WORKSPACE_FILE} was found to define it"
                ),
                (_, true) => format!(
                    "there is no environment {name:?}: this file defines none ([environments.NAME])"
                ),
                (Some(best), _) => {
                    format!("there is no environment {name:?} (did you mean {best:?}?)")
                }
                (None, _) => format!(
                    "there is no environment {name:?}; the environments are: {}",
                    known.join(", ")
                ),
            };
            return Err(ConfigError {
                file,
                line: None,
                key: Some("environments".into()),
                message,
            });
        }
        self.environment = Some(name.to_string());
        Ok(self)
    }

    /// The value of variable `var`: the chosen environment's, which the
    /// user picked for this run and so comes first; then the process's
    /// (`process_env`); then `[env]`'s, the workspace's default.
    pub fn value(&self, var: &str, process_env: impl Fn(&str) -> Option<String>) -> Option<String> {
        self.environment
            .as_ref()
            .and_then(|name| self.environments.get(name))
            .and_then(|values| values.get(var).cloned())
            .or_else(|| process_env(var))
            .or_else(|| self.env.get(var).cloned())
    }
}

impl Permissions {
    /// These permissions as changed by a workspace's override.
    pub fn overridden(&self, by: Option<&PermissionOverride>) -> Permissions {
        let Some(by) = by else {
            return self.clone();
        };
        Permissions {
            env: by.env.clone().unwrap_or_else(|| self.env.clone()),
            secrets: by.secrets.clone().unwrap_or_else(|| self.secrets.clone()),
            http: by.http.clone().unwrap_or_else(|| self.http.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text, Path::new("p/demo/config.toml"), "demo").map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"name = "demo"
version = "0.1.0"
description = "A demo"
api = "0.1"

[permissions]
env = ["DEMO_URL"]
secrets = ["DEMO_TOKEN"]
http = ["$DEMO_URL", "http://127.0.0.1:9090", "https://*.example.com"]

[limits]
timeout = "2s"
memory = "32MiB"
"#;

    #[test]
    fn a_full_manifest_is_read() {
        let m = manifest(GOOD).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.permissions.env, ["DEMO_URL"]);
        assert_eq!(m.permissions.secrets, ["DEMO_TOKEN"]);
        let http: Vec<String> = m.permissions.http.iter().map(|g| g.to_string()).collect();
        assert_eq!(
            http,
            [
                "$DEMO_URL",
                "http://127.0.0.1:9090",
                "https://*.example.com"
            ]
        );
        assert_eq!(m.limits.timeout.to_string(), "2s");
        assert_eq!(m.limits.memory.to_string(), "32 MiB");
        assert_eq!(m.limits.output, Limits::default().output);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = GOOD.replace("memory = \"32MiB\"", "memory = \"32MiB\"\nfuel = 3");
        let error = manifest(&text).unwrap_err();
        assert!(
            error.starts_with("p/demo/config.toml:14: limits.fuel: "),
            "{error}"
        );
        assert!(error.contains("unknown field `fuel`"), "{error}");
    }

    #[test]
    fn malformed_duration_names_line_and_key() {
        let error = manifest(&GOOD.replace("\"2s\"", "\"2 seconds\"")).unwrap_err();
        assert!(
            error.starts_with("p/demo/config.toml:12: limits.timeout: invalid duration"),
            "{error}"
        );
    }

    #[test]
    fn malformed_size_names_line_and_key() {
        let error = manifest(&GOOD.replace("\"32MiB\"", "\"lots\"")).unwrap_err();
        assert!(
            error.starts_with("p/demo/config.toml:13: limits.memory: invalid size"),
            "{error}"
        );
    }

    #[test]
    fn name_must_match_folder() {
        let error = manifest(&GOOD.replace("name = \"demo\"", "name = \"other\"")).unwrap_err();
        assert!(error.starts_with("p/demo/config.toml:1: name: "), "{error}");
        assert!(error.contains("folder is \"demo\""), "{error}");
    }

    #[test]
    fn unknown_api_version_is_refused() {
        let error = manifest(&GOOD.replace("api = \"0.1\"", "api = \"9.0\"")).unwrap_err();
        assert!(error.starts_with("p/demo/config.toml:4: api: "), "{error}");
    }

    #[test]
    fn missing_key_is_named() {
        let error = manifest(&GOOD.replace("version = \"0.1.0\"\n", "")).unwrap_err();
        assert!(error.contains("missing field `version`"), "{error}");
    }

    #[test]
    fn origin_with_a_path_is_refused() {
        let error = manifest(&GOOD.replace("http://127.0.0.1:9090", "http://127.0.0.1:9090/api"))
            .unwrap_err();
        assert!(
            error.starts_with("p/demo/config.toml:9: permissions.http: "),
            "{error}"
        );
    }

    #[test]
    fn variable_origin_needs_a_readable_variable() {
        let error = manifest(&GOOD.replace("\"$DEMO_URL\"", "\"$ELSEWHERE\"")).unwrap_err();
        assert!(
            error.contains("ELSEWHERE is not in permissions.env"),
            "{error}"
        );
    }

    #[test]
    fn memory_above_four_gib_is_refused() {
        let error = manifest(&GOOD.replace("\"32MiB\"", "\"8GiB\"")).unwrap_err();
        assert!(
            error.contains("limits.memory: 8 GiB is more than"),
            "{error}"
        );
    }

    #[test]
    fn workspace_file_is_read() {
        let text = r#"plugins = ["tools/plugins"]

[env]
PROMETHEUS_URL = "http://127.0.0.1:9191"

[plugin.http.permissions]
http = ["https://api.example.com"]
"#;
        let ws = Workspace::parse(text, Path::new("/w/databook.toml")).unwrap();
        assert_eq!(ws.root, Path::new("/w"));
        assert_eq!(ws.plugin_dirs, [Path::new("/w/tools/plugins")]);
        assert_eq!(ws.env["PROMETHEUS_URL"], "http://127.0.0.1:9191");
        let http = ws.overrides["http"].http.as_ref().unwrap();
        assert_eq!(http[0].to_string(), "https://api.example.com");
        assert_eq!(ws.overrides["http"].env, None);
    }

    #[test]
    fn an_environment_lays_its_values_over_env() {
        let text = r#"[env]
PROMETHEUS_URL = "http://127.0.0.1:9090"
TEAM = "core"

[environments.staging]
PROMETHEUS_URL = "http://127.0.0.1:9191"

[environments.prod]
PROMETHEUS_URL = "http://127.0.0.1:9292"
"#;
        let ws = Workspace::parse(text, Path::new("/w/databook.toml")).unwrap();
        assert_eq!(ws.environment, None);
        assert_eq!(ws.env["PROMETHEUS_URL"], "http://127.0.0.1:9090");
        let none = |_: &str| None;
        let process = |var: &str| (var != "TEAM").then(|| "from the shell".to_string());
        assert_eq!(
            ws.value("PROMETHEUS_URL", none).unwrap(),
            "http://127.0.0.1:9090"
        );
        assert_eq!(
            ws.value("PROMETHEUS_URL", process).unwrap(),
            "from the shell"
        );
        let staging = ws.clone().with_environment("staging").unwrap();
        assert_eq!(staging.environment.as_deref(), Some("staging"));
        // The environment chosen comes before the process's values, which
        // come before [env]'s.
        assert_eq!(
            staging.value("PROMETHEUS_URL", process).unwrap(),
            "http://127.0.0.1:9191"
        );
        assert_eq!(
            staging.value("TEAM", process).unwrap(),
            "core",
            "the others are kept"
        );
        assert_eq!(staging.value("OTHER", process).unwrap(), "from the shell");
        let error = ws
            .clone()
            .with_environment("stagin")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "/w/databook.toml: environments: there is no environment \"stagin\" (did you mean \"staging\"?)"
        );
        let error = ws.with_environment("qa").unwrap_err().to_string();
        assert!(
            error.ends_with("the environments are: prod, staging"),
            "{error}"
        );
        let error = Workspace::default()
            .with_environment("qa")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no databook.toml was found"), "{error}");
    }

    #[test]
    fn workspace_unknown_key_is_named() {
        let error = Workspace::parse(
            "[plugin.http.permissions]\nnet = []\n",
            Path::new("databook.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("databook.toml:2: plugin.http.permissions"),
            "{error}"
        );
        assert!(error.contains("unknown field `net`"), "{error}");
    }
}
