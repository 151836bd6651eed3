// Databook's requests and notifications beyond plain LSP, as documented in
// docs/lsp-extensions.md. Shapes only; no `vscode` import.
import type { CellOutput } from "./preview/data";

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

/** One cell of `databook/cells`. */
export interface CellInfo {
  index: number;
  header: string;
  name: string | null;
  plugin: string | null;
  range: LspRange;
  headerRange: LspRange;
}

export const CELLS = "databook/cells";
export const RESULTS = "databook/results";
export const OUTPUT = "databook/output";

export interface CellsResponse {
  cells: CellInfo[];
}

export interface ResultsResponse {
  results: CellOutput[];
}

export interface RunResponse {
  runs?: { cell: number; status: string }[];
}

/** The cell whose range holds `line` (header, body and output block), if any. */
export function cellAtLine(cells: CellInfo[], line: number): CellInfo | undefined {
  return cells.find((c) => c.range.start.line <= line && line <= c.range.end.line);
}

/**
 * Where Shift+Enter puts the cursor after running `cell`: the first body line
 * of the next cell (its header when it has no body), or the line after the
 * cell when it is the last one.
 */
export function nextCellLine(cells: CellInfo[], cell: CellInfo, lineCount: number): number {
  const next = cells.find((c) => c.index === cell.index + 1);
  if (next) {
    const bodyLine = next.headerRange.start.line + 1;
    return bodyLine <= next.range.end.line ? bodyLine : next.headerRange.start.line;
  }
  return Math.min(cell.range.end.line + 1, Math.max(lineCount - 1, 0));
}
