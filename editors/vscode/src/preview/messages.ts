// Messages between the extension (panel.ts) and the preview's webview (webview.ts).
import type { CellOutput } from "./data";

export interface CellSummary {
  index: number;
  name: string | null;
  plugin: string | null;
  header: string;
}

export type ToWebview =
  | { type: "reset"; uri: string; title: string; cells: CellSummary[]; results: CellOutput[] }
  | { type: "output"; output: CellOutput; receivedAt: number }
  | { type: "select"; cell: number | null }
  | { type: "status"; message: string };

export type FromWebview =
  | { type: "ready" }
  | { type: "reveal"; cell: number }
  | { type: "cspViolation"; directive: string; blocked: string };
