//! The plugins built into the binary, so that a fresh install works with no
//! setup. Their `plugin.wasm` files are committed, built by
//! `plugins/build.sh`.

use databook_runtime::Builtin;

pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "echo",
        config: include_str!("../../plugins/echo/config.toml"),
        wasm: include_bytes!("../../plugins/echo/plugin.wasm"),
    },
    Builtin {
        name: "http",
        config: include_str!("../../plugins/http/config.toml"),
        wasm: include_bytes!("../../plugins/http/plugin.wasm"),
    },
    Builtin {
        name: "jq",
        config: include_str!("../../plugins/jq/config.toml"),
        wasm: include_bytes!("../../plugins/jq/plugin.wasm"),
    },
    Builtin {
        name: "prometheus",
        config: include_str!("../../plugins/prometheus/config.toml"),
        wasm: include_bytes!("../../plugins/prometheus/plugin.wasm"),
    },
];
