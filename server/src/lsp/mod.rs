//! `databook lsp`: the language server. Protocol types live only in this
//! module; analysis comes from `databook-notebook`, runs from
//! `databook-runtime`. `Backend`'s methods are a few lines each that
//! delegate to one file per feature.

mod actions;
mod completion;
mod convert;
mod diagnostics;
mod documents;
mod environments;
pub mod ext;
mod hover;
mod markdown;
mod outline;
mod plugins;
mod results;
mod run;
mod stdio;
pub mod transport;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};

use documents::Documents;
use plugins::Plugins;
use run::Runs;

/// What every request shares.
pub struct State {
    pub documents: Documents,
    pub plugins: Plugins,
    pub runs: Runs,
    pub checks: diagnostics::CheckCache,
    pub headers: diagnostics::HeaderCache,
    /// Whether the editor said it handles `workspace/codeLens/refresh`
    /// (Helix, for one, answers it with an error).
    pub lens_refresh: std::sync::atomic::AtomicBool,
    /// Code lenses serialized for the transport to answer with.
    pub lens_stash: transport::LensStash,
}

impl State {
    /// Asks the editor to ask for code lenses again, if it said it can.
    pub async fn refresh_lenses(&self, client: &Client) {
        if self.lens_refresh.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = client.code_lens_refresh().await;
        }
    }
}

pub struct Backend {
    client: Client,
    state: Arc<State>,
}

/// Builds the service: the backend and the custom methods of
/// `docs/lsp-extensions.md`.
pub fn service(plugin_dirs: Vec<PathBuf>) -> (LspService<Backend>, tower_lsp_server::ClientSocket) {
    LspService::build(|client| Backend {
        client,
        state: Arc::new(State {
            documents: Documents::default(),
            plugins: Plugins::new(plugin_dirs),
            runs: Runs::default(),
            checks: diagnostics::CheckCache::default(),
            headers: diagnostics::HeaderCache::default(),
            lens_refresh: Default::default(),
            lens_stash: Default::default(),
        }),
    })
    .custom_method(ext::RESULTS, Backend::results)
    .custom_method(ext::CELLS, Backend::cells)
    .custom_method(ext::RENDER, Backend::render)
    .custom_method(ext::ENVIRONMENTS, Backend::environments)
    .custom_method(ext::CODE_LENS_BYTES, Backend::code_lens_bytes)
    .finish()
}

/// Serves the language server on stdin and stdout.
pub async fn serve_stdio(plugin_dirs: Vec<PathBuf>) {
    let (service, socket) = service(plugin_dirs);
    let (input, output) = stdio::stdio();
    transport::serve(input, output, service, socket).await;
}

/// Databook's own requests (`docs/lsp-extensions.md`).
impl Backend {
    async fn results(&self, params: ext::DocumentParams) -> Result<ext::ResultsResponse> {
        results::results(&self.state, params)
    }

    async fn cells(&self, params: ext::DocumentParams) -> Result<ext::CellsResponse> {
        results::cells(&self.state, params)
    }

    async fn render(&self, params: ext::RenderParams) -> Result<Option<ext::Rendered>> {
        results::render(&self.state, params)
    }

    /// `textDocument/codeLens`, answered with `null` while the lenses,
    /// serialized straight to bytes, wait for the transport to put them in
    /// the answer: tower-lsp-server would build a `serde_json::Value` of
    /// them first, most of the time of 15,000 lenses (BENCHMARKS.md).
    async fn code_lens_bytes(&self, params: ext::CodeLensBytesParams) -> Result<()> {
        let lenses = actions::code_lenses(&self.state, &params.text_document.uri);
        let bytes = serde_json::to_vec(&lenses)
            .map_err(|_| tower_lsp_server::jsonrpc::Error::internal_error())?;
        self.state.lens_stash.put(params.request, bytes);
        Ok(())
    }

    /// Takes whatever params come (none, `null`, `{}`): the request has none.
    async fn environments(&self, _: Option<serde_json::Value>) -> Result<ext::Environments> {
        self.state.plugins.ready().await;
        Ok(environments::list(&self.state))
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        // Plugins load in the background, so that the editor is answered at
        // once however slow a plugin's `describe` is; diagnostics and
        // completion wait for them, and every open document is analysed
        // again when they are in.
        let root = workspace_root(&params);
        self.state.runs.set_root(editor_root(&params));
        let lens_refresh = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        self.state
            .lens_refresh
            .store(lens_refresh, std::sync::atomic::Ordering::Relaxed);
        let (client, state) = (self.client.clone(), self.state.clone());
        tokio::spawn(async move {
            state.plugins.load(root).await;
            for (uri, _) in state.documents.all() {
                diagnostics::spawn_publish(client.clone(), state.clone(), uri);
            }
            state.refresh_lenses(&client).await;
        });
        Ok(InitializeResult {
            capabilities: capabilities(),
            server_info: Some(ServerInfo {
                name: "databook".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            ..Default::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        plugins::watch(self.client.clone(), self.state.clone());
    }

    async fn shutdown(&self) -> Result<()> {
        self.state.runs.cancel_all();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.state
            .documents
            .open(doc.uri.clone(), doc.version, doc.text);
        // Results kept from an earlier session come back first, so that the
        // first diagnostics show a failed run's error.
        let (client, state) = (self.client.clone(), self.state.clone());
        tokio::spawn(async move {
            state.runs.restore(&doc.uri).await;
            diagnostics::spawn_publish(client, state, doc.uri);
        });
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let doc = params.text_document;
        // Applied before anything awaits, so edits keep their order.
        let changed = self
            .state
            .documents
            .change(&doc.uri, doc.version, params.content_changes);
        if changed.is_some() {
            // Published from this handler, not a task of its own: a
            // keystroke's diagnostics then cross no thread on their way
            // out. Handlers run concurrently, so a slow plugin check here
            // holds up no other message.
            diagnostics::publish(self.client.clone(), self.state.clone(), doc.uri).await;
        }
    }

    async fn did_save(&self, _: DidSaveTextDocumentParams) {
        // Nothing to do: the server works on the editor's text, not the
        // file. Handled so that editors that send it anyway (Helix) get no
        // "not implemented" warning in their log.
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.state.documents.close(&params.text_document.uri);
        self.state.headers.forget(&params.text_document.uri);
        self.state.checks.forget(&params.text_document.uri);
        self.client
            .publish_diagnostics(params.text_document.uri, Vec::new(), None)
            .await;
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        Ok(completion::complete(&self.state, params.text_document_position).await)
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        Ok(hover::hover(
            &self.state,
            params.text_document_position_params,
        ))
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        Ok(actions::code_lenses(&self.state, &params.text_document.uri))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        Ok(actions::code_actions(&self.state, params))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        run::execute(&self.client, &self.state, params).await
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        Ok(outline::symbols(&self.state, &params.text_document.uri))
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        Ok(outline::folding(&self.state, &params.text_document.uri))
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let tokens = outline::semantic_tokens(&self.state, &params.text_document.uri, None);
        Ok(tokens.map(SemanticTokensResult::Tokens))
    }

    async fn semantic_tokens_range(
        &self,
        params: SemanticTokensRangeParams,
    ) -> Result<Option<SemanticTokensRangeResult>> {
        let tokens =
            outline::semantic_tokens(&self.state, &params.text_document.uri, Some(params.range));
        Ok(tokens.map(SemanticTokensRangeResult::Tokens))
    }
}

/// The folder the workspace starts from: the editor's folder, or the
/// current folder.
fn workspace_root(params: &InitializeParams) -> PathBuf {
    editor_root(params)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The folder the editor opened: its first workspace folder, or its root
/// URI; `None` when it opened files alone.
fn editor_root(params: &InitializeParams) -> Option<PathBuf> {
    #[allow(deprecated)]
    let uri = params
        .workspace_folders
        .as_ref()
        .and_then(|folders| folders.first())
        .map(|folder| folder.uri.clone())
        .or_else(|| params.root_uri.clone());
    uri.and_then(|uri| convert::uri_to_path(&uri))
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![
                "@".into(),
                "=".into(),
                " ".into(),
                "{".into(),
                "\"".into(),
            ]),
            ..Default::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(false),
        }),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, CodeActionKind::EMPTY]),
            ..Default::default()
        })),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: ext::DatabookCommand::NAMES
                .iter()
                .map(|c| c.to_string())
                .collect(),
            ..Default::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: outline::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                // Editors ask for the viewport first: a large notebook is
                // highlighted at once.
                range: Some(true),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}
