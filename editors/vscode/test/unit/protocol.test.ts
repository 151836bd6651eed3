// Finding the cell under the cursor and the next one, from `databook/cells`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CellInfo, cellAtLine, nextCellLine } from "../../src/protocol";

function cell(index: number, header: number, end: number): CellInfo {
  return {
    index,
    header: `@plugin=echo name=c${index}`,
    name: `c${index}`,
    plugin: "echo",
    range: { start: { line: header, character: 0 }, end: { line: end, character: 0 } },
    headerRange: { start: { line: header, character: 0 }, end: { line: header, character: 22 } },
  };
}

const cells = [cell(0, 2, 5), cell(1, 8, 8), cell(2, 10, 12)];

test("the cell under the cursor is the one whose range holds the line", () => {
  assert.equal(cellAtLine(cells, 0), undefined);
  assert.equal(cellAtLine(cells, 2)?.index, 0);
  assert.equal(cellAtLine(cells, 5)?.index, 0);
  assert.equal(cellAtLine(cells, 6), undefined);
  assert.equal(cellAtLine(cells, 8)?.index, 1);
  assert.equal(cellAtLine(cells, 12)?.index, 2);
});

test("Shift+Enter moves to the next cell's body, its header when bodiless, past the last", () => {
  assert.equal(nextCellLine(cells, cells[0], 20), 8);
  assert.equal(nextCellLine(cells, cells[1], 20), 11);
  assert.equal(nextCellLine(cells, cells[2], 20), 13);
  assert.equal(nextCellLine(cells, cells[2], 13), 12);
});
