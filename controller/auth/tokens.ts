/**
 * API tokens: `hodei_` and 43 base62 characters from 32 random bytes (about
 * 190 bits). The controller stores their SHA-256 only. A fast hash is enough
 * here: slow hashes (bcrypt, argon2) defend guessable passwords against
 * offline guessing, and nobody can enumerate 2^190 random tokens however fast
 * each guess is; a fast hash also lets every call look its token up by
 * index, with no per-call CPU cost.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";

export const TOKEN_PREFIX = "hodei_";
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TOKEN_CHARS = 43;
/** What `tokens ls` shows of a token: enough to tell tokens apart, far too little to guess the rest. */
export const DISPLAY_CHARS = TOKEN_PREFIX.length + 6;
export const TOKEN_SHAPE = /^hodei_[0-9A-Za-z]{43}$/;

/** A new random token (rejection sampling keeps every character uniform); agents' tokens take their own prefix. */
export function generateToken(prefix: string = TOKEN_PREFIX): string {
  let out = "";
  while (out.length < TOKEN_CHARS) {
    for (const b of randomBytes(64)) {
      if (b < 248 && out.length < TOKEN_CHARS) out += ALPHABET[b % 62];
    }
  }
  return prefix + out;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function displayPrefix(token: string): string {
  return token.slice(0, DISPLAY_CHARS);
}

/**
 * The X of a call's `authorization: Bearer X` metadata: undefined when the
 * call sent no authorization, "" when it sent one that is not a bearer token.
 * API calls (guard.ts) and agents (agents/identity.ts) read it the same way.
 */
export function bearerToken(md: Metadata): string | undefined {
  const v = md.get("authorization")[0];
  if (typeof v !== "string" || !v) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(v)?.[1] ?? "";
}
