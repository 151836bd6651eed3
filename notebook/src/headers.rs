//! What analysis finds in the cells' headers, kept up to date across edits.
//!
//! Header findings are of two kinds. Most depend on one header alone (and on
//! the plugins): a plugin that is unknown or failed to load, an option it
//! does not take, a bad name, timeout or check mode. The rest depend on
//! every cell's `name=` and inputs (its `input=`, and the cells its body
//! takes values from, `{{CELL.PATH}}`): repeated names, inputs that name no
//! cell, cycles. [`HeaderAnalysis`] keeps the first kind per cell and redoes
//! them only for cells an edit read anew (see [`CellId`]); the second kind it
//! redoes on every change, over names interned as numbers, which is a few
//! passes over small integers rather than a hash of every name.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::analysis::{Catalog, Diagnostic, PluginInfo};
use crate::document::{CellId, Document};
use crate::options::is_databook_option;
use crate::syntax::{Cell, Parse, Severity, TextRange, is_plugin_name};
use crate::variables::value_refs;

/// The header diagnostics of one document, updated from each new parse.
#[derive(Debug, Default)]
pub struct HeaderAnalysis {
    /// The catalog generation the findings were computed with; a new one
    /// makes every header be read again.
    generation: Option<u64>,
    cells: Vec<CellHeader>,
    /// The id of the cell each of `cells` was read from (none after
    /// [`HeaderAnalysis::from_scratch`], which compares nothing), and what
    /// every keystroke reads of each, in lists of their own: a pass over
    /// all cells then reads 8 bytes a cell, or 2, not a whole `CellHeader`.
    ids: Vec<CellId>,
    summaries: Vec<Summary>,
    /// Every cell name and `input=` value seen, as a number.
    names: Names,
    /// What the catalog says of each plugin named so far.
    plugins: FxHashMap<Box<str>, PluginInfo>,
    plugin_names: Option<Vec<String>>,
    /// The findings across headers from the last update, each with its cell
    /// and its ranges relative to that cell's header; reused as they are
    /// when no header changed.
    across: Vec<(usize, Diagnostic)>,
    /// For each cell, whether some cell takes it; computed with `across`.
    taken: Vec<bool>,
}

/// What every keystroke reads of a cell's header, and every keystroke in
/// a header of every cell's: 8 bytes a cell, in a list of their own.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// The number of its name, or `NONE`.
    name: u32,
    /// Whether it has findings of its own.
    local: bool,
    /// Whether the body has `{{` in it.
    braces: bool,
    /// Whether it takes other cells (an `input=` or a `{{CELL.PATH}}`).
    refers: bool,
}

impl Summary {
    fn of(header: &CellHeader) -> Summary {
        Summary {
            name: header.name.as_ref().map_or(NONE, |(id, _)| *id),
            local: !header.local.is_empty(),
            braces: header.braces,
            refers: header.input.is_some() || !header.uses.is_empty(),
        }
    }
}

/// One header as last read: its cell, what it alone is found to have
/// wrong, and its name and input.
#[derive(Debug)]
struct CellHeader {
    /// Ranges relative to the header's start.
    local: Vec<Diagnostic>,
    /// A valid `name=`, with the value's relative range.
    name: Option<(u32, TextRange)>,
    /// The `input=` value, with its relative range.
    input: Option<(u32, TextRange)>,
    /// The cells named by the body's `{{CELL.PATH}}`, each with the range
    /// of the name, relative to the header's start.
    uses: Vec<(u32, TextRange)>,
    /// Whether the body has `{{` in it: a variable, a value or a mistake.
    braces: bool,
}

/// Strings interned as numbers, all in one buffer: a notebook's thousands
/// of cell names cost no allocation each.
#[derive(Debug, Default)]
struct Names {
    text: String,
    /// Where each name lies in `text`, by number.
    spans: Vec<(u32, u32)>,
    table: HashTable<u32>,
}

impl Names {
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, id: u32) -> &str {
        let (start, end) = self.spans[id as usize];
        &self.text[start as usize..end as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len() as u32).map(|id| self.get(id))
    }

    fn intern(&mut self, name: &str) -> u32 {
        let Names { text, spans, table } = self;
        let of = |id: u32| {
            let (start, end) = spans[id as usize];
            &text[start as usize..end as usize]
        };
        let hash = FxBuildHasher.hash_one(name);
        match table.entry(
            hash,
            |&id| of(id) == name,
            |&id| FxBuildHasher.hash_one(of(id)),
        ) {
            hashbrown::hash_table::Entry::Occupied(entry) => *entry.get(),
            hashbrown::hash_table::Entry::Vacant(entry) => {
                let id = spans.len() as u32;
                let start = text.len() as u32;
                text.push_str(name);
                spans.push((start, text.len() as u32));
                entry.insert(id);
                id
            }
        }
    }
}

/// No cell: `u32` indices keep the per-name table small.
const NONE: u32 = u32::MAX;

impl HeaderAnalysis {
    /// The header diagnostics of `document`, sorted by position. Reads
    /// again only the cells that are not those of the last update (by
    /// [`CellId`]), unless `generation` (of the catalog) changed.
    pub fn update(
        &mut self,
        document: &Document,
        generation: u64,
        catalog: &dyn Catalog,
    ) -> Vec<Diagnostic> {
        self.refresh(document, generation, catalog);
        self.findings(|cell| document.header_start(cell).unwrap_or_default())
    }

    /// Brings the analysis up to date with `document`, as
    /// [`HeaderAnalysis::update`] does, without listing the findings: for
    /// [`HeaderAnalysis::has_dependents`].
    pub fn refresh(&mut self, document: &Document, generation: u64, catalog: &dyn Catalog) {
        // Read through the document's accessors, not its whole parse: a
        // keystroke's document is unsettled (see `Document::edit`).
        let ids = document.cell_ids();
        if self.generation != Some(generation) {
            *self = HeaderAnalysis {
                generation: Some(generation),
                ..HeaderAnalysis::default()
            };
        }
        let (old, new) = (self.ids.len(), document.cell_count());
        let (prefix, suffix) = matching_ends(&self.ids, ids);
        let changed = prefix != old || prefix != new;
        if changed {
            let read: Vec<CellHeader> = (prefix..new - suffix)
                .filter_map(|i| {
                    let cell = document.cell(i)?;
                    let body = document.slice(cell.body.clone()).unwrap_or_default();
                    Some(self.read(&cell, &body, catalog))
                })
                .collect();
            // An edit in a body reads its cell anew, but leaves every name
            // and input as it was: then so are the findings across headers.
            let same_names = read.len() == old - suffix - prefix
                && read
                    .iter()
                    .zip(&self.cells[prefix..old - suffix])
                    .all(|(new, old)| {
                        new.name == old.name && new.input == old.input && new.uses == old.uses
                    });
            self.summaries
                .splice(prefix..old - suffix, read.iter().map(Summary::of));
            self.ids.splice(
                prefix..old - suffix,
                ids[prefix..new - suffix].iter().copied(),
            );
            self.cells.splice(prefix..old - suffix, read);
            // Names typed and deleted stay interned; start afresh once they
            // outnumber the live ones.
            if self.names.len() > 2 * self.cells.len() + 1024 {
                self.reintern();
            }
            if !same_names {
                (self.across, self.taken) = self.across_headers();
            }
        }
    }

    /// The header diagnostics of `parse` read from scratch, with none of
    /// the comparisons with an earlier parse that [`HeaderAnalysis::update`]
    /// makes.
    pub fn from_scratch(parse: &Parse, text: &str, catalog: &dyn Catalog) -> Vec<Diagnostic> {
        let mut analysis = HeaderAnalysis::default();
        analysis.cells.reserve(parse.cells.len());
        for cell in &parse.cells {
            let read = analysis.read(cell, body_of(cell, text), catalog);
            analysis.summaries.push(Summary::of(&read));
            analysis.cells.push(read);
        }
        (analysis.across, analysis.taken) = analysis.across_headers();
        analysis.findings(|cell| parse.cells[cell].header.range.start)
    }

    /// Every finding, at its place in `parse`, sorted by position.
    /// `header_start` says where each cell's header starts.
    fn findings(&self, header_start: impl Fn(usize) -> usize) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        // Most headers have nothing wrong: neither they nor their cells are
        // looked at.
        for (cell, summary) in self.summaries.iter().enumerate() {
            if summary.local {
                let start = header_start(cell);
                out.extend(self.cells[cell].local.iter().map(|d| shifted(d, start)));
            }
        }
        out.extend(
            self.across
                .iter()
                .map(|(cell, d)| shifted(d, header_start(*cell))),
        );
        out.sort_by_key(|d| (d.range.start, d.range.end));
        out
    }

    fn reintern(&mut self) {
        let old = std::mem::take(&mut self.names);
        for cell in &mut self.cells {
            for (id, _) in cell
                .name
                .iter_mut()
                .chain(cell.input.iter_mut())
                .chain(cell.uses.iter_mut())
            {
                *id = self.names.intern(old.get(*id));
            }
        }
        for (summary, cell) in self.summaries.iter_mut().zip(&self.cells) {
            *summary = Summary::of(cell);
        }
    }

    /// Reads one header: what is wrong with it alone, relative to its start.
    /// Its id is left out, for the caller to give if it compares it.
    fn read(&mut self, cell: &Cell, body: &str, catalog: &dyn Catalog) -> CellHeader {
        let start = cell.header.range.start;
        let relative = |r: &TextRange| r.start - start..r.end - start;
        let mut local = Vec::new();

        if let Some(plugin) = &cell.header.plugin
            && is_plugin_name(&plugin.value)
        {
            if !self.plugins.contains_key(plugin.value.as_str()) {
                let info = catalog.lookup(&plugin.value);
                self.plugins.insert(plugin.value.as_str().into(), info);
            }
            match &self.plugins[plugin.value.as_str()] {
                PluginInfo::Known { options } => check_options(cell, options, &mut local),
                PluginInfo::Failed { reason } => local.push(Diagnostic {
                    range: plugin.range.clone(),
                    severity: Severity::Error,
                    code: "plugin-failed",
                    message: format!("plugin `{}` failed to load: {reason}", plugin.value),
                    fixes: Vec::new(),
                }),
                PluginInfo::Unknown => {
                    let names = self.plugin_names.get_or_insert_with(|| catalog.names());
                    let fixes = crate::analysis::suggestion_fixes(
                        &plugin.value,
                        &plugin.range,
                        names.iter().map(String::as_str),
                    );
                    let mut message = format!("no plugin named `{}`", plugin.value);
                    if !fixes.is_empty() {
                        let list: Vec<String> = fixes
                            .iter()
                            .map(|f| format!("`{}`", f.edit.new_text))
                            .collect();
                        message.push_str(&format!(": did you mean {}?", list.join(", ")));
                    }
                    local.push(Diagnostic {
                        range: plugin.range.clone(),
                        severity: Severity::Error,
                        code: "unknown-plugin",
                        message,
                        fixes,
                    });
                }
            }
        }
        for d in &mut local {
            d.range = relative(&d.range);
            for fix in &mut d.fixes {
                fix.edit.range = relative(&fix.edit.range);
            }
        }
        // Already relative to the header.
        local.extend(cell.options().problems().iter().map(|p| Diagnostic {
            range: p.range.clone(),
            severity: Severity::Error,
            code: p.code,
            message: p.message.clone(),
            fixes: Vec::new(),
        }));

        CellHeader {
            local,
            ..self.read_names(cell, body)
        }
    }

    /// Reads one cell's name and inputs, relative to its header's start,
    /// and nothing else.
    fn read_names(&mut self, cell: &Cell, body: &str) -> CellHeader {
        let start = cell.header.range.start;
        let mut read = |entry: &crate::syntax::OptionEntry| {
            (
                self.names.intern(&entry.value.value),
                entry.value.local.clone(),
            )
        };
        let name = cell.name_entry().map(&mut read);
        let input = cell.input_entry().map(&mut read);
        let uses = value_refs(body)
            .into_iter()
            .map(|value| {
                let range = &value.cell_range;
                let at = cell.body.start - start;
                (
                    self.names.intern(&value.cell),
                    at + range.start..at + range.end,
                )
            })
            .collect();
        CellHeader {
            local: Vec::new(),
            name,
            input,
            uses,
            braces: body.contains("{{"),
        }
    }

    /// The cells' names and inputs only, as [`references`] needs them.
    fn names_only(parse: &Parse, text: &str) -> HeaderAnalysis {
        let mut analysis = HeaderAnalysis::default();
        analysis.cells.reserve(parse.cells.len());
        for cell in &parse.cells {
            let read = analysis.read_names(cell, body_of(cell, text));
            analysis.summaries.push(Summary::of(&read));
            analysis.cells.push(read);
        }
        analysis
    }

    /// For each name's number, the first cell that carries it (or `NONE`):
    /// the cell that `input=` with that name means.
    fn first_named(&self) -> Vec<u32> {
        let mut first = vec![NONE; self.names.len()];
        for (cell, header) in self.cells.iter().enumerate() {
            if let Some((id, _)) = &header.name
                && first[*id as usize] == NONE
            {
                first[*id as usize] = cell as u32;
            }
        }
        first
    }

    /// The cell that `cell`'s `input=` means, by [`Self::first_named`].
    fn input_target(&self, first: &[u32], cell: usize) -> Option<usize> {
        let (id, _) = self.cells[cell].input.as_ref()?;
        let target = first[*id as usize];
        (target != NONE).then_some(target as usize)
    }

    /// The cells that cell `cell` takes, each with the range (relative to
    /// its header) of the reference that makes it one: its `input=` first,
    /// then its body's `{{CELL.PATH}}`; a cell taken twice is listed once.
    fn edges(&self, first: &[u32], cell: usize) -> Vec<(usize, TextRange)> {
        let mut edges = Vec::new();
        self.push_edges(first, cell, &mut edges);
        edges
    }

    /// [`Self::edges`], appended to `out`.
    fn push_edges(&self, first: &[u32], cell: usize, out: &mut Vec<(usize, TextRange)>) {
        let header = &self.cells[cell];
        let start = out.len();
        for (id, range) in header.input.iter().chain(&header.uses) {
            let target = first[*id as usize];
            if target != NONE && !out[start..].iter().any(|(t, _)| *t == target as usize) {
                out.push((target as usize, range.clone()));
            }
        }
    }

    /// The cells whose body has `{{` in it, as of the last update: the
    /// only ones with variables to check.
    pub fn cells_with_braces(&self) -> impl Iterator<Item = usize> + '_ {
        self.summaries
            .iter()
            .enumerate()
            .filter(|(_, summary)| summary.braces)
            .map(|(cell, _)| cell)
    }

    /// Whether some cell takes cell `cell` (by its `input=` or a
    /// `{{CELL.PATH}}`), as of the last update.
    pub fn has_dependents(&self, cell: usize) -> bool {
        self.taken.get(cell).copied().unwrap_or(false)
    }

    /// Repeated names, inputs that name no cell, and cycles of inputs; and
    /// for each cell, whether some cell takes it.
    fn across_headers(&self) -> (Vec<(usize, Diagnostic)>, Vec<bool>) {
        let mut out = Vec::new();
        // The first cell to carry each name, as `first_named` finds it, in
        // the same pass as the repeats (this runs on header keystrokes, so
        // it reads the summaries, not the headers).
        let mut first = vec![NONE; self.names.len()];
        for (cell, summary) in self.summaries.iter().enumerate() {
            let id = summary.name;
            if id == NONE {
                continue;
            }
            if first[id as usize] == NONE {
                first[id as usize] = cell as u32;
            } else if let Some((_, range)) = &self.cells[cell].name {
                out.push((
                    cell,
                    Diagnostic {
                        range: range.clone(),
                        severity: Severity::Error,
                        code: "duplicate-name",
                        message: format!(
                            "another cell above is already named `{}`",
                            self.names.get(id)
                        ),
                        fixes: Vec::new(),
                    },
                ));
            }
        }

        // From here on, only the cells that take others are read.
        let referring: Vec<usize> = (self.summaries.iter().enumerate())
            .filter(|(_, summary)| summary.refers)
            .map(|(cell, _)| cell)
            .collect();

        // An `input=` or a `{{CELL.PATH}}` that names no cell.
        let references = referring.iter().flat_map(|&cell| {
            let header = &self.cells[cell];
            let inputs = header.input.iter().map(move |r| (cell, r, "unknown-input"));
            inputs.chain(header.uses.iter().map(move |r| (cell, r, "unknown-cell")))
        });
        for (cell, (id, range), code) in references {
            if first[*id as usize] != NONE {
                continue;
            }
            let value = self.names.get(*id);
            let candidates = self
                .names
                .iter()
                .zip(&first)
                .filter(|&(_, &at)| at != NONE && at as usize != cell)
                .map(|(name, _)| name);
            out.push((
                cell,
                Diagnostic {
                    range: range.clone(),
                    severity: Severity::Error,
                    code,
                    message: format!("no cell is named `{value}`"),
                    fixes: crate::analysis::suggestion_fixes(value, range, candidates),
                },
            ));
        }

        // The edges of every cell up to the last that refers to another,
        // in one list.
        let mut edges = Edges::default();
        for &cell in &referring {
            let start = edges.to.len() as u32;
            edges.starts.resize(cell + 1, start);
            self.push_edges(&first, cell, &mut edges.to);
            if edges.to.len() as u32 > start {
                edges.from.push(cell);
            }
        }
        edges.starts.push(edges.to.len() as u32);
        let mut taken = vec![false; self.cells.len()];
        for &(target, _) in &edges.to {
            taken[target] = true;
        }
        // Most notebooks have few references, many none: no search then.
        let cycles = if edges.from.is_empty() {
            Vec::new()
        } else {
            cycles(self.cells.len(), &edges)
        };
        for cycle in cycles {
            let path: Vec<&str> = cycle
                .iter()
                .chain(cycle.first())
                .map(|&cell| match &self.cells[cell].name {
                    Some((id, _)) => self.names.get(*id),
                    None => "?",
                })
                .collect();
            for (at, &cell) in cycle.iter().enumerate() {
                let next = cycle[(at + 1) % cycle.len()];
                let (_, range) = edges
                    .of(cell)
                    .iter()
                    .find(|(target, _)| *target == next)
                    .expect("a cycle follows edges");
                out.push((
                    cell,
                    Diagnostic {
                        range: range.clone(),
                        severity: Severity::Error,
                        code: "input-cycle",
                        message: format!("inputs make a cycle: {}", path.join(" → ")),
                        fixes: Vec::new(),
                    },
                ));
            }
        }
        (out, taken)
    }
}

/// How many items `old` and `new` have the same at their start and, after
/// those, at their end: an edit changed what lies between. Slices, so that
/// a keystroke's comparison of 10,000 cell ids is a pass over two
/// contiguous lists.
pub fn matching_ends<T: PartialEq>(old: &[T], new: &[T]) -> (usize, usize) {
    let prefix = old.iter().zip(new).take_while(|(o, n)| o == n).count();
    let (old, new) = (&old[prefix..], &new[prefix..]);
    let suffix = (old.iter().rev())
        .zip(new.iter().rev())
        .take_while(|(o, n)| o == n)
        .count();
    (prefix, suffix)
}

/// A cell's body in `text`, or nothing if `text` is not the one parsed.
fn body_of<'a>(cell: &Cell, text: &'a str) -> &'a str {
    text.get(cell.body.clone()).unwrap_or_default()
}

fn shifted(finding: &Diagnostic, by: usize) -> Diagnostic {
    let mut finding = finding.clone();
    finding.range = finding.range.start + by..finding.range.end + by;
    for fix in &mut finding.fixes {
        fix.edit.range = fix.edit.range.start + by..fix.edit.range.end + by;
    }
    finding
}

fn check_options(cell: &Cell, accepted: &[String], out: &mut Vec<Diagnostic>) {
    for o in &cell.header.options {
        let key = o.key.value.as_str();
        if is_databook_option(key) || accepted.iter().any(|a| a == key) {
            continue;
        }
        let range = cell.header.at(&o.key.local);
        let fixes =
            crate::analysis::suggestion_fixes(key, &range, accepted.iter().map(String::as_str));
        out.push(Diagnostic {
            range,
            severity: Severity::Warning,
            code: "unknown-option",
            message: format!(
                "plugin `{}` takes no option `{key}`",
                cell.plugin().unwrap_or_default()
            ),
            fixes,
        });
    }
}

/// A cycle through each group of cells that take each other's results
/// (each strongly connected component with a cycle), as the cells in it in
/// the order of the references, starting with the cell nearest the top.
/// `edges[cell]` are the cells that `cell` takes.
fn cycles(nodes: usize, edges: &Edges) -> Vec<Vec<usize>> {
    // A cell with no edge is in no cycle: the search starts only from the
    // others.
    let components = strongly_connected(nodes, edges.from.iter().copied(), |cell| {
        edges.of(cell).iter().map(|(t, _)| *t)
    });
    let mut cycles = Vec::new();
    for component in components {
        let start = *component.iter().min().expect("components are not empty");
        // The shortest way back to `start` within the component, found
        // breadth-first: a component may hold many cycles, one names it.
        let inside = |cell: usize| component.binary_search(&cell).is_ok();
        let mut came_from: FxHashMap<usize, usize> = FxHashMap::default();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = None;
        'search: while let Some(at) = queue.pop_front() {
            for &(next, _) in edges.of(at) {
                if next == start {
                    last = Some(at);
                    break 'search;
                }
                if inside(next) && !came_from.contains_key(&next) {
                    came_from.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        let Some(mut at) = last else {
            continue;
        };
        let mut cycle = vec![at];
        while at != start {
            at = came_from[&at];
            cycle.push(at);
        }
        cycle.reverse();
        cycles.push(cycle);
    }
    cycles.sort();
    cycles
}

/// Every cell's edges, all in one list (a keystroke in a header builds it
/// anew: a few allocations, not one per cell).
#[derive(Default)]
struct Edges {
    /// Where each cell's edges start in `to`, up to the last cell with
    /// edges, and where its edges end.
    starts: Vec<u32>,
    /// Each edge's target, with the range of the reference that makes it.
    to: Vec<(usize, TextRange)>,
    /// The cells that have edges, in order.
    from: Vec<usize>,
}

impl Edges {
    /// The edges of `cell`; none for a cell past those listed.
    fn of(&self, cell: usize) -> &[(usize, TextRange)] {
        match (self.starts.get(cell), self.starts.get(cell + 1)) {
            (Some(&start), Some(&end)) => &self.to[start as usize..end as usize],
            _ => &[],
        }
    }
}

/// The strongly connected components that hold a cycle (more than one
/// node, or one that is its own successor) of a graph of `nodes` nodes,
/// each sorted (Tarjan's algorithm, without recursion: a notebook may have
/// thousands of cells in one chain), searched from `roots`: every node
/// with a successor must be among them. Nothing is allocated for a node in
/// no cycle: this runs on keystrokes in headers.
fn strongly_connected<I: Iterator<Item = usize>>(
    nodes: usize,
    roots: impl Iterator<Item = usize>,
    successors: impl Fn(usize) -> I,
) -> Vec<Vec<usize>> {
    const UNSEEN: u32 = u32::MAX;
    let mut index = vec![UNSEEN; nodes];
    let mut low = vec![0u32; nodes];
    let mut on_stack = vec![false; nodes];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0u32;
    // Each frame: a node and its successors not yet looked at.
    let mut frames = Vec::new();
    for root in roots {
        if index[root] != UNSEEN {
            continue;
        }
        frames.push((root, successors(root)));
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some((node, rest)) = frames.last_mut() {
            let node = *node;
            if let Some(succ) = rest.next() {
                if index[succ] == UNSEEN {
                    index[succ] = next;
                    low[succ] = next;
                    next += 1;
                    stack.push(succ);
                    on_stack[succ] = true;
                    frames.push((succ, successors(succ)));
                } else if on_stack[succ] {
                    low[node] = low[node].min(index[succ]);
                }
                continue;
            }
            frames.pop();
            if let Some((parent, _)) = frames.last() {
                low[*parent] = low[*parent].min(low[node]);
            }
            if low[node] == index[node] {
                if stack.last() == Some(&node) {
                    stack.pop();
                    on_stack[node] = false;
                    if successors(node).any(|succ| succ == node) {
                        components.push(vec![node]);
                    }
                    continue;
                }
                let mut component = Vec::new();
                loop {
                    let member = stack.pop().expect("the node is on the stack");
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                component.sort_unstable();
                components.push(component);
            }
        }
    }
    components
}

/// What the cells' names and inputs mean, and what is wrong with them: the
/// one reading that diagnostics, run order, `databook run` and the
/// language server share. A cell's inputs are the cell its `input=` names
/// (whose result it is given) and the cells its body takes values from
/// (`{{CELL.PATH}}`); each name means the first cell from the top that
/// carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct References {
    /// For each cell, the cell its `input=` names.
    inputs: Vec<Option<usize>>,
    /// For each cell, every cell it takes (its `input=` and the cells of
    /// its `{{CELL.PATH}}`), each once, in the order they are referred to.
    takes: Vec<Vec<usize>>,
    /// For each cell, whether some cell takes it.
    taken: Vec<bool>,
    /// Each name, with the first cell that carries it.
    named: FxHashMap<String, usize>,
    /// Repeated names, inputs that name no cell, and cycles, sorted by
    /// position: the same findings, with the same messages and ranges, as
    /// the editor's diagnostics.
    pub problems: Vec<Diagnostic>,
}

impl References {
    /// The cell that cell `cell`'s `input=` names, if it names one.
    pub fn input_of(&self, cell: usize) -> Option<usize> {
        self.inputs.get(cell).copied().flatten()
    }

    /// Every cell that cell `cell` takes: its `input=` and the cells its
    /// body takes values from.
    pub fn takes(&self, cell: usize) -> &[usize] {
        self.takes.get(cell).map_or(&[], Vec::as_slice)
    }

    /// The cell a name means: the first from the top that carries it.
    pub fn cell_named(&self, name: &str) -> Option<usize> {
        self.named.get(name).copied()
    }

    /// Whether some cell takes cell `cell`.
    pub fn has_dependents(&self, cell: usize) -> bool {
        self.taken.get(cell).copied().unwrap_or(false)
    }

    /// `targets` and every cell that takes one of them, directly or through
    /// other cells, in document order.
    pub fn with_dependents(&self, targets: &[usize]) -> Vec<usize> {
        let cells = self.takes.len();
        let mut taken_by = vec![Vec::new(); cells];
        for (cell, takes) in self.takes.iter().enumerate() {
            for &input in takes {
                taken_by[input].push(cell);
            }
        }
        let mut reached = vec![false; cells];
        let mut todo: Vec<usize> = targets.iter().copied().filter(|&t| t < cells).collect();
        while let Some(cell) = todo.pop() {
            if !std::mem::replace(&mut reached[cell], true) {
                todo.extend(&taken_by[cell]);
            }
        }
        (0..cells).filter(|&c| reached[c]).collect()
    }

    /// The cells to run for `targets`: each target after the cells it
    /// takes, directly or not, every cell once, the targets in the order
    /// given. A cycle is returned as the cells in it.
    pub fn run_order(&self, targets: &[usize]) -> Result<Vec<usize>, Vec<usize>> {
        const NEW: u8 = 0;
        const VISITING: u8 = 1;
        const DONE: u8 = 2;
        let cells = self.takes.len();
        let mut order = Vec::new();
        let mut state = vec![NEW; cells];
        for &target in targets {
            if target >= cells || state[target] == DONE {
                continue;
            }
            // Depth first, without recursion: each frame is a cell and how
            // many of the cells it takes have been visited.
            let mut path: Vec<(usize, usize)> = vec![(target, 0)];
            state[target] = VISITING;
            while let Some((cell, next)) = path.last_mut() {
                let cell = *cell;
                match self.takes[cell].get(*next) {
                    Some(&input) => {
                        *next += 1;
                        match state[input] {
                            DONE => {}
                            VISITING => {
                                let from = path.iter().position(|&(c, _)| c == input).unwrap_or(0);
                                return Err(path[from..].iter().map(|&(c, _)| c).collect());
                            }
                            _ => {
                                state[input] = VISITING;
                                path.push((input, 0));
                            }
                        }
                    }
                    None => {
                        state[cell] = DONE;
                        order.push(cell);
                        path.pop();
                    }
                }
            }
        }
        Ok(order)
    }
}

/// Reads the cells' names and inputs; see [`References`].
pub fn references(parse: &Parse, text: &str) -> References {
    let mut analysis = HeaderAnalysis::names_only(parse, text);
    let first = analysis.first_named();
    let inputs = (0..analysis.cells.len())
        .map(|cell| analysis.input_target(&first, cell))
        .collect();
    let takes = (0..analysis.cells.len())
        .map(|cell| {
            analysis
                .edges(&first, cell)
                .into_iter()
                .map(|(t, _)| t)
                .collect()
        })
        .collect();
    let named = analysis
        .names
        .iter()
        .zip(&first)
        .filter(|&(_, &at)| at != NONE)
        .map(|(name, &at)| (name.to_string(), at as usize))
        .collect();
    let (across, taken) = analysis.across_headers();
    analysis.across = across;
    References {
        inputs,
        takes,
        taken,
        named,
        problems: analysis.findings(|cell| parse.cells[cell].header.range.start),
    }
}
