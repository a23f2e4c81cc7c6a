import { describe, expect, it } from "vitest";
import { Releasers } from "../../../controller/releasers.js";

describe("Releasers (start-up and shutdown as a release stack)", () => {
  it("releases every started part in reverse order, awaiting each", async () => {
    const order: string[] = [];
    const parts = new Releasers();
    for (const name of ["store", "bus", "server"]) {
      await parts.start(name, () => name, async (v) => {
        await new Promise((r) => setTimeout(r, 5));
        order.push(`release ${v}`);
      });
    }
    await parts.releaseAll();
    expect(order).toEqual(["release server", "release bus", "release store"]);
  });

  it("a failed start releases what had started, in reverse, and rethrows", async () => {
    const order: string[] = [];
    const parts = new Releasers();
    await parts.start("a", () => 1, () => void order.push("a"));
    await parts.start("b", () => 2, () => void order.push("b"));
    const boom = new Error("cannot listen");
    await expect(parts.start("c", () => Promise.reject(boom), () => void order.push("c"))).rejects.toBe(boom);
    expect(order).toEqual(["b", "a"]);
  });

  it("a release that throws is reported and the others still run; releasing twice runs once", async () => {
    const order: string[] = [];
    const errors: string[] = [];
    const parts = new Releasers((name) => errors.push(name));
    parts.add("first", () => void order.push("first"));
    parts.add("broken", () => {
      throw new Error("x");
    });
    parts.add("last", () => void order.push("last"));
    await Promise.all([parts.releaseAll(), parts.releaseAll()]);
    await parts.releaseAll();
    expect(order).toEqual(["last", "first"]);
    expect(errors).toEqual(["broken"]);
    expect(() => parts.add("late", () => {})).toThrow(/already releasing/);
  });
});
