/** JSON from untrusted text: a body that does not parse is `undefined`, for the caller to describe. */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
