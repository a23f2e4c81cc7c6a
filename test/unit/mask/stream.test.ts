/**
 * The streaming masker (mask/): every form of a value is replaced by the
 * mask wherever the chunks split it; output without a value passes byte for
 * byte; held bytes leave on flush; `::add-mask::` registers values without
 * printing them. The expected outputs are written out by hand or built here
 * with Node's own encoders, not with mask/forms.ts.
 */
import { describe, expect, it } from "vitest";
import { MASK, MaskSet, MIN_MASK_BYTES, StreamMasker } from "../../../mask/index.js";

const b = (s: string | Buffer): Buffer => (typeof s === "string" ? Buffer.from(s, "utf8") : s);

/** Masks `chunks` as one stream, ending it; returns the output. */
function run(values: string[], chunks: (string | Buffer)[], commands = false): Buffer {
  const m = new StreamMasker(new MaskSet(values), { commands });
  const out = chunks.map((c) => m.write(b(c)));
  out.push(m.end());
  return Buffer.concat(out);
}
const text = (values: string[], chunks: (string | Buffer)[], commands = false): string => run(values, chunks, commands).toString("utf8");

const SECRET = "hunter2-Sup3r/Secret+Value";

describe("forms of a value", () => {
  it("masks the value itself, and leaves what surrounds it", () => {
    expect(text([SECRET], [`before ${SECRET} after\n`])).toBe(`before ${MASK} after\n`);
  });

  it("masks each line of a multi-line value, and the whole value", () => {
    const v = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END KEY-----";
    expect(text([v], [`${v}\n`])).toBe(`${MASK}\n`);
    expect(text([v], ["line: MIIBOgIBAAJBAKj34GkxFhD9 seen\n"])).toBe(`line: ${MASK} seen\n`);
    expect(text([v], ["a -----END KEY----- b\n"])).toBe(`a ${MASK} b\n`);
  });

  for (const k of [0, 1, 2]) {
    for (const alphabet of ["base64", "base64url"] as const) {
      it(`masks base64 (${alphabet}) after ${k} unknown bytes, inside data and at its end (padded and not)`, () => {
        const prefix = Buffer.from([0xf1, 0x07].slice(0, k));
        const data = Buffer.concat([prefix, b(SECRET)]);
        // Characters carrying only the value's bits: from ceil(8k/6) to floor(8(k+n)/6).
        const first = Math.ceil((8 * k) / 6);
        const stable = Math.floor((8 * (k + SECRET.length)) / 6);
        const end = data.toString(alphabet === "base64" ? "base64" : "base64url");
        const padded = alphabet === "base64" ? end : end + "=".repeat((4 - (end.length % 4)) % 4);
        const unpadded = padded.replace(/=+$/, "");
        // The value ends the data: everything from its first own character is masked.
        expect(text([SECRET], [`x ${padded}\n`])).toBe(`x ${padded.slice(0, first)}${MASK}\n`);
        expect(text([SECRET], [`x ${unpadded}\n`])).toBe(`x ${unpadded.slice(0, first)}${MASK}\n`);
        // More data follows: the value's own characters are masked.
        const longer = Buffer.concat([data, b("and more bytes after it")]).toString(alphabet);
        const out = text([SECRET], [longer]);
        expect(out).not.toContain(longer.slice(first, stable));
        expect(out.startsWith(longer.slice(0, first) + MASK)).toBe(true);
      });
    }
  }

  it("masks the URL-encoded, JSON-escaped and shell-quoted forms", () => {
    const v = `p@ss w"o'rd/\\ü&<x>`;
    const forms = [
      encodeURIComponent(v),
      new URLSearchParams({ v }).toString().slice(2),
      JSON.stringify(v).slice(1, -1),
      JSON.stringify(v).slice(1, -1).replace(/ü/g, "\\u00fc"),
      `'${v.replace(/'/g, "'\\''")}'`,
      `"${v.replace(/["\\$`]/g, "\\$&")}"`,
    ];
    for (const f of forms) {
      const out = text([v], [`value=${f};\n`]);
      expect(out, f).not.toContain(f);
      expect(out, f).toContain(MASK);
    }
    expect(text([v], [`{"password":${JSON.stringify(v)}}`])).toBe(`{"password":"${MASK}"}`);
  });
});

describe("chunks and writes", () => {
  const sample = `start ${SECRET} mid ${Buffer.from(SECRET).toString("base64")} x ${encodeURIComponent(SECRET)} end\n`;
  const whole = text([SECRET], [sample]);

  it("the sample in one write", () => {
    expect(whole).toBe(`start ${MASK} mid ${MASK} x ${MASK} end\n`);
  });

  it("is the same split at every byte offset, and at every pair of offsets", () => {
    const s = b(sample);
    for (let i = 0; i <= s.length; i++) expect(text([SECRET], [s.subarray(0, i), s.subarray(i)]), `split at ${i}`).toBe(whole);
    for (let i = 0; i <= s.length; i += 3) {
      for (let j = i; j <= s.length; j += 5) expect(text([SECRET], [s.subarray(0, i), s.subarray(i, j), s.subarray(j)])).toBe(whole);
    }
  });

  it("byte by byte", () => {
    expect(text([SECRET], [...b(sample)].map((x) => Buffer.from([x])))).toBe(whole);
  });

  it("holds back no more than a possible start of a value, and nothing when none can start", () => {
    const m = new StreamMasker(new MaskSet([SECRET]));
    expect(m.write(b("plain line\n")).toString()).toBe("plain line\n");
    expect(m.holding).toBe(false);
    expect(m.write(b("log: hunter2-Sup")).toString()).toBe("log: ");
    expect(m.holding).toBe(true);
    expect(m.write(b("er\n")).toString()).toBe("hunter2-Super\n");
    expect(m.holding).toBe(false);
  });

  it("releases a partial match on flush, and still masks the rest when it completes", () => {
    const m = new StreamMasker(new MaskSet([SECRET]));
    expect(m.write(b("a hunter2-Sup")).toString()).toBe("a ");
    expect(m.flush().toString()).toBe("hunter2-Sup");
    expect(m.holding).toBe(false);
    expect(m.write(b("3r/Secret+Value b\n")).toString()).toBe(`${MASK} b\n`);
  });
});

describe("several values", () => {
  it("overlapping values become one mask", () => {
    expect(text(["abcdefgh", "efghijkl"], ["1 abcdefghijkl 2"])).toBe(`1 ${MASK} 2`);
    expect(text(["abcdefgh", "efghijkl"], ["1 abcdefgh efghijkl 2"])).toBe(`1 ${MASK} ${MASK} 2`);
  });

  it("a value that is a prefix of another: the longer wins, the shorter alone is masked too", () => {
    const vs = ["token-1234", "token-1234-extended"];
    expect(text(vs, ["a token-1234-extended b"])).toBe(`a ${MASK} b`);
    expect(text(vs, ["a token-1234-ext b"])).toBe(`a ${MASK}-ext b`);
    expect(text(vs, ["a token-1234"])).toBe(`a ${MASK}`);
    expect(text(vs.reverse(), ["token-1234-extended", "token-1234"])).toBe(`${MASK}`);
  });

  it("a value inside another", () => {
    expect(text(["xxSECRETxx", "SECRET"], ["1 xxSECRETxx 2 SECRET 3 xSECRETx"])).toBe(`1 ${MASK} 2 ${MASK} 3 x${MASK}x`);
  });
});

describe("bytes that hold no value pass unchanged", () => {
  it("binary noise, byte for byte, however it is split", () => {
    let seed = 7;
    const noise = Buffer.alloc(200_000);
    for (let i = 0; i < noise.length; i++) noise[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    const values = ["correct horse battery", "zQ3!", SECRET];
    expect(run(values, [noise]).equals(noise)).toBe(true);
    const parts = [noise.subarray(0, 1), noise.subarray(1, 7777), noise.subarray(7777, 65536), noise.subarray(65536)];
    expect(run(values, parts).equals(noise)).toBe(true);
  });

  it("ANSI sequences, \\r and invalid UTF-8 stay exact; a value inside colours is masked alone", () => {
    const ansi = b("\x1b[1;31mred\x1b[0m \r\x1b[2K progress 45%\r\xff\xfe\x00\n");
    const raw = Buffer.concat([ansi, Buffer.from([0xc3, 0x28, 0xa0, 0xa1])]);
    expect(run([SECRET], [raw]).equals(raw)).toBe(true);
    expect(text([SECRET], [`\x1b[32m${SECRET}\x1b[0m\n`])).toBe(`\x1b[32m${MASK}\x1b[0m\n`);
  });

  it("with no values at all, output is the input itself and nothing is held", () => {
    const m = new StreamMasker(new MaskSet([]), { commands: true });
    const data = b("::add-mask: not quite\n::x\n\x00\x01");
    expect(m.write(data).equals(data)).toBe(true);
    expect(m.holding).toBe(false);
  });
});

describe("short values", () => {
  it(`a value under ${MIN_MASK_BYTES} bytes is refused as short and not masked`, () => {
    const set = new MaskSet();
    expect(set.add("abc")).toBe("short");
    expect(set.add("")).toBe("short");
    expect(set.add("abcd")).toBe("added");
    expect(set.add("abcd")).toBe("known");
    expect(text(["abc"], ["abc abcd\n"])).toBe("abc abcd\n");
  });
});

describe("::add-mask::", () => {
  it("registers the value from its line on; the line shows the mask, never the value", () => {
    const out = text([], ["before s3cret-x\n::add-mask::s3cret-x\nafter s3cret-x ", Buffer.from("s3cret-x").toString("base64"), "\n"], true);
    expect(out).toBe(`before s3cret-x\n::add-mask::${MASK}\nafter ${MASK} ${MASK}\n`);
  });

  it("split at every byte offset, the value never comes out", () => {
    const s = b("x\n::add-mask::my-Value-99\nmy-Value-99 done\n");
    for (let i = 0; i <= s.length; i++) {
      for (const j of [i, Math.min(s.length, i + 1), Math.min(s.length, i + 9)]) {
        const out = text([], [s.subarray(0, i), s.subarray(i, j), s.subarray(j)], true);
        expect(out, `split at ${i},${j}`).toBe(`x\n::add-mask::${MASK}\n${MASK} done\n`);
      }
    }
  });

  it("only at a line start; trims the value; decodes %0A, so a multi-line value can be registered", () => {
    expect(text([], ["say ::add-mask::abcdefg\nabcdefg\n"], true)).toBe("say ::add-mask::abcdefg\nabcdefg\n");
    expect(text([], ["::add-mask::  spaced-out \r\nspaced-out\n"], true)).toBe(`::add-mask::${MASK}\n${MASK}\n`);
    expect(text([], ["::add-mask::first-line%0Asecond-line\nfirst-line and second-line\n"], true)).toBe(`::add-mask::${MASK}\n${MASK} and ${MASK}\n`);
  });

  it("a short value is not registered and is reported (without the value); still not printed", () => {
    let shorts = 0;
    const m = new StreamMasker(new MaskSet(), { commands: true, onShort: () => shorts++ });
    const out = m.write(b("::add-mask::ab\nab\n::add-mask::\n")).toString();
    expect(out).toBe(`::add-mask::${MASK}\nab\n::add-mask::${MASK}\n`);
    expect(shorts).toBe(2);
  });

  it("applies to the run's other stream, including what it holds", () => {
    const set = new MaskSet();
    const stdout = new StreamMasker(set, { commands: true });
    const stderr = new StreamMasker(set, { commands: true });
    expect(stderr.write(b("err: late-value-")).toString()).toBe("err: late-value-");
    expect(stderr.write(b("pre ")).toString()).toBe("pre ");
    expect(stdout.write(b("::add-mask::late-value-42\n")).toString()).toBe(`::add-mask::${MASK}\n`);
    expect(Buffer.concat([stderr.write(b("late-value-42 x")), stderr.end()]).toString()).toBe(`${MASK} x`);
  });

  it("a value held back when it is registered is caught by the rescan", () => {
    const set = new MaskSet();
    const stdout = new StreamMasker(set, { commands: true });
    const stderr = new StreamMasker(set, { commands: true });
    // "abcd-1234" is registered while stderr holds "zz abcd-12" (nothing is held without values, so it is out).
    set.add("zzzz-never");
    expect(stderr.write(b("o zzzz-nev")).toString()).toBe("o ");
    stdout.write(b("::add-mask::zzzz-nevermore\n"));
    expect(Buffer.concat([stderr.write(b("ermore!")), stderr.end()]).toString()).toBe(`${MASK}!`);
  });

  it("a run of command lines read at once rebuilds the matcher once, not once per line", () => {
    const set = new MaskSet(["given-value-0"]);
    const m = new StreamMasker(set, { commands: true });
    void set.automaton;
    const names = Array.from({ length: 300 }, (_, i) => `registered-${i}-value`);
    const burst = names.map((v) => `::add-mask::${v}\n`).join("") + names.join(" ") + "\n";
    const out = Buffer.concat([m.write(b(burst)), m.end()]).toString();
    expect(out).toBe(`::add-mask::${MASK}\n`.repeat(300) + names.map(() => MASK).join(" ") + "\n");
    expect(set.size).toBe(301);
    expect(set.builds).toBe(2);
  });

  it("a huge command line is swallowed with bounded memory and a value without newline registers at the end", () => {
    const m = new StreamMasker(new MaskSet(), { commands: true });
    const big = Buffer.alloc(4 << 20, 0x61);
    const out = [m.write(b("::add-mask::")), m.write(big), m.write(b("\nnext\n::add-mask::tail-value")), m.end()];
    expect(Buffer.concat(out).toString()).toBe(`::add-mask::${MASK}\nnext\n::add-mask::${MASK}`);
  });
});
