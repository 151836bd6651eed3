//! What the runtime's tests share: one runtime, the `misbehave` plugin
//! written into a temporary folder with a test's own manifest, and a real
//! HTTP server on a loopback port.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use databook_runtime::{Plugin, Registry, Runtime, RuntimeOptions, SearchPath, Workspace};

pub const MISBEHAVE: &str = "misbehave";

/// The `misbehave` component, as `plugins/build.sh` built it.
pub fn misbehave_wasm() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/testing/misbehave/plugin.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins with plugins/build.sh",
            path.display()
        )
    })
}

/// One runtime for every test in the binary, as in the real program.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeOptions {
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")),
            ..RuntimeOptions::default()
        })
        .expect("the runtime starts")
    })
}

/// A `config.toml` for a plugin called `name`, with `extra` appended.
pub fn config_for(name: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"A test plugin\"\napi = \"0.1\"\n{extra}\n"
    )
}

/// The `misbehave` plugin with a manifest of the test's own.
pub struct TestPlugin {
    extra: String,
    env: BTreeMap<String, String>,
}

impl TestPlugin {
    /// A plugin whose `config.toml` is the required keys followed by
    /// `extra` (its `[permissions]` and `[limits]`).
    pub fn new(extra: &str) -> TestPlugin {
        TestPlugin {
            extra: extra.to_string(),
            env: BTreeMap::new(),
        }
    }

    /// Variables as the process environment would have them.
    pub fn env(mut self, vars: &[(&str, &str)]) -> TestPlugin {
        self.env
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Writes the plugin folder into `parent` and returns it.
    pub fn write(&self, parent: &Path) -> PathBuf {
        let dir = parent.join(MISBEHAVE);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), config_for(MISBEHAVE, &self.extra)).unwrap();
        std::fs::write(dir.join("plugin.wasm"), misbehave_wasm()).unwrap();
        dir
    }

    /// Writes the plugin to a temporary folder and loads it.
    pub async fn load(self) -> Plugin {
        self.load_in(runtime()).await
    }

    /// The same, into a runtime of the test's own.
    pub async fn load_in(self, runtime: &Runtime) -> Plugin {
        let tmp = tempfile::tempdir().unwrap();
        let dir = self.write(tmp.path());
        let search = SearchPath {
            dirs: vec![dir],
            builtins: &[],
        };
        let env = self.env;
        Registry::load_one(
            runtime,
            &search,
            &Workspace::default(),
            |name| env.get(name).cloned(),
            MISBEHAVE,
        )
        .await
        .unwrap_or_else(|e| panic!("the test plugin loads: {e}"))
    }
}

/// A real HTTP server on a loopback port: `/hello` answers, and
/// `/redirect?to=URL` redirects.
pub struct HttpServer {
    port: u16,
}

impl HttpServer {
    pub async fn start() -> HttpServer {
        use axum::extract::Query;
        use axum::response::Redirect;
        use axum::routing::get;

        let app = axum::Router::new()
            .route("/hello", get(|| async { "hello from the test server" }))
            .route(
                "/redirect",
                get(|Query(query): Query<BTreeMap<String, String>>| async move {
                    Redirect::temporary(&query["to"])
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        HttpServer { port }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
