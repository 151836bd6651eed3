//! Document symbols (one per cell), folding ranges (cells and output
//! blocks) and semantic tokens (directives, plugin names, option keys and
//! values, output prefixes).

use databook_notebook::TokenKind;
use tower_lsp_server::ls_types::*;

use super::{State, convert};

/// The token types, in the order of `TokenKind`'s legend index.
const TOKEN_TYPES: [SemanticTokenType; 5] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::STRING,
    SemanticTokenType::COMMENT,
];

fn token_type(kind: TokenKind) -> u32 {
    match kind {
        TokenKind::Directive => 0,
        TokenKind::PluginName => 1,
        TokenKind::OptionKey => 2,
        TokenKind::OptionValue => 3,
        TokenKind::OutputPrefix => 4,
    }
}

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TOKEN_TYPES.to_vec(),
        token_modifiers: Vec::new(),
    }
}

pub fn symbols(state: &State, uri: &Uri) -> Option<DocumentSymbolResponse> {
    let snapshot = state.documents.get(uri)?;
    let mut positions = convert::Positions::new(&snapshot.rope, snapshot.text());
    #[allow(deprecated)]
    let symbols = databook_notebook::symbols(snapshot.parse(), snapshot.text())
        .into_iter()
        .map(|symbol| {
            // In text order: the selection lies within the symbol's range.
            let start = positions.position(symbol.range.start);
            let selection_range = positions.range(&symbol.selection_range);
            let end = positions.position(symbol.range.end);
            DocumentSymbol {
                name: symbol.name,
                detail: symbol.detail,
                kind: SymbolKind::FUNCTION,
                tags: None,
                deprecated: None,
                range: Range { start, end },
                selection_range,
                children: None,
            }
        })
        .collect();
    Some(DocumentSymbolResponse::Nested(symbols))
}

pub fn folding(state: &State, uri: &Uri) -> Option<Vec<FoldingRange>> {
    let snapshot = state.documents.get(uri)?;
    let mut positions = convert::Positions::new(&snapshot.rope, snapshot.text());
    Some(
        databook_notebook::folding(snapshot.parse())
            .into_iter()
            .map(|fold| FoldingRange {
                start_line: positions.position(fold.start).line,
                end_line: positions.position(fold.end).line,
                kind: Some(FoldingRangeKind::Region),
                ..Default::default()
            })
            .collect(),
    )
}

/// The highlighting of the document, or of the lines of `range`; either way
/// encoded from the document's start, as LSP wants.
pub fn semantic_tokens(state: &State, uri: &Uri, range: Option<Range>) -> Option<SemanticTokens> {
    let snapshot = state.documents.get(uri)?;
    let (parse, text) = (snapshot.parse(), snapshot.text());
    let tokens = match range {
        Some(range) => {
            let start = convert::offset(&snapshot.rope, range.start);
            let end = convert::offset(&snapshot.rope, range.end);
            databook_notebook::semantic_tokens_in(parse, text, start..end)
        }
        None => databook_notebook::semantic_tokens(parse, text),
    };
    let mut data = Vec::with_capacity(tokens.len());
    let (mut last_line, mut last_start) = (0, 0);
    let mut positions = convert::Positions::new(&snapshot.rope, text);
    for token in tokens {
        let start = positions.position(token.range.start);
        let end = positions.position(token.range.end);
        // Tokens never span lines here: each is part of one line.
        let length = end.character.saturating_sub(start.character);
        let delta_line = start.line - last_line;
        let delta_start = if delta_line == 0 {
            start.character - last_start
        } else {
            start.character
        };
        data.push(SemanticToken {
            delta_line,
            delta_start,
            length,
            token_type: token_type(token.kind),
            token_modifiers_bitset: 0,
        });
        last_line = start.line;
        last_start = start.character;
    }
    Some(SemanticTokens {
        result_id: None,
        data,
    })
}
