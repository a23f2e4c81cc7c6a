import { describe, expect, it } from "vitest";
import { closest, didYouMean, editDistance } from "../../../schemas/suggest.js";

describe("editDistance", () => {
  it.each([
    ["", "", 0],
    ["abc", "", 3],
    ["timeout", "timeout", 0],
    ["tiemout", "timeout", 1], // a swap counts once
    ["timout", "timeout", 1],
    ["kitten", "sitting", 3],
  ])("%j to %j is %d", (a, b, d) => expect(editDistance(a, b)).toBe(d));
});

describe("closest", () => {
  const fields = ["run", "command", "shell", "env", "timeout", "killGrace", "retries", "resources"];
  it.each([
    ["tiemout", "timeout"],
    ["Env", "env"],
    ["killgrace", "killGrace"],
    ["retires", "retries"],
    ["comand", "command"],
    ["resource", "resources"],
  ])("suggests %j for %j", (typo, want) => expect(closest(typo, fields)).toBe(want));

  it.each(["colour", "x", "image", "completely-different"])("suggests nothing for %j", (word) => {
    expect(closest(word, fields)).toBeUndefined();
  });

  it("formats the hint", () => {
    expect(didYouMean("tiemout", fields)).toBe(' (did you mean "timeout"?)');
    expect(didYouMean("colour", fields)).toBe("");
  });
});
