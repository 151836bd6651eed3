//! Any text as a plugin's `config.toml` and as a workspace's
//! `databook.toml`, through the runtime's parsers: never a panic. Errors
//! are expected; their message (which names the file and line) is written
//! out too, and a manifest that is read is used as the runtime uses it
//! (its permissions overridden by a workspace, its grants printed).
#![no_main]

use std::path::Path;

use databook_runtime::{Manifest, Workspace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let manifest = Manifest::parse(&text, Path::new("plugins/demo/config.toml"), "demo");
    let workspace = Workspace::parse(&text, Path::new("/work/databook.toml"));
    match (&manifest, &workspace) {
        (Ok(manifest), Ok(workspace)) => {
            let overridden = manifest
                .permissions
                .overridden(workspace.overrides.get(&manifest.name));
            let _ = overridden.http.iter().map(|g| g.to_string()).count();
        }
        (Ok(manifest), Err(e)) => {
            let _ = manifest.permissions.http.iter().map(|g| g.to_string()).count();
            let _ = (manifest.limits.timeout.to_string(), manifest.limits.memory.to_string());
            let _ = e.to_string();
        }
        (Err(e), Ok(workspace)) => {
            let _ = e.to_string();
            for o in workspace.overrides.values() {
                let _ = o.http.iter().flatten().map(|g| g.to_string()).count();
            }
        }
        (Err(a), Err(b)) => {
            let _ = (a.to_string(), b.to_string());
        }
    }
});
