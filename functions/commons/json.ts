/** JSON from untrusted text: a body that does not parse is `undefined`, for the caller to describe. */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * JSON text as SQS takes it: SQS refuses U+FFFE and U+FFFF in a body (XML's character set), which
 * JSON.stringify writes raw. In JSON text they can stand only inside a string, where their escape
 * reads back as the same string. (It escapes lone surrogates and control characters itself.)
 */
export const sqsSafeJson = (json: string): string => json.replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
