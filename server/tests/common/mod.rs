//! What the `databook` binary's tests share: the binary started apart from
//! this machine's own plugins, caches and workspace, and a real Prometheus.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The repository's test plugins, with the built `misbehave`.
pub fn testing_plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/testing")
}

/// A `databook` command that sees none of this machine's own plugins,
/// caches or workspace: its home, data, cache and working folder are `home`.
pub fn databook(home: &Path) -> Command {
    databook_program(Path::new(env!("CARGO_BIN_EXE_databook")), home)
}

/// Like [`databook`], for another build of it.
pub fn databook_program(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("DATABOOK_PLUGINS")
        .env_remove("DATABOOK_LOG")
        .env_remove("DATABOOK_ENV")
        .env_remove("PROMETHEUS_URL");
    command
}

/// Runs `command` with `stdin` as its input, and collects its output.
pub fn run_with_stdin(mut command: Command, stdin: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("databook starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a plugin folder `name` into `parent`: the `misbehave` build with
/// a `config.toml` of the required keys followed by `extra`.
pub fn write_plugin(parent: &Path, name: &str, version: &str, extra: &str) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "name = \"{name}\"\nversion = \"{version}\"\ndescription = \"Test {name}\"\napi = \"0.1\"\n{extra}\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        testing_plugins().join("misbehave/plugin.wasm"),
        dir.join("plugin.wasm"),
    )
    .unwrap();
    dir
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `prometheus` (Debian's package) on a loopback port, scraping one
/// target every second, its storage in a temporary folder. Killed on drop.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// A Prometheus on a free port, scraping itself.
    pub fn scraping_itself() -> Prometheus {
        let port = free_port();
        Prometheus::start(port, "prometheus", &format!("127.0.0.1:{port}"))
    }

    /// A Prometheus on `port`, scraping `target` (HOST:PORT) as `job`.
    pub fn start(port: u16, job: &str, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: {job}\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start prometheus ({e}); install it: apt-get install prometheus")
            });
        Prometheus { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What Prometheus logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `databook lsp` as an editor starts it, spoken to over stdio with real
/// JSON-RPC framing.
pub struct LspProcess {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    /// When the last message read had arrived in full (before it was
    /// parsed), for benchmarks that time the server and not this client.
    arrived: Instant,
}

impl LspProcess {
    /// Starts `databook lsp` (isolated in `home`) with `env` set.
    pub fn start(home: &Path, env: &[(&str, &str)]) -> LspProcess {
        LspProcess::start_program(Path::new(env!("CARGO_BIN_EXE_databook")), home, env)
    }

    /// Starts the language server of another build of `databook`.
    pub fn start_program(program: &Path, home: &Path, env: &[(&str, &str)]) -> LspProcess {
        let mut command = databook_program(program, home);
        command
            .arg("lsp")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("databook lsp starts");
        LspProcess {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
            next_id: 1,
            arrived: Instant::now(),
        }
    }

    /// Sends bytes as they are, framing and all.
    pub fn send_bytes(&mut self, bytes: &str) {
        self.stdin.write_all(bytes.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends one frame with `body`.
    pub fn send_raw(&mut self, body: &str) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Reads one message.
    pub fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut self.stdout, &mut body).unwrap();
        self.arrived = Instant::now();
        serde_json::from_slice(&body).unwrap()
    }

    /// Reads messages until one satisfies `done`, answering the server's
    /// own requests on the way as an editor would.
    pub fn until(&mut self, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.receive();
            if done(&message) {
                return message;
            }
            if message.get("method").is_some() && message.get("id").is_some() {
                let reply = json!({"jsonrpc": "2.0", "id": message["id"], "result": null});
                self.send_raw(&reply.to_string());
            }
        }
    }

    /// When the last message read had arrived in full, before it was parsed.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }

    /// The id the next request will have; it is taken.
    pub fn next_request_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id - 1
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_request_id();
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(&message.to_string());
        self.until(|m| m["id"] == id && m.get("method").is_none())
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.send_raw(&message.to_string());
    }

    /// `initialize` with `root` as the workspace, then `initialized`.
    pub fn initialize(&mut self, root: &Path) -> Value {
        let root = format!("file://{}", root.display());
        let reply = self.request(
            "initialize",
            json!({"processId": null, "rootUri": root, "capabilities": {}}),
        );
        self.notify("initialized", json!({}));
        reply
    }
}

impl LspProcess {
    /// Kills the server if the test is still waiting on it after `limit`,
    /// so that a message that never comes fails the test instead of
    /// hanging it. Dropping the guard ends the watch.
    pub fn watchdog(&self, limit: Duration) -> Watchdog {
        let pid = self.child.id();
        let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(limit) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        });
        Watchdog { _cancel: cancel }
    }
}

/// See [`LspProcess::watchdog`].
pub struct Watchdog {
    _cancel: std::sync::mpsc::Sender<()>,
}

impl Drop for LspProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real HTTP API on a free loopback port, on a thread of its own: `POST
/// /login` hands out a token, `GET /me` answers only with that token
/// (`Authorization: Bearer ...`), and `GET /count` counts the requests it
/// gets, so that a test can tell whether a cell really ran.
pub struct ApiServer {
    pub port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The token `POST /login` hands out.
pub const TOKEN: &str = "tok-4a7f";

impl ApiServer {
    pub fn start() -> ApiServer {
        use axum::http::{HeaderMap, StatusCode, header};
        use axum::routing::{get, post};
        use std::sync::atomic::{AtomicUsize, Ordering};

        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let json = |body: String| ([(header::CONTENT_TYPE, "application/json")], body);
        let app = axum::Router::new()
            .route(
                "/login",
                post(move || async move {
                    json(json!({"token": TOKEN, "user": {"id": 7, "roles": ["admin"]}}).to_string())
                }),
            )
            .route(
                "/me",
                get(move |headers: HeaderMap| async move {
                    let authorised = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {TOKEN}"));
                    if authorised {
                        (
                            StatusCode::OK,
                            json(json!({"name": "ada", "id": 7}).to_string()),
                        )
                    } else {
                        (
                            StatusCode::UNAUTHORIZED,
                            json(json!({"error": "no token"}).to_string()),
                        )
                    }
                }),
            )
            .route(
                "/count",
                get(move || async move {
                    let runs = counted.fetch_add(1, Ordering::SeqCst) + 1;
                    json(json!({ "runs": runs }).to_string())
                }),
            );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        ApiServer { port, count }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many requests `/count` has had.
    pub fn counted(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}
