//! The versions of the plugin API this host speaks. Each version has its
//! WIT folder (`wit/0.1/`, and beside it the next) and its bindings module
//! here; a component's version is read from the name of the interface it
//! exports (`databook:plugin/plugin@0.1.0`), so that a `0.2` can be added
//! without breaking `0.1` plugins.

use std::fmt;

/// Bindings of `databook:plugin@0.1.x`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "plugin-full",
        path: "../wit/0.1",
        imports: {
            "databook:plugin/runtime.http-request": async,
        },
        exports: { default: async },
    });
}

/// The package every plugin's exports belong to.
const PACKAGE: &str = "databook:plugin/plugin@";

/// A version of the plugin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The API versions this host runs: any patch of these `major.minor`
/// releases.
pub const SUPPORTED: &[(u64, u64)] = &[(0, 1)];

impl ApiVersion {
    fn parse(text: &str) -> Option<ApiVersion> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let version = ApiVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(version)
    }

    pub fn is_supported(&self) -> bool {
        SUPPORTED.contains(&(self.major, self.minor))
    }
}

/// The API version a component was built against, from its exports; `None`
/// when it exports no databook plugin interface at all.
pub fn exported_version(wasm: &[u8]) -> Option<ApiVersion> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else {
            return None;
        };
        if let wasmparser::Payload::ComponentExportSection(exports) = payload {
            for export in exports.into_iter().flatten() {
                if let Some(version) = export.name.name.strip_prefix(PACKAGE) {
                    return ApiVersion::parse(version);
                }
            }
        }
    }
    None
}

/// Whether this host can run a component that exports `version`, and if
/// not, what to tell the user.
pub fn check(version: Option<ApiVersion>) -> Result<ApiVersion, String> {
    let supported: Vec<String> = SUPPORTED
        .iter()
        .map(|(major, minor)| format!("{major}.{minor}"))
        .collect();
    match version {
        Some(version) if version.is_supported() => Ok(version),
        Some(version) => Err(format!(
            "it was built against databook:plugin@{version}, and this databook runs plugins built against {}",
            supported.join(", ")
        )),
        None => Err(format!(
            "it does not export databook:plugin/plugin (any of {}); was it built against Databook's wit/ folder?",
            supported.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_only_supported_ones_pass() {
        let v = ApiVersion::parse("0.1.3").unwrap();
        assert_eq!(check(Some(v)), Ok(v));
        let next = ApiVersion::parse("0.2.0").unwrap();
        let refused = check(Some(next)).unwrap_err();
        assert!(refused.contains("databook:plugin@0.2.0"), "{refused}");
        assert!(ApiVersion::parse("0.1").is_none());
        assert!(ApiVersion::parse("0.1.0.1").is_none());
        assert!(check(None).is_err());
    }

    #[test]
    fn the_bundled_plugins_export_a_supported_version() {
        let echo = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../plugins/echo/plugin.wasm"
        ))
        .unwrap();
        let version = exported_version(&echo).expect("echo exports a version");
        assert_eq!((version.major, version.minor), (0, 1));
    }
}
