// The TextMate grammar, tokenized by the same engine VS Code uses
// (vscode-textmate with the Oniguruma regex library), on the tour notebook.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import * as oniguruma from "vscode-oniguruma";
import * as textmate from "vscode-textmate";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

async function grammar(): Promise<textmate.IGrammar> {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (s: string[]) => new oniguruma.OnigScanner(s),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope: string) => {
      // JSON is VS Code's own grammar; a one-rule stand-in shows where it applies.
      if (scope === "source.json") {
        return textmate.parseRawGrammar(
          JSON.stringify({ scopeName: "source.json", patterns: [{ match: '"[^"]*"', name: "string.quoted.double.json" }] }),
          "json.json",
        );
      }
      if (scope !== "source.databook") return null;
      const file = path.join(root, "syntaxes", "databook.tmLanguage.json");
      return textmate.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const g = await registry.loadGrammar("source.databook");
  assert.ok(g, "the grammar loads");
  return g!;
}

/** Each line's tokens as [text, scopes joined by spaces]. */
async function tokenize(text: string): Promise<[string, string][][]> {
  const g = await grammar();
  let stack = textmate.INITIAL;
  return text.split("\n").map((line) => {
    const r = g.tokenizeLine(line, stack);
    stack = r.ruleStack;
    return r.tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes.join(" ")] as [string, string]);
  });
}

function scopeOf(lines: [string, string][][], line: number, text: string): string {
  const token = lines[line].find(([t]) => t === text);
  assert.ok(token, `line ${line} has a token ${JSON.stringify(text)}: ${JSON.stringify(lines[line])}`);
  return token![1];
}

test("directives, plugin names, options and output lines get their scopes", async () => {
  const lines = await tokenize(
    [
      "# Title",
      "@plugin=prometheus name=rps range=3m label=\"a \\\" b\"",
      "sum(rate(x[5m]))",
      "@output status=ok mime=text/plain",
      "> one",
      ">",
      "Prose again, with `code`.",
      "@end trailing",
      "@endpoint is prose",
    ].join("\n"),
  );
  assert.match(scopeOf(lines, 1, "@plugin"), /keyword\.control\.directive\.plugin/);
  assert.match(scopeOf(lines, 1, "prometheus"), /entity\.name\.function\.plugin/);
  assert.match(scopeOf(lines, 1, "name"), /keyword\.other\.option\.builtin/);
  assert.match(scopeOf(lines, 1, "range"), /variable\.parameter\.option/);
  assert.match(scopeOf(lines, 1, "3m"), /string\.unquoted\.option-value/);
  assert.match(scopeOf(lines, 1, "a "), /string\.quoted\.double/);
  assert.match(scopeOf(lines, 1, '\\"'), /string\.quoted\.double.*constant\.character\.escape/);
  assert.match(scopeOf(lines, 2, "sum(rate(x[5m]))"), /meta\.cell\.body/);
  assert.match(scopeOf(lines, 3, "@output"), /keyword\.control\.directive\.output/);
  assert.match(scopeOf(lines, 3, "status"), /variable\.parameter\.option/);
  assert.match(scopeOf(lines, 4, ">"), /punctuation\.definition\.quote\.output/);
  assert.match(scopeOf(lines, 4, "one"), /markup\.quote\.output/);
  assert.match(scopeOf(lines, 5, ">"), /meta\.output/);
  // The output block ends at the first line without `>`: prose, not output.
  assert.doesNotMatch(scopeOf(lines, 6, "Prose again, with `code`."), /meta\.output|meta\.cell/);
  assert.match(scopeOf(lines, 6, "Prose again, with `code`."), /meta\.paragraph\.markdown/);
  assert.match(scopeOf(lines, 7, "@end"), /keyword\.control\.directive\.end/);
  assert.match(scopeOf(lines, 0, "Title"), /entity\.name\.section\.markdown/);
  assert.doesNotMatch(scopeOf(lines, 8, "@endpoint is prose"), /keyword/);
});

test("an echo cell with a JSON mime type has a JSON body; a body ends at the next directive", async () => {
  const lines = await tokenize(
    [
      "@plugin=echo name=t mime=application/vnd.databook.table+json",
      '{"columns": ["a"]}',
      "@plugin=echo name=plain",
      "@dataclass stays body text",
      "@output status=ok mime=text/plain",
    ].join("\n"),
  );
  assert.match(scopeOf(lines, 1, '"columns"'), /meta\.embedded\.block\.json.*string\.quoted\.double\.json/);
  assert.match(scopeOf(lines, 2, "@plugin"), /keyword\.control\.directive\.plugin/);
  assert.doesNotMatch(lines[2].map((t) => t[1]).join(" "), /meta\.embedded/);
  assert.match(scopeOf(lines, 3, "@dataclass stays body text"), /meta\.cell\.body/);
  assert.match(scopeOf(lines, 4, "@output"), /keyword\.control\.directive\.output/);
});

test("every line of the tour is tokenized, and each header's plugin name is found", async () => {
  const text = fs.readFileSync(path.join(root, "..", "..", "examples", "tour.dbk"), "utf8");
  const lines = await tokenize(text);
  const headers = text.split("\n").filter((l) => l.startsWith("@plugin="));
  let found = 0;
  for (const toks of lines) {
    if (toks.some(([t, s]) => t === "@plugin" && /directive\.plugin/.test(s))) {
      assert.ok(toks.some(([, s]) => /entity\.name\.function\.plugin/.test(s)), JSON.stringify(toks));
      found++;
    }
  }
  assert.equal(found, headers.length);
  assert.ok(found >= 5);
});
