// The secret masker, shared by the agent (before a byte leaves it) and the
// controller (again, before a byte is stored). Pure: imports nothing of Hodei.
export { MASK, MAX_MASK_BYTES, MIN_MASK_BYTES, maskForms } from "./forms.js";
export { MaskSet, type AddResult } from "./set.js";
export { StreamMasker, type StreamMaskerOptions } from "./stream.js";
