// The environment's status bar item, quick pick and answer checking
// (src/environments.ts), and the preview's badge for a result's environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkEnvironments, environmentChoices, statusView } from "../../src/environments";
import { checkOutput, resultBadges } from "../../src/preview/data";

test("the status bar item is hidden until the server answers, and when the workspace defines no environment", () => {
  assert.equal(statusView(undefined).visible, false);
  assert.equal(statusView({ current: null, environments: [] }).visible, false);
});

test("the status bar item names the current environment, or says there is none", () => {
  const none = statusView({ current: null, environments: ["prod", "staging"] });
  assert.equal(none.visible, true);
  assert.equal(none.text, "$(server-environment) Databook: no environment");
  assert.match(none.tooltip, /2 defined in databook\.toml/);
  const staging = statusView({ current: "staging", environments: ["prod", "staging"] });
  assert.equal(staging.visible, true);
  assert.equal(staging.text, "$(server-environment) Databook: staging");
  assert.match(staging.tooltip, /environment staging/);
});

test("the quick pick offers each environment in the server's order, then (none); the current one says so", () => {
  const choices = environmentChoices({ current: "staging", environments: ["prod", "staging"] });
  assert.deepEqual(
    choices.map((c) => [c.label, c.value, c.description]),
    [
      ["prod", "prod", undefined],
      ["staging", "staging", "current"],
      ["(none)", null, "[env] alone"],
    ],
  );
  const none = environmentChoices({ current: null, environments: ["prod"] });
  assert.equal(none[0].description, undefined);
  assert.equal(none[1].value, null);
  assert.match(none[1].description ?? "", /^current/);
});

test("an answer of the wrong shape is named, a right one passes", () => {
  assert.equal(checkEnvironments({ current: null, environments: ["a"] }), null);
  assert.equal(checkEnvironments({ current: "a", environments: ["a"] }), null);
  assert.match(checkEnvironments(null) ?? "", /not an object/);
  assert.match(checkEnvironments({ current: 3, environments: [] }) ?? "", /"current"/);
  assert.match(checkEnvironments({ current: null }) ?? "", /"environments"/);
  assert.match(checkEnvironments({ current: null, environments: [1] }) ?? "", /"environments"/);
});

test("the preview's heading says which environment a result ran in, only when one did", () => {
  const base = { uri: "file:///n.dbk", cell: 0, status: "ok", mime: "text/plain", data: "x", elapsedMs: 12 };
  assert.deepEqual(
    resultBadges({ ...base, environment: "staging" }).map((b) => [b.text, b.cls]),
    [
      ["ok", "status status-ok"],
      ["text/plain", "mime"],
      ["12 ms", "elapsed"],
      ["env staging", "environment"],
    ],
  );
  assert.equal(resultBadges({ ...base, environment: null }).some((b) => b.cls === "environment"), false);
  assert.equal(resultBadges(base).some((b) => b.cls === "environment"), false);
  assert.equal(checkOutput({ ...base, environment: "staging" }), null);
  assert.equal(checkOutput({ ...base, environment: null }), null);
  assert.match(checkOutput({ ...base, environment: 7 }) ?? "", /"environment"/);
});

test("a result reused from the cache says so in its heading, and only then", () => {
  const base = { uri: "file:///n.dbk", cell: 0, name: "t", status: "ok", mime: "application/json", data: "1", elapsedMs: 3 };
  const cached = resultBadges({ ...base, cached: true });
  assert.deepEqual(cached[cached.length - 1], {
    text: "cached",
    cls: "cached",
    title: "Reused from the cell's cache= rather than run",
  });
  assert.equal(resultBadges({ ...base, cached: false }).some((b) => b.cls === "cached"), false);
  assert.equal(resultBadges(base).some((b) => b.cls === "cached"), false);
});
