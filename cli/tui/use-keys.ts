/**
 * useInput with a handler that always sees the latest render. ink registers
 * the handler in a passive effect, which React may flush only at the next
 * update: a key pressed right after new data arrived would otherwise reach
 * the handler of the render before (acting on the previous list). For the
 * same reason there is one handler for the whole app, always registered: a
 * view that has just appeared (the log pane) hands its handler over during
 * render (`KeyHandler` in a ref) instead of registering its own in an effect
 * that may not have run when the next key arrives.
 */
import { useRef } from "react";
import { useInput, type Key } from "ink";

export type KeyHandler = (input: string, key: Key) => void;

export function useKeys(handler: (input: string, key: Key) => void, active: boolean): void {
  const latest = useRef(handler);
  latest.current = handler;
  useInput((input, key) => latest.current(input, key), { isActive: active });
}
