/**
 * useInput with a handler that always sees the latest render. ink registers
 * the handler in a passive effect, which React may flush only at the next
 * update: a key pressed right after new data arrived would otherwise reach
 * the handler of the render before (acting on the previous list).
 */
import { useRef } from "react";
import { useInput, type Key } from "ink";

export function useKeys(handler: (input: string, key: Key) => void, active: boolean): void {
  const latest = useRef(handler);
  latest.current = handler;
  useInput((input, key) => latest.current(input, key), { isActive: active });
}
