// The preview pane, on the extension's side: one webview beside the editor
// that follows the active notebook, asks the server for its results
// (`databook/results`) and cells (`databook/cells`), passes on each new
// result (`databook/output`), and tells the webview which cell holds the
// cursor. The webview (webview.ts) does the drawing.
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import { State } from "vscode-languageclient/node";
import { CELLS, CellInfo, CellsResponse, RESULTS, ResultsResponse, cellAtLine } from "../protocol";
import type { CellOutput } from "./data";
import type { FromWebview, ToWebview } from "./messages";

const VIEW_TYPE = "databook.preview";

export class PreviewController implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private uri: string | undefined;
  private cells: CellInfo[] = [];
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  private cellsTimer: NodeJS.Timeout | undefined;
  private selectTimer: NodeJS.Timeout | undefined;
  private refreshing = 0;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly client: () => LanguageClient | undefined,
    private readonly log: (line: string) => void,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        // After a window reload VS Code hands back the preview it had open;
        // its state names the notebook it showed.
        deserializeWebviewPanel: async (panel, state: { uri?: string } | undefined) => {
          this.uri = typeof state?.uri === "string" ? state.uri : undefined;
          this.adopt(panel);
        },
      }),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor && editor.document.languageId === "databook") this.follow(editor.document.uri.toString());
      }),
      vscode.window.onDidChangeVisibleTextEditors(() => {
        if (!this.uri && this.panel) void this.refresh();
      }),
      vscode.workspace.onDidOpenTextDocument((doc) => {
        if (doc.uri.toString() === this.uri) void this.refresh();
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.toString() === this.uri && e.contentChanges.length > 0) this.scheduleCells();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor.document.uri.toString() === this.uri) this.scheduleSelect(e.textEditor);
      }),
    );
  }

  /** `Databook: Open Preview`: shows the pane beside the active notebook. */
  open(): void {
    const editor = vscode.window.activeTextEditor;
    if (editor && editor.document.languageId === "databook") this.uri = editor.document.uri.toString();
    if (this.panel) {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
      void this.refresh();
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      VIEW_TYPE,
      "Databook Preview",
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      this.webviewOptions(),
    );
    this.adopt(panel);
  }

  /** A result from `databook/output`, with the time the extension got it. */
  onOutput(output: CellOutput, receivedAt: number): void {
    if (this.panel && this.ready && output.uri === this.uri) {
      this.post({ type: "output", output, receivedAt });
    }
  }

  /** The server (re)started: whatever the pane shows is asked for again. */
  serverStarted(): void {
    if (this.panel) void this.refresh();
  }

  private webviewOptions(): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return {
      enableScripts: true,
      // Only the bundled script and style are ever loaded.
      localResourceRoots: [vscode.Uri.joinPath(this.context.extensionUri, "dist")],
      retainContextWhenHidden: true,
    };
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    this.ready = false;
    panel.webview.options = this.webviewOptions();
    panel.webview.html = this.html(panel.webview);
    panel.webview.onDidReceiveMessage((m: FromWebview) => this.receive(m), undefined, this.disposables);
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
        this.ready = false;
      }
    });
  }

  private receive(message: FromWebview): void {
    switch (message.type) {
      case "ready":
        this.ready = true;
        void this.refresh();
        break;
      case "reveal":
        void this.reveal(message.cell);
        break;
      case "cspViolation":
        this.log(`The preview's Content Security Policy blocked ${message.blocked} (${message.directive}).`);
        break;
    }
  }

  private follow(uri: string): void {
    if (uri === this.uri) return;
    this.uri = uri;
    if (this.panel) void this.refresh();
  }

  /** Asks the server for the notebook's cells and results and redraws all. */
  /** With no notebook chosen yet (a restored pane without state), the one the user looks at. */
  private notebookInView(): string | undefined {
    const active = vscode.window.activeTextEditor;
    if (active && active.document.languageId === "databook") return active.document.uri.toString();
    return vscode.window.visibleTextEditors.find((e) => e.document.languageId === "databook")?.document.uri.toString();
  }

  private async refresh(attempt = 0): Promise<void> {
    this.uri ??= this.notebookInView();
    const uri = this.uri;
    const client = this.client();
    if (!this.panel || !this.ready) return;
    if (!uri) {
      this.post({ type: "status", message: "Open a .dbk notebook to see its results here." });
      return;
    }
    if (!client || client.state !== State.Running) {
      this.post({ type: "status", message: "Waiting for the Databook language server…" });
      return;
    }
    if (!vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri)) {
      // `databook/results` answers for open documents; this one is asked for
      // again when it opens.
      this.post({ type: "status", message: `Waiting for ${label(uri)} to open…` });
      return;
    }
    const generation = ++this.refreshing;
    try {
      const [cells, results] = await Promise.all([
        client.sendRequest<CellsResponse>(CELLS, { uri }),
        client.sendRequest<ResultsResponse>(RESULTS, { uri }),
      ]);
      if (generation !== this.refreshing || uri !== this.uri) return;
      this.cells = cells?.cells ?? [];
      this.post({
        type: "reset",
        uri,
        title: label(uri),
        cells: this.cells.map(({ index, name, plugin, header }) => ({ index, name, plugin, header })),
        results: results?.results ?? [],
      });
      const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri);
      if (editor) this.select(editor);
    } catch (e) {
      // Just after a reload the request can reach the server before the
      // document's didOpen does; a few tries a moment apart cover that.
      if (attempt < 10 && generation === this.refreshing) {
        setTimeout(() => void this.refresh(attempt + 1), 300);
        return;
      }
      this.post({ type: "status", message: `The server could not give this notebook's results: ${e instanceof Error ? e.message : String(e)}` });
    }
  }

  private scheduleCells(): void {
    if (!this.panel) return;
    clearTimeout(this.cellsTimer);
    this.cellsTimer = setTimeout(() => void this.refreshCells(), 300);
  }

  /**
   * After an edit: when the cells themselves changed (one added, removed,
   * or a header edited) the results are asked for again, since they are
   * keyed by the cells' positions; other edits change nothing shown.
   */
  private async refreshCells(): Promise<void> {
    const client = this.client();
    const uri = this.uri;
    if (!client || client.state !== State.Running || !uri || !this.panel) return;
    try {
      const response = await client.sendRequest<CellsResponse>(CELLS, { uri });
      const cells = response?.cells ?? [];
      const key = (cs: CellInfo[]) => cs.map((c) => c.header).join("\n");
      const changed = key(cells) !== key(this.cells);
      this.cells = cells;
      if (changed) await this.refresh();
    } catch {
      // A failed look-up leaves the pane as it was; the next edit tries again.
    }
  }

  private scheduleSelect(editor: vscode.TextEditor): void {
    if (!this.panel) return;
    clearTimeout(this.selectTimer);
    this.selectTimer = setTimeout(() => this.select(editor), 100);
  }

  private select(editor: vscode.TextEditor): void {
    const cell = cellAtLine(this.cells, editor.selection.active.line);
    this.post({ type: "select", cell: cell ? cell.index : null });
  }

  private async reveal(index: number): Promise<void> {
    const cell = this.cells.find((c) => c.index === index);
    if (!cell || !this.uri) return;
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(this.uri));
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: false });
    const pos = new vscode.Position(cell.headerRange.start.line, 0);
    editor.selection = new vscode.Selection(pos, pos);
    editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  private post(message: ToWebview): void {
    void this.panel?.webview.postMessage(message);
  }

  private html(webview: vscode.Webview): string {
    const nonce = makeNonce();
    const dist = vscode.Uri.joinPath(this.context.extensionUri, "dist");
    const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, "webview.js"));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(dist, "webview.css"));
    // Scripts only with this page's nonce, styles and images only from the
    // extension: nothing from the network, no inline code.
    const csp = [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
    ].join("; ");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Databook Preview</title>
</head>
<body>
<header id="title"></header>
<div id="status" role="status"></div>
<main id="cells"></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }

  dispose(): void {
    clearTimeout(this.cellsTimer);
    clearTimeout(this.selectTimer);
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function label(uri: string): string {
  const path = vscode.Uri.parse(uri).path;
  return path.slice(path.lastIndexOf("/") + 1);
}

function makeNonce(): string {
  return randomBytes(18).toString("hex");
}
