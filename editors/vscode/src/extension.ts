// The Databook extension: starts `databook lsp`, adds the run keys and
// palette commands, a status bar item while cells run, one for the current
// environment, and the preview.
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { CELLS, CellInfo, CellsResponse, OUTPUT, RunResponse, cellAtLine, nextCellLine } from "./protocol";
import { findServer } from "./serverPath";
import { PreviewController } from "./preview/panel";
import { CellOutput, checkOutput } from "./preview/data";
import { ENVIRONMENTS, EnvironmentsState, SET_ENVIRONMENT, checkEnvironments, environmentChoices, statusView } from "./environments";

// The server's own commands (docs/lsp-extensions.md). vscode-languageclient
// registers them as VS Code commands for the code lenses, so the palette and
// key commands below have ids of their own and call these.
const RUN = "databook.run";
const RUN_ALL = "databook.runAll";
const CLEAR = "databook.clear";
const CLEAR_ALL = "databook.clearAll";
const CANCEL = "databook.cancel";

/** A crashed server is restarted at most this many times in this window. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 3 * 60 * 1000;

let client: LanguageClient | undefined;
let stopping = false;
let log: vscode.OutputChannel;
let preview: PreviewController;
let runs: RunTracker;
let environment: EnvironmentStatus;
let extensionContext: vscode.ExtensionContext | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  // Kept for restarts, which create a new client.
  extensionContext = context;
  log = vscode.window.createOutputChannel("Databook");
  runs = new RunTracker();
  environment = new EnvironmentStatus();
  preview = new PreviewController(context, () => client, (line) => log.appendLine(line));
  context.subscriptions.push(log, runs, environment, preview);

  const command = (id: string, fn: (...args: any[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  command("databook.runCell", () => runCell(false));
  command("databook.runCellAndAdvance", () => runCell(true));
  command("databook.runAllCells", () => withDocument((uri) => serverCommand(RUN_ALL, [uri])));
  command("databook.clearCell", () => onCell((uri, cell) => serverCommand(CLEAR, [uri, cell.index, cell.header])));
  command("databook.clearAllCells", () => withDocument((uri) => serverCommand(CLEAR_ALL, [uri])));
  command("databook.cancelRuns", () => cancelRuns());
  command("databook.openPreview", () => preview.open());
  command("databook.restartServer", () => restart());
  command("databook.selectEnvironment", () => environment.select());

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("databook.server")) void restart();
    }),
  );

  await start(context);
}

export async function deactivate(): Promise<void> {
  stopping = true;
  if (client) await client.stop().catch(() => undefined);
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration("databook");
  const found = findServer(config.get<string>("server.path"), context.extensionPath, process.env.PATH);
  if (!found.found) {
    log.appendLine(found.message);
    const choice = await vscode.window.showErrorMessage(found.message, "Open Settings");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "databook.server.path");
    }
    return;
  }
  log.appendLine(`Starting ${found.path} lsp (the ${found.source === "PATH" ? "one on PATH" : found.source === "bundled" ? "bundled server" : "path in databook.server.path"})`);
  const extraArgs = config.get<string[]>("server.extraArgs") ?? [];
  const serverOptions: ServerOptions = {
    command: found.path,
    args: ["lsp", ...extraArgs],
    transport: TransportKind.stdio,
  };

  const restarts: number[] = [];
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: "databook" }],
    outputChannel: log,
    errorHandler: {
      // A server that died fails every write until its close is noticed;
      // shutting down on the fourth such error would leave the user with no
      // server at all (the e2e test saw it when the kill came amid a burst
      // of requests). `closed` decides whether to start it again.
      error: () => ({ action: ErrorAction.Continue }),
      closed: () => {
        runs.clear();
        if (stopping) return { action: CloseAction.DoNotRestart, handled: true };
        const now = Date.now();
        while (restarts.length > 0 && now - restarts[0] > RESTART_WINDOW_MS) restarts.shift();
        restarts.push(now);
        if (restarts.length > MAX_RESTARTS) {
          void tell("error", `Databook: the language server stopped ${MAX_RESTARTS} times in 3 minutes, so it is not restarted again. Its log is in the Databook output.`, true);
          return { action: CloseAction.DoNotRestart, handled: true };
        }
        void tell("warning", "Databook: the language server stopped unexpectedly and was restarted. Its log is in the Databook output.", false);
        return { action: CloseAction.Restart, handled: true };
      },
    },
    middleware: {
      // Every run, whether from a lens, a code action or a key, passes here,
      // so the status bar counts them all.
      executeCommand: async (command, args, next) => {
        if (command !== RUN && command !== RUN_ALL) return next(command, args);
        const uri = String(args[0]);
        runs.started(uri);
        try {
          const result = (await next(command, args)) as RunResponse | undefined;
          const gone = result?.runs?.filter((r) => r.status === "gone") ?? [];
          if (gone.length > 0) {
            void vscode.window.showWarningMessage("Databook: the cell to run is gone (it was edited away before the run could start).");
          }
          return result;
        } finally {
          runs.ended(uri);
        }
      },
    },
  };

  const c = new LanguageClient("databook", "Databook", serverOptions, clientOptions);
  client = c;
  c.onNotification(OUTPUT, (params: unknown) => {
    const problem = checkOutput(params);
    if (problem) {
      log.appendLine(`databook/output with an unexpected shape: ${problem}`);
      return;
    }
    preview.onOutput(params as CellOutput, Date.now());
  });
  c.onDidChangeState((e) => {
    if (e.newState === State.Running) {
      preview.serverStarted();
      void environment.refresh();
    }
  });
  try {
    await c.start();
  } catch (e) {
    const message = `Databook: the language server (${found.path}) could not be started: ${e instanceof Error ? e.message : String(e)}`;
    log.appendLine(message);
    void tell("error", message, true);
  }
}

async function tell(level: "warning" | "error", message: string, offerRestart: boolean): Promise<void> {
  const actions = offerRestart ? ["Show Log", "Restart Server"] : ["Show Log"];
  const choice =
    level === "error" ? await vscode.window.showErrorMessage(message, ...actions) : await vscode.window.showWarningMessage(message, ...actions);
  if (choice === "Show Log") log.show(true);
  if (choice === "Restart Server") await restart();
}

async function restart(): Promise<void> {
  const context = extensionContext;
  stopping = true;
  const old = client;
  client = undefined;
  runs.clear();
  if (old) {
    await old.stop().catch((e) => log.appendLine(`Stopping the server: ${e}`));
    await old.dispose().catch(() => undefined);
  }
  stopping = false;
  if (context) await start(context);
}

function activeNotebook(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  return editor && editor.document.languageId === "databook" ? editor : undefined;
}

function runningClient(): LanguageClient | undefined {
  if (client && client.state === State.Running) return client;
  void vscode.window.showErrorMessage("Databook: the language server is not running. Run `Databook: Restart Server`, and see the Databook output for why.");
  return undefined;
}

async function withDocument(fn: (uri: string, editor: vscode.TextEditor) => Promise<unknown>): Promise<void> {
  const editor = activeNotebook();
  if (!editor) return;
  await fn(editor.document.uri.toString(), editor);
}

async function cellsOf(uri: string): Promise<CellInfo[] | undefined> {
  const c = runningClient();
  if (!c) return undefined;
  const response = await c.sendRequest<CellsResponse>(CELLS, { uri });
  return response?.cells ?? [];
}

async function onCell(fn: (uri: string, cell: CellInfo, cells: CellInfo[], editor: vscode.TextEditor) => Promise<unknown>): Promise<void> {
  const editor = activeNotebook();
  if (!editor) return;
  const uri = editor.document.uri.toString();
  const cells = await cellsOf(uri);
  if (!cells) return;
  const cell = cellAtLine(cells, editor.selection.active.line);
  if (!cell) {
    vscode.window.setStatusBarMessage("Databook: the cursor is in no cell", 3000);
    return;
  }
  await fn(uri, cell, cells, editor);
}

/** Runs one of the server's commands through the command the client registered for it. */
async function serverCommand(command: string, args: unknown[]): Promise<unknown> {
  if (!runningClient()) return undefined;
  try {
    return await vscode.commands.executeCommand(command, ...args);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/cancel/i.test(message)) return undefined;
    void vscode.window.showErrorMessage(`Databook: ${command} failed: ${message}`);
    return undefined;
  }
}

async function runCell(advance: boolean): Promise<void> {
  await onCell(async (uri, cell, cells, editor) => {
    const run = serverCommand(RUN, [uri, cell.index, cell.header]);
    if (advance) {
      const line = nextCellLine(cells, cell, editor.document.lineCount);
      const pos = new vscode.Position(line, 0);
      editor.selection = new vscode.Selection(pos, pos);
      editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
    await run;
  });
}

async function cancelRuns(): Promise<void> {
  const editor = activeNotebook();
  const uris = editor ? [editor.document.uri.toString()] : runs.documents();
  for (const uri of uris) await serverCommand(CANCEL, [uri]);
}

/** Counts the runs in flight per document, and shows them in the status bar. */
class RunTracker implements vscode.Disposable {
  private readonly counts = new Map<string, number>();
  private readonly item = vscode.window.createStatusBarItem("databook.runs", vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = "Databook runs";
    this.item.command = "databook.cancelRuns";
  }

  started(uri: string): void {
    this.counts.set(uri, (this.counts.get(uri) ?? 0) + 1);
    this.update();
  }

  ended(uri: string): void {
    const n = (this.counts.get(uri) ?? 0) - 1;
    if (n > 0) this.counts.set(uri, n);
    else this.counts.delete(uri);
    this.update();
  }

  clear(): void {
    this.counts.clear();
    this.update();
  }

  documents(): string[] {
    return [...this.counts.keys()];
  }

  private update(): void {
    let total = 0;
    for (const n of this.counts.values()) total += n;
    if (total === 0) {
      this.item.hide();
      return;
    }
    this.item.text = `$(loading~spin) Databook: ${total} running`;
    this.item.tooltip = `${total} Databook ${total === 1 ? "run" : "runs"} in progress. Click to cancel the active notebook's runs.`;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}

/**
 * The current environment in the status bar while a notebook is active; a
 * click (or `Databook: Select Environment`) picks another. The state is the
 * server's: asked when it starts and before each pick, and taken from the
 * answer of each `databook.setEnvironment`. (The server reloads databook.toml
 * when it changes; asking before each pick is enough to follow it.)
 */
class EnvironmentStatus implements vscode.Disposable {
  private state: EnvironmentsState | undefined;
  private readonly item = vscode.window.createStatusBarItem("databook.environment", vscode.StatusBarAlignment.Left, 9);
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.item.name = "Databook environment";
    this.item.command = "databook.selectEnvironment";
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.update()),
    );
  }

  async refresh(): Promise<void> {
    const c = client;
    if (!c || c.state !== State.Running) return;
    try {
      this.accept(await c.sendRequest(ENVIRONMENTS, null));
    } catch (e) {
      log.appendLine(`${ENVIRONMENTS} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async select(): Promise<void> {
    const c = runningClient();
    if (!c) return;
    await this.refresh();
    const state = this.state;
    if (!state) return;
    if (state.environments.length === 0) {
      void vscode.window.showInformationMessage(
        "Databook: this workspace defines no environments. Add one to its databook.toml as [environments.NAME], with the variables it sets.",
      );
      return;
    }
    const picked = await vscode.window.showQuickPick(environmentChoices(state), {
      title: "Databook: Select Environment",
      placeHolder: state.current === null ? "No environment is current" : `Current: ${state.current}`,
    });
    if (!picked) return;
    try {
      this.accept(await c.sendRequest("workspace/executeCommand", { command: SET_ENVIRONMENT, arguments: [picked.value] }));
    } catch (e) {
      // The server refuses a name it does not know (databook.toml changed
      // meanwhile), and its message names the closest one.
      void vscode.window.showErrorMessage(`Databook: ${e instanceof Error ? e.message : String(e)}`);
      await this.refresh();
    }
  }

  private accept(answer: unknown): void {
    const problem = checkEnvironments(answer);
    if (problem) {
      log.appendLine(`Environments with an unexpected shape: ${problem}`);
      return;
    }
    this.state = answer as EnvironmentsState;
    this.update();
  }

  private update(): void {
    const view = statusView(this.state);
    // With the preview focused there is no active text editor; the item
    // stays while the notebook is still in view.
    const active = vscode.window.activeTextEditor;
    const notebookInView = active
      ? active.document.languageId === "databook"
      : vscode.window.visibleTextEditors.some((e) => e.document.languageId === "databook");
    if (!view.visible || !notebookInView) {
      this.item.hide();
      return;
    }
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
