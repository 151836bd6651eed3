//! Environments: `databook/environments` (which there are, which is
//! current) and `databook.setEnvironment` (make one current: plugins load
//! again with its values, so that every later run, completion and check,
//! and every grant that follows a variable, uses them).

use std::sync::Arc;

use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::{Error, Result};

use super::State;
use super::ext::Environments;

pub fn list(state: &State) -> Environments {
    let loaded = state.plugins.current();
    Environments {
        current: loaded.workspace.environment.clone(),
        environments: loaded.workspace.environments.keys().cloned().collect(),
    }
}

pub async fn set(
    client: &Client,
    state: &Arc<State>,
    name: Option<String>,
) -> Result<Environments> {
    if let Some(name) = &name {
        // Checked against the workspace as loaded, so that a typo changes
        // nothing and says what there is.
        let workspace = state.plugins.current().workspace.clone();
        if let Err(error) = workspace.with_environment(name) {
            return Err(Error::invalid_params(error.to_string()));
        }
    }
    state.plugins.set_environment(name).await;
    for (uri, _) in state.documents.all() {
        super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
    }
    state.refresh_lenses(client).await;
    Ok(list(state))
}
