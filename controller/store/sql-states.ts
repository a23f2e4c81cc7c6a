import { sql } from "kysely";
import type { RunState } from "../runs/transitions.js";

/** States as SQL literals (constants of the state machine, never user input), so partial indexes on state still apply. */
export const inStates = (states: readonly RunState[]) => sql.join(states.map((x) => sql.lit(x)));
